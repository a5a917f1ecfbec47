/*
 * mremap.c - mremap (spec §7; Linux 6.18 mm/mremap.c: do_mremap(),
 * check_mremap_params(), check_prep_vma(), mremap_at(), mremap_to(),
 * expand_vma(), shrink_vma(), move_vma(), copy_vma_and_data(),
 * unmap_source_vma(), dontunmap_complete(), remap_move()).
 *
 *   check_params   flags, alignment, lengths, new-address rules,
 *                  map_count + 2 >= max - 3 -> -ENOMEM (R7.1-R7.4)
 *   move only      MREMAP_FIXED, old_len == new_len: VMA by VMA (R7.20)
 *   check_prep_vma the VMA at addr (-EFAULT), growth rules (R7.5, R7.6)
 *   mremap_at      same size: no-op; shrink: munmap the tail (R7.7);
 *                  grow: in place (R7.8, R7.9) or move (R7.10)
 *   mremap_to      munmap the destination (FIXED), shrink, move
 *   move_vma       map_count >= max - 3 -> -ENOMEM (R7.15); copy_vma
 *                  (R7.11); move the PTEs (R7.13, R7.14); unmap the source
 *                  with VM_ACCOUNT moved aside (R7.17) or DONTUNMAP (R7.18)
 *
 * The state of one call is a struct remap, threaded through the steps
 * like the kernel's vma_remap_struct.
 */
#include "internal.h"

enum remap_type { REMAP_NO_RESIZE, REMAP_SHRINK, REMAP_EXPAND };

struct remap {
	struct avm_mm *mm;            /* caller sets */
	struct avm_vma *vma;          /* the source VMA; NULL when invalidated */
	unsigned long addr;           /* source start */
	unsigned long old_len, new_len;
	unsigned long new_addr;       /* chosen or given destination */
	unsigned long delta;          /* |new_len - old_len| */
	int flags;                    /* MREMAP_* */
	enum remap_type type;
	bool populate_expand;         /* a locked VMA grew: populate the growth */
};

static bool implies_new_addr(const struct remap *r)
{
	return r->flags & (AVM_MREMAP_FIXED | AVM_MREMAP_DONTUNMAP);
}

/* check_mremap_params() (R7.1-R7.4). */
static long check_params(struct remap *r)
{
	const struct avm_policy *pol = r->mm->w->policy;
	long max = (long)r->mm->w->cfg.max_map_count;
	int allowed = AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED | AVM_MREMAP_DONTUNMAP;

	/* R7.30: MREMAP_RELOCATE_ANON exists only under a policy that wants it. */
	if (pol->mremap_relocate_anon)
		allowed |= AVM_MREMAP_RELOCATE_ANON;
	if (r->flags & ~allowed)
		return -EINVAL;
	if (r->addr & ~AVM_PAGE_MASK)
		return -EINVAL;
	if (!r->new_len || r->new_len > AVM_TASK_SIZE)
		return -EINVAL;
	if (!implies_new_addr(r))
		return 0;
	if (r->new_addr > AVM_TASK_SIZE - r->new_len)
		return -EINVAL;
	if (r->new_addr & ~AVM_PAGE_MASK)
		return -EINVAL;
	if (!(r->flags & AVM_MREMAP_MAYMOVE))
		return -EINVAL;
	if ((r->flags & AVM_MREMAP_DONTUNMAP) && r->old_len != r->new_len)
		return -EINVAL;
	/* The old and the new range must not overlap. */
	if (r->addr + r->old_len > r->new_addr && r->new_addr + r->new_len > r->addr)
		return -EINVAL;
	/* R7.4: room for both ranges to split in three. */
	if ((long)r->mm->map_count + 2 >= max - 3)
		return -ENOMEM;
	return 0;
}

