/*
 * mprotect.c - mprotect (R5.8, R5.9), mlock2/munlock and anonymous VMA
 * names (prctl PR_SET_VMA_ANON_NAME, R13.1).  Follows Linux 6.18
 * mm/mprotect.c do_mprotect_pkey() / mprotect_fixup(), mm/mlock.c
 * apply_vma_lock_flags() / mlock_fixup(), kernel/sys.c prctl_set_vma().
 *
 * All three walk the VMAs of the range and change each part through the
 * existing-range merge (vma_modify(), R4.17/R4.18), which splits when no
 * merge absorbs the change.  Changes made before an error stay (R5.9).
 */
#include "internal.h"

#define PROT_SEM 0x8
#define PROT_GROWSDOWN 0x01000000
#define PROT_GROWSUP 0x02000000
/* ANON_VMA_NAME_MAX_LEN, including the NUL. */
#define ANON_NAME_MAX 80

/* ---- change_protection() ------------------------------------------------ */

struct cp_args {
	struct avm_world *w;
	bool writable, try_upgrade;
};

static int cp_one(unsigned long key, uint64_t *slot, void *arg)
{
	struct cp_args *cp = arg;
	uint64_t pte = *slot;

	(void)key;
	if (pte_present(pte)) {
		if (!cp->writable) {
			*slot = pte & ~PTE_WRITE;
		} else if (cp->try_upgrade && !(pte & (PTE_WRITE | PTE_SPECIAL | PTE_UFFD_WP))) {
			/*
			 * can_change_pte_writable(): a private mapping may map an
			 * exclusive anonymous page writable at once (I4 holds).
			 */
			const struct avm_frame *f = frame(cp->w, pte_pfn(pte));

			if ((f->flags & FRAME_ANON) && (f->flags & FRAME_ANON_EXCLUSIVE))
				*slot = pte | PTE_WRITE;
		}
	} else if (pte_type(pte) == PTE_TYPE_MIGR_WRITE) {
		/* A writable migration entry always loses write (exclusive kept). */
		*slot = (pte & ~PTE_TYPE_MASK) | (PTE_TYPE_MIGR_READ_EXCL << PTE_TYPE_SHIFT);
	}
	return 0;
}

static void change_protection(struct avm_vma *vma, unsigned long start, unsigned long end)
{
	struct cp_args cp = {
		.w = vma->vm_mm->w,
		.writable = vma->vm_flags & AVM_VM_WRITE,
		/* vma_wants_manual_pte_write_upgrade(): private writable only here. */
		.try_upgrade = (vma->vm_flags & (AVM_VM_WRITE | AVM_VM_SHARED)) == AVM_VM_WRITE,
	};

	radix_walk(&vma->vm_mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1,
		   cp_one, &cp);
}

/* ---- mprotect ------------------------------------------------------------- */

/* mprotect_fixup(): flags decided first (R5.8), then modify, then PTEs. */
static int mprotect_fixup(struct avm_vma *vma, unsigned long start, unsigned long end,
			  unsigned long newflags, struct avm_vma **out)
{
	struct avm_mm *mm = vma->vm_mm;
	unsigned long oldflags = vma->vm_flags;
	long nrpages = (long)((end - start) >> AVM_PAGE_SHIFT);
	int err;

	*out = vma;
	if (newflags == oldflags)
		return 0;
	if (newflags & AVM_VM_WRITE) {
		/* R5.8: becoming writable charges and gains VM_ACCOUNT. */
		if (!(oldflags & (AVM_VM_ACCOUNT | AVM_VM_WRITE | AVM_VM_HUGETLB | AVM_VM_SHARED |
				  AVM_VM_NORESERVE)))
			newflags |= AVM_VM_ACCOUNT;
	} else if ((oldflags & AVM_VM_ACCOUNT) && vma_is_anonymous(vma) && !vma->anon_vma) {
		/* R5.8: an unfaulted anonymous VMA made read-only is uncharged. */
		newflags &= ~AVM_VM_ACCOUNT;
	}
	err = vma_modify_flags(vma, start, end, newflags, out);
	if (err)
		return err;
	change_protection(*out, start, end);
	/* A locked private VMA becoming writable is COW-broken at once. */
	if ((oldflags & (AVM_VM_WRITE | AVM_VM_SHARED | AVM_VM_LOCKED)) == AVM_VM_LOCKED &&
	    (newflags & AVM_VM_WRITE))
		(void)mmap_populate_vma(*out, start, end);
	vma_stat_account(mm, oldflags, -nrpages);
	vma_stat_account(mm, newflags, nrpages);
	return 0;
}

