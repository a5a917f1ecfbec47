/*
 * mmap.c - anonymous mmap, munmap, placement and exit (spec §6.1, §6.2,
 * R9 exit side).  Follows Linux 6.18 do_mmap() / __mmap_region() /
 * __get_unmapped_area() / do_vmi_munmap() / exit_mmap(), anonymous only:
 * private (vm_file NULL), shared (a fresh shmem object per mmap, R6.3)
 * and MAP_DROPPABLE (R6.10).
 *
 * Order of the mmap checks, as do_mmap() has them (the first failing one
 * decides the errno):
 *
 *   no MAP_ANONYMOUS -EBADF (fd -1); len 0 -EINVAL; page-rounded len 0
 *   -ENOMEM; map_count > max -ENOMEM (R6.1); placement (-ENOMEM, -EINVAL
 *   for an unaligned MAP_FIXED); MAP_FIXED_NOREPLACE overlap -EEXIST
 *   (R6.8); mapping type -EINVAL; then the region: unmap what MAP_FIXED
 *   covers (R6.7, R5.4), merge (R6.11) or create.
 */
#include "internal.h"

/* /proc/sys/vm/mmap_min_addr (x86-64 default). */
#define MMAP_MIN_ADDR 65536UL
#define PMD_SIZE (2UL << 20)
/* Flags the public header does not name. */
#define MAP_NONBLOCK 0x10000
#define MAP_STACK 0x20000

#define ERR(e) ((unsigned long)(long)(e))

/* ---- placement (R6.6) ----------------------------------------------------- */

/*
 * unmapped_area_topdown(): the highest gap of @len in [low, high).  The gap
 * that contains high is checked directly, every lower one through the
 * gap-augmented index (vma_gap_find(), O(log n)).
 */
static unsigned long area_topdown(struct avm_mm *mm, unsigned long len, unsigned long low,
				  unsigned long high)
{
	struct avm_vma *above, *below, *v, *prev;
	unsigned long gap_end, gap_start;

	if (high <= low || len > high - low)
		return ERR(-ENOMEM);
	above = vma_find(mm, high);
	below = above ? vma_prev(above) : vma_last(mm);
	gap_end = above ? avm_min(vma_start_gap(above), high) : high;
	gap_start = avm_max(below ? below->vm_end : 0, low);
	if (gap_end > gap_start && gap_end - gap_start >= len)
		return gap_end - len;
	if (!below)
		return ERR(-ENOMEM);
	v = vma_gap_find(mm, below->vm_start, len);
	if (!v)
		return ERR(-ENOMEM);
	/* Clipped by low: if this one does not fit, no lower one does. */
	prev = vma_prev(v);
	gap_end = vma_start_gap(v);
	gap_start = avm_max(prev ? prev->vm_end : 0, low);
	if (gap_end > gap_start && gap_end - gap_start >= len)
		return gap_end - len;
	return ERR(-ENOMEM);
}

/* unmapped_area(): the lowest gap of @len in [low, high). */
static unsigned long area_bottomup(struct avm_mm *mm, unsigned long len, unsigned long low,
				   unsigned long high)
{
	struct avm_vma *next = vma_find(mm, low);
	unsigned long gap_start = low;

	if (high <= low || len > high - low)
		return ERR(-ENOMEM);
	for (;;) {
		unsigned long gap_end = next ? avm_min(vma_start_gap(next), high) : high;

		if (gap_end > gap_start && gap_end - gap_start >= len)
			return gap_start;
		if (!next || next->vm_end >= high)
			return ERR(-ENOMEM);
		gap_start = avm_max(gap_start, next->vm_end);
		next = vma_next(next);
	}
}

