/*
 * memory.c - whole-range page-table work, after mm/memory.c and
 * mm/mremap.c:
 *
 *   zap_range()         zap_page_range_single() / unmap_page_range() (R18.4)
 *   free_pgtables()     free_pgtables()
 *   copy_page_range()   fork's page-table copy (R9.4-R9.16)
 *   move_page_tables()  mremap's PTE moves (R7.13)
 *
 * All of them walk the radix page table with radix_walk(), so their cost is
 * proportional to the tables that exist in the range, not to its size.
 */
#include "internal.h"

/* ---- zap (R18.4, R13.3) ---------------------------------------------- */

struct zap_args {
	struct avm_vma *vma;
	bool zap_guards;
};

/*
 * Drop a present PTE's mapping of @pfn: rmap, rss, and the reference.  A
 * swap-cache frame left unmapped loses its cache entry when no swap PTE
 * needs it any more (free_swap_cache() from the TLB batch free).
 */
static void zap_present(struct avm_vma *vma, uint64_t pte)
{
	struct avm_mm *mm = vma->vm_mm;
	struct avm_world *w = mm->w;
	unsigned long pfn = pte_pfn(pte);
	struct avm_frame *f = frame(w, pfn);

	if (f->flags & FRAME_SHMEM) {
		/* Only file folios take the PTE's dirty and young bits. */
		if (pte & PTE_DIRTY)
			f->flags |= FRAME_DIRTY;
		if (pte & PTE_YOUNG)
			f->flags |= FRAME_REFERENCED;
		mm->rss_shmem--;
	} else {
		mm->rss_anon--;
	}
	rmap_remove(w, pfn, vma);
	if ((f->flags & FRAME_SWAPCACHE) && f->mapcount == 0)
		swap_folio_free(w, pfn);
	frame_put(w, pfn);
}

static int zap_one(unsigned long key, uint64_t *slot, void *arg)
{
	struct zap_args *za = arg;
	struct avm_vma *vma = za->vma;
	struct avm_mm *mm = vma->vm_mm;
	uint64_t pte = *slot;

	(void)key;
	if (pte_present(pte)) {
		if (!pte_zero(pte))
			zap_present(vma, pte);
	} else if (pte_is_swap(pte)) {
		swap_free(mm->w, pte_swp_slot(pte));
		AVM_ASSERT(mm->swapents > 0);
		mm->swapents--;
	} else if (pte_is_guard(pte)) {
		if (!za->zap_guards)
			return 0; /* R13.11: markers survive DONTNEED / FREE */
	}
	/* Migration entries hold nothing (fault.c): just cleared. */
	*slot = 0;
	return 0;
}

/* Context: [start, end) lies in @vma, page aligned. */
void zap_range(struct avm_vma *vma, unsigned long start, unsigned long end, bool zap_guards)
{
	struct zap_args za = { .vma = vma, .zap_guards = zap_guards };

	AVM_ASSERT(start >= vma->vm_start && end <= vma->vm_end);
	if (start >= end)
		return;
	radix_walk(&vma->vm_mm->pgtable, start >> AVM_PAGE_SHIFT,
		   (end >> AVM_PAGE_SHIFT) - 1, zap_one, &za);
}

/*
 * free_pgtables() for [start, end): every table there that maps nothing
 * is freed, including interior tables left empty.  Context: the VMAs of
 * the range are gone and the range is zapped.
 */
void free_pgtables(struct avm_mm *mm, unsigned long start, unsigned long end)
{
	if (start >= end)
		return;
	radix_prune(mm->w, &mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1);
}

/* ---- fork: copy_page_range (R9.4-R9.16) ------------------------------- */

struct copy_args {
	struct avm_vma *dst, *src;
	int err;
};

/*
 * copy_present_page() (R9.10): the child gets its own copy of a possibly
 * pinned exclusive page now; the parent's PTE and page stay as they are.
 */
