/*
 * test_mmap.c - mmap / munmap / exit (spec §6.1, §6.2) and the map-count
 * probe of A.14.
 */
#include "test.h"

#define PA (AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS)
#define MB2 (2UL << 20)

/* R6.1: the argument errors, in the kernel's order. */
TEST(test_r6_1_mmap_errnos)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long a;

	ASSERT_EQ(avm_mmap(w, p, 0, P(1), RW, AVM_MAP_PRIVATE, &a), -EBADF);
	ASSERT_EQ(avm_mmap(w, p, 0, 0, RW, PA, &a), -EINVAL);
	ASSERT_EQ(avm_mmap(w, p, 0, -1UL, RW, PA, &a), -ENOMEM); /* rounds to 0 */
	ASSERT_EQ(avm_mmap(w, p, 0, P(1), RW, AVM_MAP_SHARED_VALIDATE | AVM_MAP_ANONYMOUS, &a),
		  -EINVAL);
	ASSERT_EQ(avm_mmap(w, p, 0, P(1), RW, AVM_MAP_ANONYMOUS, &a), -EINVAL); /* no type */
	ASSERT_EQ(avm_mmap(w, p, X + 1, P(1), RW, PA | AVM_MAP_FIXED, &a), -EINVAL);
	ASSERT_EQ(avm_mmap(w, p, AVM_TASK_SIZE, P(1), RW, PA | AVM_MAP_FIXED, &a), -ENOMEM);
	ASSERT_EQ(avm_mmap(w, p, 0, AVM_TASK_SIZE + P(1), RW, PA, &a), -ENOMEM);
	ASSERT_EQ(avm_mmap(w, p, 0, P(1), RW, PA | AVM_MAP_DROPPABLE | AVM_MAP_LOCKED, &a),
		  -EINVAL);
	ASSERT_EQ(avm_mmap(w, p, 0, P(1), RW,
			   AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_GROWSDOWN, &a), -EINVAL);
	ASSERT_EQ(avm_mmap(w, 999, 0, P(1), RW, PA, &a), -ESRCH);
	ASSERT_EQ(test_nr_vmas(w, p), 0);
	avm_world_free(w);
	return true;
}

/* R6.8: MAP_FIXED_NOREPLACE over anything mapped is -EEXIST and changes nothing. */
TEST(test_r6_8_noreplace_eexist)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long a;

	MMAP_FIXED(w, p, X + P(2), P(2), RW);
	ASSERT_EQ(avm_mmap(w, p, X, P(3), RW, PA | AVM_MAP_FIXED_NOREPLACE, &a), -EEXIST);
	ASSERT_EQ(avm_mmap(w, p, X + P(3), P(3), RW, PA | AVM_MAP_FIXED_NOREPLACE, &a), -EEXIST);
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	avm_world_free(w);
	return true;
}

