/*
 * report.c - joins the result lines of bench/kernel and `anonvm bench`
 * (bench/bench.h gives the format) into bench/results/:
 *
 *   results.md    the table (case, N, kernel, model, kernel/model with
 *                 median [min..max]), growth exponents, memory, targets
 *   results.json  the same numbers as one JSON document
 *   chart.svg     log-log cost per page (or per op) against N, one panel
 *                 per case, kernel and model; drawn by hand, no library
 *
 * Usage: report RAW.jsonl OUTDIR [MACHINE-DESCRIPTION]
 *
 * The growth exponent is the least-squares slope of log(total cost)
 * against log(N): total = per-page cost * N for per-page cases (and for
 * churn, whose N counts pairs), the per-operation cost otherwise.  1.0 is
 * linear; a per-page cost that falls with N (fixed costs amortised) gives
 * less than 1.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_ROWS 1024

struct row {
	char side[16], name[32], unit[16], status[8], note[200];
	unsigned long n;
	int runs;
	double median, min, max;
};

static struct row rows[MAX_ROWS];
static int nrows;

/* The text after "key": in a flat JSON line, or NULL. */
static const char *field(const char *line, const char *key)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	return p ? p + strlen(pat) : NULL;
}

static void field_str(const char *line, const char *key, char *out, size_t len)
{
	const char *p = field(line, key);
	size_t i = 0;

	out[0] = 0;
	if (!p || *p != '"')
		return;
	for (p++; *p && *p != '"' && i + 1 < len; p++)
		out[i++] = *p;
	out[i] = 0;
}

static double field_num(const char *line, const char *key)
{
	const char *p = field(line, key);

	return p ? strtod(p, NULL) : 0;
}

static void load(const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) && nrows < MAX_ROWS) {
		struct row *r = &rows[nrows];

		if (line[0] != '{')
			continue;
		field_str(line, "side", r->side, sizeof(r->side));
		field_str(line, "case", r->name, sizeof(r->name));
		field_str(line, "unit", r->unit, sizeof(r->unit));
		field_str(line, "status", r->status, sizeof(r->status));
		field_str(line, "note", r->note, sizeof(r->note));
		r->n = (unsigned long)field_num(line, "n");
		r->runs = (int)field_num(line, "runs");
		r->median = field_num(line, "median");
		r->min = field_num(line, "min");
		r->max = field_num(line, "max");
		if (r->side[0] && r->name[0])
			nrows++;
	}
	fclose(f);
}

static const struct row *find(const char *side, const char *name, unsigned long n)
{
	for (int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].side, side) && !strcmp(rows[i].name, name) &&
		    (n == 0 || rows[i].n == n))
			return &rows[i];
	return NULL;
}

static bool ok(const struct row *r)
{
	return r && !strcmp(r->status, "ok") && r->median > 0;
}

/* Sorted distinct N of a case over both sides. */
static int sizes_of(const char *name, unsigned long *out)
{
	int k = 0;

	for (int i = 0; i < nrows; i++) {
		if (strcmp(rows[i].name, name))
			continue;
		int j;

		for (j = 0; j < k; j++)
			if (out[j] == rows[i].n)
				break;
		if (j == k && k < BENCH_MAX_SIZES)
			out[k++] = rows[i].n;
	}
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			unsigned long t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return k;
}

static bool scales_with_n(const char *name, const char *unit)
{
	return !strcmp(unit, "ns/page") || !strcmp(name, "churn");
}

