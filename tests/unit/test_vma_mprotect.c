/*
 * test_vma_mprotect.c - mprotect (R5.8, R5.9), mlock2/munlock and anon
 * names (prctl PR_SET_VMA_ANON_NAME), including fault injection.
 */
#include "test.h"

/* R5.9: the errors of mprotect. */
TEST(test_r5_9_mprotect_errnos)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);

	MMAP_FIXED(w, p, X, P(2), RW);
	MMAP_FIXED(w, p, X + P(3), P(2), RW);
	ASSERT_EQ(avm_mprotect(w, p, X + 1, P(1), RW), -EINVAL);
	ASSERT_EQ(avm_mprotect(w, p, X, 0, RW), 0);
	ASSERT_EQ(avm_mprotect(w, p, X, P(1), 0x10), -EINVAL);
	ASSERT_EQ(avm_mprotect(w, p, X, -P(1), RW), -ENOMEM); /* wraps */
	ASSERT_EQ(avm_mprotect(w, p, X - P(1), P(2), RW), -ENOMEM); /* starts in a hole */
	ASSERT_EQ(avm_mprotect(w, p, X + P(2), P(1), RW), -ENOMEM);
	ASSERT_EQ(avm_mprotect(w, p, X, P(1), RW | 0x03000000), -EINVAL); /* GROWSDOWN|GROWSUP */
	ASSERT_EQ(avm_mprotect(w, p, X, P(1), RW | 0x01000000), -EINVAL); /* not growsdown */
	/* The part before the hole is changed and stays changed. */
	ASSERT_EQ(avm_mprotect(w, p, X, P(5), AVM_PROT_READ), -ENOMEM);
	struct avm_vma_info vi;
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.flags & AVM_VM_ACCESS_FLAGS, AVM_VM_READ);
	ASSERT_TRUE(test_vma_at(w, p, X + P(3), &vi));
	ASSERT_EQ(vi.flags & AVM_VM_ACCESS_FLAGS, AVM_VM_READ | AVM_VM_WRITE);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* R5.9: -EACCES when VM_MAY* is missing (shared mapping made MAYWRITE-less is not
 * reachable here, so use a VMA whose MAYEXEC... all anon VMAs have VM_MAY*: emulate
 * by clearing VM_MAYWRITE directly, as a read-only file mapping would have it). */
TEST(test_r5_9_mprotect_eacces_without_maywrite)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_mm *mm = mm_find(w, p);

	MMAP_FIXED(w, p, X, P(2), AVM_PROT_READ);
	vma_lookup(mm, X)->vm_flags &= ~AVM_VM_MAYWRITE;
	ASSERT_EQ(avm_mprotect(w, p, X, P(1), RW), -EACCES);
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_OK(avm_mprotect(w, p, X, P(1), AVM_PROT_EXEC));
	avm_world_free(w);
	return true;
}

/* R5.8 + I4: read-only clears PTE write bits; writable again upgrades exclusive pages. */
TEST(test_r5_8_change_protection_ptes)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_page_info pi;
	struct avm_mm_info mi;

	MMAP_FIXED(w, p, X, P(2), RW);
	ASSERT_OK(avm_write(w, p, X, 1));
	ASSERT_OK(avm_mprotect(w, p, X, P(2), AVM_PROT_READ));
	ASSERT_OK(avm_page_info(w, p, X, &pi));
	ASSERT_FALSE(pi.writable);
	ASSERT_EQ(avm_write(w, p, X, 2), -AVM_ESIGSEGV);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.data_vm, 0);
	ASSERT_OK(avm_mprotect(w, p, X, P(2), RW));
	ASSERT_OK(avm_page_info(w, p, X, &pi));
	ASSERT_TRUE(pi.writable);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.data_vm, 2);
	ASSERT_EQ(mi.total_vm, 2);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* STYLE 13 + host-kernel.md: a failed second split keeps the first one. */
TEST(test_r5_4_mprotect_fault_injection_keeps_first_split)
{
	bool saw_partial = false;

	for (unsigned long n = 1;; n++) {
		struct avm_world *w = test_world();
		int p = avm_spawn(w), ret;
		uint64_t v;

		MMAP_FIXED(w, p, X, P(6), RW);
		ASSERT_OK(avm_touch(w, p, X, P(6), true));
		ASSERT_OK(avm_write(w, p, X + P(3), 9));
		avm_fault_inject(w, n);
		ret = avm_mprotect(w, p, X + P(2), P(2), AVM_PROT_READ);
		avm_fault_inject(w, 0);
		VALIDATE(w);
		ASSERT_OK(avm_read(w, p, X + P(3), &v));
		ASSERT_EQ(v, 9);
		if (ret == 0) {
			ASSERT_EQ(test_nr_vmas(w, p), 3);
			avm_world_free(w);
			break;
		}
		ASSERT_EQ(ret, -ENOMEM);
		if (test_nr_vmas(w, p) == 2)
			saw_partial = true; /* two identical VMAs that stay separate */
		else
			ASSERT_EQ(test_nr_vmas(w, p), 1);
		avm_world_free(w);
		ASSERT_TRUE(n < 1000);
	}
	ASSERT_TRUE(saw_partial);
	return true;
}

