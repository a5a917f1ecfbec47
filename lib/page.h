/*
 * page.h - the page layer: PTE encoding, radix page tables (pgtable.c),
 * frames (frame.c), faults and user access (fault.c), zap / fork copy /
 * mremap PTE moves (memory.c), pins (gup.c).  Spec §1, §8, §9, §10, §18.
 * Included only through internal.h.
 *
 * PTE states and the functions that move between them:
 *
 *   none --read fault--> present-ro(zero page) --write--> present-rw (wp copy)
 *   none --write fault (do_anonymous_page)--> present-rw
 *   present-rw --fork (wrprotect)--> present-ro --write: reuse or copy--> present-rw
 *   present --try_to_unmap--> swap entry --do_swap_page--> present
 *   present --try_to_migrate--> migration entry --remove_migration_pte--> present
 *   any --zap (munmap, DONTNEED, exit)--> none
 */
#ifndef ANONVM_PAGE_H
#define ANONVM_PAGE_H

/* ---- PTE encoding --------------------------------------------------- */

/* Present PTE: bit 0 set, pfn in bits 12..63. */
#define PTE_PRESENT (1ULL << 0)
#define PTE_WRITE (1ULL << 1)
#define PTE_DIRTY (1ULL << 2)
#define PTE_YOUNG (1ULL << 3)
#define PTE_SOFTDIRTY (1ULL << 4) /* present and swap formats alike */
#define PTE_SPECIAL (1ULL << 5)   /* present: zero page (no struct page rmap) */
#define PTE_UFFD_WP (1ULL << 6)
/* Non-present, non-zero PTE: type in bits 7..9, payload (slot/pfn) in 12.. */
#define PTE_TYPE_SHIFT 7
#define PTE_TYPE_MASK (7ULL << PTE_TYPE_SHIFT)
#define PTE_TYPE_SWAP 1ULL
#define PTE_TYPE_MIGR_READ 2ULL
#define PTE_TYPE_MIGR_READ_EXCL 3ULL
#define PTE_TYPE_MIGR_WRITE 4ULL
#define PTE_TYPE_GUARD 5ULL
#define PTE_SWP_EXCLUSIVE (1ULL << 5) /* non-present: R11.13 */
#define PTE_PAYLOAD_SHIFT 12

static inline bool pte_none(uint64_t pte) { return pte == 0; }
static inline bool pte_present(uint64_t pte) { return pte & PTE_PRESENT; }
static inline unsigned long pte_pfn(uint64_t pte) { return (unsigned long)(pte >> PTE_PAYLOAD_SHIFT); }
static inline bool pte_write(uint64_t pte) { return pte_present(pte) && (pte & PTE_WRITE); }
static inline bool pte_zero(uint64_t pte) { return pte_present(pte) && (pte & PTE_SPECIAL); }
static inline uint64_t pte_type(uint64_t pte)
{
	return pte_present(pte) ? 0 : (pte & PTE_TYPE_MASK) >> PTE_TYPE_SHIFT;
}
static inline bool pte_is_swap(uint64_t pte) { return !pte_none(pte) && pte_type(pte) == PTE_TYPE_SWAP; }
static inline bool pte_is_migration(uint64_t pte)
{
	uint64_t t = pte_type(pte);
	return !pte_none(pte) && t >= PTE_TYPE_MIGR_READ && t <= PTE_TYPE_MIGR_WRITE;
}
static inline bool pte_is_guard(uint64_t pte) { return !pte_none(pte) && pte_type(pte) == PTE_TYPE_GUARD; }
static inline unsigned long pte_swp_slot(uint64_t pte) { return (unsigned long)(pte >> PTE_PAYLOAD_SHIFT); }
static inline bool pte_swp_exclusive(uint64_t pte) { return pte & PTE_SWP_EXCLUSIVE; }
static inline uint64_t pte_mk(unsigned long pfn, uint64_t bits)
{
	return ((uint64_t)pfn << PTE_PAYLOAD_SHIFT) | PTE_PRESENT | bits;
}
static inline uint64_t pte_mkswap(unsigned long slot, bool exclusive, uint64_t softdirty)
{
	return ((uint64_t)slot << PTE_PAYLOAD_SHIFT) | (PTE_TYPE_SWAP << PTE_TYPE_SHIFT) |
	       (exclusive ? PTE_SWP_EXCLUSIVE : 0) | (softdirty & PTE_SOFTDIRTY);
}
static inline uint64_t pte_mknonpresent(uint64_t type, unsigned long payload, uint64_t bits)
{
	return ((uint64_t)payload << PTE_PAYLOAD_SHIFT) | (type << PTE_TYPE_SHIFT) | bits;
}

