/*
 * internal.h - the one header every file of lib/ includes (the funnel, as
 * mm/vma_internal.h is for mm/vma.c).  It defines the model's objects and
 * pulls in the per-module interfaces:
 *
 *   tree.c      intrusive treap (ordered index + augmented interval tree)
 *   world.c     world, processes (mm), allocation + fault injection, policies
 *   anon_vma.c  anon_vma, anon_vma_chain, interval tree, rmap add/remove/walk
 *   vma.c       VMA index, merge, split            (vma.h)
 *   mmap.c      mmap, munmap, exit_mmap, placement  (vma.h)
 *   mprotect.c  mprotect, mlock, anon names        (vma.h)
 *   madvise.c   madvise                             (vma.h)
 *   mremap.c    mremap                              (vma.h)
 *   fork.c      fork (dup_mmap)                     (vma.h)
 *   pgtable.c   radix page tables                   (page.h)
 *   frame.c     physical frames                     (page.h)
 *   fault.c     faults, COW, unshare, user access   (page.h)
 *   memory.c    zap, copy_page_range, move ptes     (page.h)
 *   gup.c       pins and references                 (page.h)
 *   swap.c      swap slots, swap cache, swap-in     (swap.h)
 *   reclaim.c   try_to_unmap, pageout, cold, free   (swap.h)
 *   uffd.c      userfaultfd register and UFFDIO_MOVE (swap.h)
 *   validate.c  the validator (invariants I1..)
 *   introspect.c the read-only views of the public API
 *
 * Invariants are numbered in validate.c; rules R*.* in the spec.
 */
#ifndef ANONVM_INTERNAL_H
#define ANONVM_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anonvm/anonvm.h"

#define AVM_INTERNAL __attribute__((visibility("hidden")))
#define AVM_NOINLINE __attribute__((noinline))
#define avm_likely(x) __builtin_expect(!!(x), 1)
#define avm_unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Graded assertions (STYLE 8).  AVM_DEBUG: 0 none, 1 cheap, 2 internal,
 * 3 expensive (the validator after every public call).  Assertions are for
 * broken invariants only, never for bad user input.
 */
#ifndef AVM_DEBUG
#define AVM_DEBUG 1
#endif
AVM_INTERNAL void avm_assert_fail(const char *expr, const char *file, int line);
#if AVM_DEBUG >= 1
#define AVM_ASSERT(x) ((x) ? (void)0 : avm_assert_fail(#x, __FILE__, __LINE__))
#else
#define AVM_ASSERT(x) ((void)0)
#endif
#if AVM_DEBUG >= 2
#define AVM_ASSERT_INTERNAL(x) AVM_ASSERT(x)
#else
#define AVM_ASSERT_INTERNAL(x) ((void)0)
#endif
#if AVM_DEBUG >= 3
#define AVM_ASSERT_EXPENSIVE(x) AVM_ASSERT(x)
#else
#define AVM_ASSERT_EXPENSIVE(x) ((void)0)
#endif
/* Marks a boundary case worth a test (SQLite's testcase()). */
#define avm_testcase(x) ((void)(x))

#define AVM_PAGE_MASK (~(AVM_PAGE_SIZE - 1))
#define PAGE_ALIGNED(a) (((a) & (AVM_PAGE_SIZE - 1)) == 0)
#define PAGE_ALIGN(a) (((a) + AVM_PAGE_SIZE - 1) & AVM_PAGE_MASK)
#define PFN_DOWN(a) ((a) >> AVM_PAGE_SHIFT)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define avm_min(a, b) ((a) < (b) ? (a) : (b))
#define avm_max(a, b) ((a) > (b) ? (a) : (b))

/* ---- intrusive doubly linked list (kernel list_head) -------------- */

struct avm_list {
	struct avm_list *next, *prev;
};

static inline void list_init(struct avm_list *h) { h->next = h->prev = h; }
static inline bool list_empty(const struct avm_list *h) { return h->next == h; }
static inline bool list_singular(const struct avm_list *h)
{
	return !list_empty(h) && h->next == h->prev;
}
static inline void list_insert_between(struct avm_list *n, struct avm_list *p,
				       struct avm_list *q)
{
	n->prev = p;
	n->next = q;
	p->next = n;
	q->prev = n;
}
/* Insert at the head (newest first, as the kernel's list_add). */
static inline void list_add(struct avm_list *n, struct avm_list *h)
{
	list_insert_between(n, h, h->next);
}
static inline void list_add_tail(struct avm_list *n, struct avm_list *h)
{
	list_insert_between(n, h->prev, h);
}
static inline void list_del(struct avm_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}
#define list_entry(p, type, member) container_of(p, type, member)
#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)
#define list_for_each_reverse(pos, head) for (pos = (head)->prev; pos != (head); pos = pos->prev)