/* Least-squares slope of log(total) on log(N); NAN with < 2 points. */
static double exponent(const char *side, const char *name)
{
	unsigned long ns[BENCH_MAX_SIZES];
	int k = sizes_of(name, ns), m = 0;
	double sx = 0, sy = 0, sxx = 0, sxy = 0;

	for (int i = 0; i < k; i++) {
		const struct row *r = find(side, name, ns[i]);

		if (!ok(r))
			continue;
		double x = log((double)ns[i]);
		double y = log(r->median * (scales_with_n(name, r->unit) ? (double)ns[i] : 1.0));

		sx += x, sy += y, sxx += x * x, sxy += x * y, m++;
	}
	if (m < 2 || sxx * m - sx * sx == 0)
		return NAN;
	return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

/* 3 significant digits, no exponent: 12345, 123.4, 1.23, 0.0123. */
static void fmt_num(char *buf, size_t len, double v)
{
	if (v >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (v >= 100)
		snprintf(buf, len, "%.1f", v);
	else if (v >= 1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

static void fmt_cell(char *buf, size_t len, const struct row *r)
{
	char a[32], b[32], c[32];

	if (!r)
		snprintf(buf, len, "-");
	else if (!ok(r))
		snprintf(buf, len, "SKIP");
	else {
		fmt_num(a, sizeof(a), r->median);
		fmt_num(b, sizeof(b), r->min);
		fmt_num(c, sizeof(c), r->max);
		snprintf(buf, len, "%s [%s..%s]", a, b, c);
	}
}

static bool is_case(const char *name)
{
	for (size_t i = 0; i < BENCH_NR_CASES; i++)
		if (!strcmp(bench_cases[i].name, name))
			return true;
	return false;
}

/* ---- targets (issue 5 item 4) ----------------------------------------- */

struct target {
	char what[160], measured[700];
	int pass; /* 1 pass, 0 miss, -1 not measured */
};

static struct target targets[64];
static int ntargets;

static struct target *target_add(const char *what)
{
	struct target *t = &targets[ntargets++];

	snprintf(t->what, sizeof(t->what), "%s", what);
	t->pass = -1;
	snprintf(t->measured, sizeof(t->measured), "not measured");
	return t;
}

static void compute_targets(void)
{
	struct target *t;
	const struct row *r;
	char worst[200] = "";
	double worst_ratio = INFINITY;
	int pairs = 0;

	/* every per-page case >= 10x faster than the kernel, at every N */
	t = target_add("every per-page case >= 10x faster than the kernel (kernel/model >= 10)");
	{
		char below[400] = "";
		size_t bl = 0;
		int nbelow = 0;

		for (size_t c = 0; c < BENCH_NR_CASES; c++) {
			unsigned long ns[BENCH_MAX_SIZES];
			int k;

			if (bench_cases[c].per_op)
				continue;
			k = sizes_of(bench_cases[c].name, ns);
			for (int i = 0; i < k; i++) {
				const struct row *kr = find("kernel", bench_cases[c].name, ns[i]);
				const struct row *mr = find("model", bench_cases[c].name, ns[i]);
				double ratio;
				char rb[32];

				if (!ok(kr) || !ok(mr))
					continue;
				pairs++;
				ratio = kr->median / mr->median;
				if (ratio < worst_ratio) {
					worst_ratio = ratio;
					snprintf(worst, sizeof(worst), "%s N=%lu", bench_cases[c].name,
						 ns[i]);
				}
				if (ratio >= 10)
					continue;
				nbelow++;
				fmt_num(rb, sizeof(rb), ratio);
				if (bl < sizeof(below) - 48)
					bl += (size_t)snprintf(below + bl, sizeof(below) - bl, "%s%s@%lu %sx",
							       bl ? ", " : "", bench_cases[c].name,
							       ns[i], rb);
			}
		}
		if (pairs) {
			char wr[32];

			fmt_num(wr, sizeof(wr), worst_ratio);
			t->pass = worst_ratio >= 10;
			snprintf(t->measured, sizeof(t->measured),
				 "%d of %d (case, N) pairs below 10x%s%s; worst %sx (%s)", nbelow, pairs,
				 nbelow ? ": " : "", below, wr, worst);
		}
	}

	t = target_add("fork of 262144 resident pages <= 10 ns/page (model)");
	r = find("model", "fork", 262144);
	if (ok(r)) {
		t->pass = r->median <= 10;
		snprintf(t->measured, sizeof(t->measured), "%.2f ns/page", r->median);
	}

	t = target_add("mmap+munmap churn >= 1,000,000 pairs/s (model)");
	{
		double best = INFINITY;

		for (int i = 0; i < nrows; i++)
			if (!strcmp(rows[i].side, "model") && !strcmp(rows[i].name, "churn") &&
			    ok(&rows[i]) && rows[i].median < best && rows[i].n >= 1024)
				best = rows[i].median;
		r = NULL;
		for (int i = 0; i < nrows; i++)
			if (!strcmp(rows[i].side, "model") && !strcmp(rows[i].name, "churn") &&
			    ok(&rows[i]))
				r = &rows[i]; /* the largest N: sizes come in order */
		if (r) {
			t->pass = 1e9 / r->median >= 1e6;
			snprintf(t->measured, sizeof(t->measured), "%.0f pairs/s at N=%lu",
				 1e9 / r->median, r->n);
		}
		(void)best;
	}

	t = target_add("scenario interpretation >= 1,000,000 simple lines/s");
	r = find("model", "interp", 0);
	if (ok(r)) {
		t->pass = r->median >= 1e6;
		snprintf(t->measured, sizeof(t->measured), "%.0f lines/s (%s)", r->median, r->note);
	}

	t = target_add("<= 48 host bytes per resident page (model, N = 1048576)");
	r = find("model", "mem-page", 0);
	if (ok(r)) {
		t->pass = r->median <= 48;
		snprintf(t->measured, sizeof(t->measured), "%.2f B/page at N=%lu", r->median, r->n);
	}

	t = target_add("every case linear in N (model growth exponent <= 1.10)");
	{
		double worst_e = -INFINITY;
		char wn[64] = "";

		for (size_t c = 0; c < BENCH_NR_CASES; c++) {
			double e = exponent("model", bench_cases[c].name);

			if (isnan(e) || bench_is_rmap(bench_cases[c].name))
				continue;
			if (e > worst_e) {
				worst_e = e;
				snprintf(wn, sizeof(wn), "%s", bench_cases[c].name);
			}
		}
		if (worst_e > -INFINITY) {
			t->pass = worst_e <= 1.10;
			snprintf(t->measured, sizeof(t->measured), "largest exponent %.3f (%s)",
				 worst_e, wn);
		}
	}
}

static const char *pass_word(int p)
{
	return p == 1 ? "met" : p == 0 ? "MISSED" : "not measured";
}

/* ---- Markdown ------------------------------------------------------------ */

static void write_md(FILE *f, const char *machine)
{
	fprintf(f, "# anonvm benchmarks: the model against the kernel\n\n");
	fprintf(f, "Machine: %s\n\n", machine);
	fprintf(f, "Produced by `make bench` (bench/run.sh): bench/kernel and `anonvm bench` run "
		   "alternately, case by case and size by size. Cells are the median of the runs "
		   "[min..max]; kernel/model > 1 means the model is faster.\n\n");
	fprintf(f, "| case | N | unit | kernel | model | kernel/model |\n");
	fprintf(f, "|---|---:|---|---:|---:|---:|\n");
	for (size_t c = 0; c < BENCH_NR_CASES; c++) {
		unsigned long ns[BENCH_MAX_SIZES];
		int k = sizes_of(bench_cases[c].name, ns);

		for (int i = 0; i < k; i++) {
			const struct row *kr = find("kernel", bench_cases[c].name, ns[i]);
			const struct row *mr = find("model", bench_cases[c].name, ns[i]);
			char kc[112], mc[112], ratio[32] = "-";

			fmt_cell(kc, sizeof(kc), kr);
			fmt_cell(mc, sizeof(mc), mr);
			if (ok(kr) && ok(mr))
				fmt_num(ratio, sizeof(ratio), kr->median / mr->median);
			fprintf(f, "| %s | %lu%s | %s | %s | %s | %s |\n", bench_cases[c].name, ns[i],
				bench_is_rmap(bench_cases[c].name) ? " (K)" : "",
				kr ? kr->unit : mr ? mr->unit : "", kc, mc, ratio);
		}
	}

	fprintf(f, "\n## Cases\n\n");
	for (size_t c = 0; c < BENCH_NR_CASES; c++) {
		const struct row *kr = find("kernel", bench_cases[c].name, 0);
		const struct row *mr = find("model", bench_cases[c].name, 0);
		char kn[200] = "", mn[200] = "";

		/* the note of the last row with one (skips explain themselves) */
		for (int i = 0; i < nrows; i++) {
			if (strcmp(rows[i].name, bench_cases[c].name) || !rows[i].note[0])
				continue;
			if (!strcmp(rows[i].side, "kernel"))
				snprintf(kn, sizeof(kn), "%s", rows[i].note);
			else
				snprintf(mn, sizeof(mn), "%s", rows[i].note);
		}
		if (!kr && !mr)
			continue;
		fprintf(f, "- **%s**: %s.%s%s%s%s\n", bench_cases[c].name, bench_cases[c].what,
			kn[0] ? " Kernel: " : "", kn, mn[0] ? " Model: " : "", mn);
	}

	fprintf(f, "\n## Growth exponents (slope of log total cost against log N; 1 = linear)\n\n");
	fprintf(f, "| case | kernel | model |\n|---|---:|---:|\n");
	for (size_t c = 0; c < BENCH_NR_CASES; c++) {
		double ek = exponent("kernel", bench_cases[c].name);
		double em = exponent("model", bench_cases[c].name);
		char a[32] = "-", b[32] = "-";

		if (!isnan(ek))
			snprintf(a, sizeof(a), "%.3f", ek);
		if (!isnan(em))
			snprintf(b, sizeof(b), "%.3f", em);
		if (isnan(ek) && isnan(em))
			continue;
		fprintf(f, "| %s%s | %s | %s |\n", bench_cases[c].name,
			bench_is_rmap(bench_cases[c].name) ? " (cost per walk against K)" :
			!strcmp(bench_cases[c].what + strlen(bench_cases[c].what) - 8, "per call") ?
							    " (cost per call against N)" : "",
			a, b);
	}

	fprintf(f, "\nThe exponents are slopes of wall-clock medians on this guest; below 1 means "
		   "fixed costs (set-up, a call's own overhead) spread over more pages.  The "
		   "model's process first does one untimed run, where its heap grows and pays a "
		   "host page fault per 4 KiB of model state (as slow as the kernel's write-fault "
		   "row: one host fault per page), so the timed runs measure the model, not the "
		   "host's first touch of its memory.  Fresh processes on this guest can run the "
		   "same work up to twice as slowly as the one before: a cell's [min..max] is "
		   "within one process, and the sizes of a case run minutes apart.\n");
	fprintf(f, "\n## Memory and interpretation\n\n| figure | N | kernel | model | note |\n"
		   "|---|---:|---:|---:|---|\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *kr, *mr;
		int j;

		if (is_case(rows[i].name))
			continue;
		for (j = 0; j < i; j++)
			if (!strcmp(rows[j].name, rows[i].name))
				break;
		if (j < i)
			continue; /* printed with its first row */
		kr = find("kernel", rows[i].name, 0);
		mr = find("model", rows[i].name, 0);
		fprintf(f, "| %s (%s) | %lu | ", rows[i].name, rows[i].unit, rows[i].n);
		if (kr)
			fprintf(f, "%.2f", kr->median);
		fprintf(f, " | ");
		if (mr)
			fprintf(f, "%.2f", mr->median);
		fprintf(f, " | %s%s%s%s%s |\n", kr ? "kernel: " : "", kr ? kr->note : "",
			kr && mr ? "; " : "", mr ? "model: " : "", mr ? mr->note : "");
	}

	fprintf(f, "\n## Targets (issue 5)\n\n| target | measured | |\n|---|---|---|\n");
	for (int i = 0; i < ntargets; i++)
		fprintf(f, "| %s | %s | %s |\n", targets[i].what, targets[i].measured,
			pass_word(targets[i].pass));
	fprintf(f, "\nThe chart: chart.svg (log-log, cost per page or per operation against N).\n");
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_row(FILE *f, const struct row *r)
{
	if (!r) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,\"runs\":%d,\"status\":\"%s\","
		   "\"note\":\"%s\"}",
		r->median, r->min, r->max, r->runs, r->status, r->note);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v))
		fprintf(f, "null");
	else
		fprintf(f, "%.4f", v);
}

static void write_json(FILE *f, const char *machine)
{
	bool first = true;

	fprintf(f, "{\n  \"machine\": \"");
	bench_json_note(f, machine);
	fprintf(f, "\",\n  \"results\": [\n");
	for (size_t c = 0; c < BENCH_NR_CASES; c++) {
		unsigned long ns[BENCH_MAX_SIZES];
		int k = sizes_of(bench_cases[c].name, ns);

		for (int i = 0; i < k; i++) {
			const struct row *kr = find("kernel", bench_cases[c].name, ns[i]);
			const struct row *mr = find("model", bench_cases[c].name, ns[i]);

			fprintf(f, "%s    {\"case\":\"%s\",\"n\":%lu,\"unit\":\"%s\",\"kernel\":",
				first ? "" : ",\n", bench_cases[c].name, ns[i],
				kr ? kr->unit : mr ? mr->unit : "");
			json_row(f, kr);
			fprintf(f, ",\"model\":");
			json_row(f, mr);
			fprintf(f, ",\"ratio\":");
			json_num(f, ok(kr) && ok(mr) ? kr->median / mr->median : NAN);
			fprintf(f, "}");
			first = false;
		}
	}
	fprintf(f, "\n  ],\n  \"exponents\": [\n");
	first = true;
	for (size_t c = 0; c < BENCH_NR_CASES; c++) {
		fprintf(f, "%s    {\"case\":\"%s\",\"kernel\":", first ? "" : ",\n",
			bench_cases[c].name);
		json_num(f, exponent("kernel", bench_cases[c].name));
		fprintf(f, ",\"model\":");
		json_num(f, exponent("model", bench_cases[c].name));
		fprintf(f, "}");
		first = false;
	}
	fprintf(f, "\n  ],\n  \"other\": [\n");
	first = true;
	for (int i = 0; i < nrows; i++) {
		if (is_case(rows[i].name))
			continue;
		fprintf(f, "%s    {\"side\":\"%s\",\"figure\":\"%s\",\"n\":%lu,\"unit\":\"%s\","
			   "\"value\":%.3f,\"note\":\"%s\"}",
			first ? "" : ",\n", rows[i].side, rows[i].name, rows[i].n, rows[i].unit,
			rows[i].median, rows[i].note);
		first = false;
	}
	fprintf(f, "\n  ],\n  \"targets\": [\n");
	for (int i = 0; i < ntargets; i++)
		fprintf(f, "%s    {\"target\":\"%s\",\"measured\":\"%s\",\"status\":\"%s\"}",
			i ? ",\n" : "", targets[i].what, targets[i].measured,
			pass_word(targets[i].pass));
	fprintf(f, "\n  ]\n}\n");
}

/* ---- SVG ------------------------------------------------------------------- */

#define PW 330 /* panel width, height */
#define PH 230
#define ML 58 /* plot margins inside a panel */
#define MR 12
#define MT 28
#define MB 36
#define COLS 4

static void svg_panel(FILE *f, int idx, const struct bench_case *bc)
{
	unsigned long ns[BENCH_MAX_SIZES];
	int k = sizes_of(bc->name, ns);
	double x0 = (idx % COLS) * PW, y0 = (idx / COLS) * PH + 40;
	double lxmin = INFINITY, lxmax = -INFINITY, lymin = INFINITY, lymax = -INFINITY;
	static const char *const sides[] = { "kernel", "model" };
	static const char *const colors[] = { "#c0392b", "#2471a3" };
	const char *unit = "";

	for (int i = 0; i < k; i++)
		for (int s = 0; s < 2; s++) {
			const struct row *r = find(sides[s], bc->name, ns[i]);

			if (!ok(r))
				continue;
			unit = r->unit;
			lxmin = fmin(lxmin, floor(log10((double)ns[i])));
			lxmax = fmax(lxmax, ceil(log10((double)ns[i])));
			lymin = fmin(lymin, floor(log10(r->median)));
			lymax = fmax(lymax, ceil(log10(r->median)));
		}
	fprintf(f, "<g transform=\"translate(%.0f,%.0f)\">\n", x0, y0);
	fprintf(f, "<text x=\"%d\" y=\"16\" font-weight=\"bold\">%s</text>\n", ML, bc->name);
	if (lxmin > lxmax) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\">no data (SKIP)</text></g>\n", ML,
			PH / 2);
		return;
	}
	if (lxmax - lxmin < 1)
		lxmax = lxmin + 1;
	if (lymax - lymin < 1)
		lymax = lymin + 1;

	double pw = PW - ML - MR, ph = PH - MT - MB;
#define SX(lx) (ML + ((lx) - lxmin) / (lxmax - lxmin) * pw)
#define SY(ly) (MT + ph - ((ly) - lymin) / (lymax - lymin) * ph)

	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
		   "stroke=\"#444\"/>\n", ML, MT, pw, ph);
	for (double d = lxmin; d <= lxmax + 1e-9; d++) {
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n",
			SX(d), MT, SX(d), MT + ph);
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" font-size=\"10\">"
			   "1e%.0f</text>\n", SX(d), MT + ph + 13, d);
	}
	for (double d = lymin; d <= lymax + 1e-9; d++) {
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			ML, SY(d), ML + pw, SY(d));
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">"
			   "1e%.0f</text>\n", ML - 4, SY(d) + 3, d);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%s</text>\n",
		ML + pw / 2, PH - 8, bench_is_rmap(bc->name) ? "K processes" : "N");
	fprintf(f, "<text x=\"12\" y=\"%.0f\" font-size=\"10\" transform=\"rotate(-90 12 %.0f)\" "
		   "text-anchor=\"middle\">%s</text>\n", MT + ph / 2, MT + ph / 2, unit);
	for (int s = 0; s < 2; s++) {
		bool started = false;

		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
			colors[s]);
		for (int i = 0; i < k; i++) {
			const struct row *r = find(sides[s], bc->name, ns[i]);

			if (!ok(r))
				continue;
			fprintf(f, "%s%.1f,%.1f", started ? " " : "", SX(log10((double)ns[i])),
				SY(log10(r->median)));
			started = true;
		}
		fprintf(f, "\"/>\n");
		for (int i = 0; i < k; i++) {
			const struct row *r = find(sides[s], bc->name, ns[i]);

			if (!ok(r))
				continue;
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\">"
				   "<title>%s N=%lu: %.4g %s</title></circle>\n",
				SX(log10((double)ns[i])), SY(log10(r->median)), colors[s], sides[s],
				ns[i], r->median, r->unit);
		}
	}