/* ---- radix trees (pgtable.c) ----------------------------------------- */

/* Key space: 36 bits of page number (48-bit addresses). */
#define RADIX_KEY_BITS 36

AVM_INTERNAL void radix_init(struct avm_radix *r, unsigned int bits);
/* Slot of @key if its leaf exists (value may be 0), else NULL. */
AVM_INTERNAL uint64_t *radix_lookup(const struct avm_radix *r, unsigned long key);
/* Slot of @key, allocating tables on the way.  NULL on -ENOMEM. */
AVM_INTERNAL uint64_t *radix_slot(struct avm_world *w, struct avm_radix *r, unsigned long key);
/*
 * radix_slot() for runs of keys: the slot of @key, allocating tables on the
 * way, and in *room the number of slots from it to the end of its leaf
 * (keys key .. key + *room - 1 are slot[0 .. *room - 1]), so a caller
 * fills a leaf with one lookup.  Uses and refreshes the last-leaf cache.
 * Returns NULL on -ENOMEM (tables allocated before the failure stay).
 */
AVM_INTERNAL uint64_t *radix_leaf_slots(struct avm_world *w, struct avm_radix *r,
					unsigned long key, unsigned long *room);
/*
 * Call @fn for every non-zero value with key in [first, last], in key
 * order, skipping absent subtrees.  @fn may change or clear *slot.  A
 * non-zero return from @fn stops the walk and is returned.
 */
typedef int (*radix_fn)(unsigned long key, uint64_t *slot, void *arg);
AVM_INTERNAL int radix_walk(struct avm_radix *r, unsigned long first, unsigned long last,
			    radix_fn fn, void *arg);
/*
 * The leaf-level walk: call @fn once for every existing leaf overlapping
 * [first, last], in key order, with the first key of the range in that
 * leaf, its slot and the number of slots (at least 1) of the leaf in the
 * range: slots[i] is key + i.  Values may be 0; absent subtrees are
 * skipped.  @fn may change or clear the slots and may allocate tables (not
 * free them).  A non-zero return from @fn stops the walk and is returned.
 */
typedef int (*radix_leaf_fn)(unsigned long key, uint64_t *slots, unsigned long n, void *arg);
AVM_INTERNAL int radix_walk_leaves(struct avm_radix *r, unsigned long first, unsigned long last,
				   radix_leaf_fn fn, void *arg);
/*
 * mremap's move_page_tables() over the tree (R7.13): move the values of
 * keys [first, last] to new_first + (key - first).  A table of one of the
 * @whole_levels lowest levels (1 = leaves, the PMD's PTE tables; 2 = also
 * their parents, PUD entries) that lies wholly inside the range, starts a
 * table of the same level on the destination side and whose destination
 * slot is empty moves as one pointer (move_normal_pmd/pud): its entries are
 * untouched.  Every leaf not moved whole goes to @fn, as in
 * radix_walk_leaves(), which must move the non-zero values of its run
 * (radix_leaf_slots() at the destination).  Node counts do not change for
 * moved tables; the last-leaf cache is dropped.
 * Returns: 0; @fn's non-zero return; or -ENOMEM when a destination table
 * could not be allocated, with *stop_key the first source key not moved
 * (every key below it has moved, none above).
 */
AVM_INTERNAL int radix_move(struct avm_world *w, struct avm_radix *r, unsigned long first,
			    unsigned long last, unsigned long new_first, unsigned int whole_levels,
			    radix_leaf_fn fn, void *arg, unsigned long *stop_key);
/* free_pgtables(): free every table in [first, last] that holds no value. */
AVM_INTERNAL void radix_prune(struct avm_world *w, struct avm_radix *r, unsigned long first,
			      unsigned long last);
/* Free all tables (values must already be released). */
AVM_INTERNAL void radix_destroy(struct avm_world *w, struct avm_radix *r);