/* x86 arch_get_unmapped_area_topdown(). */
static unsigned long arch_area(struct avm_mm *mm, unsigned long addr, unsigned long len,
			       int flags)
{
	unsigned long a;

	if (len > AVM_TASK_SIZE)
		return ERR(-ENOMEM);
	if (flags & AVM_MAP_FIXED)
		return addr;
	if (addr) {
		struct avm_vma *vma;

		addr &= AVM_PAGE_MASK;
		if (AVM_TASK_SIZE - len >= addr) { /* mmap_address_hint_valid() */
			vma = vma_find(mm, addr);
			if (!vma || addr + len <= vma_start_gap(vma))
				return addr;
		}
	}
	a = area_topdown(mm, len, AVM_PAGE_SIZE, mm->mmap_base);
	if (!avm_is_err(a))
		return a;
	/* A failed mmap likely kills the program: try bottom-up as well. */
	return area_bottomup(mm, len, PAGE_ALIGN(AVM_TASK_SIZE / 3), AVM_TASK_SIZE);
}

/*
 * __thp_get_unmapped_area(): search len + 2 MiB, then round up to 2 MiB;
 * an already aligned top-down result moves up by 2 MiB.  0 = not possible
 * (the caller retries without padding).
 */
static unsigned long thp_area(struct avm_mm *mm, unsigned long len, int flags)
{
	unsigned long len_pad = len + PMD_SIZE, ret, off_sub;

	if (len_pad < len)
		return 0;
	ret = arch_area(mm, 0, len_pad, flags);
	if (avm_is_err(ret) || ret == 0)
		return 0;
	off_sub = (0 - ret) & (PMD_SIZE - 1);
	if (!off_sub) /* MMF_TOPDOWN */
		return ret + PMD_SIZE;
	return ret + off_sub;
}

unsigned long mmap_get_unmapped_area(struct avm_mm *mm, unsigned long addr, unsigned long len,
				     int map_flags)
{
	if (len > AVM_TASK_SIZE)
		return ERR(-ENOMEM);
	/*
	 * R6.6: private anonymous, no hint, a multiple of 2 MiB: THP-aligned.
	 * Shared anonymous goes through shmem_get_unmapped_area(), which with
	 * shmem THP off places like any other mapping.
	 */
	if (!(map_flags & AVM_MAP_SHARED) && !addr && (len & (PMD_SIZE - 1)) == 0 &&
	    !(map_flags & AVM_MAP_FIXED)) {
		unsigned long a = thp_area(mm, len, map_flags);

		addr = a ? a : arch_area(mm, addr, len, map_flags);
	} else {
		addr = arch_area(mm, addr, len, map_flags);
	}
	if (avm_is_err(addr))
		return addr;
	if (addr > AVM_TASK_SIZE - len)
		return ERR(-ENOMEM);
	if (addr & ~AVM_PAGE_MASK)
		return ERR(-EINVAL);
	return addr;
}

/* ---- populate (R6.9, R8.22) ---------------------------------------------------- */

int mmap_populate_vma(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	bool write;

	/* populate_vma_page_range(): lock-on-fault never prefaults. */
	if (vma->vm_flags & AVM_VM_LOCKONFAULT)
		return 0;
	if (!(vma->vm_flags & AVM_VM_ACCESS_FLAGS))
		return -EFAULT;
	/* Write faults break COW on private writable mappings only. */
	write = (vma->vm_flags & (AVM_VM_WRITE | AVM_VM_SHARED)) == AVM_VM_WRITE;
	return fault_populate(vma->vm_mm, vma, start, end, write);
}

int mmap_populate(struct avm_mm *mm, unsigned long start, unsigned long len, bool ignore_errors)
{
	unsigned long end = start + len, nstart, nend;
	int ret = 0;

	for (nstart = start; nstart < end; nstart = nend) {
		struct avm_vma *vma = vma_find_intersection(mm, nstart, end);

		if (!vma)
			break;
		nend = avm_min(end, vma->vm_end);
		if (nstart < vma->vm_start)
			nstart = vma->vm_start;
		ret = mmap_populate_vma(vma, nstart, nend);
		if (ret < 0) {
			if (ignore_errors) {
				ret = 0;
				continue;
			}
			break;
		}
	}
	return ret;
}

/* ---- mmap ------------------------------------------------------------------ */

