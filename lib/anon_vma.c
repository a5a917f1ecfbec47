/*
 * anon_vma.c - the anon_vma reverse map (spec §3, §11, §18).
 *
 * The picture kernel developers draw:
 *
 *   VMA (parent)  --avc-->  AV0 (root)  <--avc--  VMA (child)
 *                                                   |
 *                                                  avc
 *                                                   v
 *                                                  AV1 (child's own, parent AV0)
 *
 * Every VMA is linked by one anon_vma_chain (AVC) to each anon_vma it may
 * hold pages of: its own plus every ancestor's.  Each anon_vma keeps its
 * AVCs in an interval tree keyed by the VMA's pgoff range, so an rmap walk
 * for a frame filed under anon_vma AV at index i visits exactly the VMAs
 * linked to AV whose range covers i (R11.2).
 *
 * Invariants (checked in validate.c): I6 chains are symmetric (every AVC is
 * on its VMA's list and in its anon_vma's tree, with cached keys equal to
 * the VMA's range); I7 counters: num_active_vmas = VMAs whose anon_vma is
 * this one, num_children = anon_vmas whose parent is this one (a root
 * counts itself while its tree is non-empty), refcount = 1 while the tree
 * is non-empty + 1 per non-root anon_vma of the tree on the root.  I6 may
 * not hold between anon_vma_pre_update_vma() and _post_.
 *
 * Locks are not modelled yet: the model is single-threaded, so the root
 * rwsem dance of the kernel has no observable effect here.
 */
#include "internal.h"

/* ---- the interval tree of AVCs --------------------------------------------- */

static int avc_cmp(const struct avm_tnode *a, const struct avm_tnode *b)
{
	const struct avm_avc *x = container_of(a, struct avm_avc, rb);
	const struct avm_avc *y = container_of(b, struct avm_avc, rb);

	if (x->rb_start != y->rb_start)
		return x->rb_start < y->rb_start ? -1 : 1;
	if (x->rb_seq != y->rb_seq)
		return x->rb_seq < y->rb_seq ? -1 : 1;
	return 0;
}

static void avc_augment(struct avm_tnode *n)
{
	struct avm_avc *avc = container_of(n, struct avm_avc, rb);
	unsigned long last = avc->rb_last;

	if (n->left) {
		unsigned long l = container_of(n->left, struct avm_avc, rb)->rb_subtree_last;
		last = avm_max(last, l);
	}
	if (n->right) {
		unsigned long r = container_of(n->right, struct avm_avc, rb)->rb_subtree_last;
		last = avm_max(last, r);
	}
	avc->rb_subtree_last = last;
}

static const struct avm_tree_ops avc_tree_ops = {
	.cmp = avc_cmp,
	.augment = avc_augment,
};

/* avc_start_pgoff() / avc_last_pgoff() (R1.9) */
static void avc_tree_insert(struct avm_world *w, struct avm_avc *avc)
{
	struct avm_vma *vma = avc->vma;

	avc->rb_start = vma->vm_pgoff;
	avc->rb_last = vma->vm_pgoff + vma_pages(vma) - 1;
	avc->rb_subtree_last = avc->rb_last;
	avc->rb_seq = ++w->next_avc_seq;
	tree_insert(&avc->anon_vma->rb_root, &avc->rb, avm_random(w), &avc_tree_ops);
}

static void avc_tree_remove(struct avm_avc *avc)
{
	tree_erase(&avc->anon_vma->rb_root, &avc->rb, &avc_tree_ops);
}

/* ---- allocation ---------------------------------------------------------------- */

static struct avm_anon_vma *anon_vma_alloc(struct avm_world *w)
{
	struct avm_anon_vma *av = avm_zalloc(w, sizeof(*av));

	if (!av)
		return NULL;
	av->handle = mapping_register(w, av);
	if (!av->handle) {
		avm_free(w, av, sizeof(*av));
		return NULL;
	}
	av->refcount = 1;
	av->root = av->parent = av;
	av->id = w->next_anon_vma_id++;
	list_add_tail(&av->all, &w->anon_vmas);
	w->nr_anon_vmas++;
	w->stats.anon_vma_alloc++;
	return av;
}

static void anon_vma_free(struct avm_world *w, struct avm_anon_vma *av)
{
	AVM_ASSERT(av->rb_root.root == NULL);
	list_del(&av->all);
	mapping_unregister(w, av->handle);
	w->nr_anon_vmas--;
	w->stats.anon_vma_free++;
	avm_free(w, av, sizeof(*av));
}

