/*
 * memory.c - whole-range page-table work, after mm/memory.c and
 * mm/mremap.c:
 *
 *   zap_range()         zap_page_range_single() / unmap_page_range() (R18.4)
 *   free_pgtables()     free_pgtables()
 *   copy_page_range()   fork's page-table copy (R9.4-R9.16)
 *   move_page_tables()  mremap's PTE moves (R7.13)
 *
 * All of them walk the radix page table leaf by leaf (radix_walk_leaves(),
 * radix_move()), so their cost is proportional to the tables that exist in
 * the range, not to its size, and their per-page work is a loop over one
 * leaf's slot array.
 */
#include "internal.h"

/* ---- the per-page fast paths ------------------------------------------ */

/*
 * The loops below run leaf by leaf over slot arrays (radix_walk_leaves(),
 * radix_move()), as zap_pte_range(), copy_pte_range() and move_ptes() run
 * over one PTE table at a time.  They touch one frame per present PTE: when
 * the frames of a leaf lie scattered over a frame table larger than the
 * cache (pages faulted out of address order, frames recycled), the frame
 * of the PTE this many slots ahead is prefetched.
 */
#ifndef PTE_PREFETCH_AHEAD
#define PTE_PREFETCH_AHEAD 32
#endif

/* A present PTE that maps a frame with a struct page (not the zero page). */
static inline bool pte_maps_frame(uint64_t pte)
{
	return (pte & (PTE_PRESENT | PTE_SPECIAL)) == PTE_PRESENT;
}

/*
 * Prefetch the frame of @pte if it maps one.  Always inlined: GCC 12 takes
 * a function whose only effect is a prefetch for pure, and drops the calls
 * when it is not inlined early.
 */
static inline __attribute__((always_inline)) void prefetch_pte_frame(const struct avm_world *w,
								      uint64_t pte)
{
	if (pte_maps_frame(pte))
		__builtin_prefetch(frame(w, pte_pfn(pte)), 1);
}

/*
 * How far into a run of @n slots to prefetch: the loop prefetches for
 * ptes[i + PTE_PREFETCH_AHEAD] while i is below the bound.  0 when the
 * first and last entries map frames exactly as far apart as they are
 * (pages faulted in address order): the hardware prefetcher follows such
 * a run of the frame table on its own, and prefetching costs more than it
 * saves there.
 */
static inline unsigned long prefetch_bound(const uint64_t *ptes, unsigned long n)
{
	uint64_t first = ptes[0], last = ptes[n - 1];

	if (n <= PTE_PREFETCH_AHEAD)
		return 0;
	if (pte_maps_frame(first) && pte_maps_frame(last) &&
	    pte_pfn(last) - pte_pfn(first) == n - 1)
		return 0;
	return n - PTE_PREFETCH_AHEAD;
}

/*
 * The first non-zero slot of ptes[i .. n), or n.  A run of empty slots (an
 * emptied table, a sparse range) is skipped eight at a time.
 */
static inline unsigned long next_pte(const uint64_t *ptes, unsigned long i, unsigned long n)
{
	if (avm_likely(i < n && ptes[i]))
		return i;
	while (i + 8 <= n && !(ptes[i] | ptes[i + 1] | ptes[i + 2] | ptes[i + 3] | ptes[i + 4] |
			       ptes[i + 5] | ptes[i + 6] | ptes[i + 7]))
		i += 8;
	while (i < n && !ptes[i])
		i++;
	return i;
}

/* ---- zap (R18.4, R13.3) ---------------------------------------------- */

struct zap_args {
	struct avm_vma *vma;
	bool zap_guards;
};

/* rss and swap-entry counts a leaf's zap drops, applied once per leaf. */
struct zap_counts {
	unsigned long anon, shmem, swapents;
};

/*
 * Drop a present PTE's mapping of @pfn: rmap, rss, and the reference.  A
 * swap-cache frame left unmapped loses its cache entry when no swap PTE
 * needs it any more (free_swap_cache() from the TLB batch free).
 */
static inline void zap_present(struct avm_vma *vma, struct avm_world *w, uint64_t pte,
			       struct zap_counts *zc)
{
	unsigned long pfn = pte_pfn(pte);
	struct avm_frame *f = frame(w, pfn);

	if (f->flags & FRAME_SHMEM) {
		/* Only file folios take the PTE's dirty and young bits. */
		if (pte & PTE_DIRTY)
			f->flags |= FRAME_DIRTY;
		if (pte & PTE_YOUNG)
			f->flags |= FRAME_REFERENCED;
		zc->shmem++;
	} else {
		zc->anon++;
	}
	rmap_remove(w, pfn, vma);
	if (avm_unlikely(f->flags & FRAME_SWAPCACHE) && f->mapcount == 0)
		swap_folio_free(w, pfn);
	frame_put(w, pfn);
}

