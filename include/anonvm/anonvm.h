/*
 * anonvm.h - public API of libanonvm, a userspace model of the Linux 6.18
 * anonymous-memory manager and its reverse map.
 *
 * One simulated machine is a `struct avm_world`.  It holds simulated
 * processes (each with its own mm: VMAs and page tables), physical frames,
 * swap slots, anon_vmas and GUP pins.  Every syscall-like call takes the
 * world and a pid, and returns 0 (or a non-negative result) on success or
 * the negative errno Linux returns for the same call.  Bad input never
 * changes state.  Nothing here does I/O, keeps global state or exits.
 *
 * Rule numbers (R4.2 ...) refer to shared/spec/linux-anon-memory.md.
 *
 * Glossary: page = virtual page of a process; frame = physical page
 * (a small folio; THP comes later); pfn = frame number, 0 is the shared
 * zero page; pgoff = page offset in the anonymous "object" (R2).
 */
#ifndef ANONVM_ANONVM_H
#define ANONVM_ANONVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define AVM_API __attribute__((visibility("default")))
#define AVM_MUST_CHECK __attribute__((warn_unused_result))
#else
#define AVM_API
#define AVM_MUST_CHECK
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define AVM_VERSION "0.1.0"

#define AVM_PAGE_SHIFT 12
#define AVM_PAGE_SIZE (1UL << AVM_PAGE_SHIFT)
/* Highest user address + 1, x86-64 4-level paging (TASK_SIZE). */
#define AVM_TASK_SIZE 0x7ffffffff000UL
#define AVM_DEFAULT_MAX_MAP_COUNT 65530 /* R1.3 */
#define AVM_GUP_PIN_COUNTING_BIAS 1024  /* R1.14 */
/*
 * The scenario arena: every address a scenario uses lies here, on the
 * model and in the host puppets (which run without ASLR, so the range is
 * empty there).  Top-down placement starts below AVM_ARENA_END.
 */
#define AVM_ARENA_START 0x7e0000000000UL
#define AVM_ARENA_END 0x7f4000000000UL

/* Results of a memory access that the kernel would turn into a signal. */
#define AVM_ESIGSEGV 14 /* EFAULT: access would raise SIGSEGV */
#define AVM_ESIGBUS 5   /* EIO: access would raise SIGBUS (uffd missing) */

/* mmap prot and flags: the Linux x86-64 values. */
#define AVM_PROT_NONE 0x0
#define AVM_PROT_READ 0x1
#define AVM_PROT_WRITE 0x2
#define AVM_PROT_EXEC 0x4

#define AVM_MAP_SHARED 0x01
#define AVM_MAP_PRIVATE 0x02
#define AVM_MAP_SHARED_VALIDATE 0x03
#define AVM_MAP_DROPPABLE 0x08
#define AVM_MAP_TYPE 0x0f
#define AVM_MAP_FIXED 0x10
#define AVM_MAP_ANONYMOUS 0x20
#define AVM_MAP_GROWSDOWN 0x0100
#define AVM_MAP_LOCKED 0x2000
#define AVM_MAP_NORESERVE 0x4000
#define AVM_MAP_POPULATE 0x8000
#define AVM_MAP_FIXED_NOREPLACE 0x100000

#define AVM_MREMAP_MAYMOVE 1
#define AVM_MREMAP_FIXED 2
#define AVM_MREMAP_DONTUNMAP 4
/* Not in mainline (R7.30): accepted only by a policy that enables it. */
#define AVM_MREMAP_RELOCATE_ANON 8

#define AVM_MADV_NORMAL 0
#define AVM_MADV_RANDOM 1
#define AVM_MADV_SEQUENTIAL 2
#define AVM_MADV_WILLNEED 3
#define AVM_MADV_DONTNEED 4
#define AVM_MADV_FREE 8
#define AVM_MADV_REMOVE 9
#define AVM_MADV_DONTFORK 10
#define AVM_MADV_DOFORK 11
#define AVM_MADV_MERGEABLE 12
#define AVM_MADV_UNMERGEABLE 13
#define AVM_MADV_HUGEPAGE 14
#define AVM_MADV_NOHUGEPAGE 15
#define AVM_MADV_DONTDUMP 16
#define AVM_MADV_DODUMP 17
#define AVM_MADV_WIPEONFORK 18
#define AVM_MADV_KEEPONFORK 19
#define AVM_MADV_COLD 20
#define AVM_MADV_PAGEOUT 21
#define AVM_MADV_POPULATE_READ 22
#define AVM_MADV_POPULATE_WRITE 23
#define AVM_MADV_DONTNEED_LOCKED 24
#define AVM_MADV_GUARD_INSTALL 102
#define AVM_MADV_GUARD_REMOVE 103

