/*
 * fuzz.c - `anonvm fuzz`: differential fuzzing of the model against this
 * kernel.  Each run generates a random scenario (host/gen.c), runs it on
 * both (host/oracle.c), and on a divergence shrinks it by delta debugging
 * over lines (ddmin: drop chunks of lines while the scenario still
 * diverges, halving the chunk size down to single lines) and writes the
 * minimal scenario to DIR/fuzz-SEED-RUN.avm, ready to become a regression
 * test under tests/scenarios/regress/.
 *
 * Deterministic: run i of seed S uses the scenario seed S * 1000003 + i,
 * so `--seed S --runs 1 --skip i` replays one run.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "exec.h"
#include "host.h"
#include "scenario.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: anonvm fuzz --seed S --runs R --steps N [OPTIONS]\n\n"
		"Random scenarios on the model and on this kernel (root), compared after\n"
		"every line; a divergence is shrunk to a minimal scenario and saved.\n\n"
		"  --seed S        first seed (default 1)\n"
		"  --runs R        scenarios to run (default 100)\n"
		"  --steps N       operations per scenario (default 40)\n"
		"  --procs P       at most P live processes (1-8, default 4)\n"
		"  --out DIR       where shrunk divergences go (default fuzz-out)\n"
		"  --skip K        start at run K (replay one run with --runs 1)\n"
		"  --no-pins --no-uffd --no-swap   leave those operations out\n"
		"  --limits        also generate small vm.max_map_count limits\n"
		"  --print         print each generated scenario, do not run it\n"
		"  --shrink FILE   shrink a diverging scenario file, print the result\n"
		"  --no-shrink     save diverging scenarios as generated (faster)\n"
		"  --max-div N     stop after N divergences (default 10)\n"
		"  -q, --quiet     no progress line\n"
		"  -h, --help      this text\n\n"
		"Exit status: 0 no divergence, 1 divergence, 2 usage.\n");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run one scenario text; returns the verdict (quietly). */
static enum host_verdict run_text(struct host_env *env, const char *name, const char *text,
				  FILE *report, struct host_diff_result *res)
{
	struct scenario sc;
	struct script_error err;
	memset(&sc, 0, sizeof(sc));
	if (scenario_parse(name, text, strlen(text), &sc, &err)) {
		if (report) {
			char buf[512];
			script_error_format(&err, buf, sizeof(buf));
			fprintf(report, "ERROR %s\n", buf);
		}
		memset(res, 0, sizeof(*res));
		res->verdict = HOST_ERROR;
		return HOST_ERROR;
	}
	struct host_diff_options opt = { .out = report, .source = text, .lenient = true };
	enum host_verdict v = host_diff_isolated(env, &sc, &opt, res);
	scenario_free(&sc);
	return v;
}

/* Lines of a text (the header comment kept first). */
struct lines {
	char **l;
	size_t n;
};

static void split_lines(const char *text, struct lines *ls)
{
	ls->n = 0;
	ls->l = NULL;
	size_t cap = 0;
	while (*text) {
		const char *e = strchr(text, '\n');
		size_t len = e ? (size_t)(e - text) : strlen(text);
		if (ls->n == cap) {
			cap = cap ? cap * 2 : 64;
			ls->l = realloc(ls->l, cap * sizeof(char *));
		}
		ls->l[ls->n++] = strndup(text, len);
		text += len + (e ? 1 : 0);
	}
}

static char *join(const struct lines *ls, const bool *keep)
{
	size_t len = 1;
	for (size_t i = 0; i < ls->n; i++)
		len += strlen(ls->l[i]) + 1;
	char *s = malloc(len), *p = s;
	for (size_t i = 0; i < ls->n; i++) {
		if (keep && !keep[i])
			continue;
		size_t k = strlen(ls->l[i]);
		memcpy(p, ls->l[i], k);
		p += k;
		*p++ = '\n';
	}
	*p = 0;
	return s;
}

/* The kind of a divergence, to keep shrinking on the same bug ("state:", "mapcount:" ...). */
static void reason_kind(const char *reason, char *out, size_t len)
{
	if (!strncmp(reason, "model crash", 11)) {
		snprintf(out, len, "%s", reason);
		return;
	}
	const char *c = strstr(reason, ": ");
	const char *k = c ? c + 2 : reason;
	size_t n = strcspn(k, ":(");
	if (n >= len)
		n = len - 1;
	memcpy(out, k, n);
	out[n] = 0;
}