/* zap_pte_range() over one leaf (R18.4): @n slots from @key. */
static int zap_leaf(unsigned long key, uint64_t *ptes, unsigned long n, void *arg)
{
	struct zap_args *za = arg;
	struct avm_vma *vma = za->vma;
	struct avm_mm *mm = vma->vm_mm;
	struct avm_world *w = mm->w;
	struct zap_counts zc = { 0, 0, 0 };
	unsigned long pf = prefetch_bound(ptes, n);

	(void)key;
	for (unsigned long i = next_pte(ptes, 0, n); i < n; i = next_pte(ptes, i + 1, n)) {
		uint64_t pte = ptes[i];

		if (i < pf)
			prefetch_pte_frame(w, ptes[i + PTE_PREFETCH_AHEAD]);
		if (pte_present(pte)) {
			if (!pte_zero(pte))
				zap_present(vma, w, pte, &zc);
		} else if (pte_is_swap(pte)) {
			swap_free(w, pte_swp_slot(pte));
			AVM_ASSERT(mm->swapents > zc.swapents);
			zc.swapents++;
		} else if (pte_is_guard(pte)) {
			if (!za->zap_guards)
				continue; /* R13.11: markers survive DONTNEED / FREE */
		}
		/* Migration entries hold nothing (fault.c): just cleared. */
		ptes[i] = 0;
	}
	AVM_ASSERT_INTERNAL(mm->rss_anon >= zc.anon && mm->rss_shmem >= zc.shmem);
	mm->rss_anon -= zc.anon;
	mm->rss_shmem -= zc.shmem;
	mm->swapents -= zc.swapents;
	return 0;
}