#undef SX
#undef SY
	fprintf(f, "</g>\n");
}

static void write_svg(FILE *f)
{
	int n = (int)BENCH_NR_CASES;
	int rowsn = (n + COLS - 1) / COLS;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "font-family=\"sans-serif\" font-size=\"12\">\n",
		COLS * PW, rowsn * PH + 50);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"15\">anonvm bench: cost per page (or per "
		   "op) against N, log-log; flat = linear growth</text>\n");
	fprintf(f, "<rect x=\"%d\" y=\"9\" width=\"14\" height=\"4\" fill=\"#c0392b\"/>"
		   "<text x=\"%d\" y=\"15\">kernel</text>\n", COLS * PW - 200, COLS * PW - 182);
	fprintf(f, "<rect x=\"%d\" y=\"9\" width=\"14\" height=\"4\" fill=\"#2471a3\"/>"
		   "<text x=\"%d\" y=\"15\">model</text>\n", COLS * PW - 110, COLS * PW - 92);
	for (int i = 0; i < n; i++)
		svg_panel(f, i, &bench_cases[i]);
	fprintf(f, "</svg>\n");
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

int main(int argc, char **argv)
{
	FILE *f;
	const char *machine = argc > 3 ? argv[3] : "unknown";

	if (argc < 3) {
		fprintf(stderr, "usage: report RAW.jsonl OUTDIR [MACHINE]\n");
		return 1;
	}
	load(argv[1]);
	compute_targets();
	f = open_out(argv[2], "results.md");
	write_md(f, machine);
	fclose(f);
	f = open_out(argv[2], "results.json");
	write_json(f, machine);
	fclose(f);
	f = open_out(argv[2], "chart.svg");
	write_svg(f);
	fclose(f);
	for (int i = 0; i < ntargets; i++)
		printf("target: %-75s %-40s %s\n", targets[i].what, targets[i].measured,
		       pass_word(targets[i].pass));
	return 0;
}
