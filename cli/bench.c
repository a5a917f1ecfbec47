/*
 * bench.c - `anonvm bench`: the model's side of the benchmarks.
 *
 * Each case does on the model what bench/kernel.c does with real syscalls
 * on this machine, at the same addresses (bench/bench.h has the case list,
 * the options and the result line format; bench/run.sh runs both programs
 * alternately and bench/report.c draws the table and chart).
 *
 * Deterministic and self-verifying, as SQLite's speedtest1 is (STYLE 17):
 * after its last run, every case states what the model must look like
 * (which VMAs, and per page: state, writable, mapcount, PG_anon_exclusive,
 * content) and hashes that expectation and the model's real state
 * (avm_vma_next, avm_page_info) the same way.  The two digests must be
 * equal and avm_validate() must pass, so a fast wrong answer cannot be
 * reported as fast.  The digests of all cases fold into one final digest.
 *
 * Only the public API (include/anonvm/anonvm.h) is used here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mallinfo2 */
#endif
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>

#include "anonvm/anonvm.h"
#include "cli.h"
#include "../bench/bench.h"

#define SIDE "model"
#define PAGE AVM_PAGE_SIZE

/* One benchmark invocation: options, the running digest, the first failure. */
struct bctx {
	struct bench_opts o;
	uint64_t digest;   /* all verified cases, folded */
	int cases_checked;
	int failed;        /* a case's state was not what it must be */
	char why[512];
};

/* ---- failure and digests ------------------------------------------------ */

static void fail(struct bctx *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed++)
		return; /* keep the first reason */
	va_start(ap, fmt);
	vsnprintf(b->why, sizeof(b->why), fmt, ap);
	va_end(ap);
}

/* A call that must succeed; on error the case fails (first reason kept). */
static int must(struct bctx *b, int rc, const char *call, const char *func, int line)
{
	if (rc < 0)
		fail(b, "%s:%d: %s returned %d (%s)", func, line, call, rc, avm_errno_name(-rc));
	return rc;
}
#define MUST(b, call) must((b), (call), #call, __func__, __LINE__)

/* Order-sensitive 64-bit mix of one word (multiply-xorshift, FNV prime). */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

#define DIGEST_INIT 0xcbf29ce484222325ULL
#define ANY (-1)

/* What a range of pages must hold; ANY fields are neither hashed nor checked. */
struct expect {
	int pid;
	unsigned long start, n;
	enum avm_page_state state;
	int writable, mapcount, anon_exclusive;
	bool check_content;
	uint64_t content0;   /* page i holds content0 + i ... */
	bool content_const;  /* ... or content0 on every page */
};

static struct expect ex(int pid, unsigned long start, unsigned long n,
			enum avm_page_state state, int writable, int mapcount, int anon_exclusive,
			bool check_content, uint64_t content0)
{
	struct expect e = { .pid = pid, .start = start, .n = n, .state = state,
			    .writable = writable, .mapcount = mapcount,
			    .anon_exclusive = anon_exclusive, .check_content = check_content,
			    .content0 = content0, .content_const = false };
	return e;
}

static uint64_t page_tuple(uint64_t h, const struct expect *e, enum avm_page_state state,
			   bool writable, int mapcount, bool excl, uint64_t content)
{
	h = mix(h, (uint64_t)state);
	if (e->writable != ANY)
		h = mix(h, writable);
	if (e->mapcount != ANY)
		h = mix(h, (uint64_t)mapcount);
	if (e->anon_exclusive != ANY)
		h = mix(h, excl);
	if (e->check_content)
		h = mix(h, content);
	return h;
}

/*
 * Hash the expectation and the model's pages the same way; on a mismatch
 * name the first page that differs.  Returns: the digest of the real state.
 */
static uint64_t verify_pages(struct bctx *b, struct avm_world *w, const char *name,
			     const struct expect *e)
{
	uint64_t want = DIGEST_INIT, got = DIGEST_INIT;
	bool reported = false;

	for (unsigned long i = 0; i < e->n; i++) {
		struct avm_page_info pi;
		uint64_t w1, g1;

		if (MUST(b, avm_page_info(w, e->pid, e->start + i * PAGE, &pi)) < 0)
			return 0;
		w1 = page_tuple(DIGEST_INIT, e, e->state, e->writable == 1, e->mapcount,
				e->anon_exclusive == 1, e->content0 + (e->content_const ? 0 : i));
		g1 = page_tuple(DIGEST_INIT, e, pi.state, pi.writable, pi.mapcount,
				pi.anon_exclusive, pi.content);
		want = mix(want, w1);
		got = mix(got, g1);
		if (w1 != g1 && !reported) {
			fail(b, "%s: pid %d page 0x%lx: state %d writable %d mapcount %d excl %d "
				"content %llu; expected state %d writable %d mapcount %d excl %d "
				"content %llu",
			     name, e->pid, e->start + i * PAGE, pi.state, pi.writable, pi.mapcount,
			     pi.anon_exclusive, (unsigned long long)pi.content, e->state,
			     e->writable, e->mapcount, e->anon_exclusive,
			     (unsigned long long)(e->content0 + (e->content_const ? 0 : i)));
			reported = true;
		}
	}
	if (want != got && !reported)
		fail(b, "%s: page digest mismatch", name);
	return got;
}