/* R6.7: MAP_FIXED replaces the middle of a faulted VMA; old pages go. */
TEST(test_r6_7_map_fixed_replaces)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long a;
	uint64_t v;
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	ASSERT_OK(avm_write(w, p, X + P(1), 42));
	ASSERT_OK(avm_mmap(w, p, X + P(1), P(2), AVM_PROT_READ, PA | AVM_MAP_FIXED, &a));
	ASSERT_EQ(a, X + P(1));
	ASSERT_EQ(test_nr_vmas(w, p), 3);
	ASSERT_OK(avm_read(w, p, X + P(1), &v));
	ASSERT_EQ(v, 0);
	ASSERT_TRUE(test_vma_at(w, p, X + P(1), &vi));
	ASSERT_EQ(vi.anon_vma, 0);
	/* Same flags again over it: merges with nothing (neighbours are RW). */
	ASSERT_OK(avm_mmap(w, p, X + P(1), P(2), RW, PA | AVM_MAP_FIXED, &a));
	ASSERT_EQ(test_nr_vmas(w, p), 1); /* pgoff contiguous, R4.5 case 2 */
	struct avm_mm_info mi;
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.total_vm, 4);
	ASSERT_EQ(mi.rss_anon, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R6.6: top-down placement below mmap_base; hint used when free; 2 MiB THP alignment. */
TEST(test_r6_6_placement)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_mm *mm = mm_find(w, p);
	unsigned long a, b, c, d;

	ASSERT_OK(avm_mmap(w, p, 0, P(4), RW, PA, &a));
	ASSERT_EQ(a, mm->mmap_base - P(4));
	ASSERT_OK(avm_mmap(w, p, 0, P(4), AVM_PROT_READ, PA, &b));
	ASSERT_EQ(b, a - P(4));
	/* A free hint is taken as it is. */
	ASSERT_OK(avm_mmap(w, p, X + 123, P(1), RW, PA, &c));
	ASSERT_EQ(c, X);
	/* A taken hint falls back to top-down. */
	ASSERT_OK(avm_mmap(w, p, X, P(1), AVM_PROT_READ, PA, &d));
	ASSERT_EQ(d, b - P(1));
	/* 2 MiB multiple, no hint: aligned, and an aligned hit moves up by 2 MiB. */
	ASSERT_OK(avm_mmap(w, p, 0, MB2, RW, PA, &a));
	ASSERT_EQ(a & (MB2 - 1), 0);
	ASSERT_OK(avm_mmap(w, p, 0, MB2, RW, PA, &b));
	ASSERT_EQ(b & (MB2 - 1), 0);
	/*
	 * The aligned result moves up by 2 MiB, flush with the mapping above:
	 * on the host (6.18.44) back-to-back 2 MiB mmaps are adjacent, unlike
	 * what R6.6 suggests.
	 */
	ASSERT_EQ(b + MB2, a);
	/* Shared anonymous: shmem placement, directly below. */
	ASSERT_OK(avm_mmap(w, p, 0, MB2, RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS, &c));
	ASSERT_EQ(c, b - MB2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R6.3: shared anonymous VMAs: pgoff 0, VM_SHARED, no anon_vma, never merge. */
TEST(test_r6_3_shared_anon)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	unsigned long a;
	struct avm_vma_info vi, vj;
	uint64_t v;

	ASSERT_OK(avm_mmap(w, p, X, P(2), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED, &a));
	ASSERT_OK(avm_mmap(w, p, X + P(2), P(2), RW,
			   AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED, &a));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &vj));
	ASSERT_TRUE(vi.shared_anon);
	ASSERT_EQ(vi.pgoff, 0);
	ASSERT_NE(vi.shmem_id, vj.shmem_id);
	ASSERT_TRUE(vi.flags & AVM_VM_SHARED);
	ASSERT_FALSE(vi.flags & AVM_VM_ACCOUNT);
	ASSERT_OK(avm_write(w, p, X, 9));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.anon_vma, 0);
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_OK(avm_write(w, c, X, 10)); /* shared: no COW */
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_EQ(v, 10);
	ASSERT_EQ(avm_madvise(w, p, X, P(2), AVM_MADV_WIPEONFORK), -EINVAL);
	ASSERT_EQ(avm_madvise(w, p, X, P(2), AVM_MADV_FREE), -EINVAL);
	ASSERT_OK(avm_munmap(w, p, X, P(4)));
	ASSERT_OK(avm_read(w, c, X, &v));
	ASSERT_EQ(v, 10);
	ASSERT_OK(avm_exit(w, c));
	VALIDATE(w);
	ASSERT_EQ(avm_frames_used(w), 0);
	avm_world_free(w);
	return true;
}

