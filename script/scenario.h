/*
 * scenario.h - the parsed form of an anonvm scenario and its parser.
 *
 * A scenario is a text file, one operation a line (shared/DESIGN.md "The
 * scenario language"; README.md has the reference).  The parser turns each
 * line into one `struct avm_op`.  Nothing here touches a world: addresses
 * are kept as unresolved expressions (`a+3p`) because a symbol's value is
 * known only when the line that binds it has run.  script/exec.h runs ops
 * on the model; host/ runs the same ops on real processes.
 *
 * Ownership: a `struct avm_op` may point to heap text (`text`, the lines
 * of an `expect ... maps` block); avm_op_free() releases it, and
 * scenario_free() releases every op of a scenario.
 */
#ifndef ANONVM_SCRIPT_SCENARIO_H
#define ANONVM_SCRIPT_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AVM_SYM_MAX 32   /* longest process / symbol name + 1 */
#define AVM_ANON_NAME_MAX 80 /* ANON_VMA_NAME_MAX_LEN, terminator included */
#define SCRIPT_MAX_LINE 4096 /* longest line, in bytes */

enum avm_op_kind {
	AVM_OP_NONE = 0,
	/* processes */
	AVM_OP_SPAWN,        /* P = spawn */
	AVM_OP_FORK,         /* [C =] P fork */
	AVM_OP_EXIT,         /* P exit */
	/* syscalls */
	AVM_OP_MMAP,         /* [S =] P mmap ADDR|- LEN PROT [flags...] */
	AVM_OP_MUNMAP,       /* P munmap ADDR LEN */
	AVM_OP_MPROTECT,     /* P mprotect ADDR LEN PROT */
	AVM_OP_MREMAP,       /* [S =] P mremap OLD OLDLEN NEWLEN [maymove] [fixed NEW] [dontunmap] */
	AVM_OP_MADVISE,      /* P madvise ADDR LEN ADVICE ; also P pageout ADDR LEN */
	AVM_OP_MLOCK,        /* P mlock ADDR LEN [onfault] */
	AVM_OP_MUNLOCK,      /* P munlock ADDR LEN */
	AVM_OP_NAME,         /* P name ADDR LEN STR|none */
	/* memory access */
	AVM_OP_READ,         /* P read ADDR */
	AVM_OP_WRITE,        /* P write ADDR VALUE */
	AVM_OP_TOUCH,        /* P touch ADDR LEN [write] */
	/* GUP */
	AVM_OP_PIN,          /* [H =] P pin ADDR LEN [rw|ro] [longterm] */
	AVM_OP_REF,          /* [H =] P ref ADDR LEN */
	AVM_OP_UNPIN,        /* unpin H */
	AVM_OP_PIN_READ,     /* pin-read H I */
	AVM_OP_PIN_WRITE,    /* pin-write H I V */
	/* userfaultfd */
	AVM_OP_UFFD_REGISTER,   /* P uffd-register ADDR LEN */
	AVM_OP_UFFD_UNREGISTER, /* P uffd-unregister ADDR LEN */
	AVM_OP_UFFD_MOVE,       /* P uffd-move DST SRC LEN [allow-src-holes] [dontwake] */
	/* machine */
	AVM_OP_RECLAIM,      /* reclaim N */
	AVM_OP_SET,          /* set max_map_count N */
	AVM_OP_CHECKPOINT,   /* checkpoint [LABEL] */
	/* observation */
	AVM_OP_EXPECT,       /* expect ... (see enum avm_expect_kind) */
	AVM_OP_SHOW,         /* show ... (see enum avm_show_kind) */
	AVM_OP__COUNT
};

/* What an `expect` line checks. */
enum avm_expect_kind {
	AVM_EXPECT_NONE = 0,
	AVM_EXPECT_READ,      /* expect P read A == V   (a real load: may fault) */
	AVM_EXPECT_CONTENT,   /* expect P content A == V (no fault; unmapped = 0) */
	AVM_EXPECT_VMAS,      /* expect P vmas == N */
	AVM_EXPECT_MAPS,      /* expect P maps, then maps lines (text) */
	AVM_EXPECT_STATE,     /* expect P [not] present|swapped|zero|exclusive|none|
			       *   writable|pinned|swapcache A [LEN] */
	AVM_EXPECT_MAPCOUNT,  /* expect P mapcount A == N */
	AVM_EXPECT_REFCOUNT,  /* expect P refcount A == N */
	AVM_EXPECT_SAME_FRAME,      /* expect same-frame P A Q B */
	AVM_EXPECT_DIFFERENT_FRAME, /* expect different-frame P A Q B */
	AVM_EXPECT_ANON_VMA,  /* expect P anon_vma A ==|!= Q B  (or == none) */
	AVM_EXPECT_PGOFF,     /* expect P pgoff A == N  (vm_pgoff of the VMA at A) */
	AVM_EXPECT_CHAIN,     /* expect P chain A == N  (AVCs of the VMA at A) */
	AVM_EXPECT_MM,        /* expect P mm FIELD == N  (struct avm_mm_info) */
	AVM_EXPECT_STAT,      /* expect stat FIELD == N  (struct avm_stats) */
	AVM_EXPECT_FRAMES,    /* expect frames == N  (frames in use) */
	AVM_EXPECT_SWAP,      /* expect swap == N    (swap slots in use) */
	AVM_EXPECT_VALID,     /* expect valid */
};