/* ---- treap (tree.c) --------------------------------------------------- */

/*
 * An intrusive treap with parent pointers.  Ordered by a caller comparison;
 * an optional augment callback recomputes per-node summaries (the interval
 * tree's subtree_last) after every structural change.  Expected O(log n).
 */
struct avm_tnode {
	struct avm_tnode *left, *right, *parent;
	uint32_t prio;
};

struct avm_tree {
	struct avm_tnode *root;
	unsigned long count;
};

struct avm_tree_ops {
	/* <0, 0, >0 like strcmp; ties are not allowed (make keys unique). */
	int (*cmp)(const struct avm_tnode *a, const struct avm_tnode *b);
	/* Recompute the node's summary from its children; may be NULL. */
	void (*augment)(struct avm_tnode *n);
};

AVM_INTERNAL void tree_insert(struct avm_tree *t, struct avm_tnode *n, uint32_t prio,
			      const struct avm_tree_ops *ops);
AVM_INTERNAL void tree_erase(struct avm_tree *t, struct avm_tnode *n,
			     const struct avm_tree_ops *ops);
/* Re-run augment from @n up to the root (after a summary input changed). */
AVM_INTERNAL void tree_propagate(struct avm_tnode *n, const struct avm_tree_ops *ops);
AVM_INTERNAL struct avm_tnode *tree_first(const struct avm_tree *t);
AVM_INTERNAL struct avm_tnode *tree_last(const struct avm_tree *t);
AVM_INTERNAL struct avm_tnode *tree_next(const struct avm_tnode *n);
AVM_INTERNAL struct avm_tnode *tree_prev(const struct avm_tnode *n);

/* ---- the objects -------------------------------------------------------- */

struct avm_world;
struct avm_mm;
struct avm_vma;
struct avm_anon_vma;

/*
 * Radix tree keyed by page number: page tables (key = vaddr >> 12, value =
 * PTE) and shmem page caches (key = pgoff, value = pfn).  Each level
 * consumes `bits` key bits; leaves hold 64-bit values, 0 = empty.
 */
struct avm_radix {
	void *root;
	uint8_t bits, levels;
	unsigned long nodes; /* table pages allocated */
	/*
	 * The leaf radix_slot() reached last, and its number (key >> bits):
	 * faults, fork copies and moves touch neighbouring keys, so most
	 * walks end in the same leaf (make bench: -30% instructions per
	 * fork page).  Cleared whenever any table is freed.
	 */
	uint64_t *last_leaf;
	unsigned long last_leaf_nr;
};

/*
 * A physical frame (small folio): 32 bytes in two halves.  Frames live in
 * fixed chunks so pointers stay valid; pfn 0 is the shared zero page.  A
 * chunk holds FRAME_CHUNK hot halves, then FRAME_CHUNK cold halves, 64-byte
 * aligned: fork, zap, mprotect and GUP touch only the hot half (refcount,
 * mapcount, flags), four frames to a cache line; faults, rmap walks and
 * reclaim also reach the cold half (page.h frame_cold()), which packs
 * folio->mapping as a 28-bit handle (w->mappings, 0 = none) above the
 * 36-bit folio->index, and the content word.
 */
struct avm_frame {
	uint32_t refcount; /* 0 = free; +1 per PTE, +1 swap cache, +1024 per pin */
	int32_t mapcount;  /* PTEs mapping this frame (kpagecount); 0 = unmapped */
	uint32_t flags;    /* FRAME_* */
	uint32_t swap;     /* swap slot while FRAME_SWAPCACHE; free-list link when free */
};
struct avm_frame_cold {
	uint64_t mapidx;   /* mapping handle << FRAME_INDEX_BITS | folio->index (R1.11) */
	uint64_t content;  /* the page's content word */
};

/* folio->index: user page numbers are below AVM_TASK_SIZE >> 12 < 2^35, plus an offset. */
#define FRAME_INDEX_BITS 36
#define FRAME_INDEX_MASK ((1ULL << FRAME_INDEX_BITS) - 1)
/* Handles of anon_vmas and shmem objects (frame->mapping): 1..FRAME_MAPPING_MAX. */
#define FRAME_MAPPING_MAX ((1UL << (64 - FRAME_INDEX_BITS)) - 1)

