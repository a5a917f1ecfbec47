/*
 * test_gup.c - pins and references (gup.c): spec §10.
 */
#include "test.h"

static uint64_t gpte(struct avm_world *w, int pid, unsigned long a)
{
	return pt_get(mm_find(w, pid), a);
}

static unsigned long gpfn(struct avm_world *w, int pid, unsigned long a)
{
	uint64_t p = gpte(w, pid, a);
	return pte_present(p) ? pte_pfn(p) : ~0UL;
}

/* R10.1, R1.14: a pin adds 1024, a reference 1; unpin gives them back. */
TEST(test_r10_1_pin_adds_bias_ref_adds_one)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h1, h2;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_touch(w, p, X, P(2), true));
	unsigned long pfn = gpfn(w, p, X);
	ASSERT_OK(avm_pin(w, p, X, 2, AVM_FOLL_WRITE, &h1));
	ASSERT_EQ(frame(w, pfn)->refcount, 1 + AVM_GUP_PIN_COUNTING_BIAS);
	ASSERT_TRUE(frame_maybe_pinned(frame(w, pfn)));
	ASSERT_OK(avm_get_ref(w, p, X, 1, &h2));
	ASSERT_NE(h1, h2);
	ASSERT_EQ(frame(w, pfn)->refcount, 2 + AVM_GUP_PIN_COUNTING_BIAS);
	unsigned long pins, refs;
	gup_count(w, pfn, &pins, &refs);
	ASSERT_EQ(pins, 1);
	ASSERT_EQ(refs, 1);
	ASSERT_EQ(w->stats.pins, 2);
	ASSERT_EQ(w->stats.refs, 1);
	ASSERT_OK(avm_unpin(w, h1));
	ASSERT_EQ(frame(w, pfn)->refcount, 2);
	ASSERT_OK(avm_unpin(w, h2));
	ASSERT_EQ(frame(w, pfn)->refcount, 1);
	ASSERT_EQ(avm_unpin(w, h2), -EINVAL);
	ASSERT_EQ(w->stats.unpins, 3);
	avm_world_free(w);
	return true;
}

/* R10.2: the first pin sets MMF_HAS_PINNED for good; references do not. */
TEST(test_r10_2_pin_sets_has_pinned_forever)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;
	struct avm_mm_info mi;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_get_ref(w, p, X, 1, &h));
	ASSERT_FALSE(mm_find(w, p)->flags & MMF_HAS_PINNED);
	ASSERT_OK(avm_unpin(w, h));
	ASSERT_OK(avm_pin(w, p, X, 1, AVM_FOLL_WRITE, &h));
	ASSERT_OK(avm_unpin(w, h));
	ASSERT_TRUE(mm_find(w, p)->flags & MMF_HAS_PINNED);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_TRUE(mi.has_pinned);
	ASSERT_EQ(mi.pinned_vm, 0);
	avm_world_free(w);
	return true;
}

/* R10.5: a write pin on a shared read-only PTE write-faults (COW) first. */
TEST(test_r10_5_write_pin_breaks_cow_first)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	int c = avm_fork(w, p);
	unsigned long p1 = gpfn(w, p, X);
	ASSERT_OK(avm_pin(w, p, X, 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &h));
	unsigned long p2 = gpfn(w, p, X);
	ASSERT_NE(p2, p1);
	ASSERT_TRUE(pte_write(gpte(w, p, X)));
	ASSERT_TRUE(frame(w, p2)->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_EQ(frame(w, p2)->refcount, 1 + AVM_GUP_PIN_COUNTING_BIAS);
	ASSERT_OK(avm_pin_write(w, h, 0, 77));
	uint64_t v;
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_EQ(v, 77);
	ASSERT_OK(avm_read(w, c, X, &v));
	ASSERT_EQ(v, 1);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R10.1, R10.4: a short-term RO pin of the zero page takes nothing and keeps it. */
TEST(test_r10_1_ro_pin_of_zero_page_takes_no_reference)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;
	uint64_t v = 5;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_pin(w, p, X, 1, 0, &h)); /* faults in the zero page */
	ASSERT_TRUE(pte_zero(gpte(w, p, X)));
	ASSERT_EQ(avm_frames_used(w), 0);
	ASSERT_OK(avm_pin_read(w, h, 0, &v));
	ASSERT_EQ(v, 0);
	ASSERT_EQ(avm_pin_write(w, h, 0, 1), -EINVAL); /* read-only set */
	ASSERT_TRUE(mm_find(w, p)->flags & MMF_HAS_PINNED);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R10.4, R8.14: FOLL_LONGTERM RO pin of the zero page unshares into a private RO page. */
