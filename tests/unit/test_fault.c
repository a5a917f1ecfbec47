/*
 * test_fault.c - faults, COW, fork page-table copy, zap and PTE moves
 * (fault.c, memory.c): spec §8, §9, Appendix A.
 *
 * One page at X unless drawn otherwise.
 */
#include "test.h"

#define Y 0x7f0000400000UL

static uint64_t pte_of(struct avm_world *w, int pid, unsigned long a)
{
	return pt_get(mm_find(w, pid), a);
}

static struct avm_frame *frame_of(struct avm_world *w, int pid, unsigned long a)
{
	uint64_t p = pte_of(w, pid, a);
	return pte_present(p) && !pte_zero(p) ? frame(w, pte_pfn(p)) : NULL;
}

static unsigned long pfn_of(struct avm_world *w, int pid, unsigned long a)
{
	uint64_t p = pte_of(w, pid, a);
	return pte_present(p) ? pte_pfn(p) : ~0UL;
}

static struct avm_vma *vma_of(struct avm_world *w, int pid, unsigned long a)
{
	return vma_lookup(mm_find(w, pid), a);
}

static uint64_t rd(struct avm_world *w, int pid, unsigned long a)
{
	uint64_t v = 0xbad;
	if (avm_read(w, pid, a, &v))
		return 0xbad;
	return v;
}