/* check_prep_vma() (R7.5, R7.6). */
static long check_prep_vma(struct remap *r)
{
	struct avm_vma *vma = r->vma;
	unsigned long old_len, pgoff;

	if (!vma)
		return -EFAULT;
	r->delta = r->old_len > r->new_len ? r->old_len - r->new_len : r->new_len - r->old_len;
	r->type = !r->delta ? REMAP_NO_RESIZE
			    : r->old_len > r->new_len ? REMAP_SHRINK : REMAP_EXPAND;
	if (!implies_new_addr(r))
		r->new_addr = r->addr;
	/* Only growth or a new address creates a mapping. */
	if (r->type != REMAP_EXPAND && !implies_new_addr(r))
		return 0;
	if (!r->old_len && !(vma->vm_flags & (AVM_VM_SHARED | AVM_VM_MAYSHARE)))
		return -EINVAL; /* no duplicating private mappings */
	if ((r->flags & AVM_MREMAP_DONTUNMAP) &&
	    (vma->vm_flags & (AVM_VM_DONTEXPAND | AVM_VM_PFNMAP)))
		return -EINVAL;
	/* A shrink may cross VMA ends: only the kept part must fit. */
	old_len = r->type == REMAP_SHRINK ? r->new_len : r->old_len;
	if (old_len > vma->vm_end - r->addr)
		return -EFAULT;
	if (r->new_len == old_len)
		return 0;
	if (vma->vm_flags & AVM_VM_LOCKED)
		r->populate_expand = true;
	pgoff = linear_page_index(vma, r->addr);
	if (pgoff + (r->new_len >> AVM_PAGE_SHIFT) < pgoff)
		return -EINVAL;
	if (vma->vm_flags & (AVM_VM_DONTEXPAND | AVM_VM_PFNMAP))
		return -EFAULT;
	/* Root: no RLIMIT_MEMLOCK (-EAGAIN) and no RLIMIT_AS (-ENOMEM) here. */
	return 0;
}

static void remap_stat_account(struct remap *r, struct avm_vma *vma, unsigned long bytes)
{
	unsigned long pages = bytes >> AVM_PAGE_SHIFT;

	vma_stat_account(r->mm, vma->vm_flags, (long)pages);
	if (vma->vm_flags & AVM_VM_LOCKED)
		r->mm->locked_vm += pages;
}

static long shrink_vma(struct remap *r, bool reload)
{
	long err = mmap_do_munmap(r->mm, r->addr + r->new_len, r->delta);

	r->vma = NULL;
	if (err)
		return err;
	if (reload) {
		r->vma = vma_lookup(r->mm, r->addr);
		if (!r->vma)
			return -EFAULT;
	}
	return 0;
}

/* vrm_set_new_addr(): a place for new_len (R7.10), FIXED when asked. */
static long set_new_addr(struct remap *r)
{
	int map_flags = 0;
	unsigned long res;

	if (r->flags & AVM_MREMAP_FIXED)
		map_flags |= AVM_MAP_FIXED;
	if (r->vma->vm_flags & AVM_VM_MAYSHARE)
		map_flags |= AVM_MAP_SHARED;
	res = mmap_get_unmapped_area(r->mm, implies_new_addr(r) ? r->new_addr : 0, r->new_len,
				     map_flags);
	if (avm_is_err(res))
		return (long)res;
	r->new_addr = res;
	return 0;
}

/* unmap_source_vma() (R7.17). */
static void unmap_source_vma(struct remap *r)
{
	struct avm_mm *mm = r->mm;
	struct avm_vma *vma = r->vma, *next, *prev;
	unsigned long addr = r->addr, end = r->addr + r->old_len, vm_start = 0, vm_end = 0;
	bool accountable = (vma->vm_flags & AVM_VM_ACCOUNT) && !(r->flags & AVM_MREMAP_DONTUNMAP);

	/* The charge moved with the pages: keep munmap from uncharging it. */
	if (accountable) {
		vma->vm_flags &= ~AVM_VM_ACCOUNT;
		vm_start = vma->vm_start;
		vm_end = vma->vm_end;
	}
	r->vma = NULL;
	if (mmap_do_munmap(mm, addr, r->old_len))
		return; /* a failed split leaves the source without VM_ACCOUNT, as the kernel */
	if (!accountable)
		return;
	next = vma_find(mm, addr);
	prev = next ? vma_prev(next) : vma_last(mm);
	if (vm_start < addr && prev)
		prev->vm_flags |= AVM_VM_ACCOUNT;
	if (vm_end > end && next)
		next->vm_flags |= AVM_VM_ACCOUNT;
}

/*
 * dontunmap_complete() (R7.18, 6.18 with the accounting fix): the old VMA
 * keeps VM_ACCOUNT, loses VM_LOCKED|VM_LOCKONFAULT (all of it), and drops
 * its anon_vmas when it was moved whole.  As in the kernel, locked_vm is
 * not reduced for the unlocked old VMA.
 */
static void dontunmap_complete(struct remap *r, struct avm_vma *new_vma)
{
	struct avm_vma *vma = r->vma;
	unsigned long start = r->addr, end = r->addr + r->old_len;

	vma->vm_flags &= ~AVM_VM_LOCKED_MASK;
	if (new_vma != vma && start == vma->vm_start && end == vma->vm_end)
		anon_vma_unlink(vma);
}

/* ---- MREMAP_RELOCATE_ANON (R7.30, policy relocate-anon) ------------------- */