TEST(test_r10_4_longterm_ro_pin_unshares_zero_page)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(1), RW);
	uint64_t v;
	ASSERT_OK(avm_read(w, p, X, &v));
	ASSERT_TRUE(pte_zero(gpte(w, p, X)));
	ASSERT_OK(avm_pin(w, p, X, 1, AVM_FOLL_LONGTERM, &h));
	uint64_t pte = gpte(w, p, X);
	ASSERT_TRUE(pte_present(pte) && !pte_zero(pte));
	ASSERT_FALSE(pte_write(pte));
	struct avm_frame *f = frame(w, pte_pfn(pte));
	ASSERT_TRUE(f->flags & FRAME_ANON_EXCLUSIVE);
	ASSERT_EQ(frame_content(f), 0);
	ASSERT_EQ(f->refcount, 1 + AVM_GUP_PIN_COUNTING_BIAS);
	ASSERT_EQ(w->stats.faults_unshare, 1);
	ASSERT_EQ(mm_find(w, p)->rss_anon, 1);
	/* a later write reuses the exclusive pinned page */
	ASSERT_OK(avm_write(w, p, X, 3));
	ASSERT_EQ(gpfn(w, p, X), pte_pfn(pte));
	ASSERT_OK(avm_pin_read(w, h, 0, &v));
	ASSERT_EQ(v, 3);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R10.4: an RO pin of an exclusive page needs no unshare and no fault. */
TEST(test_r10_4_ro_pin_of_exclusive_page_no_unshare)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	unsigned long faults = w->stats.faults_write + w->stats.faults_read;
	ASSERT_OK(avm_pin(w, p, X, 1, 0, &h));
	ASSERT_EQ(w->stats.faults_write + w->stats.faults_read + w->stats.faults_unshare, faults);
	ASSERT_OK(avm_unpin(w, h));
	avm_world_free(w);
	return true;
}

/* R10: all-or-nothing; holes and PROT_NONE are -EFAULT, write pins need VM_WRITE. */
TEST(test_r10_pin_errors_all_or_nothing)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h = -1;

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(4), P(1), AVM_PROT_READ);
	MMAP_FIXED(w, p, X + P(6), P(1), AVM_PROT_NONE);
	ASSERT_EQ(avm_pin(w, p, X, 3, AVM_FOLL_WRITE, &h), -EFAULT);
	ASSERT_EQ(h, -1);
	/* the pages were faulted in, but hold no pin */
	ASSERT_EQ(frame(w, gpfn(w, p, X))->refcount, 1);
	ASSERT_EQ(frame(w, gpfn(w, p, X + P(1)))->refcount, 1);
	ASSERT_EQ(w->nr_pins, 0);
	ASSERT_EQ(avm_pin(w, p, X + P(4), 1, AVM_FOLL_WRITE, &h), -EFAULT);
	ASSERT_OK(avm_pin(w, p, X + P(4), 1, 0, &h));
	ASSERT_OK(avm_unpin(w, h));
	ASSERT_EQ(avm_pin(w, p, X + P(6), 1, 0, &h), -EFAULT);
	ASSERT_EQ(avm_get_ref(w, p, X + P(6), 1, &h), -EFAULT);
	ASSERT_EQ(avm_pin(w, p, X, 0, 0, &h), -EINVAL);
	ASSERT_EQ(avm_pin(w, p, X + 1, 1, 0, &h), -EINVAL);
	ASSERT_EQ(avm_pin(w, p, X, 1, 0x80, &h), -EINVAL);
	ASSERT_EQ(avm_pin(w, 99, X, 1, 0, &h), -ESRCH);
	ASSERT_EQ(avm_pin(w, p, AVM_TASK_SIZE - P(1), 2, 0, &h), -EFAULT);
	uint64_t v;
	ASSERT_EQ(avm_pin_read(w, 12345, 0, &v), -EINVAL);
	avm_world_free(w);
	return true;
}

