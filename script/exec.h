/*
 * exec.h - running scenario ops on the model, one op at a time.
 *
 * A `struct script_state` is a model world plus the scenario's symbol
 * table: process names (p1 -> model pid), address names bound by
 * `a = p1 mmap ...` (a -> address, owner process), and pin handles
 * (`h = p1 pin ...`).  script_exec_op() resolves an op's expressions
 * against that table, runs it, binds its result, checks its `=>` and
 * `expect` parts, and reports everything in a `struct op_result`.
 *
 * For the host oracle (host/): after the model has run an op, res->call
 * holds the op fully resolved to numbers, with the addresses the model
 * chose.  An mmap written with `-` (model chooses) has call.addr set to
 * the address the model returned and call.fixed_by_model = true: run it on
 * the host with MAP_FIXED_NOREPLACE at that address so both sides work on
 * the same range.  Compare res->ret / res->addr / res->moved / res->value
 * with what the host returned.  Process names stay names: map op->proc to
 * your puppet.
 *
 * Uses only include/anonvm/anonvm.h.
 */
#ifndef ANONVM_SCRIPT_EXEC_H
#define ANONVM_SCRIPT_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "anonvm/anonvm.h"
#include "scenario.h"

struct script_state;

struct script_options {
	const char *policy;   /* policy name, NULL = "linux" */
	bool host_like;       /* world like this host: no zero page on read faults */
	bool validate;        /* avm_validate() after every op (failure = error) */
	bool json;            /* `show` prints JSON */
	bool quiet;           /* no per-op failure reports (expect failures still) */
	bool echo;            /* print each `show` line before its output */
	FILE *out;            /* where `show` prints; NULL = shows are silent */
	FILE *err;            /* where reports go; NULL = silent */
	unsigned long max_frames;  /* 0 = unlimited */
	unsigned long swap_slots;  /* default 65536 */
	unsigned long max_map_count; /* 0 = AVM_DEFAULT_MAX_MAP_COUNT */
	/* Limits for the fuzzer: refuse ops larger than this (0 = none). */
	unsigned long max_op_pages;
	unsigned int max_procs;    /* 0 = unlimited */
};

void script_options_default(struct script_options *opt);

/*
 * Returns: a new state with a fresh world, or NULL (unknown policy in
 * *errbuf, or out of memory).
 */
struct script_state *script_state_new(const struct script_options *opt, char *errbuf,
				      size_t errlen);
void script_state_free(struct script_state *st);
struct avm_world *script_world(struct script_state *st);
const struct script_options *script_state_options(const struct script_state *st);

/* ---- symbol table --------------------------------------------------- */

enum script_sym_kind {
	SCRIPT_SYM_PROC = 1,  /* value = model pid */
	SCRIPT_SYM_ADDR,      /* value = address; pid = process that made it */
	SCRIPT_SYM_HANDLE,    /* value = model pin handle; pid = pinning process */
};

struct script_sym {
	char name[AVM_SYM_MAX];
	enum script_sym_kind kind;
	unsigned long value;
	int pid;
	bool dead; /* process exited / handle unpinned */
};

/* Returns: the symbol named @name, or NULL. */
const struct script_sym *script_sym_find(const struct script_state *st, const char *name);
/* Iterate symbols in definition order: *cursor starts at 0.  NULL at end. */
const struct script_sym *script_sym_next(const struct script_state *st, size_t *cursor);
/* Define or redefine a symbol (e.g. the host side binding its own names). */
int script_sym_set(struct script_state *st, const char *name, enum script_sym_kind kind,
		   unsigned long value, int pid);
/* Name of the live process @pid ("p1"), or NULL. */
const char *script_proc_name(const struct script_state *st, int pid);

/*
 * Evaluate an address / size expression.  Returns: 0 and *out, or -1
 * with a message in @msg (unknown symbol, overflow).
 */
int script_eval(const struct script_state *st, const struct avm_expr *e, unsigned long *out,
		char *msg, size_t msglen);

/* ---- execution ------------------------------------------------------ */

