/*
 * test_page_move.c - mremap's whole-table moves (R7.13): radix_move() in
 * pgtable.c and move_page_tables() in memory.c.  Every test runs at the
 * world's pt_bits, so `make hard` (2-bit levels: 4-entry leaves) moves
 * many tiny tables and multi-level paths.
 */
#include "test.h"

#define MARK (1ULL << 62) /* set by the value-by-value mover */

struct mover {
	struct avm_world *w;
	struct avm_radix *r;
	unsigned long delta;
	unsigned long calls;
	bool failed;
};

/* What move_leaf does, tagging each value it moves one by one. */
static int move_value(unsigned long key, uint64_t *slots, unsigned long n, void *arg)
{
	struct mover *m = arg;

	for (unsigned long i = 0; i < n; i++) {
		uint64_t *dst;

		if (!slots[i])
			continue;
		dst = radix_slot(m->w, m->r, key + i + m->delta);
		if (!dst) {
			m->failed = true;
			return 1;
		}
		*dst = slots[i] | MARK;
		slots[i] = 0;
		m->calls++;
	}
	return 0;
}

static uint64_t value_at(const struct avm_radix *r, unsigned long key)
{
	uint64_t *s = radix_lookup(r, key);

	return s ? *s : 0;
}

/* Address of the leaf holding @key (NULL if none). */
static const void *leaf_of(const struct avm_radix *r, unsigned long key)
{
	uint64_t *s = radix_lookup(r, key);

	return s ? (const void *)(s - (key & ((1UL << r->bits) - 1))) : NULL;
}

/*
 * R7.13: leaves wholly inside the range move as tables (same node, values
 * untouched), the partial leaves at both ends value by value; counts stay.
 */
TEST(test_r7_13_radix_move_whole_leaves_all_bits)
{
	for (unsigned int bits = 1; bits <= 9; bits++) {
		struct avm_world *w = test_world();
		struct avm_radix r;
		unsigned long leaf = 1UL << bits, stop = 0;
		unsigned long first = 5 * leaf + 1, n = 4 * leaf; /* partial, 3 whole, 1 key */
		unsigned long new_first = (1UL << 30) + 1;            /* same offset in a leaf */
		struct mover m = { .w = w, .r = &r, .delta = new_first - first };
		const void *whole = NULL;
		unsigned long nodes;

		radix_init(&r, bits);
		for (unsigned long k = first; k < first + n; k++)
			*radix_slot(w, &r, k) = 0x1000 + k;
		*radix_slot(w, &r, first - 1) = 7;   /* outside, same leaf as the start */
		*radix_slot(w, &r, first + n) = 8;   /* outside, same leaf as the end */
		whole = leaf_of(&r, 6 * leaf);
		/* Cache a leaf that is about to move (radix_slot fills last_leaf). */
		ASSERT_TRUE(radix_slot(w, &r, 7 * leaf) != NULL);
		ASSERT_TRUE(r.last_leaf != NULL);
		nodes = r.nodes;

		ASSERT_OK(radix_move(w, &r, first, first + n - 1, new_first, 1, move_value, &m,
				     &stop));
		ASSERT_FALSE(m.failed);
		/* Only the partial leaves' values went one by one: leaf - 1 and 1. */
		ASSERT_EQ(m.calls, leaf);
		for (unsigned long k = first; k < first + n; k++) {
			bool in_whole = k >= 6 * leaf && k < 9 * leaf;
			ASSERT_EQ(value_at(&r, k), 0);
			ASSERT_EQ(value_at(&r, k + m.delta), (0x1000 + k) | (in_whole ? 0 : MARK));
		}
		ASSERT_EQ(value_at(&r, first - 1), 7);
		ASSERT_EQ(value_at(&r, first + n), 8);
		/* The very table moved, and no stale cache maps old keys to it. */
		ASSERT_TRUE(leaf_of(&r, 6 * leaf + m.delta) == whole);
		ASSERT_TRUE(radix_lookup(&r, 7 * leaf) == NULL);
		ASSERT_TRUE(radix_slot(w, &r, 7 * leaf) != NULL);
		ASSERT_TRUE(leaf_of(&r, 7 * leaf) != leaf_of(&r, 7 * leaf + m.delta));
		ASSERT_EQ(value_at(&r, 7 * leaf), 0);
		/* Only destination paths were allocated, none of the moved leaves. */
		ASSERT_TRUE(r.nodes > nodes);
		{
			unsigned long before = r.nodes;
			radix_prune(w, &r, 0, (1UL << RADIX_KEY_BITS) - 1);
			ASSERT_TRUE(r.nodes < before);
		}
		radix_destroy(w, &r);
		avm_world_free(w);
	}
	return true;
}

