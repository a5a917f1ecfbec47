/*
 * test_anon_vma.c - the anon_vma lifecycle and rmap walks (spec §3, §11.2),
 * through the public API, with the internal counters read back through
 * introspection.
 */
#include "test.h"

struct av_find {
	unsigned long id;
	struct avm_anon_vma_info info;
	int found;
};

static void av_find_fn(void *arg, const struct avm_anon_vma_info *av)
{
	struct av_find *f = arg;

	if (av->id == f->id) {
		f->info = *av;
		f->found++;
	}
}

static bool av_info(struct avm_world *w, unsigned long id, struct avm_anon_vma_info *out)
{
	struct av_find f = { .id = id };

	avm_anon_vma_foreach(w, av_find_fn, &f);
	*out = f.info;
	return f.found == 1;
}

static unsigned long nr_anon_vmas(struct avm_world *w)
{
	const struct avm_stats *st = avm_stats(w);

	return st->anon_vma_alloc - st->anon_vma_free;
}

TEST(test_r3_4_first_write_creates_root_anon_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;
	struct avm_anon_vma_info ai;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.anon_vma, 0);
	/* R3.1/R8.3: a read fault mapping the zero page prepares nothing. */
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.anon_vma, 0);
	ASSERT_OK(avm_write(w, p, X + P(1), 7));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_NE(vi.anon_vma, 0);
	ASSERT_EQ(vi.chain_len, 1);
	ASSERT_TRUE(av_info(w, vi.anon_vma, &ai));
	/* R3.3: refcount 1, its own root and parent, self-counted child, one VMA. */
	ASSERT_EQ(ai.root, ai.id);
	ASSERT_EQ(ai.parent, ai.id);
	ASSERT_EQ(ai.refcount, 1);
	ASSERT_EQ(ai.num_children, 1);
	ASSERT_EQ(ai.num_active_vmas, 1);
	ASSERT_EQ(ai.nr_avcs, 1);
	avm_world_free(w);
	return true;
}

TEST(test_r3_host_read_fault_prepares_anon_vma)
{
	/* host-kernel.md: without the zero page a read fault allocates and prepares. */
	struct avm_world *w = test_world_host();
	int p = avm_spawn(w);
	struct avm_vma_info vi;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_EQ(v, 0);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_NE(vi.anon_vma, 0);
	avm_world_free(w);
	return true;
}

/*
 * R3.5, R3.7: AA|BB where B differs only in VM_EXEC (ignored by
 * anon_vma_compatible): B's first fault reuses A's anon_vma, so restoring
 * B's protection merges the two again (case 3 of R4.5).
 */
TEST(test_r3_5_neighbour_anon_vma_reused_then_merge)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info a, b;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), RW | AVM_PROT_EXEC));
	ASSERT_EQ(test_nr_vmas(w, p), 2);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_write(w, p, X + P(2), 2));
	ASSERT_TRUE(test_vma_at(w, p, X, &a));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &b));
	ASSERT_NE(a.anon_vma, 0);
	ASSERT_EQ(a.anon_vma, b.anon_vma);
	ASSERT_EQ(nr_anon_vmas(w), 1);
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), RW));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	avm_world_free(w);
	return true;
}

/* R3.6: a neighbour that lost VM_ACCOUNT is not compatible; no reuse. */
TEST(test_r3_6_account_flag_blocks_reuse)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info a, b;

	MMAP_FIXED(w, p, X, P(4), RW);
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), AVM_PROT_READ));
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), RW)); /* VM_ACCOUNT back, merges */
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_OK(avm_mprotect(w, p, X + P(2), P(2), AVM_PROT_READ));
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_TRUE(test_vma_at(w, p, X, &a));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &b));
	ASSERT_EQ(b.flags & AVM_VM_ACCOUNT, 0);
	ASSERT_NE(a.flags & AVM_VM_ACCOUNT, 0);
	int h;
	ASSERT_OK(avm_pin(w, p, X + P(2), 1, AVM_FOLL_LONGTERM, &h));
	ASSERT_TRUE(test_vma_at(w, p, X + P(2), &b));
	/* A long-term read pin of the zero page unshares (R8.14): B now faulted. */
	ASSERT_NE(b.anon_vma, 0);
	ASSERT_NE(b.anon_vma, a.anon_vma);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R3.11, R3.12, R3.17-R3.19: fork links the child below the parent. */
