/*
 * validate.c - the model's conscience: every invariant, checked on demand
 * (and after every public call in AVM_DEBUG=3 builds, STYLE 9).
 *
 * Invariants (cite as "I3" at the code that relies on them):
 *
 *   I1  VMAs of an mm are page-aligned, non-empty, below TASK_SIZE, sorted
 *       and disjoint; map_count equals their number (R1.2).
 *   I2  A frame's mapcount equals the number of present PTEs mapping it.
 *   I3  Every present anonymous PTE maps a frame filed under an anon_vma
 *       its VMA is chained to, at the index R2.2 gives for its address, so
 *       an rmap walk finds it (R11.2, R18.2).
 *   I4  A writable PTE mapping an anonymous frame implies the frame is
 *       PG_anon_exclusive (R1.16).
 *   I5  refcount = mapcount + 1 (swap cache) + 1024 per pin + 1 per plain
 *       reference + 1 (shmem page cache) (R1.14).
 *   I6  Chains are symmetric: every AVC of a VMA's chain points back to the
 *       VMA, sits in its anon_vma's tree with keys equal to the VMA's pgoff
 *       range; a VMA has a chain iff it has an anon_vma, which is on the
 *       chain; all anon_vmas of a chain share one root (R1.9, R3.8).
 *   I7  anon_vma counters: num_active_vmas, num_children, refcount as the
 *       tester's table R3.17-R3.19 predicts; no empty non-root survives.
 *   I8  rss counters match the page tables (anon, shmem, swap entries).
 *   I9  Swap: a slot's count equals the swap PTEs naming it; the swap
 *       cache and FRAME_SWAPCACHE agree.
 *   I10 No PTE lies outside every VMA; free frames have refcount 0;
 *       frames_used counts the allocated ones.
 *   I11 Nothing leaks: with no process left, no anon_vma survives and only
 *       pinned frames (and their swap cache) remain.
 *
 * I6 may not hold between anon_vma_pre_update_vma() and _post_ (the VMA's
 * AVCs are out of their trees while its range changes).
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

struct vstate {
	struct avm_world *w;
	char *buf;
	size_t len;
	int32_t *mapcount;   /* per pfn, recomputed from page tables */
	uint32_t *extra;     /* per pfn: pins * 1024 + refs */
	uint32_t *swapcount; /* per slot, recomputed */
	struct avm_mm *mm;
	struct avm_vma *vma;
	unsigned long ptes;  /* PTEs found inside VMAs */
	unsigned long rss_anon, rss_shmem, swapents;
	bool failed;
};

