/*
 * reclaim.c - reclaim through the reverse map (spec §11.2, §11.3, §13.2):
 * try_to_unmap(), folio_referenced(), the pageout of one folio as
 * shrink_folio_list() does it, MADV_PAGEOUT / MADV_COLD / MADV_FREE on a
 * VMA's range, and the global clock avm_reclaim().
 *
 * The life of an anonymous frame under reclaim (R11.6):
 *
 *   mapped, swap-backed --swap_alloc_cache()--> mapped, in swap cache
 *     --try_to_unmap(): each PTE -> swap entry (exclusive bit iff
 *       PG_anon_exclusive)--> unmapped, in swap cache
 *     --pageout: content -> swap_content, swapcache_del()--> freed
 *       (a swapfile: the written folio stays cached until the next pass)
 *
 *   mapped, lazy-free (MADV_FREE) --try_to_unmap(): PTE cleared if still
 *     clean and unused--> freed; redirtied --> swap-backed again, kept
 *
 * A walk aborts (the folio stays, partly unmapped if earlier PTEs were
 * already converted, exactly as in the kernel) on a VM_LOCKED VMA, on a
 * maybe-pinned exclusive page, or on a redirtied lazy-free page.
 *
 * The folio is "isolated" for the duration with one extra reference, as
 * the kernel's LRU isolation holds one; the counts compared against below
 * (1 + mapcount, 1 + swap cache) include it.
 */
#include "internal.h"

/* ---- try_to_unmap (R11.6, R11.7) -------------------------------------- */

static bool try_to_unmap_one(struct avm_world *w, unsigned long pfn, struct avm_vma *vma,
			     unsigned long addr, void *arg)
{
	uint64_t *ptep = rmap_pte_maps(vma, addr, pfn);
	struct avm_frame *f = frame(w, pfn);
	struct avm_mm *mm = vma->vm_mm;
	(void)arg;

	if (!ptep)
		return true; /* the VMA may map the index but not this frame */
	/*
	 * R11.6: mlocked memory is not reclaimed; try_to_unmap_one() mlocks
	 * the (isolated) folio it finds in a VM_LOCKED VMA and gives up.
	 */
	if (vma->vm_flags & AVM_VM_LOCKED) {
		if (!(vma->vm_flags & AVM_VM_SPECIAL))
			frame_mlock_putback(w, pfn);
		return false;
	}

	uint64_t pteval = *ptep;
	*ptep = 0;
	if (pteval & PTE_DIRTY)
		f->flags |= FRAME_DIRTY;

	if (!(f->flags & FRAME_SWAPBACKED)) {
		/*
		 * Lazy-free: discard when nobody but the mappings and the
		 * isolation holds it and it was not written since MADV_FREE.
		 */
		if (f->refcount == 1 + (uint32_t)f->mapcount &&
		    (!(f->flags & FRAME_DIRTY) || (vma->vm_flags & AVM_VM_DROPPABLE))) {
			mm->rss_anon--;
			rmap_remove(w, pfn, vma);
			frame_put(w, pfn);
			return f->mapcount > 0;
		}
		/* Redirtied: put it back and make it ordinary again. */
		*ptep = pteval;
		if (!(vma->vm_flags & AVM_VM_DROPPABLE))
			f->flags |= FRAME_SWAPBACKED;
		return false;
	}

	AVM_ASSERT(f->flags & FRAME_SWAPCACHE);
	bool exclusive = f->flags & FRAME_ANON_EXCLUSIVE;
	/* Exclusivity moves into the swap PTE; a maybe-pinned page refuses. */
	if (exclusive && rmap_try_share_anon(w, pfn)) {
		*ptep = pteval;
		return false;
	}
	swap_dup(w, f->swap);
	*ptep = pte_mkswap(f->swap, exclusive, pteval) | (pteval & PTE_UFFD_WP);
	mm->rss_anon--;
	mm->swapents++;
	rmap_remove(w, pfn, vma);
	frame_put(w, pfn);
	return f->mapcount > 0;
}

