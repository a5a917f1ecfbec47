/*
 * test_mremap.c - mremap (spec §7): errnos R7.1-R7.25, shrink, growth in
 * place, moves (A.10, A.11), DONTUNMAP, multi-VMA moves, map-count limits
 * and fault injection.
 */
#include "test.h"

#define Y 0x7f0000100000UL
#define MM AVM_MREMAP_MAYMOVE
#define FX (AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED)

static bool page_is(struct avm_world *w, int p, unsigned long addr, uint64_t want)
{
	uint64_t v;

	return avm_read(w, p, addr, &v) == 0 && v == want;
}

/* R7.1-R7.6, R7.21-R7.23: errors before anything changes. */
TEST(test_r7_21_mremap_errnos)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;

	MMAP_FIXED(w, p, X, P(4), RW);
	MMAP_FIXED(w, p, X + P(4), P(4), AVM_PROT_READ);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(1), AVM_MREMAP_RELOCATE_ANON | MM, 0, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(1), 16, 0, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X + 1, P(1), P(1), 0, 0, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), 0, 0, 0, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), AVM_TASK_SIZE + P(1), MM, 0, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(1), AVM_MREMAP_FIXED, Y, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(1), FX, Y + 1, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(1), FX, AVM_TASK_SIZE, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(2), MM | AVM_MREMAP_DONTUNMAP, Y, &out), -EINVAL);
	ASSERT_EQ(avm_mremap(w, p, X, P(2), P(2), FX, X + P(1), &out), -EINVAL); /* overlap */
	ASSERT_EQ(avm_mremap(w, p, Y, P(1), P(2), MM, 0, &out), -EFAULT);      /* unmapped */
	ASSERT_EQ(avm_mremap(w, p, X + P(2), P(4), P(5), MM, 0, &out), -EFAULT); /* spans VMAs */
	ASSERT_EQ(avm_mremap(w, p, X, P(4), P(5), 0, 0, &out), -ENOMEM);  /* next is in the way */
	ASSERT_EQ(avm_mremap(w, p, X, 0, P(2), MM, 0, &out), -EINVAL);    /* private duplicate */
	ASSERT_EQ(avm_mremap(w, p, X + P(3), P(2), P(3), FX, Y, &out), -EFAULT); /* resizing across */
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_EQ(avm_mremap(w, p, X, P(1), P(1), 0, 0, &out), 0); /* same size: no-op */
	ASSERT_EQ(out, X);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.30: flag 8 is accepted only by the relocate policy. */
TEST(test_r7_30_relocate_flag_needs_policy)
{
	struct avm_config cfg;
	struct avm_world *w;
	unsigned long out;
	int p;

	avm_config_default(&cfg);
	cfg.policy = &avm_policy_relocate;
	w = avm_world_new(&cfg);
	p = avm_spawn(w);
	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 11));
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(2), FX | AVM_MREMAP_RELOCATE_ANON, Y, &out));
	ASSERT_EQ(out, Y);
	ASSERT_TRUE(page_is(w, p, Y, 11));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.7: shrink unmaps the tail, even across VMAs. */
TEST(test_r7_7_shrink)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	MMAP_FIXED(w, p, X + P(4), P(4), AVM_PROT_READ);
	ASSERT_OK(avm_mremap(w, p, X, P(6), P(1), 0, 0, &out));
	ASSERT_EQ(out, X);
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_EQ(avm_frames_used(w), 1);
	struct avm_vma_info vi;
	ASSERT_TRUE(test_vma_at(w, p, X + P(6), &vi));
	ASSERT_EQ(vi.start, X + P(6));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.8, R7.9: growth in place, absorbing a compatible next (three-way). */
TEST(test_r7_9_grow_in_place_merges_next)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_mm_info mi;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	MMAP_FIXED(w, p, X + P(4), P(2), RW);
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(4), 0, 0, &out));
	ASSERT_EQ(out, X);
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_EQ(avm_stats(w)->merge_new_both, 1);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.total_vm, 6);
	ASSERT_TRUE(page_is(w, p, X, 1));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.10: no room in place: moved (MAYMOVE) with contents and the old range gone. */
