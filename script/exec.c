/*
 * exec.c - the scenario interpreter: runs `struct avm_op`s on a model world
 * through the public API (include/anonvm/anonvm.h only), keeps the symbol
 * table, checks `=>` results and `expect` lines.
 *
 * Status contract (exec.h): SCRIPT_OK, SCRIPT_EXPECT_FAILED (the op ran;
 * what the script said would happen did not), SCRIPT_ERROR (the op could
 * not run: unknown name, a value out of range, a broken invariant).  A
 * syscall that fails without `=>` is not an error: it is reported (unless
 * quiet) and the run goes on, as a real program would.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

struct script_state {
	struct script_options opt;
	struct avm_world *w;
	struct script_sym *syms;
	size_t nsyms, cap;
	unsigned nprocs; /* spawned + forked, for opt.max_procs */
	void (*checkpoint)(struct script_state *st, const struct avm_op *op, void *arg);
	void *checkpoint_arg;
};

void script_options_default(struct script_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->out = stdout;
	opt->err = stderr;
	opt->swap_slots = 65536;
}

struct script_state *script_state_new(const struct script_options *opt, char *errbuf,
				      size_t errlen)
{
	struct script_state *st;
	struct avm_config cfg;
	const struct avm_policy *pol = NULL;

	if (opt->policy && !(pol = avm_policy_find(opt->policy))) {
		snprintf(errbuf, errlen, "unknown policy '%s'", opt->policy);
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	st->opt = *opt;
	avm_config_default(&cfg);
	cfg.policy = pol;
	cfg.max_frames = opt->max_frames;
	cfg.swap_slots = opt->swap_slots;
	if (opt->max_map_count)
		cfg.max_map_count = opt->max_map_count;
	/* --host-like: this machine boots with pvm_no_zero_page=1 (host-kernel.md). */
	cfg.read_fault_zero_page = !opt->host_like;
	st->w = avm_world_new(&cfg);
	if (!st->w) {
		snprintf(errbuf, errlen, "cannot create the world (bad config or out of memory)");
		free(st);
		return NULL;
	}
	return st;
}

void script_state_free(struct script_state *st)
{
	if (!st)
		return;
	avm_world_free(st->w);
	free(st->syms);
	free(st);
}

struct avm_world *script_world(struct script_state *st)
{
	return st->w;
}

const struct script_options *script_state_options(const struct script_state *st)
{
	return &st->opt;
}

void script_set_checkpoint_hook(struct script_state *st,
				void (*fn)(struct script_state *, const struct avm_op *, void *),
				void *arg)
{
	st->checkpoint = fn;
	st->checkpoint_arg = arg;
}

/* ---- symbols ---------------------------------------------------------- */

const struct script_sym *script_sym_find(const struct script_state *st, const char *name)
{
	for (size_t i = 0; i < st->nsyms; i++)
		if (!strcmp(st->syms[i].name, name))
			return &st->syms[i];
	return NULL;
}

const struct script_sym *script_sym_next(const struct script_state *st, size_t *cursor)
{
	return *cursor < st->nsyms ? &st->syms[(*cursor)++] : NULL;
}

int script_sym_set(struct script_state *st, const char *name, enum script_sym_kind kind,
		   unsigned long value, int pid)
{
	struct script_sym *s = (struct script_sym *)script_sym_find(st, name);

	if (strlen(name) >= AVM_SYM_MAX)
		return -1;
	if (!s) {
		if (st->nsyms == st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 16;
			struct script_sym *n = realloc(st->syms, cap * sizeof(*n));
			if (!n)
				return -1;
			st->syms = n;
			st->cap = cap;
		}
		s = &st->syms[st->nsyms++];
		memset(s, 0, sizeof(*s));
		strcpy(s->name, name);
	}
	s->kind = kind;
	s->value = value;
	s->pid = pid;
	s->dead = false;
	return 0;
}

const char *script_proc_name(const struct script_state *st, int pid)
{
	/* The latest live name bound to this pid. */
	for (size_t i = st->nsyms; i-- > 0;)
		if (st->syms[i].kind == SCRIPT_SYM_PROC && !st->syms[i].dead &&
		    (int)st->syms[i].value == pid)
			return st->syms[i].name;
	return NULL;
}

int script_eval(const struct script_state *st, const struct avm_expr *e, unsigned long *out,
		char *msg, size_t msglen)
{
	unsigned long base = 0;

	if (e->sym[0]) {
		const struct script_sym *s = script_sym_find(st, e->sym);
		if (!s) {
			snprintf(msg, msglen, "unknown name '%s'", e->sym);
			return -1;
		}
		if (s->kind != SCRIPT_SYM_ADDR) {
			snprintf(msg, msglen, "'%s' is a %s, not an address", e->sym,
				 s->kind == SCRIPT_SYM_PROC ? "process" : "pin handle");
			return -1;
		}
		base = s->value;
	}
	if (e->off < 0) {
		uint64_t neg = e->off == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)-e->off;
		if (neg > base) {
			snprintf(msg, msglen, "address expression is negative");
			return -1;
		}
		*out = base - (unsigned long)neg;
	} else {
		if ((uint64_t)e->off > UINT64_MAX - base) {
			snprintf(msg, msglen, "address expression overflows");
			return -1;
		}
		*out = base + (unsigned long)e->off;
	}
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static int fail(struct op_result *res, enum script_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct op_result *res, enum script_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	res->status = status;
	return status;
}

static int get_proc(struct script_state *st, const char *name, int *pid, struct op_result *res)
{
	const struct script_sym *s = script_sym_find(st, name);

	if (!s)
		return fail(res, SCRIPT_ERROR, "unknown process '%s'", name);
	if (s->kind != SCRIPT_SYM_PROC)
		return fail(res, SCRIPT_ERROR, "'%s' is not a process", name);
	if (s->dead)
		return fail(res, SCRIPT_ERROR, "process '%s' has exited", name);
	*pid = (int)s->value;
	return 0;
}

static int get_handle(struct script_state *st, const char *name, int *h, struct op_result *res)
{
	const struct script_sym *s = script_sym_find(st, name);

	if (!s)
		return fail(res, SCRIPT_ERROR, "unknown pin handle '%s'", name);
	if (s->kind != SCRIPT_SYM_HANDLE)
		return fail(res, SCRIPT_ERROR, "'%s' is not a pin handle", name);
	*h = (int)s->value;
	return 0;
}

static int eval(struct script_state *st, const struct avm_expr *e, unsigned long *out,
		struct op_result *res)
{
	char msg[128];

	if (!e->present) {
		*out = 0;
		return 0;
	}
	if (script_eval(st, e, out, msg, sizeof(msg)))
		return fail(res, SCRIPT_ERROR, "%s", msg);
	return 0;
}

static int check_len(struct script_state *st, unsigned long len, struct op_result *res)
{
	if (st->opt.max_op_pages && len / AVM_PAGE_SIZE > st->opt.max_op_pages)
		return fail(res, SCRIPT_ERROR, "length 0x%lx exceeds the limit of %lu pages", len,
			    st->opt.max_op_pages);
	return 0;
}

/* "EBUSY", "SIGSEGV" for accesses, or the number. */
static const char *err_name(enum avm_op_kind kind, int err, char *buf, size_t len)
{
	const char *n;

	if ((kind == AVM_OP_READ || kind == AVM_OP_WRITE || kind == AVM_OP_TOUCH) &&
	    (err == AVM_ESIGSEGV || err == AVM_ESIGBUS))
		return err == AVM_ESIGSEGV ? "SIGSEGV" : "SIGBUS";
	n = script_errno_name(err);
	if (n)
		return n;
	snprintf(buf, len, "errno %d", err);
	return buf;
}

static bool cmp_u64(enum avm_cmp c, uint64_t a, uint64_t b)
{
	switch (c) {
	case AVM_CMP_EQ: return a == b;
	case AVM_CMP_NE: return a != b;
	case AVM_CMP_LT: return a < b;
	case AVM_CMP_LE: return a <= b;
	case AVM_CMP_GT: return a > b;
	case AVM_CMP_GE: return a >= b;
	}
	return false;
}

static const char *cmp_str(enum avm_cmp c)
{
	static const char *const s[] = { "==", "!=", "<", "<=", ">", ">=" };
	return (unsigned)c < 6 ? s[c] : "?";
}

/* ---- result checking (`=>`) -------------------------------------------- */

static int check_result(const struct avm_op *op, struct op_result *res)
{
	const struct avm_result_spec *r = &op->result;
	char b1[32], b2[32];

	if (!r->given) {
		if (res->ret < 0)
			snprintf(res->msg, sizeof(res->msg), "%s failed: %s (not checked)",
				 avm_op_kind_name(op->kind),
				 err_name(op->kind, -res->ret, b1, sizeof(b1)));
		return SCRIPT_OK;
	}
	if (r->err) {
		if (res->ret != -r->err)
			return fail(res, SCRIPT_EXPECT_FAILED, "%s: expected %s, got %s",
				    avm_op_kind_name(op->kind), err_name(op->kind, r->err, b1, sizeof(b1)),
				    res->ret < 0 ? err_name(op->kind, -res->ret, b2, sizeof(b2))
						 : "success");
	} else if (res->ret < 0) {
		return fail(res, SCRIPT_EXPECT_FAILED, "%s: expected success, got %s",
			    avm_op_kind_name(op->kind), err_name(op->kind, -res->ret, b1, sizeof(b1)));
	}
	if (r->has_moved && res->moved != r->moved)
		return fail(res, SCRIPT_EXPECT_FAILED, "uffd-move: expected %" PRId64
			    " moved, got %ld", r->moved, res->moved);
	if (r->has_value) {
		uint64_t got;
		switch (op->kind) {
		case AVM_OP_READ:
		case AVM_OP_PIN_READ:
			got = res->value;
			break;
		case AVM_OP_MMAP:
		case AVM_OP_MREMAP:
			if (!r->value)
				return SCRIPT_OK; /* `=> 0`: success */
			got = res->addr;
			break;
		case AVM_OP_RECLAIM:
			got = res->reclaimed;
			break;
		case AVM_OP_UFFD_MOVE:
			got = (uint64_t)res->ret;
			break;
		default:
			got = (uint64_t)res->ret;
			break;
		}
		if (got != r->value)
			return fail(res, SCRIPT_EXPECT_FAILED, "%s: expected 0x%" PRIx64
				    ", got 0x%" PRIx64, avm_op_kind_name(op->kind), r->value, got);
	}
	return SCRIPT_OK;
}

/* ---- expectations -------------------------------------------------------- */

/* The VMA containing addr.  Returns 1, 0 (none), or -errno. */
static int find_vma(struct script_state *st, int pid, unsigned long addr,
		    struct avm_vma_info *out)
{
	unsigned long cur = 0;
	int r;

	while ((r = avm_vma_next(st->w, pid, &cur, out)) == 1) {
		if (addr < out->start)
			return 0;
		if (addr < out->end)
			return 1;
	}
	return r;
}

static const char *page_state_name(enum avm_page_state s)
{
	switch (s) {
	case AVM_PAGE_NONE: return "none";
	case AVM_PAGE_PRESENT: return "present";
	case AVM_PAGE_ZERO: return "zero";
	case AVM_PAGE_SWAP: return "swapped";
	case AVM_PAGE_MIGRATION: return "migration";
	case AVM_PAGE_GUARD: return "guard";
	}
	return "?";
}

static const char *const pred_names[] = {
	[AVM_PRED_PRESENT] = "present",     [AVM_PRED_SWAPPED] = "swapped",
	[AVM_PRED_ZERO] = "zero",           [AVM_PRED_EXCLUSIVE] = "exclusive",
	[AVM_PRED_NONE] = "none",           [AVM_PRED_WRITABLE] = "writable",
	[AVM_PRED_PINNED] = "pinned",       [AVM_PRED_SWAPCACHE] = "swapcache",
	[AVM_PRED_MAPPED] = "mapped",
};

static bool page_pred(enum avm_page_pred p, const struct avm_page_info *pi)
{
	bool present = pi->state == AVM_PAGE_PRESENT;

	switch (p) {
	case AVM_PRED_PRESENT: return present;
	case AVM_PRED_SWAPPED: return pi->state == AVM_PAGE_SWAP;
	case AVM_PRED_ZERO: return pi->state == AVM_PAGE_ZERO;
	case AVM_PRED_EXCLUSIVE: return present && pi->anon_exclusive;
	case AVM_PRED_NONE: return pi->state == AVM_PAGE_NONE;
	case AVM_PRED_WRITABLE: return present && pi->writable;
	case AVM_PRED_PINNED: return present && pi->pinned;
	case AVM_PRED_SWAPCACHE: return present && pi->swapcache;
	case AVM_PRED_MAPPED: return present || pi->state == AVM_PAGE_ZERO;
	}
	return false;
}

/* Describe a page's state in a failure message. */
static void page_desc(const struct avm_page_info *pi, char *buf, size_t len)
{
	if (pi->state == AVM_PAGE_PRESENT)
		snprintf(buf, len, "present pfn %lu mapcount %d refcount %d%s%s%s", pi->pfn,
			 pi->mapcount, pi->refcount, pi->anon_exclusive ? " exclusive" : "",
			 pi->writable ? " writable" : " read-only", pi->pinned ? " pinned" : "");
	else if (pi->state == AVM_PAGE_SWAP)
		snprintf(buf, len, "swapped slot %lu%s", pi->swap_slot,
			 pi->swp_exclusive ? " (exclusive swap pte)" : "");
	else
		snprintf(buf, len, "%s", page_state_name(pi->state));
}

#define STAT(f) { #f, offsetof(struct avm_stats, f) }
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
	STAT(merge_new_left), STAT(merge_new_right), STAT(merge_new_both),
	STAT(merge_existing_left), STAT(merge_existing_right), STAT(merge_existing_both),
	STAT(merge_refused_anon_vma), STAT(splits), STAT(vmas_alloc), STAT(vmas_free),
	STAT(anon_vma_alloc), STAT(anon_vma_free), STAT(anon_vma_reused), STAT(avc_alloc),
	STAT(avc_free), STAT(faults_read), STAT(faults_write), STAT(faults_zero_page),
	STAT(faults_unshare), STAT(faults_swapin), STAT(cow_copy), STAT(cow_reuse),
	STAT(fork_copy_pinned), STAT(frames_alloc), STAT(frames_free), STAT(pins),
	STAT(unpins), STAT(refs), STAT(rmap_walks), STAT(rmap_walk_visits), STAT(swap_out),
	STAT(swap_in), STAT(uffd_moved_pages), STAT(pt_pages_alloc), STAT(pt_pages_free),
	STAT(forks), STAT(exits),
};
#undef STAT

