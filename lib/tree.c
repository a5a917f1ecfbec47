/*
 * tree.c - an intrusive treap with parent pointers and optional
 * augmentation.
 *
 * Two users: the VMA index of an mm (ordered by vm_start, the role the
 * maple tree plays in the kernel) and the interval tree of an anon_vma
 * (ordered by pgoff, augmented with the largest last pgoff of a subtree,
 * the role of mm/interval_tree.c).  A treap keeps the code short and the
 * expected depth logarithmic; priorities come from the world's seeded PRNG
 * so runs are reproducible.
 *
 * Invariants: in-order traversal follows ops->cmp; a parent's priority is
 * >= its children's; every node's augmented summary is current once a
 * public function returns.
 */
#include "internal.h"

static void augment(struct avm_tnode *n, const struct avm_tree_ops *ops)
{
	if (n && ops->augment)
		ops->augment(n);
}

/* Replace @old by @new as the child of old's parent (or as the root). */
static void replace_child(struct avm_tree *t, struct avm_tnode *parent,
			  struct avm_tnode *old, struct avm_tnode *new)
{
	if (!parent)
		t->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
	if (new)
		new->parent = parent;
}

/*
 *      n             l
 *     / \           / \
 *    l   c   ==>   a   n
 *   / \               / \
 *  a   b             b   c
 */
static void rotate_right(struct avm_tree *t, struct avm_tnode *n,
			 const struct avm_tree_ops *ops)
{
	struct avm_tnode *l = n->left;

	replace_child(t, n->parent, n, l);
	n->left = l->right;
	if (n->left)
		n->left->parent = n;
	l->right = n;
	n->parent = l;
	augment(n, ops);
	augment(l, ops);
}

static void rotate_left(struct avm_tree *t, struct avm_tnode *n,
			const struct avm_tree_ops *ops)
{
	struct avm_tnode *r = n->right;

	replace_child(t, n->parent, n, r);
	n->right = r->left;
	if (n->right)
		n->right->parent = n;
	r->left = n;
	n->parent = r;
	augment(n, ops);
	augment(r, ops);
}

void tree_propagate(struct avm_tnode *n, const struct avm_tree_ops *ops)
{
	if (!ops->augment)
		return;
	for (; n; n = n->parent)
		ops->augment(n);
}

void tree_insert(struct avm_tree *t, struct avm_tnode *n, uint32_t prio,
		 const struct avm_tree_ops *ops)
{
	struct avm_tnode *parent = NULL, **link = &t->root;

	n->left = n->right = NULL;
	n->prio = prio;
	while (*link) {
		parent = *link;
		int c = ops->cmp(n, parent);
		AVM_ASSERT(c != 0);
		link = c < 0 ? &parent->left : &parent->right;
	}
	*link = n;
	n->parent = parent;
	augment(n, ops);
	tree_propagate(parent, ops);

	/* Restore the heap order by rotating n up. */
	while (n->parent && n->parent->prio < n->prio) {
		if (n->parent->left == n)
			rotate_right(t, n->parent, ops);
		else
			rotate_left(t, n->parent, ops);
	}
	t->count++;
}

void tree_erase(struct avm_tree *t, struct avm_tnode *n, const struct avm_tree_ops *ops)
{
	/* Rotate n down until it has at most one child, then splice it out. */
	while (n->left && n->right) {
		if (n->left->prio > n->right->prio)
			rotate_right(t, n, ops);
		else
			rotate_left(t, n, ops);
	}
	struct avm_tnode *child = n->left ? n->left : n->right;
	struct avm_tnode *parent = n->parent;

	replace_child(t, parent, n, child);
	tree_propagate(parent, ops);
	n->left = n->right = n->parent = NULL;
	AVM_ASSERT(t->count > 0);
	t->count--;
}

struct avm_tnode *tree_first(const struct avm_tree *t)
{
	struct avm_tnode *n = t->root;

	while (n && n->left)
		n = n->left;
	return n;
}

struct avm_tnode *tree_last(const struct avm_tree *t)
{
	struct avm_tnode *n = t->root;

	while (n && n->right)
		n = n->right;
	return n;
}

struct avm_tnode *tree_next(const struct avm_tnode *n)
{
	if (n->right) {
		n = n->right;
		while (n->left)
			n = n->left;
		return (struct avm_tnode *)n;
	}
	while (n->parent && n->parent->right == n)
		n = n->parent;
	return n->parent;
}

struct avm_tnode *tree_prev(const struct avm_tnode *n)
{
	if (n->left) {
		n = n->left;
		while (n->right)
			n = n->right;
		return (struct avm_tnode *)n;
	}
	while (n->parent && n->parent->left == n)
		n = n->parent;
	return n->parent;
}