/* __mmap_region(): unmap, merge or create, complete (R6.5, R6.7, R6.11). */
static long mmap_region(struct avm_mm *mm, unsigned long addr, unsigned long len,
			unsigned long vm_flags, unsigned long pgoff)
{
	struct avm_world *w = mm->w;
	unsigned long end = addr + len, pages = len >> AVM_PAGE_SHIFT;
	struct avm_vma *vma = NULL, *prev, *next;
	struct avm_vma_merge vmg;
	int err;

	/* R6.7: MAP_FIXED replaces what is there (R5.4 limits the splits). */
	err = vma_munmap_range(mm, addr, end);
	if (err)
		return err;
	/* R6.4: accountable_mapping(). */
	if ((vm_flags & (AVM_VM_NORESERVE | AVM_VM_SHARED | AVM_VM_WRITE)) == AVM_VM_WRITE)
		vm_flags |= AVM_VM_ACCOUNT;

	next = vma_find(mm, addr);
	prev = next ? vma_prev(next) : vma_last(mm);
	if (prev || next) {
		vmg_init_new(&vmg, mm, prev, next, addr, end, vm_flags, pgoff);
		vma = vma_merge_new_range(&vmg);
	}
	if (!vma) {
		/* __mmap_new_vma(): failing here leaves the unmapped hole, as in the kernel. */
		vma = vma_alloc(mm);
		if (!vma)
			return -ENOMEM;
		vma->vm_start = addr;
		vma->vm_end = end;
		vma->vm_pgoff = pgoff;
		vma->vm_flags = vm_flags;
		if (vm_flags & AVM_VM_SHARED) { /* shmem_zero_setup() */
			vma->shmem = vma_shmem_alloc(w, pages);
			if (!vma->shmem) {
				vma_free(vma);
				return -ENOMEM;
			}
		}
		vma_link(mm, vma);
	}
	/* __mmap_complete() */
	vma_stat_account(mm, vma->vm_flags, (long)pages);
	if (vm_flags & AVM_VM_LOCKED)
		mm->locked_vm += pages;
	vma->vm_flags |= AVM_VM_SOFTDIRTY; /* R6.5 */
	return (long)addr;
}

/* do_mmap() for anonymous memory.  Returns: the address or -errno. */
static long do_mmap(struct avm_mm *mm, unsigned long addr, unsigned long len, int prot,
		    int flags, unsigned long *populate)
{
	unsigned long vm_flags, pgoff, res;

	*populate = 0;
	if (!(flags & AVM_MAP_ANONYMOUS))
		return -EBADF; /* fd -1: fget() fails */
	if (!len)
		return -EINVAL;
	if (flags & AVM_MAP_FIXED_NOREPLACE)
		flags |= AVM_MAP_FIXED;
	if (!(flags & AVM_MAP_FIXED)) { /* round_hint_to_min() */
		addr &= AVM_PAGE_MASK;
		if (addr && addr < MMAP_MIN_ADDR)
			addr = PAGE_ALIGN(MMAP_MIN_ADDR);
	}
	len = PAGE_ALIGN(len);
	if (!len)
		return -ENOMEM;
	if (mm->map_count > mm->w->cfg.max_map_count) /* R6.1: strictly greater */
		return -ENOMEM;
	res = mmap_get_unmapped_area(mm, addr, len, flags);
	if (avm_is_err(res))
		return (long)res;
	addr = res;
	if ((flags & AVM_MAP_FIXED_NOREPLACE) && vma_find_intersection(mm, addr, addr + len))
		return -EEXIST; /* R6.8 */

	/* calc_vm_prot_bits() | calc_vm_flag_bits() | VM_MAY* */
	vm_flags = (unsigned long)(prot & (AVM_PROT_READ | AVM_PROT_WRITE | AVM_PROT_EXEC));
	if (flags & AVM_MAP_GROWSDOWN)
		vm_flags |= AVM_VM_GROWSDOWN;
	if (flags & AVM_MAP_LOCKED)
		vm_flags |= AVM_VM_LOCKED;
	if (flags & MAP_STACK)
		vm_flags |= AVM_VM_NOHUGEPAGE;
	vm_flags |= AVM_VM_MAYREAD | AVM_VM_MAYWRITE | AVM_VM_MAYEXEC;

	switch (flags & AVM_MAP_TYPE) {
	case AVM_MAP_SHARED:
		if (vm_flags & AVM_VM_GROWSDOWN)
			return -EINVAL;
		pgoff = 0; /* R6.3 */
		vm_flags |= AVM_VM_SHARED | AVM_VM_MAYSHARE;
		break;
	case AVM_MAP_DROPPABLE: /* R6.10 */
		if ((flags & AVM_MAP_LOCKED) || (vm_flags & AVM_VM_GROWSDOWN))
			return -EINVAL;
		vm_flags |= AVM_VM_DROPPABLE | AVM_VM_NORESERVE | AVM_VM_WIPEONFORK |
			    AVM_VM_DONTDUMP;
		pgoff = addr >> AVM_PAGE_SHIFT;
		break;
	case AVM_MAP_PRIVATE:
		pgoff = addr >> AVM_PAGE_SHIFT; /* R2.1 */
		break;
	default:
		return -EINVAL; /* including MAP_SHARED_VALIDATE (R6.1) */
	}
	/* R6.4: honoured in the default overcommit mode. */
	if (flags & AVM_MAP_NORESERVE)
		vm_flags |= AVM_VM_NORESERVE;

	long ret = mmap_region(mm, addr, len, vm_flags, pgoff);
	if (ret >= 0 && ((vm_flags & AVM_VM_LOCKED) ||
			 (flags & (AVM_MAP_POPULATE | MAP_NONBLOCK)) == AVM_MAP_POPULATE))
		*populate = len;
	return ret;
}