#define AVM_MLOCK_ONFAULT 0x01

#define AVM_UFFDIO_MOVE_MODE_DONTWAKE 1
#define AVM_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES 2
#define AVM_UFFDIO_REGISTER_MODE_MISSING 1

/* GUP flags for avm_pin(). */
#define AVM_FOLL_WRITE 0x01
#define AVM_FOLL_LONGTERM 0x02

/* VM flags (R1.5), as the kernel numbers them. */
#define AVM_VM_READ 0x00000001UL
#define AVM_VM_WRITE 0x00000002UL
#define AVM_VM_EXEC 0x00000004UL
#define AVM_VM_SHARED 0x00000008UL
#define AVM_VM_MAYREAD 0x00000010UL
#define AVM_VM_MAYWRITE 0x00000020UL
#define AVM_VM_MAYEXEC 0x00000040UL
#define AVM_VM_MAYSHARE 0x00000080UL
#define AVM_VM_GROWSDOWN 0x00000100UL
#define AVM_VM_UFFD_MISSING 0x00000200UL
#define AVM_VM_PFNMAP 0x00000400UL
/*
 * VM_MAYBE_GUARD (bit 11, smaps "gu"): set by MADV_GUARD_INSTALL; makes fork
 * copy the page tables (R9.4 [6.19+], present on this host's 6.18.44).
 */
#define AVM_VM_MAYBE_GUARD 0x00000800UL
#define AVM_VM_UFFD_WP 0x00001000UL
#define AVM_VM_LOCKED 0x00002000UL
#define AVM_VM_IO 0x00004000UL
#define AVM_VM_SEQ_READ 0x00008000UL
#define AVM_VM_RAND_READ 0x00010000UL
#define AVM_VM_DONTCOPY 0x00020000UL
#define AVM_VM_DONTEXPAND 0x00040000UL
#define AVM_VM_LOCKONFAULT 0x00080000UL
#define AVM_VM_ACCOUNT 0x00100000UL
#define AVM_VM_NORESERVE 0x00200000UL
#define AVM_VM_HUGETLB 0x00400000UL
#define AVM_VM_SYNC 0x00800000UL
#define AVM_VM_ARCH_1 0x01000000UL
#define AVM_VM_WIPEONFORK 0x02000000UL
#define AVM_VM_DONTDUMP 0x04000000UL
#define AVM_VM_SOFTDIRTY 0x08000000UL
#define AVM_VM_MIXEDMAP 0x10000000UL
#define AVM_VM_HUGEPAGE 0x20000000UL
#define AVM_VM_NOHUGEPAGE 0x40000000UL
#define AVM_VM_MERGEABLE 0x80000000UL
#define AVM_VM_DROPPABLE (1UL << 40)
#define AVM_VM_SPECIAL (AVM_VM_IO | AVM_VM_DONTEXPAND | AVM_VM_PFNMAP | AVM_VM_MIXEDMAP)

struct avm_world;
struct avm_policy;

/* World configuration; start from avm_config_default(). */
struct avm_config {
	unsigned long max_frames;    /* frames available; 0 = unlimited */
	unsigned long swap_slots;    /* swap slots; 0 = no swap device */
	unsigned long max_map_count; /* vm.max_map_count (R1.3) */
	/*
	 * Standard Linux maps the shared zero page on an anonymous read fault
	 * (R8.3).  A kernel booted with it disabled allocates a private zeroed
	 * page, writable, exclusive, with an anon_vma (spec/host-kernel.md).
	 */
	bool read_fault_zero_page;
	/*
	 * Synchronous swap device (zram): a swap-in whose slot has count 1
	 * skips the swap cache (R8.15/R8.16).  false = swapfile behaviour.
	 */
	bool swap_synchronous;
	/* Page-table radix bits per level: 9 = x86-64; 1..9 (small = hard mode). */
	unsigned int pt_bits;
	const struct avm_policy *policy; /* NULL = avm_policy_linux */
	uint64_t seed;                   /* deterministic tree priorities */
};

/*
 * A policy is a named set of choices where the model can behave unlike
 * mainline Linux 6.18 (shared/DESIGN.md "Policies are explicit").
 */
struct avm_policy {
	const char *name;
	const char *summary;
	/* R4.5 (6.16+) three-case anon_vma merge rule; false = 6.12's R4.6. */
	bool merge_faulted_into_unfaulted;
	/* R4.20: copy_vma hands the source's anon_vma to an unfaulted target. */
	bool mremap_merge_fix;
	/* R7.30: accept MREMAP_RELOCATE_ANON and rewrite folio index/mapping. */
	bool mremap_relocate_anon;
};

