/*
 * test_reclaim.c - try_to_unmap, folio_referenced, MADV_PAGEOUT / COLD /
 * FREE and the global clock (spec §11.2, §11.3, §13.2).
 */
#include "test.h"

static bool page(struct avm_world *w, int pid, unsigned long addr, struct avm_page_info *pi)
{
	return avm_page_info(w, pid, addr, pi) == 0;
}

/* R11.6: a pinned exclusive page is not swapped; the PTE is restored. */
TEST(test_r11_6_pinned_page_not_swapped)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	int handle;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x11));
	ASSERT_OK(avm_write(w, pid, X + P(1), 0x22));
	ASSERT_OK(avm_pin(w, pid, X, 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &handle));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_TRUE(pi.writable);
	ASSERT_EQ(pi.content, 0x11);
	ASSERT_TRUE(page(w, pid, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP); /* the unpinned neighbour went */
	ASSERT_TRUE(pi.swp_exclusive);
	/* DMA through the pin still reaches the mapped page. */
	ASSERT_OK(avm_pin_write(w, handle, 0, 0x33));
	uint64_t v;
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x33);
	ASSERT_OK(avm_unpin(w, handle));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x33);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R11.6: a plain (FOLL_GET) reference does not stop the unmap; the frame
 * stays in the swap cache and the swap-in finds it there. */
TEST(test_r11_6_referenced_page_unmapped_kept_in_cache)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	uint64_t v;
	int handle;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x5));
	ASSERT_TRUE(page(w, pid, X, &pi));
	unsigned long pfn = pi.pfn;
	ASSERT_OK(avm_get_ref(w, pid, X, 1, &handle));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_TRUE(pi.swp_exclusive);
	ASSERT_EQ(avm_frames_used(w), 1); /* still in the swap cache */
	ASSERT_OK(avm_pin_read(w, handle, 0, &v));
	ASSERT_EQ(v, 0x5);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x5);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.pfn, pfn); /* the swap cache hit brought the same frame back */
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_OK(avm_unpin(w, handle));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R11.6: VM_LOCKED refuses; MADV_PAGEOUT on it is -EINVAL (R13.6). */
TEST(test_r13_6_pageout_locked_vma_einval)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	ASSERT_OK(avm_mlock(w, pid, X, P(1), 0));
	ASSERT_EQ(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT), -EINVAL);
	ASSERT_EQ(avm_madvise(w, pid, X, P(1), AVM_MADV_COLD), -EINVAL);
	ASSERT_EQ(avm_madvise(w, pid, X, P(1), AVM_MADV_FREE), -EINVAL);
	unsigned long got = 9;
	ASSERT_OK(avm_reclaim(w, 10, &got));
	ASSERT_EQ(got, 0);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.6 (host): MADV_PAGEOUT skips pages mapped by more than one process. */
TEST(test_r13_6_pageout_skips_shared_pages)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	ASSERT_OK(avm_write(w, pid, X + P(1), 2));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_write(w, pid, X + P(1), 3)); /* now private again */
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(pi.mapcount, 2);
	ASSERT_TRUE(page(w, pid, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	/* The child's now-private page goes too, from the child's side. */
	ASSERT_OK(avm_madvise(w, child, X + P(1), P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, child, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_FALSE(pi.swp_exclusive); /* left non-exclusive by the fork, R11.7 */
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R11.7: global reclaim swaps a shared page out of every process. */
TEST(test_r11_7_shared_page_gets_entry_in_each_process)
{
	struct avm_world *w = test_world();
	struct avm_page_info a, b;
	unsigned long got;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_write(w, pid, X + P(1), 2)); /* exclusive to the parent */
	ASSERT_OK(avm_reclaim(w, 100, &got));
	ASSERT_EQ(got, 2);
	ASSERT_TRUE(page(w, pid, X, &a));
	ASSERT_TRUE(page(w, child, X, &b));
	ASSERT_EQ(a.state, AVM_PAGE_SWAP);
	ASSERT_EQ(b.state, AVM_PAGE_SWAP);
	ASSERT_EQ(a.swap_slot, b.swap_slot);
	ASSERT_FALSE(a.swp_exclusive);
	ASSERT_FALSE(b.swp_exclusive);
	ASSERT_TRUE(page(w, pid, X + P(1), &a));
	ASSERT_EQ(a.state, AVM_PAGE_SWAP);
	ASSERT_TRUE(a.swp_exclusive);
	struct avm_mm_info mi;
	ASSERT_OK(avm_mm_info(w, pid, &mi));
	ASSERT_EQ(mi.swapents, 2);
	ASSERT_EQ(mi.rss_anon, 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.4, R11.6: a clean lazy-free page is discarded; reads then give 0. */
TEST(test_r13_4_lazyfree_clean_page_discarded)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x99));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_FREE));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_TRUE(pi.lazyfree);
	ASSERT_FALSE(pi.dirty);
	ASSERT_EQ(pi.content, 0x99); /* still readable until reclaim */
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_EQ(avm_frames_used(w), 0);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.4, R11.6: written after MADV_FREE, the page is kept and swap-backed. */
TEST(test_r13_4_lazyfree_redirtied_page_kept)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long got;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x99));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_FREE));
	ASSERT_OK(avm_write(w, pid, X, 0x98));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_COLD)); /* clears young only */
	ASSERT_OK(avm_reclaim(w, 1, &got));
	ASSERT_EQ(got, 0);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_FALSE(pi.lazyfree);
	ASSERT_EQ(pi.content, 0x98);
	/* Ordinary again: the next pageout swaps it. */
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.4: MADV_FREE drops swap entries at once. */
TEST(test_r13_4_madv_free_drops_swap_entries)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	ASSERT_OK(avm_write(w, pid, X + P(1), 2));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_EQ(avm_swap_used(w), 2);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_FREE));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_EQ(avm_swap_used(w), 1);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0);
	ASSERT_OK(avm_read(w, pid, X + P(1), &v));
	ASSERT_EQ(v, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.4: shared (after fork), clean pages are marked lazy-free too; the
 * child's dirty PTE then stops the discard and makes it swap-backed again. */
TEST(test_r13_4_lazyfree_shared_page_redirtied_by_other_mapping)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long got;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x42));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_FREE));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_TRUE(pi.lazyfree);
	ASSERT_OK(avm_reclaim(w, 10, &got));
	ASSERT_OK(avm_read(w, child, X, &v));
	ASSERT_EQ(v, 0x42);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.6: MADV_COLD clears accessed bits of private pages only. */