/*
 * reclaim_try_to_unmap() - replace every PTE mapping @pfn (found through
 * rmap_walk) with a swap entry, or clear it for a lazy-free frame.
 * Context: an anonymous frame, isolated (caller holds a reference); a
 * swap-backed one is in the swap cache.
 * Returns: true when no PTE maps the frame any more.
 */
bool reclaim_try_to_unmap(struct avm_world *w, unsigned long pfn)
{
	struct rmap_walk_control rwc = { .rmap_one = try_to_unmap_one };

	rmap_walk(w, pfn, &rwc);
	return frame(w, pfn)->mapcount == 0;
}

/* ---- folio_referenced (R11.8) ------------------------------------------- */

struct referenced_arg {
	int young;
	bool locked; /* a VM_LOCKED VMA maps it */
	bool reclaim; /* from reclaim: the folio is isolated */
};

static bool referenced_one(struct avm_world *w, unsigned long pfn, struct avm_vma *vma,
			   unsigned long addr, void *arg)
{
	struct referenced_arg *ra = arg;
	uint64_t *ptep = rmap_pte_maps(vma, addr, pfn);

	if (!ptep)
		return true;
	if (vma->vm_flags & AVM_VM_LOCKED) {
		/* folio_referenced_one(): mlock_vma_folio() of an isolated folio. */
		if (ra->reclaim && !(vma->vm_flags & AVM_VM_SPECIAL))
			frame_mlock_putback(w, pfn);
		ra->locked = true;
		return false;
	}
	if (*ptep & PTE_YOUNG) {
		*ptep &= ~PTE_YOUNG;
		ra->young++;
	}
	return true;
}

/*
 * reclaim_folio_referenced() - test and clear the young bit of every PTE
 * mapping the anonymous frame @pfn.  Returns: young PTEs found; *locked
 * set when a VM_LOCKED VMA maps it (the walk stops there).
 */
int reclaim_folio_referenced(struct avm_world *w, unsigned long pfn, bool *locked)
{
	struct referenced_arg ra = { 0, false, locked != NULL };
	struct rmap_walk_control rwc = { .arg = &ra, .rmap_one = referenced_one };

	rmap_walk(w, pfn, &rwc);
	if (locked)
		*locked = ra.locked;
	return ra.young;
}

/* ---- pageout of one folio (shrink_folio_list) --------------------------- */

/*
 * reclaim_folio() - reclaim one anonymous frame the way shrink_folio_list()
 * does once it decided to (references already judged): add to swap,
 * unmap, write, free.
 * Returns: true when the frame was freed.
 */
bool reclaim_folio(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);
	bool freed = false;

	AVM_ASSERT((f->flags & FRAME_ANON) && f->refcount > 0);
	/* add_to_swap(): a swap-backed folio needs a slot before unmapping. */
	if ((f->flags & FRAME_SWAPBACKED) && !(f->flags & FRAME_SWAPCACHE)) {
		unsigned long slot;
		/*
		 * R11.6 / R10.3 (host): shrink_folio_list() keeps a maybe-DMA-
		 * pinned folio before add_to_swap(); it never enters the swap
		 * cache.  (One already in it goes on to try_to_unmap(), which
		 * refuses an exclusive pinned page.)
		 */
		if (frame_maybe_pinned(f))
			return false;
		if (swap_alloc_cache(w, pfn, &slot))
			return false; /* no swap space: keep it */
		f->flags |= FRAME_DIRTY;
	}

	frame_get(w, pfn); /* isolation */
	if (f->mapcount > 0 && !reclaim_try_to_unmap(w, pfn)) {
		/*
		 * activate_locked: not a candidate now (the clock passes over it
		 * once); give the slot back if swap is tight.
		 */
		f->flags |= FRAME_REFERENCED;
		if ((f->flags & FRAME_SWAPCACHE) && (swap_full(w) || (f->flags & FRAME_MLOCKED)))
			swap_folio_free(w, pfn);
		goto out_put;
	}

	if (!(f->flags & FRAME_SWAPBACKED)) {
		/* Lazy-free, all PTEs discarded: freed unless someone else holds it. */
		freed = f->refcount == 1;
		goto out_put;
	}

	/*
	 * pageout(): only a folio nobody else holds (isolation + swap cache)
	 * is written; a GUP reference keeps it in the swap cache, unmapped,
	 * where a swap-in finds it again.
	 */
	if (f->refcount != 2)
		goto out_put;
	/*
	 * The content is stored even for a clean folio: a DMA write through a
	 * pin does not dirty the frame in the model, and the store is free.
	 */
	bool was_dirty = f->flags & FRAME_DIRTY;
	w->swap_content[f->swap] = frame_content(f);
	f->flags &= ~FRAME_DIRTY;
	if (was_dirty) {
		w->stats.swap_out++;
		/*
		 * A swapfile's write completes later: the clean folio stays in
		 * the swap cache until a later pass frees it, and a swap-in
		 * before that finds the same frame.  zram writes synchronously,
		 * so the folio is freed in this pass.
		 */
		if (!w->cfg.swap_synchronous)
			goto out_put;
	}
	swapcache_del(w, pfn);
	freed = true;
