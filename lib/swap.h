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
/* swap_duplicate() (fork, R9.13). */
AVM_INTERNAL void swap_dup(struct avm_world *w, unsigned long slot);
/*
 * free_swap_and_cache(): drop one swap-count reference (zap of a swap PTE).
 * At count 0 the slot is freed, and a swap-cache frame that no PTE maps is
 * removed from the cache (dropping the cache's frame reference).
 */
AVM_INTERNAL void swap_free(struct avm_world *w, unsigned long slot);
/* Swap cache: the frame cached for @slot, or 0. */
AVM_INTERNAL unsigned long swapcache_lookup(const struct avm_world *w, unsigned long slot);
/* Add @pfn to the swap cache under @slot (+1 frame reference, FRAME_SWAPCACHE). */
AVM_INTERNAL void swapcache_add(struct avm_world *w, unsigned long pfn, unsigned long slot);
/* Remove @pfn from the swap cache (-1 frame reference, may free the frame). */
AVM_INTERNAL void swapcache_del(struct avm_world *w, unsigned long pfn);
/* folio_free_swap() (R8.10 step 6): only if the slot's count is 0. */
AVM_INTERNAL bool swap_folio_free(struct avm_world *w, unsigned long pfn);
/*
 * do_swap_page() (R8.15-R8.20) for the swap PTE at @ptep.
 * Returns: 0 or -ENOMEM.
 */
AVM_INTERNAL int swap_do_page(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
			      uint64_t *ptep, unsigned int fault_flags);

/* ---- reclaim.c ------------------------------------------------------- */

/* madvise page actions on [start, end) inside @vma (R13.4, R13.6). */
AVM_INTERNAL int reclaim_madv_pageout(struct avm_vma *vma, unsigned long start, unsigned long end);
AVM_INTERNAL int reclaim_madv_cold(struct avm_vma *vma, unsigned long start, unsigned long end);
AVM_INTERNAL int reclaim_madv_free(struct avm_vma *vma, unsigned long start, unsigned long end);

/* ---- uffd.c ------------------------------------------------------------ */

AVM_INTERNAL void uffd_ctx_put(struct avm_world *w, struct avm_uffd *ctx);

#endif /* ANONVM_SWAP_H */