struct reloc_check {
	struct avm_world *w;
	struct avm_anon_vma *av;
	bool ok;
};

/* Every entry is a guard, the zero page, or an exclusive frame of the VMA's anon_vma. */
static int reloc_check_one(unsigned long key, uint64_t *slot, void *arg)
{
	struct reloc_check *rc = arg;
	uint64_t pte = *slot;
	const struct avm_frame *f;

	(void)key;
	if (pte_is_guard(pte) || pte_zero(pte))
		return 0;
	if (!pte_present(pte))
		goto refuse; /* swap and migration entries name the old index */
	f = frame(rc->w, pte_pfn(pte));
	if ((f->flags & (FRAME_ANON | FRAME_ANON_EXCLUSIVE | FRAME_SWAPCACHE)) !=
	    (FRAME_ANON | FRAME_ANON_EXCLUSIVE) || f->mapcount != 1 ||
	    frame_mapping_handle(f) != rc->av->handle)
		goto refuse;
	return 0;
refuse:
	rc->ok = false;
	return 1;
}

/*
 * The series' precondition: a faulted private anonymous VMA that is not a
 * fork child, whose moved pages are all exclusive to it.  Otherwise the
 * flag is a hint and the move is an ordinary one.
 */
static bool relocate_possible(struct remap *r)
{
	struct avm_vma *vma = r->vma;
	struct reloc_check rc = { r->mm->w, vma->anon_vma, true };

	if (!vma_is_anonymous(vma) || !vma->anon_vma || vma_is_fork_child(vma) ||
	    (r->flags & AVM_MREMAP_DONTUNMAP) || !r->old_len)
		return false;
	radix_walk(&r->mm->pgtable, r->addr >> AVM_PAGE_SHIFT,
		   ((r->addr + r->old_len) >> AVM_PAGE_SHIFT) - 1, reloc_check_one, &rc);
	return rc.ok;
}

/* Could @n merge with a VMA of @vma's attributes (R4.3)? */
static bool reloc_attrs_match(const struct avm_vma *n, const struct avm_vma *vma)
{
	return !((n->vm_flags ^ vma->vm_flags) & ~AVM_VM_STICKY) && !n->shmem &&
	       n->uffd_ctx == vma->uffd_ctx && anon_name_eq(n->anon_name, vma->anon_name);
}

struct reloc_rewrite {
	struct avm_world *w;
	struct avm_anon_vma *av;
	unsigned long first_key, pgoff;
};

static int reloc_rewrite_one(unsigned long key, uint64_t *slot, void *arg)
{
	struct reloc_rewrite *rw = arg;
	struct avm_frame *f;

	if (!pte_present(*slot) || pte_zero(*slot))
		return 0;
	f = frame(rw->w, pte_pfn(*slot));
	frame_set_index(f, rw->pgoff + (key - rw->first_key));
	frame_set_mapping(f, rw->av->handle);
	return 0;
}

/*
 * relocate_anon() - before the move, give the moved range the pgoff (and,
 * when a faulted neighbour at the destination can take it, the anon_vma)
 * that lines it up with its new neighbours, rewriting folio index and
 * mapping of its exclusive pages.  The ordinary move then merges as for a
 * VMA that was always there (R4.5 case 1 or 3).
 *
 *   src: ..SSSS..        dst: AAAA....   ->  AAAASSSS, one VMA, A's anon_vma
 */