AVM_API extern const struct avm_policy avm_policy_linux;
AVM_API extern const struct avm_policy avm_policy_linux_612;
AVM_API extern const struct avm_policy avm_policy_relocate;
/* Returns: the policy named @name, or NULL. */
AVM_API const struct avm_policy *avm_policy_find(const char *name);
/* Returns: the i-th known policy, NULL past the end. */
AVM_API const struct avm_policy *avm_policy_at(unsigned int i);

AVM_API void avm_config_default(struct avm_config *cfg);
/* Returns: a new world, or NULL on invalid config or out of memory. */
AVM_API AVM_MUST_CHECK struct avm_world *avm_world_new(const struct avm_config *cfg);
/* Frees everything, including processes still alive. */
AVM_API void avm_world_free(struct avm_world *w);
AVM_API const struct avm_config *avm_world_config(const struct avm_world *w);
/* Change vm.max_map_count at run time (like sysctl). */
AVM_API void avm_set_max_map_count(struct avm_world *w, unsigned long max);

/* ---- processes ----------------------------------------------------- */

/* Returns: pid (> 0) of a new process with an empty address space, or -ENOMEM. */
AVM_API AVM_MUST_CHECK int avm_spawn(struct avm_world *w);
/* Returns: the child's pid, or -errno (-ESRCH, -ENOMEM); R9. */
AVM_API AVM_MUST_CHECK int avm_fork(struct avm_world *w, int pid);
/* Tears the process down like exit_mmap().  Returns: 0 or -ESRCH. */
AVM_API int avm_exit(struct avm_world *w, int pid);

/* ---- syscalls (errno as Linux) ------------------------------------- */

/* mmap(addr, len, prot, flags, -1, 0); anonymous only.  *out = address. */
AVM_API AVM_MUST_CHECK int avm_mmap(struct avm_world *w, int pid, unsigned long addr,
				    unsigned long len, int prot, int flags,
				    unsigned long *out);
AVM_API AVM_MUST_CHECK int avm_munmap(struct avm_world *w, int pid, unsigned long addr,
				      unsigned long len);
AVM_API AVM_MUST_CHECK int avm_mprotect(struct avm_world *w, int pid, unsigned long addr,
					unsigned long len, int prot);
/* mremap(); *out = resulting address. */
AVM_API AVM_MUST_CHECK int avm_mremap(struct avm_world *w, int pid, unsigned long addr,
				      unsigned long old_len, unsigned long new_len,
				      int flags, unsigned long new_addr,
				      unsigned long *out);
AVM_API AVM_MUST_CHECK int avm_madvise(struct avm_world *w, int pid, unsigned long addr,
				       unsigned long len, int advice);
/* mlock2(addr, len, flags) */
AVM_API AVM_MUST_CHECK int avm_mlock(struct avm_world *w, int pid, unsigned long addr,
				     unsigned long len, int flags);
AVM_API AVM_MUST_CHECK int avm_munlock(struct avm_world *w, int pid, unsigned long addr,
				       unsigned long len);
/* prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name); name NULL clears. */
AVM_API AVM_MUST_CHECK int avm_set_anon_name(struct avm_world *w, int pid, unsigned long addr,
					     unsigned long len, const char *name);

/* ---- memory access ------------------------------------------------- */

/*
 * Read / write the 64-bit content word of the page containing @addr, as
 * a user load/store would, taking whatever fault the kernel takes (R8).
 * Returns: 0, -AVM_ESIGSEGV, -AVM_ESIGBUS, or -ENOMEM (OOM).
 */
AVM_API AVM_MUST_CHECK int avm_read(struct avm_world *w, int pid, unsigned long addr,
				    uint64_t *val);
AVM_API AVM_MUST_CHECK int avm_write(struct avm_world *w, int pid, unsigned long addr,
				     uint64_t val);
/* Touch every page of a range (read or write fault semantics, content kept). */
AVM_API AVM_MUST_CHECK int avm_touch(struct avm_world *w, int pid, unsigned long addr,
				     unsigned long len, bool write);

/* ---- GUP (R10) ----------------------------------------------------- */

/*
 * FOLL_PIN on @npages pages starting at @addr (AVM_FOLL_WRITE,
 * AVM_FOLL_LONGTERM), faulting them in as GUP would.  *handle receives an
 * id for avm_unpin().  All-or-nothing: on error nothing stays pinned.
 */