#define FRAME_ANON (1u << 0)          /* mapping is an anon_vma (R1.10) */
#define FRAME_ANON_EXCLUSIVE (1u << 1) /* PG_anon_exclusive (R1.15) */
#define FRAME_SWAPBACKED (1u << 2)
#define FRAME_SWAPCACHE (1u << 3)
#define FRAME_DIRTY (1u << 4)
#define FRAME_REFERENCED (1u << 5)
#define FRAME_SHMEM (1u << 6)   /* shared anonymous (shmem) page */
#define FRAME_MLOCKED (1u << 7)
#define FRAME_ZERO (1u << 8)    /* the shared zero page (pfn 0) */
/*
 * folio->mlock_count of an mlocked frame lives in the top half of flags
 * (frame.c frame_mlock() and friends): roughly the VM_LOCKED mappings that
 * mlocked it, reset to 0 when reclaim puts the folio back (R13.2 mlock).
 */
#define FRAME_MLOCK_COUNT_SHIFT 16
#define FRAME_MLOCK_COUNT_MAX 0xffffu

#define FRAME_CHUNK_SHIFT 16
#define FRAME_CHUNK (1UL << FRAME_CHUNK_SHIFT)

/* Shared anonymous memory: the unlinked shmem file behind MAP_SHARED|MAP_ANONYMOUS (R6.3). */
struct avm_shmem {
	unsigned long id;
	uint32_t handle;       /* folio->mapping of its pages */
	int refcount;          /* VMAs using it */
	unsigned long size;    /* pages */
	struct avm_radix pages; /* pgoff -> pfn, or a swap entry (page.h SHMEM_SWAP_ENTRY) */
	unsigned long vgen;     /* validator scratch: last pass that counted it */
};

struct avm_anon_name {
	int refcount;
	char name[];
};

/* The userfaultfd context of one process (R12). */
struct avm_uffd {
	unsigned long id;
	int refcount; /* VMAs registered + 1 for the owning mm */
	struct avm_mm *mm;
};

/* R1.4 */
struct avm_vma {
	unsigned long vm_start, vm_end; /* [start, end), page aligned */
	unsigned long vm_pgoff;         /* R2 */
	unsigned long vm_flags;         /* AVM_VM_* */
	struct avm_mm *vm_mm;
	struct avm_anon_vma *anon_vma;  /* where new anon folios are filed (R3) */
	struct avm_list anon_vma_chain; /* AVCs, newest first (R1.4) */
	struct avm_shmem *shmem;        /* "vm_file": NULL = vma_is_anonymous() */
	struct avm_uffd *uffd_ctx;      /* vm_userfaultfd_ctx.ctx */
	struct avm_anon_name *anon_name;
	struct avm_tnode node;          /* mm->mm_mt, keyed by vm_start */
	unsigned long id;               /* stable object id for introspection */
	/* Free space below this VMA (vm_start_gap - prev->vm_end) and the
	 * largest such gap in its mm_mt subtree: top-down placement (vma.c). */
	unsigned long gap, gap_max;
};

/* R1.7 */
struct avm_anon_vma {
	struct avm_anon_vma *root, *parent;
	int refcount;
	int num_children;    /* R3.17, a root counts itself */
	int num_active_vmas; /* R3.18 */
	struct avm_tree rb_root; /* AVCs keyed by [rb_start, rb_last] */
	struct avm_list all;     /* world->anon_vmas */
	unsigned long id;
	uint32_t handle;         /* folio->mapping of its folios */
	unsigned long vslot;     /* validator scratch */
};

/* R1.9 */
struct avm_avc {
	struct avm_vma *vma;
	struct avm_anon_vma *anon_vma;
	struct avm_list same_vma;   /* in vma->anon_vma_chain */
	struct avm_tnode rb;        /* in anon_vma->rb_root */
	unsigned long rb_start, rb_last; /* cached [vm_pgoff, vm_pgoff + pages - 1] */
	unsigned long rb_subtree_last;
	unsigned long rb_seq; /* insertion order: ties in rb_start walk oldest first */
};

#define MMF_HAS_PINNED (1UL << 0)

/* R1.1 */
struct avm_mm {
	struct avm_world *w;
	int pid;
	struct avm_tree mm_mt;       /* VMAs, ordered */
	unsigned long map_count;     /* R1.2 */
	struct avm_radix pgtable;    /* vpn -> PTE */
	unsigned long total_vm, locked_vm, pinned_vm, data_vm; /* pages */
	unsigned long rss_anon, rss_shmem, swapents;           /* pages */
	unsigned long flags;         /* MMF_* */
	unsigned long mmap_base;     /* top-down placement starts below */
	struct avm_uffd *uffd;       /* this process's userfaultfd, or NULL */
};

