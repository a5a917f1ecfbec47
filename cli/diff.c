/*
 * diff.c - `anonvm diff [OPTIONS] FILE...`: run each scenario on the model
 * and on this machine's kernel side by side (host/oracle.c) and report the
 * first divergence: the line, both sides' maps, the differing pages.
 *
 * Verdicts per file: PASS, DIVERGE, SKIP (the environment cannot check
 * it: not root, no kpageflags, an op with no host equivalent...), ERROR
 * (the scenario itself is broken).  Exit status: 0 when nothing diverged
 * or failed, 1 otherwise, 2 on a usage error.  A SKIP is not a failure,
 * and not a pass either: the summary counts it separately.
 *
 * A file with a line `# xfail-host: WHY` documents a known divergence (a
 * model bug found by the oracle and not fixed yet): diverging there is
 * XFAIL (not a failure); passing is XPASS, reported so the line can go.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exec.h"
#include "host.h"
#include "scenario.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: anonvm diff [OPTIONS] FILE...\n\n"
		"Run each scenario on the model and on this kernel (root), comparing after\n"
		"every line: VMA lists, per-page state, PG_anon_exclusive, mapcount,\n"
		"content, frame identity, every result and errno.  Stops a file at its\n"
		"first divergence.\n\n"
		"  --json          one JSON object per file\n"
		"  --keep-going    run every file even after a divergence\n"
		"  --policy NAME   model policy (default linux)\n"
		"  --no-swap       do not set up a zram swap device\n"
		"  --selftest      check the host side alone (puppets, /proc, kernel facts)\n"
		"  -v, --verbose   print PASS lines and the environment\n"
		"  -h, --help      this text\n\n"
		"Exit status: 0 no divergence, 1 divergence or error, 2 usage.\n");
}

static char *read_all(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		return NULL;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = 0;
	if (f != stdin)
		fclose(f);
	return buf;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },     { "keep-going", no_argument, NULL, 'k' },
		{ "policy", required_argument, NULL, 'p' }, { "no-swap", no_argument, NULL, 'S' },
		{ "selftest", no_argument, NULL, 't' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },     { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct host_diff_options opt = { .out = stdout };
	bool keep_going = false, swap = true, selftest = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jkp:Stvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': opt.json = true; break;
		case 'k': keep_going = true; break;
		case 'p': opt.policy = optarg; break;
		case 'S': swap = false; break;
		case 't': selftest = true; break;
		case 'v': opt.verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': cli_version("diff"); return 0;
		default: return cli_usage_error("diff", "unknown option");
		}
	}
	if (!selftest && optind >= argc)
		return cli_usage_error("diff", "no scenario file given");

	struct host_env env;
	char msg[256];
	int r = host_env_init(&env, swap, msg, sizeof(msg));
	if (r) {
		/* The environment cannot check anything: every file is a SKIP. */
		for (int i = optind; i < argc; i++) {
			if (opt.json)
				printf("{\"file\":\"%s\",\"verdict\":\"SKIP\",\"reason\":\"%s\"}\n",
				       argv[i], msg);
			else
				printf("SKIP %s: %s\n", argv[i], msg);
		}
		if (selftest)
			printf("SKIP host selftest: %s\n0 passed, 0 failed, 1 skipped\n", msg);
		return 0;
	}
	if (opt.verbose && !opt.json)
		host_print_env(&env, stdout);
	if (selftest) {
		r = host_selftest(&env, stdout);
		host_env_fini(&env);
		return r;
	}

	unsigned npass = 0, ndiv = 0, nskip = 0, nerr = 0, nxfail = 0;
	for (int i = optind; i < argc; i++) {
		struct scenario sc;
		struct script_error err;
		char *text = read_all(argv[i]);
		memset(&sc, 0, sizeof(sc));
		/*
		 * Scenarios that test the scripting layer's own errors
		 * (tests/scenarios/errors/, "# expect-exit: 2") are not host
		 * comparisons.
		 */
		const char *ee0 = text ? strstr(text, "# expect-exit:") : NULL;
		if (ee0 && atoi(ee0 + 14) != 0) {
			printf("SKIP %s: tests a script error (expect-exit), nothing to compare\n",
			       argv[i]);
			nskip++;
			free(text);
			continue;
		}
		if (!text || scenario_parse(argv[i], text, strlen(text), &sc, &err)) {
			char buf[512];
			if (text)
				script_error_format(&err, buf, sizeof(buf));
			else
				snprintf(buf, sizeof(buf), "%s: cannot read", argv[i]);
			printf("ERROR %s\n", buf);
			free(text);
			nerr++;
			if (!keep_going)
				break;
			continue;
		}
		struct host_diff_result res;
		opt.source = text;
		const char *xf = strstr(text, "# xfail-host:");
		FILE *saved = opt.out;
		if (xf)
			opt.out = NULL; /* report as XFAIL / XPASS below */
		enum host_verdict v = host_diff_isolated(&env, &sc, &opt, &res);
		opt.out = saved;
		if (xf) {
			const char *e = strchr(xf, '\n');
			int wl = (int)(e ? e - xf : (long)strlen(xf)) - 13;
			if (v == HOST_DIVERGE) {
				printf("XFAIL %s:%d: %s (known:%.*s)\n", argv[i], res.line, res.reason,
				       wl, xf + 13);
				nxfail++;
				scenario_free(&sc);
				free(text);
				continue;
			}
			if (v == HOST_PASS)
				printf("XPASS %s: no longer diverges; remove its xfail-host line\n",
				       argv[i]);
			else if (opt.out)
				printf("%s %s:%d: %s\n", v == HOST_SKIP ? "SKIP" : "ERROR", argv[i],
				       res.line, res.reason);
		}
		scenario_free(&sc);
		free(text);
		npass += v == HOST_PASS;
		ndiv += v == HOST_DIVERGE;
		nskip += v == HOST_SKIP;
		nerr += v == HOST_ERROR;
		fflush(stdout);
		if ((v == HOST_DIVERGE || v == HOST_ERROR) && !keep_going)
			break;
	}
	host_env_fini(&env);
	if (!opt.json && (argc - optind > 1 || opt.verbose))
		printf("%u passed, %u diverged, %u skipped, %u errors, %u xfail\n", npass, ndiv, nskip,
		       nerr, nxfail);
	return ndiv || nerr ? 1 : 0;
}