/* Page-table helpers on an mm. */
static inline uint64_t *pt_lookup(const struct avm_mm *mm, unsigned long addr)
{
	return radix_lookup(&mm->pgtable, addr >> AVM_PAGE_SHIFT);
}
static inline uint64_t pt_get(const struct avm_mm *mm, unsigned long addr)
{
	uint64_t *p = pt_lookup(mm, addr);
	return p ? *p : 0;
}

/* ---- frames (frame.c) --------------------------------------------- */

static inline struct avm_frame *frame(const struct avm_world *w, unsigned long pfn)
{
	return &w->frame_chunks[pfn >> FRAME_CHUNK_SHIFT][pfn & (FRAME_CHUNK - 1)];
}
_Static_assert(sizeof(struct avm_frame) == 16 && sizeof(struct avm_frame_cold) == 16,
	       "a frame is two 16-byte halves");

/* The cold half of @f: the same index in the chunk's second array. */
static inline struct avm_frame_cold *frame_cold(const struct avm_frame *f)
{
	return (struct avm_frame_cold *)(uintptr_t)(f + FRAME_CHUNK);
}
/* folio->index of a frame (R1.11). */
static inline unsigned long frame_index(const struct avm_frame *f)
{
	return (unsigned long)(frame_cold(f)->mapidx & FRAME_INDEX_MASK);
}
static inline void frame_set_index(struct avm_frame *f, unsigned long index)
{
	struct avm_frame_cold *c = frame_cold(f);

	AVM_ASSERT_INTERNAL(index <= FRAME_INDEX_MASK);
	c->mapidx = (c->mapidx & ~FRAME_INDEX_MASK) | index;
}
/* folio->mapping and folio->index at once (one store). */
static inline void frame_set_mapping_index(struct avm_frame *f, uint32_t handle,
					   unsigned long index)
{
	AVM_ASSERT_INTERNAL(index <= FRAME_INDEX_MASK);
	frame_cold(f)->mapidx = ((uint64_t)handle << FRAME_INDEX_BITS) | index;
}
/* folio->mapping as a handle: 0 = none (w->mappings). */
static inline uint32_t frame_mapping_handle(const struct avm_frame *f)
{
	return (uint32_t)(frame_cold(f)->mapidx >> FRAME_INDEX_BITS);
}
static inline void frame_set_mapping(struct avm_frame *f, uint32_t handle)
{
	struct avm_frame_cold *c = frame_cold(f);

	c->mapidx = (c->mapidx & FRAME_INDEX_MASK) | ((uint64_t)handle << FRAME_INDEX_BITS);
}
/* The page's content word. */
static inline uint64_t frame_content(const struct avm_frame *f)
{
	return frame_cold(f)->content;
}
static inline void frame_set_content(struct avm_frame *f, uint64_t v)
{
	frame_cold(f)->content = v;
}
/*
 * folio->mapping: the anon_vma (FRAME_ANON) or shmem object (FRAME_SHMEM).
 * Only meaningful while the frame is mapped or in the page cache; an
 * unmapped anon folio's handle may be stale (R18.3).
 */
static inline void *frame_mapping(const struct avm_world *w, const struct avm_frame *f)
{
	return w->mappings[frame_mapping_handle(f)];
}

/* Set up the frame table and the zero page.  Returns 0 or -ENOMEM. */
AVM_INTERNAL int frame_init(struct avm_world *w);
AVM_INTERNAL void frame_fini(struct avm_world *w);
/*
 * A fresh frame: refcount 1, mapcount 0, flags 0, content 0.
 * Returns: 0 and *pfn, or -ENOMEM (frame limit reached or injected failure).
 */
AVM_INTERNAL int frame_alloc(struct avm_world *w, unsigned long *pfn);
/* Free a frame whose last reference went (frame_put()). */
AVM_INTERNAL void frame_free(struct avm_world *w, unsigned long pfn);
/* Take a reference.  The zero page (pfn 0) is not counted. */
static inline void frame_get(struct avm_world *w, unsigned long pfn)
{
	if (pfn == 0)
		return;
	struct avm_frame *f = frame(w, pfn);
	AVM_ASSERT(f->refcount > 0);
	f->refcount++;
}
/* Drop a reference; frees the frame at 0.  The zero page is never freed. */
static inline void frame_put(struct avm_world *w, unsigned long pfn)
{
	if (pfn == 0)
		return;
	struct avm_frame *f = frame(w, pfn);
	AVM_ASSERT(f->refcount > 0);
	if (!--f->refcount)
		frame_free(w, pfn);
}
/*
 * mlock of frames (mm/mlock.c, R13.2).  PG_mlocked plus an mlock_count:
 * frame_mlock_new() is mlock_new_folio() (a new folio in a VM_LOCKED VMA:
 * count 1), frame_mlock() is mlock_folio() (count + 1), frame_munlock()
 * is munlock_folio() (count - 1, PG_mlocked cleared at 0),
 * frame_mlock_putback() is an mlocked folio put back on the unevictable
 * list after isolation by reclaim (count 0: "reclaim will fix it").
 * Reclaim never evicts an mlocked frame; freeing a frame clears it.
 */
