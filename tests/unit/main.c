/*
 * main.c - runs every registered unit test, optionally filtered by a
 * substring, and ends with "N passed, N failed".
 */
#include <stdio.h>
#include <string.h>

#include "test.h"

struct test_entry {
	const char *name, *file;
	test_fn fn;
};

static struct test_entry tests[4096];
static int nr_tests;

void test_register(const char *name, test_fn fn, const char *file)
{
	if (nr_tests < (int)ARRAY_SIZE(tests))
		tests[nr_tests++] = (struct test_entry){ name, file, fn };
}

static int by_name(const void *a, const void *b)
{
	const struct test_entry *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	return c ? c : strcmp(x->name, y->name);
}

struct avm_world *test_world(void)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.swap_slots = 4096;
	return avm_world_new(&cfg);
}

struct avm_world *test_world_host(void)
{
	struct avm_config cfg;
	avm_config_default(&cfg);
	cfg.swap_slots = 4096;
	cfg.read_fault_zero_page = false;
	return avm_world_new(&cfg);
}

unsigned long test_nr_vmas(struct avm_world *w, int pid)
{
	struct avm_mm_info mi;
	if (avm_mm_info(w, pid, &mi))
		return 0;
	return mi.map_count;
}

bool test_vma_at(struct avm_world *w, int pid, unsigned long addr, struct avm_vma_info *out)
{
	unsigned long cur = 0;
	while (avm_vma_next(w, pid, &cur, out) == 1)
		if (out->start <= addr && addr < out->end)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	bool verbose = false;
	const char *filter = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: unit [-v] [FILTER]\nRuns the unit tests whose name contains FILTER.\n");
			return 0;
		} else
			filter = argv[i];
	}
	/* A sanitizer may end the process early: keep what was printed. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(tests, nr_tests, sizeof(tests[0]), by_name);
	for (int i = 0; i < nr_tests; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		bool ok = tests[i].fn();
		if (ok)
			passed++;
		else
			failed++;
		if (verbose || !ok)
			printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
		fflush(stdout);
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
