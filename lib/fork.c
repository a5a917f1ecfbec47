/*
 * fork.c - fork of an address space: dup_mmap() (spec §9.1-§9.3; Linux
 * 6.18 mm/mmap.c dup_mmap(), kernel/fork.c).
 *
 * The child's VMAs are copies of the parent's, one for one, in address
 * order; there is no merging (R9.2, R4.24).  Per parent VMA:
 *
 *   VM_DONTCOPY        no child VMA; its size leaves the child's counters
 *   vm_area_dup()      every field, references taken, empty chain
 *   dup_userfaultfd()  no UFFD_FEATURE_EVENT_FORK in the model: the child
 *                      loses the context and the VM_UFFD_* flags
 *   VM_WIPEONFORK      no anon_vma, no PTEs (R9.3); else anon_vma_fork()
 *   mlock              VM_LOCKED|VM_LOCKONFAULT cleared (not inherited)
 *   link, then copy_page_range() unless wiped (R9.4-R9.16)
 *
 * On -ENOMEM the partial child is torn down like an exiting process; the
 * parent keeps its VMAs and contents (the PTEs already copied were
 * write-protected and their pages lost PG_anon_exclusive, as in the
 * kernel; a later write reuses them).
 */
#include "internal.h"

static int dup_mmap(struct avm_mm *mm, struct avm_mm *oldmm)
{
	struct avm_world *w = mm->w;
	struct avm_vma *mpnt, *tmp;
	int err;

	mm->mmap_base = oldmm->mmap_base;
	mm->total_vm = oldmm->total_vm;
	mm->data_vm = oldmm->data_vm;
	for (mpnt = vma_first(oldmm); mpnt; mpnt = vma_next(mpnt)) {
		if (mpnt->vm_flags & AVM_VM_DONTCOPY) { /* R9.1 step 2 */
			vma_stat_account(mm, mpnt->vm_flags, -(long)vma_pages(mpnt));
			continue;
		}
		tmp = vma_dup(mpnt);
		if (!tmp)
			return -ENOMEM;
		tmp->vm_mm = mm;
		if (tmp->uffd_ctx) { /* step 5 */
			uffd_ctx_put(w, tmp->uffd_ctx);
			tmp->uffd_ctx = NULL;
			tmp->vm_flags &= ~AVM_VM_UFFD_FLAGS;
		}
		if (tmp->vm_flags & AVM_VM_WIPEONFORK) { /* step 6, R9.3 */
			tmp->anon_vma = NULL;
		} else if (anon_vma_fork(tmp, mpnt)) {
			tmp->anon_vma = NULL;
			vma_free(tmp);
			return -ENOMEM;
		}
		tmp->vm_flags &= ~AVM_VM_LOCKED_MASK; /* step 7 */
		vma_link(mm, tmp);                    /* step 8 */
		if (!(tmp->vm_flags & AVM_VM_WIPEONFORK)) {
			err = copy_page_range(tmp, mpnt); /* step 9 */
			if (err)
				return err;
		}
	}
	return 0;
}

int avm_fork(struct avm_world *w, int pid)
{
	struct avm_mm *oldmm = mm_find(w, pid), *mm;
	int ret;

	if (!oldmm)
		return -ESRCH;
	mm = mm_alloc(w);
	if (!mm) {
		ret = -ENOMEM;
		goto out;
	}
	ret = dup_mmap(mm, oldmm);
	if (ret) {
		mmap_exit(mm);
		mm_free(mm);
		goto out;
	}
	w->stats.forks++;
	ret = mm->pid;
out:
	avm_debug_validate(w);
	return ret;
}