size_t script_stat_count(void)
{
	return sizeof(stat_fields) / sizeof(stat_fields[0]);
}

const char *script_stat_at(const struct avm_stats *s, size_t i, unsigned long *val)
{
	if (i >= script_stat_count())
		return NULL;
	*val = *(const unsigned long *)(const void *)((const char *)s + stat_fields[i].off);
	return stat_fields[i].name;
}

/* mm fields by name.  Returns 0 or -1 (unknown). */
int script_mm_field(const struct avm_mm_info *mm, const char *name, unsigned long *val)
{
	if (!strcmp(name, "map_count")) *val = mm->map_count;
	else if (!strcmp(name, "total_vm")) *val = mm->total_vm;
	else if (!strcmp(name, "locked_vm")) *val = mm->locked_vm;
	else if (!strcmp(name, "pinned_vm")) *val = mm->pinned_vm;
	else if (!strcmp(name, "data_vm")) *val = mm->data_vm;
	else if (!strcmp(name, "rss_anon")) *val = mm->rss_anon;
	else if (!strcmp(name, "rss_shmem")) *val = mm->rss_shmem;
	else if (!strcmp(name, "swapents")) *val = mm->swapents;
	else if (!strcmp(name, "has_pinned")) *val = mm->has_pinned;
	else return -1;
	return 0;
}