out_put:
	frame_put(w, pfn);
	return freed;
}

/* ---- madvise page actions (R13.4, R13.6) -------------------------------- */

struct madv_walk {
	struct avm_vma *vma;
};

static struct avm_frame *normal_frame(struct avm_world *w, uint64_t pte, unsigned long *pfn)
{
	if (!pte_present(pte) || pte_zero(pte))
		return NULL;
	*pfn = pte_pfn(pte);
	return frame(w, *pfn);
}

/*
 * shrink_folio_list() for a shmem folio that MADV_PAGEOUT isolated, mapped
 * only by the PTE at @ptep (R11.6 / R13.6, host): try_to_unmap() clears
 * the PTE (no swap entry: shmem keeps it in its page cache, and a pin does
 * not stop a file folio's unmap); then a dirty folio that nobody else holds
 * is written out by shmem_writeout(): a swap slot replaces it in the page
 * cache and the folio is freed (the model frees it at once, zram or
 * swapfile); a clean one is simply dropped from the page cache
 * (__remove_mapping(); it was never written: it refaults as zeroes).  A
 * held folio (pin, reference) stays in the page cache, unmapped; so does a
 * dirty one when no swap slot is free.
 */
static void shmem_pageout(struct avm_vma *vma, unsigned long addr, uint64_t *ptep,
			  unsigned long pfn)
{
	struct avm_mm *mm = vma->vm_mm;
	struct avm_world *w = mm->w;
	struct avm_frame *f = frame(w, pfn);
	struct avm_shmem *sh = frame_mapping(w, f);
	uint64_t *cslot = radix_lookup(&sh->pages, frame_index(f));
	unsigned long slot;

	(void)addr;
	AVM_ASSERT(cslot && *cslot == pfn);
	frame_get(w, pfn); /* isolation */
	if (*ptep & PTE_DIRTY)
		f->flags |= FRAME_DIRTY;
	*ptep = 0;
	mm->rss_shmem--;
	rmap_remove(w, pfn, vma);
	frame_put(w, pfn);
	/* is_page_cache_freeable() / the refcount freeze: cache + isolation only. */
	if (f->refcount != 2)
		goto keep;
	if (f->flags & FRAME_DIRTY) {
		if (swap_alloc(w, &slot))
			goto keep; /* shmem_writeout() redirties it */
		w->swap_content[slot] = frame_content(f);
		w->stats.swap_out++;
		*cslot = shmem_swap_entry(slot);
	} else {
		*cslot = 0;
	}
	f->flags &= ~(FRAME_SHMEM | FRAME_DIRTY);
	frame_set_mapping(f, 0);
	frame_put(w, pfn); /* the page cache's reference */
keep:
	frame_put(w, pfn);
}