static void fill(struct avm_world *w, struct avm_radix *r, unsigned long first, unsigned long n)
{
	for (unsigned long k = 0; k < n; k++)
		*radix_slot(w, r, first + k) = 100 + k;
}

/* Clear the values of [first, first + n) and free every table. */
static void empty_tree(struct avm_world *w, struct avm_radix *r, unsigned long first,
		       unsigned long n)
{
	for (unsigned long k = 0; k < n; k++) {
		uint64_t *s = radix_lookup(r, first + k);
		if (s)
			*s = 0;
	}
	radix_prune(w, r, 0, (1UL << RADIX_KEY_BITS) - 1);
}

/*
 * R7.13: an established destination table (even empty), a different
 * offset in the leaf, or whole_levels 0 (uffd): value by value.
 */
TEST(test_r7_13_radix_move_falls_back_to_values)
{
	for (unsigned int bits = 1; bits <= 9; bits += 4) {
		struct avm_world *w = test_world();
		struct avm_radix r;
		unsigned long leaf = 1UL << bits, stop = 0, n = 3 * leaf, src = 8 * leaf;
		unsigned long dst = src + (1UL << 29);
		struct mover m = { .w = w, .r = &r, .delta = dst - src };

		radix_init(&r, bits);
		fill(w, &r, src, n);
		ASSERT_TRUE(radix_slot(w, &r, dst + leaf) != NULL); /* an empty table there */
		ASSERT_OK(radix_move(w, &r, src, src + n - 1, dst, 2, move_value, &m, &stop));
		ASSERT_EQ(m.calls, leaf);
		for (unsigned long k = 0; k < n; k++) {
			bool by_value = k >= leaf && k < 2 * leaf;
			ASSERT_EQ(value_at(&r, dst + k), (100 + k) | (by_value ? MARK : 0));
		}
		empty_tree(w, &r, dst, n);
		ASSERT_EQ(r.nodes, 0);

		fill(w, &r, src, n);
		m.calls = 0;
		m.delta = (1UL << 28) + 1; /* odd: misaligned at every width */
		ASSERT_OK(radix_move(w, &r, src, src + n - 1, src + m.delta, 2, move_value, &m,
				     &stop));
		ASSERT_EQ(m.calls, n);
		empty_tree(w, &r, src + m.delta, n);

		fill(w, &r, src, n);
		m.calls = 0;
		m.delta = dst - src;
		ASSERT_OK(radix_move(w, &r, src, src + n - 1, dst, 0, move_value, &m, &stop));
		ASSERT_EQ(m.calls, n);
		empty_tree(w, &r, dst, n);
		ASSERT_EQ(r.nodes, 0);
		radix_destroy(w, &r);
		avm_world_free(w);
	}
	return true;
}

/* R7.13: with whole_levels 2 a fully covered parent of leaves moves as one table. */
TEST(test_r7_13_radix_move_whole_parent)
{
	for (unsigned int bits = 1; bits <= 9; bits += 2) {
		struct avm_world *w = test_world();
		struct avm_radix r;
		unsigned long leaf = 1UL << bits, parent = leaf << bits, stop = 0;
		unsigned long src = 3 * parent, dst = src + (1UL << 32);
		struct mover m = { .w = w, .r = &r, .delta = dst - src };
		unsigned long nodes;

		radix_init(&r, bits);
		*radix_slot(w, &r, src) = 1;
		*radix_slot(w, &r, src + parent - 1) = 2;
		nodes = r.nodes;
		ASSERT_OK(radix_move(w, &r, src, src + parent - 1, dst, 2, move_value, &m, &stop));
		ASSERT_EQ(m.calls, 0);
		ASSERT_EQ(value_at(&r, dst), 1);
		ASSERT_EQ(value_at(&r, dst + parent - 1), 2);
		ASSERT_EQ(value_at(&r, src), 0);
		/* The destination needed tables down to the parent's parent only. */
		ASSERT_TRUE(r.nodes - nodes <= (unsigned long)r.levels - 2);
		empty_tree(w, &r, dst, parent);
		ASSERT_EQ(r.nodes, 0);
		radix_destroy(w, &r);
		avm_world_free(w);
	}
	return true;
}