/*
 * The process's VMA list must be exactly @nv VMAs [start, end) with
 * protections prot (AVM_VM_READ|WRITE|EXEC bits).  Returns: its digest.
 */
static uint64_t verify_vmas(struct bctx *b, struct avm_world *w, const char *name, int pid,
			    const unsigned long (*want)[3], int nv)
{
	uint64_t hw = DIGEST_INIT, hg = DIGEST_INIT;
	unsigned long cursor = 0;
	struct avm_vma_info vi;
	int i = 0, rc;
	const unsigned long prot = AVM_VM_READ | AVM_VM_WRITE | AVM_VM_EXEC;

	for (int k = 0; k < nv; k++)
		hw = mix(mix(mix(hw, want[k][0]), want[k][1]), want[k][2]);
	while ((rc = avm_vma_next(w, pid, &cursor, &vi)) == 1) {
		hg = mix(mix(mix(hg, vi.start), vi.end), vi.flags & prot);
		if (i < nv && (vi.start != want[i][0] || vi.end != want[i][1] ||
			       (vi.flags & prot) != want[i][2]))
			fail(b, "%s: pid %d VMA %d is [0x%lx, 0x%lx) flags 0x%lx, expected "
				"[0x%lx, 0x%lx) prot 0x%lx",
			     name, pid, i, vi.start, vi.end, vi.flags & prot, want[i][0],
			     want[i][1], want[i][2]);
		i++;
	}
	if (rc < 0)
		fail(b, "%s: avm_vma_next(pid %d) returned %d", name, pid, rc);
	else if (i != nv)
		fail(b, "%s: pid %d has %d VMAs, expected %d", name, pid, i, nv);
	return hg;
}

/* The end of a case: validator, digest fold. */
static void finish_world(struct bctx *b, struct avm_world *w, const char *name,
			 uint64_t digest, struct bench_result *r)
{
	char msg[512];

	if (b->o.verify && avm_validate(w, msg, sizeof(msg)) != 0)
		fail(b, "%s: avm_validate: %s", name, msg);
	b->digest = mix(mix(b->digest, digest), r->n);
	b->cases_checked++;
	snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note), "%sdigest %016llx",
		 r->note[0] ? "; " : "", (unsigned long long)digest);
}

/* ---- worlds and regions ------------------------------------------------- */

static struct avm_world *world(struct bctx *b, bool zero_page, unsigned long swap_slots)
{
	struct avm_config cfg;
	struct avm_world *w;

	avm_config_default(&cfg);
	cfg.read_fault_zero_page = zero_page;
	cfg.swap_slots = swap_slots;
	cfg.swap_synchronous = true; /* zram, as bench/run.sh sets up on the host */
	w = avm_world_new(&cfg);
	if (!w)
		fail(b, "avm_world_new failed");
	return w;
}

static int spawn(struct bctx *b, struct avm_world *w)
{
	return MUST(b, avm_spawn(w));
}

static int region_map(struct bctx *b, struct avm_world *w, int pid, unsigned long addr,
		      unsigned long n, bool populate)
{
	unsigned long out;

	if (MUST(b, avm_mmap(w, pid, addr, n * PAGE, AVM_PROT_READ | AVM_PROT_WRITE,
			     AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED_NOREPLACE |
				     AVM_MAP_NORESERVE,
			     &out)) < 0)
		return -1;
	if (out != addr) {
		fail(b, "mmap placed at 0x%lx, asked 0x%lx", out, addr);
		return -1;
	}
	if (populate)
		for (unsigned long i = 0; i < n; i++)
			if (MUST(b, avm_write(w, pid, addr + i * PAGE, i + 1)) < 0)
				return -1;
	return 0;
}

#define RW (AVM_VM_READ | AVM_VM_WRITE)

/* One VMA [addr, addr + n pages) with @prot. */
static uint64_t verify_one_vma(struct bctx *b, struct avm_world *w, const char *name, int pid,
			       unsigned long addr, unsigned long n, unsigned long prot)
{
	const unsigned long v[1][3] = { { addr, addr + n * PAGE, prot } };

	return verify_vmas(b, w, name, pid, v, 1);
}

/* ---- cases ----------------------------------------------------------------- */

typedef void case_fn(struct bctx *b, struct bench_result *r, unsigned long n);

