/*
 * gen.c - random but meaningful scenarios for `anonvm fuzz`.
 *
 * Uniform random syscalls mostly fail with EINVAL and teach nothing.  The
 * generator keeps a rough picture of each process's layout (which pages
 * of a small window are mapped) and biases every choice toward the cases
 * where kernels have bugs:
 *
 *   - a window of WINDOW pages shared by all processes, so new mappings
 *     land next to old ones (merges), and ranges partially overlap VMA
 *     boundaries (splits, multi-VMA operations);
 *   - fork trees (fork of a child, exit of the middle process), COW
 *     through writes in every process;
 *   - pins (io_uring) and references (vmsplice) before fork and write;
 *   - mremap moves within and across VMAs, into holes and onto neighbours;
 *     UFFDIO_MOVE between registered ranges, with and without source holes;
 *   - swap-out (pageout) followed by fork, write, move;
 *   - limits: small vm.max_map_count, so splits and moves hit ENOMEM.
 *
 * The picture is approximate on purpose (an op that fails still updates
 * it sometimes): wrong guesses produce error paths, which are compared
 * too.  Deterministic for a given seed: a splitmix64 stream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define WINDOW 48 /* pages */
#define GEN_BASE 0x7f0000000000UL
#define MAXP 8
#define MAXH 16

struct gen {
	uint64_t s;
	char *buf;
	size_t len, cap;
	const struct host_gen_options *opt;
	struct {
		bool live;
		bool mapped[WINDOW];
		bool uffd[WINDOW];
	} p[MAXP];
	int nlive;
	int next_name;
	char pname[MAXP][16];
	struct {
		bool live;
		int proc;
		bool ref;
		unsigned npages;
	} h[MAXH];
	uint64_t value;
};

static uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(struct gen *g, unsigned n)
{
	return n ? (unsigned)(rnd(g) % n) : 0;
}

static bool chance(struct gen *g, unsigned pct)
{
	return below(g, 100) < pct;
}

static void emit(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(g->buf + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < g->cap - g->len) {
			g->len += (size_t)n;
			return;
		}
		size_t ncap = g->cap * 2 + (size_t)(n > 0 ? n : 0);
		char *nb = realloc(g->buf, ncap);
		if (!nb)
			return;
		g->buf = nb;
		g->cap = ncap;
	}
}

static unsigned long addr_of(unsigned page)
{
	return GEN_BASE + (unsigned long)page * 4096;
}

/* A live process, uniformly. */
static int pick_proc(struct gen *g)
{
	int k = (int)below(g, (unsigned)g->nlive);
	for (int i = 0; i < MAXP; i++)
		if (g->p[i].live && k-- == 0)
			return i;
	return -1;
}

/* A page, biased toward mapped pages and VMA-ish edges. */
static unsigned pick_page(struct gen *g, int pi, bool want_mapped)
{
	for (int tries = 0; tries < 8; tries++) {
		unsigned pg = below(g, WINDOW);
		if (!want_mapped || g->p[pi].mapped[pg])
			return pg;
	}
	return below(g, WINDOW);
}

/* A length in pages: mostly short, sometimes crossing boundaries. */
static unsigned pick_len(struct gen *g, unsigned start)
{
	unsigned max = WINDOW - start;
	unsigned n = chance(g, 60) ? 1 + below(g, 3) : 1 + below(g, 12);
	if (n > max)
		n = max;
	return n ? n : 1;
}

static const char *pick_prot(struct gen *g)
{
	static const char *p[] = { "rw", "rw", "rw", "r", "none", "rwx", "w" };
	return p[below(g, sizeof(p) / sizeof(p[0]))];
}

static void mark(struct gen *g, int pi, unsigned start, unsigned n, bool mapped)
{
	for (unsigned i = start; i < start + n && i < WINDOW; i++)
		g->p[pi].mapped[i] = mapped;
}

static void gen_mmap(struct gen *g, int pi)
{
	unsigned start = pick_page(g, pi, false), n = pick_len(g, start);
	const char *flags = "";
	unsigned f = below(g, 20);
	if (f == 0)
		flags = " populate";
	else if (f == 1)
		flags = " shared";
	else if (f == 2)
		flags = " locked";
	else if (f < 6)
		flags = " fixed"; /* replaces whatever is there */
	emit(g, "%s mmap %#lx %up %s%s\n", g->pname[pi], addr_of(start), n, pick_prot(g), flags);
	mark(g, pi, start, n, true);
}

