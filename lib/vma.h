/*
 * vma.h - the VMA layer: the ordered VMA index, merge and split (vma.c),
 * mmap/munmap/exit (mmap.c), mprotect/mlock/anon names (mprotect.c),
 * madvise (madvise.c), mremap (mremap.c) and fork (fork.c).
 * Spec §1, §4, §5, §6, §7, §9.1, §13.  Included only through internal.h.
 */
#ifndef ANONVM_VMA_H
#define ANONVM_VMA_H

/* ---- the VMA index (vma.c) ------------------------------------------ */

/* find_vma(): the first VMA with vm_end > addr, or NULL.  O(log n). */
AVM_INTERNAL struct avm_vma *vma_find(const struct avm_mm *mm, unsigned long addr);
/* vma_lookup(): the VMA containing addr, or NULL. */
AVM_INTERNAL struct avm_vma *vma_lookup(const struct avm_mm *mm, unsigned long addr);
AVM_INTERNAL struct avm_vma *vma_first(const struct avm_mm *mm);
AVM_INTERNAL struct avm_vma *vma_next(const struct avm_vma *vma);
AVM_INTERNAL struct avm_vma *vma_prev(const struct avm_vma *vma);

/* A zeroed VMA with an empty chain and a fresh id; NULL on -ENOMEM. */
AVM_INTERNAL struct avm_vma *vma_alloc(struct avm_mm *mm);
/* vm_area_dup(): copy every field (anon_vma pointer, name and policy
 * references taken), empty chain, new id.  NULL on -ENOMEM. */
AVM_INTERNAL struct avm_vma *vma_dup(struct avm_vma *src);
/* Drop references (name, shmem, uffd) and free; chain must be empty. */
AVM_INTERNAL void vma_free(struct avm_vma *vma);
/* Insert into / remove from mm->mm_mt and adjust map_count (R1.2). */
AVM_INTERNAL void vma_link(struct avm_mm *mm, struct avm_vma *vma);
AVM_INTERNAL void vma_unlink(struct avm_mm *mm, struct avm_vma *vma);

AVM_INTERNAL void anon_name_get(struct avm_anon_name *n);
AVM_INTERNAL void anon_name_put(struct avm_world *w, struct avm_anon_name *n);
/* anon_vma_name_eq() (R4.3.5) */
AVM_INTERNAL bool anon_name_eq(const struct avm_anon_name *a, const struct avm_anon_name *b);

static inline unsigned long vma_pages(const struct avm_vma *vma)
{
	return (vma->vm_end - vma->vm_start) >> AVM_PAGE_SHIFT;
}
static inline bool vma_is_anonymous(const struct avm_vma *vma) { return vma->shmem == NULL; }

/* ---- split and merge (vma.c) --------------------------------------- */

/* __split_vma() (R5.1-R5.3) without the map-count check.  Returns 0 / -ENOMEM. */
AVM_INTERNAL int vma_split_nolimit(struct avm_vma *vma, unsigned long addr, bool new_below);
/* split_vma(): -ENOMEM when map_count >= max_map_count (R5.4). */
AVM_INTERNAL int vma_split(struct avm_vma *vma, unsigned long addr, bool new_below);

/* ---- exit (mmap.c) -------------------------------------------------- */

/* exit_mmap(): zap and free every VMA and all page tables of @mm. */
AVM_INTERNAL void mmap_exit(struct avm_mm *mm);

#endif /* ANONVM_VMA_H */