static int pageout_pte(unsigned long key, uint64_t *slot, void *arg)
{
	struct madv_walk *mw = arg;
	struct avm_world *w = mw->vma->vm_mm->w;
	unsigned long pfn;
	struct avm_frame *f = normal_frame(w, *slot, &pfn);

	/* Skip what other mappings share (host: "mapped by more than one process"). */
	if (!f || !(f->flags & (FRAME_ANON | FRAME_SHMEM)) || f->mapcount != 1)
		return 0;
	if (f->flags & FRAME_SHMEM) {
		*slot &= ~PTE_YOUNG;
		f->flags &= ~FRAME_REFERENCED;
		if (f->flags & FRAME_MLOCKED) {
			frame_mlock_putback(w, pfn);
			return 0;
		}
		shmem_pageout(mw->vma, key << AVM_PAGE_SHIFT, slot, pfn);
		return 0;
	}
	f->flags &= ~FRAME_REFERENCED;
	if (f->flags & FRAME_MLOCKED) {
		/*
		 * R13.6 / R13.2: unevictable (an mlocked folio left in a VMA
		 * that lost VM_LOCKED without munlock, by MREMAP_DONTUNMAP);
		 * isolated and put straight back, which resets mlock_count.
		 */
		frame_mlock_putback(w, pfn);
		return 0;
	}
	reclaim_folio(w, pfn);
	return 0;
}

static int cold_pte(unsigned long key, uint64_t *slot, void *arg)
{
	struct madv_walk *mw = arg;
	struct avm_world *w = mw->vma->vm_mm->w;
	unsigned long pfn;
	struct avm_frame *f = normal_frame(w, *slot, &pfn);

	(void)key;
	if (!f || f->mapcount != 1)
		return 0;
	*slot &= ~PTE_YOUNG;
	f->flags &= ~FRAME_REFERENCED;
	return 0;
}

static int free_pte(unsigned long key, uint64_t *slot, void *arg)
{
	struct madv_walk *mw = arg;
	struct avm_mm *mm = mw->vma->vm_mm;
	struct avm_world *w = mm->w;
	uint64_t pte = *slot;
	unsigned long pfn;

	(void)key;
	if (pte_is_swap(pte)) {
		/* Cheaper to refault a zero page than to swap in (R13.4). */
		swap_free(w, pte_swp_slot(pte));
		*slot = 0;
		AVM_ASSERT(mm->swapents > 0);
		mm->swapents--;
		return 0;
	}
	struct avm_frame *f = normal_frame(w, pte, &pfn);
	if (!f || !(f->flags & FRAME_ANON))
		return 0; /* zero page, guard and migration entries stay */
	if (f->flags & (FRAME_SWAPCACHE | FRAME_DIRTY)) {
		if (f->mapcount != 1)
			return 0;
		if ((f->flags & FRAME_SWAPCACHE) && !swap_folio_free(w, pfn))
			return 0;
		f->flags &= ~FRAME_DIRTY;
	}
	*slot &= ~(PTE_YOUNG | PTE_DIRTY);
	/* folio_mark_lazyfree() */
	if ((f->flags & FRAME_SWAPBACKED) && !(f->flags & (FRAME_SWAPCACHE | FRAME_MLOCKED)))
		f->flags &= ~FRAME_SWAPBACKED;
	return 0;
}

static void madv_walk(struct avm_vma *vma, unsigned long start, unsigned long end, radix_fn fn)
{
	struct madv_walk mw = { vma };

	start = avm_max(start, vma->vm_start);
	end = avm_min(end, vma->vm_end);
	if (start >= end)
		return;
	radix_walk(&vma->vm_mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1, fn,
		   &mw);
}

/* can_madv_lru_vma() */
static bool madv_lru_ok(const struct avm_vma *vma)
{
	return !(vma->vm_flags & (AVM_VM_LOCKED | AVM_VM_PFNMAP | AVM_VM_HUGETLB));
}

int reclaim_madv_pageout(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	if (!madv_lru_ok(vma))
		return -EINVAL;
	/* Shared anonymous (shmem) pages too: root may page out any file (R13.6). */
	madv_walk(vma, start, end, pageout_pte);
	return 0;
}

int reclaim_madv_cold(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	if (!madv_lru_ok(vma))
		return -EINVAL;
	madv_walk(vma, start, end, cold_pte);
	return 0;
}