/* Normalise a maps text for comparison: trim each line, squeeze blanks. */
static char *normalize_maps(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n + 2), *p = o;
	bool blank = false, bol = true;

	if (!o)
		return NULL;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			blank = true;
			continue;
		}
		if (*s == '\n') {
			if (!bol)
				*p++ = '\n';
			blank = false;
			bol = true;
			continue;
		}
		if (blank && !bol)
			*p++ = ' ';
		blank = false;
		bol = false;
		*p++ = *s;
	}
	if (!bol)
		*p++ = '\n';
	*p = 0;
	return o;
}

static char *maps_text(struct script_state *st, int pid)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	script_print_maps(st, pid, f);
	fclose(f);
	return buf;
}

static int expect_maps(struct script_state *st, const struct avm_op *op, int pid,
		       struct op_result *res)
{
	char *got = maps_text(st, pid), *ng = got ? normalize_maps(got) : NULL;
	char *nw = normalize_maps(op->text ? op->text : "");
	int r = SCRIPT_OK;

	if (!ng || !nw) {
		r = fail(res, SCRIPT_ERROR, "out of memory");
		goto out;
	}
	if (strcmp(ng, nw)) {
		/* Name the first differing line. */
		const char *a = nw, *b = ng;
		int line = 1;
		while (*a && *b) {
			size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
			if (la != lb || memcmp(a, b, la))
				break;
			a += la + (a[la] != 0);
			b += lb + (b[lb] != 0);
			line++;
		}
		r = fail(res, SCRIPT_EXPECT_FAILED,
			 "maps differ at line %d: expected '%.*s', got '%.*s'", line,
			 (int)strcspn(a, "\n"), *a ? a : "(end)", (int)strcspn(b, "\n"),
			 *b ? b : "(end)");
		if (st->opt.err) {
			fprintf(st->opt.err, "--- expected maps\n%s--- actual maps\n%s---\n", op->text,
				got);
		}
	}
out:
	free(got);
	free(ng);
	free(nw);
	return r;
}