AVM_INTERNAL void frame_mlock_new(struct avm_world *w, unsigned long pfn);
AVM_INTERNAL void frame_mlock(struct avm_world *w, unsigned long pfn);
AVM_INTERNAL void frame_munlock(struct avm_world *w, unsigned long pfn);
AVM_INTERNAL void frame_mlock_putback(struct avm_world *w, unsigned long pfn);
/* Returns: the frame's mlock_count (0 when not mlocked). */
static inline unsigned int frame_mlock_count(const struct avm_frame *f)
{
	return f->flags >> FRAME_MLOCK_COUNT_SHIFT;
}
/* mlock_vma_folio(): mlock_folio() if @vm_flags is VM_LOCKED and not special. */
static inline void mlock_vma_frame(struct avm_world *w, unsigned long pfn,
				   unsigned long vm_flags)
{
	if ((vm_flags & (AVM_VM_LOCKED | AVM_VM_SPECIAL)) == AVM_VM_LOCKED)
		frame_mlock(w, pfn);
}
/* folio_add_lru_vma(): a new folio in a VM_LOCKED VMA starts mlocked. */
static inline void lru_add_vma_frame(struct avm_world *w, unsigned long pfn,
				     unsigned long vm_flags)
{
	if ((vm_flags & (AVM_VM_LOCKED | AVM_VM_SPECIAL)) == AVM_VM_LOCKED)
		frame_mlock_new(w, pfn);
}
/* munlock_vma_folio(): munlock_folio() if @vm_flags is VM_LOCKED. */
static inline void munlock_vma_frame(struct avm_world *w, unsigned long pfn,
				     unsigned long vm_flags)
{
	if (vm_flags & AVM_VM_LOCKED)
		frame_munlock(w, pfn);
}

/*
 * A shmem page-cache slot (struct avm_shmem.pages) holds the pfn of a
 * cached page or, once reclaim wrote the page out (shmem_writeout()), its
 * swap slot tagged with SHMEM_SWAP_ENTRY (the xarray value entry).  The
 * entry owns one swap count.
 */
#define SHMEM_SWAP_ENTRY (1ULL << 63)
static inline bool shmem_entry_is_swap(uint64_t v) { return v & SHMEM_SWAP_ENTRY; }
static inline uint64_t shmem_swap_entry(unsigned long slot) { return SHMEM_SWAP_ENTRY | slot; }
static inline unsigned long shmem_entry_slot(uint64_t v)
{
	return (unsigned long)(v & ~SHMEM_SWAP_ENTRY);
}

/* folio_maybe_dma_pinned() for a small folio (R10.3). */
static inline bool frame_maybe_pinned(const struct avm_frame *f)
{
	return f->refcount >= AVM_GUP_PIN_COUNTING_BIAS;
}

/*
 * The two rmap calls zap and fork make for every page (the rest of the
 * rmap interface is in anon_vma.h).
 *
 * rmap_remove() - folio_remove_rmap_pte(): mapcount - 1 (R18.3), any kind
 * of frame; PG_anon_exclusive and the mapping stay.  Like
 * __folio_remove_rmap() it ends with munlock_vma_folio(): unmapping from a
 * VM_LOCKED VMA drops one mlock (R13.2), from an unlocked one (after
 * MREMAP_DONTUNMAP, say) leaves PG_mlocked alone.
 */
static inline void rmap_remove(struct avm_world *w, unsigned long pfn, struct avm_vma *vma)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(f->mapcount > 0);
	f->mapcount--;
	munlock_vma_frame(w, pfn, vma->vm_flags);
}

