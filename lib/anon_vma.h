/*
 * anon_vma.h - the reverse map: anon_vma, anon_vma_chain and the per-folio
 * rmap bookkeeping (spec §3, §11, §18).  Implemented in anon_vma.c.
 *
 * This is the one interface behind which the rmap design lives (add,
 * remove, walk, move, fork, clone, unlink), so that historical designs
 * (per-mm anonmm, per-page pte chains) can be plugged in and compared.
 * Included only through internal.h.
 */
#ifndef ANONVM_ANON_VMA_H
#define ANONVM_ANON_VMA_H

/* ---- anon_vma lifecycle (R3) ---------------------------------------- */

/*
 * anon_vma_prepare() - give @vma an anon_vma if it has none (R3.1-R3.4):
 * a compatible neighbour's (R3.5) or a new root.
 * Returns: 0 or -ENOMEM (nothing changed).
 */
AVM_INTERNAL int anon_vma_prepare(struct avm_vma *vma);

/*
 * anon_vma_clone() - link @dst to every anon_vma of @src's chain (R3.8);
 * when @dst->anon_vma is NULL and @src's is not (the fork case), reuse an
 * unused ancestor (R3.9).  @dst->anon_vma must already be copied by the
 * caller in the non-fork cases (split, merge, copy_vma).
 * Returns: 0 or -ENOMEM (then @dst has no chain and anon_vma NULL).
 */
AVM_INTERNAL int anon_vma_clone(struct avm_vma *dst, struct avm_vma *src);

/*
 * anon_vma_fork() - R3.11.  @child->anon_vma may hold the copied pointer;
 * it is reset here.  Returns: 0 or -ENOMEM (child left with no chain).
 */
AVM_INTERNAL int anon_vma_fork(struct avm_vma *child, struct avm_vma *parent);

/* unlink_anon_vmas() - R3.13/R3.14: drop every AVC of @vma, free what empties. */
AVM_INTERNAL void anon_vma_unlink(struct avm_vma *vma);

/*
 * dup_anon_vma() in mm/vma.c: if @dst has no anon_vma and @src has one,
 * give @dst src's anon_vma and clone src's chain onto it (R4.14, R4.17).
 * Returns: 0 or -ENOMEM (dst unchanged).
 */
AVM_INTERNAL int anon_vma_dup(struct avm_vma *dst, struct avm_vma *src);

/*
 * Interval-tree maintenance around a change of vm_start, vm_end or vm_pgoff
 * of a VMA that has AVCs (R1.9): call _pre before changing the fields and
 * _post after.  Cheap when the VMA has no chain.
 */
AVM_INTERNAL void anon_vma_pre_update_vma(struct avm_vma *vma);
AVM_INTERNAL void anon_vma_post_update_vma(struct avm_vma *vma);

/* vma_had_uncowed_parents() / vma_is_fork_child() (R4.5). */
static inline bool vma_is_fork_child(const struct avm_vma *vma)
{
	return vma->anon_vma && !list_singular(&vma->anon_vma_chain);
}

/* anon_vma_compatible() between address-ordered neighbours a, b (R3.5). */
AVM_INTERNAL bool anon_vma_compatible(const struct avm_vma *a, const struct avm_vma *b);

/* find_mergeable_anon_vma() (R3.5); NULL when none. */
AVM_INTERNAL struct avm_anon_vma *anon_vma_find_mergeable(struct avm_vma *vma);

AVM_INTERNAL void anon_vma_get(struct avm_anon_vma *av);
AVM_INTERNAL void anon_vma_put(struct avm_world *w, struct avm_anon_vma *av); /* R3.15 */

/* Number of AVCs of @vma (its chain length). */
AVM_INTERNAL unsigned int anon_vma_chain_len(const struct avm_vma *vma);

/* ---- per-frame rmap (R18) ------------------------------------------ */

/* These keep mapping, index, mapcount and PG_anon_exclusive; frame
 * references and the rss counters are the caller's. */

/* linear_page_index() (R2.2) */
static inline unsigned long linear_page_index(const struct avm_vma *vma, unsigned long addr)
{
	return ((addr - vma->vm_start) >> AVM_PAGE_SHIFT) + vma->vm_pgoff;
}

/*
 * vma_address() (R2.4) for one page: the address of page offset @pgoff in
 * @vma, or -EFAULT (as an unsigned long) when it lies outside.
 */
AVM_INTERNAL unsigned long rmap_vma_address(const struct avm_vma *vma, unsigned long pgoff);

/*
 * folio_add_new_anon_rmap(): first mapping of a never-mapped frame.  Sets
 * FRAME_ANON|FRAME_SWAPBACKED (not for VM_DROPPABLE), mapping = own
 * anon_vma when @exclusive else its root, index = linear index, mapcount 1,
 * PG_anon_exclusive iff @exclusive.  Context: vma->anon_vma is set.
 */
AVM_INTERNAL void rmap_add_new_anon(struct avm_world *w, unsigned long pfn,
				    struct avm_vma *vma, unsigned long addr, bool exclusive);
/* folio_add_anon_rmap_pte(): one more mapping of an anon frame (R18.2). */
AVM_INTERNAL void rmap_add_anon(struct avm_world *w, unsigned long pfn,
				struct avm_vma *vma, unsigned long addr, bool exclusive);
/* A mapping of a shmem (shared anonymous) page: mapcount +1. */
AVM_INTERNAL void rmap_add_shmem(struct avm_world *w, unsigned long pfn);
/*
 * rmap_remove() (folio_remove_rmap_pte()) and rmap_try_dup_anon()
 * (folio_try_dup_anon_rmap_pte()) run once per page in zap and fork: they
 * are inline, in page.h, next to the frame helpers they need.
 */
/* folio_try_share_anon_rmap_pte() (R11.6): -EBUSY if maybe pinned. */
AVM_INTERNAL int rmap_try_share_anon(struct avm_world *w, unsigned long pfn);
/* folio_move_anon_rmap() (R11.5): mapping = vma->anon_vma. */
AVM_INTERNAL void rmap_move_anon(struct avm_world *w, unsigned long pfn, struct avm_vma *vma);

/* The anon_vma a frame is filed under (R11.1), or NULL. */
AVM_INTERNAL struct avm_anon_vma *rmap_folio_anon_vma(struct avm_world *w, unsigned long pfn);

/*
 * rmap_walk_anon() (R11.2).  For every AVC in the frame's anon_vma tree
 * whose pgoff range covers the frame's index, @rmap_one is called with the
 * VMA and the address R2.4 gives.  The callback checks the page table
 * itself (rmap_pte_maps() helps).  Returning false stops the walk.
 */
struct rmap_walk_control {
	void *arg;
	bool (*rmap_one)(struct avm_world *w, unsigned long pfn, struct avm_vma *vma,
			 unsigned long addr, void *arg);
	bool (*invalid_vma)(struct avm_vma *vma, void *arg); /* may be NULL */
};
AVM_INTERNAL void rmap_walk(struct avm_world *w, unsigned long pfn,
			    const struct rmap_walk_control *rwc);

/* page_vma_mapped_walk() for one small frame: the PTE slot at @addr in
 * @vma's mm if it is present and maps @pfn, else NULL. */
AVM_INTERNAL uint64_t *rmap_pte_maps(struct avm_vma *vma, unsigned long addr,
				     unsigned long pfn);

#endif /* ANONVM_ANON_VMA_H */