TEST(test_r7_10_grow_moves)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi;
	struct avm_mm_info mi;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(2), P(1), AVM_PROT_READ);
	ASSERT_OK(avm_write(w, p, X + P(1), 77));
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(8), MM, 0, &out));
	ASSERT_NE(out, X);
	ASSERT_TRUE(page_is(w, p, out + P(1), 77));
	ASSERT_TRUE(test_vma_at(w, p, out, &vi));
	ASSERT_EQ(vi.end, out + P(8));
	ASSERT_EQ(vi.pgoff, X >> 12); /* R7.12 */
	ASSERT_TRUE(vi.flags & AVM_VM_ACCOUNT);
	ASSERT_FALSE(test_vma_at(w, p, X, &vi));
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.total_vm, 9);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* A.10 / R7.26: a faulted VMA moved next to B does not merge; moving it back does. */
TEST(test_a10_faulted_move_keeps_pgoff)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi;
	struct avm_page_info pi;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(2), P(2), AVM_PROT_READ); /* keeps a neighbour at X */
	ASSERT_OK(avm_write(w, p, X, 5));
	MMAP_FIXED(w, p, Y + P(2), P(2), RW);
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(2), FX, Y, &out));
	ASSERT_EQ(out, Y);
	ASSERT_TRUE(test_vma_at(w, p, Y, &vi));
	ASSERT_EQ(vi.end, Y + P(2));
	ASSERT_EQ(vi.pgoff, X >> 12);
	ASSERT_OK(avm_page_info(w, p, Y, &pi));
	ASSERT_TRUE(pi.soft_dirty); /* R7.28 */
	ASSERT_EQ(pi.index, X >> 12);
	/* Back home: pgoff lines up with X again and the RW neighbour merges... */
	MMAP_FIXED(w, p, X - P(2), P(2), RW);
	ASSERT_OK(avm_mremap(w, p, Y, P(2), P(2), FX, X, &out));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.start, X - P(2));
	ASSERT_EQ(vi.end, X + P(2));
	ASSERT_TRUE(page_is(w, p, X, 5));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* A.11 / R7.27: an unfaulted VMA gets pgoff Y>>12 and merges with B. */
TEST(test_a11_unfaulted_move_merges)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, Y + P(2), P(2), RW);
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(2), FX, Y, &out));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_TRUE(test_vma_at(w, p, Y, &vi));
	ASSERT_EQ(vi.end, Y + P(4));
	ASSERT_EQ(vi.pgoff, Y >> 12);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R4.20 (fixed): a faulted VMA moved back next to an unfaulted neighbour
 * whose pgoff lines up merges into it (R4.5 case 1); the neighbour takes
 * the source's anon_vma so the moved pages stay findable (I3).
 *
 *   AABB -> AA..  BB at Y -> AABB again: one VMA
 */
TEST(test_r4_20_copy_merge_gives_anon_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi, src;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_madvise(w, p, X + P(2), P(2), AVM_MADV_RANDOM));
	ASSERT_OK(avm_write(w, p, X + P(2), 3));
	ASSERT_OK(avm_mremap(w, p, X + P(2), P(2), P(2), FX, Y, &out));
	ASSERT_OK(avm_madvise(w, p, Y, P(2), AVM_MADV_NORMAL));
	ASSERT_TRUE(test_vma_at(w, p, Y, &src));
	ASSERT_NE(src.anon_vma, 0);
	ASSERT_OK(avm_mremap(w, p, Y, P(2), P(2), FX, X + P(2), &out));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.end, X + P(4));
	ASSERT_EQ(vi.anon_vma, src.anon_vma);
	ASSERT_TRUE(page_is(w, p, X + P(2), 3));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.18, R7.19: DONTUNMAP keeps the old VMA, unfaulted, VM_ACCOUNT kept, unlocked. */
