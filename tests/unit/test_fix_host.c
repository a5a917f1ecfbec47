/*
 * test_fix_host.c - behaviours the host kernel (6.18.44) showed where the
 * model diverged (tests/scenarios/regress/host-*.avm), one test per rule.
 */
#include "test.h"

static bool page(struct avm_world *w, int pid, unsigned long addr, struct avm_page_info *pi)
{
	return avm_page_info(w, pid, addr, pi) == 0;
}

/* R11.6 / R10.3: a maybe-pinned anon folio never enters the swap cache. */
TEST(test_r11_6_pageout_skips_pinned_before_add_to_swap)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	int handle;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_pin(w, pid, X + P(1), 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &handle));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_FALSE(pi.swapcache);
	ASSERT_OK(avm_unpin(w, handle));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

static unsigned int mlock_count_at(struct avm_world *w, int pid, unsigned long addr)
{
	struct avm_page_info pi;

	if (!page(w, pid, addr, &pi) || pi.state != AVM_PAGE_PRESENT)
		return 0xdead;
	const struct avm_frame *f = frame(w, pi.pfn);
	return (f->flags & FRAME_MLOCKED) ? frame_mlock_count(f) : 0;
}

/*
 * R13.2 / R7.18: MREMAP_DONTUNMAP clears VM_LOCKED on the source but does
 * not munlock the folios left there: MADV_PAGEOUT cannot evict them.
 */
TEST(test_r13_2_dontunmap_leaves_folios_mlocked)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long out;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(3), RW);
	ASSERT_OK(avm_mlock(w, pid, X, P(3), 0));
	ASSERT_EQ(mlock_count_at(w, pid, X), 1);
	ASSERT_OK(avm_mremap(w, pid, X + P(2), P(1), P(1),
			     AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED | AVM_MREMAP_DONTUNMAP,
			     X + P(10), &out));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_FALSE(pi.swapcache);
	/* The pageout isolated and put it back: mlock_count 0, still mlocked. */
	ASSERT_TRUE(frame(w, pi.pfn)->flags & FRAME_MLOCKED);
	/* munlock of an unlocked VMA changes no flags: nothing is walked. */
	ASSERT_OK(avm_munlock(w, pid, X, P(2)));
	ASSERT_TRUE(frame(w, pi.pfn)->flags & FRAME_MLOCKED);
	/* mlock + munlock walk the pages: the count goes 0 -> 1 -> 0, unlocked. */
	ASSERT_OK(avm_mlock(w, pid, X, P(2), 0));
	ASSERT_EQ(mlock_count_at(w, pid, X), 1);
	ASSERT_OK(avm_munlock(w, pid, X, P(2)));
	ASSERT_FALSE(frame(w, pi.pfn)->flags & FRAME_MLOCKED);
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R13.2: mlock_count.  A folio mlocked again by a second mlock walk (here
 * after DONTUNMAP left it mlocked) survives one munlock.
 */
TEST(test_r13_2_mlock_count_survives_one_munlock)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long out;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_mlock(w, pid, X, P(2), 0));
	ASSERT_OK(avm_mremap(w, pid, X + P(1), P(1), P(1),
			     AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED | AVM_MREMAP_DONTUNMAP,
			     X + P(10), &out));
	ASSERT_OK(avm_mlock(w, pid, X, P(1), 0));
	ASSERT_EQ(mlock_count_at(w, pid, X), 2);
	ASSERT_OK(avm_munlock(w, pid, X, P(1)));
	ASSERT_EQ(mlock_count_at(w, pid, X), 1);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	/* The moved page: mapped in the new VM_LOCKED VMA, unmapped by munmap. */
	ASSERT_EQ(mlock_count_at(w, pid, X + P(10)), 1);
	ASSERT_OK(avm_munmap(w, pid, X + P(10), P(1)));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R13.2: COW in a VM_LOCKED VMA mlocks the copy and munlocks the original. */