static long relocate_anon(struct remap *r)
{
	struct avm_mm *mm = r->mm;
	struct avm_vma *vma = r->vma, *next, *prev, *donor = NULL, *tmp = NULL;
	unsigned long pgoff, end = r->addr + r->old_len;
	struct avm_anon_vma *av;
	long err;

	next = vma_find(mm, r->new_addr);
	prev = next ? vma_prev(next) : vma_last(mm);
	if (prev && prev != vma && prev->vm_end == r->new_addr && reloc_attrs_match(prev, vma)) {
		pgoff = prev->vm_pgoff + vma_pages(prev);
		donor = prev;
	} else if (next && next != vma && next->vm_start == r->new_addr + r->new_len &&
		   reloc_attrs_match(next, vma)) {
		pgoff = next->vm_pgoff - (r->new_len >> AVM_PAGE_SHIFT);
		donor = next;
	} else {
		pgoff = r->new_addr >> AVM_PAGE_SHIFT; /* R2.1, as if mmapped there */
	}
	if (donor && (!donor->anon_vma || donor->anon_vma == vma->anon_vma))
		donor = NULL; /* keep ours: an unfaulted neighbour takes it on merge */

	/* Cut the moved range out so that it is one whole VMA. */
	if (r->addr > vma->vm_start) {
		err = vma_split(vma, r->addr, /* new_below = */ true);
		if (err)
			return err;
	}
	if (end < vma->vm_end) {
		err = vma_split(vma, end, /* new_below = */ false);
		if (err)
			return err;
	}
	/* The donor's chain, built on a scratch VMA before anything changes. */
	if (donor) {
		tmp = vma_dup(vma);
		if (!tmp)
			return -ENOMEM;
		tmp->anon_vma = NULL;
		tmp->vm_pgoff = pgoff;
		if (anon_vma_dup(tmp, donor)) {
			vma_free(tmp);
			return -ENOMEM;
		}
	}
	/* Commit. */
	av = donor ? donor->anon_vma : vma->anon_vma;
	struct reloc_rewrite rw = { mm->w, av, r->addr >> AVM_PAGE_SHIFT, pgoff };
	radix_walk(&mm->pgtable, r->addr >> AVM_PAGE_SHIFT, (end >> AVM_PAGE_SHIFT) - 1,
		   reloc_rewrite_one, &rw);
	anon_vma_pre_update_vma(vma);
	vma->vm_pgoff = pgoff;
	anon_vma_post_update_vma(vma);
	if (tmp) {
		/* Swap chains: our old anon_vma link goes, the scratch chain moves over. */
		anon_vma_unlink(vma);
		while (!list_empty(&tmp->anon_vma_chain)) {
			struct avm_list *pos = tmp->anon_vma_chain.prev;
			struct avm_avc *avc = list_entry(pos, struct avm_avc, same_vma);

			list_del(pos);
			list_add(pos, &vma->anon_vma_chain);
			avc->vma = vma;
		}
		vma->anon_vma = tmp->anon_vma;
		tmp->anon_vma = NULL;
		vma_free(tmp);
	}
	return 0;
}

static long move_vma(struct remap *r)
{
	struct avm_mm *mm = r->mm;
	struct avm_vma *vma = r->vma, *new_vma;
	unsigned long new_pgoff, moved;
	long err = 0;

	/* R7.15 */
	if ((long)mm->map_count >= (long)mm->w->cfg.max_map_count - 3)
		return -ENOMEM;
	/* ksm_madvise(MADV_UNMERGEABLE): KSM is off, nothing to break. */
	if ((r->flags & AVM_MREMAP_RELOCATE_ANON) && relocate_possible(r)) {
		err = relocate_anon(r);
		if (err)
			return err;
		vma = r->vma;
	}

	/* copy_vma_and_data() */
	new_pgoff = linear_page_index(vma, r->addr);
	new_vma = vma_copy(&vma, r->new_addr, r->new_len, new_pgoff,
			   /* keep_source = */ r->flags & AVM_MREMAP_DONTUNMAP);
	if (!new_vma)
		return -ENOMEM;
	r->vma = vma;
	moved = move_page_tables(vma, r->addr, new_vma, r->new_addr, r->old_len);
	if (moved < r->old_len) {
		/* R7.14: move back what moved (tables there still exist), unmap the new area. */
		unsigned long back = move_page_tables(new_vma, r->new_addr, vma, r->addr, moved);

		AVM_ASSERT(back == moved);
		(void)back;
		err = -ENOMEM;
		r->vma = new_vma;
		r->old_len = r->new_len;
		r->addr = r->new_addr;
	} else if (new_vma->uffd_ctx) {
		/* R7.29: no UFFD_FEATURE_EVENT_REMAP: the new VMA is unregistered. */
		uffd_ctx_put(mm->w, new_vma->uffd_ctx);
		new_vma->uffd_ctx = NULL;
		new_vma->vm_flags &= ~AVM_VM_UFFD_FLAGS;
	}
	remap_stat_account(r, r->vma, r->new_len);
	if (!err && (r->flags & AVM_MREMAP_DONTUNMAP))
		dontunmap_complete(r, new_vma);
	else
		unmap_source_vma(r);
	return err ? err : (long)r->new_addr;
}

static long mremap_to(struct remap *r)
{
	long err;

	if (r->flags & AVM_MREMAP_FIXED) {
		err = mmap_do_munmap(r->mm, r->new_addr, r->new_len);
		r->vma = NULL;
		if (err)
			return err;
		/* Unmapping the destination may have split or moved the source. */
		r->vma = vma_lookup(r->mm, r->addr);
		if (!r->vma)
			return -EFAULT;
	}
	if (r->type == REMAP_SHRINK) {
		err = shrink_vma(r, /* reload = */ true);
		if (err)
			return err;
		r->old_len = r->new_len;
	}
	err = set_new_addr(r);
	if (err)
		return err;
	return move_vma(r);
}