static void gen_range_op(struct gen *g, int pi)
{
	unsigned start = pick_page(g, pi, true), n = pick_len(g, start);
	unsigned long a = addr_of(start);
	const char *P = g->pname[pi];
	switch (below(g, 10)) {
	case 0:
	case 1:
		emit(g, "%s munmap %#lx %up\n", P, a, n);
		mark(g, pi, start, n, false);
		break;
	case 2:
	case 3:
	case 4:
		emit(g, "%s mprotect %#lx %up %s\n", P, a, n, pick_prot(g));
		break;
	case 5:
	case 6:
	case 7: {
		static const char *adv[] = {
			"dontneed", "dontneed", "free",  "dontfork",       "dofork",
			"wipeonfork", "keeponfork", "cold", "pageout",    "pageout",
			"populate_read", "populate_write", "random", "normal", "sequential",
			"willneed", "dontneed_locked", "guard_install", "guard_remove", "dontdump",
		};
		const char *ad = adv[below(g, sizeof(adv) / sizeof(adv[0]))];
		if (!g->opt->swap && !strcmp(ad, "pageout"))
			ad = "cold";
		emit(g, "%s madvise %#lx %up %s\n", P, a, n, ad);
		break;
	}
	case 8:
		emit(g, "%s mlock %#lx %up%s\n", P, a, n, chance(g, 30) ? " onfault" : "");
		break;
	default:
		emit(g, "%s munlock %#lx %up\n", P, a, n);
		break;
	}
}

static void gen_mremap(struct gen *g, int pi)
{
	unsigned start = pick_page(g, pi, true), n = pick_len(g, start);
	unsigned nn = chance(g, 40) ? n : 1 + below(g, 8);
	unsigned dst = pick_page(g, pi, chance(g, 30));
	const char *P = g->pname[pi];
	if (dst + nn > WINDOW)
		dst = WINDOW - nn;
	switch (below(g, 5)) {
	case 0: /* shrink or grow in place */
		emit(g, "%s mremap %#lx %up %up\n", P, addr_of(start), n, nn);
		break;
	case 1:
		emit(g, "%s mremap %#lx %up %up maymove\n", P, addr_of(start), n, nn);
		break;
	case 2:
	case 3:
		emit(g, "%s mremap %#lx %up %up maymove fixed %#lx\n", P, addr_of(start), n, nn,
		     addr_of(dst));
		mark(g, pi, start, n, false);
		mark(g, pi, dst, nn, true);
		break;
	default:
		emit(g, "%s mremap %#lx %up %up maymove fixed %#lx dontunmap\n", P, addr_of(start), n,
		     n, addr_of(dst));
		mark(g, pi, dst, n, true);
		break;
	}
}

static void gen_access(struct gen *g, int pi)
{
	unsigned pg = pick_page(g, pi, true);
	const char *P = g->pname[pi];
	switch (below(g, 6)) {
	case 0:
	case 1:
		emit(g, "%s read %#lx\n", P, addr_of(pg));
		break;
	case 2:
	case 3:
	case 4:
		emit(g, "%s write %#lx %#lx\n", P, addr_of(pg), (unsigned long)++g->value);
		break;
	default:
		emit(g, "%s touch %#lx %up%s\n", P, addr_of(pg), pick_len(g, pg),
		     chance(g, 50) ? " write" : "");
		break;
	}
}

static void gen_fork_exit(struct gen *g, int pi)
{
	if (g->nlive < (int)g->opt->procs && chance(g, 75)) {
		int ci = -1;
		for (int i = 0; i < MAXP; i++)
			if (!g->p[i].live) {
				ci = i;
				break;
			}
		if (ci < 0)
			return;
		snprintf(g->pname[ci], sizeof(g->pname[ci]), "p%d", ++g->next_name);
		emit(g, "%s = %s fork\n", g->pname[ci], g->pname[pi]);
		g->p[ci] = g->p[pi];
		g->p[ci].live = true;
		/* uffd registrations are dropped in the child (no EVENT_FORK). */
		memset(g->p[ci].uffd, 0, sizeof(g->p[ci].uffd));
		g->nlive++;
		return;
	}
	if (g->nlive > 1) {
		emit(g, "%s exit\n", g->pname[pi]);
		g->p[pi].live = false;
		g->nlive--;
		for (int i = 0; i < MAXH; i++)
			if (g->h[i].live && g->h[i].proc == pi)
				g->h[i].live = false;
	}
}

