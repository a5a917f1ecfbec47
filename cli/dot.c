/*
 * dot.c - `anonvm dot`: run a scenario and draw the world as Graphviz:
 * processes with their VMAs, anon_vmas (->parent), the anon_vma_chain and
 * the frames.  One graph per `checkpoint` line, or one at the end if the
 * scenario has none.  SVG when Graphviz's `dot` is installed (unless
 * --dot), DOT text otherwise.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exec.h"

struct dot_ctx {
	const char *outbase; /* -o: file, or prefix when there are several graphs */
	bool svg;
	bool many;
	int n;
	int err;
	const char *file;
};

static bool have_dot(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");
		if (n && n < sizeof(buf) - 8) {
			memcpy(buf, path, n);
			strcpy(buf + n, "/dot");
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

static void emit(struct script_state *st, struct dot_ctx *d, const char *label)
{
	char title[256], name[1024];
	FILE *f;
	bool piped = false;

	d->n++;
	snprintf(title, sizeof(title), "%s%s%s", d->file, label ? " @ " : "", label ? label : "");
	if (d->svg) {
		char cmd[1200];
		if (d->outbase) {
			if (d->many)
				snprintf(name, sizeof(name), "%s-%d.svg", d->outbase, d->n);
			else
				snprintf(name, sizeof(name), "%s", d->outbase);
			/* The name is quoted for the shell; refuse quotes in it. */
			if (strchr(name, '\'')) {
				fprintf(stderr, "anonvm dot: output name must not contain quotes\n");
				d->err = 2;
				return;
			}
			snprintf(cmd, sizeof(cmd), "dot -Tsvg -o '%s'", name);
		} else {
			snprintf(cmd, sizeof(cmd), "dot -Tsvg");
		}
		fflush(stdout);
		f = popen(cmd, "w");
		piped = true;
	} else if (d->outbase) {
		if (d->many)
			snprintf(name, sizeof(name), "%s-%d.dot", d->outbase, d->n);
		else
			snprintf(name, sizeof(name), "%s", d->outbase);
		f = fopen(name, "w");
	} else {
		f = stdout;
	}
	if (!f) {
		perror("anonvm dot");
		d->err = 2;
		return;
	}
	script_print_dot(st, title, f);
	if (piped) {
		if (pclose(f) != 0) {
			fprintf(stderr, "anonvm dot: 'dot -Tsvg' failed\n");
			d->err = 2;
		}
	} else if (f != stdout) {
		fclose(f);
		fprintf(stderr, "wrote %s\n", name);
	}
}

static void on_checkpoint(struct script_state *st, const struct avm_op *op, void *arg)
{
	emit(st, arg, op->name[0] ? op->name : "checkpoint");
}

static void dot_usage(FILE *f)
{
	fprintf(f, "usage: anonvm dot [--policy NAME] [--host-like] [--dot] [-o OUT] FILE\n\n"
		   "Run FILE and draw the world (VMAs, anon_vmas, anon_vma_chain, frames) at\n"
		   "every 'checkpoint' line, or at the end if there is none.\n"
		   "Output: SVG when Graphviz 'dot' is installed, else DOT text.\n\n"
		   "  --dot        DOT text even when Graphviz is installed\n"
		   "  -o OUT       write to OUT (several graphs: OUT-1.svg, OUT-2.svg, ...)\n"
		   "  --policy, --host-like   as for 'anonvm run'\n");
}

int cmd_dot(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "host-like", no_argument, NULL, 'H' },
		{ "dot", no_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct script_options opt;
	struct dot_ctx d = { .svg = true };
	struct scenario sc;
	struct script_error err;
	struct script_state *st;
	char msg[512];
	int c, rc;

	script_options_default(&opt);
	opt.out = NULL; /* `show` lines stay quiet: stdout carries the graph */
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': opt.policy = optarg; break;
		case 'H': opt.host_like = true; break;
		case 'd': d.svg = false; break;
		case 'o': d.outbase = optarg; break;
		case 'h': dot_usage(stdout); return 0;
		case 'V': cli_version("dot"); return 0;
		default: dot_usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("dot", "expected exactly one scenario file");
	if (d.svg && !have_dot()) {
		fprintf(stderr, "anonvm dot: Graphviz 'dot' not found; writing DOT text\n");
		d.svg = false;
	}
	if (scenario_load(argv[optind], &sc, &err)) {
		script_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
		return 2;
	}
	for (size_t i = 0; i < sc.nops; i++)
		if (sc.ops[i].kind == AVM_OP_CHECKPOINT)
			d.many = d.many || d.n++ > 0;
	d.n = 0;
	d.file = sc.file;
	st = script_state_new(&opt, msg, sizeof(msg));
	if (!st) {
		fprintf(stderr, "anonvm dot: %s\n", msg);
		scenario_free(&sc);
		return 2;
	}
	script_set_checkpoint_hook(st, on_checkpoint, &d);
	rc = script_run(st, &sc, NULL, NULL);
	if (d.n == 0)
		emit(st, &d, NULL);
	script_state_free(st);
	scenario_free(&sc);
	return d.err ? d.err : rc;
}
