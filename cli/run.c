/*
 * run.c - `anonvm run`: parse and run scenario files on the model.
 *
 * Exit status: 0 every expectation held in every file, 1 an expectation
 * failed, 2 a file did not parse or a line could not run (unknown name,
 * validator failure with --validate).  Each file runs in a fresh world.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exec.h"

/* Options shared by run, repl and dot (cli_common_*). */
enum { OPT_POLICY = 256, OPT_HOST_LIKE, OPT_MAX_FRAMES, OPT_SWAP, OPT_MAX_MAP_COUNT,
       OPT_LIST_POLICIES };

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: anonvm run [OPTIONS] FILE...   ('-' reads standard input)\n\n"
		"Run scenario files on the model.  Exit 0 if every '=>' and 'expect' held,\n"
		"1 if one failed, 2 on a syntax or script error.\n\n"
		"  --policy NAME        model policy (default linux; --list-policies)\n"
		"  --validate           run the model's validator after every line\n"
		"  --json               'show' lines print JSON (one object a line)\n"
		"  --quiet              no summary, no notes about unchecked failures\n"
		"  --echo               print each show line before its output\n"
		"  --host-like          configure like this host: anonymous read faults\n"
		"                       allocate a private zeroed page (no zero page)\n"
		"  --max-frames N       physical frames (default unlimited)\n"
		"  --swap N             swap slots (default 65536; 0 = no swap)\n"
		"  --max-map-count N    vm.max_map_count (default 65530)\n"
		"  --list-policies      list the policies and exit\n"
		"  -h, --help           this help\n"
		"  -V, --version        version\n");
}

static void list_policies(void)
{
	const struct avm_policy *p;

	for (unsigned i = 0; (p = avm_policy_at(i)); i++)
		printf("%-12s %s\n", p->name, p->summary ? p->summary : "");
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "validate", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "echo", no_argument, NULL, 'e' },
		{ "host-like", no_argument, NULL, OPT_HOST_LIKE },
		{ "max-frames", required_argument, NULL, OPT_MAX_FRAMES },
		{ "swap", required_argument, NULL, OPT_SWAP },
		{ "max-map-count", required_argument, NULL, OPT_MAX_MAP_COUNT },
		{ "list-policies", no_argument, NULL, OPT_LIST_POLICIES },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct script_options opt;
	unsigned files_failed = 0, total_expect = 0, total_fail = 0;
	int c, worst = 0;
	char *end;

	script_options_default(&opt);
	optind = 1;
	while ((c = getopt_long(argc, argv, "vjqehV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY:
			opt.policy = optarg;
			break;
		case 'v':
			opt.validate = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'e':
			opt.echo = true;
			break;
		case OPT_HOST_LIKE:
			opt.host_like = true;
			break;
		case OPT_MAX_FRAMES:
		case OPT_SWAP:
		case OPT_MAX_MAP_COUNT: {
			unsigned long v = strtoul(optarg, &end, 0);
			if (!*optarg || *end)
				return cli_usage_error("run", "expected a number");
			if (c == OPT_MAX_FRAMES)
				opt.max_frames = v;
			else if (c == OPT_SWAP)
				opt.swap_slots = v;
			else
				opt.max_map_count = v;
			break;
		}
		case OPT_LIST_POLICIES:
			list_policies();
			return 0;
		case 'h':
			run_usage(stdout);
			return 0;
		case 'V':
			cli_version("run");
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "no scenario file (use '-' for standard input)");
	if (opt.policy && !avm_policy_find(opt.policy)) {
		fprintf(stderr, "anonvm run: unknown policy '%s'; known:\n", opt.policy);
		list_policies();
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		const char *file = strcmp(argv[i], "-") ? argv[i] : "<stdin>";
		struct script_error err;
		struct script_state *st;
		char msg[512], *text;
		size_t len;
		unsigned ne = 0, nf = 0;
		int rc;

		if (scenario_read(argv[i], &text, &len, &err)) {
			script_error_format(&err, msg, sizeof(msg));
			fprintf(stderr, "%s\n", msg);
			worst = 2;
			files_failed++;
			continue;
		}
		st = script_state_new(&opt, msg, sizeof(msg));
		if (!st) {
			fprintf(stderr, "anonvm run: %s\n", msg);
			free(text);
			return 2;
		}
		/* Streamed: a trace of millions of lines never sits in memory as ops. */
		rc = script_run_text(st, file, text ? text : "", len, &ne, &nf, &err);
		if (rc < 0) {
			script_error_format(&err, msg, sizeof(msg));
			fprintf(stderr, "%s\n", msg);
			worst = 2;
			files_failed++;
			script_state_free(st);
			free(text);
			continue;
		}
		total_expect += ne;
		total_fail += nf;
		if (rc) {
			files_failed++;
			if (rc > worst)
				worst = rc;
		}
		fflush(stdout);
		if (!opt.quiet && !opt.json)
			fprintf(stderr, "%s: %s (%u checks, %u failed)\n", file,
				rc == 0 ? "ok" : rc == 1 ? "FAILED" : "ERROR", ne, nf);
		script_state_free(st);
		free(text);
	}
	if (!opt.quiet && !opt.json && argc - optind > 1)
		fprintf(stderr, "%d file(s), %u failed; %u checks, %u failed\n", argc - optind,
			files_failed, total_expect, total_fail);
	return worst;
}
