/*
 * cli.h - the anonvm command's subcommands.  cli/main.c dispatches
 * `anonvm NAME ARGS...` to cmd_NAME(argc, argv) with argv[0] = "NAME".
 * Each returns the process exit status and handles --help and --version
 * itself (getopt_long).
 *
 * Owners: run/repl/dot (script engineer: cli/run.c, cli/repl.c,
 * cli/dot.c), diff/fuzz (host engineer: cli/diff.c, cli/fuzz.c),
 * bench (bench engineer: cli/bench.c).
 */
#ifndef ANONVM_CLI_H
#define ANONVM_CLI_H

#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_repl(int argc, char **argv);
int cmd_dot(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_fuzz(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Shared helpers (cli/main.c). */
void cli_version(const char *cmd);
/* Print "anonvm CMD: msg" to stderr.  Returns 2 (usage error status). */
int cli_usage_error(const char *cmd, const char *msg);

#endif /* ANONVM_CLI_H */