/* mlock2: flags, VM_LOCKED / VM_LOCKONFAULT, populate, locked_vm, munlock merges. */
TEST(test_r8_22_mlock_populates_and_counts)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;
	struct avm_page_info pi;
	struct avm_mm_info mi;

	MMAP_FIXED(w, p, X, P(8), RW);
	ASSERT_EQ(avm_mlock(w, p, X, P(1), 2), -EINVAL);
	ASSERT_EQ(avm_mlock(w, p, X + P(9), P(1), 0), -ENOMEM);
	ASSERT_OK(avm_mlock(w, p, X + 5, P(2), 0)); /* unaligned start rounds down */
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_EQ(vi.end, X + P(3));
	ASSERT_TRUE(vi.flags & AVM_VM_LOCKED);
	ASSERT_OK(avm_page_info(w, p, X + P(2), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_PRESENT);
	ASSERT_OK(avm_mlock(w, p, X + P(4), P(2), AVM_MLOCK_ONFAULT));
	ASSERT_TRUE(test_vma_at(w, p, X + P(4), &vi));
	ASSERT_EQ(vi.flags & AVM_VM_LOCKED_MASK, AVM_VM_LOCKED_MASK);
	ASSERT_OK(avm_page_info(w, p, X + P(4), &pi));
	ASSERT_EQ(pi.state, AVM_PAGE_NONE);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.locked_vm, 5);
	ASSERT_EQ(avm_madvise(w, p, X, P(1), AVM_MADV_DONTNEED), -EINVAL);
	ASSERT_OK(avm_madvise(w, p, X, P(1), AVM_MADV_DONTNEED_LOCKED));
	ASSERT_OK(avm_munlock(w, p, X, P(8)));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_OK(avm_mm_info(w, p, &mi));
	ASSERT_EQ(mi.locked_vm, 0);
	/* mlock of a range running into a hole: the mapped part is locked, -ENOMEM. */
	ASSERT_EQ(avm_mlock(w, p, X + P(6), P(4), 0), -ENOMEM);
	ASSERT_TRUE(test_vma_at(w, p, X + P(7), &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_LOCKED);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}

/* mlock of PROT_NONE: VM_LOCKED is set, populate fails -EFAULT -> -ENOMEM (host). */
TEST(test_r8_22_mlock_prot_none_enomem)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	struct avm_vma_info vi;

	MMAP_FIXED(w, p, X, P(1), AVM_PROT_NONE);
	ASSERT_EQ(avm_mlock(w, p, X, P(1), 0), -ENOMEM);
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(vi.flags & AVM_VM_LOCKED);
	avm_world_free(w);
	return true;
}

/* prctl anon names: length and character rules, holes, clearing. */
TEST(test_r13_1_anon_name_validation)
{
	struct avm_world *w = test_world();
	int p = avm_spawn(w);
	char name[100];

	MMAP_FIXED(w, p, X, P(2), RW);
	memset(name, 'a', sizeof(name));
	name[80] = 0;
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), name), -EINVAL); /* 81 bytes with NUL */
	name[79] = 0;
	ASSERT_OK(avm_set_anon_name(w, p, X, P(1), name)); /* 80 bytes with NUL: the maximum */
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "a[b"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "a]"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "\\"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "$x"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "`"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "tab\there"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(1), "\x7f"), -EINVAL);
	ASSERT_EQ(avm_set_anon_name(w, p, X + 1, P(1), "ok"), -EINVAL);
	ASSERT_OK(avm_set_anon_name(w, p, X, 0, "ok"));
	ASSERT_OK(avm_set_anon_name(w, p, X, P(2), "heap space ok {}"));
	ASSERT_EQ(test_nr_vmas(w, p), 1);
	ASSERT_EQ(avm_set_anon_name(w, p, X, P(3), "x"), -ENOMEM); /* a hole at the end */
	struct avm_vma_info vi;
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(!strcmp(vi.anon_name, "x"));
	ASSERT_OK(avm_set_anon_name(w, p, X, P(2), NULL));
	ASSERT_TRUE(test_vma_at(w, p, X, &vi));
	ASSERT_TRUE(vi.anon_name == NULL);
	VALIDATE(w);
	avm_world_free(w);
	return true;
}