/* An op resolved to numbers (what the model ran; what the host should run). */
struct script_call {
	enum avm_op_kind kind;
	int pid;                  /* subject process (model pid), 0 if none */
	int pid2;                 /* second process, 0 if none */
	int handle;               /* model pin handle */
	unsigned long addr;       /* ADDR / DST */
	unsigned long len;        /* LEN / OLDLEN */
	unsigned long len2;       /* mremap NEWLEN */
	unsigned long addr2;      /* mremap NEW / uffd-move SRC / second address */
	bool fixed_by_model;      /* mmap `-`: addr is the model's choice */
	int prot, flags, advice;
	uint64_t value, index;
};

enum script_status {
	SCRIPT_OK = 0,           /* op ran; any `=>` / expect held */
	SCRIPT_EXPECT_FAILED = 1, /* op ran, but its `=>` or `expect` failed */
	SCRIPT_ERROR = -1,       /* op could not run: unknown name, bad value,
				  * validator failure, limit exceeded */
};

struct op_result {
	enum script_status status;
	int ret;              /* what the model call returned: 0/positive or -errno */
	unsigned long addr;   /* mmap / mremap: resulting address */
	long moved;           /* uffd-move: bytes moved, or the stored -errno */
	uint64_t value;       /* read / pin-read: the value */
	int pid;              /* spawn / fork: the new pid */
	int handle;           /* pin / ref: the model handle */
	unsigned long reclaimed; /* reclaim */
	bool ran_syscall;     /* the op called into the model's syscall API */
	struct script_call call;
	char msg[512];        /* why status != SCRIPT_OK (or a non-fatal report) */
};

/*
 * Run one op on the model.  `show` ops print to opt->out.
 * Returns: res->status.
 */
int script_exec_op(struct script_state *st, const struct avm_op *op, struct op_result *res);

/*
 * Run a whole scenario: every op in order, reporting failures to opt->err
 * as "file:line:col: ...".  A SCRIPT_ERROR stops the run.
 * Returns: 0 if every op ran and every expectation held, 1 if an
 * expectation failed, 2 on a script error.  *nexpect / *nfail (may be
 * NULL) count expectations checked and failed.
 */
int script_run(struct script_state *st, const struct scenario *sc, unsigned *nexpect,
	       unsigned *nfail);

/*
 * Run a scenario text (scenario_read()) as a stream: the whole text is
 * parsed once for syntax (a wrong line means nothing runs), then parsed
 * again op by op, each op run and dropped at once, so memory does not grow
 * with the length of the text.  Reports and return values as
 * script_run(); @file names the text in them.
 * Returns: 0, 1 or 2 as script_run(), or -1 with *perr filled if a line
 * does not parse (nothing ran).
 */
int script_run_text(struct script_state *st, const char *file, const char *text, size_t len,
		    unsigned *nexpect, unsigned *nfail, struct script_error *perr);

/* Called at every `checkpoint` line (cli/dot.c draws the world there). */
void script_set_checkpoint_hook(struct script_state *st,
				void (*fn)(struct script_state *st, const struct avm_op *op,
					   void *arg),
				void *arg);

/* struct avm_stats by field name: the i-th counter's name and value, NULL past the end. */
size_t script_stat_count(void);
const char *script_stat_at(const struct avm_stats *s, size_t i, unsigned long *val);
/* struct avm_mm_info by field name.  Returns 0, or -1 for an unknown name. */
int script_mm_field(const struct avm_mm_info *mm, const char *name, unsigned long *val);

/* Does this expect/show only make sense on the model (anon_vma, pgoff, chain, stat)? */
bool script_op_model_only(const struct avm_op *op);

/* ---- printers (script/print.c) ---------------------------------------- */

/* Snapshots of the anon_vma graph as arrays (free() them).  Returns the count,
 * or -1 out of memory (*out = NULL). */
long script_anon_vmas(struct script_state *st, struct avm_anon_vma_info **out);
long script_avcs(struct script_state *st, struct avm_avc_info **out);

/* /proc/PID/maps lines of @pid, exactly (R14.1-R14.3). */
int script_print_maps(struct script_state *st, int pid, FILE *out);
/* Render one maps line (no newline) for @v into buf.  Returns its length. */
int script_format_maps_line(const struct avm_vma_info *v, char *buf, size_t len);
int script_print_show(struct script_state *st, const struct avm_op *op, FILE *out);
/* Graphviz DOT of the whole world (cli/dot.c). */
int script_print_dot(struct script_state *st, const char *title, FILE *out);

#endif /* ANONVM_SCRIPT_EXEC_H */
