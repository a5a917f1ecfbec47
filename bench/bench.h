/*
 * bench.h - what the two benchmark programs share: the case list, option
 * parsing, timing, statistics and the result line format.
 *
 * Two programs measure the same operations: bench/kernel.c on the real
 * syscalls of this machine, cli/bench.c (`anonvm bench`) on the model.
 * bench/run.sh runs them alternately, one case at a time, so machine noise
 * hits both alike, and bench/report.c joins their result lines into the
 * Markdown table, the JSON file and the SVG chart in bench/results/.
 *
 * One result is one JSON object on one line (JSON Lines), flat, so
 * report.c can read it without a JSON library:
 *
 *   {"side":"kernel","case":"fork","n":1024,"unit":"ns/page","runs":5,
 *    "median":812.5,"min":790.1,"max":900.3,"status":"ok","note":""}
 *
 * "n" is the number of pages (or of pairs for churn, of processes K for
 * the rmap walks); the cost is per page or per operation as "unit" says.
 * status is "ok" or "skip" (note says why).  Everything here is static
 * inline so each program compiles it alone, with no library to link.
 */
#ifndef ANONVM_BENCH_H
#define ANONVM_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_SIZES 16
#define BENCH_MAX_RUNS 64

/* Addresses both sides use, inside the scenario arena (anonvm.h). */
#define BENCH_A 0x7e0000000000UL /* the N-page region */
#define BENCH_B 0x7f0000000000UL /* mremap / UFFDIO_MOVE destination */
#define BENCH_C 0x7f2000000000UL /* churn: background one-page VMAs */
#define BENCH_PAGE 4096UL

/*
 * The cases, in report order.  unit: 0 = ns/page, 1 = ns/op.  The rmap
 * walks take their sizes from rmap_k (K processes), not from --sizes.
 */
struct bench_case {
	const char *name;
	int per_op;
	const char *what;
};

static const struct bench_case bench_cases[] = {
	{ "write-fault", 0, "write fault-in of N fresh pages, one store per page" },
	{ "read-fault", 0, "read fault-in of N fresh pages (model: zero page; host: none, see notes)" },
	{ "fork", 0, "fork of a process with N resident pages" },
	{ "exit", 0, "exit of the forked child that shares N pages" },
	{ "cow-break", 0, "parent writes N pages shared with a live child (copy)" },
	{ "cow-reuse", 0, "parent writes N pages after the child exited (reuse)" },
	{ "munmap", 0, "munmap of N resident pages" },
	{ "dontneed", 0, "MADV_DONTNEED of N resident pages" },
	{ "mremap", 0, "mremap move of N resident pages to a 1 TiB-aligned place" },
	{ "mremap-unaligned", 0, "mremap move of N resident pages to a place one page off alignment" },
	{ "mprotect", 0, "mprotect rw->r of a whole VMA of N resident pages" },
	{ "mprotect-split", 1, "mprotect one middle page r and back (split + re-merge), per call" },
	{ "churn", 1, "mmap+munmap of a one-page VMA, N pairs, per pair" },
	{ "uffd-move", 0, "UFFDIO_MOVE of N pages in one call" },
	{ "swap-out", 0, "MADV_PAGEOUT of N resident pages (swap device)" },
	{ "swap-in", 0, "read fault of N swapped-out pages" },
	{ "rmap-chain", 1, "try_to_unmap of one page mapped by K processes forked in a chain" },
	{ "rmap-star", 1, "try_to_unmap of one page mapped by K processes forked by one parent" },
};
#define BENCH_NR_CASES (sizeof(bench_cases) / sizeof(bench_cases[0]))

static const unsigned long bench_default_sizes[] = { 1024, 16384, 262144, 1048576 };
static const unsigned long bench_quick_sizes[] = { 16, 64 };
static const unsigned long bench_rmap_k[] = { 1, 16, 256 };
static const unsigned long bench_quick_rmap_k[] = { 1, 4 };

struct bench_opts {
	unsigned long sizes[BENCH_MAX_SIZES];
	int nsizes;
	bool sizes_given;
	int runs;
	bool quick, verify, json;
	const char *set; /* comma-separated case names, NULL = all */
};

static inline bool bench_is_rmap(const char *name)
{
	return strncmp(name, "rmap-", 5) == 0;
}

