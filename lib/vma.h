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

/* find_vma_intersection(): the first VMA overlapping [start, end), or NULL. */
static inline struct avm_vma *vma_find_intersection(const struct avm_mm *mm,
						    unsigned long start, unsigned long end)
{
	struct avm_vma *vma = vma_find(mm, start);

	return vma && vma->vm_start < end ? vma : NULL;
}
AVM_INTERNAL struct avm_vma *vma_last(const struct avm_mm *mm);

/* vm_start_gap(): a VM_GROWSDOWN VMA keeps stack_guard_gap (256 pages) free below. */
static inline unsigned long vma_start_gap(const struct avm_vma *vma)
{
	const unsigned long guard = 256UL << AVM_PAGE_SHIFT;

	if (vma->vm_flags & AVM_VM_GROWSDOWN)
		return vma->vm_start > guard ? vma->vm_start - guard : 0;
	return vma->vm_start;
}
/*
 * The highest VMA starting at or below @limit whose gap below it (from the
 * previous VMA's end, or 0) is at least @len; NULL if none.  O(log n).
 */
AVM_INTERNAL struct avm_vma *vma_gap_find(const struct avm_mm *mm, unsigned long limit,
					  unsigned long len);
/* Debug: every stored gap and subtree maximum is current. */
AVM_INTERNAL bool vma_gap_check(const struct avm_mm *mm);

#define AVM_VM_UFFD_FLAGS (AVM_VM_UFFD_MISSING | AVM_VM_UFFD_WP)
#define AVM_VM_LOCKED_MASK (AVM_VM_LOCKED | AVM_VM_LOCKONFAULT)
/*
 * VM_STICKY = VM_IGNORE_MERGE (R4.4, the 6.19 "sticky flags" series, which
 * this 6.18.44 host has): ignored by the merge compatibility test, and the
 * union of them over the VMAs taking part is set on the merged VMA.
 */
#define AVM_VM_STICKY (AVM_VM_SOFTDIRTY | AVM_VM_MAYBE_GUARD)
#define AVM_VM_ACCESS_FLAGS (AVM_VM_READ | AVM_VM_WRITE | AVM_VM_EXEC)

/*
 * vm_stat_account(): total_vm and data_vm follow every mapping change
 * (R6.5, R6.14).  data_vm counts is_data_mapping(): writable, private and
 * not a stack (VM_GROWSDOWN).
 */
static inline void vma_stat_account(struct avm_mm *mm, unsigned long flags, long npages)
{
	mm->total_vm += (unsigned long)npages;
	if ((flags & (AVM_VM_WRITE | AVM_VM_SHARED | AVM_VM_GROWSDOWN)) == AVM_VM_WRITE)
		mm->data_vm += (unsigned long)npages;
}

/* A new named reference (refcount 1) holding a copy of @s; NULL on -ENOMEM. */
AVM_INTERNAL struct avm_anon_name *vma_anon_name_alloc(struct avm_world *w, const char *s);

/* The shmem object of a MAP_SHARED|MAP_ANONYMOUS mapping (R6.3). */
AVM_INTERNAL struct avm_shmem *vma_shmem_alloc(struct avm_world *w, unsigned long pages);
AVM_INTERNAL void vma_shmem_put(struct avm_world *w, struct avm_shmem *s);

/* ---- split and merge (vma.c) --------------------------------------- */

/* __split_vma() (R5.1-R5.3) without the map-count check.  Returns 0 / -ENOMEM. */
AVM_INTERNAL int vma_split_nolimit(struct avm_vma *vma, unsigned long addr, bool new_below);
/* split_vma(): -ENOMEM when map_count >= max_map_count (R5.4). */
AVM_INTERNAL int vma_split(struct avm_vma *vma, unsigned long addr, bool new_below);

enum avm_merge_state {
	AVM_MERGE_START,
	AVM_MERGE_NOMERGE,
	AVM_MERGE_SUCCESS,
	AVM_MERGE_ERROR_NOMEM,
};

/*
 * struct avm_vma_merge - one merge attempt, threaded through the steps
 * (mm/vma.h struct vma_merge_struct, R4.1).  Build it with
 * vmg_init_new() (a new range: mmap, mremap destination, in-place growth)
 * or vmg_init_vma() (an existing range whose attributes change), then
 * override the attribute being changed.
 */