int reclaim_madv_free(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	/* madvise_dontneed_free_valid_vma(), then madvise_free_single_vma(). */
	if (vma->vm_flags & (AVM_VM_LOCKED | AVM_VM_PFNMAP))
		return -EINVAL;
	if (!vma_is_anonymous(vma))
		return -EINVAL;
	madv_walk(vma, start, end, free_pte);
	return 0;
}

/* ---- global reclaim --------------------------------------------------- */

/* Worth looking at: an anonymous, evictable frame that reclaim could free. */
static bool reclaim_candidate(const struct avm_world *w, const struct avm_frame *f)
{
	if (f->refcount == 0 || !(f->flags & FRAME_ANON) || (f->flags & (FRAME_MLOCKED | FRAME_SHMEM)))
		return false;
	if (f->mapcount == 0 && !(f->flags & FRAME_SWAPCACHE))
		return false; /* held only by pins or references */
	/* Swap-backed and not yet in swap needs a free slot (R13.6: no swap, no effect). */
	if ((f->flags & FRAME_SWAPBACKED) && !(f->flags & FRAME_SWAPCACHE) &&
	    w->swap_used >= w->cfg.swap_slots)
		return false;
	return true;
}

/*
 * avm_reclaim() - a clock over the frame table from reclaim_hand: a frame
 * whose PTEs were young gets a second chance (folio_referenced() clears
 * them), a frame mapped by a VM_LOCKED VMA is passed over, the rest go
 * through reclaim_folio().  A frame whose unmap failed is "activated"
 * (FRAME_REFERENCED) and passed over once more, so one call does not retry
 * it at once.  At most two sweeps: one to age, one to reclaim.  A
 * swapfile's write completes "later": those frames are freed by the next
 * call.
 */
int avm_reclaim(struct avm_world *w, unsigned long nr, unsigned long *reclaimed)
{
	unsigned long done = 0, frames = w->frames_total;
	unsigned long budget = frames > 1 ? 2 * (frames - 1) : 0;

	for (unsigned long i = 0; i < budget && done < nr; i++) {
		unsigned long pfn = w->reclaim_hand;
		if (pfn == 0 || pfn >= frames)
			pfn = 1;
		w->reclaim_hand = pfn + 1;

		struct avm_frame *f = frame(w, pfn);
		if (!reclaim_candidate(w, f))
			continue;
		/* Activated by an earlier failed attempt: pass it over once. */
		if (f->flags & FRAME_REFERENCED) {
			f->flags &= ~FRAME_REFERENCED;
			continue;
		}
		if (f->mapcount > 0) {
			bool locked = false;
			int young = reclaim_folio_referenced(w, pfn, &locked);
			if (locked || young > 0)
				continue;
		}
		if (reclaim_folio(w, pfn))
			done++;
	}
	if (reclaimed)
		*reclaimed = done;
	avm_debug_validate(w);
	if (done < nr && w->cfg.swap_slots == 0)
		return -ENOMEM;
	return 0;
}

/*
 * avm_referenced() - folio_referenced() on the frame mapped at @addr: for
 * an anonymous frame every mapping found by the rmap walk, for a shmem
 * frame this PTE only.  Returns: 0, -ESRCH, or -EFAULT when no frame (or
 * the zero page) is mapped there.
 */
int avm_referenced(struct avm_world *w, int pid, unsigned long addr, int *young)
{
	struct avm_mm *mm = mm_find(w, pid);
	uint64_t *ptep;
	int n;

	if (!mm)
		return -ESRCH;
	ptep = pt_lookup(mm, addr & AVM_PAGE_MASK);
	if (!ptep || !pte_present(*ptep) || pte_zero(*ptep))
		return -EFAULT;
	unsigned long pfn = pte_pfn(*ptep);
	if (frame(w, pfn)->flags & FRAME_ANON) {
		n = reclaim_folio_referenced(w, pfn, NULL);
	} else {
		n = (*ptep & PTE_YOUNG) ? 1 : 0;
		*ptep &= ~PTE_YOUNG;
	}
	if (young)
		*young = n;
	avm_debug_validate(w);
	return 0;
}
