/*
 * vma.c - the VMA index of an mm, VMA objects, merge and split
 * (spec §1.2, §2, §4, §5).  The merge code follows the shape of Linux
 * 6.18 mm/vma.c (vma_merge_new_range(), vma_merge_existing_range(),
 * vma_expand(), vma_modify(), __split_vma(), copy_vma()), anonymous
 * memory only: "vm_file" is the shmem object of a shared anonymous VMA.
 *
 * The index is mm->mm_mt, a treap keyed by vm_start (tree.c): lookups are
 * O(log n), neighbours O(1) amortised.  Keys change in place while a VMA
 * is linked (merges move vm_start); that is safe because VMAs stay
 * disjoint, so the order never changes.  I1 (validate.c) may not hold
 * inside commit_merge() between removing and growing VMAs.
 *
 * Every change of vm_start, vm_end or vm_pgoff goes through
 * vma_set_range(), which re-keys the VMA's AVCs (R1.9, I6).
 *
 * Merge geometry, one character per page (STYLE 12):
 *
 *   new range:       PPPP....NNNN        ....: [start, end), no VMA
 *   existing range:  PPPPMMMMMMNNNN      the change covers part of M
 */
#include "internal.h"

/* ---- the index ------------------------------------------------------- */

static int vma_cmp(const struct avm_tnode *a, const struct avm_tnode *b)
{
	const struct avm_vma *x = container_of(a, struct avm_vma, node);
	const struct avm_vma *y = container_of(b, struct avm_vma, node);

	return x->vm_start < y->vm_start ? -1 : x->vm_start > y->vm_start;
}

static inline struct avm_vma *node_vma(const struct avm_tnode *n)
{
	return n ? container_of(n, struct avm_vma, node) : NULL;
}

/*
 * Gap augmentation (the rb_subtree_gap of pre-maple-tree kernels): each
 * VMA stores the free space below it, each node the largest in its
 * subtree, so top-down placement finds the highest fitting gap in
 * O(log n).  gap_update() runs wherever a VMA's start or its
 * predecessor's end changes: vma_link(), vma_unlink(), vma_set_range().
 */
static void vma_augment(struct avm_tnode *n)
{
	struct avm_vma *v = node_vma(n);
	unsigned long m = v->gap;

	if (n->left && node_vma(n->left)->gap_max > m)
		m = node_vma(n->left)->gap_max;
	if (n->right && node_vma(n->right)->gap_max > m)
		m = node_vma(n->right)->gap_max;
	v->gap_max = m;
}

static const struct avm_tree_ops vma_tree_ops = { .cmp = vma_cmp, .augment = vma_augment };

static void gap_update(struct avm_vma *v)
{
	struct avm_vma *prev;
	unsigned long s, pe, g;

	if (!v)
		return;
	prev = vma_prev(v);
	s = vma_start_gap(v);
	pe = prev ? prev->vm_end : 0;
	g = s > pe ? s - pe : 0;
	if (g != v->gap) {
		v->gap = g;
		tree_propagate(&v->node, &vma_tree_ops);
	}
}

/* The highest VMA starting at or below @limit with at least @len free below it. */
static struct avm_vma *gap_find(const struct avm_tnode *n, unsigned long limit, unsigned long len)
{
	struct avm_vma *v, *r;

	if (!n || node_vma(n)->gap_max < len)
		return NULL;
	v = node_vma(n);
	if (v->vm_start > limit)
		return gap_find(n->left, limit, len);
	r = gap_find(n->right, limit, len);
	if (r)
		return r;
	if (v->gap >= len)
		return v;
	return gap_find(n->left, limit, len);
}

struct avm_vma *vma_gap_find(const struct avm_mm *mm, unsigned long limit, unsigned long len)
{
	return gap_find(mm->mm_mt.root, limit, len);
}