/* A.3, R8.5, R8.6: a write fault maps a new exclusive page, writable and dirty. */
TEST(test_a3_r8_6_write_fault_maps_exclusive_page)
{
	struct avm_world *w = test_world();
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_TRUE(vma_of(w, pid, X)->anon_vma == NULL);
	ASSERT_OK(avm_write(w, pid, X, 0xdead));
	uint64_t pte = pte_of(w, pid, X);
	ASSERT_TRUE(pte_present(pte) && pte_write(pte) && !pte_zero(pte));
	ASSERT_TRUE(pte & PTE_DIRTY);
	ASSERT_TRUE(pte & PTE_YOUNG);
	struct avm_frame *f = frame_of(w, pid, X);
	ASSERT_TRUE(f->flags & FRAME_ANON);
	ASSERT_TRUE(f->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_TRUE(f->flags & FRAME_SWAPBACKED);
	ASSERT_EQ(f->mapcount, 1);
	ASSERT_EQ(f->refcount, 1);
	ASSERT_TRUE(frame_mapping(w, f) == vma_of(w, pid, X)->anon_vma);
	ASSERT_EQ(frame_index(f), X >> AVM_PAGE_SHIFT);
	ASSERT_EQ(mm_find(w, pid)->rss_anon, 1);
	ASSERT_EQ(rd(w, pid, X), 0xdead);
	ASSERT_EQ(w->stats.faults_write, 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* A.2, R8.3: a read fault maps the zero page: no frame, no anon_vma, no rss. */
TEST(test_a2_r8_3_read_fault_maps_zero_page)
{
	struct avm_world *w = test_world();
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	ASSERT_EQ(rd(w, pid, X), 0);
	uint64_t pte = pte_of(w, pid, X);
	ASSERT_TRUE(pte_zero(pte));
	ASSERT_FALSE(pte_write(pte));
	ASSERT_TRUE(vma_of(w, pid, X)->anon_vma == NULL);
	ASSERT_EQ(mm_find(w, pid)->rss_anon, 0);
	ASSERT_EQ(avm_frames_used(w), 0);
	ASSERT_EQ(w->stats.faults_zero_page, 1);
	/* R8.12: writing the zero page copies into a zeroed exclusive page */
	ASSERT_OK(avm_touch(w, pid, X, P(1), true));
	struct avm_frame *f = frame_of(w, pid, X);
	ASSERT_TRUE(f != NULL);
	ASSERT_EQ(frame_content(f), 0);
	ASSERT_TRUE(f->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_TRUE(pte_write(pte_of(w, pid, X)));
	ASSERT_TRUE(vma_of(w, pid, X)->anon_vma != NULL);
	ASSERT_EQ(mm_find(w, pid)->rss_anon, 1);
	ASSERT_EQ(w->stats.cow_copy, 1);
	avm_world_free(w);
	return true;
}

/* host-kernel.md: without the zero page a read fault allocates a private exclusive page. */
TEST(test_host_read_fault_allocates_exclusive_page)
{
	struct avm_world *w = test_world_host();
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(1), RW);
	MMAP_FIXED(w, pid, Y, P(1), AVM_PROT_READ);
	ASSERT_EQ(rd(w, pid, X), 0);
	uint64_t pte = pte_of(w, pid, X);
	ASSERT_TRUE(pte_present(pte) && !pte_zero(pte) && pte_write(pte));
	ASSERT_TRUE(frame_of(w, pid, X)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_TRUE(vma_of(w, pid, X)->anon_vma != NULL);
	ASSERT_EQ(w->stats.faults_zero_page, 0);
	/* read-only VMA: a private page, mapped read-only */
	ASSERT_EQ(rd(w, pid, Y), 0);
	pte = pte_of(w, pid, Y);
	ASSERT_TRUE(pte_present(pte) && !pte_zero(pte) && !pte_write(pte));
	ASSERT_EQ(mm_find(w, pid)->rss_anon, 2);
	avm_world_free(w);
	return true;
}

/* R8.2: SIGSEGV for holes, PROT_NONE and writes to read-only VMAs; nothing changes. */
TEST(test_r8_2_access_errors_are_sigsegv)
{
	struct avm_world *w = test_world();
	int pid = avm_spawn(w);
	uint64_t v;

	MMAP_FIXED(w, pid, X, P(1), AVM_PROT_NONE);
	MMAP_FIXED(w, pid, Y, P(1), AVM_PROT_READ);
	ASSERT_EQ(avm_read(w, pid, X + P(5), &v), -AVM_ESIGSEGV);
	ASSERT_EQ(avm_read(w, pid, X, &v), -AVM_ESIGSEGV);
	ASSERT_EQ(avm_write(w, pid, X, 1), -AVM_ESIGSEGV);
	ASSERT_EQ(avm_write(w, pid, Y, 1), -AVM_ESIGSEGV);
	ASSERT_EQ(avm_read(w, pid, AVM_TASK_SIZE + 5, &v), -AVM_ESIGSEGV);
	ASSERT_EQ(avm_read(w, 999, X, &v), -ESRCH);
	ASSERT_TRUE(pte_none(pte_of(w, pid, X)));
	ASSERT_TRUE(pte_none(pte_of(w, pid, Y)));
	ASSERT_TRUE(mm_find(w, pid)->pgtable.nodes == 0);
	ASSERT_OK(avm_read(w, pid, Y, &v));
	ASSERT_EQ(v, 0);
	avm_world_free(w);
	return true;
}

/* A.4, R9.8, R9.9: fork shares the page read-only, non-exclusive, child PTE old. */
TEST(test_a4_r9_9_fork_shares_page_write_protected)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_EQ(pfn_of(w, p, X), pfn_of(w, c, X));
	ASSERT_FALSE(pte_write(pte_of(w, p, X)));
	ASSERT_FALSE(pte_write(pte_of(w, c, X)));
	ASSERT_FALSE(pte_of(w, c, X) & PTE_YOUNG);
	ASSERT_TRUE(pte_of(w, p, X) & PTE_YOUNG);
	struct avm_frame *f = frame_of(w, p, X);
	ASSERT_EQ(f->mapcount, 2);
	ASSERT_EQ(f->refcount, 2);
	ASSERT_FALSE(f->flags & FRAME_ANON_EXCLUSIVE);
	/* the folio stays filed under the parent's anon_vma */
	ASSERT_TRUE(frame_mapping(w, f) == vma_of(w, p, X)->anon_vma);
	ASSERT_EQ(mm_find(w, c)->rss_anon, 1);
	ASSERT_EQ(rd(w, c, X), 1);
	avm_world_free(w);
	return true;
}

/* A.5, R8.10, R8.12: the child's write copies; the parent's later write reuses. */
TEST(test_a5_r8_10_child_copies_parent_reuses)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	unsigned long p1 = pfn_of(w, p, X);
	ASSERT_OK(avm_write(w, c, X, 2));
	unsigned long p2 = pfn_of(w, c, X);
	ASSERT_NE(p1, p2);
	ASSERT_TRUE(frame(w, p2)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_TRUE(frame_mapping(w, frame(w, p2)) == vma_of(w, c, X)->anon_vma);
	ASSERT_TRUE(pte_write(pte_of(w, c, X)));
	ASSERT_EQ(frame(w, p1)->mapcount, 1);
	ASSERT_EQ(frame(w, p1)->refcount, 1);
	ASSERT_FALSE(frame(w, p1)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_EQ(w->stats.cow_copy, 1);
	ASSERT_EQ(rd(w, p, X), 1);
	ASSERT_OK(avm_write(w, p, X, 3));
	ASSERT_EQ(pfn_of(w, p, X), p1); /* reused, no copy */
	ASSERT_TRUE(frame(w, p1)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_TRUE(frame_mapping(w, frame(w, p1)) == vma_of(w, p, X)->anon_vma);
	ASSERT_TRUE(pte_write(pte_of(w, p, X)));
	ASSERT_EQ(w->stats.cow_copy, 1);
	ASSERT_EQ(w->stats.cow_reuse, 1);
	ASSERT_EQ(rd(w, c, X), 2);
	ASSERT_EQ(rd(w, p, X), 3);
	avm_world_free(w);
	return true;
}

/* A.6, R9.12, R11.5: parent writes first; the child's reuse moves the folio to its anon_vma. */
TEST(test_a6_r9_12_reuse_moves_folio_to_child_anon_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	unsigned long p1 = pfn_of(w, p, X);
	ASSERT_OK(avm_write(w, p, X, 2));
	ASSERT_NE(pfn_of(w, p, X), p1);
	ASSERT_TRUE(frame_mapping(w, frame(w, p1)) == vma_of(w, p, X)->anon_vma);
	ASSERT_TRUE(vma_of(w, c, X)->anon_vma != vma_of(w, p, X)->anon_vma);
	ASSERT_OK(avm_write(w, c, X, 3));
	ASSERT_EQ(pfn_of(w, c, X), p1);
	ASSERT_TRUE(frame_mapping(w, frame(w, p1)) == vma_of(w, c, X)->anon_vma);
	ASSERT_TRUE(frame(w, p1)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_EQ(rd(w, p, X), 2);
	ASSERT_EQ(rd(w, c, X), 3);
	avm_world_free(w);
	return true;
}

/* R9.12: when the other side exits first, the survivor's write reuses the page. */
TEST(test_r9_12_reuse_after_other_side_exits)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	unsigned long p1 = pfn_of(w, c, X);
	ASSERT_OK(avm_exit(w, p));
	ASSERT_EQ(frame(w, p1)->refcount, 1);
	ASSERT_OK(avm_write(w, c, X, 2));
	ASSERT_EQ(pfn_of(w, c, X), p1);
	ASSERT_TRUE(frame_mapping(w, frame(w, p1)) == vma_of(w, c, X)->anon_vma);
	ASSERT_EQ(w->stats.cow_copy, 0);
	ASSERT_EQ(avm_frames_used(w), 1);
	avm_world_free(w);
	return true;
}

/* R10.8, R8.10: a FOLL_GET reference keeps the refcount up, so the write copies. */
TEST(test_r10_8_foll_get_reference_forces_copy)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	/* vmsplice before fork (host-kernel.md): fork shares, the write copies */
	ASSERT_OK(avm_get_ref(w, p, X, 1, &h));
	int c = avm_fork(w, p);
	unsigned long p1 = pfn_of(w, p, X);
	ASSERT_EQ(pfn_of(w, c, X), p1); /* a reference is not a pin: shared */
	ASSERT_OK(avm_exit(w, c));
	ASSERT_EQ(frame(w, p1)->mapcount, 1);
	ASSERT_EQ(frame(w, p1)->refcount, 2);
	ASSERT_OK(avm_write(w, p, X, 2));
	ASSERT_NE(pfn_of(w, p, X), p1);
	ASSERT_OK(avm_pin_read(w, h, 0, &v));
	ASSERT_EQ(v, 1); /* the reference holder keeps the old page */
	ASSERT_OK(avm_unpin(w, h));
	ASSERT_EQ(avm_frames_used(w), 1);
	avm_world_free(w);
	return true;
}

/* A.7, R9.10, R10.7: a pinned exclusive page is copied for the child at fork. */
TEST(test_a7_r9_10_pinned_page_copied_for_child_at_fork)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 7));
	ASSERT_OK(avm_write(w, p, X + P(1), 8));
	ASSERT_OK(avm_pin(w, p, X, 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &h));
	unsigned long p1 = pfn_of(w, p, X);
	int c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_NE(pfn_of(w, c, X), p1);
	ASSERT_EQ(w->stats.fork_copy_pinned, 1);
	/* parent untouched: writable, exclusive, mapped once */
	ASSERT_TRUE(pte_write(pte_of(w, p, X)));
	ASSERT_TRUE(frame(w, p1)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_EQ(frame(w, p1)->mapcount, 1);
	/* child: its own exclusive writable copy under its own anon_vma */
	struct avm_frame *cf = frame_of(w, c, X);
	ASSERT_TRUE(cf->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_TRUE(pte_write(pte_of(w, c, X)));
	ASSERT_TRUE(frame_mapping(w, cf) == vma_of(w, c, X)->anon_vma);
	/* the unpinned neighbour is shared as usual */
	ASSERT_EQ(pfn_of(w, c, X + P(1)), pfn_of(w, p, X + P(1)));
	ASSERT_OK(avm_write(w, p, X, 9));
	ASSERT_EQ(pfn_of(w, p, X), p1);
	ASSERT_OK(avm_pin_read(w, h, 0, &v));
	ASSERT_EQ(v, 9);
	ASSERT_EQ(rd(w, c, X), 7);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R8.14, R10.4: a read-only pin of a shared page unshares into a read-only private copy. */
TEST(test_r8_14_ro_pin_unshares_shared_page)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	unsigned long p1 = pfn_of(w, p, X);
	ASSERT_OK(avm_pin(w, p, X, 1, 0, &h));
	unsigned long p2 = pfn_of(w, p, X);
	ASSERT_NE(p2, p1);
	ASSERT_FALSE(pte_write(pte_of(w, p, X)));
	ASSERT_TRUE(frame(w, p2)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_EQ(frame(w, p2)->refcount, 1 + AVM_GUP_PIN_COUNTING_BIAS);
	ASSERT_EQ(frame_content(frame(w, p2)), 1);
	ASSERT_EQ(w->stats.faults_unshare, 1);
	ASSERT_EQ(pfn_of(w, c, X), p1);
	ASSERT_EQ(frame(w, p1)->mapcount, 1);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R8.14, R8.9: unshare of a page only this mm maps reuses it; the PTE stays read-only. */
TEST(test_r8_14_unshare_reuses_sole_page_pte_stays_readonly)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	ASSERT_OK(avm_exit(w, c));
	unsigned long p1 = pfn_of(w, p, X);
	ASSERT_FALSE(frame(w, p1)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_OK(avm_pin(w, p, X, 1, 0, &h));
	ASSERT_EQ(pfn_of(w, p, X), p1);
	ASSERT_TRUE(frame(w, p1)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_FALSE(pte_write(pte_of(w, p, X)));
	ASSERT_EQ(w->stats.cow_reuse, 1);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* A.8, R9.5: a never-written region (zero page only, no anon_vma) is not copied. */
TEST(test_a8_r9_5_fork_of_zero_page_region_copies_nothing)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_EQ(rd(w, p, X), 0);
	int c = avm_fork(w, p);
	ASSERT_TRUE(pte_zero(pte_of(w, p, X)));
	ASSERT_TRUE(pte_none(pte_of(w, c, X)));
	ASSERT_EQ(mm_find(w, c)->pgtable.nodes, 0);
	ASSERT_EQ(rd(w, c, X), 0);
	avm_world_free(w);
	return true;
}

/* R9.9: zero-page PTEs in a VMA with an anon_vma are copied (old, no reference). */
TEST(test_r9_7_fork_copies_zero_page_ptes_with_anon_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_EQ(rd(w, p, X + P(1)), 0);
	int c = avm_fork(w, p);
	ASSERT_TRUE(pte_zero(pte_of(w, c, X + P(1))));
	ASSERT_FALSE(pte_of(w, c, X + P(1)) & PTE_YOUNG);
	ASSERT_EQ(mm_find(w, c)->rss_anon, 1);
	avm_world_free(w);
	return true;
}

/* A.9, R9.3: WIPEONFORK children start empty; DONTFORK children have no VMA. */
TEST(test_a9_r9_3_wipeonfork_and_dontfork_children)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	uint64_t v;

	MMAP_FIXED(w, p, X, P(1), RW);
	MMAP_FIXED(w, p, Y, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 5));
	ASSERT_OK(avm_write(w, p, Y, 6));
	ASSERT_OK(avm_madvise(w, p, X, P(1), AVM_MADV_WIPEONFORK));
	ASSERT_OK(avm_madvise(w, p, Y, P(1), AVM_MADV_DONTFORK));
	int c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_TRUE(pte_none(pte_of(w, c, X)));
	ASSERT_TRUE(vma_of(w, c, X) != NULL);
	ASSERT_TRUE(vma_of(w, c, X)->anon_vma == NULL);
	ASSERT_EQ(rd(w, c, X), 0);
	ASSERT_TRUE(vma_of(w, c, Y) == NULL);
	ASSERT_EQ(avm_read(w, c, Y, &v), -AVM_ESIGSEGV);
	ASSERT_EQ(rd(w, p, X), 5);
	ASSERT_EQ(rd(w, p, Y), 6);
	ASSERT_TRUE(pte_write(pte_of(w, p, X))); /* nothing shared: still writable */
	avm_world_free(w);
	return true;
}

/* R13.3, R18.4: DONTNEED frees the page, keeps the anon_vma; the next read sees 0. */
TEST(test_r13_3_dontneed_zaps_pages_keeps_anon_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	ASSERT_OK(avm_write(w, p, X, 3));
	ASSERT_EQ(avm_frames_used(w), 4);
	ASSERT_OK(avm_madvise(w, p, X, P(4), AVM_MADV_DONTNEED));
	ASSERT_EQ(avm_frames_used(w), 0);
	ASSERT_EQ(mm_find(w, p)->rss_anon, 0);
	ASSERT_TRUE(vma_of(w, p, X)->anon_vma != NULL);
	ASSERT_EQ(rd(w, p, X), 0);
	ASSERT_TRUE(pte_zero(pte_of(w, p, X)));
	avm_world_free(w);
	return true;
}

/* R13.11: guard markers raise SIGSEGV and survive DONTNEED; GUARD_REMOVE clears them. */
TEST(test_r13_11_guard_marker_sigsegv_survives_dontneed)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 3));
	ASSERT_OK(avm_madvise(w, p, X, P(1), AVM_MADV_GUARD_INSTALL));
	ASSERT_TRUE(pte_is_guard(pte_of(w, p, X)));
	ASSERT_EQ(avm_read(w, p, X, &v), -AVM_ESIGSEGV);
	ASSERT_EQ(avm_write(w, p, X, 1), -AVM_ESIGSEGV);
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_DONTNEED));
	ASSERT_TRUE(pte_is_guard(pte_of(w, p, X)));
	/* R9.15: the marker is copied to a child */
	int c = avm_fork(w, p);
	ASSERT_TRUE(pte_is_guard(pte_of(w, c, X)));
	ASSERT_OK(avm_madvise(w, p, X, P(1), AVM_MADV_GUARD_REMOVE));
	ASSERT_EQ(rd(w, p, X), 0);
	avm_world_free(w);
	return true;
}