/*
 * rmap_try_dup_anon() - folio_try_dup_anon_rmap_pte() (R9.8): one more
 * mapping of an anon frame for fork's child, which clears
 * PG_anon_exclusive; -EBUSY instead when the frame is exclusive and maybe
 * pinned in an mm that has pinned (folio_needs_cow_for_dma()): the caller
 * copies it (R9.10).
 */
static inline int rmap_try_dup_anon(struct avm_world *w, unsigned long pfn,
				    struct avm_vma *src_vma)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(f->flags & FRAME_ANON);
	if (f->flags & FRAME_ANON_EXCLUSIVE) {
		if ((src_vma->vm_mm->flags & MMF_HAS_PINNED) && frame_maybe_pinned(f))
			return -EBUSY;
		f->flags &= ~FRAME_ANON_EXCLUSIVE;
	}
	f->mapcount++;
	return 0;
}

/* ---- faults (fault.c) --------------------------------------------- */

/* is_cow_mapping(): private and may become writable (R9.6). */
static inline bool page_cow_mapping(unsigned long vm_flags)
{
	return (vm_flags & (AVM_VM_SHARED | AVM_VM_MAYWRITE)) == AVM_VM_MAYWRITE;
}


#define FAULT_FLAG_WRITE 0x01
#define FAULT_FLAG_UNSHARE 0x02

/*
 * handle_mm_fault() for an address inside @vma whose access the caller
 * already checked (R8.2).  FAULT_FLAG_UNSHARE without FAULT_FLAG_WRITE is
 * GUP's unshare request (R8.14).  Returns: 0, -ENOMEM (VM_FAULT_OOM),
 * -AVM_ESIGBUS (userfault on an empty PTE of a uffd-missing VMA, shmem
 * beyond its size), -AVM_ESIGSEGV (guard marker).
 */
AVM_INTERNAL int fault_handle(struct avm_mm *mm, struct avm_vma *vma, unsigned long addr,
			      unsigned int fault_flags);
/*
 * Fault in [start, end) of @vma the way populate / mlock / GUP do (R8.22):
 * write faults when @write, else read faults; present pages (writable ones
 * for @write) are skipped.  Returns: 0, -ENOMEM, or -EFAULT where the
 * fault would raise SIGSEGV/SIGBUS (guard marker, userfault, shmem beyond
 * its size), as GUP reports them (MADV_POPULATE_* passes -EFAULT on).
 */
AVM_INTERNAL int fault_populate(struct avm_mm *mm, struct avm_vma *vma, unsigned long start,
				unsigned long end, bool write);

/* ---- memory.c: zap, fork copy, mremap moves ------------------------ */

/*
 * zap_page_range_single() (R18.4): clear every PTE of [start, end) in @vma,
 * dropping rmap, references and swap entries, updating rss.  Guard markers
 * stay unless @zap_guards (munmap / exit remove them).
 */
AVM_INTERNAL void zap_range(struct avm_vma *vma, unsigned long start, unsigned long end,
			    bool zap_guards);
/* free_pgtables() for [start, end) after the VMAs there are gone. */
AVM_INTERNAL void free_pgtables(struct avm_mm *mm, unsigned long start, unsigned long end);
/*
 * copy_page_range() (R9.4-R9.16) from @src (parent) to @dst (child, same
 * range, anon_vma_fork already done).  Returns: 0 or -ENOMEM (the child
 * keeps what was copied; the caller tears it down).
 */
AVM_INTERNAL int copy_page_range(struct avm_vma *dst, struct avm_vma *src);
/*
 * move_page_tables() (R7.13): move the PTEs of [old_addr, old_addr + len)
 * in @vma to @new_addr in @new_vma (same mm).  Entries move unchanged but
 * gain soft-dirty.  Returns: bytes moved (== len on success), or fewer on
 * -ENOMEM (the caller moves them back, R7.14).
 */
AVM_INTERNAL unsigned long move_page_tables(struct avm_vma *vma, unsigned long old_addr,
					    struct avm_vma *new_vma, unsigned long new_addr,
					    unsigned long len);

/* ---- gup.c ---------------------------------------------------------- */

/* Drop every pin set (world teardown). */
AVM_INTERNAL void gup_fini(struct avm_world *w);
/* Number of pins and of plain references held on @pfn (validator). */
AVM_INTERNAL void gup_count(const struct avm_world *w, unsigned long pfn, unsigned long *pins,
			    unsigned long *refs);

#endif /* ANONVM_PAGE_H */
