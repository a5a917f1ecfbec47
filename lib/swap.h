/*
 * swap.h - swap slots and the swap cache (swap.c), reclaim through rmap
 * (reclaim.c) and userfaultfd (uffd.c).  Spec §8.4, §11, §12, §13.2.
 * Included only through internal.h.
 */
#ifndef ANONVM_SWAP_H
#define ANONVM_SWAP_H

/* ---- swap.c ----------------------------------------------------------- */

AVM_INTERNAL int swap_init(struct avm_world *w);
AVM_INTERNAL void swap_fini(struct avm_world *w);
/* A free slot with swap count 1.  Returns 0 / -ENOMEM (swap full or none). */
AVM_INTERNAL int swap_alloc(struct avm_world *w, unsigned long *slot);
/*
 * add_to_swap() for reclaim: a free slot with count 0, held by the swap
 * cache, @pfn added to the cache.  Returns 0 / -ENOMEM (nothing changed).
 */
AVM_INTERNAL int swap_alloc_cache(struct avm_world *w, unsigned long pfn, unsigned long *slot);
/* vm_swap_full(): more than half of the slots in use (R8.19). */
AVM_INTERNAL bool swap_full(const struct avm_world *w);
/* swap_duplicate() (fork, R9.13). */
AVM_INTERNAL void swap_dup(struct avm_world *w, unsigned long slot);
/*
 * free_swap_and_cache(): drop one swap-count reference (zap of a swap PTE).
 * At count 0 the slot is freed, and a swap-cache frame that no PTE maps
 * (or any, when swap is more than half full) is removed from the cache
 * (dropping the cache's frame reference).  The caller adjusts swapents.
 */
AVM_INTERNAL void swap_free(struct avm_world *w, unsigned long slot);
/* Swap cache: the frame cached for @slot, or 0. */
AVM_INTERNAL unsigned long swapcache_lookup(const struct avm_world *w, unsigned long slot);
/* Add @pfn to the swap cache under @slot (+1 frame reference, FRAME_SWAPCACHE). */
AVM_INTERNAL void swapcache_add(struct avm_world *w, unsigned long pfn, unsigned long slot);
/* Remove @pfn from the swap cache (-1 frame reference, may free the frame). */
AVM_INTERNAL void swapcache_del(struct avm_world *w, unsigned long pfn);
/*
 * folio_free_swap() (R8.10 step 6): only if the slot's count is 0; the
 * frame is marked dirty.  The caller must hold its own reference.
 *
 * zap (memory.c) does free_swap_cache(): after removing the last mapping of
 * a FRAME_SWAPCACHE frame, call swap_folio_free() before dropping the PTE's
 * reference, or an unmapped frame lingers in the swap cache.
 */
AVM_INTERNAL bool swap_folio_free(struct avm_world *w, unsigned long pfn);
/* read_swap_cache_async() for MADV_WILLNEED: @slot read into the swap cache. */
AVM_INTERNAL void swap_read_cache_async(struct avm_world *w, unsigned long slot);
/*
 * do_swap_page() (R8.15-R8.20) for the swap PTE at @ptep.  Counts
 * stats.faults_swapin (every call) and stats.swap_in (content read from the
 * device).  A write fault left read-only calls fault_handle() again, which
 * takes the wp path on the now present PTE (R8.20).
 * Returns: 0 or -ENOMEM (or what that wp fault returns).
 */
AVM_INTERNAL int swap_do_page(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
			      uint64_t *ptep, unsigned int fault_flags);

/* ---- reclaim.c ------------------------------------------------------- */

/*
 * madvise page actions on [start, end) clipped to @vma (R13.4, R13.6).
 * madvise.c calls them once per VMA, in address order, after its own
 * argument checks (alignment, len, unknown advice, holes -> -ENOMEM at the
 * end).  The per-VMA refusals are checked HERE, before anything changes,
 * so that an error in a later VMA leaves the earlier VMAs advised as the
 * kernel's madvise_walk_vmas() does:
 *   PAGEOUT, COLD: -EINVAL on VM_LOCKED|VM_PFNMAP|VM_HUGETLB (can_madv_lru_vma);
 *                  PAGEOUT on shmem unmaps and writes out (or drops, if
 *                  clean) pages only the caller maps (shmem_pageout()).
 *   FREE:          -EINVAL on VM_LOCKED|VM_PFNMAP, or a non-anonymous VMA.
 * Returns: 0 or -EINVAL.
 */
AVM_INTERNAL int reclaim_madv_pageout(struct avm_vma *vma, unsigned long start, unsigned long end);
AVM_INTERNAL int reclaim_madv_cold(struct avm_vma *vma, unsigned long start, unsigned long end);
AVM_INTERNAL int reclaim_madv_free(struct avm_vma *vma, unsigned long start, unsigned long end);
/* try_to_unmap() (R11.6): true when nothing maps @pfn any more. */
AVM_INTERNAL bool reclaim_try_to_unmap(struct avm_world *w, unsigned long pfn);
/* folio_referenced() (R11.8): young PTEs cleared and counted. */
AVM_INTERNAL int reclaim_folio_referenced(struct avm_world *w, unsigned long pfn, bool *locked);
/* shrink_folio_list() for one anonymous frame.  Returns: true if freed. */
AVM_INTERNAL bool reclaim_folio(struct avm_world *w, unsigned long pfn);

/* ---- uffd.c ------------------------------------------------------------ */

/*
 * Context references: one per VMA whose uffd_ctx points at it, one for the
 * owning mm (mm->uffd).  The last put frees it.
 */
AVM_INTERNAL void uffd_ctx_get(struct avm_uffd *ctx);
AVM_INTERNAL void uffd_ctx_put(struct avm_world *w, struct avm_uffd *ctx);

#endif /* ANONVM_SWAP_H */