TEST(test_r13_6_cold_clears_young)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	ASSERT_OK(avm_write(w, pid, X + P(1), 2));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_write(w, pid, X + P(1), 3));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_COLD));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_TRUE(pi.young); /* shared with the child: skipped */
	ASSERT_TRUE(page(w, pid, X + P(1), &pi));
	ASSERT_FALSE(pi.young);
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R11.8: folio_referenced counts and clears young PTEs of every mapping. */
TEST(test_r11_8_referenced_counts_and_clears_young)
{
	struct avm_world *w = test_world();
	uint64_t v;
	int young = -1;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 1));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	/* R9.9: the child's PTE starts old. */
	ASSERT_OK(avm_referenced(w, pid, X, &young));
	ASSERT_EQ(young, 1);
	ASSERT_OK(avm_referenced(w, pid, X, &young));
	ASSERT_EQ(young, 0);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_OK(avm_read(w, child, X, &v));
	ASSERT_OK(avm_referenced(w, child, X, &young));
	ASSERT_EQ(young, 2);
	ASSERT_EQ(avm_referenced(w, pid, X + P(5), &young), -EFAULT);
	ASSERT_EQ(avm_referenced(w, 999, X, &young), -ESRCH);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* The clock gives young frames a second chance and takes old ones first. */
TEST(test_reclaim_clock_second_chance)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long got;
	int young;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(3), RW);
	for (int i = 0; i < 3; i++)
		ASSERT_OK(avm_write(w, pid, X + P(i), 10 + i));
	/* Age page 1 only: it is the one taken when one frame is asked for. */
	ASSERT_OK(avm_referenced(w, pid, X + P(1), &young));
	ASSERT_OK(avm_reclaim(w, 1, &got));
	ASSERT_EQ(got, 1);
	ASSERT_TRUE(page(w, pid, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_FALSE(pi.young); /* its chance was used */
	ASSERT_OK(avm_reclaim(w, 5, &got));
	ASSERT_EQ(got, 2);
	ASSERT_EQ(avm_frames_used(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* Shared anonymous (shmem) pages are left alone by pageout (model limit). */
/*
 * R13.6 / R11.6 (host): MADV_PAGEOUT writes a shmem page mapped only by the
 * caller to swap; the PTE is simply cleared (shmem keeps the swap entry in
 * its page cache) and a fault reads it back.
 */
TEST(test_r13_6_pageout_shmem_swaps_out)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long out;
	uint64_t v;
	int pid = avm_spawn(w);

	ASSERT_OK(avm_mmap(w, pid, X, P(1), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_write(w, pid, X, 1));
	unsigned long used = avm_frames_used(w);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_EQ(avm_frames_used(w), used - 1);
	ASSERT_EQ(avm_swap_used(w), 1);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 1);
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_EQ(avm_madvise(w, pid, X, P(1), AVM_MADV_FREE), -EINVAL);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