AVM_API AVM_MUST_CHECK int avm_pin(struct avm_world *w, int pid, unsigned long addr,
				   unsigned long npages, unsigned int foll, int *handle);
/* FOLL_GET (plain references, as vmsplice takes them; R10.8). */
AVM_API AVM_MUST_CHECK int avm_get_ref(struct avm_world *w, int pid, unsigned long addr,
				       unsigned long npages, int *handle);
/* Drop a pin or reference set.  Returns: 0 or -EINVAL (unknown handle). */
AVM_API int avm_unpin(struct avm_world *w, int handle);
/* Read / write the content word of page @i of a pin set (DMA through the pin). */
AVM_API AVM_MUST_CHECK int avm_pin_read(struct avm_world *w, int handle, unsigned long i,
					uint64_t *val);
AVM_API AVM_MUST_CHECK int avm_pin_write(struct avm_world *w, int handle, unsigned long i,
					 uint64_t val);

/* ---- userfaultfd (R12) --------------------------------------------- */

/* UFFDIO_REGISTER (mode MISSING) on a range; the process gets one context. */
AVM_API AVM_MUST_CHECK int avm_uffd_register(struct avm_world *w, int pid, unsigned long addr,
					     unsigned long len, int mode);
AVM_API AVM_MUST_CHECK int avm_uffd_unregister(struct avm_world *w, int pid,
					       unsigned long addr, unsigned long len);
/*
 * UFFDIO_MOVE.  *moved = bytes moved (or the negative error stored in
 * uffdio_move.move).  Returns: what the ioctl returns (0, -EAGAIN on a
 * partial move, or -errno), R12.3.
 */
AVM_API AVM_MUST_CHECK int avm_uffd_move(struct avm_world *w, int pid, unsigned long dst,
					 unsigned long src, unsigned long len, int mode,
					 long *moved);

/* ---- reclaim ------------------------------------------------------- */

/*
 * Global memory pressure: reclaim up to @nr frames, oldest first, the
 * way shrink_folio_list would (try_to_unmap through rmap, R11.6).
 * *reclaimed = frames freed.  Returns: 0, or -ENOMEM without swap.
 */
AVM_API int avm_reclaim(struct avm_world *w, unsigned long nr, unsigned long *reclaimed);
/* folio_referenced() on the frame mapped at addr (R11.8): young PTEs found. */
AVM_API int avm_referenced(struct avm_world *w, int pid, unsigned long addr, int *young);

/* ---- introspection -------------------------------------------------- */

struct avm_vma_info {
	unsigned long start, end, pgoff, flags;
	unsigned long anon_vma; /* id of vma->anon_vma, 0 = none */
	unsigned long vma_id;   /* stable id of this VMA object */
	unsigned int chain_len; /* anon_vma_chain entries */
	bool shared_anon;       /* MAP_SHARED|MAP_ANONYMOUS (shmem) */
	unsigned long shmem_id; /* id of the shmem object when shared_anon */
	bool uffd;              /* registered with the process's uffd ctx */
	const char *anon_name;  /* NULL when unnamed; valid until next call */
};

enum avm_page_state {
	AVM_PAGE_NONE = 0, /* no PTE */
	AVM_PAGE_PRESENT,  /* PTE maps a frame */
	AVM_PAGE_ZERO,     /* PTE maps the shared zero page */
	AVM_PAGE_SWAP,     /* swap entry */
	AVM_PAGE_MIGRATION,
	AVM_PAGE_GUARD,
};

struct avm_page_info {
	enum avm_page_state state;
	unsigned long pfn;       /* frame id for PRESENT, 0 for ZERO */
	unsigned long swap_slot; /* for SWAP (slots start at 1) */
	bool writable, dirty, young, soft_dirty;
	bool swp_exclusive;      /* SWAP: the swap PTE's exclusive bit */
	/* Of the frame (PRESENT only): */
	int mapcount;            /* PTEs mapping it (kpagecount) */
	int refcount;
	bool anon;               /* anonymous (not shmem) */
	bool anon_exclusive;     /* PG_anon_exclusive (kpageflags bit 34) */
	bool swapcache, swapbacked, lazyfree, pinned;
	unsigned long anon_vma;  /* id of folio's anon_vma (mapping), 0 = none */
	unsigned long index;     /* folio->index */
	uint64_t content;        /* the page's content word */
};

struct avm_mm_info {
	int pid;
	unsigned long map_count, total_vm, locked_vm, pinned_vm, data_vm;
	unsigned long rss_anon, rss_shmem, swapents;
	bool has_pinned; /* MMF_HAS_PINNED (R10.2) */
};