/*
 * ddmin over lines: try dropping chunks; keep a drop when the scenario
 * still diverges the same way.  Line 1 (the header) is always kept.
 */
static char *shrink(struct host_env *env, const char *text, const char *kind, unsigned *tries)
{
	struct lines ls;
	split_lines(text, &ls);
	bool *keep = malloc(ls.n * sizeof(bool));
	for (size_t i = 0; i < ls.n; i++)
		keep[i] = true;
	size_t chunk = ls.n / 2 ? ls.n / 2 : 1;
	*tries = 0;
	while (chunk >= 1) {
		bool progress = false;
		for (size_t start = 1; start < ls.n; start += chunk) {
			size_t dropped = 0;
			bool *trial = malloc(ls.n * sizeof(bool));
			memcpy(trial, keep, ls.n * sizeof(bool));
			for (size_t i = start; i < start + chunk && i < ls.n; i++)
				if (trial[i]) {
					trial[i] = false;
					dropped++;
				}
			if (!dropped) {
				free(trial);
				continue;
			}
			char *cand = join(&ls, trial);
			struct host_diff_result res;
			char k2[64];
			(*tries)++;
			enum host_verdict v = run_text(env, "shrink", cand, NULL, &res);
			reason_kind(res.reason, k2, sizeof(k2));
			if (v == HOST_DIVERGE && !strcmp(k2, kind)) {
				memcpy(keep, trial, ls.n * sizeof(bool));
				progress = true;
			}
			free(cand);
			free(trial);
		}
		if (!progress) {
			if (chunk == 1)
				break;
			chunk /= 2;
		}
	}
	char *out = join(&ls, keep);
	for (size_t i = 0; i < ls.n; i++)
		free(ls.l[i]);
	free(ls.l);
	free(keep);
	return out;
}

static int shrink_one(struct host_env *env, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		host_env_fini(env);
		return cli_usage_error("fuzz", "cannot open the file to shrink");
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, 0, f);
	fclose(f);
	struct host_diff_result res;
	int rc = 1;
	if (n > 0 && run_text(env, path, text, NULL, &res) == HOST_DIVERGE) {
		char kind[64];
		unsigned tries;
		reason_kind(res.reason, kind, sizeof(kind));
		char *small = shrink(env, text, kind, &tries);
		printf("# shrunk from %s (%u shrink runs): %s\n%s", path, tries, res.reason, small);
		free(small);
		rc = 0;
	} else {
		fprintf(stderr, "anonvm fuzz: %s does not diverge\n", path);
	}
	free(text);
	host_env_fini(env);
	return rc;
}