static void case_write_fault(struct bctx *b, struct bench_result *r, unsigned long n)
{
	for (int run = 0; run < b->o.runs && !b->failed; run++) {
		struct avm_world *w = world(b, true, 0);
		int p = w ? spawn(b, w) : -1;
		double t0, t1;

		if (p < 0 || region_map(b, w, p, BENCH_A, n, false) < 0)
			goto out;
		t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++)
			if (avm_write(w, p, BENCH_A + i * PAGE, i + 1) < 0)
				break;
		t1 = bench_now_ns();
		bench_add(r, t1 - t0, (double)n);
		if (run == b->o.runs - 1) {
			struct expect e = ex(p, BENCH_A, n, AVM_PAGE_PRESENT, 1, 1, 1, true, 1);
			uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

			d = mix(d, verify_pages(b, w, r->name, &e));
			finish_world(b, w, r->name, d, r);
		}
out:
		avm_world_free(w);
	}
}

static void case_read_fault(struct bctx *b, struct bench_result *r, unsigned long n)
{
	for (int run = 0; run < b->o.runs && !b->failed; run++) {
		struct avm_world *w = world(b, true, 0);
		int p = w ? spawn(b, w) : -1;
		uint64_t sum = 0, v = 0;
		double t0, t1;

		if (p < 0 || region_map(b, w, p, BENCH_A, n, false) < 0)
			goto out;
		t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++) {
			if (avm_read(w, p, BENCH_A + i * PAGE, &v) < 0)
				break;
			sum += v;
		}
		t1 = bench_now_ns();
		bench_add(r, t1 - t0, (double)n);
		if (sum)
			fail(b, "read-fault: fresh memory read non-zero");
		if (run == b->o.runs - 1) {
			/* R8.3: the shared zero page, mapped read-only, reads 0. */
			struct expect e = ex(p, BENCH_A, n, AVM_PAGE_ZERO, 0, ANY, ANY, true, 0);
			e.content_const = true;
			uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

			d = mix(d, verify_pages(b, w, r->name, &e));
			finish_world(b, w, r->name, d, r);
			snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
				 "; read_fault_zero_page=true (the host has no zero page)");
		}
out:
		avm_world_free(w);
	}
}

/* A world with one process holding n written pages at BENCH_A. */
static struct avm_world *populated(struct bctx *b, unsigned long n, unsigned long swap, int *pid)
{
	struct avm_world *w = world(b, true, swap);

	*pid = w ? spawn(b, w) : -1;
	if (*pid < 0 || region_map(b, w, *pid, BENCH_A, n, true) < 0) {
		avm_world_free(w);
		return NULL;
	}
	return w;
}

