/*
 * test_madvise.c - madvise (spec §13): the general rules, flag advice
 * through the merge path (R13.1, R13.2), page advice (R13.3-R13.8),
 * guard regions (R13.11, R13.12), MADV_REMOVE on shmem (R13.9).
 */
#include "test.h"

/* §13 general rules: alignment, len 0, unknown advice, holes -> -ENOMEM after applying. */
TEST(test_r13_general_rules)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(3), P(2), RW);
	ASSERT_EQ(avm_madvise(w, p, X + 1, P(1), AVM_MADV_NORMAL), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X, P(1), 77), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X, P(1), 25), -EINVAL); /* MADV_COLLAPSE: not modelled */
	ASSERT_EQ(avm_madvise(w, p, X, -1UL, AVM_MADV_NORMAL), -EINVAL);
	ASSERT_OK(avm_madvise(w, p, X, 0, AVM_MADV_RANDOM));
	ASSERT_EQ(avm_madvise(w, p, X - P(1), P(7), AVM_MADV_RANDOM), -ENOMEM);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_RAND_READ);
	ASSERT_TRUE(test_vma_at(w, p, X + P(3), &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_RAND_READ);
	ASSERT_EQ(avm_madvise(w, p, X + P(10), P(1), AVM_MADV_DONTNEED), -ENOMEM);
	ASSERT_EQ(avm_madvise(w, p, X + P(2), P(1), AVM_MADV_DONTNEED), -ENOMEM);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.1: flag advice splits and merges; unchanged flags never split. */
TEST(test_r13_1_flag_advice_split_merge)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;
	static const struct {
		int on, off;
		unsigned long flag;
	} cases[] = {
		{ AVM_MADV_SEQUENTIAL, AVM_MADV_NORMAL, AVM_VM_SEQ_READ },
		{ AVM_MADV_DONTFORK, AVM_MADV_DOFORK, AVM_VM_DONTCOPY },
		{ AVM_MADV_WIPEONFORK, AVM_MADV_KEEPONFORK, AVM_VM_WIPEONFORK },
		{ AVM_MADV_DONTDUMP, AVM_MADV_DODUMP, AVM_VM_DONTDUMP },
		{ AVM_MADV_MERGEABLE, AVM_MADV_UNMERGEABLE, AVM_VM_MERGEABLE },
		{ AVM_MADV_HUGEPAGE, AVM_MADV_NOHUGEPAGE, AVM_VM_HUGEPAGE },
	};

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		ASSERT_OK(avm_madvise(w, p, X + P(1), P(2), cases[i].on));
		ASSERT_EQ(test_nr_vmas(w, p), 3);
		ASSERT_TRUE(test_vma_at(w, p, X + P(1), &vi));
		ASSERT_TRUE(vi.flags & cases[i].flag);
		ASSERT_OK(avm_madvise(w, p, X + P(1), P(2), cases[i].on)); /* no change, no split */
		ASSERT_EQ(test_nr_vmas(w, p), 3);
		ASSERT_OK(avm_madvise(w, p, X + P(1), P(2), cases[i].off));
		if (cases[i].flag == AVM_VM_HUGEPAGE) {
			ASSERT_EQ(test_nr_vmas(w, p), 3); /* NOHUGEPAGE is a flag of its own */
			ASSERT_OK(avm_madvise(w, p, X, P(4), AVM_MADV_NOHUGEPAGE));
		}
		ASSERT_EQ(test_nr_vmas(w, p), 1);
	}
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.2: -ENOMEM from a split is -EAGAIN for madvise (fault injection too). */
TEST(test_r13_2_enomem_is_eagain)
{
	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w), ret;

		MMAP_FIXED(w, p, X, P(4), RW);
		ASSERT_OK(avm_touch(w, p, X, P(4), true));
		avm_fault_inject(w, n);
		ret = avm_madvise(w, p, X + P(1), P(1), AVM_MADV_DONTFORK);
		avm_fault_inject(w, 0);
		VALIDATE(w);
		avm_world_free(w);
		if (ret == 0)
			break;
		ASSERT_EQ(ret, -EAGAIN);
		ASSERT_TRUE(n < 100);
	}
	return true;
}

/* R13.3: DONTNEED zaps but keeps VMA and anon_vma; next read is zero. */
TEST(test_r13_3_dontneed)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	struct avm_vma_info before, after;
	struct avm_mm_info mi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(4), RW);
	for (int i = 0; i < 4; i++)
		ASSERT_OK(avm_write(w, p, X + P(i), 10 + i));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_TRUE(test_vma_at(w, p, X, &before));
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_DONTNEED));
	ASSERT_TRUE(test_vma_at(w, p, X, &after));
	ASSERT_EQ(before.anon_vma, after.anon_vma);
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_EQ(v, 0);
	ASSERT_OK(avm_read(w, c, X, &v)); /* the relative keeps its page */
	ASSERT_EQ(v, 10);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.rss_anon, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.8: POPULATE_READ/WRITE errors (checked on the host: -EINVAL, -ENOMEM). */