static int eval_rhs(struct script_state *st, const struct avm_op *op, uint64_t *v,
		    struct op_result *res)
{
	unsigned long x;

	if (eval(st, &op->rhs, &x, res))
		return -1;
	*v = op->rhs_page ? x >> AVM_PAGE_SHIFT : x;
	return 0;
}

static int compare(struct op_result *res, const char *what, enum avm_cmp c, uint64_t got,
		   uint64_t want)
{
	if (cmp_u64(c, got, want))
		return SCRIPT_OK;
	return fail(res, SCRIPT_EXPECT_FAILED, "expected %s %s 0x%" PRIx64 " (%" PRIu64
		    "), got 0x%" PRIx64 " (%" PRIu64 ")", what, cmp_str(c), want, want, got, got);
}

static int exec_expect(struct script_state *st, const struct avm_op *op, struct op_result *res)
{
	int pid = 0, pid2 = 0, r;
	unsigned long addr = 0, addr2 = 0, len = 0;
	uint64_t want = 0;
	struct avm_page_info pi, pi2;
	struct avm_vma_info vi, vi2;
	char d[160];

	if (op->proc[0] && get_proc(st, op->proc, &pid, res))
		return res->status;
	if (op->proc2[0] && get_proc(st, op->proc2, &pid2, res))
		return res->status;
	if (eval(st, &op->addr, &addr, res) || eval(st, &op->addr2, &addr2, res) ||
	    eval(st, &op->len, &len, res))
		return res->status;
	res->call.pid = pid;
	res->call.pid2 = pid2;
	res->call.addr = addr;
	res->call.addr2 = addr2;
	res->call.len = len;
	switch (op->expect) {
	case AVM_EXPECT_READ:
		if (eval_rhs(st, op, &want, res))
			return res->status;
		r = avm_read(st->w, pid, addr, &res->value);
		res->ret = r;
		if (r < 0)
			return fail(res, SCRIPT_EXPECT_FAILED, "read 0x%lx: %s", addr,
				    err_name(AVM_OP_READ, -r, d, sizeof(d)));
		return compare(res, "read", op->cmp, res->value, want);
	case AVM_EXPECT_CONTENT:
		if (eval_rhs(st, op, &want, res))
			return res->status;
		if (avm_page_info(st->w, pid, addr, &pi) < 0)
			return fail(res, SCRIPT_ERROR, "bad address 0x%lx", addr);
		if (pi.state == AVM_PAGE_SWAP || pi.state == AVM_PAGE_MIGRATION)
			return fail(res, SCRIPT_ERROR,
				    "content of 0x%lx: page is %s (use 'expect P read')", addr,
				    page_state_name(pi.state));
		return compare(res, "content", op->cmp,
			       pi.state == AVM_PAGE_PRESENT ? pi.content : 0, want);
	case AVM_EXPECT_VMAS: {
		struct avm_mm_info mm;
		if (eval_rhs(st, op, &want, res))
			return res->status;
		avm_mm_info(st->w, pid, &mm);
		return compare(res, "vmas", op->cmp, mm.map_count, want);
	}
	case AVM_EXPECT_MAPS:
		return expect_maps(st, op, pid, res);
	case AVM_EXPECT_STATE: {
		unsigned long n = len ? (len + AVM_PAGE_SIZE - 1) / AVM_PAGE_SIZE : 1;
		if (check_len(st, len, res))
			return res->status;
		for (unsigned long i = 0; i < n; i++) {
			unsigned long a = addr + i * AVM_PAGE_SIZE;
			if (avm_page_info(st->w, pid, a, &pi) < 0)
				return fail(res, SCRIPT_ERROR, "bad address 0x%lx", a);
			if (page_pred(op->pred, &pi) == op->negate) {
				page_desc(&pi, d, sizeof(d));
				return fail(res, SCRIPT_EXPECT_FAILED, "expected 0x%lx %s%s, got %s", a,
					    op->negate ? "not " : "", pred_names[op->pred], d);
			}
		}
		return SCRIPT_OK;
	}
	case AVM_EXPECT_MAPCOUNT:
	case AVM_EXPECT_REFCOUNT:
		if (eval_rhs(st, op, &want, res))
			return res->status;
		if (avm_page_info(st->w, pid, addr, &pi) < 0)
			return fail(res, SCRIPT_ERROR, "bad address 0x%lx", addr);
		if (pi.state != AVM_PAGE_PRESENT) {
			if (want == 0 && op->cmp == AVM_CMP_EQ)
				return SCRIPT_OK;
			page_desc(&pi, d, sizeof(d));
			return fail(res, SCRIPT_EXPECT_FAILED, "0x%lx has no frame (%s)", addr, d);
		}
		return compare(res, op->expect == AVM_EXPECT_MAPCOUNT ? "mapcount" : "refcount",
			       op->cmp,
			       (uint64_t)(op->expect == AVM_EXPECT_MAPCOUNT ? pi.mapcount
									   : pi.refcount),
			       want);
	case AVM_EXPECT_SAME_FRAME:
	case AVM_EXPECT_DIFFERENT_FRAME: {
		bool same;
		if (avm_page_info(st->w, pid, addr, &pi) < 0 ||
		    avm_page_info(st->w, pid2, addr2, &pi2) < 0)
			return fail(res, SCRIPT_ERROR, "bad address");
		same = pi.state == pi2.state && pi.pfn == pi2.pfn &&
		       (pi.state == AVM_PAGE_PRESENT || pi.state == AVM_PAGE_ZERO);
		if (same != (op->expect == AVM_EXPECT_SAME_FRAME)) {
			char d2[160];
			page_desc(&pi, d, sizeof(d));
			page_desc(&pi2, d2, sizeof(d2));
			return fail(res, SCRIPT_EXPECT_FAILED, "expected %s frame: %s 0x%lx is %s; %s "
				    "0x%lx is %s", same ? "different" : "the same", op->proc, addr, d,
				    op->proc2, addr2, d2);
		}
		return SCRIPT_OK;
	}
	case AVM_EXPECT_ANON_VMA: {
		unsigned long a1, a2 = 0;
		if (find_vma(st, pid, addr, &vi) != 1)
			return fail(res, SCRIPT_EXPECT_FAILED, "no VMA at 0x%lx in %s", addr, op->proc);
		a1 = vi.anon_vma;
		if (!op->expect_none) {
			if (find_vma(st, pid2, addr2, &vi2) != 1)
				return fail(res, SCRIPT_EXPECT_FAILED, "no VMA at 0x%lx in %s", addr2,
					    op->proc2);
			a2 = vi2.anon_vma;
		}
		if ((a1 == a2) != (op->cmp == AVM_CMP_EQ))
			return fail(res, SCRIPT_EXPECT_FAILED, "expected anon_vma %s: av#%lu vs %s%lu",
				    op->cmp == AVM_CMP_EQ ? "equal" : "different", a1,
				    op->expect_none ? "none " : "av#", a2);
		return SCRIPT_OK;
	}
	case AVM_EXPECT_PGOFF:
	case AVM_EXPECT_CHAIN:
		if (eval_rhs(st, op, &want, res))
			return res->status;
		if (find_vma(st, pid, addr, &vi) != 1)
			return fail(res, SCRIPT_EXPECT_FAILED, "no VMA at 0x%lx in %s", addr, op->proc);
		return compare(res, op->expect == AVM_EXPECT_PGOFF ? "pgoff" : "chain", op->cmp,
			       op->expect == AVM_EXPECT_PGOFF ? vi.pgoff : vi.chain_len, want);
	case AVM_EXPECT_MM: {
		struct avm_mm_info mm;
		unsigned long v;
		if (eval_rhs(st, op, &want, res))
			return res->status;
		avm_mm_info(st->w, pid, &mm);
		if (script_mm_field(&mm, op->field, &v))
			return fail(res, SCRIPT_ERROR, "unknown mm field '%s'", op->field);
		return compare(res, op->field, op->cmp, v, want);
	}
	case AVM_EXPECT_STAT: {
		const struct avm_stats *s = avm_stats(st->w);
		unsigned long v;
		const char *n;
		if (eval_rhs(st, op, &want, res))
			return res->status;
		for (size_t i = 0; (n = script_stat_at(s, i, &v)); i++)
			if (!strcmp(n, op->field))
				return compare(res, n, op->cmp, v, want);
		return fail(res, SCRIPT_ERROR, "unknown counter '%s' (see 'show stats')", op->field);
	}
	case AVM_EXPECT_FRAMES:
	case AVM_EXPECT_SWAP:
		if (eval_rhs(st, op, &want, res))
			return res->status;
		return compare(res, op->expect == AVM_EXPECT_FRAMES ? "frames" : "swap", op->cmp,
			       op->expect == AVM_EXPECT_FRAMES ? avm_frames_used(st->w)
							       : avm_swap_used(st->w),
			       want);
	case AVM_EXPECT_VALID: {
		char buf[400];
		if (avm_validate(st->w, buf, sizeof(buf)))
			return fail(res, SCRIPT_EXPECT_FAILED, "invalid: %s", buf);
		return SCRIPT_OK;
	}
	case AVM_EXPECT_NONE:
		break;
	}
	return fail(res, SCRIPT_ERROR, "unknown expectation");
}