/* R8.3 / R12: an empty PTE in a missing-registered VMA is a userfault (SIGBUS here). */
TEST(test_r8_3_uffd_missing_empty_pte_sigbus)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X + P(1), 4));
	ASSERT_OK(avm_uffd_register(w, p, X, P(2), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(avm_read(w, p, X, &v), -AVM_ESIGBUS);
	ASSERT_EQ(avm_write(w, p, X, 1), -AVM_ESIGBUS);
	ASSERT_TRUE(pte_none(pte_of(w, p, X)));
	ASSERT_EQ(avm_frames_used(w), 1);
	/* present pages are not userfaults */
	ASSERT_EQ(rd(w, p, X + P(1)), 4);
	/*
	 * R8.5 order: a write fault prepares the anon_vma before the userfault
	 * check, a zero-page read fault never does.
	 */
	MMAP_FIXED(w, p, Y, P(1), RW);
	ASSERT_OK(avm_uffd_register(w, p, Y, P(1), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(avm_read(w, p, Y, &v), -AVM_ESIGBUS);
	ASSERT_TRUE(vma_of(w, p, Y)->anon_vma == NULL);
	ASSERT_EQ(avm_write(w, p, Y, 1), -AVM_ESIGBUS);
	ASSERT_TRUE(vma_of(w, p, Y)->anon_vma != NULL);
	ASSERT_EQ(avm_frames_used(w), 1);
	avm_world_free(w);
	return true;
}

/* R6.3: shared anonymous pages are shared with the child, never COWed. */
TEST(test_r6_3_shmem_shared_after_fork_no_cow)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;

	ASSERT_OK(avm_mmap(w, p, X, P(2), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_write(w, p, X, 11));
	struct avm_frame *f = frame_of(w, p, X);
	ASSERT_TRUE(f->flags & FRAME_SHMEM);
	ASSERT_FALSE(f->flags & FRAME_ANON);
	ASSERT_EQ(f->refcount, 2); /* page cache + PTE */
	ASSERT_TRUE(vma_of(w, p, X)->anon_vma == NULL);
	int c = avm_fork(w, p);
	ASSERT_TRUE(pte_none(pte_of(w, c, X))); /* R9.4: no anon_vma, not copied */
	ASSERT_EQ(rd(w, c, X), 11);
	ASSERT_EQ(pfn_of(w, c, X), pfn_of(w, p, X));
	ASSERT_TRUE(pte_write(pte_of(w, c, X))); /* shared writable: even read faults */
	ASSERT_OK(avm_write(w, c, X, 12));
	ASSERT_EQ(rd(w, p, X), 12);
	ASSERT_EQ(f->mapcount, 2);
	ASSERT_EQ(f->refcount, 3);
	ASSERT_EQ(mm_find(w, c)->rss_shmem, 1);
	ASSERT_OK(avm_exit(w, c));
	ASSERT_OK(avm_exit(w, p));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* do_fault_around(): a shmem read fault maps cached neighbours in its 16-page window. */
TEST(test_shmem_read_fault_around_maps_cached_pages)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;

	/* pages: 0..3 written by the parent, 4..19 never; window = pages 0..15 */
	ASSERT_OK(avm_mmap(w, p, X, P(20), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	ASSERT_OK(avm_write(w, p, X + P(17), 1));
	int c = avm_fork(w, p);
	ASSERT_EQ(rd(w, c, X + P(2)), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_TRUE(pte_present(pte_of(w, c, X + P(i))));
	ASSERT_TRUE(pte_none(pte_of(w, c, X + P(4))));
	ASSERT_TRUE(pte_none(pte_of(w, c, X + P(17)))); /* outside the window */
	ASSERT_EQ(mm_find(w, c)->rss_shmem, 4);
	/* a write fault does not fault around */
	ASSERT_OK(avm_write(w, c, X + P(16), 2));
	ASSERT_TRUE(pte_none(pte_of(w, c, X + P(17))));
	avm_world_free(w);
	return true;
}

/* R7.13: mremap moves PTEs unchanged except soft-dirty; frames keep index and mapping. */
TEST(test_r7_13_mremap_moves_ptes_with_soft_dirty)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_write(w, p, X + P(1), 2));
	unsigned long p1 = pfn_of(w, p, X);
	struct avm_anon_vma *av = vma_of(w, p, X)->anon_vma;
	ASSERT_OK(avm_mremap(w, p, X, P(2), P(2), AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED, Y, &out));
	ASSERT_EQ(out, Y);
	ASSERT_TRUE(pte_none(pte_of(w, p, X)));
	ASSERT_EQ(pfn_of(w, p, Y), p1);
	ASSERT_TRUE(pte_of(w, p, Y) & PTE_SOFTDIRTY);
	ASSERT_TRUE(pte_write(pte_of(w, p, Y)));
	ASSERT_EQ(frame_index(frame(w, p1)), X >> AVM_PAGE_SHIFT);
	ASSERT_TRUE(frame_mapping(w, frame(w, p1)) == av);
	ASSERT_EQ(rd(w, p, Y + P(1)), 2);
	avm_world_free(w);
	return true;
}

/* move_page_tables() directly: entries of every kind move; the count is returned. */
TEST(test_r7_13_move_page_tables_moves_swap_and_guard_entries)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(4), RW);
	MMAP_FIXED(w, p, Y, P(4), RW);
	struct avm_mm *mm = mm_find(w, p);
	/* hand-made guard entries: move_page_tables must not interpret them */
	*radix_slot(w, &mm->pgtable, (X >> AVM_PAGE_SHIFT) + 1) = pte_mknonpresent(PTE_TYPE_GUARD, 0, 0);
	*radix_slot(w, &mm->pgtable, (X >> AVM_PAGE_SHIFT) + 3) = pte_mknonpresent(PTE_TYPE_GUARD, 0, 0);
	ASSERT_EQ(move_page_tables(vma_of(w, p, X), X, vma_of(w, p, Y), Y, P(4)), P(4));
	ASSERT_TRUE(pte_is_guard(pte_of(w, p, Y + P(1))));
	/* PTE by PTE: soft-dirty; a whole 4-entry leaf (make hard) moves untouched. */
	ASSERT_EQ(!!(pte_of(w, p, Y + P(3)) & PTE_SOFTDIRTY), (1UL << w->cfg.pt_bits) > 4);
	ASSERT_TRUE(pte_none(pte_of(w, p, X + P(1))));
	/* -ENOMEM: nothing at or above the failing entry moves */
	unsigned long far = 0x7f4000000000UL; /* no tables there yet */
	MMAP_FIXED(w, p, far, P(4), RW);
	*radix_slot(w, &mm->pgtable, (X >> AVM_PAGE_SHIFT) + 0) = pte_mknonpresent(PTE_TYPE_GUARD, 0, 0);
	*radix_slot(w, &mm->pgtable, (X >> AVM_PAGE_SHIFT) + 2) = pte_mknonpresent(PTE_TYPE_GUARD, 0, 0);
	avm_fault_inject(w, 1);
	ASSERT_EQ(move_page_tables(vma_of(w, p, X), X, vma_of(w, p, far), far, P(4)), 0);
	ASSERT_TRUE(pte_is_guard(pte_of(w, p, X)));
	ASSERT_TRUE(pte_is_guard(pte_of(w, p, X + P(2))));
	avm_fault_inject(w, 0);
	ASSERT_EQ(move_page_tables(vma_of(w, p, X), X, vma_of(w, p, far), far, P(4)), P(4));
	ASSERT_TRUE(pte_is_guard(pte_of(w, p, far + P(2))));
	ASSERT_TRUE(pte_none(pte_of(w, p, X + P(2))));
	avm_world_free(w);
	return true;
}

/* free_pgtables(): munmap gives every table back (counted nodes). */
TEST(test_free_pgtables_after_munmap_counts_nodes)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.pt_bits = 9; /* x86-64 geometry, also under make hard */
	struct avm_world *w = avm_world_new(&cfg);
	int p = avm_spawn(w);
	struct avm_mm *mm = mm_find(w, p);

	MMAP_FIXED(w, p, X, P(1024), RW);
	ASSERT_OK(avm_touch(w, p, X, P(1024), true));
	ASSERT_EQ(mm->pgtable.nodes, 5); /* root, PUD, PMD, two PTE tables */
	ASSERT_OK(avm_munmap(w, p, X + P(512), P(512)));
	ASSERT_EQ(mm->pgtable.nodes, 4);
	ASSERT_OK(avm_munmap(w, p, X, P(512)));
	ASSERT_EQ(mm->pgtable.nodes, 0);
	ASSERT_EQ(w->stats.pt_pages_alloc, w->stats.pt_pages_free);
	avm_world_free(w);
	return true;
}

/* Hard mode: 2-bit levels (18 levels) through fault, fork, COW and munmap. */
TEST(test_pgtable_hard_mode_two_bit_levels)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.pt_bits = 2;
	struct avm_world *w = avm_world_new(&cfg);
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(300), RW);
	for (unsigned long i = 0; i < 300; i += 7)
		ASSERT_OK(avm_write(w, p, X + P(i), i + 1));
	int c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	for (unsigned long i = 0; i < 300; i += 7) {
		ASSERT_EQ(pfn_of(w, c, X + P(i)), pfn_of(w, p, X + P(i)));
		ASSERT_OK(avm_write(w, c, X + P(i), 1000 + i));
		ASSERT_EQ(rd(w, p, X + P(i)), i + 1);
	}
	ASSERT_TRUE(mm_find(w, c)->pgtable.nodes > 18);
	ASSERT_OK(avm_munmap(w, c, X, P(300)));
	ASSERT_EQ(mm_find(w, c)->pgtable.nodes, 0);
	ASSERT_OK(avm_exit(w, p));
	ASSERT_EQ(avm_frames_used(w), 0);
	avm_world_free(w);
	return true;
}

