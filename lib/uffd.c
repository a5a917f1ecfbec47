/*
 * uffd.c - userfaultfd: one context per process, UFFDIO_REGISTER (mode
 * MISSING), UFFDIO_UNREGISTER and UFFDIO_MOVE (spec §12, R12.1-R12.13).
 *
 * The context of a process is created by its first register (or never);
 * a move in a process without one behaves as a move through a fresh
 * context nothing is registered with (the destination check of R12.4
 * refuses it with -EINVAL after the earlier checks ran).
 *
 * UFFDIO_MOVE, as fs/userfaultfd.c userfaultfd_move() and mm/userfaultfd.c
 * move_pages() order it:
 *
 *   ioctl:  dst, src, len aligned, len != 0, both ranges in
 *           [mmap_min_addr, TASK_SIZE)                      -EINVAL (R12.2)
 *           mode only ALLOW_SRC_HOLES | DONTWAKE            -EINVAL
 *   VMAs:   dst VMA (-ENOENT), given an anon_vma (-ENOMEM);
 *           src VMA (-ENOENT);
 *           VM_SHARED or range past the VMA's end, src then dst;
 *           validate_move_areas()                           -EINVAL (R12.4)
 *   pages:  in step, stopping at the first error (R12.5-R12.9)
 *   result: bytes moved if any, else the error; the ioctl returns 0 when
 *           all of len moved, -EAGAIN when part (R12.3).
 */
#include "internal.h"

/* /proc/sys/vm/mmap_min_addr on the host (validate_unaligned_range()). */
#define UFFD_MMAP_MIN_ADDR 4096UL

void uffd_ctx_get(struct avm_uffd *ctx)
{
	AVM_ASSERT(ctx->refcount > 0);
	ctx->refcount++;
}

void uffd_ctx_put(struct avm_world *w, struct avm_uffd *ctx)
{
	if (!ctx)
		return;
	AVM_ASSERT(ctx->refcount > 0);
	if (--ctx->refcount)
		return;
	if (ctx->mm && ctx->mm->uffd == ctx)
		ctx->mm->uffd = NULL;
	avm_free(w, ctx, sizeof(*ctx));
}

/* validate_range() of fs/userfaultfd.c. */
static int uffd_validate_range(unsigned long start, unsigned long len)
{
	if (!PAGE_ALIGNED(start) || !PAGE_ALIGNED(len) || len == 0)
		return -EINVAL;
	if (start < UFFD_MMAP_MIN_ADDR || start >= AVM_TASK_SIZE)
		return -EINVAL;
	if (len > AVM_TASK_SIZE - start)
		return -EINVAL;
	return 0;
}

/* vma_can_userfault() for MISSING: anonymous or shmem, never droppable. */
static bool vma_can_userfault(const struct avm_vma *vma)
{
	return !(vma->vm_flags & AVM_VM_DROPPABLE);
}

/* ---- register / unregister ------------------------------------------- */

/*
 * avm_uffd_register() - userfaultfd_register() with mode MISSING.  Holes
 * inside the range are allowed (6.18 only needs one VMA in it); every VMA
 * met must be able to userfault (-EINVAL), be VM_MAYWRITE (-EPERM) and not
 * belong to another context (-EBUSY), all checked before anything changes.
 */
int avm_uffd_register(struct avm_world *w, int pid, unsigned long addr, unsigned long len,
		      int mode)
{
	struct avm_mm *mm = mm_find(w, pid);
	struct avm_vma *vma, *cur;
	unsigned long end;
	int err;

	if (!mm)
		return -ESRCH;
	if (mode != AVM_UFFDIO_REGISTER_MODE_MISSING)
		return -EINVAL; /* no mode, or WP / MINOR, which the model lacks */
	err = uffd_validate_range(addr, len);
	if (err)
		return err;
	end = addr + len;

	vma = vma_find(mm, addr);
	if (!vma || vma->vm_start >= end)
		return -EINVAL;
	for (cur = vma; cur && cur->vm_start < end; cur = vma_next(cur)) {
		if (!vma_can_userfault(cur))
			return -EINVAL;
		if (!(cur->vm_flags & AVM_VM_MAYWRITE))
			return -EPERM;
		if (cur->uffd_ctx && cur->uffd_ctx != mm->uffd)
			return -EBUSY;
	}

	if (!mm->uffd) {
		struct avm_uffd *ctx = avm_zalloc(w, sizeof(*ctx));
		if (!ctx)
			return -ENOMEM;
		ctx->id = w->next_uffd_id++;
		ctx->refcount = 1; /* the mm's */
		ctx->mm = mm;
		mm->uffd = ctx;
	}
	err = vma_modify_uffd(mm, addr, end, AVM_VM_UFFD_MISSING, mm->uffd);
	avm_debug_validate(w);
	return err;
}

/*
 * avm_uffd_unregister() - userfaultfd_unregister(): the same range rules;
 * a VMA of another context is -EINVAL here.
 */