static struct avm_avc *avc_alloc(struct avm_world *w)
{
	struct avm_avc *avc = avm_zalloc(w, sizeof(*avc));

	if (avc) {
		list_init(&avc->same_vma);
		w->stats.avc_alloc++;
	}
	return avc;
}

static void avc_free(struct avm_world *w, struct avm_avc *avc)
{
	w->stats.avc_free++;
	avm_free(w, avc, sizeof(*avc));
}

void anon_vma_get(struct avm_anon_vma *av)
{
	av->refcount++;
}

/* R3.15: a non-root anon_vma holds a reference on its root, so the root is freed last. */
void anon_vma_put(struct avm_world *w, struct avm_anon_vma *av)
{
	AVM_ASSERT(av->refcount > 0);
	if (--av->refcount)
		return;
	struct avm_anon_vma *root = av->root;

	anon_vma_free(w, av);
	if (root != av)
		anon_vma_put(w, root);
}

unsigned int anon_vma_chain_len(const struct avm_vma *vma)
{
	unsigned int n = 0;
	const struct avm_list *pos;

	list_for_each(pos, &vma->anon_vma_chain)
		n++;
	return n;
}

static void chain_link(struct avm_world *w, struct avm_vma *vma, struct avm_avc *avc,
		       struct avm_anon_vma *av)
{
	avc->vma = vma;
	avc->anon_vma = av;
	list_add(&avc->same_vma, &vma->anon_vma_chain);
	avc_tree_insert(w, avc);
}

/* ---- compatibility (R3.5, R3.6) ------------------------------------------------ */

bool anon_vma_compatible(const struct avm_vma *a, const struct avm_vma *b)
{
	/* VM_ACCESS_FLAGS | VM_IGNORE_MERGE (R3.5; VM_STICKY on this host, R4.4). */
	const unsigned long ignored = AVM_VM_READ | AVM_VM_WRITE | AVM_VM_EXEC | AVM_VM_STICKY;

	return a->vm_end == b->vm_start && a->shmem == b->shmem &&
	       !((a->vm_flags ^ b->vm_flags) & ~ignored) &&
	       b->vm_pgoff == a->vm_pgoff + ((b->vm_start - a->vm_start) >> AVM_PAGE_SHIFT);
}

/* reusable_anon_vma(): @old is the neighbour, (a, b) the pair in address order. */
static struct avm_anon_vma *reusable(const struct avm_vma *old, const struct avm_vma *a,
				     const struct avm_vma *b)
{
	if (anon_vma_compatible(a, b) && old->anon_vma &&
	    list_singular(&old->anon_vma_chain))
		return old->anon_vma;
	return NULL;
}

struct avm_anon_vma *anon_vma_find_mergeable(struct avm_vma *vma)
{
	struct avm_vma *next = vma_next(vma), *prev = vma_prev(vma);
	struct avm_anon_vma *av = NULL;

	/* R3.5: the next VMA first, then the previous one. */
	if (next)
		av = reusable(next, vma, next);
	if (!av && prev)
		av = reusable(prev, prev, vma);
	return av;
}

/* ---- lifecycle -------------------------------------------------------------------- */

int anon_vma_prepare(struct avm_vma *vma)
{
	struct avm_world *w = vma->vm_mm->w;

	if (vma->anon_vma)
		return 0;

	/* R3.3: everything that can fail happens before anything is linked. */
	struct avm_avc *avc = avc_alloc(w);
	if (!avc)
		return -ENOMEM;
	struct avm_anon_vma *av = anon_vma_find_mergeable(vma);
	if (!av) {
		av = anon_vma_alloc(w);
		if (!av) {
			avc_free(w, avc);
			return -ENOMEM;
		}
		av->num_children++; /* a new root is its own parent */
	}
	vma->anon_vma = av;
	chain_link(w, vma, avc, av);
	av->num_active_vmas++;
	return 0;
}

int anon_vma_clone(struct avm_vma *dst, struct avm_vma *src)
{
	struct avm_world *w = src->vm_mm->w;
	struct avm_list *pos;

	/* R3.8: oldest anon_vma first, i.e. the chain walked from its tail. */
	list_for_each_reverse(pos, &src->anon_vma_chain) {
		struct avm_avc *pavc = list_entry(pos, struct avm_avc, same_vma);
		struct avm_anon_vma *av = pavc->anon_vma;
		struct avm_avc *avc = avc_alloc(w);

		if (!avc)
			goto out_unlink;
		chain_link(w, dst, avc, av);
		/*
		 * R3.9: in the fork case reuse the oldest ancestor that no VMA
		 * uses and that has at most one child anon_vma.  A root never
		 * qualifies: it counts itself as a child and has at least one
		 * more or an active VMA.
		 */
		if (!dst->anon_vma && src->anon_vma && av->num_children < 2 &&
		    av->num_active_vmas == 0)
			dst->anon_vma = av;
	}
	if (dst->anon_vma)
		dst->anon_vma->num_active_vmas++;
	return 0;

out_unlink:
	/* R3.10: forget the pointer first so unlink does not miscount it. */
	dst->anon_vma = NULL;
	anon_vma_unlink(dst);
	return -ENOMEM;
}