/* R6.9: MAP_POPULATE write-faults a writable private mapping; read-only gets the zero page. */
TEST(test_r6_9_populate_and_locked)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long a;
	struct avm_page_info pi;
	struct avm_mm_info mi;
	struct avm_vma_info vi;

	ASSERT_OK(avm_mmap(w, p, X, P(3), RW, PA | AVM_MAP_FIXED | AVM_MAP_POPULATE, &a));
	ASSERT_OK(avm_page_info(w, p, X + P(2), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_OK(avm_mmap(w, p, X + P(8), P(2), AVM_PROT_READ,
			   PA | AVM_MAP_FIXED | AVM_MAP_POPULATE, &a));
	ASSERT_OK(avm_page_info(w, p, X + P(9), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_ZERO);
	ASSERT_OK(avm_mmap(w, p, X + P(16), P(2), RW, PA | AVM_MAP_FIXED | AVM_MAP_LOCKED, &a));
	ASSERT_OK(avm_page_info(w, p, X + P(17), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_TRUE(test_vma_at(w, p, X + P(16), &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_LOCKED);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.locked_vm, 2);
	ASSERT_EQ(mi.total_vm, 7);
	ASSERT_EQ(mi.data_vm, 5);
	ASSERT_OK(avm_munmap(w, p, X + P(16), P(1)));
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.locked_vm, 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R6.10: MAP_DROPPABLE flags; R6.4 MAP_NORESERVE drops VM_ACCOUNT. */
TEST(test_r6_10_droppable_and_noreserve)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long a;
	struct avm_vma_info vi;

	ASSERT_OK(avm_mmap(w, p, X, P(1), RW,
			   AVM_MAP_DROPPABLE | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED, &a));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.flags & (AVM_VM_DROPPABLE | AVM_VM_NORESERVE | AVM_VM_WIPEONFORK |
			      AVM_VM_DONTDUMP | AVM_VM_ACCOUNT),
		  AVM_VM_DROPPABLE | AVM_VM_NORESERVE | AVM_VM_WIPEONFORK | AVM_VM_DONTDUMP);
	ASSERT_EQ(vi.pgoff, X >> 12);
	ASSERT_EQ(avm_madvise(w, p, X, P(1), AVM_MADV_KEEPONFORK), -EINVAL);
	ASSERT_OK(avm_mmap(w, p, X + P(4), P(1), RW, PA | AVM_MAP_FIXED | AVM_MAP_NORESERVE, &a));
	ASSERT_TRUE(test_vma_at(w, p, X + P(4), &vi));
	ASSERT_FALSE(vi.flags & AVM_VM_ACCOUNT);
	ASSERT_TRUE(vi.flags & AVM_VM_NORESERVE);
	ASSERT_TRUE(vi.flags & AVM_VM_SOFTDIRTY); /* R6.5 */
	avm_world_free(w);
	return true;
}

/* R6.12-R6.15: munmap errors, holes are fine, splits, no merge of the sides. */
TEST(test_r6_12_munmap)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_mm_info mi;

	ASSERT_EQ(avm_munmap(w, p, X + 1, P(1)), -EINVAL);
	ASSERT_EQ(avm_munmap(w, p, X, 0), -EINVAL);
	ASSERT_EQ(avm_munmap(w, p, AVM_TASK_SIZE + P(1), P(1)), -EINVAL);
	ASSERT_EQ(avm_munmap(w, p, X, AVM_TASK_SIZE), -EINVAL);
	ASSERT_OK(avm_munmap(w, p, X, P(1))); /* nothing there */
	MMAP_FIXED(w, p, X, P(8), RW);
	ASSERT_OK(avm_touch(w, p, X, P(8), true));
	ASSERT_OK(avm_munmap(w, p, X + P(2), 1)); /* len rounds up */
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_OK(avm_munmap(w, p, X + P(1), P(6))); /* across the hole, both ends split */
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.total_vm, 2);
	ASSERT_EQ(mi.rss_anon, 2);
	ASSERT_EQ(avm_frames_used(w), 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * A.14 / R5.4 / R6.1: with max_map_count = N and N VMAs: interior mprotect
 * -ENOMEM, madvise -EAGAIN, interior munmap -ENOMEM, edge munmap ok, a new
 * mmap works once more (map_count > N refuses).
 */
TEST(test_a14_max_map_count_probe)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	const unsigned long n = 20;
	unsigned long a;

	avm_set_max_map_count(w, n);
	for (unsigned long i = 0; i < n; i++)
		MMAP_FIXED(w, p, X + P(4 * i), P(3), (i & 1) ? RW : AVM_PROT_READ);
	ASSERT_EQ(test_nr_vmas(w, p), n);
	ASSERT_EQ(avm_mprotect(w, p, X + P(1), P(1), AVM_PROT_NONE), -ENOMEM);
	ASSERT_EQ(avm_madvise(w, p, X + P(1), P(1), AVM_MADV_RANDOM), -EAGAIN);
	ASSERT_EQ(avm_mlock(w, p, X + P(1), P(1), 0), -ENOMEM);
	ASSERT_EQ(avm_munmap(w, p, X + P(1), P(1)), -ENOMEM);
	ASSERT_EQ(test_nr_vmas(w, p), n);
	/* A split at only one end is not limited: map_count may exceed N. */
	ASSERT_OK(avm_munmap(w, p, X + P(1), P(2)));
	ASSERT_EQ(avm_mmap(w, p, X + P(100), P(1), RW, PA | AVM_MAP_FIXED, &a), 0);
	ASSERT_EQ(test_nr_vmas(w, p), n + 1);
	ASSERT_EQ(avm_mmap(w, p, X + P(102), P(1), RW, PA | AVM_MAP_FIXED, &a), -ENOMEM);
	/* munmap of a whole VMA always works. */
	ASSERT_OK(avm_munmap(w, p, X + P(100), P(1)));
	ASSERT_EQ(test_nr_vmas(w, p), n);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* exit frees everything (I11). */
TEST(test_r3_13_exit_frees_all)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;

	MMAP_FIXED(w, p, X, P(8), RW);
	ASSERT_OK(avm_touch(w, p, X, P(8), true));
	ASSERT_OK(avm_madvise(w, p, X + P(1), P(1), AVM_MADV_GUARD_INSTALL));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_OK(avm_exit(w, p));
	ASSERT_EQ(avm_exit(w, p), -ESRCH);
	ASSERT_OK(avm_exit(w, c));
	ASSERT_EQ(avm_frames_used(w), 0);
	ASSERT_EQ(avm_stats(w)->vmas_alloc, avm_stats(w)->vmas_free);
	ASSERT_EQ(avm_stats(w)->exits, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* The highest gap of @len below @high, computed the slow way from the public view. */
static unsigned long brute_topdown(struct avm_world *w, int p, unsigned long len,
				   unsigned long high)
{
	struct avm_vma_info vi;
	unsigned long cur = 0, prev_end = 0, best = 0;

	while (avm_vma_next(w, p, &cur, &vi) == 1) {
		unsigned long ge = avm_min(vi.start, high), gs = avm_max(prev_end, P(1));

		if (ge > gs && ge - gs >= len)
			best = ge - len;
		prev_end = vi.end;
	}
	if (high > avm_max(prev_end, P(1)) && high - avm_max(prev_end, P(1)) >= len)
		best = high - len;
	return best;
}

/* R6.6: the gap-augmented top-down search agrees with a linear scan. */
TEST(test_r6_6_topdown_matches_linear_scan)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_mm *mm = mm_find(w, p);
	unsigned long a, base = mm->mmap_base;
	uint32_t seed = 12345;

	for (int i = 0; i < 3000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned long len = P(1 + (seed >> 16) % 7);
		int prot = (seed >> 8) & 1 ? RW : AVM_PROT_READ;

		if ((seed >> 4) % 3 == 0) {
			unsigned long off = P((seed >> 12) % 4096);
			ASSERT_OK(avm_munmap(w, p, base - P(4096) + off, len));
		} else {
			unsigned long want = brute_topdown(w, p, len, base);

			ASSERT_OK(avm_mmap(w, p, 0, len, prot, AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS, &a));
			ASSERT_EQ(a, want);
		}
		if (i % 256 == 0)
			ASSERT_TRUE(vma_gap_check(mm));
	}
	ASSERT_TRUE(vma_gap_check(mm));
	avm_world_free(w);
	return true;
}