int avm_uffd_unregister(struct avm_world *w, int pid, unsigned long addr, unsigned long len)
{
	struct avm_mm *mm = mm_find(w, pid);
	struct avm_vma *vma, *cur;
	unsigned long end;
	int err;

	if (!mm)
		return -ESRCH;
	err = uffd_validate_range(addr, len);
	if (err)
		return err;
	end = addr + len;

	vma = vma_find(mm, addr);
	if (!vma || vma->vm_start >= end)
		return -EINVAL;
	for (cur = vma; cur && cur->vm_start < end; cur = vma_next(cur)) {
		if (cur->uffd_ctx && cur->uffd_ctx != mm->uffd)
			return -EINVAL;
		if (!vma_can_userfault(cur))
			return -EINVAL;
	}
	err = vma_modify_uffd(mm, addr, end, 0, NULL);
	avm_debug_validate(w);
	return err;
}

/* ---- UFFDIO_MOVE ------------------------------------------------------ */

/* validate_move_areas() (R12.4). */
static int validate_move_areas(struct avm_uffd *ctx, struct avm_vma *src_vma,
			       struct avm_vma *dst_vma)
{
	const unsigned long access = AVM_VM_READ | AVM_VM_WRITE | AVM_VM_EXEC;
	const unsigned long unmovable = AVM_VM_PFNMAP | AVM_VM_IO | AVM_VM_HUGETLB | AVM_VM_MIXEDMAP;

	/* Equal access bits of two private VMAs imply equal vm_page_prot. */
	if ((src_vma->vm_flags & access) != (dst_vma->vm_flags & access))
		return -EINVAL;
	if ((src_vma->vm_flags & AVM_VM_LOCKED) != (dst_vma->vm_flags & AVM_VM_LOCKED))
		return -EINVAL;
	if (!(src_vma->vm_flags & AVM_VM_WRITE))
		return -EINVAL;
	if ((src_vma->vm_flags & unmovable) || (dst_vma->vm_flags & unmovable))
		return -EINVAL;
	if (!ctx || dst_vma->uffd_ctx != ctx)
		return -EINVAL;
	if (!vma_is_anonymous(src_vma) || !vma_is_anonymous(dst_vma))
		return -EINVAL;
	return 0;
}

/*
 * folio_move_anon_rmap() plus the new folio->index (R12.5, R12.8): the
 * folio is filed where its PTE now is, in one store.
 */
static void move_folio_rmap(struct avm_frame *f, struct avm_vma *dst_vma, unsigned long dst)
{
	AVM_ASSERT((f->flags & FRAME_ANON) && dst_vma->anon_vma);
	frame_set_mapping_index(f, dst_vma->anon_vma->handle, linear_page_index(dst_vma, dst));
}

/* R12.5: a present, exclusive, unpinned small folio. */
static int move_present_pte(struct avm_world *w, struct avm_vma *dst_vma, unsigned long dst,
			    uint64_t *dptep, uint64_t *sptep)
{
	uint64_t spte = *sptep;
	unsigned long pfn = pte_pfn(spte);
	struct avm_frame *f = frame(w, pfn);

	if (!(f->flags & FRAME_ANON) || !(f->flags & FRAME_ANON_EXCLUSIVE))
		return -EBUSY;
	if (frame_maybe_pinned(f))
		return -EBUSY;
	*sptep = 0;
	move_folio_rmap(f, dst_vma, dst);
	/* folio_mk_pte(): young (x86 prot); soft-dirty; dirty kept; writable (R12.4). */
	*dptep = pte_mk(pfn, PTE_YOUNG | PTE_SOFTDIRTY | PTE_WRITE | (spte & PTE_DIRTY));
	return 0;
}

/* R12.8: an exclusive swap entry moves as it is, plus soft-dirty. */
static int move_swap_pte(struct avm_world *w, struct avm_vma *dst_vma, unsigned long dst,
			 uint64_t *dptep, uint64_t *sptep)
{
	uint64_t spte = *sptep;
	unsigned long cached;

	if (!pte_swp_exclusive(spte))
		return -EBUSY;
	cached = swapcache_lookup(w, pte_swp_slot(spte));
	if (cached) {
		/* A swap-in must find the cached folio where the PTE now is. */
		move_folio_rmap(frame(w, cached), dst_vma, dst);
	}
	*sptep = 0;
	*dptep = spte | PTE_SOFTDIRTY;
	return 0;
}

/*
 * The page-table leaves (PTE tables) of the current src and dst pages:
 * looked up once per leaf, not once per page.  Leaves never move or go
 * away during a move, so the pointers stay valid across allocations.
 */
struct move_cursor {
	unsigned long src_leaf_nr, dst_leaf_nr; /* page number >> bits; ~0 = none */
	uint64_t *src_leaf, *dst_leaf;          /* slot 0 of each leaf */
};

/*
 * move_pages_pte() for one page.  Returns: 0 (moved, or a hole skipped
 * under ALLOW_SRC_HOLES) or the error that stops the move.
 */