/* R7.14: a destination table that cannot be allocated stops the move at a table boundary. */
TEST(test_r7_14_radix_move_enomem_stops_in_order)
{
	for (unsigned int bits = 2; bits <= 9; bits += 7) {
		for (unsigned long nth = 1; nth < 40; nth++) {
			struct avm_world *w = test_world();
			struct avm_radix r;
			unsigned long leaf = 1UL << bits, n = 4 * leaf, stop = ~0UL;
			unsigned long first = 16 * leaf, new_first = 1UL << 31;
			struct mover m = { .w = w, .r = &r, .delta = new_first - first };
			int ret;

			radix_init(&r, bits);
			for (unsigned long k = 0; k < n; k++)
				*radix_slot(w, &r, first + k) = 1 + k;
			avm_fault_inject(w, nth);
			ret = radix_move(w, &r, first, first + n - 1, new_first, 2, move_value, &m,
					 &stop);
			avm_fault_inject(w, 0);
			if (ret == 0) {
				for (unsigned long k = 0; k < n; k++)
					ASSERT_EQ(value_at(&r, new_first + k), 1 + k);
				radix_destroy(w, &r);
				avm_world_free(w);
				break;
			}
			ASSERT_EQ(ret, -ENOMEM);
			ASSERT_FALSE(m.failed); /* whole moves only: the tables hold no allocation */
			ASSERT_EQ((stop - first) % leaf, 0);
			for (unsigned long k = 0; k < n; k++) {
				bool moved = first + k < stop;
				ASSERT_EQ(value_at(&r, first + k), moved ? 0 : 1 + k);
				ASSERT_EQ(value_at(&r, new_first + k), moved ? 1 + k : 0);
			}
			/* Moving back what moved needs no allocation. */
			avm_fault_inject(w, 1);
			if (stop > first) {
				unsigned long st2 = 0;
				struct mover b = { .w = w, .r = &r, .delta = first - new_first };
				ASSERT_OK(radix_move(w, &r, new_first, new_first + (stop - first) - 1,
						     first, 2, move_value, &b, &st2));
			}
			avm_fault_inject(w, 0);
			for (unsigned long k = 0; k < n; k++)
				ASSERT_EQ(value_at(&r, first + k), 1 + k);
			for (unsigned long k = 0; k < n; k++)
				*radix_lookup(&r, first + k) = 0;
			radix_destroy(w, &r);
			avm_world_free(w);
		}
	}
	return true;
}

/* Clear soft-dirty on every PTE of [addr, addr + len) (as clear_refs 4 would). */
static void clear_soft_dirty(struct avm_world *w, int pid, unsigned long addr, unsigned long len)
{
	struct avm_mm *mm = mm_find(w, pid);

	for (unsigned long a = addr; a < addr + len; a += AVM_PAGE_SIZE) {
		uint64_t *p = pt_lookup(mm, a);
		if (p)
			*p &= ~PTE_SOFTDIRTY;
	}
}

/*
 * R7.13 through mremap: an aligned move of whole leaves keeps content,
 * rmap (mapcount, index, the reclaim walk finds the pages at the new
 * address), soft-dirty untouched on whole tables and set on the PTE-moved
 * head, no new leaf allocated for the whole tables, and a valid world.
 */
