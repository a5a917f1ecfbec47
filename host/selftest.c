/*
 * selftest.c - the host side alone: drive puppets, read /proc, and check
 * the kernel facts of spec/host-kernel.md that the oracle builds on
 * (`anonvm diff --selftest`).  No model involved: if one of these fails,
 * the environment or the puppet machinery is broken, and every diff
 * result would be meaningless.
 *
 * Each check prints PASS/FAIL/SKIP with the host-kernel.md fact it covers.
 */
#include <errno.h>
#include <string.h>

#include "host.h"

#define A0 (AVM_ARENA_START + 0x200000UL)
#define PG AVM_PAGE_SIZE

struct st {
	FILE *out;
	int pass, fail, skip;
	struct host_observer *o;
};

static void report(struct st *t, int ok, const char *name, const char *why)
{
	if (ok > 0)
		t->pass++;
	else if (ok == 0)
		t->fail++;
	else
		t->skip++;
	fprintf(t->out, "%s %s%s%s\n", ok > 0 ? "PASS" : ok == 0 ? "FAIL" : "SKIP", name,
		why ? ": " : "", why ? why : "");
}

static long call(struct puppet *p, enum puppet_opcode op, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3, uint64_t *val)
{
	struct puppet_req rq = { .op = op, .a = { a0, a1, a2, a3 } };
	struct puppet_resp rs;
	if (puppet_call(p, &rq, &rs))
		return -EPIPE;
	if (val)
		*val = rs.val;
	return (long)rs.ret;
}

static int page(struct st *t, struct puppet *p, unsigned long addr, struct host_page *pg)
{
	return host_observe_pages(t->o, p, addr, 1, pg);
}

static bool excl(const struct host_page *pg)
{
	return (pg->kflags >> KPF_ANON_EXCLUSIVE_BIT) & 1;
}

/* fork shares, clears PG_anon_exclusive on both; child's write copies (R9, R8.2). */
static void check_fork_cow(struct st *t)
{
	struct puppet *p = puppet_spawn(), *c = NULL;
	struct host_page a, b;
	int ok = 0;
	if (!p)
		goto out;
	if (call(p, PUP_MMAP, A0, 4 * PG, 3, 0x22 | 0x100000, NULL) != (long)A0 ||
	    call(p, PUP_WRITE, A0, 0xdead, 0, 0, NULL))
		goto out;
	page(t, p, A0, &a);
	if (a.state != HOST_PAGE_PRESENT || !excl(&a) || a.mapcount != 1 || a.content != 0xdead)
		goto out;
	c = puppet_fork(p);
	if (!c)
		goto out;
	page(t, p, A0, &a);
	page(t, c, A0, &b);
	if (a.pfn != b.pfn || a.mapcount != 2 || excl(&a) || excl(&b))
		goto out;
	if (call(c, PUP_WRITE, A0, 0xbeef, 0, 0, NULL))
		goto out;
	page(t, p, A0, &a);
	page(t, c, A0, &b);
	/* Child copies (exclusive, new pfn); parent's old page: mapcount 1, not exclusive. */
	if (a.pfn == b.pfn || !excl(&b) || excl(&a) || a.mapcount != 1 || b.content != 0xbeef ||
	    a.content != 0xdead)
		goto out;
	/* Parent's write reuses its page and sets the bit again. */
	uint64_t old = a.pfn;
	call(p, PUP_WRITE, A0, 1, 0, 0, NULL);
	page(t, p, A0, &a);
	ok = a.pfn == old && excl(&a);
out:
	report(t, ok, "host_fork_cow_anon_exclusive", NULL);
	puppet_exit(c);
	puppet_exit(p);
}

/* io_uring registered buffer = long-term pin: fork copies the pinned page at once. */
static void check_pin_fork(struct st *t, const struct host_env *env)
{
	if (!env->io_uring) {
		report(t, -1, "host_pin_fork_copies", env->why_io_uring);
		return;
	}
	struct puppet *p = puppet_spawn(), *c = NULL;
	struct host_page a, b;
	uint64_t v = 0;
	int ok = 0;
	if (!p)
		goto out;
	if (call(p, PUP_MMAP, A0, 2 * PG, 3, 0x22 | 0x100000, NULL) != (long)A0 ||
	    call(p, PUP_WRITE, A0, 7, 0, 0, NULL) || call(p, PUP_PIN, A0, 1, 3, 0, NULL))
		goto out;
	c = puppet_fork(p);
	if (!c)
		goto out;
	page(t, p, A0, &a);
	page(t, c, A0, &b);
	if (a.pfn == b.pfn || !excl(&a) || !excl(&b) || b.content != 7)
		goto out;
	/* Write through the pin, read it back from the parent's mapping. */
	if (call(p, PUP_PIN_WRITE, 3, 0, 99, 0, NULL) || call(p, PUP_READ, A0, 0, 0, 0, &v) || v != 99)
		goto out;
	if (call(c, PUP_READ, A0, 0, 0, 0, &v) || v != 7)
		goto out;
	ok = call(p, PUP_PIN_READ, 3, 0, 0, 0, &v) == 0 && v == 99 &&
	     call(p, PUP_UNPIN, 3, 0, 0, 0, NULL) == 0;
out:
	report(t, ok, "host_pin_fork_copies", NULL);
	puppet_exit(c);
	puppet_exit(p);
}