bool script_op_model_only(const struct avm_op *op)
{
	if (op->kind == AVM_OP_SHOW)
		return op->show == AVM_SHOW_RMAP || op->show == AVM_SHOW_ANON_VMAS ||
		       op->show == AVM_SHOW_STATS || op->show == AVM_SHOW_VMAS;
	if (op->kind != AVM_OP_EXPECT)
		return false;
	switch (op->expect) {
	case AVM_EXPECT_ANON_VMA:
	case AVM_EXPECT_PGOFF:
	case AVM_EXPECT_CHAIN:
	case AVM_EXPECT_STAT:
	case AVM_EXPECT_FRAMES:
	case AVM_EXPECT_SWAP:
	case AVM_EXPECT_VALID:
	case AVM_EXPECT_REFCOUNT:
		return true;
	case AVM_EXPECT_STATE:
		return op->pred == AVM_PRED_PINNED;
	default:
		return false;
	}
}

/* ---- the interpreter ----------------------------------------------------- */

/* Resolve the operands every syscall-like op shares. */
static int resolve(struct script_state *st, const struct avm_op *op, struct op_result *res)
{
	struct script_call *c = &res->call;

	c->kind = op->kind;
	c->prot = op->prot;
	c->flags = op->flags;
	c->advice = op->advice;
	c->value = op->value;
	if (op->proc[0] && get_proc(st, op->proc, &c->pid, res))
		return -1;
	/* handle, index and len2 share storage with other kinds' fields (scenario.h). */
	if (op->kind == AVM_OP_UNPIN || op->kind == AVM_OP_PIN_READ ||
	    op->kind == AVM_OP_PIN_WRITE) {
		c->index = op->index;
		if (get_handle(st, op->handle, &c->handle, res))
			return -1;
	}
	if (!op->addr.none && eval(st, &op->addr, &c->addr, res))
		return -1;
	if (eval(st, &op->addr2, &c->addr2, res) || eval(st, &op->len, &c->len, res) ||
	    (op->kind == AVM_OP_MREMAP && eval(st, &op->len2, &c->len2, res)))
		return -1;
	if (check_len(st, c->len, res) || check_len(st, c->len2, res))
		return -1;
	return 0;
}

