/*
 * test_swap.c - swap slots, the swap cache and do_swap_page (spec §8.4,
 * §9.4, §11.5, A.12).
 *
 * Layouts: one character per page at X.  S = swapped, P = present.
 */
#include "test.h"

static struct avm_world *world_swap(bool synchronous)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.swap_slots = 64;
	cfg.swap_synchronous = synchronous;
	return avm_world_new(&cfg);
}

static bool page(struct avm_world *w, int pid, unsigned long addr, struct avm_page_info *pi)
{
	return avm_page_info(w, pid, addr, pi) == 0;
}

/* R8.16, R8.17, A.12: an exclusive swap entry comes back exclusive and
 * writable on a read fault, outside the swap cache on zram. */
TEST(test_r8_16_exclusive_entry_read_maps_writable_a12)
{
	struct avm_world *w = world_swap(true);
	struct avm_page_info pi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0xdead));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_TRUE(pi.swp_exclusive);
	ASSERT_EQ(avm_swap_used(w), 1);
	ASSERT_EQ(avm_frames_used(w), 0);

	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0xdead);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_TRUE(pi.writable); /* R8.17: no second fault for the write */
	ASSERT_FALSE(pi.swapcache); /* zram: the cache was skipped */
	ASSERT_EQ(pi.refcount, 1);
	ASSERT_EQ(avm_swap_used(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* host-kernel.md: from a swapfile the folio stays in the swap cache. */
TEST(test_r8_19_swapfile_keeps_swap_cache)
{
	struct avm_world *w = world_swap(false);
	struct avm_page_info pi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 7));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 7);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_TRUE(pi.swapcache);
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_TRUE(pi.writable); /* exclusive entry: R8.17 */
	ASSERT_EQ(pi.refcount, 2);
	ASSERT_EQ(avm_swap_used(w), 1); /* the cache holds the slot */
	unsigned long pfn = pi.pfn;

	/* The write reuses the page in place; the slot stays with the cache. */
	ASSERT_OK(avm_write(w, pid, X, 8));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.pfn, pfn);
	ASSERT_OK(avm_munmap(w, pid, X, P(1)));
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_EQ(avm_frames_used(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R8.19: a write fault on a swapfile entry frees the cache copy. */
TEST(test_r8_19_write_fault_frees_swap_cache)
{
	struct avm_world *w = world_swap(false);
	struct avm_page_info pi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 7));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_OK(avm_write(w, pid, X, 9));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_FALSE(pi.swapcache);
	ASSERT_TRUE(pi.writable);
	ASSERT_TRUE(pi.dirty);
	ASSERT_EQ(pi.content, 9);
	ASSERT_EQ(avm_swap_used(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R9.13: fork clears the exclusive bit in parent and child. */
TEST(test_r9_13_fork_clears_swap_exclusive_bit)
{
	struct avm_world *w = world_swap(true);
	struct avm_page_info pi, ci;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_TRUE(page(w, child, X, &ci));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_EQ(ci.state, AVM_PAGE_SWAP);
	ASSERT_FALSE(pi.swp_exclusive);
	ASSERT_FALSE(ci.swp_exclusive);
	ASSERT_EQ(pi.swap_slot, ci.swap_slot);
	ASSERT_EQ(w->swap_map[pi.swap_slot], 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R8.17, A.12: after fork the first process to fault maps the page
 * read-only (count 2 goes through the cache, refcount includes it); its
 * first write copies (R8.10: the child's swap PTE keeps the cache).
 */
TEST(test_r8_17_shared_entry_read_maps_readonly_then_copy)
{
	struct avm_world *w = world_swap(true);
	struct avm_page_info pi, ci;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0xabc));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);

	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0xabc);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_FALSE(pi.writable);
	ASSERT_FALSE(pi.anon_exclusive);
	ASSERT_TRUE(pi.swapcache);
	ASSERT_EQ(pi.mapcount, 1);
	ASSERT_EQ(pi.refcount, 2);
	unsigned long old = pi.pfn;

	/* R8.20 via the wp path: refcount 2, cache not freeable -> copy. */
	ASSERT_OK(avm_write(w, pid, X, 0x111));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_NE(pi.pfn, old);
	ASSERT_TRUE(pi.anon_exclusive);

	/* The child finds the cached frame; its entry was not exclusive. */
	ASSERT_OK(avm_read(w, child, X, &v));
	ASSERT_EQ(v, 0xabc);
	ASSERT_TRUE(page(w, child, X, &ci));
	ASSERT_EQ(ci.pfn, old);
	/* Only the child's PTE and the cache hold it: not writable, R8.17. */
	ASSERT_FALSE(ci.writable);
	/* Child writes: the swap count is 0 now, the cache goes, the page is reused. */
	ASSERT_OK(avm_write(w, child, X, 0x222));
	ASSERT_TRUE(page(w, child, X, &ci));
	ASSERT_EQ(ci.pfn, old);
	ASSERT_FALSE(ci.swapcache);
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x111);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R8.20: a write fault on a shared swap entry ends writable in one call. */
TEST(test_r8_20_write_fault_on_shared_entry_gets_writable)
{
	struct avm_world *w = world_swap(true);
	struct avm_page_info pi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 5));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_write(w, child, X, 6));
	ASSERT_TRUE(page(w, child, X, &pi));
	ASSERT_TRUE(pi.writable);
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_EQ(pi.content, 6);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 5);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* An injected slot-allocation failure leaves the page present and valid. */
TEST(test_swap_alloc_injected_failure)
{
	struct avm_world *w = world_swap(true);
	struct avm_page_info pi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 3));
	avm_fault_inject(w, 1);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	avm_fault_inject(w, 0);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(pi.content, 3);
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_EQ(pi.swap_slot, 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* No swap device: swap_alloc fails, MADV_PAGEOUT leaves pages present. */
TEST(test_swap_none_pageout_no_effect)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.swap_slots = 0;
	struct avm_world *w = avm_world_new(&cfg);
	struct avm_page_info pi;
	unsigned long slot, got = 99;
	int pid = avm_spawn(w);

	ASSERT_EQ(swap_alloc(w, &slot), -ENOMEM);
	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(avm_reclaim(w, 1, &got), -ENOMEM);
	ASSERT_EQ(got, 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * A.12 across fork: reclaim every frame, then every page of both processes
 * reads back what was written, both before and after further writes.
 *
 *   parent  PPPPPPPP (8 pages written 0x100+i, then fork)
 *   child   writes pages 0..3 (copies), parent writes 4..5
 */
TEST(test_a12_reclaim_all_reads_back_across_fork)
{
	struct avm_world *w = world_swap(true);
	unsigned long got = 0;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(8), RW);
	for (int i = 0; i < 8; i++)
		ASSERT_OK(avm_write(w, pid, X + P(i), 0x100 + i));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	for (int i = 0; i < 4; i++)
		ASSERT_OK(avm_write(w, child, X + P(i), 0x200 + i));
	for (int i = 4; i < 6; i++)
		ASSERT_OK(avm_write(w, pid, X + P(i), 0x300 + i));

	/* Two sweeps: the first clears young bits (second chance). */
	ASSERT_OK(avm_reclaim(w, 1000, &got));
	ASSERT_EQ(got, 14); /* 8 originals, 4 child copies, 2 parent copies */
	ASSERT_EQ(avm_frames_used(w), 0);
	for (int i = 0; i < 8; i++) {
		struct avm_page_info a, b;
		ASSERT_TRUE(page(w, pid, X + P(i), &a));
		ASSERT_TRUE(page(w, child, X + P(i), &b));
		ASSERT_EQ(a.state, AVM_PAGE_SWAP);
		ASSERT_EQ(b.state, AVM_PAGE_SWAP);
		/* R11.7: shared pages 6, 7 share a slot, non-exclusive in both. */
		if (i >= 6) {
			ASSERT_EQ(a.swap_slot, b.swap_slot);
			ASSERT_FALSE(a.swp_exclusive);
			ASSERT_FALSE(b.swp_exclusive);
		} else {
			ASSERT_NE(a.swap_slot, b.swap_slot);
		}
	}
	VALIDATE(w);
	for (int i = 0; i < 8; i++) {
		uint64_t pe = i >= 4 && i < 6 ? 0x300u + i : 0x100u + i;
		uint64_t ce = i < 4 ? 0x200u + i : 0x100u + i;
		ASSERT_OK(avm_read(w, pid, X + P(i), &v));
		ASSERT_EQ(v, pe);
		ASSERT_OK(avm_read(w, child, X + P(i), &v));
		ASSERT_EQ(v, ce);
	}
	/* Writes after swap-in stay private to each side. */
	for (int i = 0; i < 8; i++)
		ASSERT_OK(avm_write(w, child, X + P(i), 0x900 + i));
	for (int i = 0; i < 8; i++) {
		uint64_t pe = i >= 4 && i < 6 ? 0x300u + i : 0x100u + i;
		ASSERT_OK(avm_read(w, pid, X + P(i), &v));
		ASSERT_EQ(v, pe);
	}
	/* Round two, then exit both: nothing leaks. */
	ASSERT_OK(avm_reclaim(w, 1000, &got));
	ASSERT_OK(avm_read(w, child, X + P(7), &v));
	ASSERT_EQ(v, 0x907);
	ASSERT_OK(avm_exit(w, child));
	ASSERT_OK(avm_exit(w, pid));
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_EQ(avm_frames_used(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* The same round trip through a swapfile (swap cache kept on swap-in). */
TEST(test_a12_reclaim_all_reads_back_swapfile)
{
	struct avm_world *w = world_swap(false);
	unsigned long got = 0;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(6), RW);
	for (int i = 0; i < 6; i++)
		ASSERT_OK(avm_write(w, pid, X + P(i), 0x40 + i));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_write(w, child, X, 0x77));
	/* The first call writes (asynchronously), the second frees. */
	ASSERT_OK(avm_reclaim(w, 1000, &got));
	ASSERT_EQ(got, 0);
	ASSERT_EQ(avm_frames_used(w), 7);
	struct avm_page_info pi;
	ASSERT_OK(avm_page_info(w, pid, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_OK(avm_reclaim(w, 1000, &got));
	ASSERT_EQ(got, 7);
	ASSERT_EQ(avm_frames_used(w), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 6; i++) {
			ASSERT_OK(avm_read(w, pid, X + P(i), &v));
			ASSERT_EQ(v, 0x40u + i);
			ASSERT_OK(avm_read(w, child, X + P(i), &v));
			ASSERT_EQ(v, i == 0 ? 0x77u : 0x40u + i);
		}
		ASSERT_OK(avm_reclaim(w, 1000, &got));
	}
	ASSERT_OK(avm_exit(w, child));
	ASSERT_OK(avm_exit(w, pid));
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_EQ(avm_frames_used(w), 0);
	avm_world_free(w);
	return true;
}

/*
 * R8.15: with a swapfile the write completes asynchronously, so the folio
 * waits in the swap cache, unmapped, until a later reclaim pass; a swap-in
 * before that gets the very same frame back.  zram frees it at once.
 */
TEST(test_r8_15_swapfile_pageout_keeps_frame_until_next_pass)
{
	struct avm_world *w = world_swap(false);
	struct avm_page_info pi;
	unsigned long got;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x61));
	ASSERT_OK(avm_write(w, pid, X + P(1), 0x62));
	ASSERT_TRUE(page(w, pid, X, &pi));
	unsigned long pfn = pi.pfn;
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_EQ(avm_stats(w)->swap_out, 2);
	ASSERT_EQ(avm_frames_used(w), 2);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x61);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.pfn, pfn);
	ASSERT_TRUE(pi.swapcache);
	ASSERT_EQ(avm_stats(w)->swap_in, 0); /* no read from the device */
	/* The other one is freed by the next pass, then read from swap. */
	ASSERT_OK(avm_reclaim(w, 1, &got));
	ASSERT_EQ(got, 1);
	ASSERT_EQ(avm_frames_used(w), 1);
	ASSERT_OK(avm_read(w, pid, X + P(1), &v));
	ASSERT_EQ(v, 0x62);
	ASSERT_EQ(avm_stats(w)->swap_in, 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* STYLE 13: a swap-in whose frame allocation fails changes nothing. */
TEST(test_r8_15_swapin_alloc_failure_leaves_entry)
{
	struct avm_world *w = world_swap(true);
	struct avm_page_info pi;
	uint64_t v = 0;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x5a));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	avm_fault_inject(w, 1);
	ASSERT_EQ(avm_read(w, pid, X, &v), -ENOMEM);
	avm_fault_inject(w, 0);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_TRUE(pi.swp_exclusive);
	ASSERT_EQ(avm_swap_used(w), 1);
	VALIDATE(w);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x5a);
	avm_world_free(w);
	return true;
}