/* Page states an `expect P STATE A` line can name. */
enum avm_page_pred {
	AVM_PRED_PRESENT = 0, /* PTE maps a real frame (not the zero page) */
	AVM_PRED_SWAPPED,     /* swap entry */
	AVM_PRED_ZERO,        /* PTE maps the shared zero page */
	AVM_PRED_EXCLUSIVE,   /* present and PG_anon_exclusive */
	AVM_PRED_NONE,        /* no PTE at all */
	AVM_PRED_WRITABLE,    /* present, PTE writable */
	AVM_PRED_PINNED,      /* present, frame maybe-pinned */
	AVM_PRED_SWAPCACHE,   /* present, frame in the swap cache */
	AVM_PRED_MAPPED,      /* present or zero page */
};

enum avm_show_kind {
	AVM_SHOW_NONE = 0,
	AVM_SHOW_MAPS,      /* show P maps */
	AVM_SHOW_SMAPS,     /* show P smaps */
	AVM_SHOW_VMAS,      /* show P vmas   (maps plus pgoff, anon_vma, chain) */
	AVM_SHOW_PAGES,     /* show P pages A LEN */
	AVM_SHOW_MM,        /* show P mm */
	AVM_SHOW_RMAP,      /* show rmap [P] A */
	AVM_SHOW_STATS,     /* show stats */
	AVM_SHOW_ANON_VMAS, /* show anon_vmas */
	AVM_SHOW_PROCS,     /* show procs */
};

enum avm_cmp {
	AVM_CMP_EQ = 0, AVM_CMP_NE, AVM_CMP_LT, AVM_CMP_LE, AVM_CMP_GT, AVM_CMP_GE,
};

/*
 * An address or size: [SYM] [+|- OFFSET] or a plain number.  Sizes in the
 * source accept k, m, g (binary) and p (pages) suffixes; the parser has
 * already multiplied them out.  `sym[0] == 0` means no symbol.
 */
struct avm_expr {
	char sym[AVM_SYM_MAX];
	int64_t off;
	bool present; /* the operand was given at all */
	bool none;    /* written as `-` (mmap: let the model choose) */
};

/*
 * The expected result of a syscall-like line (`=> ...`).  Without `=>`
 * a failing call is reported but does not fail the run.
 */
struct avm_result_spec {
	bool given;
	bool any_ok;    /* `=> ok`: success, whatever value */
	int err;        /* > 0: expect failure with this errno; 0: success */
	bool has_value; /* `=> V`: read value, mmap/mremap address, or 0 */
	uint64_t value;
	bool has_moved; /* `=> N moved` (uffd-move: bytes moved) */
	int64_t moved;
};

/*
 * One operation: one non-blank, non-comment line (or a maps block).
 *
 * Fields that only some kinds use share storage (the anonymous union): read
 * them only for those kinds.  Everything outside the union is zero when a
 * kind does not use it.  (Ops are copied by value: scenario_parse() keeps
 * millions of them for `anonvm diff`; this layout is 456 bytes, not 616.)
 */
struct avm_op {
	enum avm_op_kind kind;
	int line, col;              /* source position of the first token */
	char bind[AVM_SYM_MAX];     /* `NAME =` on the left, or "" */
	char proc[AVM_SYM_MAX];     /* the subject process, or "" */

	struct avm_expr addr;       /* mmap ADDR, munmap ADDR, uffd-move DST, ... */
	struct avm_expr len;        /* LEN; mremap OLDLEN */
	struct avm_expr addr2;      /* mremap fixed NEW; uffd-move SRC; second address */

	int prot;                   /* AVM_PROT_* */
	int flags;                  /* mmap MAP_*, mremap MREMAP_*, uffd-move mode,
				     * mlock MLOCK_ONFAULT, pin AVM_FOLL_*,
				     * touch: 1 = write */
	int advice;                 /* AVM_MADV_* */
	uint64_t value;             /* write V, pin-write V, reclaim N, set N */
	enum avm_expect_kind expect; /* AVM_OP_EXPECT */
	enum avm_show_kind show;    /* AVM_OP_SHOW */
	bool name_none;             /* `name ADDR LEN none`: clear the name */