TEST(test_r3_11_fork_creates_child_anon_vma_and_counters)
{
	struct avm_world *w = test_world();
	int p1 = avm_spawn(w);
	struct avm_vma_info v1, v2;
	struct avm_anon_vma_info root, child;

	MMAP_FIXED(w, p1, X, P(2), RW);
	ASSERT_OK(avm_write(w, p1, X, 1));
	int p2 = avm_fork(w, p1);
	ASSERT_TRUE(p2 > 0);
	ASSERT_TRUE(test_vma_at(w, p1, X, &v1));
	ASSERT_TRUE(test_vma_at(w, p2, X, &v2));
	ASSERT_EQ(v1.chain_len, 1);
	ASSERT_EQ(v2.chain_len, 2);
	ASSERT_NE(v2.anon_vma, v1.anon_vma);
	ASSERT_TRUE(av_info(w, v1.anon_vma, &root));
	ASSERT_TRUE(av_info(w, v2.anon_vma, &child));
	ASSERT_EQ(child.root, root.id);
	ASSERT_EQ(child.parent, root.id);
	ASSERT_EQ(root.num_children, 2); /* itself + the child */
	ASSERT_EQ(root.refcount, 2);     /* its tree + the child's root reference */
	ASSERT_EQ(root.nr_avcs, 2);      /* parent VMA and child VMA */
	ASSERT_EQ(child.refcount, 1);
	ASSERT_EQ(child.num_children, 0);
	ASSERT_EQ(child.num_active_vmas, 1);
	ASSERT_EQ(child.nr_avcs, 1);

	/* R3.15: the child anon_vma goes with the child; the root stays. */
	ASSERT_OK(avm_exit(w, p2));
	ASSERT_TRUE(av_info(w, v1.anon_vma, &root));
	ASSERT_EQ(root.refcount, 1);
	ASSERT_EQ(root.num_children, 1);
	ASSERT_EQ(nr_anon_vmas(w), 1);
	ASSERT_OK(avm_exit(w, p1));
	ASSERT_EQ(nr_anon_vmas(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R3.9, R3.12: an exited intermediate process's anon_vma is reused. */
TEST(test_r3_9_fork_reuses_orphaned_intermediate_anon_vma)
{
	struct avm_world *w = test_world();
	int p1 = avm_spawn(w);
	struct avm_vma_info v2, v3, v4;

	MMAP_FIXED(w, p1, X, P(1), RW);
	ASSERT_OK(avm_write(w, p1, X, 1));
	int p2 = avm_fork(w, p1);
	int p3 = avm_fork(w, p2);
	ASSERT_TRUE(p2 > 0 && p3 > 0);
	ASSERT_TRUE(test_vma_at(w, p2, X, &v2));
	ASSERT_OK(avm_exit(w, p2));
	unsigned long before = avm_stats(w)->anon_vma_alloc;
	int p4 = avm_fork(w, p3);
	ASSERT_TRUE(p4 > 0);
	ASSERT_TRUE(test_vma_at(w, p3, X, &v3));
	ASSERT_TRUE(test_vma_at(w, p4, X, &v4));
	/* AV2 has no VMA and one child (AV3): p4 takes it instead of a new one. */
	ASSERT_EQ(v4.anon_vma, v2.anon_vma);
	ASSERT_EQ(avm_stats(w)->anon_vma_alloc, before);
	ASSERT_EQ(avm_stats(w)->anon_vma_reused, 1);
	ASSERT_EQ(v4.chain_len, v3.chain_len); /* R3.12: reuse adds no level */
	avm_world_free(w);
	return true;
}

struct chain_collect {
	int pid;
	unsigned long ids[8];
	int n;
};

static void chain_fn(void *arg, const struct avm_avc_info *avc)
{
	struct chain_collect *c = arg;

	if (avc->pid == c->pid && c->n < 8)
		c->ids[c->n++] = avc->anon_vma;
}

/* R1.4, R3.8: a chain lists the newest anon_vma first. */
TEST(test_r3_8_chain_order_newest_first)
{
	struct avm_world *w = test_world();
	int p1 = avm_spawn(w);
	struct avm_vma_info v1, v2, v3;

	MMAP_FIXED(w, p1, X, P(1), RW);
	ASSERT_OK(avm_write(w, p1, X, 1));
	int p2 = avm_fork(w, p1);
	int p3 = avm_fork(w, p2);
	ASSERT_TRUE(test_vma_at(w, p1, X, &v1));
	ASSERT_TRUE(test_vma_at(w, p2, X, &v2));
	ASSERT_TRUE(test_vma_at(w, p3, X, &v3));
	struct chain_collect c = { .pid = p3 };
	avm_avc_foreach(w, chain_fn, &c);
	ASSERT_EQ(c.n, 3);
	ASSERT_EQ(c.ids[0], v3.anon_vma);
	ASSERT_EQ(c.ids[1], v2.anon_vma);
	ASSERT_EQ(c.ids[2], v1.anon_vma);
	avm_world_free(w);
	return true;
}

static void count_fn(void *arg, int pid, unsigned long addr, unsigned long vma_id)
{
	(void)pid;
	(void)addr;
	(void)vma_id;
	(*(int *)arg)++;
}

/* R11.2, R8.9, R9.12: the walk finds every process still sharing a page. */
TEST(test_r11_2_rmap_walk_finds_sharers_after_cow)
{
	struct avm_world *w = test_world();
	int p1 = avm_spawn(w), n = 0;

	MMAP_FIXED(w, p1, X, P(4), RW);
	ASSERT_OK(avm_write(w, p1, X + P(1), 5));
	int p2 = avm_fork(w, p1);
	int p3 = avm_fork(w, p1);
	ASSERT_EQ(avm_rmap_lookup(w, p1, X + P(1), count_fn, &n), 3);
	ASSERT_EQ(n, 3);
	ASSERT_OK(avm_write(w, p2, X + P(1), 6)); /* p2 copies */
	ASSERT_EQ(avm_rmap_lookup(w, p1, X + P(1), NULL, NULL), 2);
	ASSERT_EQ(avm_rmap_lookup(w, p2, X + P(1), NULL, NULL), 1);
	ASSERT_EQ(avm_rmap_lookup(w, p3, X + P(1), NULL, NULL), 2);
	/* An address whose VMA starts elsewhere still resolves through pgoff. */
	ASSERT_EQ(avm_rmap_lookup(w, p1, X, NULL, NULL), -ENOENT);
	avm_world_free(w);
	return true;
}

/* R3.16 / I11: all processes gone, no anon_vma or frame survives. */
TEST(test_r3_16_everything_freed_after_exit)
{
	struct avm_world *w = test_world();
	int p1 = avm_spawn(w);

	MMAP_FIXED(w, p1, X, P(8), RW);
	ASSERT_OK(avm_touch(w, p1, X, P(8), true));
	int p2 = avm_fork(w, p1);
	int p3 = avm_fork(w, p2);
	ASSERT_OK(avm_touch(w, p3, X, P(4), true));
	ASSERT_OK(avm_exit(w, p2));
	ASSERT_OK(avm_exit(w, p1));
	ASSERT_OK(avm_exit(w, p3));
	ASSERT_EQ(nr_anon_vmas(w), 0);
	ASSERT_EQ(avm_frames_used(w), 0);
	ASSERT_EQ(avm_stats(w)->avc_alloc, avm_stats(w)->avc_free);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