static int move_one(struct avm_mm *mm, struct avm_vma *dst_vma, struct move_cursor *mc,
		    unsigned long dst, unsigned long src, int mode)
{
	struct avm_world *w = mm->w;
	bool holes = mode & AVM_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
	unsigned int bits = mm->pgtable.bits;
	unsigned long mask = (1UL << bits) - 1;
	unsigned long skey = src >> AVM_PAGE_SHIFT, dkey = dst >> AVM_PAGE_SHIFT;
	uint64_t *sptep, *dptep;

	/* No page table at src: mm_find_pmd() fails before dst is looked at. */
	if (mc->src_leaf_nr != skey >> bits) {
		sptep = pt_lookup(mm, src);
		if (!sptep) {
			if (!holes)
				return -ENOENT;
			sptep = radix_slot(w, &mm->pgtable, skey);
			if (!sptep)
				return -ENOMEM;
		}
		mc->src_leaf = sptep - (skey & mask);
		mc->src_leaf_nr = skey >> bits;
	}
	sptep = mc->src_leaf + (skey & mask);
	if (mc->dst_leaf_nr != dkey >> bits) {
		dptep = radix_slot(w, &mm->pgtable, dkey);
		if (!dptep)
			return -ENOMEM;
		mc->dst_leaf = dptep - (dkey & mask);
		mc->dst_leaf_nr = dkey >> bits;
	}
	dptep = mc->dst_leaf + (dkey & mask);
	/* Start fetching the frame a few pages ahead in the same leaf. */
	if ((skey & mask) + 8 <= mask) {
		uint64_t ahead = sptep[8];
		if (pte_present(ahead))
			__builtin_prefetch(frame(w, pte_pfn(ahead)), 1);
	}

	if (!pte_none(*dptep))
		return -EEXIST; /* zero page, swap entry and guard marker too */
	uint64_t spte = *sptep;
	if (pte_none(spte))
		return holes ? 0 : -ENOENT;
	if (pte_present(spte)) {
		if (pte_zero(spte)) {
			/* R12.7: no soft-dirty on this path. */
			*sptep = 0;
			*dptep = pte_mk(0, PTE_SPECIAL | PTE_YOUNG);
			return 0;
		}
		return move_present_pte(w, dst_vma, dst, dptep, sptep);
	}
	if (pte_is_swap(spte))
		return move_swap_pte(w, dst_vma, dst, dptep, sptep);
	/*
	 * A migration entry would make the kernel wait and retry; nothing
	 * migrates concurrently in the model, so none should be seen here.
	 * Guard markers and other entries: -EFAULT (R12.7).
	 */
	return -EFAULT;
}

int avm_uffd_move(struct avm_world *w, int pid, unsigned long dst, unsigned long src,
		  unsigned long len, int mode, long *moved)
{
	struct avm_mm *mm = mm_find(w, pid);
	struct avm_vma *dst_vma, *src_vma;
	unsigned long done = 0;
	long ret;
	int err;

	if (!mm)
		return -ESRCH;
	/* R12.2 */
	err = uffd_validate_range(dst, len);
	if (!err)
		err = uffd_validate_range(src, len);
	if (!err && (mode & ~(AVM_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | AVM_UFFDIO_MOVE_MODE_DONTWAKE)))
		err = -EINVAL;
	if (err)
		return err; /* uffdio_move.move is not written on these paths */

	/* R12.4: find_vma_and_prepare_anon() on dst, then src. */
	dst_vma = vma_lookup(mm, dst);
	if (!dst_vma) {
		err = -ENOENT;
		goto out;
	}
	if (!(dst_vma->vm_flags & AVM_VM_SHARED) && anon_vma_prepare(dst_vma)) {
		err = -ENOMEM;
		goto out;
	}
	src_vma = (src >= dst_vma->vm_start && src < dst_vma->vm_end) ? dst_vma
								       : vma_lookup(mm, src);
	if (!src_vma) {
		err = -ENOENT;
		goto out;
	}
	err = -EINVAL;
	if ((src_vma->vm_flags & AVM_VM_SHARED) || src + len > src_vma->vm_end)
		goto out;
	if ((dst_vma->vm_flags & AVM_VM_SHARED) || dst + len > dst_vma->vm_end)
		goto out;
	err = validate_move_areas(mm->uffd, src_vma, dst_vma);
	if (err)
		goto out;

	/* R12.5-R12.9: page by page, the first error stops the loop. */
	struct move_cursor mc = { .src_leaf_nr = ~0UL, .dst_leaf_nr = ~0UL };
	while (done < len) {
		err = move_one(mm, dst_vma, &mc, dst + done, src + done, mode);
		if (err)
			break;
		done += AVM_PAGE_SIZE;
		w->stats.uffd_moved_pages++;
	}
out:
	/* R12.3: move_pages() returns bytes moved if any, else the error. */
	ret = done ? (long)done : err;
	if (moved)
		*moved = ret;
	avm_debug_validate(w);
	if (ret < 0)
		return (int)ret;
	return done == len ? 0 : -EAGAIN;
}