	union {
		/* AVM_OP_EXPECT */
		struct {
			char proc2[AVM_SYM_MAX]; /* second process (same-frame, anon_vma) */
			struct avm_expr rhs;     /* right-hand side N / V / expression */
			char field[AVM_SYM_MAX]; /* stat / mm field name */
			enum avm_page_pred pred;
			enum avm_cmp cmp;
			bool negate;             /* expect P not STATE A */
			bool rhs_page;           /* rhs written page(EXPR): value is EXPR >> 12 */
			bool expect_none;        /* anon_vma == none */
		};
		/* AVM_OP_NAME (STR; "" with name_none), AVM_OP_SET (key), AVM_OP_CHECKPOINT (label) */
		char name[AVM_ANON_NAME_MAX];
		/* AVM_OP_UNPIN, AVM_OP_PIN_READ, AVM_OP_PIN_WRITE */
		struct {
			char handle[AVM_SYM_MAX]; /* pin handle name */
			uint64_t index;           /* pin-read / pin-write I */
		};
		/* AVM_OP_MREMAP */
		struct avm_expr len2;       /* NEWLEN */
	};

	char *text;                 /* expect maps: the expected lines, '\n'-separated */
	char *src;                  /* the source line, comment and blanks trimmed (heap) */

	struct avm_result_spec result;
};

/* A parse error: "file:line:col: msg". */
struct script_error {
	char file[128];
	int line, col;
	char msg[256];
};

struct scenario {
	struct avm_op *ops;
	size_t nops, cap;
	char file[128];
};

/*
 * Line-at-a-time parser, used by scenario_parse() and the REPL.  An
 * `expect P maps` line opens a block: the lines that follow and look like
 * maps lines (`hex-hex ...`) belong to it; the first line that does not
 * ends it and is parsed normally.
 */
struct script_parser {
	char file[128];
	int line;              /* number of the last line fed */
	struct avm_op pending; /* an open `expect maps` block */
	bool has_pending;
	size_t text_len, text_cap;
	/*
	 * Lean: fill avm_op.src only for `show` ops (all --echo prints); set
	 * by streaming runs to spare a heap copy per line.  Default false.
	 */
	bool lean;
};

void script_parser_init(struct script_parser *p, const char *file);
/*
 * Feed one line (without or with its trailing newline; NUL-terminated).
 * Returns: the number of ops completed and stored in out[0..1] (0, 1 or 2:
 * a line that ends a maps block completes the block and may be an op
 * itself), or -1 with *err filled.  Ops in out[] are owned by the caller.
 */
int script_parser_feed(struct script_parser *p, const char *line, struct avm_op out[2],
		       struct script_error *err);
/* End of input: completes an open maps block.  Returns 0 or 1 op. */
int script_parser_finish(struct script_parser *p, struct avm_op *out);
/* Drop any open block (after an error, or when the REPL resets). */
void script_parser_reset(struct script_parser *p);

/*
 * Parse a whole text (need not be NUL-terminated; NUL bytes are errors).
 * Returns: 0, or -1 with *err describing the first error (sc stays empty).
 */
int scenario_parse(const char *file, const char *text, size_t len, struct scenario *sc,
		   struct script_error *err);
/* Read and parse a file ("-" = stdin).  Returns: 0 or -1 with *err. */
int scenario_load(const char *path, struct scenario *sc, struct script_error *err);
/*
 * Read a whole file ("-" = stdin) into *text (heap, free() it; not
 * NUL-terminated; NULL when empty) and *len.  Returns: 0 or -1 with *err.
 */
int scenario_read(const char *path, char **text, size_t *len, struct script_error *err);

/*
 * A scenario text as a stream of ops, one at a time, without keeping them
 * all (`anonvm run` on traces of millions of lines).  The same ops, in
 * the same order, with the same errors as scenario_parse(), which is built
 * on it.  @text must outlive the stream.
 */
struct scenario_stream {
	struct script_parser p;   /* p.lean may be set after init */
	const char *text;
	size_t len, pos;
	struct avm_op ops[2];     /* ops[next..n) are ready */
	int n, next;
	bool finished;            /* script_parser_finish() was called */
	char line[SCRIPT_MAX_LINE + 2];
};

void scenario_stream_init(struct scenario_stream *s, const char *file, const char *text,
			  size_t len);
/*
 * Returns: 1 and *op (owned by the stream, valid until the next call; the
 * caller may take its heap parts by setting op->text / op->src to NULL),
 * 0 at the end, or -1 with *err filled (the stream is then finished).
 */
int scenario_stream_next(struct scenario_stream *s, struct avm_op **op,
			 struct script_error *err);
/* Release whatever the stream still holds (after the end, an error, or early). */
void scenario_stream_free(struct scenario_stream *s);
void scenario_free(struct scenario *sc);
void avm_op_free(struct avm_op *op);

/* Format "file:line:col: msg" into buf. */
void script_error_format(const struct script_error *err, char *buf, size_t len);

/* Names, for printers and error messages. */
const char *avm_op_kind_name(enum avm_op_kind kind);
const char *avm_advice_name(int advice);  /* "dontneed", or NULL */
int avm_advice_parse(const char *name);   /* AVM_MADV_*, or -1 */
const char *script_errno_name(int err);   /* positive errno -> "EBUSY" */
int script_errno_parse(const char *name); /* "EBUSY" -> EBUSY, or -1 */

#endif /* ANONVM_SCRIPT_SCENARIO_H */