static int bind(struct script_state *st, const struct avm_op *op, enum script_sym_kind kind,
		unsigned long value, int pid, struct op_result *res)
{
	if (!op->bind[0])
		return 0;
	if (script_sym_set(st, op->bind, kind, value, pid))
		return fail(res, SCRIPT_ERROR, "out of memory");
	return 0;
}

static void mark_dead(struct script_state *st, enum script_sym_kind kind, unsigned long value)
{
	for (size_t i = 0; i < st->nsyms; i++)
		if (st->syms[i].kind == kind && st->syms[i].value == value)
			st->syms[i].dead = true;
}

static int run_op(struct script_state *st, const struct avm_op *op, struct op_result *res)
{
	struct script_call *c = &res->call;
	int r = 0;

	if (resolve(st, op, res))
		return res->status;
	switch (op->kind) {
	case AVM_OP_SPAWN:
	case AVM_OP_FORK:
		if (st->opt.max_procs && st->nprocs >= st->opt.max_procs)
			return fail(res, SCRIPT_ERROR, "more than %u processes", st->opt.max_procs);
		r = op->kind == AVM_OP_SPAWN ? avm_spawn(st->w) : avm_fork(st->w, c->pid);
		if (r > 0) {
			st->nprocs++;
			res->pid = r;
			if (bind(st, op, SCRIPT_SYM_PROC, (unsigned long)r, r, res))
				return res->status;
			r = 0;
		}
		break;
	case AVM_OP_EXIT:
		r = avm_exit(st->w, c->pid);
		if (!r) {
			mark_dead(st, SCRIPT_SYM_PROC, (unsigned long)c->pid);
			/* Names of its ranges stay usable as numbers; its pins are gone. */
		}
		break;
	case AVM_OP_MMAP:
		if (op->addr.none)
			c->addr = 0;
		r = avm_mmap(st->w, c->pid, c->addr, c->len, c->prot, c->flags, &res->addr);
		if (!r) {
			if (op->addr.none) {
				c->addr = res->addr;
				c->fixed_by_model = true;
			}
			if (bind(st, op, SCRIPT_SYM_ADDR, res->addr, c->pid, res))
				return res->status;
		}
		break;
	case AVM_OP_MUNMAP:
		r = avm_munmap(st->w, c->pid, c->addr, c->len);
		break;
	case AVM_OP_MPROTECT:
		r = avm_mprotect(st->w, c->pid, c->addr, c->len, c->prot);
		break;
	case AVM_OP_MREMAP:
		r = avm_mremap(st->w, c->pid, c->addr, c->len, c->len2, c->flags, c->addr2,
			       &res->addr);
		if (!r && bind(st, op, SCRIPT_SYM_ADDR, res->addr, c->pid, res))
			return res->status;
		break;
	case AVM_OP_MADVISE:
		r = avm_madvise(st->w, c->pid, c->addr, c->len, c->advice);
		break;
	case AVM_OP_MLOCK:
		r = avm_mlock(st->w, c->pid, c->addr, c->len, c->flags);
		break;
	case AVM_OP_MUNLOCK:
		r = avm_munlock(st->w, c->pid, c->addr, c->len);
		break;
	case AVM_OP_NAME:
		r = avm_set_anon_name(st->w, c->pid, c->addr, c->len,
				      op->name_none ? NULL : op->name);
		break;
	case AVM_OP_READ:
		r = avm_read(st->w, c->pid, c->addr, &res->value);
		break;
	case AVM_OP_WRITE:
		r = avm_write(st->w, c->pid, c->addr, op->value);
		break;
	case AVM_OP_TOUCH:
		r = avm_touch(st->w, c->pid, c->addr, c->len, op->flags & 1);
		break;
	case AVM_OP_PIN:
	case AVM_OP_REF: {
		unsigned long npages = (c->len + AVM_PAGE_SIZE - 1) / AVM_PAGE_SIZE;
		if (c->len > ULONG_MAX - AVM_PAGE_SIZE)
			npages = ULONG_MAX / AVM_PAGE_SIZE;
		res->handle = -1;
		r = op->kind == AVM_OP_PIN
			    ? avm_pin(st->w, c->pid, c->addr, npages, (unsigned)op->flags, &res->handle)
			    : avm_get_ref(st->w, c->pid, c->addr, npages, &res->handle);
		if (!r) {
			c->handle = res->handle;
			if (bind(st, op, SCRIPT_SYM_HANDLE, (unsigned long)res->handle, c->pid, res))
				return res->status;
		}
		break;
	}
	case AVM_OP_UNPIN:
		/* The handle stays bound: a second unpin is the model's EINVAL. */
		r = avm_unpin(st->w, c->handle);
		break;
	case AVM_OP_PIN_READ:
		r = avm_pin_read(st->w, c->handle, op->index, &res->value);
		break;
	case AVM_OP_PIN_WRITE:
		r = avm_pin_write(st->w, c->handle, op->index, op->value);
		break;
	case AVM_OP_UFFD_REGISTER:
		r = avm_uffd_register(st->w, c->pid, c->addr, c->len,
				      AVM_UFFDIO_REGISTER_MODE_MISSING);
		break;
	case AVM_OP_UFFD_UNREGISTER:
		r = avm_uffd_unregister(st->w, c->pid, c->addr, c->len);
		break;
	case AVM_OP_UFFD_MOVE:
		r = avm_uffd_move(st->w, c->pid, c->addr, c->addr2, c->len, c->flags, &res->moved);
		break;
	case AVM_OP_RECLAIM:
		r = avm_reclaim(st->w, op->value, &res->reclaimed);
		break;
	case AVM_OP_SET:
		avm_set_max_map_count(st->w, op->value);
		break;
	case AVM_OP_CHECKPOINT:
		if (st->checkpoint)
			st->checkpoint(st, op, st->checkpoint_arg);
		return SCRIPT_OK;
	case AVM_OP_EXPECT:
		return exec_expect(st, op, res);
	case AVM_OP_SHOW:
		if (st->opt.out && st->opt.echo && !st->opt.json)
			fprintf(st->opt.out, "\n>>> %s\n", op->src ? op->src : "show");
		if (op->show == AVM_SHOW_RMAP && !op->proc[0]) {
			/* `show rmap A`: A must be a name bound by a process's mmap. */
			const struct script_sym *s = op->addr.sym[0] ? script_sym_find(st, op->addr.sym)
								     : NULL;
			if (!s || s->kind != SCRIPT_SYM_ADDR)
				return fail(res, SCRIPT_ERROR,
					    "show rmap: which process? write 'show rmap P ADDR'");
		}
		if (st->opt.out && script_print_show(st, op, st->opt.out) < 0)
			return fail(res, SCRIPT_ERROR, "show %s: no such process or address",
				    op->proc[0] ? op->proc : "");
		return SCRIPT_OK;
	default:
		return fail(res, SCRIPT_ERROR, "unknown operation");
	}
	res->ran_syscall = true;
	res->ret = r;
	return check_result(op, res);
}