/* vma_expandable(): free space after the VMA, inside TASK_SIZE (R7.8). */
static bool can_expand_in_place(struct remap *r)
{
	struct avm_vma *vma = r->vma;
	unsigned long end = vma->vm_end + r->delta;

	if (vma->vm_end - r->addr != r->old_len)
		return false;
	if (end < vma->vm_end || end > AVM_TASK_SIZE)
		return false;
	return !vma_find_intersection(r->mm, vma->vm_end, end);
}

static long expand_vma(struct remap *r)
{
	long err;

	if (can_expand_in_place(r)) {
		/* R7.9 */
		struct avm_vma *vma = vma_merge_extend(r->vma, r->delta);

		if (!vma)
			return -ENOMEM;
		r->vma = vma;
		remap_stat_account(r, vma, r->delta);
		return (long)r->addr;
	}
	if (!(r->flags & AVM_MREMAP_MAYMOVE))
		return -ENOMEM; /* R7.10 */
	err = set_new_addr(r);
	if (err)
		return err;
	return move_vma(r);
}

static long mremap_at(struct remap *r)
{
	long err;

	switch (r->type) {
	case REMAP_NO_RESIZE:
		return (long)r->addr;
	case REMAP_SHRINK: /* R7.7 */
		err = shrink_vma(r, /* reload = */ false);
		return err ? err : (long)r->addr;
	case REMAP_EXPAND:
		return expand_vma(r);
	}
	return -EINVAL;
}

/* vma_multi_allowed(): anonymous and shmem VMAs, unless userfaultfd-armed. */
static bool multi_allowed(const struct avm_vma *vma)
{
	return !(vma->vm_flags & AVM_VM_UFFD_FLAGS);
}

/* remap_move() (R7.20): a pure MREMAP_FIXED move, VMA by VMA, gaps kept. */
static long remap_move(struct remap *r)
{
	unsigned long start = r->addr, end = r->addr + r->old_len;
	unsigned long target = r->new_addr, last_end = 0, cur = start;
	long res = -EFAULT;
	bool seen = false;

	while (cur < end) {
		struct avm_vma *vma = vma_find_intersection(r->mm, cur, end);
		unsigned long addr, len, offset;
		long res_vma;
		bool multi;

		if (!vma)
			break;
		if (!seen && start < vma->vm_start)
			return -EFAULT; /* the first byte must be mapped */
		addr = avm_max(vma->vm_start, start);
		len = avm_min(end, vma->vm_end) - addr;
		offset = seen ? vma->vm_start - last_end : 0;
		last_end = vma->vm_end;

		r->vma = vma;
		r->addr = addr;
		r->new_addr = target + offset;
		r->old_len = r->new_len = len;
		multi = multi_allowed(vma);
		if (!multi && (seen || vma->vm_end < end))
			return -EFAULT;
		res_vma = check_prep_vma(r);
		if (!res_vma)
			res_vma = mremap_to(r);
		if (res_vma < 0)
			return res_vma; /* VMAs already moved stay moved */
		if (!seen)
			res = res_vma;
		if (!multi)
			return res;
		seen = true;
		target = (unsigned long)res_vma + len;
		cur = last_end;
	}
	return res;
}

int avm_mremap(struct avm_world *w, int pid, unsigned long addr, unsigned long old_len,
	       unsigned long new_len, int flags, unsigned long new_addr, unsigned long *out)
{
	struct avm_mm *mm = mm_find(w, pid);
	struct remap r = { 0 };
	long res;

	if (!mm)
		return -ESRCH;
	r.mm = mm;
	r.addr = addr;
	r.old_len = PAGE_ALIGN(old_len);
	r.new_len = PAGE_ALIGN(new_len);
	r.flags = flags;
	r.new_addr = new_addr;
	res = check_params(&r);
	if (!res) {
		if ((r.flags & AVM_MREMAP_FIXED) && r.old_len == r.new_len) {
			res = remap_move(&r);
		} else {
			r.vma = vma_lookup(mm, r.addr);
			res = check_prep_vma(&r);
			if (!res)
				res = implies_new_addr(&r) ? mremap_to(&r) : mremap_at(&r);
		}
	}
	if (res >= 0) {
		/* A locked VMA that grew gets the growth populated (R7.9). */
		if (r.populate_expand)
			(void)mmap_populate(mm, r.new_addr + r.old_len, r.delta, true);
		if (out)
			*out = (unsigned long)res;
		res = 0;
	}
	avm_debug_validate(w);
	return (int)res;
}
