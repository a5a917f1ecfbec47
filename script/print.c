/*
 * print.c - the printers behind `show`: /proc/PID/maps and smaps exactly as
 * fs/proc/task_mmu.c prints them (spec R14.1-R14.9), a pagemap-like page
 * table, the rmap diagram, counters, anon_vmas; each also as JSON (--json).
 * Everything is read through the public introspection API.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

/* Pages walked by one `show` before it gives up (smaps of a huge VMA). */
#define SHOW_MAX_PAGES (1UL << 24)

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static const char *proc_label(struct script_state *st, int pid, char *buf, size_t len)
{
	const char *n = script_proc_name(st, pid);

	if (n)
		return n;
	snprintf(buf, len, "pid%d", pid);
	return buf;
}

/* ---- graph snapshots ------------------------------------------------------- */

struct collect {
	void *arr;
	size_t n, cap, size;
	bool oom;
};

static void collect_push(struct collect *c, const void *item)
{
	if (c->oom)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *n = realloc(c->arr, cap * c->size);
		if (!n) {
			c->oom = true;
			return;
		}
		c->arr = n;
		c->cap = cap;
	}
	memcpy((char *)c->arr + c->n++ * c->size, item, c->size);
}

static void collect_av(void *arg, const struct avm_anon_vma_info *av)
{
	collect_push(arg, av);
}

static void collect_avc(void *arg, const struct avm_avc_info *avc)
{
	collect_push(arg, avc);
}

long script_anon_vmas(struct script_state *st, struct avm_anon_vma_info **out)
{
	struct collect c = { .size = sizeof(**out) };

	avm_anon_vma_foreach(script_world(st), collect_av, &c);
	if (c.oom) {
		free(c.arr);
		*out = NULL;
		return -1;
	}
	*out = c.arr;
	return (long)c.n;
}

long script_avcs(struct script_state *st, struct avm_avc_info **out)
{
	struct collect c = { .size = sizeof(**out) };

	avm_avc_foreach(script_world(st), collect_avc, &c);
	if (c.oom) {
		free(c.arr);
		*out = NULL;
		return -1;
	}
	*out = c.arr;
	return (long)c.n;
}

/* ---- maps (R14.1-R14.4) --------------------------------------------------- */

int script_format_maps_line(const struct avm_vma_info *v, char *buf, size_t len)
{
	unsigned long off = 0, ino = 0;
	unsigned dev_minor = 0;
	char name[AVM_ANON_NAME_MAX + 32] = "";
	int n;

	/* R14.2: file-less VMAs print offset 0 and 00:00 0.  R14.3: shared
	 * anonymous memory is a shmem file: /dev/zero (deleted), dev 00:01. */
	if (v->shared_anon) {
		off = v->pgoff << AVM_PAGE_SHIFT;
		dev_minor = 1;
		ino = v->shmem_id;
		if (v->anon_name)
			snprintf(name, sizeof(name), "[anon_shmem:%s]", v->anon_name);
		else
			snprintf(name, sizeof(name), "/dev/zero (deleted)");
	} else if (v->anon_name) {
		snprintf(name, sizeof(name), "[anon:%s]", v->anon_name);
	}
	n = snprintf(buf, len, "%08lx-%08lx %c%c%c%c %08lx %02x:%02x %lu ", v->start, v->end,
		     v->flags & AVM_VM_READ ? 'r' : '-', v->flags & AVM_VM_WRITE ? 'w' : '-',
		     v->flags & AVM_VM_EXEC ? 'x' : '-', v->flags & AVM_VM_MAYSHARE ? 's' : 'p',
		     off, 0u, dev_minor, ino);
	if (n < 0 || (size_t)n >= len)
		return n;
	if (name[0]) {
		/* seq_pad(): pad to 25 + 6 * sizeof(void *) - 1 = 72, then one space. */
		while (n < 72 && (size_t)n + 1 < len)
			buf[n++] = ' ';
		n += snprintf(buf + n, len - (size_t)n, " %s", name);
	}
	return n;
}

