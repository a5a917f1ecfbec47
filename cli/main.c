/*
 * main.c - `anonvm SUBCOMMAND ...`: dispatch to cmd_* (cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "anonvm/anonvm.h"
#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} cmds[] = {
	{ "run", cmd_run, "run scenario files on the model; exit 0 if every expect held" },
	{ "repl", cmd_repl, "interactive scenario shell (line editing, history, 'help')" },
	{ "dot", cmd_dot, "Graphviz picture of VMAs, anon_vmas, chains and frames" },
	{ "diff", cmd_diff, "run a scenario on the model and on this kernel, compare" },
	{ "fuzz", cmd_fuzz, "random scenarios on model and kernel, shrink divergences" },
	{ "bench", cmd_bench, "model-versus-kernel benchmarks" },
};

void cli_version(const char *cmd)
{
	printf("anonvm%s%s %s (model of Linux 6.18 anonymous memory)\n", cmd ? " " : "",
	       cmd ? cmd : "", AVM_VERSION);
}

int cli_usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "anonvm %s: %s\nTry 'anonvm %s --help'.\n", cmd, msg, cmd);
	return 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: anonvm COMMAND [OPTIONS] [ARGS]\n\n"
		   "anonvm models the Linux 6.18 kernel's anonymous memory and reverse map\n"
		   "(VMAs, page tables, anon_vma, fork/COW, pins, swap, UFFDIO_MOVE).\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-6s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n'anonvm COMMAND --help' describes each command; README.md the language.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		cli_version(NULL);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			int r = cmds[i].fn(argc - 1, argv + 1);
			/* Flush before exit: a sanitizer's leak report exits without it. */
			fflush(stdout);
			return r;
		}
	fprintf(stderr, "anonvm: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
