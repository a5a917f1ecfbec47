/*
 * test_uffd.c - userfaultfd register and UFFDIO_MOVE (spec §12, A.13).
 *
 * Layout used by most tests, one character per page:
 *
 *   X:  SSSS....DDDD     one RW VMA of 12 pages; S = source pages written,
 *                        D = destination range, registered MISSING
 */
#include "test.h"

#define SRC X
#define DST (X + P(8))
#define HOLES AVM_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES

static bool page(struct avm_world *w, int pid, unsigned long addr, struct avm_page_info *pi)
{
	return avm_page_info(w, pid, addr, pi) == 0;
}

static unsigned long vma_anon_vma(struct avm_world *w, int pid, unsigned long addr)
{
	struct avm_vma_info vi;
	return test_vma_at(w, pid, addr, &vi) ? vi.anon_vma : 0;
}

static void count_mapping(void *arg, int pid, unsigned long addr, unsigned long vma_id)
{
	(void)pid;
	(void)addr;
	(void)vma_id;
	++*(int *)arg;
}

/* The common set-up: 12-page VMA, src pages 0..3 written 0x10+i, dst registered. */
static int setup(struct avm_world *w)
{
	unsigned long out;
	int pid = avm_spawn(w);

	if (pid <= 0 ||
	    avm_mmap(w, pid, X, P(12), RW,
		     AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED_NOREPLACE, &out))
		return -1;
	for (int i = 0; i < 4; i++)
		if (avm_write(w, pid, SRC + P(i), 0x10 + i))
			return -1;
	if (avm_uffd_register(w, pid, DST, P(4), AVM_UFFDIO_REGISTER_MODE_MISSING))
		return -1;
	return pid;
}