static int copy_present_page(struct avm_vma *dst, unsigned long addr, uint64_t *dptep,
			     uint64_t spte)
{
	struct avm_world *w = dst->vm_mm->w;
	unsigned long pfn;
	uint64_t bits = PTE_YOUNG | PTE_DIRTY | PTE_SOFTDIRTY;

	if (frame_alloc(w, &pfn))
		return -ENOMEM;
	frame_set_content(frame(w, pfn), frame_content(frame(w, pte_pfn(spte))));
	rmap_add_new_anon(w, pfn, dst, addr, true);
	if (dst->vm_flags & AVM_VM_WRITE)
		bits |= PTE_WRITE;
	if ((dst->vm_flags & AVM_VM_UFFD_WP) && (spte & PTE_UFFD_WP))
		bits |= PTE_UFFD_WP;
	*dptep = pte_mk(pfn, bits);
	dst->vm_mm->rss_anon++;
	w->stats.fork_copy_pinned++;
	return 0;
}

static int copy_one(unsigned long key, uint64_t *sptep, void *arg)
{
	struct copy_args *ca = arg;
	struct avm_vma *dst = ca->dst, *src = ca->src;
	struct avm_mm *dst_mm = dst->vm_mm;
	struct avm_world *w = dst_mm->w;
	unsigned long addr = key << AVM_PAGE_SHIFT;
	bool cow = page_cow_mapping(src->vm_flags);
	bool dst_uffd_wp = dst->vm_flags & AVM_VM_UFFD_WP;
	uint64_t pte = *sptep;
	uint64_t *dptep = radix_slot(w, &dst_mm->pgtable, key);

	if (!dptep) {
		ca->err = -ENOMEM;
		return 1;
	}
	AVM_ASSERT(pte_none(*dptep));

	if (!pte_present(pte)) {
		uint64_t type = pte_type(pte);

		if (type == PTE_TYPE_SWAP) {
			/* R9.13: both lose the exclusive bit. */
			swap_dup(w, pte_swp_slot(pte));
			pte &= ~PTE_SWP_EXCLUSIVE;
			*sptep = pte;
			dst_mm->swapents++;
		} else if (type == PTE_TYPE_GUARD) {
			/* R9.15: guard markers are always copied. */
		} else if (pte_is_migration(pte)) {
			/* R9.14: COW mappings make both plain readable entries. */
			if (cow && type != PTE_TYPE_MIGR_READ) {
				pte = (pte & ~PTE_TYPE_MASK) | (PTE_TYPE_MIGR_READ << PTE_TYPE_SHIFT);
				*sptep = pte;
			}
		}
		if (!dst_uffd_wp)
			pte &= ~PTE_UFFD_WP;
		*dptep = pte;
		return 0;
	}

	if (!pte_zero(pte)) {
		unsigned long pfn = pte_pfn(pte);
		struct avm_frame *f = frame(w, pfn);

		if (f->flags & FRAME_ANON) {
			/* R9.8; -EBUSY means maybe pinned and exclusive: R9.10. */
			if (rmap_try_dup_anon(w, pfn, src)) {
				int ret = copy_present_page(dst, addr, dptep, pte);
				if (ret) {
					ca->err = ret;
					return 1;
				}
				return 0;
			}
			dst_mm->rss_anon++;
		} else {
			rmap_add_shmem(w, pfn);
			dst_mm->rss_shmem++;
		}
		frame_get(w, pfn);
	}
	/* R9.7/R9.9: __copy_present_ptes() */
	if (cow && pte_write(pte)) {
		pte &= ~PTE_WRITE;
		*sptep = pte;
	}
	if (src->vm_flags & AVM_VM_SHARED)
		pte &= ~PTE_DIRTY;
	pte &= ~PTE_YOUNG;
	if (!dst_uffd_wp)
		pte &= ~PTE_UFFD_WP;
	*dptep = pte;
	return 0;
}

/*
 * copy_page_range() - vma_needs_copy() (R9.4): only when the parent VMA has
 * an anon_vma, or the child VMA needs its PTEs: uffd-wp state, PFN maps,
 * or guard markers (VM_MAYBE_GUARD, the 6.19 rule, which this host's
 * 6.18.44 has: a shared anonymous VMA keeps its guards in the child).  A
 * never-written VMA (zero-page PTEs at most) is not copied: the child
 * refaults (R9.5).  Returns: 0 or -ENOMEM (what was copied stays, the
 * caller tears the child down).
 */