/* A pinned frame outlives the process that mapped it until unpinned. */
TEST(test_r10_pinned_frame_survives_exit)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;
	uint64_t v;

	MMAP_FIXED(w, p, X, P(1), RW);
	ASSERT_OK(avm_write(w, p, X, 9));
	ASSERT_OK(avm_pin(w, p, X, 1, AVM_FOLL_WRITE | AVM_FOLL_LONGTERM, &h));
	ASSERT_OK(avm_exit(w, p));
	ASSERT_EQ(avm_frames_used(w), 1);
	ASSERT_OK(avm_pin_read(w, h, 0, &v));
	ASSERT_EQ(v, 9);
	ASSERT_OK(avm_pin_write(w, h, 0, 10));
	ASSERT_OK(avm_unpin(w, h));
	ASSERT_EQ(avm_frames_used(w), 0);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* World teardown with pins still held frees everything (LeakSanitizer). */
TEST(test_gup_fini_frees_sets_at_world_free)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(3), RW);
	ASSERT_OK(avm_pin(w, p, X, 3, AVM_FOLL_WRITE, &h));
	ASSERT_OK(avm_get_ref(w, p, X, 2, &h));
	avm_world_free(w);
	return true;
}

/* Fault injection: a failing pin leaves no pin and a valid world. */
TEST(test_r10_pin_injection_sweep)
{
	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w), h;
		MMAP_FIXED(w, p, X, P(2), RW);
		avm_fault_inject(w, n);
		int ret = avm_pin(w, p, X, 2, AVM_FOLL_WRITE, &h);
		avm_fault_inject(w, 0);
		VALIDATE(w);
		if (ret == 0) {
			ASSERT_OK(avm_unpin(w, h));
			avm_world_free(w);
			break;
		}
		ASSERT_EQ(ret, -ENOMEM);
		ASSERT_EQ(w->nr_pins, 0);
		avm_world_free(w);
		ASSERT_TRUE(n < 100);
	}
	return true;
}

/*
 * GUP-fast (io_uring, vmsplice) looks only at PTEs: a present page of a
 * write-only VMA can be referenced (x86 maps it readable), an absent one
 * goes to the slow path, whose check_vma_flags() wants VM_READ (-EFAULT).
 */
TEST(test_r10_gup_fast_takes_present_page_of_write_only_vma)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w), h;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_mprotect(w, p, X, P(2), AVM_PROT_WRITE));
	ASSERT_OK(avm_get_ref(w, p, X, 1, &h));
	ASSERT_EQ(frame(w, gpfn(w, p, X))->refcount, 2);
	ASSERT_OK(avm_unpin(w, h));
	ASSERT_EQ(avm_get_ref(w, p, X, 2, &h), -EFAULT); /* X+1p is not present */
	ASSERT_EQ(frame(w, gpfn(w, p, X))->refcount, 1);
	/* PROT_NONE PTEs are protnone: no fast path, and the slow path refuses */
	ASSERT_OK(avm_mprotect(w, p, X, P(2), AVM_PROT_NONE));
	ASSERT_EQ(avm_get_ref(w, p, X, 1, &h), -EFAULT);
	avm_world_free(w);
	return true;
}
