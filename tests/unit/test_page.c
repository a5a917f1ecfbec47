/*
 * test_page.c - radix page tables (pgtable.c) and frames (frame.c).
 */
#include "test.h"

struct collect {
	unsigned long keys[64];
	int n;
	unsigned long clear_key; /* clear the slot of this key while walking */
};

static int collect_fn(unsigned long key, uint64_t *slot, void *arg)
{
	struct collect *c = arg;

	if (c->n < (int)ARRAY_SIZE(c->keys))
		c->keys[c->n++] = key;
	if (key == c->clear_key)
		*slot = 0;
	return 0;
}

static int stop_fn(unsigned long key, uint64_t *slot, void *arg)
{
	(void)slot;
	(void)arg;
	return key >= 100 ? 7 : 0;
}

/* Walks visit values in key order, only inside [first, last], at every level width. */
TEST(test_pgtable_walk_in_order_all_bits)
{
	static const unsigned long keys[] = { 0, 1, 3, 100, 511, 512, 4096, 123456789,
					      (1UL << RADIX_KEY_BITS) - 1 };
	for (unsigned int bits = 1; bits <= 9; bits++) {
		struct avm_world *w = test_world();
		struct avm_radix r;

		ASSERT_TRUE(w != NULL);
		radix_init(&r, bits);
		ASSERT_EQ(r.levels, (RADIX_KEY_BITS + bits - 1) / bits);
		/* insert in reverse to show order comes from the tree */
		for (int i = (int)ARRAY_SIZE(keys) - 1; i >= 0; i--) {
			uint64_t *s = radix_slot(w, &r, keys[i]);
			ASSERT_TRUE(s != NULL);
			*s = keys[i] + 1;
		}
		for (unsigned int i = 0; i < ARRAY_SIZE(keys); i++) {
			uint64_t *s = radix_lookup(&r, keys[i]);
			ASSERT_TRUE(s != NULL);
			ASSERT_EQ(*s, keys[i] + 1);
		}
		ASSERT_TRUE(radix_lookup(&r, 77777) == NULL || *radix_lookup(&r, 77777) == 0);

		struct collect c = { .n = 0, .clear_key = 511 };
		ASSERT_OK(radix_walk(&r, 0, (1UL << RADIX_KEY_BITS) - 1, collect_fn, &c));
		ASSERT_EQ(c.n, (int)ARRAY_SIZE(keys));
		for (int i = 0; i < c.n; i++)
			ASSERT_EQ(c.keys[i], keys[i]);
		/* the callback cleared key 511 */
		ASSERT_EQ(*radix_lookup(&r, 511), 0);

		c = (struct collect){ .n = 0, .clear_key = ~0UL };
		ASSERT_OK(radix_walk(&r, 2, 4096, collect_fn, &c));
		ASSERT_EQ(c.n, 4); /* 3, 100, 512, 4096 */
		ASSERT_EQ(c.keys[0], 3);
		ASSERT_EQ(c.keys[3], 4096);
		/* a non-zero return stops the walk and is passed on */
		ASSERT_EQ(radix_walk(&r, 0, ~0UL, stop_fn, NULL), 7);

		unsigned long nodes = r.nodes;
		ASSERT_TRUE(nodes > 0);
		ASSERT_EQ(w->stats.pt_pages_alloc, nodes);
		radix_destroy(w, &r);
		ASSERT_EQ(r.nodes, 0);
		ASSERT_EQ(w->stats.pt_pages_free, nodes);
		avm_world_free(w);
	}
	return true;
}

struct leaf_runs {
	unsigned long calls, slots, nonzero, next_key;
	unsigned long stop_at; /* return 5 from the call whose run holds this key */
	unsigned int bits;
	bool ok;
};