TEST(test_r7_18_dontunmap)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_mlock(w, p, X, P(2), 0));
	ASSERT_OK(avm_write(w, p, X, 8));
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(2), MM | AVM_MREMAP_DONTUNMAP, 0, &out));
	ASSERT_NE(out, X);
	ASSERT_TRUE(page_is(w, p, out, 8));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.anon_vma, 0);
	ASSERT_EQ(vi.chain_len, 0);
	ASSERT_EQ(vi.pgoff, X >> 12);
	ASSERT_TRUE(vi.flags & AVM_VM_ACCOUNT);
	ASSERT_FALSE(vi.flags & AVM_VM_LOCKED);
	ASSERT_TRUE(test_vma_at(w, p, out, &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_LOCKED);
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_EQ(v, 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.20: a same-size FIXED move over two VMAs and a hole keeps the gap. */
TEST(test_r7_20_multi_vma_move)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(3), P(2), AVM_PROT_READ);
	ASSERT_OK(avm_write(w, p, X + P(1), 4));
	ASSERT_OK(avm_mremap(w, p, X + P(1), P(4), P(4), FX, Y, &out));
	ASSERT_EQ(out, Y);
	ASSERT_TRUE(page_is(w, p, Y, 4));
	ASSERT_TRUE(test_vma_at(w, p, Y, &vi));
	ASSERT_EQ(vi.end, Y + P(1));
	ASSERT_TRUE(test_vma_at(w, p, Y + P(2), &vi));
	ASSERT_EQ(vi.start, Y + P(2));
	ASSERT_EQ(vi.end, Y + P(4));
	ASSERT_EQ(test_nr_vmas(w, p), 4 - 1); /* [X,X+p), Y piece, Y+2p piece */
	/* The first byte must be mapped. */
	ASSERT_EQ(avm_mremap(w, p, X + P(1), P(2), P(2), FX, Y + P(16), &out), -EFAULT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.4 / R7.15: a move needs map_count <= max - 6. */
TEST(test_r7_24_map_count_limits)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	const unsigned long m = 16;

	avm_set_max_map_count(w, m);
	for (unsigned long i = 0; i < m - 5; i++)
		MMAP_FIXED(w, p, X + P(4 * i), P(2), (i & 1) ? RW : AVM_PROT_READ);
	ASSERT_EQ(avm_mremap(w, p, X, P(2), P(2), FX, Y, &out), -ENOMEM);
	ASSERT_OK(avm_munmap(w, p, X + P(4), P(2)));
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(2), FX, Y, &out));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.14 + STYLE 13: walk a fault over every allocation of an mremap move. */
TEST(test_r7_14_mremap_fault_injection)
{
	/* variant 0: move, 1: DONTUNMAP, 2: RELOCATE_ANON next to a faulted VMA */
	for (int variant = 0; variant < 3; variant++) {
		for (unsigned long n = 1;; n++) {
			struct avm_config cfg;
			struct avm_world *w;
			int p, ret, extra = 0;
			unsigned long out;

			avm_config_default(&cfg);
			if (variant == 2) {
				cfg.policy = &avm_policy_relocate;
				extra = AVM_MREMAP_RELOCATE_ANON;
			} else if (variant == 1) {
				extra = AVM_MREMAP_DONTUNMAP;
			}
			w = avm_world_new(&cfg);
			p = avm_spawn(w);
			MMAP_FIXED(w, p, X, P(8), RW);
			ASSERT_OK(avm_touch(w, p, X, P(8), true));
			ASSERT_OK(avm_write(w, p, X + P(3), 33));
			MMAP_FIXED(w, p, Y + P(60), P(4), RW);
			ASSERT_OK(avm_touch(w, p, Y + P(60), P(4), true));
			avm_fault_inject(w, n);
			ret = avm_mremap(w, p, X + P(2), P(4), P(4), FX | extra, Y + P(64), &out);
			avm_fault_inject(w, 0);
			VALIDATE(w);
			if (ret == 0) {
				ASSERT_TRUE(page_is(w, p, Y + P(65), 33));
				avm_world_free(w);
				break;
			}
			ASSERT_EQ(ret, -ENOMEM);
			/* The content is at one of the two places. */
			ASSERT_TRUE(page_is(w, p, X + P(3), 33) || page_is(w, p, Y + P(65), 33));
			avm_world_free(w);
			ASSERT_TRUE(n < 1000);
		}
	}
	return true;
}

static struct avm_world *world_relocate(void)
{
	struct avm_config cfg;

	avm_config_default(&cfg);
	cfg.policy = &avm_policy_relocate;
	return avm_world_new(&cfg);
}