/* A.13, R12.5, R12.11: one exclusive page moves, folio re-filed at dst. */
TEST(test_a13_move_one_exclusive_page)
{
	struct avm_world *w = test_world();
	struct avm_page_info before, pi;
	long moved = 0;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	ASSERT_TRUE(page(w, pid, SRC, &before));
	ASSERT_OK(avm_uffd_move(w, pid, DST, SRC, P(1), 0, &moved));
	ASSERT_EQ(moved, P(1));
	ASSERT_TRUE(page(w, pid, SRC, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_TRUE(page(w, pid, DST, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_EQ(pi.pfn, before.pfn);
	ASSERT_TRUE(pi.soft_dirty);
	ASSERT_TRUE(pi.writable);
	ASSERT_TRUE(pi.anon_exclusive);
	ASSERT_EQ(pi.mapcount, 1);
	ASSERT_EQ(pi.content, 0x10);
	ASSERT_EQ(pi.index, (DST >> 12)); /* linear index of dst, R12.12 */
	ASSERT_EQ(pi.anon_vma, vma_anon_vma(w, pid, DST));
	ASSERT_EQ(avm_stats(w)->uffd_moved_pages, 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* A.13, R12.13: a page shared with a fork child cannot move. */
TEST(test_r12_13_shared_after_fork_ebusy)
{
	struct avm_world *w = test_world();
	long moved = 0;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_EQ(avm_uffd_move(w, pid, DST, SRC, P(1), 0, &moved), -EBUSY);
	ASSERT_EQ(moved, -EBUSY);
	/* Unsharing by a write makes it movable (R12.13). */
	ASSERT_OK(avm_write(w, pid, SRC, 0x77));
	ASSERT_OK(avm_uffd_move(w, pid, DST, SRC, P(1), 0, &moved));
	uint64_t v;
	ASSERT_OK(avm_read(w, pid, DST, &v));
	ASSERT_EQ(v, 0x77);
	ASSERT_OK(avm_read(w, child, SRC, &v));
	ASSERT_EQ(v, 0x10);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.3: a partial move reports the bytes and the ioctl says -EAGAIN;
 * an error on the first page is returned as it is. */
TEST(test_r12_3_partial_move_eagain)
{
	struct avm_world *w = test_world();
	long moved = 0;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	/* X+4 lies in the unregistered part of the VMA: -EINVAL, and said so in move. */
	ASSERT_EQ(avm_uffd_move(w, pid, X + P(4), SRC + P(1), P(4), 0, &moved), -EINVAL);
	ASSERT_EQ(moved, -EINVAL);
	ASSERT_OK(avm_uffd_register(w, pid, X, P(12), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	/* SSSS........: move src 1..4 to 5..8: 1, 2, 3 move, 4 is a hole. */
	ASSERT_EQ(avm_uffd_move(w, pid, X + P(5), X + P(1), P(4), 0, &moved), -EAGAIN);
	ASSERT_EQ(moved, P(3));
	struct avm_page_info pi;
	ASSERT_TRUE(page(w, pid, X + P(7), &pi));
	ASSERT_EQ(pi.content, 0x13);
	/* Nothing moved at all: the error itself. */
	ASSERT_EQ(avm_uffd_move(w, pid, X + P(9), X + P(1), P(2), 0, &moved), -ENOENT);
	ASSERT_EQ(moved, -ENOENT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.7: ALLOW_SRC_HOLES counts holes as moved; a zero page moves as one. */
TEST(test_r12_7_src_holes_and_zero_page)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	long moved = 0;
	uint64_t v;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	ASSERT_OK(avm_read(w, pid, X + P(5), &v)); /* zero-page PTE (standard Linux) */
	ASSERT_TRUE(page(w, pid, X + P(5), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_ZERO);
	/* src 3,4,5 = present, hole, zero -> dst 8,9,10 */
	ASSERT_OK(avm_uffd_move(w, pid, DST, X + P(3), P(3), HOLES, &moved));
	ASSERT_EQ(moved, P(3));
	ASSERT_TRUE(page(w, pid, DST, &pi));
	ASSERT_EQ(pi.content, 0x13);
	ASSERT_TRUE(page(w, pid, DST + P(1), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_TRUE(page(w, pid, DST + P(2), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_ZERO);
	ASSERT_FALSE(pi.writable);
	ASSERT_TRUE(page(w, pid, X + P(5), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	/* Without the mode the hole is -ENOENT. */
	ASSERT_EQ(avm_uffd_move(w, pid, DST + P(3), X + P(6), P(1), 0, &moved), -ENOENT);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.5: an occupied destination (even a zero page) is -EEXIST, before the
 * source is looked at; a pinned source is -EBUSY. */
TEST(test_r12_5_dst_occupied_and_pinned_src)
{
	struct avm_world *w = test_world();
	long moved = 0;
	uint64_t v;
	int handle;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	ASSERT_EQ(avm_read(w, pid, DST, &v), -AVM_ESIGBUS); /* registered: userfault */
	ASSERT_OK(avm_uffd_unregister(w, pid, DST, P(1)));
	ASSERT_OK(avm_read(w, pid, DST, &v)); /* zero page now */
	ASSERT_OK(avm_uffd_register(w, pid, DST, P(1), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(avm_uffd_move(w, pid, DST, SRC, P(1), 0, &moved), -EEXIST);
	ASSERT_EQ(avm_uffd_move(w, pid, DST, X + P(6), P(1), HOLES, &moved), -EEXIST);

	ASSERT_OK(avm_pin(w, pid, SRC + P(1), 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &handle));
	ASSERT_EQ(avm_uffd_move(w, pid, DST + P(1), SRC + P(1), P(1), 0, &moved), -EBUSY);
	ASSERT_OK(avm_unpin(w, handle));
	ASSERT_OK(avm_uffd_move(w, pid, DST + P(1), SRC + P(1), P(1), 0, &moved));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.8: an exclusive swap entry moves with soft-dirty; swap-in at dst finds
 * the right rmap.  A non-exclusive one is -EBUSY. */
TEST(test_r12_8_swap_entry_move)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	long moved = 0;
	uint64_t v;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	ASSERT_OK(avm_madvise(w, pid, SRC, P(2), AVM_MADV_PAGEOUT));
	ASSERT_TRUE(page(w, pid, SRC, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	unsigned long slot = pi.swap_slot;
	ASSERT_OK(avm_uffd_move(w, pid, DST, SRC, P(1), 0, &moved));
	ASSERT_TRUE(page(w, pid, DST, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	ASSERT_EQ(pi.swap_slot, slot);
	ASSERT_TRUE(pi.swp_exclusive);
	ASSERT_TRUE(pi.soft_dirty);
	ASSERT_OK(avm_read(w, pid, DST, &v));
	ASSERT_EQ(v, 0x10);
	ASSERT_TRUE(page(w, pid, DST, &pi));
	ASSERT_EQ(pi.index, DST >> 12);
	ASSERT_EQ(pi.anon_vma, vma_anon_vma(w, pid, DST));

	/* After fork the entry is shared: -EBUSY. */
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_EQ(avm_uffd_move(w, pid, DST + P(1), SRC + P(1), P(1), 0, &moved), -EBUSY);
	ASSERT_OK(avm_exit(w, child));
	/* Still not exclusive once the child is gone (only a swap-in can tell). */
	ASSERT_EQ(avm_uffd_move(w, pid, DST + P(1), SRC + P(1), P(1), 0, &moved), -EBUSY);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.8 with a swapfile: the cached folio's mapping and index follow. */
TEST(test_r12_8_swap_cache_folio_follows)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.swap_slots = 16;
	cfg.swap_synchronous = false;
	struct avm_world *w = avm_world_new(&cfg);
	struct avm_page_info pi;
	long moved = 0;
	uint64_t v;
	int handle;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	/* A plain reference keeps the frame in the swap cache after pageout. */
	ASSERT_OK(avm_get_ref(w, pid, SRC, 1, &handle));
	ASSERT_OK(avm_madvise(w, pid, SRC, P(1), AVM_MADV_PAGEOUT));
	ASSERT_OK(avm_unpin(w, handle));
	ASSERT_EQ(avm_frames_used(w), 4);
	ASSERT_OK(avm_uffd_move(w, pid, DST + P(3), SRC, P(1), 0, &moved));
	ASSERT_OK(avm_read(w, pid, DST + P(3), &v));
	ASSERT_EQ(v, 0x10);
	ASSERT_TRUE(page(w, pid, DST + P(3), &pi));
	ASSERT_EQ(pi.index, (DST + P(3)) >> 12);
	ASSERT_TRUE(pi.writable);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.4: moves between VMAs with different anon_vma roots are allowed. */
TEST(test_r12_4_move_across_anon_vma_roots)
{
	struct avm_world *w = test_world();
	struct avm_page_info pi;
	long moved = 0;
	unsigned long y = X + P(64);
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	MMAP_FIXED(w, pid, y, P(2), RW);
	ASSERT_OK(avm_write(w, pid, X, 0xa));
	ASSERT_OK(avm_write(w, pid, y + P(1), 0xb)); /* y gets its own root */
	ASSERT_NE(vma_anon_vma(w, pid, X), vma_anon_vma(w, pid, y));
	ASSERT_OK(avm_uffd_register(w, pid, y, P(2), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_OK(avm_uffd_move(w, pid, y, X, P(1), 0, &moved));
	ASSERT_TRUE(page(w, pid, y, &pi));
	ASSERT_EQ(pi.anon_vma, vma_anon_vma(w, pid, y));
	ASSERT_EQ(pi.content, 0xa);
	/* rmap finds it at y (the validator checks I3 too). */
	int calls = 0;
	ASSERT_EQ(avm_rmap_lookup(w, pid, y, count_mapping, &calls), 1);
	ASSERT_EQ(calls, 1);
	/* An unfaulted destination VMA gets an anon_vma first (R12.4). */
	unsigned long z = X + P(128);
	MMAP_FIXED(w, pid, z, P(1), RW);
	ASSERT_EQ(vma_anon_vma(w, pid, z), 0);
	ASSERT_OK(avm_uffd_register(w, pid, z, P(1), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_OK(avm_uffd_move(w, pid, z, y + P(1), P(1), 0, &moved));
	ASSERT_NE(vma_anon_vma(w, pid, z), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12.2, R12.4: argument and VMA checks, and their order. */
TEST(test_r12_4_vma_checks)
{
	struct avm_world *w = test_world();
	long moved = 123;
	unsigned long out;
	int pid = setup(w);

	ASSERT_TRUE(pid > 0);
	/* R12.2: alignment, zero length, modes; move is not written. */
	ASSERT_EQ(avm_uffd_move(w, pid, DST + 1, SRC, P(1), 0, &moved), -EINVAL);
	ASSERT_EQ(avm_uffd_move(w, pid, DST, SRC, 0, 0, &moved), -EINVAL);
	ASSERT_EQ(avm_uffd_move(w, pid, DST, SRC, P(1), 4, &moved), -EINVAL);
	ASSERT_EQ(avm_uffd_move(w, pid, 0, SRC, P(1), 0, &moved), -EINVAL);
	ASSERT_EQ(moved, 123);
	/* No VMA at dst, then at src: -ENOENT. */
	ASSERT_EQ(avm_uffd_move(w, pid, X + P(100), SRC, P(1), 0, &moved), -ENOENT);
	ASSERT_EQ(avm_uffd_move(w, pid, DST, X + P(100), P(1), 0, &moved), -ENOENT);
	ASSERT_EQ(moved, -ENOENT);
	/* Ranges past the VMA's end. */
	ASSERT_EQ(avm_uffd_move(w, pid, DST, SRC, P(5), 0, &moved), -EINVAL);
	/* Different protection. */
	unsigned long y = X + P(64);
	ASSERT_OK(avm_mmap(w, pid, y, P(2), AVM_PROT_READ,
			   AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED_NOREPLACE, &out));
	ASSERT_EQ(avm_uffd_move(w, pid, DST, y, P(1), 0, &moved), -EINVAL);
	/* Shared anonymous source: -EINVAL. */
	unsigned long z = X + P(128);
	ASSERT_OK(avm_mmap(w, pid, z, P(1), RW, AVM_MAP_SHARED | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED,
			   &out));
	ASSERT_OK(avm_write(w, pid, z, 1));
	ASSERT_EQ(avm_uffd_move(w, pid, DST, z, P(1), 0, &moved), -EINVAL);
	/* Unregistered destination. */
	ASSERT_OK(avm_uffd_unregister(w, pid, DST, P(4)));
	ASSERT_EQ(avm_uffd_move(w, pid, DST, SRC, P(1), 0, &moved), -EINVAL);
	ASSERT_EQ(avm_uffd_move(w, 999, DST, SRC, P(1), 0, &moved), -ESRCH);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R12: register mode and range rules; a registered hole raises SIGBUS. */
TEST(test_r12_register_rules)
{
	struct avm_world *w = test_world();
	struct avm_vma_info vi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(4), RW);
	ASSERT_EQ(avm_uffd_register(w, pid, X, P(4), 0), -EINVAL);
	ASSERT_EQ(avm_uffd_register(w, pid, X, P(4), 2 /* WP */), -EINVAL);
	ASSERT_EQ(avm_uffd_register(w, pid, X + P(10), P(2), AVM_UFFDIO_REGISTER_MODE_MISSING),
		  -EINVAL);
	ASSERT_EQ(avm_uffd_register(w, pid, X + 5, P(2), AVM_UFFDIO_REGISTER_MODE_MISSING),
		  -EINVAL);
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_OK(avm_uffd_register(w, pid, X + P(1), P(2), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(test_nr_vmas(w, pid), 3);
	ASSERT_TRUE(test_vma_at(w, pid, X + P(1), &vi));
	ASSERT_TRUE(vi.uffd);
	ASSERT_TRUE(vi.flags & AVM_VM_UFFD_MISSING);
	ASSERT_EQ(avm_read(w, pid, X + P(1), &v), -AVM_ESIGBUS);
	ASSERT_OK(avm_read(w, pid, X, &v));
	/* Registering again is a no-op; a range with a hole is fine (6.18). */
	ASSERT_OK(avm_uffd_register(w, pid, X, P(8), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_OK(avm_uffd_unregister(w, pid, X, P(4)));
	ASSERT_TRUE(test_vma_at(w, pid, X + P(1), &vi));
	ASSERT_FALSE(vi.uffd);
	ASSERT_EQ(test_nr_vmas(w, pid), 1);
	ASSERT_OK(avm_read(w, pid, X + P(1), &v));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* Fork drops the registration in the child (no UFFD_FEATURE_EVENT_FORK). */
TEST(test_r12_fork_child_not_registered)
{
	struct avm_world *w = test_world();
	struct avm_vma_info vi;
	uint64_t v;
	int pid = avm_spawn(w);

	MMAP_FIXED(w, pid, X, P(2), RW);
	ASSERT_OK(avm_uffd_register(w, pid, X, P(2), AVM_UFFDIO_REGISTER_MODE_MISSING));
	int child = avm_fork(w, pid);
	ASSERT_TRUE(child > 0);
	ASSERT_TRUE(test_vma_at(w, child, X, &vi));
	ASSERT_FALSE(vi.uffd);
	ASSERT_OK(avm_read(w, child, X, &v));
	ASSERT_OK(avm_exit(w, pid));
	ASSERT_OK(avm_exit(w, child));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