static void case_fork(struct bctx *b, struct bench_result *r, unsigned long n)
{
	int p, c = -1;
	struct avm_world *w = populated(b, n, 0, &p);

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		double t0 = bench_now_ns();

		c = avm_fork(w, p);
		bench_add(r, bench_now_ns() - t0, (double)n);
		if (MUST(b, c) < 0)
			break;
		if (run < b->o.runs - 1)
			MUST(b, avm_exit(w, c));
	}
	if (w && !b->failed) {
		/* R9: both sides map every frame, write-protected, not exclusive. */
		struct expect e = ex(p, BENCH_A, n, AVM_PAGE_PRESENT, 0, 2, 0, true, 1);
		uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

		d = mix(d, verify_one_vma(b, w, r->name, c, BENCH_A, n, RW));
		d = mix(d, verify_pages(b, w, r->name, &e));
		e.pid = c;
		d = mix(d, verify_pages(b, w, r->name, &e));
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_exit(struct bctx *b, struct bench_result *r, unsigned long n)
{
	int p, c = -1;
	struct avm_world *w = populated(b, n, 0, &p);

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		double t0;

		if ((c = MUST(b, avm_fork(w, p))) < 0)
			break;
		t0 = bench_now_ns();
		MUST(b, avm_exit(w, c));
		bench_add(r, bench_now_ns() - t0, (double)n);
	}
	if (w && !b->failed) {
		/* The parent keeps read-only, non-exclusive PTEs until it writes. */
		struct expect e = ex(p, BENCH_A, n, AVM_PAGE_PRESENT, 0, 1, 0, true, 1);
		struct avm_mm_info mi;
		uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

		d = mix(d, verify_pages(b, w, r->name, &e));
		if (avm_mm_info(w, c, &mi) != -ESRCH)
			fail(b, "exit: child %d still alive", c);
		if (avm_frames_used(w) != n)
			fail(b, "exit: %lu frames in use, expected %lu", avm_frames_used(w), n);
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_cow(struct bctx *b, struct bench_result *r, unsigned long n, bool reuse)
{
	int p, c = -1;
	struct avm_world *w = populated(b, n, 0, &p);
	unsigned long copies = 0, reuses = 0;

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		unsigned long c0, r0;
		double t0, t1;

		if ((c = MUST(b, avm_fork(w, p))) < 0)
			break;
		if (reuse)
			MUST(b, avm_exit(w, c));
		c0 = avm_stats(w)->cow_copy;
		r0 = avm_stats(w)->cow_reuse;
		t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++)
			if (avm_write(w, p, BENCH_A + i * PAGE, i + 1 + (uint64_t)run + 1) < 0)
				break;
		t1 = bench_now_ns();
		bench_add(r, t1 - t0, (double)n);
		copies = avm_stats(w)->cow_copy - c0;
		reuses = avm_stats(w)->cow_reuse - r0;
		if (!reuse && run < b->o.runs - 1)
			MUST(b, avm_exit(w, c));
	}
	if (w && !b->failed) {
		uint64_t runs = (uint64_t)b->o.runs;
		struct expect e = ex(p, BENCH_A, n, AVM_PAGE_PRESENT, 1, 1, 1, true, 1 + runs);
		uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

		d = mix(d, verify_pages(b, w, r->name, &e));
		/* R8: a write to a shared page copies it; to a sole one reuses it. */
		if (reuse ? (copies != 0 || reuses != n) : (copies != n))
			fail(b, "%s: %lu copies, %lu reuses for %lu pages", r->name, copies, reuses,
			     n);
		if (!reuse) {
			/* The child keeps the old frames, now mapped once, still read-only. */
			struct expect ce = ex(c, BENCH_A, n, AVM_PAGE_PRESENT, 0, 1, 0, true, runs);

			d = mix(d, verify_pages(b, w, r->name, &ce));
		}
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_cow_break(struct bctx *b, struct bench_result *r, unsigned long n)
{
	case_cow(b, r, n, false);
}

static void case_cow_reuse(struct bctx *b, struct bench_result *r, unsigned long n)
{
	case_cow(b, r, n, true);
}

static void case_zap(struct bctx *b, struct bench_result *r, unsigned long n, bool dontneed)
{
	for (int run = 0; run < b->o.runs && !b->failed; run++) {
		int p;
		struct avm_world *w = populated(b, n, 0, &p);
		double t0, t1;
		int rc;

		if (!w)
			break;
		t0 = bench_now_ns();
		rc = dontneed ? avm_madvise(w, p, BENCH_A, n * PAGE, AVM_MADV_DONTNEED)
			      : avm_munmap(w, p, BENCH_A, n * PAGE);
		t1 = bench_now_ns();
		MUST(b, rc);
		bench_add(r, t1 - t0, (double)n);
		if (run == b->o.runs - 1 && !b->failed) {
			struct expect e = ex(p, BENCH_A, n, AVM_PAGE_NONE, ANY, ANY, ANY, false, 0);
			uint64_t d = dontneed ? verify_one_vma(b, w, r->name, p, BENCH_A, n, RW)
					      : verify_vmas(b, w, r->name, p, NULL, 0);

			d = mix(d, verify_pages(b, w, r->name, &e));
			if (avm_frames_used(w) != 0)
				fail(b, "%s: %lu frames still in use", r->name, avm_frames_used(w));
			finish_world(b, w, r->name, d, r);
		}
		avm_world_free(w);
	}
}

static void case_munmap(struct bctx *b, struct bench_result *r, unsigned long n)
{
	case_zap(b, r, n, false);
}

static void case_dontneed(struct bctx *b, struct bench_result *r, unsigned long n)
{
	case_zap(b, r, n, true);
}

static void mremap_to(struct bctx *b, struct bench_result *r, unsigned long n, unsigned long dst)
{
	int p;
	struct avm_world *w = populated(b, n, 0, &p);

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		unsigned long out = 0;
		double t0 = bench_now_ns();
		int rc = avm_mremap(w, p, BENCH_A, n * PAGE, n * PAGE,
				    AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED, dst, &out);

		bench_add(r, bench_now_ns() - t0, (double)n);
		if (MUST(b, rc) < 0)
			break;
		if (out != dst)
			fail(b, "mremap: moved to 0x%lx", out);
		if (run == b->o.runs - 1)
			break; /* verify at the destination */
		MUST(b, avm_mremap(w, p, dst, n * PAGE, n * PAGE,
				   AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED, BENCH_A, &out));
	}
	if (w && !b->failed) {
		struct expect e = ex(p, dst, n, AVM_PAGE_PRESENT, 1, 1, 1, true, 1);
		uint64_t d = verify_one_vma(b, w, r->name, p, dst, n, RW);

		d = mix(d, verify_pages(b, w, r->name, &e));
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_mremap(struct bctx *b, struct bench_result *r, unsigned long n)
{
	mremap_to(b, r, n, BENCH_B);
}

static void case_mremap_unaligned(struct bctx *b, struct bench_result *r, unsigned long n)
{
	mremap_to(b, r, n, BENCH_B + PAGE);
}

static void case_mprotect(struct bctx *b, struct bench_result *r, unsigned long n)
{
	int p;
	struct avm_world *w = populated(b, n, 0, &p);

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		double t0 = bench_now_ns();
		int rc = avm_mprotect(w, p, BENCH_A, n * PAGE, AVM_PROT_READ);

		bench_add(r, bench_now_ns() - t0, (double)n);
		if (MUST(b, rc) < 0 || run == b->o.runs - 1)
			break;
		MUST(b, avm_mprotect(w, p, BENCH_A, n * PAGE, AVM_PROT_READ | AVM_PROT_WRITE));
	}
	if (w && !b->failed) {
		struct expect e = ex(p, BENCH_A, n, AVM_PAGE_PRESENT, 0, 1, 1, true, 1);
		uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, AVM_VM_READ);

		d = mix(d, verify_pages(b, w, r->name, &e));
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_mprotect_split(struct bctx *b, struct bench_result *r, unsigned long n)
{
	int p;
	struct avm_world *w = populated(b, n, 0, &p);
	unsigned long mid = BENCH_A + (n / 2) * PAGE;
	const int reps = 64;

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		double t0 = bench_now_ns();

		for (int i = 0; i < reps; i++) {
			if (MUST(b, avm_mprotect(w, p, mid, PAGE, AVM_PROT_READ)) < 0 ||
			    MUST(b, avm_mprotect(w, p, mid, PAGE, AVM_PROT_READ | AVM_PROT_WRITE)) < 0)
				break;
		}
		bench_add(r, bench_now_ns() - t0, 2.0 * reps);
	}
	if (w && !b->failed) {
		/*
		 * Re-merged into one VMA (R4).  The middle page went through
		 * mprotect(r) and back: R5 makes an exclusive anon PTE writable
		 * again, so every page stays writable.
		 */
		struct expect e = ex(p, BENCH_A, n, AVM_PAGE_PRESENT, ANY, 1, 1, true, 1);
		uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

		d = mix(d, verify_pages(b, w, r->name, &e));
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_churn(struct bctx *b, struct bench_result *r, unsigned long n)
{
	const unsigned long bg = 1024;
	struct avm_world *w = world(b, true, 0);
	int p = w ? spawn(b, w) : -1;
	unsigned long (*want)[3] = calloc(bg, sizeof(*want));

	for (unsigned long i = 0; p > 0 && want && i < bg && !b->failed; i++) {
		unsigned long out;
		int prot = i % 2 ? AVM_PROT_READ : AVM_PROT_READ | AVM_PROT_WRITE;

		MUST(b, avm_mmap(w, p, BENCH_C + i * PAGE, PAGE, prot,
				 AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED_NOREPLACE, &out));
		want[i][0] = BENCH_C + i * PAGE;
		want[i][1] = want[i][0] + PAGE;
		want[i][2] = i % 2 ? AVM_VM_READ : RW;
	}
	for (int run = 0; p > 0 && run < b->o.runs && !b->failed; run++) {
		double t0 = bench_now_ns();

		for (unsigned long i = 0; i < n; i++) {
			unsigned long out;

			if (MUST(b, avm_mmap(w, p, BENCH_A, PAGE, AVM_PROT_READ | AVM_PROT_WRITE,
					     AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS |
						     AVM_MAP_FIXED_NOREPLACE,
					     &out)) < 0 ||
			    MUST(b, avm_munmap(w, p, out, PAGE)) < 0)
				break;
		}
		bench_add(r, bench_now_ns() - t0, (double)n);
	}
	if (p > 0 && want && !b->failed) {
		uint64_t d = verify_vmas(b, w, r->name, p, (const unsigned long (*)[3])want, (int)bg);

		finish_world(b, w, r->name, d, r);
		snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
			 "; per pair, 1024 other VMAs mapped");
	}
	free(want);
	avm_world_free(w);
}

static void case_uffd_move(struct bctx *b, struct bench_result *r, unsigned long n)
{
	int p;
	struct avm_world *w = populated(b, n, 0, &p);

	if (w && (region_map(b, w, p, BENCH_B, n, false) < 0 ||
		  MUST(b, avm_uffd_register(w, p, BENCH_A, n * PAGE,
					    AVM_UFFDIO_REGISTER_MODE_MISSING)) < 0 ||
		  MUST(b, avm_uffd_register(w, p, BENCH_B, n * PAGE,
					    AVM_UFFDIO_REGISTER_MODE_MISSING)) < 0)) {
		avm_world_free(w);
		return;
	}
	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		long moved = 0;
		double t0 = bench_now_ns();
		int rc = avm_uffd_move(w, p, BENCH_B, BENCH_A, n * PAGE, 0, &moved);

		bench_add(r, bench_now_ns() - t0, (double)n);
		if (MUST(b, rc) < 0)
			break;
		if (moved != (long)(n * PAGE))
			fail(b, "uffd-move: moved %ld of %lu bytes", moved, n * PAGE);
		if (run == b->o.runs - 1)
			break;
		MUST(b, avm_uffd_move(w, p, BENCH_A, BENCH_B, n * PAGE, 0, &moved));
	}
	if (w && !b->failed) {
		struct expect e = ex(p, BENCH_B, n, AVM_PAGE_PRESENT, 1, 1, 1, true, 1);
		struct expect src = ex(p, BENCH_A, n, AVM_PAGE_NONE, ANY, ANY, ANY, false, 0);
		const unsigned long v[2][3] = { { BENCH_A, BENCH_A + n * PAGE, RW },
						{ BENCH_B, BENCH_B + n * PAGE, RW } };
		uint64_t d = verify_vmas(b, w, r->name, p, v, 2);

		d = mix(d, verify_pages(b, w, r->name, &e));
		d = mix(d, verify_pages(b, w, r->name, &src));
		finish_world(b, w, r->name, d, r);
	}
	avm_world_free(w);
}

static void case_swap(struct bctx *b, struct bench_result *r, unsigned long n, bool in)
{
	int p;
	struct avm_world *w = populated(b, n, n + 1024, &p);

	for (int run = 0; w && run < b->o.runs && !b->failed; run++) {
		uint64_t sum = 0, v = 0;
		double t0 = 0, t1 = 0;

		if (!in)
			t0 = bench_now_ns();
		MUST(b, avm_madvise(w, p, BENCH_A, n * PAGE, AVM_MADV_PAGEOUT));
		if (!in)
			t1 = bench_now_ns();
		if (avm_swap_used(w) != n)
			fail(b, "%s: %lu swap slots used, expected %lu", r->name, avm_swap_used(w), n);
		if (!in && run == b->o.runs - 1) {
			bench_add(r, t1 - t0, (double)n);
			break; /* verify the swapped-out state */
		}
		if (in)
			t0 = bench_now_ns();
		for (unsigned long i = 0; i < n; i++) {
			if (avm_read(w, p, BENCH_A + i * PAGE, &v) < 0)
				break;
			sum += v;
		}
		if (in)
			t1 = bench_now_ns();
		bench_add(r, t1 - t0, (double)n);
		if (sum != (uint64_t)n * (n + 1) / 2)
			fail(b, "%s: swap lost content", r->name);
	}
	if (w && !b->failed) {
		struct expect e = ex(p, BENCH_A, n, in ? AVM_PAGE_PRESENT : AVM_PAGE_SWAP,
				    ANY, in ? 1 : ANY, ANY, in, 1);
		uint64_t d = verify_one_vma(b, w, r->name, p, BENCH_A, n, RW);

		d = mix(d, verify_pages(b, w, r->name, &e));
		finish_world(b, w, r->name, d, r);
		snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
			 "; synchronous swap device (zram)");
	}
	avm_world_free(w);
}

static void case_swap_out(struct bctx *b, struct bench_result *r, unsigned long n)
{
	case_swap(b, r, n, false);
}

static void case_swap_in(struct bctx *b, struct bench_result *r, unsigned long n)
{
	case_swap(b, r, n, true);
}

/*
 * try_to_unmap of one page mapped by K processes.  avm_reclaim() picks the
 * only frame there is, walks its anon_vma (R11.6) and unmaps it from all
 * K; the processes then read it back (untimed) for the next run.
 */
static void case_rmap(struct bctx *b, struct bench_result *r, unsigned long k, bool chain)
{
	int p;
	struct avm_world *w = populated(b, 1, 1024, &p);
	int *pids = calloc(k, sizeof(int));
	unsigned long calls = 0;

	if (!w || !pids)
		goto out;
	pids[0] = p;
	for (unsigned long i = 1; i < k && !b->failed; i++)
		pids[i] = MUST(b, avm_fork(w, chain ? pids[i - 1] : p));
	for (int run = 0; run < b->o.runs && !b->failed; run++) {
		unsigned long reclaimed = 0;
		double t0 = bench_now_ns();

		/* reclaim may give a referenced page a second pass first */
		for (int tries = 0; tries < 4 && reclaimed == 0; tries++, calls++)
			if (MUST(b, avm_reclaim(w, 1, &reclaimed)) < 0)
				break;
		bench_add(r, bench_now_ns() - t0, 1.0);
		if (reclaimed != 1)
			fail(b, "%s: reclaimed %lu frames", r->name, reclaimed);
		if (run == b->o.runs - 1)
			break;
		for (unsigned long i = 0; i < k && !b->failed; i++) {
			uint64_t v;

			MUST(b, avm_read(w, pids[i], BENCH_A, &v));
			if (v != 1)
				fail(b, "%s: pid %d read %llu after swap-in", r->name, pids[i],
				     (unsigned long long)v);
		}
	}
	if (!b->failed) {
		uint64_t d = DIGEST_INIT;

		for (unsigned long i = 0; i < k; i++) {
			struct expect e = ex(pids[i], BENCH_A, 1, AVM_PAGE_SWAP, ANY, ANY, ANY, false, 0);

			d = mix(d, verify_pages(b, w, r->name, &e));
		}
		finish_world(b, w, r->name, d, r);
		snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
			 "; avm_reclaim (try_to_unmap), %.2f calls per run",
			 (double)calls / b->o.runs);
	}
out:
	free(pids);
	avm_world_free(w);
}