static int do_mprotect(struct avm_mm *mm, unsigned long start, unsigned long len, int prot)
{
	const int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	unsigned long end, nstart, tmp;
	struct avm_vma *vma, *next;
	int error = 0;

	prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (start & ~AVM_PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~(AVM_PROT_READ | AVM_PROT_WRITE | AVM_PROT_EXEC | PROT_SEM))
		return -EINVAL; /* arch_validate_prot() */

	vma = vma_find_intersection(mm, start, end);
	if (!vma)
		return -ENOMEM;
	if (grows & PROT_GROWSDOWN) {
		start = vma->vm_start;
		if (!(vma->vm_flags & AVM_VM_GROWSDOWN))
			return -EINVAL;
	} else {
		if (vma->vm_start > start)
			return -ENOMEM; /* R5.9: starts in a hole */
		if (grows & PROT_GROWSUP)
			return -EINVAL; /* x86 has no VM_GROWSUP */
	}

	nstart = start;
	tmp = vma->vm_start;
	for (; vma && vma->vm_start < end; vma = next) {
		unsigned long newflags;
		struct avm_vma *res;

		if (vma->vm_start != tmp) {
			error = -ENOMEM; /* R5.9: runs into a hole */
			break;
		}
		newflags = (unsigned long)(prot & (AVM_PROT_READ | AVM_PROT_WRITE | AVM_PROT_EXEC));
		newflags |= vma->vm_flags & ~AVM_VM_ACCESS_FLAGS;
		/* R5.9: a protection whose VM_MAY* bit is clear. */
		if ((newflags & ~(newflags >> 4)) & AVM_VM_ACCESS_FLAGS) {
			error = -EACCES;
			break;
		}
		tmp = avm_min(vma->vm_end, end);
		error = mprotect_fixup(vma, nstart, tmp, newflags, &res);
		if (error)
			break;
		tmp = res->vm_end;
		nstart = tmp;
		next = vma_next(res);
	}
	if (!error && tmp < end)
		error = -ENOMEM;
	return error;
}

int avm_mprotect(struct avm_world *w, int pid, unsigned long addr, unsigned long len, int prot)
{
	struct avm_mm *mm = mm_find(w, pid);
	int ret;

	if (!mm)
		return -ESRCH;
	ret = do_mprotect(mm, addr, len, prot);
	avm_debug_validate(w);
	return ret;
}

/* ---- mlock -------------------------------------------------------------------- */

struct mlock_walk {
	struct avm_world *w;
	bool lock;
};

/* mlock_pte_range(): present normal pages only (not the zero page). */
static int mlock_pte(unsigned long key, uint64_t *slot, void *arg)
{
	struct mlock_walk *mw = arg;
	uint64_t pte = *slot;

	(void)key;
	if (!pte_present(pte) || pte_zero(pte))
		return 0;
	if (mw->lock)
		frame_mlock(mw->w, pte_pfn(pte));
	else
		frame_munlock(mw->w, pte_pfn(pte));
	return 0;
}

static int mlock_fixup(struct avm_vma *vma, unsigned long start, unsigned long end,
		       unsigned long newflags, struct avm_vma **out)
{
	struct avm_mm *mm = vma->vm_mm;
	unsigned long oldflags = vma->vm_flags;
	long nr_pages;
	int err;

	*out = vma;
	/* Special and droppable VMAs are never locked (R6.10) and not counted. */
	if (newflags == oldflags || (oldflags & (AVM_VM_SPECIAL | AVM_VM_DROPPABLE)))
		return 0;
	err = vma_modify_flags(vma, start, end, newflags, out);
	if (err)
		return err;
	nr_pages = (long)((end - start) >> AVM_PAGE_SHIFT);
	if (!(newflags & AVM_VM_LOCKED))
		nr_pages = -nr_pages;
	else if (oldflags & AVM_VM_LOCKED)
		nr_pages = 0;
	mm->locked_vm += (unsigned long)nr_pages;
	/*
	 * mlock_vma_pages_range() (R13.2): the pages already present are
	 * mlocked or munlocked one by one -- unless the VMA stays VM_LOCKED
	 * (an MLOCK_ONFAULT change): mlocking twice would overcount.
	 */
	if (!((newflags & AVM_VM_LOCKED) && (oldflags & AVM_VM_LOCKED))) {
		struct mlock_walk mw = { mm->w, (newflags & AVM_VM_LOCKED) != 0 };
		radix_walk(&mm->pgtable, start >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1,
			   mlock_pte, &mw);
	}
	return 0;
}

