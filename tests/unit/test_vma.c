/*
 * test_vma.c - merge and split (spec §4, §5): the worked examples
 * E4.1-E4.7, the policy switch of R4.5/R4.6, split offsets and anon_vma
 * sharing, the index.  Pictures: one character per page.
 */
#include "test.h"

static struct avm_world *world_policy(const struct avm_policy *pol)
{
	struct avm_config cfg;

	avm_config_default(&cfg);
	cfg.policy = pol;
	return avm_world_new(&cfg);
}

/* E4.1: AA + BB -> AAAA, pgoff X>>12, faulted or not. */
TEST(test_e4_1_adjacent_mmaps_merge)
{
	for (int faulted = 0; faulted < 2; faulted++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w);
		struct avm_vma_info vi;

		MMAP_FIXED(w, p, X, P(2), RW);
		if (faulted)
			ASSERT_OK(avm_write(w, p, X, 1));
		MMAP_FIXED(w, p, X + P(2), P(2), RW);
		ASSERT_EQ(test_nr_vmas(w, p), 1);
		ASSERT_TRUE(test_vma_at(w, p, X, &vi));
		ASSERT_EQ(vi.start, X);
		ASSERT_EQ(vi.end, X + P(4));
		ASSERT_EQ(vi.pgoff, X >> 12);
		ASSERT_EQ(vi.anon_vma != 0, faulted);
		ASSERT_EQ(avm_stats(w)->merge_new_left, 1);
		VALIDATE(w);
		avm_world_free(w);
	}
	return true;
}

/* E4.2: in a fork child, a VMA faulted before the fork does not absorb a new mmap. */
TEST(test_e4_2_fork_child_refuses_new_neighbour)
{
	for (int faulted = 0; faulted < 2; faulted++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w), c;

		MMAP_FIXED(w, p, X, P(2), RW);
		if (faulted)
			ASSERT_OK(avm_write(w, p, X, 7));
		c = avm_fork(w, p);
		ASSERT_TRUE(c > 0);
		MMAP_FIXED(w, c, X + P(2), P(2), RW);
		ASSERT_EQ(test_nr_vmas(w, c), faulted ? 2 : 1);
		if (faulted)
			ASSERT_TRUE(avm_stats(w)->merge_refused_anon_vma > 0);
		VALIDATE(w);
		avm_world_free(w);
	}
	return true;
}

/* E4.3: AAAA, mprotect(X+p, p, R) -> A B A, back to RW -> AAAA. */
TEST(test_e4_3_mprotect_split_and_remerge)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;
	unsigned long av;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	av = vi.anon_vma;
	ASSERT_OK(avm_mprotect(w, p, X + P(1), P(1), AVM_PROT_READ));
	ASSERT_EQ(test_nr_vmas(w, p), 3);
	ASSERT_TRUE(test_vma_at(w, p, X + P(1), &vi));
	ASSERT_EQ(vi.pgoff, (X >> 12) + 1); /* R5.2 */
	ASSERT_EQ(vi.anon_vma, av);          /* R5.3 */
	ASSERT_TRUE(vi.flags & AVM_VM_ACCOUNT); /* R5.8: faulted keeps VM_ACCOUNT */
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &vi));
	ASSERT_EQ(vi.pgoff, (X >> 12) + 2);
	ASSERT_EQ(avm_stats(w)->splits, 2);
	ASSERT_OK(avm_mprotect(w, p, X + P(1), P(1), RW));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_EQ(avm_stats(w)->merge_existing_both, 1);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.end, X + P(4));
	ASSERT_EQ(vi.chain_len, 1);
	uint64_t v;
	ASSERT_OK(avm_read(w, p, X + P(1), &v));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* E4.4: AA(rw, unfaulted) BB(r, zero-page read): mprotect BB rw gains VM_ACCOUNT and merges. */