static void case_rmap_chain(struct bctx *b, struct bench_result *r, unsigned long k)
{
	case_rmap(b, r, k, true);
}

static void case_rmap_star(struct bctx *b, struct bench_result *r, unsigned long k)
{
	case_rmap(b, r, k, false);
}

static const struct {
	const char *name;
	case_fn *fn;
} case_fns[] = {
	/* same order as bench_cases[] (bench/bench.h) */
	{ "write-fault", case_write_fault },
	{ "read-fault", case_read_fault },
	{ "fork", case_fork },
	{ "exit", case_exit },
	{ "cow-break", case_cow_break },
	{ "cow-reuse", case_cow_reuse },
	{ "munmap", case_munmap },
	{ "dontneed", case_dontneed },
	{ "mremap", case_mremap },
	{ "mremap-unaligned", case_mremap_unaligned },
	{ "mprotect", case_mprotect },
	{ "mprotect-split", case_mprotect_split },
	{ "churn", case_churn },
	{ "uffd-move", case_uffd_move },
	{ "swap-out", case_swap_out },
	{ "swap-in", case_swap_in },
	{ "rmap-chain", case_rmap_chain },
	{ "rmap-star", case_rmap_star },
};

#define ARRAY_LEN_CASES (sizeof(case_fns) / sizeof(case_fns[0]))

