/*
 * madvise.c - madvise (spec §13; Linux 6.18 mm/madvise.c).
 *
 * General rules (do_madvise()): unknown advice or unaligned start -EINVAL;
 * len rounds up, 0 succeeds; the advice is applied VMA by VMA over the
 * mapped parts and a hole anywhere makes the call end with -ENOMEM after
 * the mapped parts were advised (madvise_walk_vmas()).
 *
 *   flag advice (R13.1)   NORMAL RANDOM SEQUENTIAL DONTFORK DOFORK
 *                         WIPEONFORK KEEPONFORK DONTDUMP DODUMP
 *                         MERGEABLE UNMERGEABLE HUGEPAGE NOHUGEPAGE
 *                         -> vma_modify() (split/merge); -ENOMEM -> -EAGAIN (R13.2)
 *   page advice (R13.3-)  DONTNEED(_LOCKED) FREE COLD PAGEOUT WILLNEED
 *                         POPULATE_READ/WRITE GUARD_INSTALL/REMOVE REMOVE
 *                         -> never split or merge (R5.7)
 */
#include "internal.h"

#define MADV_COLLAPSE 25

int madvise_walk(struct avm_mm *mm, unsigned long start, unsigned long end,
		 madvise_visit_fn visit, void *arg)
{
	struct avm_vma *vma = vma_find(mm, start), *prev = NULL;
	int unmapped_error = 0;

	for (;;) {
		unsigned long tmp;
		int err;

		if (!vma)
			return -ENOMEM;
		if (start < vma->vm_start) {
			unmapped_error = -ENOMEM;
			start = vma->vm_start;
			if (start >= end)
				break;
		}
		tmp = avm_min(vma->vm_end, end);
		err = visit(vma, &prev, start, tmp, arg);
		if (err)
			return err;
		start = tmp;
		if (prev && start < prev->vm_end)
			start = prev->vm_end;
		if (start >= end)
			break;
		vma = vma_find(mm, prev ? prev->vm_end : start);
	}
	return unmapped_error;
}

int madvise_update_vma(struct avm_vma *vma, struct avm_vma **prev, unsigned long start,
		       unsigned long end, unsigned long new_flags, struct avm_anon_name *name)
{
	/* R13.1: nothing changes, nothing splits. */
	if (new_flags == vma->vm_flags && anon_name_eq(vma->anon_name, name)) {
		*prev = vma;
		return 0;
	}
	return vma_modify_flags_name(vma, start, end, new_flags, name, prev);
}

/* ---- flag advice (R13.1) ---------------------------------------------------- */