TEST(test_e4_4_mprotect_gains_account_and_merges)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(2), P(2), AVM_PROT_READ);
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &vi));
	ASSERT_FALSE(vi.flags & AVM_VM_ACCOUNT);
	ASSERT_OK(avm_read(w, p, X + P(2), &v));
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), RW));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_ACCOUNT);
	ASSERT_EQ(vi.end, X + P(4));
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* E4.5: different anon names keep VMAs apart; renaming to the same string merges. */
TEST(test_e4_5_anon_name_merge)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_set_anon_name(w, p, X, P(4), "a"));
	ASSERT_OK(avm_set_anon_name(w, p, X + P(2), P(2), "b"));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_set_anon_name(w, p, X + P(2), P(2), "a"));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_TRUE(test_vma_at(w, p, X + P(3), &vi));
	ASSERT_TRUE(vi.anon_name && !strcmp(vi.anon_name, "a"));
	/* Clearing the name of part splits it off again. */
	ASSERT_OK(avm_set_anon_name(w, p, X + P(3), P(1), NULL));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_TRUE(test_vma_at(w, p, X + P(3), &vi));
	ASSERT_TRUE(vi.anon_name == NULL);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/*
 * E4.6: AAAA unfaulted; MADV_RANDOM on BB; write B; MADV_NORMAL on BB:
 * 6.18 merges B into A with B's anon_vma (R4.5 case 1); 6.12 refuses (R4.6).
 */
TEST(test_e4_6_r4_5_faulted_into_unfaulted_by_policy)
{
	const struct avm_policy *pols[2] = { &avm_policy_linux, &avm_policy_linux_612 };

	for (int i = 0; i < 2; i++) {
		struct avm_world *w = world_policy(pols[i]);
		int p = avm_spawn(w);
		struct avm_vma_info vi;
		unsigned long bav;

		MMAP_FIXED(w, p, X, P(4), RW);
		ASSERT_OK(avm_madvise(w, p, X + P(2), P(2), AVM_MADV_RANDOM));
		ASSERT_EQ(test_nr_vmas(w, p), 2);
		ASSERT_OK(avm_write(w, p, X + P(2), 5));
		ASSERT_TRUE(test_vma_at(w, p, X + P(2), &vi));
		bav = vi.anon_vma;
		ASSERT_NE(bav, 0);
		ASSERT_TRUE(test_vma_at(w, p, X, &vi));
		ASSERT_EQ(vi.anon_vma, 0);
		ASSERT_OK(avm_madvise(w, p, X + P(2), P(2), AVM_MADV_NORMAL));
		if (i == 0) {
			ASSERT_EQ(test_nr_vmas(w, p), 1);
			ASSERT_TRUE(test_vma_at(w, p, X, &vi));
			ASSERT_EQ(vi.anon_vma, bav);
			ASSERT_EQ(vi.end, X + P(4));
		} else {
			ASSERT_EQ(test_nr_vmas(w, p), 2);
			ASSERT_TRUE(avm_stats(w)->merge_refused_anon_vma > 0);
		}
		uint64_t v;
		ASSERT_OK(avm_read(w, p, X + P(2), &v));
		ASSERT_EQ(v, 5);
		VALIDATE(w);
		avm_world_free(w);
	}
	return true;
}

/* E4.7: A B C with different anon_vmas on A and C: B merges left only (R4.7). */
TEST(test_e4_7_r4_7_three_way_refusal)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info a, b, c;

	MMAP_FIXED(w, p, X, P(3), RW);
	ASSERT_OK(avm_mprotect(w, p, X + P(1), P(1), AVM_PROT_NONE));
	ASSERT_TRUE(test_vma_at(w, p, X + P(1), &b));
	ASSERT_FALSE(b.flags & AVM_VM_ACCOUNT); /* R5.8 */
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_write(w, p, X + P(2), 2));
	ASSERT_TRUE(test_vma_at(w, p, X, &a));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &c));
	ASSERT_NE(a.anon_vma, c.anon_vma);
	ASSERT_OK(avm_mprotect(w, p, X + P(1), P(1), RW));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_TRUE(test_vma_at(w, p, X, &a));
	ASSERT_EQ(a.end, X + P(2));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &c));
	ASSERT_EQ(c.start, X + P(2));
	ASSERT_EQ(avm_stats(w)->merge_existing_left, 1);
	ASSERT_TRUE(avm_stats(w)->merge_refused_anon_vma > 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R4.17 case 3: the modified head of a VMA merges right into next. */
TEST(test_r4_17_right_merge_moves_next_start)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(4), AVM_PROT_READ);
	MMAP_FIXED(w, p, X + P(4), P(4), RW);
	ASSERT_OK(avm_write(w, p, X + P(4), 3));
	/* RRRR WWWW -> mprotect the last two R pages RW: RR WWWWWW */
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), RW));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &vi));
	ASSERT_EQ(vi.start, X + P(2));
	ASSERT_EQ(vi.end, X + P(8));
	ASSERT_EQ(vi.pgoff, (X >> 12) + 2);
	ASSERT_EQ(avm_stats(w)->merge_existing_right, 1);
	uint64_t v;
	ASSERT_OK(avm_read(w, p, X + P(4), &v));
	ASSERT_EQ(v, 3);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R4.5 case 2: a faulted fork-child target refuses an unfaulted neighbour's merge. */