static int leaf_run_fn(unsigned long key, uint64_t *slots, unsigned long n, void *arg)
{
	struct leaf_runs *lr = arg;
	unsigned long leaf = 1UL << lr->bits;

	/* One leaf per call, in key order, slots[i] the slot of key + i. */
	if (n == 0 || key / leaf != (key + n - 1) / leaf || key < lr->next_key)
		lr->ok = false;
	lr->next_key = key + n;
	for (unsigned long i = 0; i < n; i++) {
		if (slots[i] && slots[i] != key + i + 1)
			lr->ok = false;
		lr->nonzero += slots[i] != 0;
	}
	lr->calls++;
	lr->slots += n;
	return lr->stop_at >= key && lr->stop_at < key + n ? 5 : 0;
}

/*
 * radix_walk_leaves(): one call per existing leaf in range, cut to the
 * range, zero slots included, absent subtrees skipped; radix_leaf_slots():
 * the slots to the end of the leaf, allocated once, cached.
 */
TEST(test_pgtable_walk_leaves_and_leaf_slots_all_bits)
{
	for (unsigned int bits = 1; bits <= 9; bits++) {
		struct avm_world *w = test_world();
		struct avm_radix r;
		unsigned long leaf = 1UL << bits, room, nodes;
		unsigned long a = 3 * leaf + 1, b = 7 * leaf + 2, far = 1UL << 33;
		uint64_t *s;

		radix_init(&r, bits);
		s = radix_leaf_slots(w, &r, a, &room);
		ASSERT_TRUE(s != NULL);
		ASSERT_EQ(room, leaf - 1);
		for (unsigned long i = 0; i < room; i++)
			s[i] = a + i + 1;
		ASSERT_EQ(*radix_lookup(&r, 4 * leaf - 1), 4 * leaf);
		nodes = r.nodes;
		ASSERT_TRUE(radix_leaf_slots(w, &r, 3 * leaf, &room) == s - 1);
		ASSERT_EQ(room, leaf);
		ASSERT_EQ(r.nodes, nodes);
		*radix_slot(w, &r, b) = b + 1;
		*radix_slot(w, &r, far) = far + 1;

		struct leaf_runs lr = { .stop_at = ~0UL, .bits = bits, .ok = true };
		ASSERT_OK(radix_walk_leaves(&r, a, far, leaf_run_fn, &lr));
		ASSERT_TRUE(lr.ok);
		ASSERT_EQ(lr.calls, 3);
		ASSERT_EQ(lr.slots, (leaf - 1) + leaf + 1);
		ASSERT_EQ(lr.nonzero, (leaf - 1) + 1 + 1);
		lr = (struct leaf_runs){ .stop_at = b, .bits = bits, .ok = true };
		ASSERT_EQ(radix_walk_leaves(&r, 0, ~0UL, leaf_run_fn, &lr), 5);
		ASSERT_EQ(lr.calls, 2);
		lr = (struct leaf_runs){ .stop_at = ~0UL, .bits = bits, .ok = true };
		ASSERT_OK(radix_walk_leaves(&r, b + 1, b + 1, leaf_run_fn, &lr));
		ASSERT_EQ(lr.calls, 1);
		ASSERT_EQ(lr.slots, 1);
		ASSERT_EQ(lr.nonzero, 0);

		/* Injected failure: NULL, the tables above the leaf stay. */
		avm_fault_inject(w, 1);
		ASSERT_TRUE(radix_leaf_slots(w, &r, far + (1UL << 20), &room) == NULL);
		avm_fault_inject(w, 0);
		ASSERT_TRUE(radix_lookup(&r, far + (1UL << 20)) == NULL);
		radix_destroy(w, &r);
		avm_world_free(w);
	}
	return true;
}