int script_print_maps(struct script_state *st, int pid, FILE *out)
{
	struct avm_vma_info v;
	unsigned long cur = 0;
	char line[256];
	int r;

	while ((r = avm_vma_next(script_world(st), pid, &cur, &v)) == 1) {
		script_format_maps_line(&v, line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
	return r;
}

static void json_maps(struct script_state *st, int pid, FILE *out, bool detail)
{
	struct avm_vma_info v;
	unsigned long cur = 0;
	char line[256], b[32];
	bool first = true;

	fprintf(out, "{\"show\":\"%s\",\"proc\":", detail ? "vmas" : "maps");
	json_str(out, proc_label(st, pid, b, sizeof(b)));
	fprintf(out, ",\"pid\":%d,\"vmas\":[", pid);
	while (avm_vma_next(script_world(st), pid, &cur, &v) == 1) {
		script_format_maps_line(&v, line, sizeof(line));
		fprintf(out, "%s{\"start\":\"0x%lx\",\"end\":\"0x%lx\",\"line\":", first ? "" : ",",
			v.start, v.end);
		json_str(out, line);
		if (detail) {
			fprintf(out, ",\"flags\":\"0x%lx\",\"pgoff\":\"0x%lx\",\"anon_vma\":%lu,"
				     "\"vma_id\":%lu,\"chain_len\":%u,\"shared_anon\":%s,\"uffd\":%s,"
				     "\"anon_name\":",
				v.flags, v.pgoff, v.anon_vma, v.vma_id, v.chain_len,
				v.shared_anon ? "true" : "false", v.uffd ? "true" : "false");
			if (v.anon_name)
				json_str(out, v.anon_name);
			else
				fputs("null", out);
		}
		fputc('}', out);
		first = false;
	}
	fputs("]}\n", out);
}

/* `show P vmas`: the maps line plus what /proc hides. */
static void print_vmas(struct script_state *st, int pid, FILE *out)
{
	struct avm_vma_info v;
	unsigned long cur = 0;

	fprintf(out, "%-25s %-4s %-12s %-8s %-5s %-6s %s\n", "range", "prot", "pgoff", "anon_vma",
		"chain", "vma", "flags");
	while (avm_vma_next(script_world(st), pid, &cur, &v) == 1) {
		char av[24];
		if (v.anon_vma)
			snprintf(av, sizeof(av), "av#%lu", v.anon_vma);
		else
			snprintf(av, sizeof(av), "-");
		fprintf(out, "%012lx-%012lx %c%c%c%c %-12lx %-8s %-5u #%-5lu 0x%lx%s%s%s\n", v.start,
			v.end, v.flags & AVM_VM_READ ? 'r' : '-', v.flags & AVM_VM_WRITE ? 'w' : '-',
			v.flags & AVM_VM_EXEC ? 'x' : '-', v.flags & AVM_VM_MAYSHARE ? 's' : 'p',
			v.pgoff, av, v.chain_len, v.vma_id, v.flags, v.uffd ? " uffd" : "",
			v.anon_name ? " name=" : "", v.anon_name ? v.anon_name : "");
	}
}

/* ---- smaps (R14.6-R14.9) ---------------------------------------------------- */

static const char *const vmflag_mnemonic[64] = {
	[0] = "rd",  [1] = "wr",  [2] = "ex",  [3] = "sh",  [4] = "mr",  [5] = "mw",
	[6] = "me",  [7] = "ms",  [8] = "gd",  [9] = "um",  [10] = "pf", [12] = "uw",
	[13] = "lo", [14] = "io", [15] = "sr", [16] = "rr", [17] = "dc", [18] = "de",
	[19] = "lf", [20] = "ac", [21] = "nr", [22] = "ht", [23] = "sf", [24] = "ar",
	[25] = "wf", [26] = "dd", [27] = "sd", [28] = "mm", [29] = "hg", [30] = "nh",
	[31] = "mg", [40] = "dp",
};

struct smaps_acc {
	unsigned long size, rss, shared_clean, shared_dirty, private_clean, private_dirty;
	unsigned long referenced, anonymous, lazyfree, swap, swap_pss;
	uint64_t pss, pss_dirty, locked; /* bytes << 12, as the kernel's PSS_SHIFT */
	unsigned long anon_exclusive;
};

/* smaps_pte_entry() / smaps_account() for one small page (R14.7, R14.8). */
static void smaps_page(struct smaps_acc *a, const struct avm_vma_info *v,
		       const struct avm_page_info *pi)
{
	const unsigned long sz = AVM_PAGE_SIZE;
	uint64_t pss;
	bool dirty, priv;

	if (pi->state == AVM_PAGE_SWAP) {
		a->swap += sz;
		/* SwapPss needs the slot's swap count, which the API does not
		 * export: counted as if unshared. */
		a->swap_pss += sz;
		return;
	}
	if (pi->state != AVM_PAGE_PRESENT) /* zero page: vm_normal_page() is NULL */
		return;
	a->rss += sz;
	if (pi->anon)
		a->anonymous += sz;
	if (pi->anon && pi->anon_exclusive)
		a->anon_exclusive += sz;
	dirty = pi->dirty;
	if (pi->anon && !pi->swapbacked && !dirty)
		a->lazyfree += sz;
	if (pi->young)
		a->referenced += sz;
	priv = pi->refcount == 1 || pi->mapcount < 2;
	pss = priv ? (uint64_t)sz << 12 : ((uint64_t)sz << 12) / (uint64_t)pi->mapcount;
	if (priv) {
		if (dirty)
			a->private_dirty += sz;
		else
			a->private_clean += sz;
	} else {
		if (dirty)
			a->shared_dirty += sz;
		else
			a->shared_clean += sz;
	}
	a->pss += pss;
	if (dirty)
		a->pss_dirty += pss;
	if (v->flags & AVM_VM_LOCKED)
		a->locked += pss;
}

static int smaps_vma(struct script_state *st, int pid, const struct avm_vma_info *v,
		     struct smaps_acc *a)
{
	unsigned long npages = (v->end - v->start) / AVM_PAGE_SIZE;

	memset(a, 0, sizeof(*a));
	a->size = v->end - v->start;
	if (npages > SHOW_MAX_PAGES)
		return -1;
	for (unsigned long i = 0; i < npages; i++) {
		struct avm_page_info pi;
		if (avm_page_info(script_world(st), pid, v->start + i * AVM_PAGE_SIZE, &pi) < 0)
			continue;
		smaps_page(a, v, &pi);
	}
	return 0;
}

static void print_smaps(struct script_state *st, int pid, FILE *out, bool json)
{
	struct avm_vma_info v;
	unsigned long cur = 0;
	char line[256], b[32];
	bool first = true;

	if (json) {
		fputs("{\"show\":\"smaps\",\"proc\":", out);
		json_str(out, proc_label(st, pid, b, sizeof(b)));
		fprintf(out, ",\"pid\":%d,\"vmas\":[", pid);
	}
	while (avm_vma_next(script_world(st), pid, &cur, &v) == 1) {
		struct smaps_acc a;
		bool big = smaps_vma(st, pid, &v, &a) < 0;
		script_format_maps_line(&v, line, sizeof(line));
		if (json) {
			fprintf(out, "%s{\"line\":", first ? "" : ",");
			json_str(out, line);
			fprintf(out,
				",\"Size\":%lu,\"Rss\":%lu,\"Pss\":%" PRIu64 ",\"Pss_Dirty\":%" PRIu64
				",\"Shared_Clean\":%lu,\"Shared_Dirty\":%lu,\"Private_Clean\":%lu,"
				"\"Private_Dirty\":%lu,\"Referenced\":%lu,\"Anonymous\":%lu,"
				"\"LazyFree\":%lu,\"Swap\":%lu,\"SwapPss\":%lu,\"Locked\":%" PRIu64
				",\"AnonExclusive\":%lu,\"VmFlags\":\"",
				a.size >> 10, a.rss >> 10, a.pss >> 22, a.pss_dirty >> 22,
				a.shared_clean >> 10, a.shared_dirty >> 10, a.private_clean >> 10,
				a.private_dirty >> 10, a.referenced >> 10, a.anonymous >> 10,
				a.lazyfree >> 10, a.swap >> 10, a.swap_pss >> 10, a.locked >> 22,
				a.anon_exclusive >> 10);
			for (int i = 0, sp = 0; i < 64; i++)
				if ((v.flags >> i & 1) && vmflag_mnemonic[i])
					fprintf(out, "%s%s", sp++ ? " " : "", vmflag_mnemonic[i]);
			fprintf(out, "\"%s}", big ? ",\"truncated\":true" : "");
			first = false;
			continue;
		}
		fprintf(out, "%s\n", line);
#define F(name, val) fprintf(out, "%-16s%8lu kB\n", name ":", (unsigned long)(val))
		F("Size", a.size >> 10);
		F("KernelPageSize", 4);
		F("MMUPageSize", 4);
		F("Rss", a.rss >> 10);
		F("Pss", a.pss >> 22);
		F("Pss_Dirty", a.pss_dirty >> 22);
		F("Shared_Clean", a.shared_clean >> 10);
		F("Shared_Dirty", a.shared_dirty >> 10);
		F("Private_Clean", a.private_clean >> 10);
		F("Private_Dirty", a.private_dirty >> 10);
		F("Referenced", a.referenced >> 10);
		F("Anonymous", a.anonymous >> 10);
		F("KSM", 0);
		F("LazyFree", a.lazyfree >> 10);
		F("AnonHugePages", 0);
		F("ShmemPmdMapped", 0);
		F("FilePmdMapped", 0);
		F("Shared_Hugetlb", 0);
		F("Private_Hugetlb", 0);
		F("Swap", a.swap >> 10);
		F("SwapPss", a.swap_pss >> 10);
		F("Locked", a.locked >> 22);
#undef F
		fprintf(out, "%-16s%8d\n", "THPeligible:", 0);
		fputs("VmFlags: ", out);
		for (int i = 0; i < 64; i++)
			if ((v.flags >> i & 1) && vmflag_mnemonic[i])
				fprintf(out, "%s ", vmflag_mnemonic[i]);
		fputc('\n', out);
		/* Not in the kernel's smaps: the model's extra line (R10.7 state). */
		fprintf(out, "# AnonExclusive: %lu kB%s\n", a.anon_exclusive >> 10,
			big ? " (VMA too large: page counters not computed)" : "");
	}
	if (json)
		fputs("]}\n", out);
}

/* ---- pages ------------------------------------------------------------------- */

static const char *state_name(enum avm_page_state s)
{
	switch (s) {
	case AVM_PAGE_NONE: return "none";
	case AVM_PAGE_PRESENT: return "present";
	case AVM_PAGE_ZERO: return "zero";
	case AVM_PAGE_SWAP: return "swap";
	case AVM_PAGE_MIGRATION: return "migration";
	case AVM_PAGE_GUARD: return "guard";
	}
	return "?";
}

/* Pagemap-like flags column: the letters of what a root reader would see. */
static void page_flags(const struct avm_page_info *pi, char *f)
{
	int i = 0;

	f[i++] = pi->state == AVM_PAGE_PRESENT ? (pi->writable ? 'W' : 'R') : '-';
	f[i++] = pi->anon_exclusive ? 'X' : '-';
	f[i++] = pi->dirty ? 'D' : '-';
	f[i++] = pi->young ? 'Y' : '-';
	f[i++] = pi->pinned ? 'P' : '-';
	f[i++] = pi->swapcache ? 'S' : '-';
	f[i++] = pi->state == AVM_PAGE_SWAP && pi->swp_exclusive ? 'E' : '-';
	f[i] = 0;
}

static int print_pages(struct script_state *st, int pid, unsigned long addr, unsigned long len,
		       FILE *out, bool json)
{
	unsigned long n = (len + AVM_PAGE_SIZE - 1) / AVM_PAGE_SIZE;
	char b[32];

	if (n > SHOW_MAX_PAGES)
		n = SHOW_MAX_PAGES;
	addr &= ~(AVM_PAGE_SIZE - 1);
	if (json) {
		fputs("{\"show\":\"pages\",\"proc\":", out);
		json_str(out, proc_label(st, pid, b, sizeof(b)));
		fprintf(out, ",\"pid\":%d,\"pages\":[", pid);
	} else {
		fprintf(out, "%-12s %-7s %6s %4s %4s %-7s %-8s %-12s %s\n", "address", "state",
			"pfn", "map", "ref", "flags", "anon_vma", "index", "content");
	}
	for (unsigned long i = 0; i < n; i++) {
		struct avm_page_info pi;
		unsigned long a = addr + i * AVM_PAGE_SIZE;
		char f[8], av[24];
		if (avm_page_info(script_world(st), pid, a, &pi) < 0)
			return -1;
		page_flags(&pi, f);
		if (json) {
			fprintf(out,
				"%s{\"addr\":\"0x%lx\",\"state\":\"%s\",\"pfn\":%lu,\"swap_slot\":%lu,"
				"\"mapcount\":%d,\"refcount\":%d,\"writable\":%s,\"exclusive\":%s,"
				"\"dirty\":%s,\"young\":%s,\"pinned\":%s,\"swapcache\":%s,"
				"\"swp_exclusive\":%s,\"anon_vma\":%lu,\"index\":\"0x%lx\","
				"\"content\":\"0x%" PRIx64 "\"}",
				i ? "," : "", a, state_name(pi.state), pi.pfn, pi.swap_slot, pi.mapcount,
				pi.refcount, pi.writable ? "true" : "false",
				pi.anon_exclusive ? "true" : "false", pi.dirty ? "true" : "false",
				pi.young ? "true" : "false", pi.pinned ? "true" : "false",
				pi.swapcache ? "true" : "false", pi.swp_exclusive ? "true" : "false",
				pi.anon_vma, pi.index, pi.content);
			continue;
		}
		if (pi.anon_vma)
			snprintf(av, sizeof(av), "av#%lu", pi.anon_vma);
		else
			snprintf(av, sizeof(av), "-");
		if (pi.state == AVM_PAGE_PRESENT)
			fprintf(out, "%012lx %-7s %6lu %4d %4d %-7s %-8s %-12lx 0x%" PRIx64 "\n", a,
				"present", pi.pfn, pi.mapcount, pi.refcount, f, av, pi.index, pi.content);
		else if (pi.state == AVM_PAGE_SWAP)
			fprintf(out, "%012lx %-7s %6s %4s %4s %-7s slot %lu\n", a, "swap", "-", "-",
				"-", f, pi.swap_slot);
		else if (pi.state == AVM_PAGE_ZERO)
			fprintf(out, "%012lx %-7s %6lu %4s %4s %-7s %-8s %-12s 0x0\n", a, "zero", 0UL,
				"-", "-", "R------", "-", "-");
		else
			fprintf(out, "%012lx %s\n", a, state_name(pi.state));
	}
	if (json)
		fputs("]}\n", out);
	else
		fputs("flags: W/R pte writable/read-only, X PG_anon_exclusive, D dirty, Y young, "
		      "P pinned, S swapcache, E exclusive swap pte\n",
		      out);
	return 0;
}

/* ---- mm, procs, stats, anon_vmas ----------------------------------------------- */

static const char *const mm_fields[] = {
	"map_count", "total_vm", "locked_vm", "pinned_vm", "data_vm",
	"rss_anon",  "rss_shmem", "swapents", "has_pinned",
};

static int print_mm(struct script_state *st, int pid, FILE *out, bool json)
{
	struct avm_mm_info mm;
	char b[32];

	if (avm_mm_info(script_world(st), pid, &mm) < 0)
		return -1;
	if (json) {
		fputs("{\"show\":\"mm\",\"proc\":", out);
		json_str(out, proc_label(st, pid, b, sizeof(b)));
		fprintf(out, ",\"pid\":%d", pid);
	} else {
		fprintf(out, "%s (pid %d):", proc_label(st, pid, b, sizeof(b)), pid);
	}
	for (size_t i = 0; i < sizeof(mm_fields) / sizeof(mm_fields[0]); i++) {
		unsigned long v = 0;
		script_mm_field(&mm, mm_fields[i], &v);
		fprintf(out, json ? ",\"%s\":%lu" : " %s=%lu", mm_fields[i], v);
	}
	fputs(json ? "}\n" : "\n", out);
	return 0;
}

static void print_procs(struct script_state *st, FILE *out, bool json)
{
	unsigned long cur = 0;
	int pid;
	bool first = true;

	if (json)
		fputs("{\"show\":\"procs\",\"procs\":[", out);
	while ((pid = avm_proc_next(script_world(st), &cur)) > 0) {
		struct avm_mm_info mm;
		char b[32];
		avm_mm_info(script_world(st), pid, &mm);
		if (json) {
			fprintf(out, "%s{\"pid\":%d,\"name\":", first ? "" : ",", pid);
			json_str(out, proc_label(st, pid, b, sizeof(b)));
			fprintf(out, ",\"map_count\":%lu,\"rss_anon\":%lu,\"swapents\":%lu}",
				mm.map_count, mm.rss_anon, mm.swapents);
		} else {
			fprintf(out, "%-8s pid %-4d vmas %-6lu rss_anon %-8lu swapents %lu\n",
				proc_label(st, pid, b, sizeof(b)), pid, mm.map_count, mm.rss_anon,
				mm.swapents);
		}
		first = false;
	}
	if (json)
		fputs("]}\n", out);
}

static void print_stats(struct script_state *st, FILE *out, bool json)
{
	const struct avm_stats *s = avm_stats(script_world(st));
	const char *n;
	unsigned long v;

	if (json)
		fputs("{\"show\":\"stats\"", out);
	for (size_t i = 0; (n = script_stat_at(s, i, &v)); i++) {
		if (json)
			fprintf(out, ",\"%s\":%lu", n, v);
		else
			fprintf(out, "%-24s %lu\n", n, v);
	}
	if (json)
		fprintf(out, ",\"frames_used\":%lu,\"swap_used\":%lu,\"model_bytes\":%zu}\n",
			avm_frames_used(script_world(st)), avm_swap_used(script_world(st)),
			avm_memory_bytes(script_world(st)));
	else
		fprintf(out, "%-24s %lu\n%-24s %lu\n%-24s %zu\n", "frames_used",
			avm_frames_used(script_world(st)), "swap_used",
			avm_swap_used(script_world(st)), "model_bytes",
			avm_memory_bytes(script_world(st)));
}

static void print_anon_vmas(struct script_state *st, FILE *out, bool json)
{
	struct avm_anon_vma_info *avs = NULL;
	struct avm_avc_info *avcs = NULL;
	long nav = script_anon_vmas(st, &avs), navc = script_avcs(st, &avcs);

	if (nav < 0 || navc < 0) {
		fputs(json ? "{\"error\":\"out of memory\"}\n" : "out of memory\n", out);
		goto out;
	}
	if (json)
		fputs("{\"show\":\"anon_vmas\",\"anon_vmas\":[", out);
	for (long i = 0; i < nav; i++) {
		const struct avm_anon_vma_info *av = &avs[i];
		bool cfirst = true;
		if (json)
			fprintf(out,
				"%s{\"id\":%lu,\"root\":%lu,\"parent\":%lu,\"refcount\":%d,"
				"\"num_children\":%d,\"num_active_vmas\":%d,\"nr_avcs\":%lu,\"avcs\":[",
				i ? "," : "", av->id, av->root, av->parent, av->refcount,
				av->num_children, av->num_active_vmas, av->nr_avcs);
		else {
			char par[32];
			if (av->id == av->root)
				snprintf(par, sizeof(par), "(root)");
			else
				snprintf(par, sizeof(par), "parent av#%lu", av->parent);
			fprintf(out, "av#%-4lu %-14s refcount %d children %d active_vmas %d avcs %lu\n",
				av->id, par, av->refcount, av->num_children, av->num_active_vmas,
				av->nr_avcs);
		}
		for (long k = 0; k < navc; k++) {
			const struct avm_avc_info *c = &avcs[k];
			char b[32];
			if (c->anon_vma != av->id)
				continue;
			if (json) {
				fprintf(out, "%s{\"pid\":%d,\"proc\":", cfirst ? "" : ",", c->pid);
				json_str(out, proc_label(st, c->pid, b, sizeof(b)));
				fprintf(out, ",\"vma_id\":%lu,\"start\":\"0x%lx\",\"end\":\"0x%lx\","
					     "\"pgoff_first\":\"0x%lx\",\"pgoff_last\":\"0x%lx\"}",
					c->vma_id, c->vma_start, c->vma_end, c->pgoff_first, c->pgoff_last);
			} else {
				fprintf(out, "    avc <- %s vma#%lu %012lx-%012lx pgoff %lx..%lx\n",
					proc_label(st, c->pid, b, sizeof(b)), c->vma_id, c->vma_start,
					c->vma_end, c->pgoff_first, c->pgoff_last);
			}
			cfirst = false;
		}
		if (json)
			fputs("]}", out);
	}
	if (json)
		fputs("]}\n", out);
	else if (!nav)
		fputs("(no anon_vmas)\n", out);
out:
	free(avs);
	free(avcs);
}

/* ---- rmap diagram ----------------------------------------------------------------- */

struct rmap_hit {
	int pid;
	unsigned long addr, vma_id;
};

struct rmap_hits {
	struct rmap_hit h[256];
	int n;
};

static void rmap_cb(void *arg, int pid, unsigned long addr, unsigned long vma_id)
{
	struct rmap_hits *hs = arg;

	if (hs->n < 256)
		hs->h[hs->n++] = (struct rmap_hit){ pid, addr, vma_id };
}

static const struct avm_anon_vma_info *find_av(const struct avm_anon_vma_info *avs, long n,
					       unsigned long id)
{
	for (long i = 0; i < n; i++)
		if (avs[i].id == id)
			return &avs[i];
	return NULL;
}

static bool vma_by_id(struct script_state *st, int pid, unsigned long id,
		      struct avm_vma_info *o)
{
	unsigned long cur = 0;

	while (avm_vma_next(script_world(st), pid, &cur, o) == 1)
		if (o->vma_id == id)
			return true;
	return false;
}

static void rmap_json(struct script_state *st, int pid, unsigned long addr,
		      const struct avm_page_info *pi, const struct rmap_hits *hits, int found,
		      const struct avm_avc_info *avcs, long navc, FILE *out)
{
	char b[32];
	bool first = true;

	fputs("{\"show\":\"rmap\",\"proc\":", out);
	json_str(out, proc_label(st, pid, b, sizeof(b)));
	fprintf(out, ",\"addr\":\"0x%lx\",\"pfn\":%lu,\"mapcount\":%d,\"refcount\":%d,"
		     "\"exclusive\":%s,\"anon_vma\":%lu,\"index\":\"0x%lx\",\"found\":%d,"
		     "\"mappings\":[",
		addr, pi->pfn, pi->mapcount, pi->refcount, pi->anon_exclusive ? "true" : "false",
		pi->anon_vma, pi->index, found);
	for (int i = 0; i < hits->n; i++)
		fprintf(out, "%s{\"pid\":%d,\"addr\":\"0x%lx\",\"vma_id\":%lu}", i ? "," : "",
			hits->h[i].pid, hits->h[i].addr, hits->h[i].vma_id);
	fputs("],\"avcs\":[", out);
	for (long k = 0; k < navc; k++) {
		const struct avm_avc_info *c = &avcs[k];
		if (c->anon_vma != pi->anon_vma)
			continue;
		fprintf(out, "%s{\"pid\":%d,\"vma_id\":%lu,\"start\":\"0x%lx\",\"end\":\"0x%lx\","
			     "\"covers_index\":%s}",
			first ? "" : ",", c->pid, c->vma_id, c->vma_start, c->vma_end,
			pi->index >= c->pgoff_first && pi->index <= c->pgoff_last ? "true" : "false");
		first = false;
	}
	fputs("]}\n", out);
}

#define BOX_WIDTH 60

static void box_rule(FILE *out)
{
	fputs("  +", out);
	for (int i = 0; i < BOX_WIDTH + 2; i++)
		fputc('-', out);
	fputs("+\n", out);
}

static void box_text(FILE *out, const char *t)
{
	fprintf(out, "  | %-*.*s |\n", BOX_WIDTH, BOX_WIDTH, t);
}

/*
 * The anon_vma tree that can reach the frame at (pid, addr), drawn the way
 * rmap discussions on linux-mm draw it: the frame, its folio->mapping
 * anon_vma and that one's ancestors, then every AVC in the anon_vma's
 * interval tree (what rmap_walk_anon() iterates), each with its VMA box
 * and whether it maps the frame.
 */
static int print_rmap(struct script_state *st, int pid, unsigned long addr, FILE *out,
		      bool json)
{
	struct avm_world *w = script_world(st);
	struct avm_page_info pi;
	struct avm_anon_vma_info *avs = NULL;
	struct avm_avc_info *avcs = NULL;
	const struct avm_anon_vma_info *av;
	struct rmap_hits hits = { .n = 0 };
	long nav, navc;
	char b[32];
	int found, n = 0;

	addr &= ~(AVM_PAGE_SIZE - 1);
	if (avm_page_info(w, pid, addr, &pi) < 0)
		return -1;
	if (pi.state != AVM_PAGE_PRESENT) {
		if (json)
			fprintf(out, "{\"show\":\"rmap\",\"addr\":\"0x%lx\",\"state\":\"%s\"}\n", addr,
				state_name(pi.state));
		else
			fprintf(out, "rmap %s 0x%lx: page is %s, no frame to walk from\n",
				proc_label(st, pid, b, sizeof(b)), addr, state_name(pi.state));
		return 0;
	}
	found = avm_rmap_lookup(w, pid, addr, rmap_cb, &hits);
	nav = script_anon_vmas(st, &avs);
	navc = script_avcs(st, &avcs);
	if (nav < 0 || navc < 0) {
		free(avs);
		free(avcs);
		return -1;
	}
	if (json) {
		rmap_json(st, pid, addr, &pi, &hits, found, avcs, navc, out);
		goto out;
	}
	fprintf(out, "rmap of %s 0x%lx: frame pfn %lu, index 0x%lx, mapcount %d, refcount %d, %s%s\n\n",
		proc_label(st, pid, b, sizeof(b)), addr, pi.pfn, pi.index, pi.mapcount, pi.refcount,
		pi.anon_exclusive ? "PG_anon_exclusive" : "not exclusive", pi.pinned ? ", pinned" : "");
	av = pi.anon_vma ? find_av(avs, nav, pi.anon_vma) : NULL;
	if (!av) {
		fprintf(out, "  (no anon_vma: %s)\n\n",
			pi.anon ? "anon folio without mapping" : "shared memory, reached via its file");
		goto out;
	}
	fprintf(out, "  folio->mapping\n        |\n        v\n");
	{
		char t[128];
		const struct avm_anon_vma_info *a = av;
		box_rule(out);
		snprintf(t, sizeof(t), "anon_vma av#%lu%s", av->id, av->id == av->root ? " (root)" : "");
		box_text(out, t);
		snprintf(t, sizeof(t), "refcount %d  num_children %d  num_active_vmas %d", av->refcount,
			 av->num_children, av->num_active_vmas);
		box_text(out, t);
		/* Its ancestry up to the root: the anon_vmas a fork child links to. */
		for (int depth = 0; a && a->parent && a->parent != a->id && depth < 16; depth++) {
			const struct avm_anon_vma_info *p = find_av(avs, nav, a->parent);
			if (!p)
				break;
			snprintf(t, sizeof(t), "  ->parent av#%lu%s  (ref %d, children %d, active %d)",
				 p->id, p->id == p->root ? " (root)" : "", p->refcount, p->num_children,
				 p->num_active_vmas);
			box_text(out, t);
			a = p;
		}
		box_rule(out);
	}
	fprintf(out, "        |\n        | rmap_walk_anon(): the AVCs in av#%lu's interval tree\n"
		     "        | whose pgoff range contains index 0x%lx\n        |\n", av->id, pi.index);
	for (long k = 0; k < navc; k++) {
		const struct avm_avc_info *c = &avcs[k];
		struct avm_vma_info v;
		char line[256], verdict[96];
		bool covers = pi.index >= c->pgoff_first && pi.index <= c->pgoff_last;
		if (c->anon_vma != av->id)
			continue;
		if (!vma_by_id(st, c->pid, c->vma_id, &v))
			continue;
		n++;
		snprintf(verdict, sizeof(verdict), "%s", covers ? "visited: PTE maps another page"
								: "skipped: index outside");
		for (int i = 0; covers && i < hits.n; i++)
			if (hits.h[i].vma_id == c->vma_id)
				snprintf(verdict, sizeof(verdict), "visited: maps the frame at 0x%lx",
					 hits.h[i].addr);
		script_format_maps_line(&v, line, sizeof(line));
		line[strcspn(line, " ")] = 0; /* the range only */
		fprintf(out, "        +--avc--> [ %s vma#%lu %s %c%c%c%c pgoff 0x%lx chain %u av#%lu ]\n",
			proc_label(st, c->pid, b, sizeof(b)), c->vma_id, line,
			v.flags & AVM_VM_READ ? 'r' : '-', v.flags & AVM_VM_WRITE ? 'w' : '-',
			v.flags & AVM_VM_EXEC ? 'x' : '-', v.flags & AVM_VM_MAYSHARE ? 's' : 'p',
			v.pgoff, v.chain_len, v.anon_vma);
		fprintf(out, "        |           %s\n", verdict);
	}
	if (!n)
		fprintf(out, "        (no avc)\n");
	fprintf(out, "\n  %d mapping(s) found by the walk; frame mapcount %d%s\n\n", found,
		pi.mapcount, found == pi.mapcount ? "" : "  <-- MISMATCH");
out:
	free(avs);
	free(avcs);
	return 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

int script_print_show(struct script_state *st, const struct avm_op *op, FILE *out)
{
	const struct script_options *opt = script_state_options(st);
	bool json = opt->json;
	int pid = 0;
	unsigned long addr = 0, len = 0;
	char msg[128];

	if (op->proc[0]) {
		const struct script_sym *s = script_sym_find(st, op->proc);
		if (!s || s->kind != SCRIPT_SYM_PROC || s->dead)
			return -1;
		pid = (int)s->value;
	}
	if (op->addr.present && script_eval(st, &op->addr, &addr, msg, sizeof(msg)))
		return -1;
	if (op->len.present && script_eval(st, &op->len, &len, msg, sizeof(msg)))
		return -1;
	switch (op->show) {
	case AVM_SHOW_MAPS:
		if (json)
			json_maps(st, pid, out, false);
		else
			return script_print_maps(st, pid, out) < 0 ? -1 : 0;
		return 0;
	case AVM_SHOW_VMAS:
		if (json)
			json_maps(st, pid, out, true);
		else
			print_vmas(st, pid, out);
		return 0;
	case AVM_SHOW_SMAPS:
		print_smaps(st, pid, out, json);
		return 0;
	case AVM_SHOW_PAGES:
		if (opt->max_op_pages && len / AVM_PAGE_SIZE > opt->max_op_pages)
			return -1;
		return print_pages(st, pid, addr, len, out, json);
	case AVM_SHOW_MM:
		return print_mm(st, pid, out, json);
	case AVM_SHOW_RMAP:
		if (!pid) {
			/* show rmap A: the process that created symbol A. */
			const struct script_sym *s = op->addr.sym[0] ? script_sym_find(st, op->addr.sym)
								     : NULL;
			if (!s || s->kind != SCRIPT_SYM_ADDR)
				return -1;
			pid = s->pid;
		}
		return print_rmap(st, pid, addr, out, json);
	case AVM_SHOW_STATS:
		print_stats(st, out, json);
		return 0;
	case AVM_SHOW_ANON_VMAS:
		print_anon_vmas(st, out, json);
		return 0;
	case AVM_SHOW_PROCS:
		print_procs(st, out, json);
		return 0;
	case AVM_SHOW_NONE:
		break;
	}
	return -1;
}