/* apply_vma_lock_flags() */
static int apply_lock_flags(struct avm_mm *mm, unsigned long start, unsigned long len,
			    unsigned long flags)
{
	unsigned long end = start + len, nstart, tmp;
	struct avm_vma *vma, *next;

	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	vma = vma_lookup(mm, start);
	if (!vma)
		return -ENOMEM;
	nstart = start;
	tmp = vma->vm_start;
	for (; vma && vma->vm_start < end; vma = next) {
		struct avm_vma *res;
		int err;

		if (vma->vm_start != tmp)
			return -ENOMEM;
		tmp = avm_min(vma->vm_end, end);
		err = mlock_fixup(vma, nstart, tmp, (vma->vm_flags & ~AVM_VM_LOCKED_MASK) | flags,
				  &res);
		if (err)
			return err;
		tmp = res->vm_end;
		nstart = tmp;
		next = vma_next(res);
	}
	return tmp < end ? -ENOMEM : 0;
}

int avm_mlock(struct avm_world *w, int pid, unsigned long addr, unsigned long len, int flags)
{
	struct avm_mm *mm = mm_find(w, pid);
	unsigned long vm_flags = AVM_VM_LOCKED;
	int ret;

	if (!mm)
		return -ESRCH;
	if (flags & ~AVM_MLOCK_ONFAULT) {
		ret = -EINVAL;
		goto out;
	}
	if (flags & AVM_MLOCK_ONFAULT)
		vm_flags |= AVM_VM_LOCKONFAULT;
	len = PAGE_ALIGN(len + (addr & ~AVM_PAGE_MASK));
	addr &= AVM_PAGE_MASK;
	/* Root: RLIMIT_MEMLOCK does not apply (CAP_IPC_LOCK). */
	ret = apply_lock_flags(mm, addr, len, vm_flags);
	if (ret)
		goto out;
	/* __mm_populate(): errors become the POSIX ones. */
	ret = mmap_populate(mm, addr, len, false);
	if (ret == -EFAULT)
		ret = -ENOMEM;
	else if (ret == -ENOMEM)
		ret = -EAGAIN;
out:
	avm_debug_validate(w);
	return ret;
}

int avm_munlock(struct avm_world *w, int pid, unsigned long addr, unsigned long len)
{
	struct avm_mm *mm = mm_find(w, pid);
	int ret;

	if (!mm)
		return -ESRCH;
	len = PAGE_ALIGN(len + (addr & ~AVM_PAGE_MASK));
	addr &= AVM_PAGE_MASK;
	ret = apply_lock_flags(mm, addr, len, 0);
	avm_debug_validate(w);
	return ret;
}

/* ---- anonymous VMA names ------------------------------------------------------- */

/* is_valid_name_char(): printable ASCII except the ones /proc/maps could misparse. */
static bool name_char_ok(char c)
{
	return c > 0x1f && c < 0x7f && !strchr("\\`$[]", c);
}

static int anon_name_visit(struct avm_vma *vma, struct avm_vma **prev, unsigned long start,
			   unsigned long end, void *arg)
{
	/* Every model VMA is anonymous or anonymous shmem: all may be named. */
	int err = madvise_update_vma(vma, prev, start, end, vma->vm_flags, arg);

	return err == -ENOMEM ? -EAGAIN : err;
}

int avm_set_anon_name(struct avm_world *w, int pid, unsigned long addr, unsigned long len,
		      const char *name)
{
	struct avm_mm *mm = mm_find(w, pid);
	struct avm_anon_name *an = NULL;
	unsigned long alen, end;
	int ret;

	if (!mm)
		return -ESRCH;
	if (name) {
		/* strndup_user(): 80 bytes including the NUL. */
		if (strnlen(name, ANON_NAME_MAX) >= ANON_NAME_MAX)
			return -EINVAL;
		for (const char *p = name; *p; p++)
			if (!name_char_ok(*p))
				return -EINVAL;
		an = vma_anon_name_alloc(w, name);
		if (!an)
			return -ENOMEM;
	}
	/* madvise_set_anon_name() */
	alen = PAGE_ALIGN(len);
	if (addr & ~AVM_PAGE_MASK)
		ret = -EINVAL;
	else if (len && !alen)
		ret = -EINVAL;
	else if ((end = addr + alen) < addr)
		ret = -EINVAL;
	else if (end == addr)
		ret = 0;
	else
		ret = madvise_walk(mm, addr, end, anon_name_visit, an);
	anon_name_put(w, an);
	avm_debug_validate(w);
	return ret;
}