/* free_pgtables(): prune frees empty tables in range, interior ones too, keeps used ones. */
TEST(test_pgtable_prune_frees_empty_tables)
{
	for (unsigned int bits = 2; bits <= 9; bits += 7) {
		struct avm_world *w = test_world();
		struct avm_radix r;

		radix_init(&r, bits);
		*radix_slot(w, &r, 1000) = 5;
		unsigned long one = r.nodes; /* a single path: one node per level */
		ASSERT_EQ(one, r.levels);
		*radix_slot(w, &r, 1UL << 30) = 6;
		ASSERT_TRUE(r.nodes > one);

		/* nothing empty in range: nothing freed */
		radix_prune(w, &r, 0, 2000);
		ASSERT_TRUE(r.nodes > one);
		unsigned long before = r.nodes;

		/* clear 1<<30: its private path goes, the shared root stays */
		*radix_lookup(&r, 1UL << 30) = 0;
		radix_prune(w, &r, 1UL << 30, 1UL << 30);
		ASSERT_EQ(r.nodes, one);
		ASSERT_EQ(w->stats.pt_pages_free, before - one);
		ASSERT_EQ(*radix_lookup(&r, 1000), 5);

		/* a range that only touches an empty table reaching outside it */
		*radix_lookup(&r, 1000) = 0;
		radix_prune(w, &r, 1001, 1001);
		ASSERT_EQ(r.nodes, 0);
		ASSERT_TRUE(r.root == NULL);
		ASSERT_TRUE(radix_lookup(&r, 1000) == NULL);
		radix_destroy(w, &r);
		avm_world_free(w);
	}
	return true;
}

/* Table allocation goes through the fault-injectable allocator (STYLE 13). */
TEST(test_pgtable_slot_enomem_on_injected_failure)
{
	struct avm_world *w = test_world();
	struct avm_radix r;

	radix_init(&r, 9);
	avm_fault_inject(w, 2); /* root succeeds, the second level fails */
	ASSERT_TRUE(radix_slot(w, &r, 42) == NULL);
	ASSERT_EQ(r.nodes, 1);
	ASSERT_TRUE(radix_lookup(&r, 42) == NULL);
	ASSERT_TRUE(radix_slot(w, &r, 42) != NULL);
	radix_destroy(w, &r);
	avm_world_free(w);
	return true;
}

/* pfn 0 is the zero page; frames are recycled; the limit gives -ENOMEM. */
TEST(test_frame_alloc_free_limit_and_zero_page)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.max_frames = 2;
	struct avm_world *w = avm_world_new(&cfg);
	unsigned long a, b, c;

	ASSERT_TRUE(w != NULL);
	ASSERT_TRUE(frame(w, 0)->flags & FRAME_ZERO);
	ASSERT_OK(frame_alloc(w, &a));
	ASSERT_OK(frame_alloc(w, &b));
	ASSERT_NE(a, 0);
	ASSERT_NE(a, b);
	ASSERT_EQ(frame(w, a)->refcount, 1);
	ASSERT_EQ(frame(w, a)->mapcount, 0);
	ASSERT_EQ(avm_frames_used(w), 2);
	ASSERT_EQ(frame_alloc(w, &c), -ENOMEM);
	frame_set_content(frame(w, a), 99);
	frame_get(w, a);
	frame_put(w, a);
	ASSERT_EQ(avm_frames_used(w), 2);
	frame_put(w, a);
	ASSERT_EQ(avm_frames_used(w), 1);
	ASSERT_EQ(frame(w, a)->refcount, 0);
	ASSERT_OK(frame_alloc(w, &c));
	ASSERT_EQ(c, a);                    /* LIFO reuse */
	ASSERT_EQ(frame_content(frame(w, c)), 0); /* fresh frames read 0 */
	frame_put(w, 0);                    /* the zero page is never freed */
	ASSERT_TRUE(frame(w, 0)->flags & FRAME_ZERO);
	frame_put(w, b);
	frame_put(w, c);
	ASSERT_EQ(w->stats.frames_alloc, 3);
	ASSERT_EQ(w->stats.frames_free, 3);
	/* injected failures reach frames too */
	avm_fault_inject(w, 1);
	ASSERT_EQ(frame_alloc(w, &c), -ENOMEM);
	avm_world_free(w);
	return true;
}