/* R8.5: out of frames is VM_FAULT_OOM (-ENOMEM); state stays valid. */
TEST(test_r8_5_frame_limit_oom)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.max_frames = 1;
	struct avm_world *w = avm_world_new(&cfg);
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_EQ(avm_write(w, p, X + P(1), 1), -ENOMEM);
	ASSERT_TRUE(pte_none(pte_of(w, p, X + P(1))));
	int c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	ASSERT_EQ(avm_write(w, p, X, 2), -ENOMEM); /* the COW copy needs a frame */
	ASSERT_EQ(rd(w, p, X), 1);
	ASSERT_OK(avm_exit(w, c));
	ASSERT_OK(avm_write(w, p, X, 2)); /* now the page is reused */
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* STYLE 13: every allocation of a first write fault may fail; -ENOMEM and a valid state. */
TEST(test_r8_5_write_fault_injection_sweep)
{
	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w);
		MMAP_FIXED(w, p, X, P(1), RW);
		avm_fault_inject(w, n);
		int ret = avm_write(w, p, X, 5);
		avm_fault_inject(w, 0);
		VALIDATE(w);
		if (ret == 0) {
			ASSERT_EQ(rd(w, p, X), 5);
			avm_world_free(w);
			ASSERT_TRUE(n > 2); /* tables, anon_vma, frame at least */
			break;
		}
		ASSERT_EQ(ret, -ENOMEM);
		ASSERT_OK(avm_write(w, p, X, 5)); /* a retry succeeds */
		avm_world_free(w);
		ASSERT_TRUE(n < 100);
	}
	return true;
}