static int madvise_flags(struct avm_vma *vma, struct avm_vma **prev, unsigned long start,
			 unsigned long end, int behavior)
{
	unsigned long f = vma->vm_flags;
	int err;

	switch (behavior) {
	case AVM_MADV_NORMAL:
		f &= ~(AVM_VM_RAND_READ | AVM_VM_SEQ_READ);
		break;
	case AVM_MADV_SEQUENTIAL:
		f = (f & ~AVM_VM_RAND_READ) | AVM_VM_SEQ_READ;
		break;
	case AVM_MADV_RANDOM:
		f = (f & ~AVM_VM_SEQ_READ) | AVM_VM_RAND_READ;
		break;
	case AVM_MADV_DONTFORK:
		f |= AVM_VM_DONTCOPY;
		break;
	case AVM_MADV_DOFORK:
		if (f & AVM_VM_IO)
			return -EINVAL;
		f &= ~AVM_VM_DONTCOPY;
		break;
	case AVM_MADV_WIPEONFORK:
		/* Anonymous private only: shmem counts as a file (R6.3). */
		if (vma->shmem || (f & AVM_VM_SHARED))
			return -EINVAL;
		f |= AVM_VM_WIPEONFORK;
		break;
	case AVM_MADV_KEEPONFORK:
		if (f & AVM_VM_DROPPABLE)
			return -EINVAL;
		f &= ~AVM_VM_WIPEONFORK;
		break;
	case AVM_MADV_DONTDUMP:
		f |= AVM_VM_DONTDUMP;
		break;
	case AVM_MADV_DODUMP:
		if (f & (AVM_VM_SPECIAL | AVM_VM_DROPPABLE))
			return -EINVAL;
		f &= ~AVM_VM_DONTDUMP;
		break;
	case AVM_MADV_MERGEABLE:
		/* R13.10: ineligible VMAs stay as they are, without error. */
		if (!(f & (AVM_VM_SHARED | AVM_VM_MAYSHARE | AVM_VM_PFNMAP | AVM_VM_IO |
			   AVM_VM_DONTEXPAND | AVM_VM_HUGETLB | AVM_VM_MIXEDMAP | AVM_VM_DROPPABLE)))
			f |= AVM_VM_MERGEABLE;
		break;
	case AVM_MADV_UNMERGEABLE:
		/* KSM is off (host-kernel.md): no KSM pages to break. */
		f &= ~AVM_VM_MERGEABLE;
		break;
	case AVM_MADV_HUGEPAGE:
		f = (f & ~AVM_VM_NOHUGEPAGE) | AVM_VM_HUGEPAGE;
		break;
	case AVM_MADV_NOHUGEPAGE:
		f = (f & ~AVM_VM_HUGEPAGE) | AVM_VM_NOHUGEPAGE;
		break;
	default:
		AVM_ASSERT(0);
		return -EINVAL;
	}
	err = madvise_update_vma(vma, prev, start, end, f, vma->anon_name);
	return err == -ENOMEM ? -EAGAIN : err; /* R13.2 */
}

/* ---- guard regions (R13.11, R13.12) --------------------------------------------- */

struct guard_args {
	bool need_zap;
};

static int guard_check(unsigned long key, uint64_t *slot, void *arg)
{
	struct guard_args *ga = arg;

	(void)key;
	if (!pte_is_guard(*slot)) {
		ga->need_zap = true;
		return 1;
	}
	return 0;
}

static int guard_remove_one(unsigned long key, uint64_t *slot, void *arg)
{
	(void)key;
	(void)arg;
	if (pte_is_guard(*slot))
		*slot = 0;
	return 0;
}

static int madvise_guard_install(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	struct avm_mm *mm = vma->vm_mm;
	struct guard_args ga = { false };

	if (vma->vm_flags & (AVM_VM_SPECIAL | AVM_VM_HUGETLB | AVM_VM_LOCKED))
		return -EINVAL;
	/* R13.12: markers make the range "faulted" so fork copies them. */
	if (vma_is_anonymous(vma) && anon_vma_prepare(vma))
		return -ENOMEM;
	/*
	 * R13.12 [6.19, this 6.18.44 host]: VM_MAYBE_GUARD, set on the whole
	 * VMA without a split, sticky on merge (R4.4); fork copies the page
	 * tables of such a VMA, shared ones included (R9.4).
	 */
	vma->vm_flags |= AVM_VM_MAYBE_GUARD;
	/* Existing pages are zapped first; existing markers stay. */
	radix_walk(&mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1,
		   guard_check, &ga);
	if (ga.need_zap)
		zap_range(vma, start, end, /* zap_guards = */ false);
	for (unsigned long a = start; a < end; a += AVM_PAGE_SIZE) {
		uint64_t *slot = radix_slot(mm->w, &mm->pgtable, a >> AVM_PAGE_SHIFT);

		if (!slot)
			return -ENOMEM; /* markers already installed stay */
		AVM_ASSERT(pte_none(*slot) || pte_is_guard(*slot));
		*slot = pte_mknonpresent(PTE_TYPE_GUARD, 0, 0);
	}
	return 0;
}

static int madvise_guard_remove(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	/* Removing markers is harmless, so mlocked VMAs are allowed. */
	if (vma->vm_flags & (AVM_VM_SPECIAL | AVM_VM_HUGETLB))
		return -EINVAL;
	radix_walk(&vma->vm_mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1,
		   guard_remove_one, NULL);
	return 0;
}

/* ---- MADV_REMOVE on shared anonymous memory (R13.9) ------------------------------- */