int script_exec_op(struct script_state *st, const struct avm_op *op, struct op_result *res)
{
	/* Everything but the message buffer: zeroing 512 bytes per line shows in traces. */
	memset(res, 0, offsetof(struct op_result, msg));
	res->msg[0] = 0;
	res->status = SCRIPT_OK;
	res->status = run_op(st, op, res);
	if (res->status != SCRIPT_ERROR && st->opt.validate) {
		char buf[400];
		if (avm_validate(st->w, buf, sizeof(buf)))
			return fail(res, SCRIPT_ERROR, "validator: %s", buf);
	}
	return res->status;
}

/*
 * Run one op of a scenario and report it as "file:line:col: ...".
 * Returns: 0 go on, 1 an expectation failed (go on), 2 stop (script error).
 */
static int run_reported(struct script_state *st, const char *file, const struct avm_op *op,
			unsigned *ne, unsigned *nf)
{
	struct op_result res;
	int s = script_exec_op(st, op, &res);

	if (op->kind == AVM_OP_EXPECT || op->result.given)
		(*ne)++;
	/* Keep shows and reports in source order when both go to a terminal. */
	if (st->opt.out && (s != SCRIPT_OK || res.msg[0]))
		fflush(st->opt.out);
	if (s == SCRIPT_ERROR) {
		if (st->opt.err)
			fprintf(st->opt.err, "%s:%d:%d: error: %s\n", file, op->line, op->col,
				res.msg);
		return 2;
	}
	if (s == SCRIPT_EXPECT_FAILED) {
		(*nf)++;
		if (st->opt.err)
			fprintf(st->opt.err, "%s:%d:%d: FAIL: %s\n", file, op->line, op->col,
				res.msg);
		return 1;
	}
	if (res.msg[0] && st->opt.err && !st->opt.quiet)
		fprintf(st->opt.err, "%s:%d:%d: note: %s\n", file, op->line, op->col, res.msg);
	return 0;
}