/* R9.13: fork of a swapped-out exclusive page clears the exclusive bit on both sides. */
TEST(test_r9_13_fork_dups_swap_entry_clears_exclusive)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 42));
	ASSERT_OK(avm_madvise(w, p, X, P(1), AVM_MADV_PAGEOUT));
	uint64_t pte = pte_of(w, p, X);
	ASSERT_TRUE(pte_is_swap(pte));
	ASSERT_TRUE(pte_swp_exclusive(pte));
	unsigned long slot = pte_swp_slot(pte);
	int c = avm_fork(w, p);
	ASSERT_TRUE(pte_is_swap(pte_of(w, p, X)));
	ASSERT_FALSE(pte_swp_exclusive(pte_of(w, p, X)));
	ASSERT_FALSE(pte_swp_exclusive(pte_of(w, c, X)));
	ASSERT_EQ(pte_swp_slot(pte_of(w, c, X)), slot);
	ASSERT_EQ(w->swap_map[slot], 2);
	ASSERT_EQ(mm_find(w, c)->swapents, 1);
	ASSERT_EQ(rd(w, c, X), 42);
	ASSERT_OK(avm_write(w, p, X, 43));
	ASSERT_EQ(rd(w, c, X), 42);
	ASSERT_EQ(rd(w, p, X), 43);
	ASSERT_OK(avm_exit(w, c));
	ASSERT_OK(avm_exit(w, p));
	ASSERT_EQ(avm_swap_used(w), 0);
	avm_world_free(w);
	return true;
}