/* Context: [start, end) lies in @vma, page aligned. */
void zap_range(struct avm_vma *vma, unsigned long start, unsigned long end, bool zap_guards)
{
	struct zap_args za = { .vma = vma, .zap_guards = zap_guards };

	AVM_ASSERT(start >= vma->vm_start && end <= vma->vm_end);
	if (start >= end)
		return;
	radix_walk_leaves(&vma->vm_mm->pgtable, start >> AVM_PAGE_SHIFT,
			  (end >> AVM_PAGE_SHIFT) - 1, zap_leaf, &za);
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

/*
 * A non-present PTE (R9.13-R9.15): swap entries take a swap count and lose
 * the exclusive bit on both sides, COW mappings turn writable migration
 * entries into readable ones on both sides, guard markers copy as they are.
 * Returns: the child's entry.
 */
static uint64_t copy_nonpresent(struct avm_world *w, bool cow, uint64_t *sptep, uint64_t pte,
				unsigned long *swapents)
{
	uint64_t type = pte_type(pte);

	if (type == PTE_TYPE_SWAP) {
		/* R9.13: both lose the exclusive bit. */
		swap_dup(w, pte_swp_slot(pte));
		pte &= ~PTE_SWP_EXCLUSIVE;
		*sptep = pte;
		(*swapents)++;
	} else if (type == PTE_TYPE_GUARD) {
		/* R9.15: guard markers are always copied. */
	} else if (pte_is_migration(pte)) {
		/* R9.14: COW mappings make both plain readable entries. */
		if (cow && type != PTE_TYPE_MIGR_READ) {
			pte = (pte & ~PTE_TYPE_MASK) | (PTE_TYPE_MIGR_READ << PTE_TYPE_SHIFT);
			*sptep = pte;
		}
	}
	return pte;
}

/*
 * copy_pte_range() over one leaf of the parent (R9.7-R9.15): @n slots from
 * @key.  The child's leaf (same keys, same shape: one lookup serves the
 * run) is allocated at the first non-zero entry, so a parent leaf of empty
 * slots gives the child no table.  On -ENOMEM the entries before the
 * failing one are copied, the rest not.
 */
static int copy_leaf(unsigned long key, uint64_t *sptes, unsigned long n, void *arg)
{
	struct copy_args *ca = arg;
	struct avm_vma *dst = ca->dst, *src = ca->src;
	struct avm_mm *dst_mm = dst->vm_mm;
	struct avm_world *w = dst_mm->w;
	bool cow = page_cow_mapping(src->vm_flags);
	/* R9.7/R9.9 (__copy_present_ptes()): what each side loses. */
	uint64_t src_clear = cow ? PTE_WRITE : 0;
	uint64_t uffd_clear = (dst->vm_flags & AVM_VM_UFFD_WP) ? 0 : PTE_UFFD_WP;
	uint64_t dst_clear = PTE_YOUNG | uffd_clear |
			     ((src->vm_flags & AVM_VM_SHARED) ? PTE_DIRTY : 0);
	unsigned long rss_anon = 0, rss_shmem = 0, swapents = 0;
	uint64_t *dptes = NULL;
	unsigned long pf = prefetch_bound(sptes, n);
	int err = 0;

	for (unsigned long i = next_pte(sptes, 0, n); i < n; i = next_pte(sptes, i + 1, n)) {
		uint64_t pte = sptes[i];

		if (!dptes) {
			unsigned long room;
			uint64_t *d = radix_leaf_slots(w, &dst_mm->pgtable, key + i, &room);

			if (!d) {
				err = -ENOMEM;
				break;
			}
			AVM_ASSERT_INTERNAL(room >= n - i);
			dptes = d - i;
		}
		AVM_ASSERT(pte_none(dptes[i]));
		if (i < pf)
			prefetch_pte_frame(w, sptes[i + PTE_PREFETCH_AHEAD]);

		if (avm_unlikely(!pte_present(pte))) {
			pte = copy_nonpresent(w, cow, &sptes[i], pte, &swapents);
			dptes[i] = pte & ~uffd_clear;
			continue;
		}
		if (!pte_zero(pte)) {
			unsigned long pfn = pte_pfn(pte);
			struct avm_frame *f = frame(w, pfn);

			if (f->flags & FRAME_ANON) {
				/* R9.8; -EBUSY: maybe pinned and exclusive, copy now (R9.10). */
				if (avm_unlikely(rmap_try_dup_anon(w, pfn, src))) {
					err = copy_present_page(dst, (key + i) << AVM_PAGE_SHIFT,
								&dptes[i], pte);
					if (err)
						break;
					continue;
				}
				rss_anon++;
			} else {
				rmap_add_shmem(w, pfn);
				rss_shmem++;
			}
			frame_get(w, pfn);
		}
		/* R9.7/R9.9: __copy_present_ptes() */
		if (pte & src_clear) {
			pte &= ~src_clear;
			sptes[i] = pte;
		}
		dptes[i] = pte & ~dst_clear;
	}
	dst_mm->rss_anon += rss_anon;
	dst_mm->rss_shmem += rss_shmem;
	dst_mm->swapents += swapents;
	if (err) {
		ca->err = err;
		return 1;
	}
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
	radix_walk_leaves(&src->vm_mm->pgtable, src->vm_start >> AVM_PAGE_SHIFT,
			  (src->vm_end >> AVM_PAGE_SHIFT) - 1, copy_leaf, &ca);
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

/*
 * move_ptes() over one source leaf not moved whole (R7.13): @n slots from
 * @key.  The destination run may straddle two destination leaves
 * (unaligned moves): each destination leaf is looked up, allocated if need
 * be, at the first non-zero entry that goes there, and filled to its end
 * or the end of the run.  On -ENOMEM every entry before the failing one
 * has moved, none after it (R7.14).
 */
static int move_leaf(unsigned long key, uint64_t *src, unsigned long n, void *arg)
{
	struct move_args *ma = arg;
	struct avm_mm *mm = ma->mm;
	unsigned long dkey = ma->new_first + (key - ma->old_first);
	unsigned long i = 0;

	while ((i = next_pte(src, i, n)) < n) {
		unsigned long room, stop;
		uint64_t *dst = radix_leaf_slots(mm->w, &mm->pgtable, dkey + i, &room);

		if (!dst) {
			ma->failed = true;
			ma->failed_at = key + i;
			return 1;
		}
		/* dst[0 .. room) are the destinations of src[i ..]. */
		stop = avm_min(n, i + room);
		for (unsigned long j = 0; i < stop; i++, j++) {
			uint64_t v = src[i];

			if (!v)
				continue;
			AVM_ASSERT(pte_none(dst[j]));
			/* move_soft_dirty_pte(): present and swap-format entries alike. */
			dst[j] = v | PTE_SOFTDIRTY;
			src[i] = 0;
		}
	}
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
			 vma->uffd_ctx ? 0 : 2, move_leaf, &ma, &stop);
	if (ma.failed)
		return (ma.failed_at - ma.old_first) << AVM_PAGE_SHIFT;
	if (ret == -ENOMEM)
		return (stop - ma.old_first) << AVM_PAGE_SHIFT;
	return len;
}
