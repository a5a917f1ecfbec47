/*
 * test_fork.c - dup_mmap (spec §9.1-§9.3): A.9, what the child inherits,
 * and fault injection over every allocation of a fork.
 */
#include "test.h"

/* A.9 / R9.1 step 2: MADV_DONTFORK: no child VMA; R9.3 WIPEONFORK: empty child VMA. */
TEST(test_a9_dontfork_and_wipeonfork)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	struct avm_vma_info vi;
	struct avm_page_info pi;
	struct avm_mm_info mi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(4), P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_write(w, p, X + P(4), 2));
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_DONTFORK));
	ASSERT_OK(avm_madvise(w, p, X + P(4), P(2), AVM_MADV_WIPEONFORK));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_EQ(test_nr_vmas(w, c), 1);
	ASSERT_FALSE(test_vma_at(w, c, X, &vi));
	ASSERT_EQ(avm_read(w, c, X, &v), -AVM_ESIGSEGV);
	ASSERT_TRUE(test_vma_at(w, c, X + P(4), &vi));
	ASSERT_EQ(vi.anon_vma, 0);
	ASSERT_TRUE(vi.flags & AVM_VM_WIPEONFORK); /* inherited */
	ASSERT_OK(avm_page_info(w, c, X + P(4), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_OK(avm_read(w, c, X + P(4), &v));
	ASSERT_EQ(v, 0);
	ASSERT_OK(avm_read(w, p, X + P(4), &v));
	ASSERT_EQ(v, 2);
	ASSERT_OK(avm_mm_info(w, c, &mi));
	ASSERT_EQ(mi.total_vm, 2);
	ASSERT_EQ(mi.data_vm, 2);
	ASSERT_EQ(avm_stats(w)->forks, 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R9.1 step 7, R9.2: mlock is not inherited and the child does not merge. */
TEST(test_r9_2_child_unlocked_no_merge)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	struct avm_vma_info vi;
	struct avm_mm_info mi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_mlock(w, p, X, P(2), 0));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_EQ(test_nr_vmas(w, c), 2);
	ASSERT_TRUE(test_vma_at(w, c, X, &vi));
	ASSERT_FALSE(vi.flags & AVM_VM_LOCKED_MASK);
	ASSERT_OK(avm_mm_info(w, c, &mi));
	ASSERT_EQ(mi.locked_vm, 0);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.locked_vm, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R9.1 step 5: the child loses the userfaultfd context and VM_UFFD_*. */
TEST(test_r9_1_child_loses_uffd)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_uffd_register(w, p, X, P(2), AVM_UFFDIO_REGISTER_MODE_MISSING));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_TRUE(test_vma_at(w, c, X, &vi));
	ASSERT_FALSE(vi.uffd);
	ASSERT_FALSE(vi.flags & AVM_VM_UFFD_FLAGS);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(vi.uffd);
	uint64_t v;
	ASSERT_OK(avm_read(w, c, X, &v)); /* no userfault in the child */
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R9.5: an unfaulted VMA (zero-page reads only) is not copied. */
TEST(test_r9_5_no_anon_vma_no_ptes)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	struct avm_page_info pi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_read(w, p, X, &v));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_OK(avm_page_info(w, c, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_OK(avm_page_info(w, p, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_ZERO);
	avm_world_free(w);
	return true;
}

struct snap {
	unsigned long n;
	struct avm_vma_info v[16];
	uint64_t content[32];
};

static void take_snap(struct avm_world *w, int p, struct snap *s)
{
	unsigned long cur = 0;

	s->n = 0;
	while (s->n < 16 && avm_vma_next(w, p, &cur, &s->v[s->n]) == 1)
		s->n++;
	for (int i = 0; i < 32; i++) {
		uint64_t v = 0;

		if (avm_read(w, p, X + P(i), &v))
			v = ~0ULL;
		s->content[i] = v;
	}
}

/*
 * STYLE 13: fail the n-th allocation of a fork for every n until it
 * succeeds; each failure leaves a valid world, no child, and the parent's
 * VMAs and contents unchanged.
 */
TEST(test_r9_1_fork_fault_injection)
{
	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w), c, pin;
		struct snap before, after;
		unsigned long cursor = 0;

		MMAP_FIXED(w, p, X, P(8), RW);
		MMAP_FIXED(w, p, X + P(10), P(4), AVM_PROT_READ);
		MMAP_FIXED(w, p, X + P(16), P(8), RW);
		for (int i = 0; i < 8; i++) {
			ASSERT_OK(avm_write(w, p, X + P(i), 100 + i));
			ASSERT_OK(avm_write(w, p, X + P(16 + i), 200 + i));
		}
		ASSERT_OK(avm_madvise(w, p, X + P(16), P(2), AVM_MADV_WIPEONFORK));
		ASSERT_OK(avm_madvise(w, p, X + P(20), P(1), AVM_MADV_GUARD_INSTALL));
		ASSERT_OK(avm_pin(w, p, X + P(5), 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &pin));
		c = avm_fork(w, p); /* a grandparent chain: one fork before the test fork */
		ASSERT_TRUE(c > 0);
		ASSERT_OK(avm_write(w, p, X, 1000));
		take_snap(w, p, &before);

		avm_fault_inject(w, n);
		c = avm_fork(w, p);
		avm_fault_inject(w, 0);
		VALIDATE(w);
		take_snap(w, p, &after);
		ASSERT_EQ(before.n, after.n);
		for (unsigned long i = 0; i < before.n; i++) {
			ASSERT_EQ(before.v[i].start, after.v[i].start);
			ASSERT_EQ(before.v[i].end, after.v[i].end);
			ASSERT_EQ(before.v[i].flags, after.v[i].flags);
			ASSERT_EQ(before.v[i].anon_vma, after.v[i].anon_vma);
			ASSERT_EQ(before.v[i].vma_id, after.v[i].vma_id);
		}
		for (int i = 0; i < 32; i++)
			ASSERT_EQ(before.content[i], after.content[i]);
		if (c > 0) {
			/* Success: the child sees the parent's data, wiped range empty. */
			uint64_t v;
			ASSERT_OK(avm_read(w, c, X + P(3), &v));
			ASSERT_EQ(v, 103);
			ASSERT_OK(avm_read(w, c, X + P(16), &v));
			ASSERT_EQ(v, 0);
			avm_world_free(w);
			break;
		}
		ASSERT_EQ(c, -ENOMEM);
		/* Only the parent and the first child exist. */
		int procs = 0;
		while (avm_proc_next(w, &cursor) > 0)
			procs++;
		ASSERT_EQ(procs, 2);
		avm_world_free(w);
		ASSERT_TRUE(n < 10000);
	}
	return true;
}
