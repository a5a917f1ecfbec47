/*
 * pgtable.c - radix trees keyed by page number: the page tables of an mm
 * (key = vaddr >> 12, value = PTE) and the page cache of a shmem object
 * (key = pgoff, value = pfn).  See page.h for the interface.
 *
 * Shape: every level consumes `bits` key bits, so a tree has
 * levels = ceil(RADIX_KEY_BITS / bits) levels.  With bits = 9 this is the
 * x86-64 4-level layout (PGD/PUD/PMD/PTE, 512 entries of 8 bytes = one
 * 4 KiB table page each); hard mode uses tiny levels (2 bits, 18 levels)
 * so that multi-level paths, empty interior nodes and pruning run on small
 * inputs.  The top level may be only partly used when bits does not divide
 * 36 (keys never exceed 36 bits).
 *
 *   level 0 (root)  ->  ...  ->  level levels-1 (leaf: uint64_t values)
 *   interior node: 2^bits child pointers, NULL = absent subtree
 *   leaf node:     2^bits values, 0 = empty
 *
 * Every node is one counted allocation (avm_zalloc, so fault injection
 * reaches table allocation the way a failing pte_alloc() does), counted in
 * r->nodes and in w->stats.pt_pages_alloc / pt_pages_free.
 */
#include "internal.h"

static inline size_t node_bytes(const struct avm_radix *r)
{
	/* Interior nodes hold pointers, leaves hold uint64_t: same size here. */
	return sizeof(uint64_t) << r->bits;
}

static inline unsigned int level_shift(const struct avm_radix *r, unsigned int level)
{
	return (unsigned int)(r->levels - 1 - level) * r->bits;
}

static inline unsigned long level_index(const struct avm_radix *r, unsigned int level,
					unsigned long key)
{
	return (key >> level_shift(r, level)) & ((1UL << r->bits) - 1);
}

void radix_init(struct avm_radix *r, unsigned int bits)
{
	AVM_ASSERT(bits >= 1 && bits <= 9);
	r->root = NULL;
	r->last_leaf = NULL;
	r->bits = (uint8_t)bits;
	r->levels = (uint8_t)((RADIX_KEY_BITS + bits - 1) / bits);
	r->nodes = 0;
}

static void *node_alloc(struct avm_world *w, struct avm_radix *r)
{
	void *n = avm_zalloc(w, node_bytes(r));

	if (n) {
		r->nodes++;
		w->stats.pt_pages_alloc++;
	}
	return n;
}

static void node_free(struct avm_world *w, struct avm_radix *r, void *n)
{
	AVM_ASSERT(r->nodes > 0);
	r->last_leaf = NULL;
	r->nodes--;
	w->stats.pt_pages_free++;
	avm_free(w, n, node_bytes(r));
}

uint64_t *radix_lookup(const struct avm_radix *r, unsigned long key)
{
	void *n = r->root;

	AVM_ASSERT_INTERNAL(key >> RADIX_KEY_BITS == 0);
	if (r->last_leaf && r->last_leaf_nr == key >> r->bits)
		return &r->last_leaf[key & ((1UL << r->bits) - 1)];
	for (unsigned int l = 0; l + 1 < r->levels; l++) {
		if (!n)
			return NULL;
		n = ((void **)n)[level_index(r, l, key)];
	}
	if (!n)
		return NULL;
	return &((uint64_t *)n)[level_index(r, r->levels - 1, key)];
}

/*
 * The slot of @key, allocating tables on the way; the last-leaf cache
 * answers keys of the leaf reached last without a walk.  Returns: the
 * slot, or NULL on -ENOMEM.  Tables allocated before a failure stay
 * (empty); free_pgtables() reclaims them later, as the kernel keeps a PMD
 * table whose PTE-table allocation failed.
 */
static inline uint64_t *slot_alloc(struct avm_world *w, struct avm_radix *r, unsigned long key)
{
	void **parent = &r->root;

	AVM_ASSERT(key >> RADIX_KEY_BITS == 0);
	if (r->last_leaf && r->last_leaf_nr == key >> r->bits)
		return &r->last_leaf[key & ((1UL << r->bits) - 1)];
	for (unsigned int l = 0; l < r->levels; l++) {
		if (!*parent) {
			*parent = node_alloc(w, r);
			if (!*parent)
				return NULL;
		}
		if (l + 1 == r->levels)
			break;
		parent = &((void **)*parent)[level_index(r, l, key)];
	}
	r->last_leaf = *parent;
	r->last_leaf_nr = key >> r->bits;
	return &((uint64_t *)*parent)[level_index(r, r->levels - 1, key)];
}

uint64_t *radix_slot(struct avm_world *w, struct avm_radix *r, unsigned long key)
{
	return slot_alloc(w, r, key);
}

/* pte_alloc() + pte_offset_map(): a leaf's slots from @key on. */
uint64_t *radix_leaf_slots(struct avm_world *w, struct avm_radix *r, unsigned long key,
			   unsigned long *room)
{
	*room = (1UL << r->bits) - (key & ((1UL << r->bits) - 1));
	return slot_alloc(w, r, key);
}