int anon_vma_fork(struct avm_vma *vma, struct avm_vma *pvma)
{
	struct avm_world *w = pvma->vm_mm->w;

	if (!pvma->anon_vma)
		return 0;
	vma->anon_vma = NULL;
	int err = anon_vma_clone(vma, pvma);
	if (err)
		return err;
	if (vma->anon_vma) {
		w->stats.anon_vma_reused++;
		return 0;
	}

	/* R3.11 step 4: a new anon_vma for the child, below the parent's. */
	struct avm_anon_vma *av = anon_vma_alloc(w);
	if (!av)
		goto out_unlink;
	struct avm_avc *avc = avc_alloc(w);
	if (!avc) {
		anon_vma_put(w, av);
		goto out_unlink;
	}
	av->num_active_vmas = 1;
	av->root = pvma->anon_vma->root;
	av->parent = pvma->anon_vma;
	anon_vma_get(av->root);
	vma->anon_vma = av;
	chain_link(w, vma, avc, av);
	av->parent->num_children++;
	return 0;

out_unlink:
	anon_vma_unlink(vma);
	return -ENOMEM;
}

void anon_vma_unlink(struct avm_vma *vma)
{
	struct avm_world *w = vma->vm_mm->w;
	struct avm_list *pos, *tmp;

	/* R3.14 step 1: newest first; keep the AVCs whose anon_vma emptied. */
	list_for_each_safe(pos, tmp, &vma->anon_vma_chain) {
		struct avm_avc *avc = list_entry(pos, struct avm_avc, same_vma);
		struct avm_anon_vma *av = avc->anon_vma;

		avc_tree_remove(avc);
		if (av->rb_root.root == NULL) {
			av->parent->num_children--;
			continue;
		}
		list_del(&avc->same_vma);
		avc_free(w, avc);
	}
	/* Step 2. */
	if (vma->anon_vma) {
		vma->anon_vma->num_active_vmas--;
		vma->anon_vma = NULL;
	}
	/* Step 3: drop the tree's reference on each emptied anon_vma. */
	list_for_each_safe(pos, tmp, &vma->anon_vma_chain) {
		struct avm_avc *avc = list_entry(pos, struct avm_avc, same_vma);
		struct avm_anon_vma *av = avc->anon_vma;

		AVM_ASSERT_INTERNAL(av->num_children == 0 && av->num_active_vmas == 0);
		list_del(&avc->same_vma);
		avc_free(w, avc);
		anon_vma_put(w, av);
	}
}

int anon_vma_dup(struct avm_vma *dst, struct avm_vma *src)
{
	if (!src->anon_vma || dst->anon_vma)
		return 0;
	dst->anon_vma = src->anon_vma;
	return anon_vma_clone(dst, src);
}

void anon_vma_pre_update_vma(struct avm_vma *vma)
{
	struct avm_list *pos;

	list_for_each(pos, &vma->anon_vma_chain)
		avc_tree_remove(list_entry(pos, struct avm_avc, same_vma));
}

void anon_vma_post_update_vma(struct avm_vma *vma)
{
	struct avm_world *w = vma->vm_mm->w;
	struct avm_list *pos;

	list_for_each(pos, &vma->anon_vma_chain)
		avc_tree_insert(w, list_entry(pos, struct avm_avc, same_vma));
}

/* ---- per-frame rmap ------------------------------------------------------------- */

unsigned long rmap_vma_address(const struct avm_vma *vma, unsigned long pgoff)
{
	/* R2.4 for a single page: it cannot straddle vm_start. */
	if (pgoff < vma->vm_pgoff)
		return (unsigned long)-EFAULT;
	unsigned long off = pgoff - vma->vm_pgoff;
	if (off >= vma_pages(vma))
		return (unsigned long)-EFAULT;
	return vma->vm_start + (off << AVM_PAGE_SHIFT);
}