TEST(test_r4_5_case2_fork_child_target_refuses)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), c;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(2), P(2), AVM_PROT_READ);
	ASSERT_OK(avm_write(w, p, X, 1));
	c = avm_fork(w, p);
	ASSERT_TRUE(c > 0);
	/* In the child, B becomes RW: A is a fork child (chain of 2). */
	ASSERT_OK(avm_mprotect(w, c, X + P(2), P(2), RW));
	ASSERT_EQ(test_nr_vmas(w, c), 2);
	/* In the parent the same merges (A is not a fork child there). */
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), RW));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R5.3: a split VMA shares anon_vma and chain; R5.6 frames keep index. */
TEST(test_r5_3_split_clones_chain)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info a, b;
	struct avm_page_info pi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_touch(w, p, X, P(4), true));
	ASSERT_OK(avm_madvise(w, p, X + P(2), P(2), AVM_MADV_DONTFORK));
	ASSERT_TRUE(test_vma_at(w, p, X, &a));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &b));
	ASSERT_EQ(a.anon_vma, b.anon_vma);
	ASSERT_EQ(a.chain_len, 1);
	ASSERT_EQ(b.chain_len, 1);
	ASSERT_NE(a.vma_id, b.vma_id);
	ASSERT_OK(avm_page_info(w, p, X + P(3), &pi));
	ASSERT_EQ(pi.index, (X >> 12) + 3);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* The index: vma_find / vma_lookup / neighbours over many VMAs. */
TEST(test_r1_2_index_find_and_neighbours)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_mm *mm = mm_find(w, p);

	for (int i = 0; i < 200; i++)
		MMAP_FIXED(w, p, X + P(3 * i), P(1), (i & 1) ? RW : AVM_PROT_READ);
	ASSERT_EQ(mm->map_count, 200);
	for (int i = 0; i < 200; i++) {
		struct avm_vma *v = vma_find(mm, X + P(3 * i) + P(1));

		ASSERT_TRUE(v != NULL || i == 199);
		if (v)
			ASSERT_EQ(v->vm_start, X + P(3 * (i + 1)));
		ASSERT_TRUE(vma_lookup(mm, X + P(3 * i) + P(1)) == NULL);
		v = vma_lookup(mm, X + P(3 * i));
		ASSERT_TRUE(v != NULL);
		if (i)
			ASSERT_EQ(vma_prev(v)->vm_start, X + P(3 * (i - 1)));
	}
	ASSERT_EQ(vma_first(mm)->vm_start, X);
	ASSERT_EQ(vma_last(mm)->vm_start, X + P(3 * 199));
	avm_world_free(w);
	return true;
}

/* The uffd helper the swap engineer uses: register a middle part, unregister merges back. */
TEST(test_r4_23_vma_modify_uffd_split_and_merge)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_uffd_register(w, p, X + P(1), P(2), AVM_UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(test_nr_vmas(w, p), 3);
	ASSERT_TRUE(test_vma_at(w, p, X + P(1), &vi));
	ASSERT_TRUE(vi.uffd);
	ASSERT_TRUE(vi.flags & AVM_VM_UFFD_MISSING);
	ASSERT_OK(avm_uffd_unregister(w, p, X, P(4)));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_FALSE(vi.uffd);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