/* ---- memory --------------------------------------------------------------- */

/*
 * Host bytes per resident page and per VMA: the model's own accounting
 * (avm_memory_bytes) and, as a cross-check, malloc's (mallinfo2, which
 * also sees allocator overhead and anything not accounted).
 */
static void mem_report(struct bctx *b)
{
	unsigned long n = b->o.sizes[b->o.nsizes - 1];
	unsigned long nv = b->o.quick ? 256 : 16384;
	char note[200];

	for (int what = 0; what < 3 && !b->failed; what++) {
		struct avm_world *w = world(b, true, 0);
		int p = w ? spawn(b, w) : -1;
		size_t m0, m1;
		struct mallinfo2 a0, a1;
		unsigned long count = what == 0 ? n : nv;

		if (p < 0) {
			avm_world_free(w);
			return;
		}
		m0 = avm_memory_bytes(w);
		a0 = mallinfo2();
		if (what == 0) {
			region_map(b, w, p, BENCH_A, n, true);
		} else {
			for (unsigned long i = 0; i < nv && !b->failed; i++) {
				unsigned long out, a = BENCH_C + i * PAGE;

				/* alternating protections: no two neighbours merge */
				MUST(b, avm_mmap(w, p, a, PAGE,
						 i % 2 ? AVM_PROT_READ | AVM_PROT_WRITE
						       : AVM_PROT_READ | AVM_PROT_WRITE | AVM_PROT_EXEC,
						 AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS |
							 AVM_MAP_FIXED_NOREPLACE,
						 &out));
				if (what == 2)
					MUST(b, avm_write(w, p, a, 1));
			}
		}
		m1 = avm_memory_bytes(w);
		a1 = mallinfo2();
		snprintf(note, sizeof(note), "avm_memory_bytes; mallinfo2 says %.2f",
			 (double)(a1.uordblks - a0.uordblks) / (double)count);
		bench_print_value(stdout, SIDE,
				  what == 0 ? "mem-page" : what == 1 ? "mem-vma" : "mem-vma-anon",
				  count, what == 0 ? "B/page" : "B/vma",
				  (double)(m1 - m0) / (double)count, note, b->o.json);
		avm_world_free(w);
	}
}