struct punch_args {
	struct avm_world *w;
};

static int punch_one(unsigned long key, uint64_t *slot, void *arg)
{
	struct punch_args *pa = arg;

	(void)key;
	if (shmem_entry_is_swap(*slot))
		swap_free(pa->w, shmem_entry_slot(*slot)); /* a swapped-out page */
	else
		frame_put(pa->w, (unsigned long)*slot);
	*slot = 0;
	return 0;
}

/*
 * FALLOC_FL_PUNCH_HOLE on the shmem object: unmap the pages from every VMA
 * of every process that maps that part of the object, then drop them from
 * its page cache.  The walk over all processes is the model's stand-in for
 * the file's i_mmap tree.
 */
static int madvise_remove(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	struct avm_world *w = vma->vm_mm->w;
	struct avm_shmem *s = vma->shmem;
	unsigned long first, last;
	struct punch_args pa = { w };

	if (vma->vm_flags & AVM_VM_LOCKED)
		return -EINVAL;
	if (!s)
		return -EINVAL;
	if ((vma->vm_flags & (AVM_VM_SHARED | AVM_VM_MAYWRITE)) !=
	    (AVM_VM_SHARED | AVM_VM_MAYWRITE))
		return -EACCES;
	first = linear_page_index(vma, start);
	last = linear_page_index(vma, end) - 1;
	for (int pid = 1; pid < w->nr_pid_slots; pid++) {
		struct avm_mm *mm = w->mm_by_pid[pid];

		if (!mm)
			continue;
		for (struct avm_vma *v = vma_first(mm); v; v = vma_next(v)) {
			unsigned long vfirst = v->vm_pgoff, vlast = v->vm_pgoff + vma_pages(v) - 1;
			unsigned long a, b;

			if (v->shmem != s || vlast < first || vfirst > last)
				continue;
			a = v->vm_start + ((avm_max(first, vfirst) - vfirst) << AVM_PAGE_SHIFT);
			b = v->vm_start + ((avm_min(last, vlast) - vfirst + 1) << AVM_PAGE_SHIFT);
			zap_range(v, a, b, /* zap_guards = */ false);
		}
	}
	radix_walk(&s->pages, first, last, punch_one, &pa);
	return 0;
}

/* ---- MADV_WILLNEED (swapin_walk_pmd_entry) -------------------------------------- */

static int willneed_pte(unsigned long key, uint64_t *slot, void *arg)
{
	(void)key;
	if (pte_is_swap(*slot))
		swap_read_cache_async(arg, pte_swp_slot(*slot));
	return 0;
}

/*
 * madvise_willneed() on anonymous memory: every swap entry in the range is
 * read into the swap cache, nothing is mapped.  Shared anonymous memory
 * would read its swapped pages back into the page cache, but the model
 * never swaps shmem out, so there is nothing to do there.
 */
static void madvise_willneed(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	struct avm_mm *mm = vma->vm_mm;

	if (!vma_is_anonymous(vma))
		return;
	radix_walk(&mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1,
		   willneed_pte, mm->w);
}

/* ---- the per-VMA dispatcher ----------------------------------------------------- */

static int madvise_visit(struct avm_vma *vma, struct avm_vma **prev, unsigned long start,
			 unsigned long end, void *arg)
{
	int behavior = *(int *)arg;

	switch (behavior) {
	case AVM_MADV_WILLNEED:
		*prev = vma;
		madvise_willneed(vma, start, end);
		return 0;
	case AVM_MADV_DONTNEED:
	case AVM_MADV_DONTNEED_LOCKED:
		*prev = vma;
		/* R13.3 */
		if ((vma->vm_flags & AVM_VM_PFNMAP) ||
		    (behavior == AVM_MADV_DONTNEED && (vma->vm_flags & AVM_VM_LOCKED)))
			return -EINVAL;
		zap_range(vma, start, end, /* zap_guards = */ false);
		return 0;
	case AVM_MADV_FREE:
		*prev = vma;
		return reclaim_madv_free(vma, start, end); /* R13.4 */
	case AVM_MADV_COLD:
		*prev = vma;
		return reclaim_madv_cold(vma, start, end); /* R13.6 */
	case AVM_MADV_PAGEOUT:
		*prev = vma;
		return reclaim_madv_pageout(vma, start, end);
	case AVM_MADV_GUARD_INSTALL:
		*prev = vma;
		return madvise_guard_install(vma, start, end);
	case AVM_MADV_GUARD_REMOVE:
		*prev = vma;
		return madvise_guard_remove(vma, start, end);
	case AVM_MADV_REMOVE:
		*prev = NULL; /* the kernel drops mmap_lock here */
		return madvise_remove(vma, start, end);
	default:
		return madvise_flags(vma, prev, start, end, behavior);
	}
}