void rmap_add_new_anon(struct avm_world *w, unsigned long pfn, struct avm_vma *vma,
		       unsigned long addr, bool exclusive)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(vma->anon_vma && f->mapcount == 0 && !(f->flags & (FRAME_ANON | FRAME_SHMEM)));
	/* R18.1: exclusive folios go to the VMA's own anon_vma, others to the root. */
	frame_set_mapping(f, exclusive ? vma->anon_vma->handle : vma->anon_vma->root->handle);
	f->flags |= FRAME_ANON;
	if (!(vma->vm_flags & AVM_VM_DROPPABLE))
		f->flags |= FRAME_SWAPBACKED;
	if (exclusive)
		f->flags |= FRAME_ANON_EXCLUSIVE;
	else
		f->flags &= ~FRAME_ANON_EXCLUSIVE;
	frame_set_index(f, linear_page_index(vma, addr));
	f->mapcount = 1;
}

void rmap_add_anon(struct avm_world *w, unsigned long pfn, struct avm_vma *vma,
		   unsigned long addr, bool exclusive)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(f->flags & FRAME_ANON);
	/* R18.2: same anon_vma tree, and the address R2.4 predicts. */
	AVM_ASSERT_INTERNAL(vma->anon_vma &&
			    ((struct avm_anon_vma *)frame_mapping(w, f))->root ==
				    vma->anon_vma->root);
	AVM_ASSERT_INTERNAL(frame_index(f) == linear_page_index(vma, addr));
	(void)addr;
	f->mapcount++;
	if (exclusive)
		f->flags |= FRAME_ANON_EXCLUSIVE;
	/* __folio_add_anon_rmap() ends with mlock_vma_folio() (R13.2). */
	mlock_vma_frame(w, pfn, vma->vm_flags);
}

void rmap_add_shmem(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(f->flags & FRAME_SHMEM);
	f->mapcount++;
}

int rmap_try_share_anon(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT(f->flags & FRAME_ANON);
	if (frame_maybe_pinned(f))
		return -EBUSY;
	f->flags &= ~FRAME_ANON_EXCLUSIVE;
	return 0;
}

void rmap_move_anon(struct avm_world *w, unsigned long pfn, struct avm_vma *vma)
{
	struct avm_frame *f = frame(w, pfn);

	AVM_ASSERT((f->flags & FRAME_ANON) && vma->anon_vma);
	frame_set_mapping(f, vma->anon_vma->handle);
}

struct avm_anon_vma *rmap_folio_anon_vma(struct avm_world *w, unsigned long pfn)
{
	struct avm_frame *f = frame(w, pfn);

	return (f->flags & FRAME_ANON) ? frame_mapping(w, f) : NULL;
}

uint64_t *rmap_pte_maps(struct avm_vma *vma, unsigned long addr, unsigned long pfn)
{
	uint64_t *p = pt_lookup(vma->vm_mm, addr);

	if (p && pte_present(*p) && !pte_zero(*p) && pte_pfn(*p) == pfn)
		return p;
	return NULL;
}

struct walk_state {
	struct avm_world *w;
	unsigned long pfn, index;
	const struct rmap_walk_control *rwc;
	bool stop;
};

/* In-order over the AVCs whose [rb_start, rb_last] contains index. */
static void walk_subtree(struct avm_tnode *n, struct walk_state *ws)
{
	while (n && !ws->stop) {
		struct avm_avc *avc = container_of(n, struct avm_avc, rb);

		if (avc->rb_subtree_last < ws->index)
			return;
		walk_subtree(n->left, ws);
		if (ws->stop || avc->rb_start > ws->index)
			return;
		if (avc->rb_last >= ws->index) {
			struct avm_vma *vma = avc->vma;
			unsigned long addr = rmap_vma_address(vma, ws->index);

			if (addr != (unsigned long)-EFAULT &&
			    !(ws->rwc->invalid_vma && ws->rwc->invalid_vma(vma, ws->rwc->arg))) {
				ws->w->stats.rmap_walk_visits++;
				if (!ws->rwc->rmap_one(ws->w, ws->pfn, vma, addr, ws->rwc->arg))
					ws->stop = true;
			}
		}
		n = n->right;
	}
}

void rmap_walk(struct avm_world *w, unsigned long pfn, const struct rmap_walk_control *rwc)
{
	struct avm_frame *f = frame(w, pfn);

	/* A frame nobody maps has no stable anon_vma (R11.3). */
	if (!(f->flags & FRAME_ANON) || f->mapcount == 0)
		return;
	struct avm_anon_vma *av = frame_mapping(w, f);
	struct walk_state ws = { w, pfn, frame_index(f), rwc, false };

	w->stats.rmap_walks++;
	walk_subtree(av->rb_root.root, &ws);
}