/* Is @name in the comma-separated @set (NULL = every case)? */
static inline bool bench_selected(const struct bench_opts *o, const char *name)
{
	size_t len = strlen(name);
	const char *p = o->set;

	if (!p)
		return true;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == len && strncmp(p, name, len) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* Returns: 0, or -1 when @set names an unknown case (printed to stderr). */
static inline int bench_check_set(const char *set)
{
	const char *p = set;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		size_t i;

		for (i = 0; i < BENCH_NR_CASES; i++)
			if (strlen(bench_cases[i].name) == l &&
			    strncmp(bench_cases[i].name, p, l) == 0)
				break;
		if (i == BENCH_NR_CASES) {
			fprintf(stderr, "bench: unknown case '%.*s'\n", (int)l, p);
			return -1;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* Parse "1024,16384" or "1k,16k,256k,1m" (k/m = *1024, *1048576). */
static inline int bench_parse_sizes(struct bench_opts *o, const char *s)
{
	o->nsizes = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 0);

		if (end == s || o->nsizes == BENCH_MAX_SIZES)
			return -1;
		if (*end == 'k' || *end == 'K')
			v <<= 10, end++;
		else if (*end == 'm' || *end == 'M')
			v <<= 20, end++;
		if (v == 0 || v > (1UL << 24))
			return -1;
		o->sizes[o->nsizes++] = v;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	o->sizes_given = o->nsizes > 0;
	return o->nsizes > 0 ? 0 : -1;
}

static inline void bench_opts_init(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->runs = 5;
}

/* Fill the default sizes unless --size/--sizes gave some. */
static inline void bench_opts_finish(struct bench_opts *o)
{
	if (!o->sizes_given) {
		const unsigned long *s = o->quick ? bench_quick_sizes : bench_default_sizes;
		size_t n = o->quick ? 2 : 4;

		for (size_t i = 0; i < n; i++)
			o->sizes[i] = s[i];
		o->nsizes = (int)n;
	}
	if (o->runs < 1)
		o->runs = 1;
	if (o->runs > BENCH_MAX_RUNS)
		o->runs = BENCH_MAX_RUNS;
}

/*
 * The sizes a case runs at: K for the rmap walks (unless --sizes gave
 * them), else the page counts.
 */
static inline int bench_case_sizes(const struct bench_opts *o, const char *name,
				   unsigned long *out)
{
	if (bench_is_rmap(name) && !o->sizes_given) {
		const unsigned long *k = o->quick ? bench_quick_rmap_k : bench_rmap_k;
		int n = o->quick ? 2 : 3;

		for (int i = 0; i < n; i++)
			out[i] = k[i];
		return n;
	}
	for (int i = 0; i < o->nsizes; i++)
		out[i] = o->sizes[i];
	return o->nsizes;
}

static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A finished measurement: samples are ns per unit, one per run. */
struct bench_result {
	const char *side, *name, *unit;
	unsigned long n;
	int runs;
	double samples[BENCH_MAX_RUNS];
	double median, min, max;
	bool skip;
	char note[200];
};

static inline void bench_result_init(struct bench_result *r, const char *side,
				     const char *name, unsigned long n)
{
	memset(r, 0, sizeof(*r));
	r->side = side;
	r->name = name;
	r->n = n;
	r->unit = "ns/page";
	for (size_t i = 0; i < BENCH_NR_CASES; i++)
		if (strcmp(bench_cases[i].name, name) == 0 && bench_cases[i].per_op)
			r->unit = "ns/op";
}

static inline void bench_add(struct bench_result *r, double ns_total, double units)
{
	if (r->runs < BENCH_MAX_RUNS)
		r->samples[r->runs++] = ns_total / units;
}

static inline void bench_finish(struct bench_result *r)
{
	double s[BENCH_MAX_RUNS];
	int n = r->runs;

	if (n == 0) {
		r->skip = true;
		return;
	}
	memcpy(s, r->samples, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), bench_cmp_double);
	r->min = s[0];
	r->max = s[n - 1];
	r->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Print a note as a JSON string body: no quotes, backslashes or controls. */
static inline void bench_json_note(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '\'' : *s, f);
}

static inline void bench_print(FILE *f, const struct bench_result *r, bool json)
{
	if (json) {
		fprintf(f, "{\"side\":\"%s\",\"case\":\"%s\",\"n\":%lu,\"unit\":\"%s\","
			   "\"runs\":%d,\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,"
			   "\"status\":\"%s\",\"note\":\"",
			r->side, r->name, r->n, r->unit, r->runs, r->median, r->min, r->max,
			r->skip ? "skip" : "ok");
		bench_json_note(f, r->note);
		fprintf(f, "\"}\n");
	} else if (r->skip) {
		fprintf(f, "%-6s %-15s N=%-8lu ........ SKIP (%s)\n", r->side, r->name, r->n,
			r->note);
	} else {
		fprintf(f, "%-6s %-15s N=%-8lu ........ %12.2f %s  (min %.2f, max %.2f, %d runs)%s%s\n",
			r->side, r->name, r->n, r->median, r->unit, r->min, r->max, r->runs,
			r->note[0] ? "  " : "", r->note);
	}
	fflush(f);
}

/* A memory figure: {"side":..,"case":"mem-page"|"mem-vma",..,"unit":"B/page"}. */
static inline void bench_print_value(FILE *f, const char *side, const char *name,
				     unsigned long n, const char *unit, double v,
				     const char *note, bool json)
{
	if (json) {
		fprintf(f, "{\"side\":\"%s\",\"case\":\"%s\",\"n\":%lu,\"unit\":\"%s\","
			   "\"runs\":1,\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,"
			   "\"status\":\"ok\",\"note\":\"",
			side, name, n, unit, v, v, v);
		bench_json_note(f, note);
		fprintf(f, "\"}\n");
	} else {
		fprintf(f, "%-6s %-15s N=%-8lu ........ %12.2f %s  %s\n", side, name, n, v, unit,
			note);
	}
	fflush(f);
}

#endif /* ANONVM_BENCH_H */
