/*
 * test_tree.c - the treap behind the VMA index and the anon_vma interval
 * tree: order, heap property, parent links and augmentation under random
 * inserts and erases.
 */
#include "test.h"

struct item {
	struct avm_tnode node;
	unsigned long key, last, subtree_max;
};

static int item_cmp(const struct avm_tnode *a, const struct avm_tnode *b)
{
	const struct item *x = container_of(a, struct item, node);
	const struct item *y = container_of(b, struct item, node);

	return x->key < y->key ? -1 : x->key > y->key;
}

static void item_augment(struct avm_tnode *n)
{
	struct item *it = container_of(n, struct item, node);
	unsigned long m = it->last;

	if (n->left)
		m = avm_max(m, container_of(n->left, struct item, node)->subtree_max);
	if (n->right)
		m = avm_max(m, container_of(n->right, struct item, node)->subtree_max);
	it->subtree_max = m;
}

static const struct avm_tree_ops item_ops = { item_cmp, item_augment };

/* Returns the subtree size, or -1 if any property is broken. */
static long check(const struct avm_tnode *n, const struct avm_tnode *parent)
{
	if (!n)
		return 0;
	const struct item *it = container_of(n, struct item, node);
	if (n->parent != parent)
		return -1;
	unsigned long m = it->last;
	for (int side = 0; side < 2; side++) {
		const struct avm_tnode *c = side ? n->right : n->left;
		if (!c)
			continue;
		const struct item *ci = container_of(c, struct item, node);
		if (c->prio > n->prio)
			return -1;
		if (side ? ci->key <= it->key : ci->key >= it->key)
			return -1;
		m = avm_max(m, ci->subtree_max);
	}
	if (m != it->subtree_max)
		return -1;
	long l = check(n->left, n), r = check(n->right, n);
	return (l < 0 || r < 0) ? -1 : l + r + 1;
}

TEST(test_tree_random_insert_erase_keeps_order_heap_and_augment)
{
	enum { N = 2000 };
	static struct item items[N];
	struct avm_tree t = { 0 };
	uint64_t rng = 12345;
	bool in[N] = { false };
	long count = 0;

	for (int i = 0; i < N; i++) {
		items[i].key = (unsigned long)i * 7919 % 100003;
		items[i].last = items[i].key + (unsigned long)(i % 17);
	}
	for (int step = 0; step < 20000; step++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		int i = (int)((rng >> 33) % N);
		if (in[i]) {
			tree_erase(&t, &items[i].node, &item_ops);
			count--;
		} else {
			tree_insert(&t, &items[i].node, (uint32_t)(rng >> 11), &item_ops);
			count++;
		}
		in[i] = !in[i];
		if (step % 997 == 0)
			ASSERT_EQ(check(t.root, NULL), count);
	}
	ASSERT_EQ(check(t.root, NULL), count);
	ASSERT_EQ((long)t.count, count);

	/* In-order walk both ways visits every key once, sorted. */
	long seen = 0;
	unsigned long prev = 0;
	for (struct avm_tnode *n = tree_first(&t); n; n = tree_next(n), seen++) {
		unsigned long k = container_of(n, struct item, node)->key;
		ASSERT_TRUE(seen == 0 || k > prev);
		prev = k;
	}
	ASSERT_EQ(seen, count);
	seen = 0;
	for (struct avm_tnode *n = tree_last(&t); n; n = tree_prev(n))
		seen++;
	ASSERT_EQ(seen, count);
	return true;
}

TEST(test_tree_propagate_after_summary_change)
{
	static struct item items[64];
	struct avm_tree t = { 0 };

	for (int i = 0; i < 64; i++) {
		items[i].key = (unsigned long)i;
		items[i].last = (unsigned long)i;
		tree_insert(&t, &items[i].node, (uint32_t)(i * 2654435761u), &item_ops);
	}
	items[5].last = 1000;
	tree_propagate(&items[5].node, &item_ops);
	ASSERT_EQ(container_of(t.root, struct item, node)->subtree_max, 1000);
	ASSERT_EQ(check(t.root, NULL), 64);
	return true;
}