/* Child index range of a node covering [base, base + span) cut to [first, last]. */
static void child_range(unsigned long base, unsigned int shift, unsigned int bits,
			unsigned long first, unsigned long last, unsigned long *lo,
			unsigned long *hi)
{
	unsigned long fanout = 1UL << bits;

	*lo = first > base ? (first - base) >> shift : 0;
	*hi = (last - base) >> shift;
	if (*hi >= fanout)
		*hi = fanout - 1;
}

static int walk_node(struct avm_radix *r, void *node, unsigned int level, unsigned long base,
		     unsigned long first, unsigned long last, radix_fn fn, void *arg)
{
	unsigned int shift = level_shift(r, level);
	unsigned long lo, hi;

	child_range(base, shift, r->bits, first, last, &lo, &hi);
	if (level + 1 == r->levels) {
		uint64_t *v = node;
		for (unsigned long i = lo; i <= hi; i++) {
			if (!v[i])
				continue;
			int ret = fn(base + i, &v[i], arg);
			if (ret)
				return ret;
		}
		return 0;
	}
	for (unsigned long i = lo; i <= hi; i++) {
		/* Re-read the child each time: @fn may allocate elsewhere in the tree. */
		void *child = ((void **)node)[i];
		if (!child)
			continue;
		int ret = walk_node(r, child, level + 1, base + (i << shift), first, last, fn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int radix_walk(struct avm_radix *r, unsigned long first, unsigned long last, radix_fn fn,
	       void *arg)
{
	if (!r->root || first > last)
		return 0;
	if (last >> RADIX_KEY_BITS)
		last = (1UL << RADIX_KEY_BITS) - 1;
	if (first > last)
		return 0;
	return walk_node(r, r->root, 0, 0, first, last, fn, arg);
}

/* ---- leaf by leaf (zap, fork copy, mremap PTE moves) ------------------ */

struct leaf_walk {
	struct avm_radix *r;
	unsigned long first, last;
	radix_leaf_fn fn;
	void *arg;
};

/*
 * @node is at level @level (not a leaf) and covers keys from @base.  Its
 * children are re-read one by one: @fn may allocate elsewhere in the tree.
 */
static int leaf_walk_node(const struct leaf_walk *lw, void **node, unsigned int level,
			  unsigned long base)
{
	struct avm_radix *r = lw->r;
	unsigned int shift = level_shift(r, level);
	unsigned long lo, hi;

	child_range(base, shift, r->bits, lw->first, lw->last, &lo, &hi);
	for (unsigned long i = lo; i <= hi; i++) {
		void *child = node[i];
		unsigned long cbase = base + (i << shift);
		int ret;

		if (!child)
			continue;
		if (level + 2 == r->levels) {
			/* @child is a leaf covering [cbase, cbase + 2^bits). */
			unsigned long from = avm_max(cbase, lw->first);
			unsigned long to = avm_min(cbase + ((1UL << r->bits) - 1), lw->last);

			ret = lw->fn(from, &((uint64_t *)child)[from - cbase], to - from + 1,
				     lw->arg);
		} else {
			ret = leaf_walk_node(lw, child, level + 1, cbase);
		}
		if (ret)
			return ret;
	}
	return 0;
}

int radix_walk_leaves(struct avm_radix *r, unsigned long first, unsigned long last,
		      radix_leaf_fn fn, void *arg)
{
	struct leaf_walk lw = { .r = r, .first = first, .last = last, .fn = fn, .arg = arg };

	if (!r->root || first > last)
		return 0;
	if (last >> RADIX_KEY_BITS)
		lw.last = last = (1UL << RADIX_KEY_BITS) - 1;
	if (first > last)
		return 0;
	AVM_ASSERT_INTERNAL(r->levels >= 2);
	return leaf_walk_node(&lw, r->root, 0, 0);
}

/* ---- moving whole tables (mremap, R7.13) ------------------------------ */

struct move_ctx {
	struct avm_world *w;
	struct avm_radix *r;
	unsigned long first, last; /* source keys */
	unsigned long delta;       /* destination key - source key (mod 2^64) */
	unsigned int whole_from;   /* lowest level number whose nodes may move whole */
	radix_leaf_fn fn;
	void *arg;
	unsigned long *stop_key;
};

/*
 * The slot at @level (>= 1) that holds the node covering @key: a slot in
 * the level - 1 node, allocating the levels above as radix_slot() does.
 * Returns: the slot, or NULL on -ENOMEM.
 */
static void **node_slot(struct avm_world *w, struct avm_radix *r, unsigned long key,
			unsigned int level)
{
	void **parent = &r->root;

	AVM_ASSERT_INTERNAL(level >= 1 && level < r->levels);
	for (unsigned int l = 0; l < level; l++) {
		if (!*parent) {
			*parent = node_alloc(w, r);
			if (!*parent)
				return NULL;
		}
		parent = &((void **)*parent)[level_index(r, l, key)];
	}
	return parent;
}

static int move_node(struct move_ctx *m, void *node, unsigned int level, unsigned long base)
{
	struct avm_radix *r = m->r;
	unsigned int shift = level_shift(r, level);
	unsigned long lo, hi, span = 1UL << shift; /* keys under one child */

	child_range(base, shift, r->bits, m->first, m->last, &lo, &hi);
	if (level + 1 == r->levels)
		return m->fn(base + lo, &((uint64_t *)node)[lo], hi - lo + 1, m->arg);
	for (unsigned long i = lo; i <= hi; i++) {
		void *child = ((void **)node)[i];
		unsigned long cbase = base + (i << shift);
		int ret;

		if (!child)
			continue;
		/*
		 * move_normal_pmd() / move_normal_pud(): the child's whole key
		 * span is in the range and starts a span of the same level on
		 * the other side, whose slot is empty: move the table itself.
		 * An established destination table means entry by entry.
		 */
		if (level + 1 >= m->whole_from && cbase >= m->first && cbase + (span - 1) <= m->last &&
		    ((cbase + m->delta) & (span - 1)) == 0) {
			void **dst = node_slot(m->w, r, cbase + m->delta, level + 1);
			if (!dst) {
				*m->stop_key = cbase;
				return -ENOMEM;
			}
			if (!*dst) {
				*dst = child;
				((void **)node)[i] = NULL;
				/* The cached leaf may be this table, now under other keys. */
				r->last_leaf = NULL;
				continue;
			}
		}
		ret = move_node(m, child, level + 1, cbase);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Context: [first, last] and its image under +delta are disjoint.  Source
 * tables emptied by the move stay (a later move back needs no allocation);
 * free_pgtables() frees them when the source range is unmapped.
 */
int radix_move(struct avm_world *w, struct avm_radix *r, unsigned long first, unsigned long last,
	       unsigned long new_first, unsigned int whole_levels, radix_leaf_fn fn, void *arg,
	       unsigned long *stop_key)
{
	struct move_ctx m = {
		.w = w, .r = r, .first = first, .last = last, .delta = new_first - first,
		.whole_from = whole_levels >= r->levels ? 1 : r->levels - whole_levels,
		.fn = fn, .arg = arg, .stop_key = stop_key,
	};

	AVM_ASSERT(last >> RADIX_KEY_BITS == 0 && (new_first + (last - first)) >> RADIX_KEY_BITS == 0);
	if (!r->root || first > last)
		return 0;
	if (!whole_levels)
		m.whole_from = r->levels; /* no level qualifies: value by value */
	return move_node(&m, r->root, 0, 0);
}

static bool node_empty(const struct avm_radix *r, const void *node)
{
	const uint64_t *v = node; /* NULL pointers and 0 values are both all-zero */
	unsigned long i = 0, n = 1UL << r->bits;

	/* Emptied leaves are scanned whole: eight slots at a time. */
	for (; i + 8 <= n; i += 8)
		if (v[i] | v[i + 1] | v[i + 2] | v[i + 3] | v[i + 4] | v[i + 5] | v[i + 6] | v[i + 7])
			return false;
	for (; i < n; i++)
		if (v[i])
			return false;
	return true;
}

/* Returns true when @node was freed (the caller clears its pointer). */
static bool prune_node(struct avm_world *w, struct avm_radix *r, void *node, unsigned int level,
		       unsigned long base, unsigned long first, unsigned long last)
{
	if (level + 1 < r->levels) {
		unsigned int shift = level_shift(r, level);
		unsigned long lo, hi;

		child_range(base, shift, r->bits, first, last, &lo, &hi);
		for (unsigned long i = lo; i <= hi; i++) {
			void **slot = &((void **)node)[i];
			if (*slot && prune_node(w, r, *slot, level + 1, base + (i << shift), first,
						last))
				*slot = NULL;
		}
	}
	if (!node_empty(r, node))
		return false;
	node_free(w, r, node);
	return true;
}

/*
 * Free every table overlapping [first, last] that maps nothing, bottom-up,
 * so interior tables emptied by freeing their children go too.  A table
 * reaching outside the range is freed only when it is wholly empty, so no
 * value outside the range is ever lost.
 */
void radix_prune(struct avm_world *w, struct avm_radix *r, unsigned long first,
		 unsigned long last)
{
	if (!r->root || first > last)
		return;
	if (last >> RADIX_KEY_BITS)
		last = (1UL << RADIX_KEY_BITS) - 1;
	if (first > last)
		return;
	if (prune_node(w, r, r->root, 0, 0, first, last))
		r->root = NULL;
}

static void destroy_node(struct avm_world *w, struct avm_radix *r, void *node, unsigned int level)
{
	if (level + 1 < r->levels) {
		for (unsigned long i = 0; i < (1UL << r->bits); i++) {
			void *child = ((void **)node)[i];
			if (child)
				destroy_node(w, r, child, level + 1);
		}
	}
	node_free(w, r, node);
}

void radix_destroy(struct avm_world *w, struct avm_radix *r)
{
	if (r->root)
		destroy_node(w, r, r->root, 0);
	r->root = NULL;
	AVM_ASSERT(r->nodes == 0);
}