TEST(test_r7_13_mremap_moves_whole_leaves)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;
	unsigned long leaf = P(1UL << w->cfg.pt_bits), out, swapped = 0;
	unsigned long src = X, dst = X + (1UL << 36); /* 64 GiB away: fresh tables */
	unsigned long len = 3 * leaf + P(2);          /* 3 whole leaves + 2 pages */
	unsigned long start = src + leaf - P(1);      /* 1 page into the range's first leaf */
	struct avm_page_info pi;
	unsigned long alloc0;

	MMAP_FIXED(w, p, src, 6 * leaf, RW);
	for (unsigned long a = start; a < start + len; a += AVM_PAGE_SIZE)
		ASSERT_OK(avm_write(w, p, a, a ^ 0x5a5a));
	c = avm_fork(w, p); /* shared frames: the rmap has two mappers */
	ASSERT_TRUE(c > 0);
	clear_soft_dirty(w, p, start, len);
	alloc0 = avm_stats(w)->pt_pages_alloc;
	MMAP_FIXED(w, p, dst - leaf, leaf, RW); /* below the target, to be moved next to */
	ASSERT_OK(avm_mremap(w, p, start, len, len, AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED,
			     dst - P(1), &out));
	ASSERT_EQ(out, dst - P(1));
	VALIDATE(w);
	for (unsigned long i = 0; i < len / AVM_PAGE_SIZE; i++) {
		unsigned long a = out + P(i), o = start + P(i);
		bool whole = a >= dst && a < dst + 3 * leaf;
		ASSERT_OK(avm_page_info(w, p, a, &pi));
		ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
		ASSERT_EQ(pi.content, o ^ 0x5a5a);
		ASSERT_EQ(pi.mapcount, 2);
		ASSERT_EQ(pi.index, o >> AVM_PAGE_SHIFT);
		ASSERT_EQ(pi.soft_dirty, !whole);
		ASSERT_OK(avm_page_info(w, p, o, &pi));
		ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	}
	/* Paths to the destination only: at most one table per level, no leaves per whole leaf. */
	ASSERT_TRUE(avm_stats(w)->pt_pages_alloc - alloc0 <=
		    2UL * ((RADIX_KEY_BITS + w->cfg.pt_bits - 1) / w->cfg.pt_bits) + 2);
	/* The rmap walk reaches the moved PTEs of both processes. */
	ASSERT_OK(avm_reclaim(w, len / AVM_PAGE_SIZE, &swapped));
	ASSERT_EQ(swapped, len / AVM_PAGE_SIZE);
	VALIDATE(w);
	ASSERT_OK(avm_page_info(w, p, dst + leaf, &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_SWAP);
	{
		uint64_t v;
		ASSERT_OK(avm_read(w, p, dst + leaf, &v));
		ASSERT_EQ(v, (start + leaf + P(1)) ^ 0x5a5a);
		ASSERT_OK(avm_read(w, c, start + leaf + P(1), &v));
		ASSERT_EQ(v, (start + leaf + P(1)) ^ 0x5a5a);
	}
	/* And home again, whole tables into the emptied source tables' parents. */
	ASSERT_OK(avm_mremap(w, p, out, len, len, AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED, start,
			     &out));
	VALIDATE(w);
	for (unsigned long a = start; a < start + len; a += AVM_PAGE_SIZE) {
		uint64_t v;
		ASSERT_OK(avm_read(w, p, a, &v));
		ASSERT_EQ(v, a ^ 0x5a5a);
	}
	ASSERT_OK(avm_exit(w, c));
	ASSERT_OK(avm_munmap(w, p, src, 6 * leaf));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * R7.13/R7.14 PTE by PTE: a move one page off the source's leaf offsets
 * (every source leaf spans two destination leaves), over a sparse range,
 * with every table allocation failing in turn.  move_page_tables() returns
 * the bytes before the first entry not moved: everything below moved with
 * soft-dirty, nothing above; moving that much back needs no allocation.
 */
TEST(test_r7_14_move_page_tables_unaligned_fault_injection)
{
	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w);
		struct avm_mm *mm = mm_find(w, p);
		unsigned long leaf = P(1UL << w->cfg.pt_bits), dst = X + (1UL << 36) + P(1);
		unsigned long len = 5 * leaf, moved, back;
		struct avm_vma *vma, *new_vma;

		MMAP_FIXED(w, p, X, len, RW);
		MMAP_FIXED(w, p, dst, len, RW);
		/* Pages 0-1 and 3 of every 4, none in the middle leaf. */
		for (unsigned long a = X; a < X + len; a += AVM_PAGE_SIZE)
			if (((a - X) / AVM_PAGE_SIZE) % 4 != 2 &&
			    (a < X + 2 * leaf || a >= X + 3 * leaf))
				ASSERT_OK(avm_write(w, p, a, a));
		vma = vma_find(mm, X);
		new_vma = vma_find(mm, dst);
		ASSERT_TRUE(vma && new_vma && vma != new_vma);
		clear_soft_dirty(w, p, X, len);
		avm_fault_inject(w, n);
		moved = move_page_tables(vma, X, new_vma, dst, len);
		avm_fault_inject(w, 0);
		ASSERT_TRUE(moved <= len && moved % AVM_PAGE_SIZE == 0);
		for (unsigned long off = 0; off < len; off += AVM_PAGE_SIZE) {
			uint64_t old = pt_get(mm, X + off), new = pt_get(mm, dst + off);
			bool data = (off / AVM_PAGE_SIZE) % 4 != 2 &&
				    (off < 2 * leaf || off >= 3 * leaf);

			if (!data) {
				ASSERT_EQ(old | new, 0);
			} else if (off < moved) {
				ASSERT_EQ(old, 0);
				ASSERT_TRUE(pte_present(new) && (new & PTE_SOFTDIRTY));
				ASSERT_EQ(frame_content(frame(w, pte_pfn(new))), X + off);
			} else {
				ASSERT_EQ(new, 0);
				ASSERT_TRUE(pte_present(old) && !(old & PTE_SOFTDIRTY));
			}
		}
		/* The first entry not moved is a data page. */
		if (moved < len)
			ASSERT_TRUE((moved / AVM_PAGE_SIZE) % 4 != 2);
		avm_fault_inject(w, 1);
		back = move_page_tables(new_vma, dst, vma, X, moved);
		avm_fault_inject(w, 0);
		ASSERT_EQ(back, moved);
		for (unsigned long off = 0; off < len; off += AVM_PAGE_SIZE)
			ASSERT_EQ(pt_get(mm, dst + off), 0);
		VALIDATE(w);
		avm_world_free(w);
		if (moved == len)
			break;
		ASSERT_TRUE(n < 200);
	}
	return true;
}