struct avm_vma_merge {
	struct avm_mm *mm;              /* caller sets */
	struct avm_vma *prev;           /* caller sets: the VMA before start, or NULL */
	struct avm_vma *middle;         /* caller sets: the VMA being modified; NULL = new range */
	struct avm_vma *next;           /* caller sets (new range); merge rewrites (existing) */
	struct avm_vma *target;         /* merge rewrites: the surviving VMA */
	struct avm_vma *copied_from;    /* caller sets: mremap source of copy_vma (R4.20) */
	unsigned long start, end;       /* caller sets; merge rewrites to the final range */
	unsigned long pgoff;            /* caller sets: linear index of start; merge rewrites */
	unsigned long flags;            /* caller sets: proposed vm_flags */
	struct avm_anon_vma *anon_vma;  /* caller sets */
	struct avm_shmem *shmem;        /* caller sets: the "vm_file" */
	struct avm_uffd *uffd_ctx;      /* caller sets */
	struct avm_anon_name *anon_name; /* caller sets */
	bool just_expand;               /* caller sets: never merge with next (brk, R4.15) */
	bool give_up_on_oom;            /* caller sets: a failed dup_anon_vma() skips the merge */
	bool remove_middle, remove_next; /* internal */
	enum avm_merge_state state;     /* merge rewrites */
	int err;                        /* merge rewrites: why vma_modify() returned NULL */
};

/* VMG_MMAP_STATE: a new range with no anon_vma and no attributes (R4.2). */
static inline void vmg_init_new(struct avm_vma_merge *vmg, struct avm_mm *mm,
				struct avm_vma *prev, struct avm_vma *next, unsigned long start,
				unsigned long end, unsigned long flags, unsigned long pgoff)
{
	memset(vmg, 0, sizeof(*vmg));
	vmg->mm = mm;
	vmg->prev = prev;
	vmg->next = next;
	vmg->start = start;
	vmg->end = end;
	vmg->flags = flags;
	vmg->pgoff = pgoff;
}

/* VMG_VMA_STATE: every attribute copied from @vma, pgoff of @start in it (R4.2). */
static inline void vmg_init_vma(struct avm_vma_merge *vmg, struct avm_vma *vma,
				unsigned long start, unsigned long end)
{
	memset(vmg, 0, sizeof(*vmg));
	vmg->mm = vma->vm_mm;
	vmg->prev = vma_prev(vma);
	vmg->middle = vma;
	vmg->start = start;
	vmg->end = end;
	vmg->flags = vma->vm_flags;
	vmg->pgoff = linear_page_index(vma, start);
	vmg->anon_vma = vma->anon_vma;
	vmg->shmem = vma->shmem;
	vmg->uffd_ctx = vma->uffd_ctx;
	vmg->anon_name = vma->anon_name;
}

/*
 * vma_merge_new_range() (R4.14): merge [start, end) (no VMA there) with
 * prev and/or next.  Returns: the extended VMA, or NULL (vmg->state says
 * NOMERGE or ERROR_NOMEM; then the caller creates a VMA itself).
 */
AVM_INTERNAL struct avm_vma *vma_merge_new_range(struct avm_vma_merge *vmg);
/*
 * vma_modify() (R4.17, R4.18): merge the changed range of vmg->middle with
 * its neighbours, else split it out (split_vma(), R5.4), then give the
 * resulting VMA vmg's flags, name and uffd ctx.  Returns: the VMA now
 * holding [start, end) (possibly larger after a merge), or NULL with
 * vmg->err (-ENOMEM).  A first split stays when the second fails.
 */
AVM_INTERNAL struct avm_vma *vma_modify(struct avm_vma_merge *vmg);
/* vma_modify_flags() / _flags_name(): the mprotect, mlock, madvise and prctl uses. */
AVM_INTERNAL int vma_modify_flags(struct avm_vma *vma, unsigned long start, unsigned long end,
				  unsigned long flags, struct avm_vma **out);
AVM_INTERNAL int vma_modify_flags_name(struct avm_vma *vma, unsigned long start,
				       unsigned long end, unsigned long flags,
				       struct avm_anon_name *name, struct avm_vma **out);