int copy_page_range(struct avm_vma *dst, struct avm_vma *src)
{
	struct copy_args ca = { .dst = dst, .src = src, .err = 0 };
	unsigned long needs = AVM_VM_PFNMAP | AVM_VM_MIXEDMAP | AVM_VM_UFFD_WP | AVM_VM_MAYBE_GUARD;

	AVM_ASSERT(dst->vm_start == src->vm_start && dst->vm_end == src->vm_end);
	if (!(dst->vm_flags & needs) && !src->anon_vma)
		return 0;
	radix_walk(&src->vm_mm->pgtable, src->vm_start >> AVM_PAGE_SHIFT,
		   (src->vm_end >> AVM_PAGE_SHIFT) - 1, copy_one, &ca);
	return ca.err;
}

/* ---- mremap: move_page_tables (R7.13) ---------------------------------- */

struct move_args {
	struct avm_mm *mm;
	unsigned long old_first; /* first old page number */
	unsigned long new_first;
	unsigned long failed_at; /* old page number whose move failed */
	bool failed;
};

static int move_one(unsigned long key, uint64_t *slot, void *arg)
{
	struct move_args *ma = arg;
	uint64_t *dst = radix_slot(ma->mm->w, &ma->mm->pgtable,
				   ma->new_first + (key - ma->old_first));

	if (!dst) {
		ma->failed = true;
		ma->failed_at = key;
		return 1;
	}
	AVM_ASSERT(pte_none(*dst));
	/* move_soft_dirty_pte(): present and swap-format entries alike. */
	*dst = *slot | PTE_SOFTDIRTY;
	*slot = 0;
	return 0;
}

/*
 * move_page_tables() - from [old_addr, old_addr + len) of @vma to
 * @new_addr in @new_vma (same mm, ranges disjoint).  Whole tables move
 * where the kernel moves them (R7.13: move_normal_pmd / move_normal_pud,
 * x86 has HAVE_MOVE_PMD and HAVE_MOVE_PUD): a PTE table (radix leaf) or
 * a PMD table (the leaves' parent) lying wholly inside the range, at the
 * same offset on both sides, with no table yet at the destination.  Their
 * entries move untouched (no soft-dirty); the rest moves PTE by PTE with
 * soft-dirty.  Not for a VMA registered with userfaultfd: without
 * UFFD_FEATURE_EVENT_REMAP the kernel goes PTE by PTE there
 * (vma_has_uffd_without_event_remap()).  Not modelled: try_realign_addr(),
 * which also moves the first, partly covered PMD whole when the space
 * below both starts is unmapped (its PTEs then keep their soft-dirty bit).
 * Frames, mapcounts, PG_anon_exclusive and folio index/mapping do not
 * change.
 * Returns: len, or on -ENOMEM the bytes before the first entry that could
 * not be moved (everything below that offset has moved, nothing above;
 * moving that much back needs no allocation: source tables stay).
 */
unsigned long move_page_tables(struct avm_vma *vma, unsigned long old_addr,
			       struct avm_vma *new_vma, unsigned long new_addr, unsigned long len)
{
	struct avm_mm *mm = vma->vm_mm;
	struct move_args ma = {
		.mm = mm,
		.old_first = old_addr >> AVM_PAGE_SHIFT,
		.new_first = new_addr >> AVM_PAGE_SHIFT,
	};
	unsigned long stop = 0;
	int ret;

	AVM_ASSERT(new_vma->vm_mm == mm);
	AVM_ASSERT(old_addr + len <= new_addr || new_addr + len <= old_addr);
	if (len == 0)
		return 0;
	ret = radix_move(mm->w, &mm->pgtable, ma.old_first,
			 ma.old_first + (len >> AVM_PAGE_SHIFT) - 1, ma.new_first,
			 vma->uffd_ctx ? 0 : 2, move_one, &ma, &stop);
	if (ma.failed)
		return (ma.failed_at - ma.old_first) << AVM_PAGE_SHIFT;
	if (ret == -ENOMEM)
		return (stop - ma.old_first) << AVM_PAGE_SHIFT;
	return len;
}