/*
 * R8.10 step 6: a non-exclusive page whose only extra reference is an
 * unused swap-cache entry is reused after folio_free_swap() drops it.
 */
TEST(test_r8_10_reuse_drops_unused_swap_cache)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long slot;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	ASSERT_OK(avm_exit(w, c));
	unsigned long pfn = pfn_of(w, p, X);
	/* add_to_swap() as reclaim would, then give up before unmapping */
	ASSERT_OK(swap_alloc_cache(w, pfn, &slot));
	ASSERT_EQ(frame(w, pfn)->refcount, 2);
	VALIDATE(w);
	ASSERT_OK(avm_write(w, p, X, 2));
	ASSERT_EQ(pfn_of(w, p, X), pfn);
	ASSERT_FALSE(frame(w, pfn)->flags & FRAME_SWAPCACHE);
	ASSERT_EQ(frame(w, pfn)->refcount, 1);
	ASSERT_EQ(avm_swap_used(w), 0);
	ASSERT_EQ(w->stats.cow_reuse, 1);
	avm_world_free(w);
	return true;
}

/*
 * R9.4 [6.19 rule, on this 6.18.44 host]: VM_MAYBE_GUARD makes fork copy
 * page tables even without an anon_vma, so a shared anonymous VMA keeps
 * its guard markers in the child (host fuzz divergence 5000-160).
 */