/*
 * R7.30 / R15.1 (policy relocate-anon): a faulted VMA moved next to a
 * faulted neighbour takes the neighbour's pgoff and anon_vma and merges;
 * without the flag it stays separate (R7.26).
 *
 *   AAAA....  BB at Y  ->  AAAABB
 */
TEST(test_r7_30_relocate_anon_merges_faulted)
{
	for (int flag = 0; flag < 2; flag++) {
		struct avm_world *w = world_relocate();
		int p = avm_spawn(w);
		unsigned long out;
		struct avm_vma_info a, vi;
		struct avm_page_info pi;

		MMAP_FIXED(w, p, X, P(4), RW);
		ASSERT_OK(avm_touch(w, p, X, P(4), true));
		MMAP_FIXED(w, p, Y, P(3), RW);
		ASSERT_OK(avm_write(w, p, Y, 21));
		ASSERT_OK(avm_write(w, p, Y + P(1), 22));
		ASSERT_OK(avm_madvise(w, p, Y + P(2), P(1), AVM_MADV_GUARD_INSTALL));
		ASSERT_TRUE(test_vma_at(w, p, X, &a));
		ASSERT_OK(avm_mremap(w, p, Y, P(3), P(3),
				     FX | (flag ? AVM_MREMAP_RELOCATE_ANON : 0), X + P(4), &out));
		ASSERT_EQ(out, X + P(4));
		ASSERT_EQ(test_nr_vmas(w, p), flag ? 1 : 2);
		ASSERT_TRUE(test_vma_at(w, p, X + P(4), &vi));
		if (flag) {
			ASSERT_EQ(vi.start, X);
			ASSERT_EQ(vi.end, X + P(7));
			ASSERT_EQ(vi.anon_vma, a.anon_vma);
			ASSERT_OK(avm_page_info(w, p, X + P(5), &pi));
			ASSERT_EQ(pi.index, (X >> 12) + 5);
			ASSERT_EQ(pi.anon_vma, a.anon_vma);
		} else {
			ASSERT_EQ(vi.pgoff, Y >> 12);
		}
		ASSERT_TRUE(page_is(w, p, X + P(4), 21));
		ASSERT_TRUE(page_is(w, p, X + P(5), 22));
		ASSERT_OK(avm_page_info(w, p, X + P(6), &pi));
		ASSERT_EQ(pi.state, AVM_PAGE_GUARD);
		VALIDATE(w);
		avm_world_free(w);
	}
	return true;
}

/* R7.30: shared pages (after fork) are not relocated: an ordinary move. */
TEST(test_r7_30_relocate_anon_refuses_shared_pages)
{
	struct avm_world *w = world_relocate();
	int p = avm_spawn(w), c;
	unsigned long out;
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	MMAP_FIXED(w, p, Y, P(2), RW);
	ASSERT_OK(avm_write(w, p, Y, 1));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_OK(avm_mremap(w, c, Y, P(2), P(2), FX | AVM_MREMAP_RELOCATE_ANON, X + P(4), &out));
	ASSERT_EQ(test_nr_vmas(w, c), 2);
	ASSERT_TRUE(test_vma_at(w, c, X + P(4), &vi));
	ASSERT_EQ(vi.pgoff, Y >> 12);
	ASSERT_TRUE(page_is(w, c, X + P(4), 1));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R7.30: an exclusive range moved to empty space gets pgoff new_addr>>12 and then
 * merges with a later mmap next to it, like a never-moved VMA (R2.5). */
TEST(test_r7_30_relocate_anon_resets_pgoff)
{
	struct avm_world *w = world_relocate();
	int p = avm_spawn(w);
	unsigned long out;
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	ASSERT_OK(avm_mremap(w, p, X + P(1), P(2), P(2), FX | AVM_MREMAP_RELOCATE_ANON, Y, &out));
	ASSERT_EQ(test_nr_vmas(w, p), 3);
	ASSERT_TRUE(test_vma_at(w, p, Y, &vi));
	ASSERT_EQ(vi.pgoff, Y >> 12);
	MMAP_FIXED(w, p, Y + P(2), P(2), RW);
	ASSERT_EQ(test_nr_vmas(w, p), 3);
	ASSERT_TRUE(test_vma_at(w, p, Y, &vi));
	ASSERT_EQ(vi.end, Y + P(4));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