bool vma_gap_check(const struct avm_mm *mm)
{
	for (struct avm_vma *v = vma_first(mm); v; v = vma_next(v)) {
		struct avm_vma *prev = vma_prev(v);
		unsigned long pe = prev ? prev->vm_end : 0, s = vma_start_gap(v);
		unsigned long m = v->gap;

		if (v->gap != (s > pe ? s - pe : 0))
			return false;
		if (v->node.left)
			m = avm_max(m, node_vma(v->node.left)->gap_max);
		if (v->node.right)
			m = avm_max(m, node_vma(v->node.right)->gap_max);
		if (m != v->gap_max)
			return false;
	}
	return true;
}

struct avm_vma *vma_find(const struct avm_mm *mm, unsigned long addr)
{
	const struct avm_tnode *n = mm->mm_mt.root;
	struct avm_vma *best = NULL;

	while (n) {
		struct avm_vma *v = node_vma(n);

		if (v->vm_end > addr) {
			best = v;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct avm_vma *vma_lookup(const struct avm_mm *mm, unsigned long addr)
{
	struct avm_vma *vma = vma_find(mm, addr);

	return vma && vma->vm_start <= addr ? vma : NULL;
}

struct avm_vma *vma_first(const struct avm_mm *mm)
{
	return node_vma(tree_first(&mm->mm_mt));
}

struct avm_vma *vma_last(const struct avm_mm *mm)
{
	return node_vma(tree_last(&mm->mm_mt));
}

struct avm_vma *vma_next(const struct avm_vma *vma)
{
	return node_vma(tree_next(&vma->node));
}

struct avm_vma *vma_prev(const struct avm_vma *vma)
{
	return node_vma(tree_prev(&vma->node));
}

/* ---- objects ----------------------------------------------------------- */

struct avm_vma *vma_alloc(struct avm_mm *mm)
{
	struct avm_world *w = mm->w;
	struct avm_vma *vma = avm_zalloc(w, sizeof(*vma));

	if (!vma)
		return NULL;
	vma->vm_mm = mm;
	list_init(&vma->anon_vma_chain);
	vma->id = w->next_vma_id++;
	w->stats.vmas_alloc++;
	return vma;
}

struct avm_vma *vma_dup(struct avm_vma *src)
{
	struct avm_vma *vma = vma_alloc(src->vm_mm);

	if (!vma)
		return NULL;
	vma->vm_start = src->vm_start;
	vma->vm_end = src->vm_end;
	vma->vm_pgoff = src->vm_pgoff;
	vma->vm_flags = src->vm_flags;
	vma->anon_vma = src->anon_vma;
	vma->shmem = src->shmem;
	if (vma->shmem)
		vma->shmem->refcount++;
	vma->uffd_ctx = src->uffd_ctx;
	if (vma->uffd_ctx)
		uffd_ctx_get(vma->uffd_ctx);
	vma->anon_name = src->anon_name;
	anon_name_get(vma->anon_name);
	return vma;
}

void vma_free(struct avm_vma *vma)
{
	struct avm_world *w = vma->vm_mm->w;

	AVM_ASSERT(list_empty(&vma->anon_vma_chain));
	anon_name_put(w, vma->anon_name);
	if (vma->shmem)
		vma_shmem_put(w, vma->shmem);
	if (vma->uffd_ctx)
		uffd_ctx_put(w, vma->uffd_ctx);
	avm_free(w, vma, sizeof(*vma));
	w->stats.vmas_free++;
}

void vma_link(struct avm_mm *mm, struct avm_vma *vma)
{
	vma->vm_mm = mm;
	vma->gap = vma->gap_max = 0;
	tree_insert(&mm->mm_mt, &vma->node, avm_random(mm->w), &vma_tree_ops);
	gap_update(vma);
	gap_update(vma_next(vma));
	mm->map_count++; /* R1.2 */
}

void vma_unlink(struct avm_mm *mm, struct avm_vma *vma)
{
	struct avm_vma *next = vma_next(vma);

	AVM_ASSERT(mm->map_count > 0);
	tree_erase(&mm->mm_mt, &vma->node, &vma_tree_ops);
	gap_update(next);
	mm->map_count--; /* R1.2 */
}

/* ---- anon names (R4.3.5) ------------------------------------------------- */

struct avm_anon_name *vma_anon_name_alloc(struct avm_world *w, const char *s)
{
	size_t n = strlen(s) + 1;
	struct avm_anon_name *name = avm_zalloc(w, sizeof(*name) + n);

	if (!name)
		return NULL;
	name->refcount = 1;
	memcpy(name->name, s, n);
	return name;
}

void anon_name_get(struct avm_anon_name *n)
{
	if (n)
		n->refcount++;
}

void anon_name_put(struct avm_world *w, struct avm_anon_name *n)
{
	if (!n)
		return;
	AVM_ASSERT(n->refcount > 0);
	if (--n->refcount == 0)
		avm_free(w, n, sizeof(*n) + strlen(n->name) + 1);
}

bool anon_name_eq(const struct avm_anon_name *a, const struct avm_anon_name *b)
{
	if (a == b)
		return true;
	return a && b && !strcmp(a->name, b->name);
}

/* ---- shmem objects (R6.3) ------------------------------------------------ */

struct avm_shmem *vma_shmem_alloc(struct avm_world *w, unsigned long pages)
{
	struct avm_shmem *s = avm_zalloc(w, sizeof(*s));

	if (!s)
		return NULL;
	s->handle = mapping_register(w, s);
	if (!s->handle) {
		avm_free(w, s, sizeof(*s));
		return NULL;
	}
	s->id = w->next_shmem_id++;
	s->refcount = 1;
	s->size = pages;
	radix_init(&s->pages, w->cfg.pt_bits);
	return s;
}

static int shmem_drop_page(unsigned long key, uint64_t *slot, void *arg)
{
	(void)key;
	if (shmem_entry_is_swap(*slot)) {
		swap_free(arg, shmem_entry_slot(*slot)); /* shmem_free_swap() */
		*slot = 0;
		return 0;
	}
	struct avm_frame *f = frame(arg, (unsigned long)*slot);

	/*
	 * Truncation takes the page out of the page cache (mapping cleared);
	 * a pin or reference may keep the frame itself alive a while (I5).
	 */
	f->flags &= ~FRAME_SHMEM;
	frame_set_mapping(f, 0);
	frame_put(arg, (unsigned long)*slot);
	*slot = 0;
	return 0;
}

void vma_shmem_put(struct avm_world *w, struct avm_shmem *s)
{
	AVM_ASSERT(s->refcount > 0);
	if (--s->refcount)
		return;
	/* The last VMA is gone: the unlinked file and its page cache go too. */
	radix_walk(&s->pages, 0, (1UL << RADIX_KEY_BITS) - 1, shmem_drop_page, w);
	radix_destroy(w, &s->pages);
	mapping_unregister(w, s->handle);
	avm_free(w, s, sizeof(*s));
}

/* ---- range changes --------------------------------------------------------- */

/* vma_set_range() with the interval-tree re-keying of R1.9 around it. */
static void vma_set_range(struct avm_vma *vma, unsigned long start, unsigned long end,
			  unsigned long pgoff)
{
	if (vma->vm_start == start && vma->vm_end == end && vma->vm_pgoff == pgoff)
		return;
	anon_vma_pre_update_vma(vma);
	vma->vm_start = start;
	vma->vm_end = end;
	vma->vm_pgoff = pgoff;
	anon_vma_post_update_vma(vma);
	if (vma->node.parent || vma->vm_mm->mm_mt.root == &vma->node) { /* linked */
		gap_update(vma);
		gap_update(vma_next(vma));
	}
}

/* A VMA leaves the mm through a merge: anon_vma_merge() then remove_vma(). */
static void vma_remove_merged(struct avm_vma *vma)
{
	vma_unlink(vma->vm_mm, vma);
	anon_vma_unlink(vma); /* R3.20 */
	vma_free(vma);
}

/* ---- split (R5) -------------------------------------------------------------- */

int vma_split_nolimit(struct avm_vma *vma, unsigned long addr, bool new_below)
{
	struct avm_vma *new;

	AVM_ASSERT(PAGE_ALIGNED(addr) && addr > vma->vm_start && addr < vma->vm_end);
	/* Everything that can fail first (STYLE 6): the copy and its chain. */
	new = vma_dup(vma);
	if (!new)
		return -ENOMEM;
	if (new_below) {
		new->vm_end = addr;
	} else {
		new->vm_start = addr;
		new->vm_pgoff += PFN_DOWN(addr - vma->vm_start); /* R5.2 */
	}
	/* R5.3: same anon_vma pointer (copied), identical chain. */
	if (anon_vma_clone(new, vma)) {
		new->anon_vma = NULL;
		vma_free(new);
		return -ENOMEM;
	}
	if (new_below)
		vma_set_range(vma, addr, vma->vm_end, vma->vm_pgoff + PFN_DOWN(addr - vma->vm_start));
	else
		vma_set_range(vma, vma->vm_start, addr, vma->vm_pgoff);
	vma_link(vma->vm_mm, new);
	vma->vm_mm->w->stats.splits++;
	return 0;
}

int vma_split(struct avm_vma *vma, unsigned long addr, bool new_below)
{
	struct avm_mm *mm = vma->vm_mm;

	if (mm->map_count >= mm->w->cfg.max_map_count) /* R5.4 */
		return -ENOMEM;
	return vma_split_nolimit(vma, addr, new_below);
}

/* ---- merge: compatibility (R4.3-R4.9) ---------------------------------------- */

/* is_mergeable_vma() (R4.3, R4.4 [6.19 / host 6.18.44]: VM_STICKY is ignored). */
static bool is_mergeable_vma(const struct avm_vma_merge *vmg, const struct avm_vma *v)
{
	if ((v->vm_flags ^ vmg->flags) & ~AVM_VM_STICKY)
		return false;
	if (v->shmem != vmg->shmem)
		return false;
	if (v->uffd_ctx != vmg->uffd_ctx)
		return false;
	return anon_name_eq(v->anon_name, vmg->anon_name);
}

/*
 * is_mergeable_anon_vma() against the target @tgt.  One decision point for
 * the policy (STYLE 11): merge_faulted_into_unfaulted selects the 6.16+
 * three-case rule (R4.5) or the 6.12 rule (R4.6); mremap_merge_fix adds
 * the fork-child refusal for the copied-from VMA of an mremap (R4.20).
 */
static bool is_mergeable_anon_vma(const struct avm_vma_merge *vmg, const struct avm_vma *tgt)
{
	const struct avm_policy *pol = vmg->mm->w->policy;
	const struct avm_anon_vma *tgt_av = tgt->anon_vma, *src_av = vmg->anon_vma;

	if (!pol->merge_faulted_into_unfaulted) {
		/* R4.6: a NULL side is fine only if the target's chain is singular. */
		if ((!src_av || !tgt_av) && list_singular(&tgt->anon_vma_chain))
			return true;
		return src_av == tgt_av;
	}
	/* R4.5 case 1: dup_anon_vma() from the source into an unfaulted target. */
	if (!tgt_av && src_av) {
		if (vmg->middle && vma_is_fork_child(vmg->middle))
			return false;
		if (pol->mremap_merge_fix && vmg->copied_from && vma_is_fork_child(vmg->copied_from))
			return false;
		return true;
	}
	/* Case 2: the range simply uses the target's anon_vma. */
	if (tgt_av && !src_av)
		return !vma_is_fork_child(tgt);
	/* Case 3. */
	return src_av == tgt_av;
}

/* can_vma_merge_left(): prev ends at start, offsets continue (R4.8). */
static bool can_merge_left(struct avm_vma_merge *vmg)
{
	struct avm_vma *prev = vmg->prev;

	if (!prev || prev->vm_end != vmg->start || !is_mergeable_vma(vmg, prev))
		return false;
	if (prev->vm_pgoff + vma_pages(prev) != vmg->pgoff)
		return false;
	if (!is_mergeable_anon_vma(vmg, prev)) {
		vmg->mm->w->stats.merge_refused_anon_vma++;
		return false;
	}
	return true;
}

/* can_vma_merge_right() (R4.9) with the three-way check of R4.7. */
static bool can_merge_right(struct avm_vma_merge *vmg, bool left)
{
	struct avm_vma *next = vmg->next, *prev = vmg->prev;

	if (!next || vmg->end != next->vm_start || !is_mergeable_vma(vmg, next))
		return false;
	if (next->vm_pgoff != vmg->pgoff + PFN_DOWN(vmg->end - vmg->start))
		return false;
	if (!is_mergeable_anon_vma(vmg, next)) {
		vmg->mm->w->stats.merge_refused_anon_vma++;
		return false;
	}
	if (!left)
		return true;
	/* R4.7: prev and next must be able to share one anon_vma. */
	if (prev->anon_vma && next->anon_vma && prev->anon_vma != next->anon_vma) {
		vmg->mm->w->stats.merge_refused_anon_vma++;
		return false;
	}
	return true;
}

/* ---- merge: new range (R4.14) -------------------------------------------------- */

/*
 * vma_expand(): the target grows to [vmg->start, vmg->end); next goes when
 * the range reaches its end.  The target receives an anon_vma first if it
 * has none: next's when next is removed (R4.14), else the mremap source's
 * (R4.20 fixed behaviour).  Without the fix a 6.18.0 kernel leaves the
 * target without one (a use-after-free); the model always duplicates so
 * that its rmap stays sound, and the policy only changes which merges are
 * allowed.
 */
static int vma_expand(struct avm_vma_merge *vmg)
{
	struct avm_vma *target = vmg->target, *next = vmg->next;
	bool remove_next = next && next != target && vmg->end == next->vm_end;
	struct avm_vma *dup_src = vmg->copied_from;
	/* R4.4 sticky flags: the proposal's, the target's, a removed next's. */
	unsigned long sticky = (vmg->flags | target->vm_flags) & AVM_VM_STICKY;

	if (remove_next)
		sticky |= next->vm_flags & AVM_VM_STICKY;
	if (remove_next && next->anon_vma)
		dup_src = next;
	if (dup_src && anon_vma_dup(target, dup_src)) {
		if (!vmg->give_up_on_oom)
			vmg->state = AVM_MERGE_ERROR_NOMEM;
		return -ENOMEM;
	}
	/* Commit: nothing below can fail. */
	if (remove_next)
		vma_remove_merged(next);
	vma_set_range(target, vmg->start, vmg->end, vmg->pgoff);
	target->vm_flags |= sticky;
	return 0;
}

struct avm_vma *vma_merge_new_range(struct avm_vma_merge *vmg)
{
	struct avm_vma *prev = vmg->prev, *next = vmg->next;
	struct avm_stats *st = &vmg->mm->w->stats;
	bool left, right;

	AVM_ASSERT_INTERNAL(!vmg->middle && !vmg->target);
	vmg->state = AVM_MERGE_NOMERGE;
	/* R4.12 */
	if ((vmg->flags & AVM_VM_SPECIAL) || (!prev && !next))
		return NULL;
	left = can_merge_left(vmg);
	right = !vmg->just_expand && can_merge_right(vmg, left);
	if (right) {
		vmg->end = next->vm_end;
		vmg->target = next;
	}
	if (left) {
		vmg->start = prev->vm_start;
		vmg->target = prev;
		vmg->pgoff = prev->vm_pgoff;
	}
	if (!vmg->target || vma_expand(vmg))
		return NULL;
	if (left && right)
		st->merge_new_both++;
	else if (left)
		st->merge_new_left++;
	else
		st->merge_new_right++;
	vmg->state = AVM_MERGE_SUCCESS;
	return vmg->target;
}

/* ---- merge: existing range (R4.17) ----------------------------------------------- */

/*
 *   both:   PPPPMMMMNNNN -> PPPPPPPPPPPP   prev extends, middle and next go
 *   left:   PPPPMM** -> PPPPPP**           prev extends, middle shrinks or goes
 *   right:  **MMNNNN -> **NNNNNN           next extends down, middle shrinks or goes
 */
static struct avm_vma *merge_existing_range(struct avm_vma_merge *vmg)
{
	struct avm_vma *middle = vmg->middle, *prev = vmg->prev, *next = NULL;
	struct avm_stats *st = &vmg->mm->w->stats;
	unsigned long start = vmg->start, end = vmg->end;
	bool left_side = start == middle->vm_start;
	bool right_side = end == middle->vm_end;
	bool left = false, right = false;
	int err;

	vmg->state = AVM_MERGE_NOMERGE;
	/* R4.12 */
	if ((vmg->flags & AVM_VM_SPECIAL) || (!left_side && !right_side))
		return NULL;
	if (left_side)
		left = can_merge_left(vmg);
	if (right_side) {
		next = vmg->next = vma_next(middle);
		right = can_merge_right(vmg, left);
	}
	if (!left && !right)
		return NULL;
	vmg->remove_middle = left_side && right_side;
	vmg->remove_next = left && right;

	/* The only step that can fail, before anything changes (R4.19). */
	if (left && right)
		err = anon_vma_dup(prev, next->anon_vma ? next : middle);
	else if (left)
		err = anon_vma_dup(prev, middle);
	else
		err = anon_vma_dup(next, middle);
	if (err) {
		if (!vmg->give_up_on_oom)
			vmg->state = AVM_MERGE_ERROR_NOMEM;
		return NULL;
	}
	/*
	 * R4.4 sticky flags: the proposal's (which carry the middle's) and
	 * those of each neighbour taking part end up on the target; written
	 * back into the proposal, which vma_apply_attrs() then installs.
	 * Collected before next may be freed below.
	 */
	if (left)
		vmg->flags |= prev->vm_flags & AVM_VM_STICKY;
	if (right)
		vmg->flags |= next->vm_flags & AVM_VM_STICKY;

	if (left && right) {
		unsigned long new_end = next->vm_end;

		vma_remove_merged(middle);
		vma_remove_merged(next);
		vma_set_range(prev, prev->vm_start, new_end, prev->vm_pgoff);
		vmg->target = prev;
		st->merge_existing_both++;
	} else if (left) {
		if (vmg->remove_middle)
			vma_remove_merged(middle);
		else
			vma_set_range(middle, end, middle->vm_end,
				      middle->vm_pgoff + PFN_DOWN(end - middle->vm_start));
		vma_set_range(prev, prev->vm_start, end, prev->vm_pgoff);
		vmg->target = prev;
		st->merge_existing_left++;
	} else {
		unsigned long new_start = vmg->remove_middle ? middle->vm_start : start;
		unsigned long new_pgoff = next->vm_pgoff - PFN_DOWN(next->vm_start - new_start);

		if (vmg->remove_middle)
			vma_remove_merged(middle);
		else
			vma_set_range(middle, middle->vm_start, start, middle->vm_pgoff);
		vma_set_range(next, new_start, next->vm_end, new_pgoff);
		vmg->target = next;
		st->merge_existing_right++;
	}
	vmg->target->vm_flags |= vmg->flags & AVM_VM_STICKY;
	vmg->start = vmg->target->vm_start;
	vmg->end = vmg->target->vm_end;
	vmg->pgoff = vmg->target->vm_pgoff;
	vmg->state = AVM_MERGE_SUCCESS;
	return vmg->target;
}

/* Give @vma the attributes the caller asked for (vm_flags_reset() and friends). */
static void vma_apply_attrs(struct avm_vma *vma, const struct avm_vma_merge *vmg)
{
	struct avm_world *w = vma->vm_mm->w;

	vma->vm_flags = vmg->flags;
	/* replace_anon_vma_name(): an equal name keeps the old object. */
	if (!anon_name_eq(vma->anon_name, vmg->anon_name)) {
		anon_name_get(vmg->anon_name);
		anon_name_put(w, vma->anon_name);
		vma->anon_name = vmg->anon_name;
	}
	if (vma->uffd_ctx != vmg->uffd_ctx) {
		if (vmg->uffd_ctx)
			uffd_ctx_get(vmg->uffd_ctx);
		if (vma->uffd_ctx)
			uffd_ctx_put(w, vma->uffd_ctx);
		vma->uffd_ctx = vmg->uffd_ctx;
	}
}

struct avm_vma *vma_modify(struct avm_vma_merge *vmg)
{
	struct avm_vma *vma = vmg->middle, *merged;
	unsigned long start = vmg->start, end = vmg->end;
	int err;

	merged = merge_existing_range(vmg);
	if (merged) {
		vma_apply_attrs(merged, vmg);
		return merged;
	}
	if (vmg->state == AVM_MERGE_ERROR_NOMEM) {
		vmg->err = -ENOMEM;
		return NULL;
	}
	/* R4.18: split out [start, end); vma keeps the middle part. */
	if (vma->vm_start < start) {
		err = vma_split(vma, start, /* new_below = */ true);
		if (err) {
			vmg->err = err;
			return NULL;
		}
	}
	if (vma->vm_end > end) {
		err = vma_split(vma, end, /* new_below = */ false);
		if (err) {
			vmg->err = err; /* the first split stays (host-kernel.md) */
			return NULL;
		}
	}
	vma_apply_attrs(vma, vmg);
	return vma;
}

int vma_modify_flags(struct avm_vma *vma, unsigned long start, unsigned long end,
		     unsigned long flags, struct avm_vma **out)
{
	return vma_modify_flags_name(vma, start, end, flags, vma->anon_name, out);
}

int vma_modify_flags_name(struct avm_vma *vma, unsigned long start, unsigned long end,
			  unsigned long flags, struct avm_anon_name *name, struct avm_vma **out)
{
	struct avm_vma_merge vmg;
	struct avm_vma *res;

	vmg_init_vma(&vmg, vma, start, end);
	vmg.flags = flags;
	vmg.anon_name = name;
	res = vma_modify(&vmg);
	if (!res)
		return vmg.err;
	*out = res;
	return 0;
}

int vma_modify_uffd(struct avm_mm *mm, unsigned long start, unsigned long end,
		    unsigned long uffd_flags, struct avm_uffd *ctx)
{
	struct avm_vma *vma, *res;

	for (vma = vma_find(mm, start); vma && vma->vm_start < end; vma = vma_next(res)) {
		struct avm_vma_merge vmg;
		unsigned long s = avm_max(start, vma->vm_start), e = avm_min(end, vma->vm_end);

		res = vma;
		if (ctx ? vma->uffd_ctx == ctx && (vma->vm_flags & uffd_flags) == uffd_flags
			: !vma->uffd_ctx)
			continue; /* already in the requested state */
		vmg_init_vma(&vmg, vma, s, e);
		vmg.flags = (vma->vm_flags & ~AVM_VM_UFFD_FLAGS) | uffd_flags;
		vmg.uffd_ctx = ctx;
		/* userfaultfd_clear_vma(): a whole-VMA unregister never fails. */
		vmg.give_up_on_oom = !ctx && s == vma->vm_start && e == vma->vm_end;
		res = vma_modify(&vmg);
		if (!res)
			return vmg.err;
	}
	return 0;
}

struct avm_vma *vma_merge_extend(struct avm_vma *vma, unsigned long delta)
{
	struct avm_vma_merge vmg;

	vmg_init_vma(&vmg, vma, vma->vm_end, vma->vm_end + delta);
	vmg.prev = vma;
	vmg.middle = NULL; /* the VMA only supplies the proposal */
	vmg.next = vma_next(vma);
	return vma_merge_new_range(&vmg);
}

struct avm_vma *vma_copy(struct avm_vma **vmap, unsigned long addr, unsigned long len,
			 unsigned long pgoff, bool keep_source)
{
	struct avm_vma *vma = *vmap, *new_vma;
	struct avm_mm *mm = vma->vm_mm;
	unsigned long vma_start = vma->vm_start;
	bool faulted = true;
	struct avm_vma_merge vmg;

	/* R7.11: an unfaulted anonymous source takes the destination's pgoff. */
	if (vma_is_anonymous(vma) && !vma->anon_vma) {
		pgoff = addr >> AVM_PAGE_SHIFT;
		faulted = false;
	}
	vmg_init_vma(&vmg, vma, addr, addr + len);
	vmg.middle = NULL;
	vmg.copied_from = vma; /* R4.20 */
	vmg.pgoff = pgoff;
	vmg.next = vma_find(mm, addr);
	if (vmg.next && vmg.next->vm_start < addr + len)
		return NULL; /* the destination must be free */
	vmg.prev = vmg.next ? vma_prev(vmg.next) : vma_last(mm);
	/*
	 * R4.21 as the host (6.18.44) does it: copy_vma() has no keep_source
	 * logic, so a DONTUNMAP copy of an unfaulted VMA (pgoff reset above)
	 * may merge with the source VMA itself, which is then redirected
	 * below like any absorbed source.
	 */
	(void)keep_source;
	new_vma = vma_merge_new_range(&vmg);
	if (new_vma) {
		/* Only an unfaulted source (pgoff reset) can be absorbed. */
		if (vma_start >= new_vma->vm_start && vma_start < new_vma->vm_end) {
			AVM_ASSERT(!faulted);
			(void)faulted;
			*vmap = new_vma;
		}
		return new_vma;
	}
	new_vma = vma_dup(vma);
	if (!new_vma)
		return NULL;
	new_vma->vm_start = addr;
	new_vma->vm_end = addr + len;
	new_vma->vm_pgoff = pgoff;
	if (anon_vma_clone(new_vma, vma)) {
		new_vma->anon_vma = NULL;
		vma_free(new_vma);
		return NULL;
	}
	vma_link(mm, new_vma);
	return new_vma;
}

/* ---- munmap (R6.12-R6.15) ---------------------------------------------------- */

int vma_munmap_range(struct avm_mm *mm, unsigned long start, unsigned long end)
{
	struct avm_vma *vma = vma_find_intersection(mm, start, end), *v, *next;
	int err;

	if (!vma)
		return 0;
	if (start > vma->vm_start) {
		/* R5.4: only a split on both sides of one VMA is limited. */
		if (end < vma->vm_end && mm->map_count >= mm->w->cfg.max_map_count)
			return -ENOMEM;
		err = vma_split_nolimit(vma, start, /* new_below = */ true);
		if (err)
			return err;
	}
	for (v = vma; v && v->vm_start < end; v = vma_next(v)) {
		if (v->vm_end > end) {
			err = vma_split_nolimit(v, end, /* new_below = */ false);
			if (err)
				return err; /* the start split stays, as in the kernel */
		}
	}
	/* unmap_region(): zap every page first, then the VMAs go. */
	for (v = vma; v && v->vm_start < end; v = vma_next(v))
		zap_range(v, v->vm_start, v->vm_end, /* zap_guards = */ true);
	for (v = vma; v && v->vm_start < end; v = next) {
		next = vma_next(v);
		vma_stat_account(mm, v->vm_flags, -(long)vma_pages(v));
		if (v->vm_flags & AVM_VM_LOCKED)
			mm->locked_vm -= vma_pages(v);
		vma_unlink(mm, v);
		anon_vma_unlink(v); /* free_pgtables() does it, R3.13 */
		vma_free(v);
	}
	free_pgtables(mm, start, end);
	return 0;
}