static void gen_pin(struct gen *g, int pi)
{
	int hi = -1, live = 0;
	for (int i = 0; i < MAXH; i++) {
		if (!g->h[i].live && hi < 0)
			hi = i;
		live += g->h[i].live;
	}
	if (live && (hi < 0 || chance(g, 45))) {
		/* use or drop an existing handle */
		int k = (int)below(g, (unsigned)live);
		for (int i = 0; i < MAXH; i++) {
			if (!g->h[i].live || k-- != 0)
				continue;
			unsigned idx = below(g, g->h[i].npages);
			if (chance(g, 40)) {
				emit(g, "unpin h%d\n", i);
				g->h[i].live = false;
			} else if (!g->h[i].ref && chance(g, 50)) {
				emit(g, "pin-write h%d %u %#lx\n", i, idx, (unsigned long)++g->value);
			} else {
				emit(g, "pin-read h%d %u\n", i, idx);
			}
			return;
		}
		return;
	}
	if (hi < 0)
		return;
	unsigned pg = pick_page(g, pi, true), n = chance(g, 70) ? 1 : 1 + below(g, 3);
	if (pg + n > WINDOW)
		n = WINDOW - pg;
	bool ref = chance(g, 40);
	/* Pin/ref failures bind nothing: only claim the handle name when likely. */
	emit(g, "h%d = %s %s %#lx %up%s\n", hi, g->pname[pi], ref ? "ref" : "pin", addr_of(pg), n,
	     ref ? "" : " rw longterm");
	g->h[hi].live = true;
	g->h[hi].proc = pi;
	g->h[hi].ref = ref;
	g->h[hi].npages = n;
}

static void gen_uffd(struct gen *g, int pi)
{
	const char *P = g->pname[pi];
	unsigned start = pick_page(g, pi, true), n = pick_len(g, start);
	switch (below(g, 6)) {
	case 0:
	case 1:
		emit(g, "%s uffd-register %#lx %up\n", P, addr_of(start), n);
		for (unsigned i = start; i < start + n; i++)
			g->p[pi].uffd[i] = true;
		break;
	case 2:
		emit(g, "%s uffd-unregister %#lx %up\n", P, addr_of(start), n);
		for (unsigned i = start; i < start + n; i++)
			g->p[pi].uffd[i] = false;
		break;
	default: {
		/* Destination: preferably a registered page. */
		unsigned dst = below(g, WINDOW);
		for (int t = 0; t < 8 && !g->p[pi].uffd[dst]; t++)
			dst = below(g, WINDOW);
		unsigned len = 1 + below(g, 3);
		if (dst + len > WINDOW)
			len = WINDOW - dst;
		if (start + len > WINDOW)
			len = WINDOW - start;
		emit(g, "%s uffd-move %#lx %#lx %up%s\n", P, addr_of(dst), addr_of(start), len ? len : 1,
		     chance(g, 40) ? " allow-src-holes" : "");
		break;
	}
	}
}

char *host_gen_scenario(const struct host_gen_options *opt)
{
	struct gen g;
	memset(&g, 0, sizeof(g));
	g.s = opt->seed;
	g.opt = opt;
	g.cap = 4096;
	g.buf = malloc(g.cap);
	if (!g.buf)
		return NULL;
	g.buf[0] = 0;
	emit(&g, "# anonvm fuzz seed %#llx, %u steps, up to %u processes\n",
	     (unsigned long long)opt->seed, opt->steps, opt->procs);
	snprintf(g.pname[0], sizeof(g.pname[0]), "p%d", ++g.next_name);
	emit(&g, "%s = spawn\n", g.pname[0]);
	g.p[0].live = true;
	g.nlive = 1;
	if (opt->limits && chance(&g, 50))
		emit(&g, "set max_map_count %u\n", 3 + below(&g, 8));
	/* Start with something mapped and faulted: most interesting ops need it. */
	unsigned s0 = below(&g, 8), n0 = 4 + below(&g, 12);
	emit(&g, "%s mmap %#lx %up rw\n", g.pname[0], addr_of(s0), n0);
	mark(&g, 0, s0, n0, true);
	emit(&g, "%s touch %#lx %up write\n", g.pname[0], addr_of(s0), n0 / 2 + 1);

	for (unsigned step = 0; step < opt->steps; step++) {
		int pi = pick_proc(&g);
		unsigned w = below(&g, 100);
		if (w < 13)
			gen_mmap(&g, pi);
		else if (w < 38)
			gen_range_op(&g, pi);
		else if (w < 46)
			gen_mremap(&g, pi);
		else if (w < 70)
			gen_access(&g, pi);
		else if (w < 78)
			gen_fork_exit(&g, pi);
		else if (w < 88 && opt->pins)
			gen_pin(&g, pi);
		else if (w < 96 && opt->uffd)
			gen_uffd(&g, pi);
		else if (w < 98 && opt->limits)
			emit(&g, "set max_map_count %u\n", 4 + below(&g, 12));
		else if (w < 99)
			emit(&g, "%s mmap - %up %s\n", g.pname[pi], 1 + below(&g, 4), pick_prot(&g));
		else
			gen_access(&g, pi);
	}
	return g.buf;
}