TEST(test_r9_4_maybe_guard_copies_guard_markers_of_shared_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long out;
	uint64_t v;

	ASSERT_OK(avm_mmap(w, p, X, P(3), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_write(w, p, X + P(2), 5));
	ASSERT_OK(avm_madvise(w, p, X, P(2), AVM_MADV_GUARD_INSTALL));
	vma_of(w, p, X)->vm_flags |= AVM_VM_MAYBE_GUARD; /* what guard install sets */
	ASSERT_TRUE(vma_of(w, p, X)->anon_vma == NULL);
	int c = avm_fork(w, p);
	ASSERT_TRUE(pte_is_guard(pte_of(w, c, X)));
	ASSERT_TRUE(pte_is_guard(pte_of(w, c, X + P(1))));
	ASSERT_EQ(avm_read(w, c, X, &v), -AVM_ESIGSEGV);
	/* the shmem page is copied too, as a shared mapping (no COW) */
	ASSERT_EQ(pfn_of(w, c, X + P(2)), pfn_of(w, p, X + P(2)));
	ASSERT_TRUE(pte_write(pte_of(w, c, X + P(2))));
	ASSERT_EQ(mm_find(w, c)->rss_shmem, 1);
	ASSERT_EQ(rd(w, c, X + P(2)), 5);
	avm_world_free(w);
	return true;
}