/* madvise_populate() (R13.8): faultin_page_range() with its own errors. */
static int madvise_populate(struct avm_mm *mm, unsigned long start, unsigned long end,
			    bool write)
{
	while (start < end) {
		struct avm_vma *vma = vma_lookup(mm, start);
		unsigned long e;
		int err;

		if (!vma)
			return -ENOMEM; /* a hole */
		/* check_vma_flags() without FOLL_FORCE: -EINVAL for populate. */
		if ((vma->vm_flags & (AVM_VM_IO | AVM_VM_PFNMAP)) ||
		    !(vma->vm_flags & (write ? AVM_VM_WRITE : AVM_VM_READ)))
			return -EINVAL;
		e = avm_min(end, vma->vm_end);
		err = fault_populate(mm, vma, start, e, write);
		if (err)
			return err == -ENOMEM ? -ENOMEM : -EFAULT;
		start = e;
	}
	return 0;
}

static bool madvise_behavior_valid(int behavior)
{
	switch (behavior) {
	case AVM_MADV_NORMAL:
	case AVM_MADV_RANDOM:
	case AVM_MADV_SEQUENTIAL:
	case AVM_MADV_WILLNEED:
	case AVM_MADV_DONTNEED:
	case AVM_MADV_FREE:
	case AVM_MADV_REMOVE:
	case AVM_MADV_DONTFORK:
	case AVM_MADV_DOFORK:
	case AVM_MADV_MERGEABLE:
	case AVM_MADV_UNMERGEABLE:
	case AVM_MADV_HUGEPAGE:
	case AVM_MADV_NOHUGEPAGE:
	case AVM_MADV_DONTDUMP:
	case AVM_MADV_DODUMP:
	case AVM_MADV_WIPEONFORK:
	case AVM_MADV_KEEPONFORK:
	case AVM_MADV_COLD:
	case AVM_MADV_PAGEOUT:
	case AVM_MADV_POPULATE_READ:
	case AVM_MADV_POPULATE_WRITE:
	case AVM_MADV_DONTNEED_LOCKED:
	case AVM_MADV_GUARD_INSTALL:
	case AVM_MADV_GUARD_REMOVE:
		return true;
	default:
		/* MADV_COLLAPSE, HWPOISON, SOFT_OFFLINE: not modelled. */
		return false;
	}
}

int avm_madvise(struct avm_world *w, int pid, unsigned long addr, unsigned long len,
		int advice)
{
	struct avm_mm *mm = mm_find(w, pid);
	unsigned long alen, end;
	int ret;

	if (!mm)
		return -ESRCH;
	alen = PAGE_ALIGN(len);
	if (!madvise_behavior_valid(advice) || (addr & ~AVM_PAGE_MASK) || (len && !alen) ||
	    addr + alen < addr) {
		ret = -EINVAL;
		goto out;
	}
	end = addr + alen;
	if (end == addr)
		ret = 0;
	else if (advice == AVM_MADV_POPULATE_READ || advice == AVM_MADV_POPULATE_WRITE)
		ret = madvise_populate(mm, addr, end, advice == AVM_MADV_POPULATE_WRITE);
	else
		ret = madvise_walk(mm, addr, end, madvise_visit, &advice);
out:
	avm_debug_validate(w);
	return ret;
}