/* A set of GUP pins or references taken by one avm_pin()/avm_get_ref(). */
struct avm_pinset {
	int handle;
	bool is_pin;    /* FOLL_PIN (+1024 each) versus FOLL_GET (+1) */
	bool write;
	unsigned long n;
	unsigned long pfns[]; /* 0 = the zero page (no reference taken, R10.1) */
};

struct avm_world {
	struct avm_config cfg;
	const struct avm_policy *policy;

	/* processes */
	struct avm_mm **mm_by_pid; /* index = pid; NULL when exited */
	int nr_pid_slots;
	int next_pid;

	/* frames (frame.c) */
	struct avm_frame **frame_chunks;
	unsigned long nr_chunks;
	unsigned long frames_total;  /* frames materialised in chunks, incl. pfn 0 */
	unsigned long frames_used;   /* allocated, not counting the zero page */
	uint32_t frame_free_head;    /* free list through frame->swap; 0 = empty */
	/* folio->mapping handles: mappings[h] is an anon_vma or shmem object */
	void **mappings;             /* [0] = NULL */
	uint32_t *mapping_free;      /* stack of free handles */
	uint32_t nr_mappings;        /* handles handed out, incl. 0 */
	uint32_t nr_mapping_free;
	uint32_t cap_mappings;
	unsigned long reclaim_hand;  /* reclaim clock position */

	/* swap (swap.c): slots 1..cfg.swap_slots */
	uint32_t *swap_map;          /* swap count per slot; [0] unused */
	uint32_t *swap_cache;        /* pfn in the swap cache per slot, 0 = none */
	uint64_t *swap_content;      /* written-out content per slot */
	unsigned long swap_used;
	unsigned long swap_hint;

	/* pins (gup.c) */
	struct avm_pinset **pins;
	int nr_pins, cap_pins;
	int next_pin_handle;

	/* anon_vmas alive, for the validator and introspection */
	struct avm_list anon_vmas;
	unsigned long nr_anon_vmas;

	/* ids */
	unsigned long next_vma_id, next_anon_vma_id, next_shmem_id, next_uffd_id;
	unsigned long next_avc_seq;

	/* allocation accounting and fault injection */
	size_t bytes;
	unsigned long alloc_count;
	unsigned long fail_nth; /* fail when alloc_count reaches it; 0 = off */
	uint64_t rng;

	struct avm_stats stats;
	char msg[256]; /* validator message buffer */
	unsigned long validate_gen; /* validator passes, for avm_shmem.vgen */
};

/* ---- world.c ------------------------------------------------------------ */

/* Counted, fault-injectable zeroed allocation.  Returns NULL on failure. */
AVM_INTERNAL void *avm_zalloc(struct avm_world *w, size_t size);
AVM_INTERNAL void avm_free(struct avm_world *w, void *p, size_t size);
/* The same, aligned to @align (a power of two, multiple of sizeof(void *)). */
AVM_INTERNAL void *avm_zalloc_aligned(struct avm_world *w, size_t size, size_t align);
AVM_INTERNAL void avm_free_aligned(struct avm_world *w, void *p, size_t size);
/*
 * A folio->mapping handle for @obj (an anon_vma or a shmem object).
 * Returns: the handle (>= 1), or 0 on -ENOMEM.
 */
AVM_INTERNAL uint32_t mapping_register(struct avm_world *w, void *obj);
/* Give @handle back; frames still naming it must not be mapped anywhere. */
AVM_INTERNAL void mapping_unregister(struct avm_world *w, uint32_t handle);
/* Consume one fault-injection tick without allocating (frames, swap slots). */
AVM_INTERNAL bool avm_inject_fail(struct avm_world *w);
AVM_INTERNAL uint32_t avm_random(struct avm_world *w);
/* Returns: the live mm of @pid, or NULL. */
AVM_INTERNAL struct avm_mm *mm_find(const struct avm_world *w, int pid);
/* A new empty mm registered under a fresh pid; NULL on -ENOMEM. */
AVM_INTERNAL struct avm_mm *mm_alloc(struct avm_world *w);
/* Unregister and free an mm whose VMAs and page tables are already gone. */
AVM_INTERNAL void mm_free(struct avm_mm *mm);
/* In AVM_DEBUG >= 3 builds: run the validator, abort on failure. */
AVM_INTERNAL void avm_debug_validate(struct avm_world *w);

#include "anon_vma.h"
#include "page.h"
#include "vma.h"
#include "swap.h"

#endif /* ANONVM_INTERNAL_H */