TEST(test_r13_2_cow_in_locked_vma_moves_mlock)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_OK(avm_write(w, pid, X, 7));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_mlock(w, pid, X, P(1), 0)); /* populate breaks COW (write) */
	ASSERT_OK(avm_write(w, pid, X, 8));
	ASSERT_EQ(mlock_count_at(w, pid, X), 1);
	ASSERT_EQ(mlock_count_at(w, child, X), 0);
	ASSERT_OK(avm_madvise(w, child, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, child, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R13.12 / R4.4 / R9.4 (host 6.18.44, 6.19 rule): guard install sets
 * VM_MAYBE_GUARD on the whole VMA without a split; fork then copies the
 * page tables of a shared VMA, markers and mapped shmem pages included.
 */
TEST(test_r9_4_fork_copies_guarded_shared_vma)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	struct avm_vma_info vi;
	unsigned long out;
	int pid = avm_spawn(w);

	ASSERT_OK(avm_mmap(w, pid, X, P(4), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_write(w, pid, X + P(3), 5));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_GUARD_INSTALL));
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_TRUE(test_vma_at(w, pid, X, &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_MAYBE_GUARD);
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_TRUE(page(w, child, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_GUARD);
	ASSERT_TRUE(page(w, child, X + P(3), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(pi.mapcount, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R4.4 (host 6.18.44): VM_MAYBE_GUARD neither blocks a merge nor is lost by it. */
TEST(test_r4_4_maybe_guard_is_sticky_on_merge)
{
	struct avm_world *w = test_world();
	struct avm_vma_info vi;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), AVM_PROT_READ);
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_GUARD_INSTALL));
	/* Split off the second page, then join it back: the union survives. */
	ASSERT_OK(avm_mprotect(w, pid, X + P(1), P(1), RW));
	ASSERT_EQ(test_nr_vmas(w, pid), 2);
	ASSERT_TRUE(test_vma_at(w, pid, X + P(1), &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_MAYBE_GUARD);
	ASSERT_OK(avm_mprotect(w, pid, X, P(1), RW));
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_TRUE(test_vma_at(w, pid, X, &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_MAYBE_GUARD);
	/* A fresh unguarded neighbour merges into the guarded VMA. */
	MMAP_FIXED(w, pid, X + P(2), P(1), RW);
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_TRUE(test_vma_at(w, pid, X + P(2), &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_MAYBE_GUARD);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R4.21 / R7.11 (host 6.18.44): a DONTUNMAP move of an unfaulted VMA gets
 * the pgoff of its new address and may merge with the source VMA itself.
 */
TEST(test_r4_21_dontunmap_unfaulted_merges_with_source)
{
	struct avm_world *w = test_world();
	struct avm_vma_info vi;
	unsigned long out;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_mremap(w, pid, X + P(1), P(1), P(1),
			     AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED | AVM_MREMAP_DONTUNMAP, X, &out));
	ASSERT_EQ(out, X);
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_TRUE(test_vma_at(w, pid, X, &vi));
	ASSERT_EQ(vi.start, X);
	ASSERT_EQ(vi.end, X + P(2));
	ASSERT_EQ(vi.pgoff, X >> AVM_PAGE_SHIFT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R13 MADV_WILLNEED / R8.15: swap entries are read into the swap cache,
 * unmapped; the read fault that follows maps the cached folio, which stays
 * in the swap cache.
 */
TEST(test_r13_willneed_reads_swap_into_swapcache)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 0x11));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	unsigned long used = avm_frames_used(w);
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_WILLNEED));
	ASSERT_EQ(avm_frames_used(w), used + 1);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_NE(swapcache_lookup(w, pi.swap_slot), 0);
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_EQ(v, 0x11);
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_TRUE(pi.swapcache);
	ASSERT_EQ(avm_frames_used(w), used + 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R10.1 (host: vmsplice): references are taken in rounds; each round
 * starts with GUP-fast, which takes the present page of a !VM_READ VMA
 * where the previous round's slow path stopped.
 */
TEST(test_r10_1_ref_rounds_restart_with_gup_fast)
{
	struct avm_world *w = test_world();
	int handle;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(5), RW);
	for (int i = 0; i < 5; i++)
		ASSERT_OK(avm_write(w, pid, X + P(i), (uint64_t)i));
	ASSERT_OK(avm_madvise(w, pid, X + P(1), P(1), AVM_MADV_DONTNEED));
	ASSERT_OK(avm_mprotect(w, pid, X + P(3), P(2), AVM_PROT_WRITE));
	ASSERT_OK(avm_get_ref(w, pid, X, 5, &handle));
	ASSERT_OK(avm_unpin(w, handle));
	/* A write-only page that is not present stops every round: EFAULT. */
	ASSERT_OK(avm_madvise(w, pid, X + P(4), P(1), AVM_MADV_DONTNEED));
	ASSERT_EQ(avm_get_ref(w, pid, X, 5, &handle), -EFAULT);
	/* A pin (io_uring) is one call: the slow path's short count fails it. */
	ASSERT_OK(avm_write(w, pid, X + P(1), 1));
	ASSERT_OK(avm_madvise(w, pid, X, P(1), AVM_MADV_DONTNEED));
	ASSERT_EQ(avm_pin(w, pid, X, 4, 0, &handle), -EFAULT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R6.3 / R12 (host): should_fault_around() refuses only uffd-wp (and minor)
 * VMAs.  A read fault in a missing-registered shmem VMA maps the cached
 * neighbours first, then finds its own page absent.
 */
TEST(test_r12_shmem_fault_around_in_uffd_missing_vma)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long out;
	uint64_t v;
	int pid = avm_spawn(w);

	ASSERT_OK(avm_mmap(w, pid, X, P(4), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_write(w, pid, X + P(2), 9));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_uffd_register(w, child, X, P(4), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_NE(avm_read(w, child, X, &v), 0);
	ASSERT_TRUE(page(w, child, X + P(2), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(pi.mapcount, 2);
	ASSERT_TRUE(page(w, child, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R13.6 / R11.6 (host): shmem pageout details.  A clean (only read) page is
 * dropped from the page cache without swap; a pinned page is unmapped but
 * stays in the page cache; a page another process maps is left alone; a
 * swapped page punched by MADV_REMOVE gives its slot back.
 */
TEST(test_r13_6_pageout_shmem_clean_pinned_shared)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long out;
	uint64_t v;
	int handle;
	int pid = avm_spawn(w);

	ASSERT_OK(avm_mmap(w, pid, X, P(4), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_read(w, pid, X, &v));
	ASSERT_OK(avm_write(w, pid, X + P(1), 7));
	ASSERT_OK(avm_pin(w, pid, X + P(1), 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &handle));
	ASSERT_OK(avm_write(w, pid, X + P(2), 8));
	ASSERT_OK(avm_madvise(w, pid, X, P(2), AVM_MADV_PAGEOUT));
	ASSERT_EQ(avm_swap_used(w), 0);
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_read(w, child, X + P(2), &v)); /* maps page 2 (and faults around) */
	ASSERT_OK(avm_write(w, pid, X + P(3), 9));
	ASSERT_OK(avm_madvise(w, pid, X + P(2), P(2), AVM_MADV_PAGEOUT));
	ASSERT_EQ(avm_swap_used(w), 1); /* only page 3 was written out */
	ASSERT_TRUE(page(w, pid, X, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_TRUE(page(w, pid, X + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_TRUE(page(w, pid, X + P(2), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_OK(avm_pin_write(w, handle, 0, 17));
	ASSERT_OK(avm_read(w, pid, X + P(1), &v));
	ASSERT_EQ(v, 17); /* the pinned page was still in the page cache */
	ASSERT_OK(avm_unpin(w, handle));
	ASSERT_OK(avm_madvise(w, pid, X + P(3), P(1), AVM_MADV_REMOVE));
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_OK(avm_read(w, child, X + P(3), &v));
	ASSERT_EQ(v, 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R6.3 (host): do_read_fault() faults around before shmem_fault() checks
 * the object's end: a read (here GUP's) beyond the end fails with SIGBUS
 * (EFAULT for GUP) but maps the cached pages below the end first.
 */
TEST(test_r6_3_fault_around_before_sigbus_beyond_end)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	unsigned long out;
	uint64_t v;
	int handle;
	int pid = avm_spawn(w);

	ASSERT_OK(avm_mmap(w, pid, X, P(2), AVM_PROT_READ,
			   AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED, &out));
	ASSERT_OK(avm_mremap(w, pid, X, P(2), P(4), AVM_MREMAP_MAYMOVE, 0, &out));
	unsigned long a = out;
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(avm_read(w, child, a + P(1), &v));
	ASSERT_EQ(avm_get_ref(w, pid, a + P(3), 1, &handle), -EFAULT);
	ASSERT_TRUE(page(w, pid, a + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(pi.mapcount, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