/* The frame table grows by chunks; earlier frame pointers stay valid. */
TEST(test_frame_table_grows_by_chunks)
{
	struct avm_world *w = test_world();
	unsigned long n = FRAME_CHUNK * 2 + 5, pfn = 0;

	struct avm_frame *first = NULL;
	for (unsigned long i = 0; i < n; i++) {
		ASSERT_OK(frame_alloc(w, &pfn));
		if (i == 0)
			first = frame(w, pfn);
	}
	ASSERT_EQ(pfn, n);
	ASSERT_EQ(w->nr_chunks, 3);
	ASSERT_TRUE(first == frame(w, 1));
	for (unsigned long p = 1; p <= n; p++)
		frame_put(w, p);
	ASSERT_EQ(avm_frames_used(w), 0);
	avm_world_free(w);
	return true;
}

/*
 * folio->mapping and folio->index share one word (R1.10, R1.11): setting
 * one never disturbs the other, at the widths the packing promises.
 */
TEST(test_frame_mapping_index_packing)
{
	struct avm_world *w = test_world();
	unsigned long big = (AVM_TASK_SIZE >> AVM_PAGE_SHIFT) * 2 - 1; /* pgoff + offset */
	unsigned long pfn;

	ASSERT_OK(frame_alloc(w, &pfn));
	struct avm_frame *f = frame(w, pfn);
	ASSERT_TRUE(big <= FRAME_INDEX_MASK);
	frame_set_index(f, big);
	frame_set_mapping(f, (uint32_t)FRAME_MAPPING_MAX);
	frame_set_content(f, ~0ULL);
	ASSERT_EQ(frame_index(f), big);
	ASSERT_EQ(frame_mapping_handle(f), FRAME_MAPPING_MAX);
	frame_set_index(f, 7);
	ASSERT_EQ(frame_mapping_handle(f), FRAME_MAPPING_MAX);
	frame_set_mapping(f, 0);
	ASSERT_EQ(frame_index(f), 7);
	ASSERT_EQ(frame_mapping_handle(f), 0);
	ASSERT_EQ(frame_content(f), ~0ULL);
	/* the hot half is untouched by all of that */
	ASSERT_EQ(f->refcount, 1);
	ASSERT_EQ(f->mapcount, 0);
	ASSERT_EQ(f->flags, 0);
	/* a recycled frame starts clean in both halves */
	frame_put(w, pfn);
	ASSERT_OK(frame_alloc(w, &pfn));
	ASSERT_EQ(frame_cold(frame(w, pfn))->mapidx, 0);
	ASSERT_EQ(frame_content(frame(w, pfn)), 0);
	frame_put(w, pfn);
	/* chunks are cache-line aligned: four whole hot halves per line */
	ASSERT_EQ((uintptr_t)frame(w, 0) % 64, 0);
	ASSERT_EQ((uintptr_t)frame_cold(frame(w, 0)) % 64, 0);
	ASSERT_EQ(sizeof(struct avm_frame) + sizeof(struct avm_frame_cold), 32);
	avm_world_free(w);
	return true;
}

/* Handles are recycled, never 0, and their table grows under fault injection safely. */
TEST(test_frame_mapping_handles_recycle_and_enomem)
{
	struct avm_world *w = test_world();
	int objs[200];
	uint32_t h[200];

	for (int i = 0; i < 200; i++) {
		h[i] = mapping_register(w, &objs[i]);
		ASSERT_NE(h[i], 0);
		ASSERT_TRUE(w->mappings[h[i]] == &objs[i]);
	}
	mapping_unregister(w, h[17]);
	ASSERT_TRUE(w->mappings[h[17]] == NULL);
	ASSERT_EQ(mapping_register(w, &objs[0]), h[17]); /* LIFO reuse */
	/* a full table whose growth fails: 0, nothing changed */
	while (w->nr_mappings < w->cap_mappings)
		ASSERT_NE(mapping_register(w, &objs[1]), 0);
	uint32_t n = w->nr_mappings;
	avm_fault_inject(w, 1);
	ASSERT_EQ(mapping_register(w, &objs[2]), 0);
	ASSERT_EQ(w->nr_mappings, n);
	avm_fault_inject(w, 0);
	ASSERT_NE(mapping_register(w, &objs[2]), 0);
	avm_world_free(w);
	return true;
}
