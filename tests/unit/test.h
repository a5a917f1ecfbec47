/*
 * test.h - the unit-test harness (STYLE 12).  Tests link the real lib/
 * (built with AVM_DEBUG=3, so the validator runs after every public call)
 * and may call internal functions through internal.h.
 *
 *   TEST(test_r4_6_faulted_into_unfaulted_merge) { ... return true; }
 *
 * Name tests after the spec rule they check.  ASSERT_* print
 * file:line:expression and make the test return false.
 */
#ifndef ANONVM_TEST_H
#define ANONVM_TEST_H

#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

typedef bool (*test_fn)(void);
void test_register(const char *name, test_fn fn, const char *file);

#define TEST(name)                                                          \
	static bool name(void);                                             \
	__attribute__((constructor)) static void name##_register(void)       \
	{                                                                   \
		test_register(#name, name, __FILE__);                       \
	}                                                                   \
	static bool name(void)

#define TEST_FAIL(...)                                                      \
	do {                                                                \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);             \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		return false;                                               \
	} while (0)

#define ASSERT_TRUE(x)                                                      \
	do {                                                                \
		if (!(x))                                                   \
			TEST_FAIL("ASSERT_TRUE(%s)", #x);                   \
	} while (0)
#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))
#define ASSERT_EQ(a, b)                                                     \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		if (a_ != b_)                                               \
			TEST_FAIL("ASSERT_EQ(%s, %s): %lld (0x%llx) != %lld (0x%llx)", \
				  #a, #b, a_, (unsigned long long)a_, b_,   \
				  (unsigned long long)b_);                  \
	} while (0)
#define ASSERT_NE(a, b)                                                     \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		if (a_ == b_)                                               \
			TEST_FAIL("ASSERT_NE(%s, %s): both %lld", #a, #b, a_); \
	} while (0)
/* A call that must succeed (return 0). */
#define ASSERT_OK(x) ASSERT_EQ((x), 0)
/* The validator, with its message on failure. */
#define VALIDATE(w)                                                         \
	do {                                                                \
		char vmsg_[256];                                            \
		if (avm_validate((w), vmsg_, sizeof(vmsg_)) != 0)           \
			TEST_FAIL("validator: %s", vmsg_);                  \
	} while (0)

/* A world with the standard-Linux configuration (zero page on read faults). */
struct avm_world *test_world(void);
/* A world configured like this machine's kernel (no zero page on read faults). */
struct avm_world *test_world_host(void);
/* mmap a private anonymous RW range at a fixed address, asserting success. */
#define MMAP_FIXED(w, pid, addr, len, prot)                                 \
	do {                                                                \
		unsigned long out_;                                         \
		ASSERT_OK(avm_mmap((w), (pid), (addr), (len), (prot),       \
				   AVM_MAP_PRIVATE | AVM_MAP_ANONYMOUS | AVM_MAP_FIXED_NOREPLACE, \
				   &out_));                                 \
		ASSERT_EQ(out_, (addr));                                    \
	} while (0)
#define RW (AVM_PROT_READ | AVM_PROT_WRITE)
#define P(n) ((unsigned long)(n) * AVM_PAGE_SIZE)
/* A conventional base address for tests (inside the host arena). */
#define X 0x7f0000000000UL

/* Number of VMAs of @pid. */
unsigned long test_nr_vmas(struct avm_world *w, int pid);
/* VMA info of the VMA containing addr (asserting it exists is the caller's job). */
bool test_vma_at(struct avm_world *w, int pid, unsigned long addr, struct avm_vma_info *out);

#endif