struct avm_anon_vma_info {
	unsigned long id, root, parent; /* ids */
	int refcount, num_children, num_active_vmas;
	unsigned long nr_avcs; /* AVCs in its interval tree */
};

/* One edge of the anon_vma_chain graph: VMA (of pid) linked to anon_vma. */
struct avm_avc_info {
	int pid;
	unsigned long vma_id, vma_start, vma_end;
	unsigned long anon_vma;
	unsigned long pgoff_first, pgoff_last;
};

struct avm_stats {
	/* merges, by case of R4.14/R4.17 */
	unsigned long merge_new_left, merge_new_right, merge_new_both;
	unsigned long merge_existing_left, merge_existing_right, merge_existing_both;
	unsigned long merge_refused_anon_vma; /* refused by R4.5/R4.6/R4.7 only */
	unsigned long splits;
	unsigned long vmas_alloc, vmas_free;
	unsigned long anon_vma_alloc, anon_vma_free, anon_vma_reused;
	unsigned long avc_alloc, avc_free;
	unsigned long faults_read, faults_write, faults_zero_page;
	unsigned long faults_unshare, faults_swapin;
	unsigned long cow_copy, cow_reuse, fork_copy_pinned;
	unsigned long frames_alloc, frames_free;
	unsigned long pins, unpins, refs;
	unsigned long rmap_walks, rmap_walk_visits;
	unsigned long swap_out, swap_in;
	unsigned long uffd_moved_pages;
	unsigned long pt_pages_alloc, pt_pages_free;
	unsigned long forks, exits;
};

/* Returns: 0 and fills *out, or -ESRCH. */
AVM_API int avm_mm_info(const struct avm_world *w, int pid, struct avm_mm_info *out);
/*
 * Iterate a process's VMAs in address order.  *cursor starts at 0.
 * Returns: 1 with *out filled, 0 at the end, -ESRCH.
 */
AVM_API int avm_vma_next(const struct avm_world *w, int pid, unsigned long *cursor,
			 struct avm_vma_info *out);
/* Returns: 0 (also for unmapped addresses: state NONE), -ESRCH, -EINVAL. */
AVM_API int avm_page_info(const struct avm_world *w, int pid, unsigned long addr,
			  struct avm_page_info *out);
/* Iterate live processes: *cursor starts at 0.  Returns: pid, or 0 at the end. */
AVM_API int avm_proc_next(const struct avm_world *w, unsigned long *cursor);
/* Call @fn for every live anon_vma, in creation (id) order. */
AVM_API void avm_anon_vma_foreach(const struct avm_world *w,
				  void (*fn)(void *arg, const struct avm_anon_vma_info *av),
				  void *arg);
/*
 * Call @fn for every AVC: processes in pid order, VMAs in address order,
 * each VMA's chain newest first (the kernel's list order).
 */
AVM_API void avm_avc_foreach(const struct avm_world *w,
			     void (*fn)(void *arg, const struct avm_avc_info *avc), void *arg);
/*
 * rmap walk from the frame mapped at (pid, addr): calls @fn for every
 * (pid, address) the kernel's rmap_walk_anon would visit and that really
 * maps the frame.  Returns: number of mappings found, or -errno.
 */
AVM_API int avm_rmap_lookup(struct avm_world *w, int pid, unsigned long addr,
			    void (*fn)(void *arg, int pid, unsigned long addr,
				       unsigned long vma_id),
			    void *arg);
AVM_API const struct avm_stats *avm_stats(const struct avm_world *w);
/* Frames in use (excluding the zero page), swap slots in use. */
AVM_API unsigned long avm_frames_used(const struct avm_world *w);
AVM_API unsigned long avm_swap_used(const struct avm_world *w);
/* Host bytes the model holds (frames, page tables, VMAs, anon_vmas, AVCs). */
AVM_API size_t avm_memory_bytes(const struct avm_world *w);

/*
 * Check every invariant (lib/validate.c, I1..).  Returns: 0 when all hold,
 * else a negative code and a description of the first broken one in @buf.
 */
AVM_API int avm_validate(struct avm_world *w, char *buf, size_t len);

/* Fault injection (STYLE 13): fail the @nth internal allocation from now
 * (1 = the next one); 0 disables.  Returns the number of allocations
 * attempted since the last call (to find the sites of an operation). */
AVM_API unsigned long avm_fault_inject(struct avm_world *w, unsigned long nth);

/* Human-readable name of an advice / errno value ("MADV_DONTNEED", "EBUSY"). */
AVM_API const char *avm_errno_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* ANONVM_ANONVM_H */