int script_run(struct script_state *st, const struct scenario *sc, unsigned *nexpect,
	       unsigned *nfail)
{
	unsigned ne = 0, nf = 0;
	int rc = 0;

	for (size_t i = 0; i < sc->nops; i++) {
		int r = run_reported(st, sc->file, &sc->ops[i], &ne, &nf);
		if (r > rc)
			rc = r;
		if (r == 2)
			break;
	}
	if (nexpect)
		*nexpect = ne;
	if (nfail)
		*nfail = nf;
	return rc;
}

int script_run_text(struct script_state *st, const char *file, const char *text, size_t len,
		    unsigned *nexpect, unsigned *nfail, struct script_error *perr)
{
	struct scenario_stream *s = malloc(sizeof(*s));
	struct avm_op *op;
	unsigned ne = 0, nf = 0;
	int r, rc = 0;

	memset(perr, 0, sizeof(*perr));
	if (!s) {
		snprintf(perr->file, sizeof(perr->file), "%s", file);
		perr->line = perr->col = 1;
		snprintf(perr->msg, sizeof(perr->msg), "out of memory");
		return -1;
	}
	/* Pass 1: the syntax of every line, so nothing runs if one is wrong. */
	scenario_stream_init(s, file, text, len);
	s->p.lean = true;
	while ((r = scenario_stream_next(s, &op, perr)) > 0)
		;
	scenario_stream_free(s);
	if (r < 0) {
		free(s);
		return -1;
	}
	/* Pass 2: parse again and run each op as it comes; one op in memory. */
	scenario_stream_init(s, file, text, len);
	s->p.lean = true;
	while ((r = scenario_stream_next(s, &op, perr)) > 0) {
		int x = run_reported(st, s->p.file, op, &ne, &nf);
		if (x > rc)
			rc = x;
		if (x == 2)
			break;
	}
	if (r < 0) {
		/* Only out of memory can fail here: the text parsed once already. */
		if (st->opt.err) {
			char msg[512];
			script_error_format(perr, msg, sizeof(msg));
			fprintf(st->opt.err, "%s\n", msg);
		}
		rc = 2;
	}
	scenario_stream_free(s);
	free(s);
	if (nexpect)
		*nexpect = ne;
	if (nfail)
		*nfail = nf;
	return rc;
}