/* ---- the command ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: anonvm bench [--size N|--sizes LIST] [--set case,case] [--runs K]\n"
		"                    [--warmup] [--quick] [--verify] [--json] [--mem] [--list]\n"
		"                    [--help]\n"
		"\n"
		"Runs the model's side of the benchmarks (bench/run.sh runs the kernel's\n"
		"side alternately and writes bench/results/).  Sizes are pages (1k, 16k, 1m\n"
		"allowed); the rmap cases take K processes from --sizes, default 1,16,256.\n"
		"  --quick   tiny sizes, for make test      --verify  validator at the end\n"
		"  --json    one JSON result per line       --mem     bytes per page / VMA\n"
		"  --warmup  one untimed run of each case and size first (the heap grows\n"
		"            there, so the timed runs do not pay host page faults for it)\n"
		"Every case checks its final state against a digest of what it must be;\n"
		"the exit status is 1 if any case does not.\n"
		"cases:");
	for (size_t i = 0; i < BENCH_NR_CASES; i++)
		fprintf(f, "%s %s", i % 6 == 5 ? "\n      " : "", bench_cases[i].name);
	fprintf(f, "\n");
}

int cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "sizes", required_argument, NULL, 's' },
		{ "set", required_argument, NULL, 'c' },
		{ "runs", required_argument, NULL, 'r' },
		{ "warmup", no_argument, NULL, 'w' },
		{ "quick", no_argument, NULL, 'q' },
		{ "verify", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "mem", no_argument, NULL, 'm' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct bctx *b = calloc(1, sizeof(*b));
	unsigned long sizes[BENCH_MAX_SIZES];
	bool mem = false, runs_given = false, warmup = false;
	int opt, status;

	if (!b)
		return 1;
	bench_opts_init(&b->o);
	b->digest = DIGEST_INIT;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (bench_parse_sizes(&b->o, optarg)) {
				free(b);
				return cli_usage_error("bench", "bad --sizes list");
			}
			break;
		case 'c':
			if (bench_check_set(optarg)) {
				free(b);
				return 2;
			}
			b->o.set = optarg;
			break;
		case 'r':
			b->o.runs = atoi(optarg);
			runs_given = true;
			break;
		case 'w':
			warmup = true;
			break;
		case 'q':
			b->o.quick = true;
			break;
		case 'v':
			b->o.verify = true;
			break;
		case 'j':
			b->o.json = true;
			break;
		case 'm':
			mem = true;
			break;
		case 'l':
			for (size_t i = 0; i < BENCH_NR_CASES; i++)
				printf("%s\n", bench_cases[i].name);
			free(b);
			return 0;
		case 'h':
			usage(stdout);
			free(b);
			return 0;
		case 'V':
			cli_version("bench");
			free(b);
			return 0;
		default:
			usage(stderr);
			free(b);
			return 2;
		}
	}
	if (optind < argc) {
		free(b);
		return cli_usage_error("bench", "unexpected argument");
	}
	if (b->o.quick && !runs_given)
		b->o.runs = 2;
	/*
	 * Keep freed memory in the heap: each run builds a fresh world, and
	 * without this glibc hands big chunks back to the kernel at
	 * avm_world_free() and the next run pays a host page fault (~10 us on
	 * this VM) per 4 KiB of model state again.  A long-running replay or
	 * fuzz process reaches the same steady state by itself (glibc's mmap
	 * threshold adapts); the first run still measures the cold cost.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	bench_opts_finish(&b->o);

	if (mem && !b->o.set) {
		mem_report(b);
	} else {
		for (size_t c = 0; c < ARRAY_LEN_CASES && !b->failed; c++) {
			const char *name = case_fns[c].name;
			int ns;

			if (!bench_selected(&b->o, name))
				continue;
			ns = bench_case_sizes(&b->o, name, sizes);
			for (int s = 0; s < ns && !b->failed; s++) {
				struct bench_result r;

				if (warmup) {
					/* One untimed, verified run: the heap grows here. */
					int runs = b->o.runs;

					b->o.runs = 1;
					bench_result_init(&r, SIDE, name, sizes[s]);
					case_fns[c].fn(b, &r, sizes[s]);
					b->o.runs = runs;
					if (b->failed)
						break;
				}
				bench_result_init(&r, SIDE, name, sizes[s]);
				case_fns[c].fn(b, &r, sizes[s]);
				bench_finish(&r);
				if (b->failed) {
					r.skip = true;
					snprintf(r.note, sizeof(r.note), "FAILED: %.180s", b->why);
				}
				bench_print(stdout, &r, b->o.json);
			}
		}
		if (mem && !b->failed)
			mem_report(b);
	}
	if (b->failed) {
		fprintf(stderr, "anonvm bench: FAILED: %s\n", b->why);
		status = 1;
	} else {
		if (!b->o.json && b->cases_checked)
			printf("digest %016llx (%d case runs verified%s)\n",
			       (unsigned long long)b->digest, b->cases_checked,
			       b->o.verify ? ", avm_validate passed" : "");
		status = 0;
	}
	free(b);
	return status;
}