/*
 * vma_modify_uffd() - the VMA walk of userfaultfd_register_range() (ctx
 * set) and userfaultfd_unregister() (ctx NULL) over [start, end) of @mm:
 * every VMA met gets vm_flags = (flags & ~VM_UFFD_*) | @uffd_flags and
 * uffd_ctx = @ctx (references moved), merging or splitting as R4.23 says.
 * VMAs already in the requested state are skipped; holes are skipped.
 * Unregistering a whole VMA gives up on a merge that cannot allocate
 * (give_up_on_oom, R4.19).  The caller checked the VMAs beforehand.
 * Returns: 0 or -ENOMEM (VMAs before the failure stay changed).
 */
AVM_INTERNAL int vma_modify_uffd(struct avm_mm *mm, unsigned long start, unsigned long end,
				 unsigned long uffd_flags, struct avm_uffd *ctx);
/* vma_merge_extend() (R7.9): grow @vma by @delta in place, absorbing next if it can. */
AVM_INTERNAL struct avm_vma *vma_merge_extend(struct avm_vma *vma, unsigned long delta);
/*
 * copy_vma() (R7.11, R4.20, R4.21) for mremap: a VMA for [addr, addr+len)
 * with *@vmap's attributes and @pgoff (reset to addr's page for an
 * unfaulted source), merged with neighbours when possible.  *@vmap is
 * redirected when the source itself was absorbed, DONTUNMAP or not
 * (@keep_source is ignored: the host merges with the source, R4.21).
 * Returns: the VMA, or NULL on -ENOMEM.
 */
AVM_INTERNAL struct avm_vma *vma_copy(struct avm_vma **vmap, unsigned long addr,
				      unsigned long len, unsigned long pgoff, bool keep_source);

/*
 * do_vmi_align_munmap() (R6.12-R6.15): split at start/end, zap and remove
 * every VMA in [start, end).  Fails with -ENOMEM only when it must split a
 * single VMA on both sides at map_count >= max_map_count (R5.4), or on an
 * allocation failure (a first split then stays).
 */
AVM_INTERNAL int vma_munmap_range(struct avm_mm *mm, unsigned long start, unsigned long end);

/* ---- mmap.c ---------------------------------------------------------- */

/* do_vmi_munmap(): the argument checks of munmap (R6.12), then vma_munmap_range(). */
AVM_INTERNAL int mmap_do_munmap(struct avm_mm *mm, unsigned long start, unsigned long len);
/*
 * get_unmapped_area() (R6.6) for anonymous memory: MAP_FIXED returns @addr,
 * else the hint if free, else top-down below mmap_base (THP-aligned for
 * private mappings whose length is a multiple of 2 MiB and no hint).
 * Returns: the address, or a negative errno cast to unsigned long.
 */
AVM_INTERNAL unsigned long mmap_get_unmapped_area(struct avm_mm *mm, unsigned long addr,
						  unsigned long len, int map_flags);
static inline bool avm_is_err(unsigned long v) { return v >= (unsigned long)-4095L; }
/*
 * __mm_populate() (R6.9, R8.22): fault in [start, start+len) VMA by VMA.
 * Returns: 0 or the first error (-EFAULT, -ENOMEM) unless @ignore_errors.
 */
AVM_INTERNAL int mmap_populate(struct avm_mm *mm, unsigned long start, unsigned long len,
			       bool ignore_errors);
/* populate_vma_page_range() for one VMA (skips VM_LOCKONFAULT, PROT_NONE -EFAULT). */
AVM_INTERNAL int mmap_populate_vma(struct avm_vma *vma, unsigned long start, unsigned long end);

/* exit_mmap(): zap and free every VMA and all page tables of @mm. */
AVM_INTERNAL void mmap_exit(struct avm_mm *mm);

/* ---- madvise.c ------------------------------------------------------- */

/*
 * madvise_walk_vmas(): call @visit for each mapped part of [start, end);
 * @visit sets *prev to the VMA the walk continues after.  Returns: the
 * first error of @visit, else -ENOMEM if part of the range was unmapped.
 */
typedef int (*madvise_visit_fn)(struct avm_vma *vma, struct avm_vma **prev,
				unsigned long start, unsigned long end, void *arg);
AVM_INTERNAL int madvise_walk(struct avm_mm *mm, unsigned long start, unsigned long end,
			      madvise_visit_fn visit, void *arg);
/* madvise_update_vma() (R13.1): split/merge only if flags or name change. */
AVM_INTERNAL int madvise_update_vma(struct avm_vma *vma, struct avm_vma **prev,
				    unsigned long start, unsigned long end, unsigned long new_flags,
				    struct avm_anon_name *name);

#endif /* ANONVM_VMA_H */