int avm_mmap(struct avm_world *w, int pid, unsigned long addr, unsigned long len, int prot,
	     int flags, unsigned long *out)
{
	struct avm_mm *mm = mm_find(w, pid);
	unsigned long populate;
	long ret;

	if (!mm)
		return -ESRCH;
	ret = do_mmap(mm, addr, len, prot, flags, &populate);
	if (ret >= 0) {
		/* R6.9: mm_populate() ignores errors. */
		if (populate)
			(void)mmap_populate(mm, (unsigned long)ret, populate, true);
		if (out)
			*out = (unsigned long)ret;
		ret = 0;
	}
	avm_debug_validate(w);
	return (int)ret;
}

/* ---- munmap ------------------------------------------------------------------ */

int mmap_do_munmap(struct avm_mm *mm, unsigned long start, unsigned long len)
{
	unsigned long end;

	/* R6.12 */
	if ((start & ~AVM_PAGE_MASK) || start > AVM_TASK_SIZE || len > AVM_TASK_SIZE - start)
		return -EINVAL;
	end = start + PAGE_ALIGN(len);
	if (end == start)
		return -EINVAL;
	return vma_munmap_range(mm, start, end);
}

int avm_munmap(struct avm_world *w, int pid, unsigned long addr, unsigned long len)
{
	struct avm_mm *mm = mm_find(w, pid);
	int ret;

	if (!mm)
		return -ESRCH;
	ret = mmap_do_munmap(mm, addr, len);
	avm_debug_validate(w);
	return ret;
}

/* ---- exit ---------------------------------------------------------------------- */

void mmap_exit(struct avm_mm *mm)
{
	struct avm_vma *vma, *next;

	/* exit_mmap(): unmap_vmas() over everything, guards included ... */
	for (vma = vma_first(mm); vma; vma = vma_next(vma))
		zap_range(vma, vma->vm_start, vma->vm_end, /* zap_guards = */ true);
	/* ... then free_pgtables() unlinks the anon_vmas, then remove_vma(). */
	for (vma = vma_first(mm); vma; vma = next) {
		next = vma_next(vma);
		vma_unlink(mm, vma);
		anon_vma_unlink(vma);
		vma_free(vma);
	}
	free_pgtables(mm, 0, AVM_TASK_SIZE);
	mm->total_vm = mm->locked_vm = mm->data_vm = 0;
	if (mm->uffd) {
		struct avm_uffd *ctx = mm->uffd;

		mm->uffd = NULL;
		uffd_ctx_put(mm->w, ctx);
	}
}

int avm_exit(struct avm_world *w, int pid)
{
	struct avm_mm *mm = mm_find(w, pid);

	if (!mm)
		return -ESRCH;
	mmap_exit(mm);
	mm_free(mm);
	w->stats.exits++;
	avm_debug_validate(w);
	return 0;
}