/* R7.13: a VMA registered with userfaultfd (no EVENT_REMAP) moves PTE by PTE. */
TEST(test_r7_13_mremap_uffd_vma_moves_pte_by_pte)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	unsigned long leaf = P(1UL << w->cfg.pt_bits), out, dst = X + (1UL << 36);
	struct avm_page_info pi;

	MMAP_FIXED(w, p, X, 2 * leaf, RW);
	ASSERT_OK(avm_touch(w, p, X, 2 * leaf, true));
	ASSERT_OK(avm_uffd_register(w, p, X, 2 * leaf, AVM_UFFDIO_REGISTER_MODE_MISSING));
	clear_soft_dirty(w, p, X, 2 * leaf);
	ASSERT_OK(avm_mremap(w, p, X, 2 * leaf, 2 * leaf, AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED,
			     dst, &out));
	VALIDATE(w);
	for (unsigned long a = dst; a < dst + 2 * leaf; a += AVM_PAGE_SIZE) {
		ASSERT_OK(avm_page_info(w, p, a, &pi));
		ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
		ASSERT_TRUE(pi.soft_dirty);
	}
	avm_world_free(w);
	return true;
}

/* R7.14 with whole tables: every allocation of a large aligned move fails once. */
TEST(test_r7_14_mremap_whole_leaf_fault_injection)
{
	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w);
		unsigned long leaf = P(1UL << w->cfg.pt_bits), out, dst = X + (1UL << 36);
		unsigned long len = 4 * leaf;
		int ret;

		MMAP_FIXED(w, p, X, len, RW);
		for (unsigned long a = X; a < X + len; a += AVM_PAGE_SIZE)
			ASSERT_OK(avm_write(w, p, a, a));
		avm_fault_inject(w, n);
		ret = avm_mremap(w, p, X + leaf, 2 * leaf + P(1), 2 * leaf + P(1),
				 AVM_MREMAP_MAYMOVE | AVM_MREMAP_FIXED, dst + leaf, &out);
		avm_fault_inject(w, 0);
		VALIDATE(w);
		for (unsigned long a = X; a < X + len; a += AVM_PAGE_SIZE) {
			bool moved = ret == 0 && a >= X + leaf && a < X + 3 * leaf + P(1);
			uint64_t v;
			ASSERT_OK(avm_read(w, p, moved ? a - X + dst : a, &v));
			ASSERT_EQ(v, a);
		}
		avm_world_free(w);
		if (ret == 0)
			break;
		ASSERT_EQ(ret, -ENOMEM);
		ASSERT_TRUE(n < 200);
	}
	return true;
}