/* vmsplice reference: fork shares; the parent's later write copies (refcount > 1). */
static void check_ref(struct st *t)
{
	struct puppet *p = puppet_spawn(), *c = NULL;
	struct host_page a, b;
	uint64_t v = 0;
	int ok = 0;
	if (!p)
		goto out;
	if (call(p, PUP_MMAP, A0, PG, 3, 0x22 | 0x100000, NULL) != (long)A0 ||
	    call(p, PUP_WRITE, A0, 5, 0, 0, NULL) || call(p, PUP_REF, A0, 1, 1, 0, NULL))
		goto out;
	c = puppet_fork(p);
	if (!c)
		goto out;
	page(t, p, A0, &a);
	page(t, c, A0, &b);
	if (a.pfn != b.pfn || a.mapcount != 2)
		goto out;
	puppet_exit(c);
	c = NULL;
	uint64_t old = a.pfn;
	call(p, PUP_WRITE, A0, 6, 0, 0, NULL);
	page(t, p, A0, &a);
	ok = a.pfn != old && excl(&a) && call(p, PUP_REF_READ, 1, 0, 0, 0, &v) == 0 && v == 5;
	call(p, PUP_UNREF, 1, 0, 0, 0, NULL);
out:
	report(t, ok, "host_vmsplice_ref_forces_copy", NULL);
	puppet_exit(c);
	puppet_exit(p);
}

/* MADV_PAGEOUT swaps out private pages, skips shared ones; zram swap-in skips swap cache. */
static void check_pageout(struct st *t, const struct host_env *env)
{
	if (!env->swap) {
		report(t, -1, "host_pageout", env->why_swap);
		return;
	}
	struct puppet *p = puppet_spawn(), *c = NULL;
	struct host_page a, b;
	uint64_t v = 0;
	int ok = 0;
	if (!p)
		goto out;
	if (call(p, PUP_MMAP, A0, 2 * PG, 3, 0x22 | 0x100000, NULL) != (long)A0 ||
	    call(p, PUP_WRITE, A0, 11, 0, 0, NULL) || call(p, PUP_WRITE, A0 + PG, 12, 0, 0, NULL))
		goto out;
	if (call(p, PUP_MADVISE, A0, PG, 21, 0, NULL))
		goto out;
	page(t, p, A0, &a);
	if (a.state != HOST_PAGE_SWAP)
		goto out;
	if (call(p, PUP_READ, A0, 0, 0, 0, &v) || v != 11)
		goto out;
	page(t, p, A0, &a);
	if (a.state != HOST_PAGE_PRESENT || (env->swap_is_zram && (a.kflags >> KPF_SWAPCACHE_BIT) & 1))
		goto out;
	c = puppet_fork(p);
	if (!c || call(p, PUP_MADVISE, A0 + PG, PG, 21, 0, NULL))
		goto out;
	page(t, p, A0 + PG, &b);
	ok = b.state == HOST_PAGE_PRESENT; /* shared: skipped */
out:
	report(t, ok, "host_pageout_private_only", NULL);
	puppet_exit(c);
	puppet_exit(p);
}

/* UFFDIO_MOVE moves an exclusive page, keeps the pfn; missing fault is SIGBUS. */
static void check_uffd(struct st *t, const struct host_env *env)
{
	if (!env->uffd_move || !env->uffd_sigbus) {
		report(t, -1, "host_uffd_move", env->why_uffd);
		return;
	}
	struct puppet *p = puppet_spawn();
	struct host_page a, b;
	uint64_t v;
	int ok = 0;
	if (!p)
		goto out;
	if (call(p, PUP_MMAP, A0, 4 * PG, 3, 0x22 | 0x100000, NULL) != (long)A0 ||
	    call(p, PUP_WRITE, A0, 3, 0, 0, NULL) || call(p, PUP_UFFD_REGISTER, A0, 4 * PG, 1, 0, NULL))
		goto out;
	page(t, p, A0, &a);
	if (call(p, PUP_READ, A0 + 3 * PG, 0, 0, 0, &v) != -AVM_ESIGBUS)
		goto out;
	if (call(p, PUP_UFFD_MOVE, A0 + 2 * PG, A0, PG, 0, &v) != 0 || v != PG)
		goto out;
	page(t, p, A0 + 2 * PG, &b);
	ok = b.pfn == a.pfn && b.content == 3;
out:
	report(t, ok, "host_uffd_move_keeps_frame", NULL);
	puppet_exit(p);
}

/*
 * max_map_count, emulated with padding VMAs: with M = 3 a new mmap
 * succeeds while map_count <= M (host-kernel.md), so the fifth fails.
 */
static void check_limit(struct st *t, struct host_env *env)
{
	struct puppet *p = puppet_spawn();
	unsigned long pad = 0;
	int ok = 0;
	if (!p || host_max_map_padding(env, 3, &pad) || call(p, PUP_PAD, pad, 0, 0, 0, NULL) < 0)
		goto out;
	long r = 0;
	int i;
	for (i = 0; i < 5 && r >= 0; i++)
		r = call(p, PUP_MMAP, A0 + (unsigned long)i * 2 * PG, PG, 3, 0x22 | 0x100000, NULL);
	ok = r == -ENOMEM && i == 5;
out:
	report(t, ok, "host_max_map_count_padding", NULL);
	puppet_exit(p);
}

int host_selftest(struct host_env *env, FILE *out)
{
	struct st t = { .out = out };
	t.o = host_observer_new();
	if (!t.o) {
		fprintf(out, "SKIP host selftest: cannot open /proc/kpage*\n");
		return 0;
	}
	host_print_env(env, out);
	check_fork_cow(&t);
	check_pin_fork(&t, env);
	check_ref(&t);
	check_pageout(&t, env);
	check_uffd(&t, env);
	check_limit(&t, env);
	host_observer_free(t.o);
	fprintf(out, "%d passed, %d failed, %d skipped\n", t.pass, t.fail, t.skip);
	return t.fail ? 1 : 0;
}