int cmd_fuzz(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },  { "runs", required_argument, NULL, 'r' },
		{ "steps", required_argument, NULL, 'n' }, { "procs", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },   { "skip", required_argument, NULL, 'K' },
		{ "no-pins", no_argument, NULL, 'P' },     { "no-uffd", no_argument, NULL, 'U' },
		{ "no-swap", no_argument, NULL, 'S' },     { "limits", no_argument, NULL, 'L' },
		{ "print", no_argument, NULL, 'x' },       { "max-div", required_argument, NULL, 'M' },
		{ "quiet", no_argument, NULL, 'q' },       { "help", no_argument, NULL, 'h' },
		{ "shrink", required_argument, NULL, 'X' }, { "no-shrink", no_argument, NULL, 'N' },
		{ "version", no_argument, NULL, 'V' },     { NULL, 0, NULL, 0 },
	};
	unsigned long long seed = 1;
	unsigned long runs = 100, skip = 0, max_div = 10;
	struct host_gen_options g = { .steps = 40, .procs = 4, .swap = true, .pins = true,
				      .uffd = true };
	const char *outdir = "fuzz-out";
	bool quiet = false, print = false, no_shrink = false;
	const char *shrink_file = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:r:n:p:o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'r': runs = strtoul(optarg, NULL, 0); break;
		case 'n': g.steps = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': g.procs = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'o': outdir = optarg; break;
		case 'K': skip = strtoul(optarg, NULL, 0); break;
		case 'P': g.pins = false; break;
		case 'U': g.uffd = false; break;
		case 'S': g.swap = false; break;
		case 'L': g.limits = true; break;
		case 'x': print = true; break;
		case 'X': shrink_file = optarg; break;
		case 'N': no_shrink = true; break;
		case 'M': max_div = strtoul(optarg, NULL, 0); break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': cli_version("fuzz"); return 0;
		default: return cli_usage_error("fuzz", "unknown option");
		}
	}
	if (g.procs < 1 || g.procs > 8)
		return cli_usage_error("fuzz", "--procs must be 1..8");
	if (print) {
		for (unsigned long i = skip; i < skip + runs; i++) {
			g.seed = seed * 1000003ULL + i;
			char *t = host_gen_scenario(&g);
			printf("%s", t ? t : "");
			free(t);
		}
		return 0;
	}

	struct host_env env;
	char msg[256];
	if (host_env_init(&env, g.swap, msg, sizeof(msg))) {
		printf("SKIP fuzz: %s\n", msg);
		return 0;
	}
	if (shrink_file)
		return shrink_one(&env, shrink_file);
	if (!env.swap)
		g.swap = false;
	if (!env.io_uring)
		g.pins = false;
	if (!env.uffd_move || !env.uffd_sigbus)
		g.uffd = false;
	bool tty = !quiet && isatty(2);
	unsigned long npass = 0, ndiv = 0, nskip = 0, nerr = 0, ops = 0, pages = 0;
	double t0 = now(), last = 0;
	for (unsigned long i = skip; i < skip + runs; i++) {
		g.seed = seed * 1000003ULL + i;
		char *text = host_gen_scenario(&g);
		char name[64];
		snprintf(name, sizeof(name), "fuzz-%llu-%lu", seed, i);
		struct host_diff_result res;
		enum host_verdict v = run_text(&env, name, text, NULL, &res);
		ops += res.ops_run;
		pages += res.pages_compared;
		if (v == HOST_PASS)
			npass++;
		else if (v == HOST_SKIP) {
			nskip++;
			fprintf(stderr, "%sSKIP %s:%d: %s\n", tty ? "\n" : "", name, res.line,
				res.reason);
		}
		else if (v == HOST_ERROR) {
			nerr++;
			fprintf(stderr, "\nERROR %s:%d: %s\n", name, res.line, res.reason);
		} else {
			ndiv++;
			char kind[64], path[512];
			unsigned tries;
			reason_kind(res.reason, kind, sizeof(kind));
			fprintf(stderr, "%sDIVERGE %s:%d: %s\n", tty ? "\n" : "", name, res.line,
				res.reason);
			char *small = no_shrink ? strdup(text) : shrink(&env, text, kind, &tries);
			if (no_shrink)
				tries = 0;
			mkdir(outdir, 0755);
			snprintf(path, sizeof(path), "%s/%s.avm", outdir, name);
			FILE *f = fopen(path, "w");
			if (f) {
				fprintf(f, "# shrunk from %s (%u shrink runs): %s\n", name, tries,
					res.reason);
				fputs(small, f);
				fclose(f);
			}
			fprintf(stderr, "  saved as %s\n", path);
			if (!no_shrink)
				run_text(&env, path, small, stderr, &res);
			free(small);
		}
		free(text);
		double t = now();
		if (tty && (t - last > 0.25 || i + 1 == skip + runs)) {
			last = t;
			fprintf(stderr, "\rfuzz: %lu/%lu runs, %.1f runs/s, %lu clean, %lu diverged, "
					"%lu skipped, %lu errors ",
				i + 1 - skip, runs, (double)(i + 1 - skip) / (t - t0), npass, ndiv, nskip,
				nerr);
		}
		if (ndiv >= max_div)
			break;
	}
	if (tty)
		fputc('\n', stderr);
	host_env_fini(&env);
	printf("fuzz seed %llu: %lu runs of %u steps (<= %u procs): %lu clean, %lu diverged, "
	       "%lu skipped, %lu errors; %lu ops, %lu page comparisons, %.1fs\n",
	       seed, npass + ndiv + nskip + nerr, g.steps, g.procs, npass, ndiv, nskip, nerr, ops,
	       pages, now() - t0);
	return ndiv || nerr ? 1 : 0;
}
