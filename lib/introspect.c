/*
 * introspect.c - read-only views of the model for tools, tests and the host
 * oracle: processes, VMAs, pages, anon_vmas and chains, rmap lookups.
 *
 * Nothing here changes state, except avm_rmap_lookup(), which counts an
 * rmap walk in the statistics like any other walk.
 */
#include "internal.h"

int avm_mm_info(const struct avm_world *w, int pid, struct avm_mm_info *out)
{
	const struct avm_mm *mm = mm_find(w, pid);

	if (!mm)
		return -ESRCH;
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->map_count = mm->map_count;
	out->total_vm = mm->total_vm;
	out->locked_vm = mm->locked_vm;
	out->pinned_vm = mm->pinned_vm;
	out->data_vm = mm->data_vm;
	out->rss_anon = mm->rss_anon;
	out->rss_shmem = mm->rss_shmem;
	out->swapents = mm->swapents;
	out->has_pinned = mm->flags & MMF_HAS_PINNED;
	return 0;
}

static void fill_vma(const struct avm_vma *vma, struct avm_vma_info *out)
{
	memset(out, 0, sizeof(*out));
	out->start = vma->vm_start;
	out->end = vma->vm_end;
	out->pgoff = vma->vm_pgoff;
	out->flags = vma->vm_flags;
	out->anon_vma = vma->anon_vma ? vma->anon_vma->id : 0;
	out->vma_id = vma->id;
	out->chain_len = anon_vma_chain_len(vma);
	out->shared_anon = vma->shmem != NULL;
	out->shmem_id = vma->shmem ? vma->shmem->id : 0;
	out->uffd = vma->uffd_ctx != NULL;
	out->anon_name = vma->anon_name ? vma->anon_name->name : NULL;
}

int avm_vma_next(const struct avm_world *w, int pid, unsigned long *cursor,
		 struct avm_vma_info *out)
{
	const struct avm_mm *mm = mm_find(w, pid);

	if (!mm)
		return -ESRCH;
	/* The cursor is the end of the previous VMA: O(log n) per step. */
	const struct avm_vma *vma = vma_find(mm, *cursor);
	if (!vma)
		return 0;
	fill_vma(vma, out);
	*cursor = vma->vm_end;
	return 1;
}

int avm_page_info(const struct avm_world *w, int pid, unsigned long addr,
		  struct avm_page_info *out)
{
	const struct avm_mm *mm = mm_find(w, pid);

	if (!mm)
		return -ESRCH;
	if (addr >= AVM_TASK_SIZE)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	uint64_t pte = pt_get(mm, addr & AVM_PAGE_MASK);
	if (pte_none(pte))
		return 0;
	out->soft_dirty = pte & PTE_SOFTDIRTY;
	if (!pte_present(pte)) {
		if (pte_is_swap(pte)) {
			out->state = AVM_PAGE_SWAP;
			out->swap_slot = pte_swp_slot(pte);
			out->swp_exclusive = pte_swp_exclusive(pte);
			unsigned long pfn = swapcache_lookup(w, out->swap_slot);
			out->swapcache = pfn != 0;
			out->content = pfn ? frame_content(frame(w, pfn))
					   : w->swap_content[out->swap_slot];
		} else if (pte_is_migration(pte)) {
			out->state = AVM_PAGE_MIGRATION;
			out->pfn = pte_pfn(pte);
		} else {
			out->state = AVM_PAGE_GUARD;
		}
		return 0;
	}
	out->writable = pte & PTE_WRITE;
	out->dirty = pte & PTE_DIRTY;
	out->young = pte & PTE_YOUNG;
	if (pte_zero(pte)) {
		out->state = AVM_PAGE_ZERO;
		return 0;
	}
	unsigned long pfn = pte_pfn(pte);
	const struct avm_frame *f = frame(w, pfn);

	out->state = AVM_PAGE_PRESENT;
	out->pfn = pfn;
	out->mapcount = f->mapcount;
	out->refcount = (int)f->refcount;
	out->anon = f->flags & FRAME_ANON;
	out->anon_exclusive = f->flags & FRAME_ANON_EXCLUSIVE;
	out->swapcache = f->flags & FRAME_SWAPCACHE;
	out->swapbacked = f->flags & FRAME_SWAPBACKED;
	out->lazyfree = out->anon && !out->swapbacked;
	out->pinned = frame_maybe_pinned(f);
	out->anon_vma = out->anon ? ((const struct avm_anon_vma *)frame_mapping(w, f))->id : 0;
	out->index = frame_index(f);
	out->content = frame_content(f);
	return 0;
}

void avm_anon_vma_foreach(const struct avm_world *w,
			  void (*fn)(void *arg, const struct avm_anon_vma_info *av), void *arg)
{
	const struct avm_list *pos;

	list_for_each(pos, &w->anon_vmas) {
		const struct avm_anon_vma *av = list_entry(pos, struct avm_anon_vma, all);
		struct avm_anon_vma_info info = {
			.id = av->id,
			.root = av->root->id,
			.parent = av->parent->id,
			.refcount = av->refcount,
			.num_children = av->num_children,
			.num_active_vmas = av->num_active_vmas,
			.nr_avcs = av->rb_root.count,
		};
		fn(arg, &info);
	}
}

void avm_avc_foreach(const struct avm_world *w,
		     void (*fn)(void *arg, const struct avm_avc_info *avc), void *arg)
{
	for (int pid = 1; pid < w->nr_pid_slots; pid++) {
		const struct avm_mm *mm = w->mm_by_pid[pid];
		if (!mm)
			continue;
		for (const struct avm_vma *vma = vma_first(mm); vma; vma = vma_next(vma)) {
			const struct avm_list *pos;

			list_for_each(pos, &vma->anon_vma_chain) {
				const struct avm_avc *avc = list_entry(pos, struct avm_avc, same_vma);
				struct avm_avc_info info = {
					.pid = pid,
					.vma_id = vma->id,
					.vma_start = vma->vm_start,
					.vma_end = vma->vm_end,
					.anon_vma = avc->anon_vma->id,
					.pgoff_first = avc->rb_start,
					.pgoff_last = avc->rb_last,
				};
				fn(arg, &info);
			}
		}
	}
}

struct lookup_arg {
	void (*fn)(void *arg, int pid, unsigned long addr, unsigned long vma_id);
	void *arg;
	int found;
};

static bool lookup_one(struct avm_world *w, unsigned long pfn, struct avm_vma *vma,
		       unsigned long addr, void *arg)
{
	struct lookup_arg *la = arg;

	(void)w;
	if (rmap_pte_maps(vma, addr, pfn)) {
		la->found++;
		if (la->fn)
			la->fn(la->arg, vma->vm_mm->pid, addr, vma->id);
	}
	return true;
}

int avm_rmap_lookup(struct avm_world *w, int pid, unsigned long addr,
		    void (*fn)(void *arg, int pid, unsigned long addr, unsigned long vma_id),
		    void *arg)
{
	struct avm_mm *mm = mm_find(w, pid);

	if (!mm)
		return -ESRCH;
	uint64_t pte = pt_get(mm, addr & AVM_PAGE_MASK);
	if (!pte_present(pte) || pte_zero(pte))
		return -ENOENT;
	unsigned long pfn = pte_pfn(pte);
	if (!(frame(w, pfn)->flags & FRAME_ANON))
		return -EINVAL;
	struct lookup_arg la = { fn, arg, 0 };
	const struct rmap_walk_control rwc = { .arg = &la, .rmap_one = lookup_one };

	rmap_walk(w, pfn, &rwc);
	return la.found;
}