TEST(test_r13_8_populate)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_page_info pi;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(2), P(2), AVM_PROT_READ);
	MMAP_FIXED(w, p, X + P(4), P(1), AVM_PROT_NONE);
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_POPULATE_WRITE));
	ASSERT_OK(avm_page_info(w, p, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_OK(avm_madvise(w, p, X + P(2), P(2), AVM_MADV_POPULATE_READ));
	ASSERT_OK(avm_page_info(w, p, X + P(2), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_ZERO);
	ASSERT_EQ(avm_madvise(w, p, X + P(2), P(1), AVM_MADV_POPULATE_WRITE), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X + P(4), P(1), AVM_MADV_POPULATE_READ), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X + P(8), P(1), AVM_MADV_POPULATE_READ), -ENOMEM);
	ASSERT_OK(avm_madvise(w, p, X + P(1), P(1), AVM_MADV_GUARD_INSTALL));
	ASSERT_EQ(avm_madvise(w, p, X, P(2), AVM_MADV_POPULATE_READ), -EFAULT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.11, R13.12: guard install zaps, prepares an anon_vma, survives DONTNEED, fork. */
TEST(test_r13_12_guard_install_remove)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	struct avm_vma_info vi;
	struct avm_page_info pi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_write(w, p, X + P(1), 5));
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_GUARD_INSTALL));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_OK(avm_page_info(w, p, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_GUARD);
	ASSERT_EQ(avm_read(w, p, X, &v), -AVM_ESIGSEGV);
	ASSERT_OK(avm_madvise(w, p, X, P(4), AVM_MADV_DONTNEED));
	ASSERT_OK(avm_page_info(w, p, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_GUARD);
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_OK(avm_page_info(w, c, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_GUARD); /* R9.15 */
	ASSERT_OK(avm_madvise(w, p, X, P(1), AVM_MADV_GUARD_REMOVE));
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_EQ(v, 0);
	/* An unfaulted VMA gets an anon_vma from guard install. */
	MMAP_FIXED(w, p, X + P(8), P(2), AVM_PROT_READ);
	ASSERT_OK(avm_madvise(w, p, X + P(8), P(1), AVM_MADV_GUARD_INSTALL));
	ASSERT_TRUE(test_vma_at(w, p, X + P(8), &vi));
	ASSERT_NE(vi.anon_vma, 0);
	ASSERT_OK(avm_mlock(w, p, X + P(8), P(2), AVM_MLOCK_ONFAULT));
	ASSERT_EQ(avm_madvise(w, p, X + P(8), P(1), AVM_MADV_GUARD_INSTALL), -EINVAL);
	ASSERT_OK(avm_madvise(w, p, X + P(8), P(1), AVM_MADV_GUARD_REMOVE)); /* locked ok */
	ASSERT_OK(avm_munmap(w, c, X, P(4)));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.9: MADV_REMOVE: -EINVAL on private anon, frees shmem pages in every mapper. */
TEST(test_r13_9_remove_shmem)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	unsigned long a;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_EQ(avm_madvise(w, p, X, P(1), AVM_MADV_REMOVE), -EINVAL);
	ASSERT_OK(avm_mmap(w, p, X + P(4), P(4), RW,
			   AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED, &a));
	ASSERT_OK(avm_write(w, p, X + P(5), 55));
	ASSERT_OK(avm_write(w, p, X + P(6), 66));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_OK(avm_read(w, c, X + P(5), &v));
	ASSERT_EQ(v, 55);
	ASSERT_OK(avm_madvise(w, p, X + P(5), P(1), AVM_MADV_REMOVE));
	ASSERT_OK(avm_read(w, c, X + P(5), &v));
	ASSERT_EQ(v, 0);
	ASSERT_OK(avm_read(w, c, X + P(6), &v));
	ASSERT_EQ(v, 66);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.6: COLD/PAGEOUT refuse locked VMAs; WILLNEED is accepted. */
TEST(test_r13_6_cold_pageout_locked_einval)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_touch(w, p, X, P(2), true));
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_WILLNEED));
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_COLD));
	ASSERT_OK(avm_mlock(w, p, X, P(1), 0));
	ASSERT_EQ(avm_madvise(w, p, X, P(2), AVM_MADV_PAGEOUT), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X, P(2), AVM_MADV_COLD), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X, P(2), AVM_MADV_FREE), -EINVAL);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