static int fail(struct vstate *vs, const char *fmt, ...)
{
	va_list ap;

	if (vs->failed)
		return -EUCLEAN;
	vs->failed = true;
	if (vs->buf && vs->len) {
		va_start(ap, fmt);
		vsnprintf(vs->buf, vs->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static bool chain_has(const struct avm_vma *vma, const struct avm_anon_vma *av)
{
	const struct avm_list *pos;

	list_for_each(pos, &vma->anon_vma_chain)
		if (list_entry(pos, struct avm_avc, same_vma)->anon_vma == av)
			return true;
	return false;
}

static int check_pte(unsigned long key, uint64_t *slot, void *arg)
{
	struct vstate *vs = arg;
	struct avm_world *w = vs->w;
	struct avm_vma *vma = vs->vma;
	unsigned long addr = key << AVM_PAGE_SHIFT;
	uint64_t pte = *slot;

	vs->ptes++;
	if (pte_present(pte)) {
		if (pte_zero(pte))
			return 0;
		unsigned long pfn = pte_pfn(pte);
		if (pfn == 0 || pfn >= w->frames_total)
			return fail(vs, "I10: pid %d %#lx maps pfn %lu outside the frame table",
				    vs->mm->pid, addr, pfn);
		struct avm_frame *f = frame(w, pfn);
		if (f->refcount == 0)
			return fail(vs, "I10: pid %d %#lx maps free pfn %lu", vs->mm->pid, addr, pfn);
		vs->mapcount[pfn]++;
		if ((f->flags & (FRAME_SHMEM | FRAME_ANON)) &&
		    (frame_mapping_handle(f) >= w->nr_mappings || !frame_mapping(w, f)))
			return fail(vs, "I3: pid %d %#lx maps pfn %lu whose mapping handle %u is "
				    "not registered", vs->mm->pid, addr, pfn, frame_mapping_handle(f));
		if (f->flags & FRAME_SHMEM) {
			vs->rss_shmem++;
			if (frame_mapping(w, f) != vma->shmem)
				return fail(vs, "I3: pid %d %#lx maps shmem pfn %lu of another object",
					    vs->mm->pid, addr, pfn);
			return 0;
		}
		if (!(f->flags & FRAME_ANON))
			return fail(vs, "I3: pid %d %#lx maps pfn %lu that is neither anon nor shmem",
				    vs->mm->pid, addr, pfn);
		vs->rss_anon++;
		/* I4 */
		if ((pte & PTE_WRITE) && !(f->flags & FRAME_ANON_EXCLUSIVE))
			return fail(vs, "I4: pid %d %#lx writable PTE on non-exclusive pfn %lu",
				    vs->mm->pid, addr, pfn);
		/* I3 */
		if (!vma->anon_vma)
			return fail(vs, "I3: pid %d %#lx anon pfn %lu in a VMA without anon_vma",
				    vs->mm->pid, addr, pfn);
		if (frame_index(f) != linear_page_index(vma, addr))
			return fail(vs, "I3: pid %d %#lx pfn %lu index %lu, linear index %lu",
				    vs->mm->pid, addr, pfn, frame_index(f),
				    linear_page_index(vma, addr));
		if (!chain_has(vma, frame_mapping(w, f)))
			return fail(vs, "I3: pid %d %#lx pfn %lu filed under anon_vma %lu, "
				    "not on the VMA's chain", vs->mm->pid, addr, pfn,
				    ((struct avm_anon_vma *)frame_mapping(w, f))->id);
		return 0;
	}
	if (pte_is_swap(pte)) {
		unsigned long s = pte_swp_slot(pte);
		if (s == 0 || s > w->cfg.swap_slots)
			return fail(vs, "I9: pid %d %#lx swap PTE names slot %lu", vs->mm->pid, addr, s);
		vs->swapcount[s]++;
		vs->swapents++;
		return 0;
	}
	if (pte_is_guard(pte) || pte_is_migration(pte))
		return 0;
	return fail(vs, "I10: pid %d %#lx holds an unknown PTE %#llx", vs->mm->pid, addr,
		    (unsigned long long)pte);
}

static int count_pte(unsigned long key, uint64_t *slot, void *arg)
{
	(void)key;
	(void)slot;
	(*(unsigned long *)arg)++;
	return 0;
}

static int check_chain(struct vstate *vs, struct avm_vma *vma)
{
	const struct avm_list *pos;
	struct avm_anon_vma *root = vma->anon_vma ? vma->anon_vma->root : NULL;

	if (!vma->anon_vma && !list_empty(&vma->anon_vma_chain))
		return fail(vs, "I6: pid %d VMA %#lx-%#lx has a chain but no anon_vma",
			    vs->mm->pid, vma->vm_start, vma->vm_end);
	if (vma->anon_vma && !chain_has(vma, vma->anon_vma))
		return fail(vs, "I6: pid %d VMA %#lx-%#lx: its anon_vma %lu is not on its chain",
			    vs->mm->pid, vma->vm_start, vma->vm_end, vma->anon_vma->id);
	list_for_each(pos, &vma->anon_vma_chain) {
		const struct avm_avc *avc = list_entry(pos, struct avm_avc, same_vma);
		if (avc->vma != vma)
			return fail(vs, "I6: pid %d VMA %#lx: AVC points to another VMA",
				    vs->mm->pid, vma->vm_start);
		if (avc->rb_start != vma->vm_pgoff ||
		    avc->rb_last != vma->vm_pgoff + vma_pages(vma) - 1)
			return fail(vs, "I6: pid %d VMA %#lx-%#lx pgoff %#lx: AVC keyed [%#lx, %#lx]",
				    vs->mm->pid, vma->vm_start, vma->vm_end, vma->vm_pgoff,
				    avc->rb_start, avc->rb_last);
		if (avc->anon_vma->root != root)
			return fail(vs, "I6: pid %d VMA %#lx: chain spans two anon_vma roots",
				    vs->mm->pid, vma->vm_start);
		for (const struct avm_list *q = pos->next; q != &vma->anon_vma_chain; q = q->next)
			if (list_entry(q, struct avm_avc, same_vma)->anon_vma == avc->anon_vma)
				return fail(vs, "I6: pid %d VMA %#lx linked twice to anon_vma %lu",
					    vs->mm->pid, vma->vm_start, avc->anon_vma->id);
	}
	return 0;
}

static int check_shmem_entry(unsigned long key, uint64_t *slot, void *arg)
{
	struct vstate *vs = arg;
	struct avm_world *w = vs->w;

	if (shmem_entry_is_swap(*slot)) {
		unsigned long s = shmem_entry_slot(*slot);
		if (s == 0 || s > w->cfg.swap_slots)
			return fail(vs, "I9: shmem page %lu names swap slot %lu", key, s);
		vs->swapcount[s]++;
		return 0;
	}
	if (*slot >= w->frames_total || !(frame(w, *slot)->flags & FRAME_SHMEM))
		return fail(vs, "I3: shmem page %lu caches pfn %lu, not a shmem frame", key,
			    (unsigned long)*slot);
	return 0;
}

static int check_mm(struct vstate *vs, struct avm_mm *mm, unsigned long *nr_avcs)
{
	struct avm_world *w = vs->w;
	unsigned long count = 0, prev_end = 0;
	int err;

	vs->mm = mm;
	vs->ptes = vs->rss_anon = vs->rss_shmem = vs->swapents = 0;
	for (struct avm_vma *vma = vma_first(mm); vma; vma = vma_next(vma)) {
		count++;
		/* I1 */
		if (!PAGE_ALIGNED(vma->vm_start) || !PAGE_ALIGNED(vma->vm_end) ||
		    vma->vm_start >= vma->vm_end || vma->vm_end > AVM_TASK_SIZE)
			return fail(vs, "I1: pid %d VMA %#lx-%#lx malformed", mm->pid,
				    vma->vm_start, vma->vm_end);
		if (vma->vm_start < prev_end)
			return fail(vs, "I1: pid %d VMA %#lx-%#lx overlaps or is out of order",
				    mm->pid, vma->vm_start, vma->vm_end);
		if (vma->vm_mm != mm)
			return fail(vs, "I1: pid %d VMA %#lx belongs to another mm", mm->pid,
				    vma->vm_start);
		prev_end = vma->vm_end;
		err = check_chain(vs, vma);
		if (err)
			return err;
		*nr_avcs += anon_vma_chain_len(vma);
		/* I9: a shmem object's swap entries, counted once per object. */
		if (vma->shmem && vma->shmem->vgen != w->validate_gen) {
			vma->shmem->vgen = w->validate_gen;
			err = radix_walk(&vma->shmem->pages, 0, (1UL << RADIX_KEY_BITS) - 1,
					 check_shmem_entry, vs);
			if (err)
				return err;
		}
		vs->vma = vma;
		err = radix_walk(&mm->pgtable, vma->vm_start >> AVM_PAGE_SHIFT,
				 (vma->vm_end >> AVM_PAGE_SHIFT) - 1, check_pte, vs);
		if (err)
			return err;
	}
	if (count != mm->map_count || count != mm->mm_mt.count)
		return fail(vs, "I1: pid %d map_count %lu, tree holds %lu, list walk found %lu",
			    mm->pid, mm->map_count, mm->mm_mt.count, count);
	/* I10: PTEs outside every VMA. */
	unsigned long all = 0;
	radix_walk(&mm->pgtable, 0, (1UL << RADIX_KEY_BITS) - 1, count_pte, &all);
	if (all != vs->ptes)
		return fail(vs, "I10: pid %d has %lu PTEs outside its VMAs", mm->pid, all - vs->ptes);
	/* I8 */
	if (vs->rss_anon != mm->rss_anon || vs->rss_shmem != mm->rss_shmem ||
	    vs->swapents != mm->swapents)
		return fail(vs, "I8: pid %d rss anon/shmem/swap %lu/%lu/%lu, page tables say "
			    "%lu/%lu/%lu", mm->pid, mm->rss_anon, mm->rss_shmem, mm->swapents,
			    vs->rss_anon, vs->rss_shmem, vs->swapents);
	(void)w;
	return 0;
}

struct av_expect {
	unsigned long active, children, refs;
};

static int check_anon_vmas(struct vstate *vs, unsigned long nr_avcs, bool no_procs)
{
	struct avm_world *w = vs->w;
	struct avm_list *pos;
	unsigned long n = 0, tree_avcs = 0;
	int err = 0;

	/* Index the live anon_vmas by position so counters can be tallied. */
	list_for_each(pos, &w->anon_vmas)
		n++;
	if (n != w->nr_anon_vmas)
		return fail(vs, "I7: %lu anon_vmas on the list, counter says %lu", n,
			    w->nr_anon_vmas);
	if (no_procs && n)
		return fail(vs, "I11: %lu anon_vmas survive with no process left", n);
	if (!n)
		return nr_avcs ? fail(vs, "I6: %lu AVCs but no anon_vma", nr_avcs) : 0;

	struct avm_anon_vma **avs = calloc(n, sizeof(*avs));
	struct av_expect *ex = calloc(n, sizeof(*ex));
	if (!avs || !ex) {
		err = fail(vs, "validator: out of memory");
		goto out;
	}
	/* Give each anon_vma a scratch slot so the tallies below are O(n). */
	unsigned long i = 0;
	list_for_each(pos, &w->anon_vmas) {
		avs[i] = list_entry(pos, struct avm_anon_vma, all);
		avs[i]->vslot = i;
		i++;
	}

	for (int pid = 1; pid < w->nr_pid_slots; pid++) {
		struct avm_mm *mm = w->mm_by_pid[pid];
		if (!mm)
			continue;
		for (struct avm_vma *vma = vma_first(mm); vma; vma = vma_next(vma)) {
			if (!vma->anon_vma)
				continue;
			unsigned long s = vma->anon_vma->vslot;
			if (s >= n || avs[s] != vma->anon_vma) {
				err = fail(vs, "I7: pid %d VMA %#lx uses a freed anon_vma", pid,
					   vma->vm_start);
				goto out;
			}
			ex[s].active++;
		}
	}
	for (i = 0; i < n; i++) {
		struct avm_anon_vma *av = avs[i];
		bool live = av->rb_root.root != NULL;

		tree_avcs += av->rb_root.count;
		if (av->parent->vslot >= n || avs[av->parent->vslot] != av->parent ||
		    av->root->vslot >= n || avs[av->root->vslot] != av->root) {
			err = fail(vs, "I7: anon_vma %lu has a freed parent or root", av->id);
			goto out;
		}
		if (live) {
			ex[av->parent->vslot].children++;
			ex[i].refs++;
		}
		if (av->root != av)
			ex[av->root->vslot].refs++;
	}
	for (i = 0; i < n; i++) {
		struct avm_anon_vma *av = avs[i];
		if ((unsigned long)av->num_active_vmas != ex[i].active) {
			err = fail(vs, "I7: anon_vma %lu num_active_vmas %d, VMAs using it %lu",
				   av->id, av->num_active_vmas, ex[i].active);
			goto out;
		}
		if ((unsigned long)av->num_children != ex[i].children) {
			err = fail(vs, "I7: anon_vma %lu num_children %d, expected %lu", av->id,
				   av->num_children, ex[i].children);
			goto out;
		}
		if ((unsigned long)av->refcount != ex[i].refs) {
			err = fail(vs, "I7: anon_vma %lu refcount %d, expected %lu", av->id,
				   av->refcount, ex[i].refs);
			goto out;
		}
	}
	if (tree_avcs != nr_avcs)
		err = fail(vs, "I6: %lu AVCs on chains, %lu in anon_vma trees", nr_avcs, tree_avcs);
out:
	free(avs);
	free(ex);
	return err;
}

static int check_frames(struct vstate *vs, bool no_procs)
{
	struct avm_world *w = vs->w;
	unsigned long used = 0;

	for (unsigned long pfn = 1; pfn < w->frames_total; pfn++) {
		struct avm_frame *f = frame(w, pfn);
		if (f->refcount == 0) {
			if (vs->mapcount[pfn])
				return fail(vs, "I10: free pfn %lu is mapped", pfn);
			continue;
		}
		used++;
		/* I2 */
		if (f->mapcount != vs->mapcount[pfn])
			return fail(vs, "I2: pfn %lu mapcount %d, PTEs mapping it %d", pfn,
				    f->mapcount, vs->mapcount[pfn]);
		/* I5 */
		unsigned long expect = (unsigned long)f->mapcount + vs->extra[pfn] +
				       ((f->flags & FRAME_SWAPCACHE) ? 1 : 0) +
				       ((f->flags & FRAME_SHMEM) ? 1 : 0);
		if (f->refcount != expect)
			return fail(vs, "I5: pfn %lu refcount %u, expected %lu (mapcount %d%s%s, "
				    "pins/refs %u)", pfn, f->refcount, expect, f->mapcount,
				    (f->flags & FRAME_SWAPCACHE) ? ", swapcache" : "",
				    (f->flags & FRAME_SHMEM) ? ", shmem" : "", vs->extra[pfn]);
		/* I9 */
		if (f->flags & FRAME_SWAPCACHE) {
			if (f->swap == 0 || f->swap > w->cfg.swap_slots || w->swap_cache[f->swap] != pfn)
				return fail(vs, "I9: pfn %lu in the swap cache under slot %u, "
					    "the cache disagrees", pfn, f->swap);
		}
		/* I11 */
		if (no_procs && vs->extra[pfn] == 0)
			return fail(vs, "I11: pfn %lu (refcount %u) leaked with no process left",
				    pfn, f->refcount);
	}
	if (used != w->frames_used)
		return fail(vs, "I10: %lu frames allocated, frames_used says %lu", used,
			    w->frames_used);
	return 0;
}

static int check_swap(struct vstate *vs)
{
	struct avm_world *w = vs->w;
	unsigned long used = 0;

	for (unsigned long s = 1; s <= w->cfg.swap_slots; s++) {
		if (w->swap_map[s] != vs->swapcount[s])
			return fail(vs, "I9: slot %lu count %u, swap PTEs naming it %u", s,
				    w->swap_map[s], vs->swapcount[s]);
		unsigned long pfn = w->swap_cache[s];
		if (pfn) {
			if (pfn >= w->frames_total || !(frame(w, pfn)->flags & FRAME_SWAPCACHE) ||
			    frame(w, pfn)->swap != s)
				return fail(vs, "I9: slot %lu caches pfn %lu, which does not know it",
					    s, pfn);
		}
		if (w->swap_map[s] || pfn)
			used++;
	}
	if (used != w->swap_used)
		return fail(vs, "I9: %lu slots in use, swap_used says %lu", used, w->swap_used);
	return 0;
}

int avm_validate(struct avm_world *w, char *buf, size_t len)
{
	struct vstate vs = { .w = w, .buf = buf, .len = len };
	unsigned long nr_avcs = 0;
	bool no_procs = true;
	int err = 0;

	if (buf && len)
		buf[0] = '\0';
	w->validate_gen++;
	vs.mapcount = calloc(w->frames_total + 1, sizeof(*vs.mapcount));
	vs.extra = calloc(w->frames_total + 1, sizeof(*vs.extra));
	vs.swapcount = calloc(w->cfg.swap_slots + 1, sizeof(*vs.swapcount));
	if (!vs.mapcount || !vs.extra || !vs.swapcount) {
		err = fail(&vs, "validator: out of memory");
		goto out;
	}
	for (int i = 0; i < w->nr_pins; i++) {
		const struct avm_pinset *ps = w->pins[i];
		for (unsigned long k = 0; k < ps->n; k++) {
			unsigned long pfn = ps->pfns[k];
			if (pfn == 0)
				continue;
			if (pfn >= w->frames_total) {
				err = fail(&vs, "I5: pin %d holds pfn %lu beyond the table", ps->handle, pfn);
				goto out;
			}
			vs.extra[pfn] += ps->is_pin ? AVM_GUP_PIN_COUNTING_BIAS : 1;
		}
	}
	for (int pid = 1; pid < w->nr_pid_slots; pid++) {
		struct avm_mm *mm = w->mm_by_pid[pid];
		if (!mm)
			continue;
		no_procs = false;
		err = check_mm(&vs, mm, &nr_avcs);
		if (err)
			goto out;
	}
	err = check_anon_vmas(&vs, nr_avcs, no_procs);
	if (!err)
		err = check_frames(&vs, no_procs);
	if (!err)
		err = check_swap(&vs);
out:
	free(vs.mapcount);
	free(vs.extra);
	free(vs.swapcount);
	return err;
}
