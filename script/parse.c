/*
 * parse.c - the scenario language parser: one line in, one `struct avm_op`
 * out (scenario.h; the grammar is in README.md "The scenario language").
 *
 * The parser never trusts its input: every token is length-checked, every
 * number range-checked, and any byte sequence yields either ops or one
 * "file:line:col: expected X, got Y" error (fuzz/ checks this).  It does
 * not know symbol values: `a+3p` stays an expression until exec.c runs it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonvm/anonvm.h"
#include "scenario.h"

#define MAX_TOKENS 64
#define MAX_LINE SCRIPT_MAX_LINE

struct tok {
	const char *s; /* points into the tokenizer's copy of the line */
	int col;       /* 1-based column */
	bool quoted;   /* written "..." */
};

struct lexer {
	char buf[2 * MAX_LINE + 2]; /* tokens, NUL-separated: at most 2 bytes per input byte */
	struct tok t[MAX_TOKENS];
	int n, pos;
	int line;
	const char *file;
	struct script_error *err;
	int eol_col; /* column just past the last token */
};

/* ---- names ---------------------------------------------------------- */

static const struct {
	const char *name;
	int advice;
} advice_names[] = {
	{ "normal", AVM_MADV_NORMAL },
	{ "random", AVM_MADV_RANDOM },
	{ "sequential", AVM_MADV_SEQUENTIAL },
	{ "willneed", AVM_MADV_WILLNEED },
	{ "dontneed", AVM_MADV_DONTNEED },
	{ "free", AVM_MADV_FREE },
	{ "remove", AVM_MADV_REMOVE },
	{ "dontfork", AVM_MADV_DONTFORK },
	{ "dofork", AVM_MADV_DOFORK },
	{ "mergeable", AVM_MADV_MERGEABLE },
	{ "unmergeable", AVM_MADV_UNMERGEABLE },
	{ "hugepage", AVM_MADV_HUGEPAGE },
	{ "nohugepage", AVM_MADV_NOHUGEPAGE },
	{ "dontdump", AVM_MADV_DONTDUMP },
	{ "dodump", AVM_MADV_DODUMP },
	{ "wipeonfork", AVM_MADV_WIPEONFORK },
	{ "keeponfork", AVM_MADV_KEEPONFORK },
	{ "cold", AVM_MADV_COLD },
	{ "pageout", AVM_MADV_PAGEOUT },
	{ "populate_read", AVM_MADV_POPULATE_READ },
	{ "populate_write", AVM_MADV_POPULATE_WRITE },
	{ "dontneed_locked", AVM_MADV_DONTNEED_LOCKED },
	{ "guard_install", AVM_MADV_GUARD_INSTALL },
	{ "guard_remove", AVM_MADV_GUARD_REMOVE },
};

const char *avm_advice_name(int advice)
{
	for (size_t i = 0; i < sizeof(advice_names) / sizeof(advice_names[0]); i++)
		if (advice_names[i].advice == advice)
			return advice_names[i].name;
	return NULL;
}

int avm_advice_parse(const char *name)
{
	char norm[32];
	size_t i;

	/* Accept populate-read as well as populate_read. */
	for (i = 0; name[i] && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : (char)tolower((unsigned char)name[i]);
	if (name[i])
		return -1;
	norm[i] = 0;
	for (i = 0; i < sizeof(advice_names) / sizeof(advice_names[0]); i++)
		if (!strcmp(advice_names[i].name, norm))
			return advice_names[i].advice;
	return -1;
}

#define E(x) { #x, x }
static const struct {
	const char *name;
	int err;
} errno_names[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY),
	E(EEXIST), E(EXDEV), E(ENODEV), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOSPC),
	E(ERANGE), E(ENOSYS), E(EOVERFLOW), E(ENOTSUP), E(EOPNOTSUPP), E(EHWPOISON),
	E(ENOENT), E(ETXTBSY), E(EFBIG), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE),
};
#undef E

const char *script_errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	return NULL;
}

int script_errno_parse(const char *name)
{
	if (name[0] == '-')
		name++;
	/* Faulting accesses report signals (anonvm.h AVM_ESIGSEGV / AVM_ESIGBUS). */
	if (!strcmp(name, "SIGSEGV"))
		return AVM_ESIGSEGV;
	if (!strcmp(name, "SIGBUS"))
		return AVM_ESIGBUS;
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (!strcmp(errno_names[i].name, name))
			return errno_names[i].err;
	return -1;
}

static const char *const op_names[AVM_OP__COUNT] = {
	[AVM_OP_NONE] = "none",
	[AVM_OP_SPAWN] = "spawn",
	[AVM_OP_FORK] = "fork",
	[AVM_OP_EXIT] = "exit",
	[AVM_OP_MMAP] = "mmap",
	[AVM_OP_MUNMAP] = "munmap",
	[AVM_OP_MPROTECT] = "mprotect",
	[AVM_OP_MREMAP] = "mremap",
	[AVM_OP_MADVISE] = "madvise",
	[AVM_OP_MLOCK] = "mlock",
	[AVM_OP_MUNLOCK] = "munlock",
	[AVM_OP_NAME] = "name",
	[AVM_OP_READ] = "read",
	[AVM_OP_WRITE] = "write",
	[AVM_OP_TOUCH] = "touch",
	[AVM_OP_PIN] = "pin",
	[AVM_OP_REF] = "ref",
	[AVM_OP_UNPIN] = "unpin",
	[AVM_OP_PIN_READ] = "pin-read",
	[AVM_OP_PIN_WRITE] = "pin-write",
	[AVM_OP_UFFD_REGISTER] = "uffd-register",
	[AVM_OP_UFFD_UNREGISTER] = "uffd-unregister",
	[AVM_OP_UFFD_MOVE] = "uffd-move",
	[AVM_OP_RECLAIM] = "reclaim",
	[AVM_OP_SET] = "set",
	[AVM_OP_CHECKPOINT] = "checkpoint",
	[AVM_OP_EXPECT] = "expect",
	[AVM_OP_SHOW] = "show",
};

const char *avm_op_kind_name(enum avm_op_kind kind)
{
	if ((unsigned)kind >= AVM_OP__COUNT || !op_names[kind])
		return "?";
	return op_names[kind];
}

/* ---- errors ----------------------------------------------------------- */

void script_error_format(const struct script_error *err, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
}

static int set_error(struct lexer *lx, int col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_error(struct lexer *lx, int col, const char *fmt, ...)
{
	va_list ap;

	snprintf(lx->err->file, sizeof(lx->err->file), "%s", lx->file);
	lx->err->line = lx->line;
	lx->err->col = col;
	va_start(ap, fmt);
	vsnprintf(lx->err->msg, sizeof(lx->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Show a token in an error message: quoted, shortened, non-printables escaped. */
static const char *tokdesc(const struct tok *t, char *buf, size_t len)
{
	size_t o = 0;

	if (!t)
		return "end of line";
	buf[o++] = '\'';
	for (const char *s = t->s; *s && o + 6 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (isprint(c)) {
			buf[o++] = (char)c;
		} else {
			snprintf(buf + o, len - o, "\\x%02x", c);
			o += 4;
		}
	}
	buf[o++] = '\'';
	buf[o] = 0;
	return buf;
}

static const struct tok *peek(struct lexer *lx)
{
	return lx->pos < lx->n ? &lx->t[lx->pos] : NULL;
}

static const struct tok *next(struct lexer *lx)
{
	return lx->pos < lx->n ? &lx->t[lx->pos++] : NULL;
}

static int tok_col(struct lexer *lx, const struct tok *t)
{
	return t ? t->col : lx->eol_col;
}

static int expected(struct lexer *lx, const struct tok *t, const char *what)
{
	char d[80];

	return set_error(lx, tok_col(lx, t), "expected %s, got %s", what, tokdesc(t, d, sizeof(d)));
}

/* The first byte decides most comparisons: keyword tables are walked per line. */
static inline bool is_tok(const struct tok *t, const char *s)
{
	return t && t->s[0] == s[0] && !strcmp(t->s, s);
}

/* ---- tokenizer ------------------------------------------------------ */

static bool is_op_char(char c)
{
	return c == '=' || c == '!' || c == '<' || c == '>';
}

/*
 * Continues a word: printable ASCII except blanks, '#' and the operator
 * characters '!' '<' '=' '>'.  One table load per byte instead of four
 * compares and isprint(): the tokenizer sees every byte of traces of
 * millions of lines.  (The program runs in the "C" locale: isprint is
 * 0x20..0x7e.)  word_tab[c - 0x20] is 'x' for a word byte.
 */
static inline bool is_word_char(char ch)
{
	static const char word_tab[] = "..x.xxxxxxxxxxxxxxxxxxxxxxxx...x"
				       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	unsigned int c = (unsigned char)ch - 0x20u;

	return c < sizeof(word_tab) - 1 && word_tab[c] == 'x';
}

/*
 * Split the line into tokens.  Words are runs of non-space characters;
 * comparison operators (`=`, `==`, `!=`, `=>`, `<`, `<=`, `>`, `>=`) are
 * tokens of their own even without spaces; `"..."` is one token (quotes
 * stripped; used by `name`); `#` starts a comment.
 */
static int tokenize(struct lexer *lx, const char *line)
{
	size_t len = strlen(line);
	char *o;
	size_t i = 0;

	lx->n = 0;
	lx->pos = 0;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > MAX_LINE)
		return set_error(lx, MAX_LINE + 1, "expected a line of at most %d bytes, got %zu",
				 MAX_LINE, len);
	o = lx->buf;
	lx->eol_col = 1;
	while (i < len) {
		unsigned char c = (unsigned char)line[i];
		int col = (int)i + 1;
		if (c == ' ' || c == '\t') {
			i++;
			continue;
		}
		if (c == '#')
			break;
		if (!isprint(c))
			return set_error(lx, col, "expected printable text, got byte 0x%02x", c);
		if (lx->n == MAX_TOKENS)
			return set_error(lx, col, "expected at most %d words on a line", MAX_TOKENS);
		lx->t[lx->n].col = col;
		lx->t[lx->n].s = o;
		lx->t[lx->n].quoted = c == '"';
		lx->n++;
		if (c == '"') {
			i++;
			while (i < len && line[i] != '"') {
				if (!isprint((unsigned char)line[i]))
					return set_error(lx, (int)i + 1,
							 "expected printable text, got byte 0x%02x",
							 (unsigned char)line[i]);
				*o++ = line[i++];
			}
			if (i == len)
				return set_error(lx, col, "expected a closing '\"'");
			i++;
		} else if (is_op_char((char)c)) {
			*o++ = (char)c;
			i++;
			if (i < len && (line[i] == '=' || (c == '=' && line[i] == '>')))
				*o++ = line[i++];
		} else {
			size_t e = i + 1; /* line[i] is a word byte: printable, not special */
			while (e < len && is_word_char(line[e]))
				e++;
			memcpy(o, line + i, e - i);
			o += e - i;
			i = e;
		}
		*o++ = 0;
		lx->eol_col = (int)i + 1;
	}
	return 0;
}

/* ---- values ----------------------------------------------------------- */

static bool is_ident(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

/* 0-9, a-f, A-F as their value; anything else 99 (above every base). */
static inline int digit_value(char ch)
{
	unsigned char c = (unsigned char)ch;

	if ((unsigned)(c - '0') < 10u)
		return c - '0';
	c |= 0x20; /* lower case */
	if ((unsigned)(c - 'a') < 6u)
		return c - 'a' + 10;
	return 99;
}

/*
 * Parse a number with optional suffix from s[0..n): decimal or 0x hex;
 * k, m, g (x 1024^i) or p (pages).  Returns: 0, or -1 if malformed or
 * out of range.
 */
static int parse_number(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0, mul = 1, limit = UINT64_MAX / 10;
	size_t i = 0;
	int base = 10, digits = 0;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		limit = UINT64_MAX / 16;
		i = 2;
	}
	for (; i < n; i++) {
		int d = digit_value(s[i]);
		if (d >= base) {
			if (s[i] == '_')
				continue; /* 0x7f00_0000_0000 */
			break;
		}
		/* No division per digit: compare with the precomputed limit first. */
		if (v > limit)
			return -1;
		v = v * (uint64_t)base;
		if (v > UINT64_MAX - (uint64_t)d)
			return -1;
		v += (uint64_t)d;
		digits++;
	}
	if (!digits)
		return -1;
	if (i < n) {
		switch (s[i]) {
		case 'k': case 'K': mul = 1024; break;
		case 'm': case 'M': mul = 1024 * 1024; break;
		case 'g': case 'G': mul = 1024UL * 1024 * 1024; break;
		case 'p': case 'P': mul = AVM_PAGE_SIZE; break;
		default: return -1;
		}
		if (i + 1 != n)
			return -1;
	}
	if (v && mul > UINT64_MAX / v)
		return -1;
	*out = v * mul;
	return 0;
}

/* A plain number token (values, counts). */
static int get_number(struct lexer *lx, const char *what, uint64_t *out)
{
	const struct tok *t = next(lx);

	if (!t || parse_number(t->s, strlen(t->s), out))
		return expected(lx, t, what);
	return 0;
}

/*
 * An address or size expression: TERM { (+|-) TERM }, where a TERM is a
 * number or a symbol name; at most one symbol, added (not subtracted).
 */
static int parse_expr_str(const char *s, struct avm_expr *e)
{
	int sign = 1;
	bool first = true;

	memset(e, 0, sizeof(*e));
	e->present = true;
	while (*s) {
		size_t n;
		if (!first) {
			if (*s == '+')
				sign = 1;
			else if (*s == '-')
				sign = -1;
			else
				return -1;
			s++;
		}
		n = strcspn(s, "+-");
		if (!n)
			return -1;
		if (isalpha((unsigned char)*s) || *s == '_') {
			char name[AVM_SYM_MAX];
			if (e->sym[0] || sign < 0 || n >= sizeof(name))
				return -1;
			memcpy(name, s, n);
			name[n] = 0;
			if (!is_ident(name))
				return -1;
			memcpy(e->sym, name, n + 1);
		} else {
			uint64_t v;
			if (parse_number(s, n, &v) || v > (uint64_t)INT64_MAX)
				return -1;
			/* Saturating: exec.c rejects results outside the address space. */
			if (sign > 0)
				e->off = e->off > INT64_MAX - (int64_t)v ? INT64_MAX : e->off + (int64_t)v;
			else
				e->off = e->off < INT64_MIN + (int64_t)v ? INT64_MIN : e->off - (int64_t)v;
		}
		s += n;
		first = false;
	}
	return first ? -1 : 0;
}

static int get_expr(struct lexer *lx, const char *what, struct avm_expr *e)
{
	const struct tok *t = next(lx);

	if (!t || parse_expr_str(t->s, e))
		return expected(lx, t, what);
	return 0;
}

static int get_name(struct lexer *lx, const char *what, char out[AVM_SYM_MAX])
{
	const struct tok *t = next(lx);

	if (!t || !is_ident(t->s) || strlen(t->s) >= AVM_SYM_MAX)
		return expected(lx, t, what);
	strcpy(out, t->s);
	return 0;
}

/* PROT: "none", or letters from r w x (and '-' placeholders: "rw-"). */
static int get_prot(struct lexer *lx, int *prot)
{
	const struct tok *t = next(lx);
	int p = 0;

	if (!t)
		return expected(lx, t, "protection (r, rw, rwx, none)");
	if (!strcmp(t->s, "none") || !strcmp(t->s, "---")) {
		*prot = AVM_PROT_NONE;
		return 0;
	}
	for (const char *s = t->s; *s; s++) {
		int bit;
		switch (*s) {
		case 'r': bit = AVM_PROT_READ; break;
		case 'w': bit = AVM_PROT_WRITE; break;
		case 'x': bit = AVM_PROT_EXEC; break;
		case '-': bit = 0; break;
		default: return expected(lx, t, "protection (r, rw, rwx, none)");
		}
		if (bit & p)
			return expected(lx, t, "protection (r, rw, rwx, none)");
		p |= bit;
	}
	*prot = p;
	return 0;
}

static int get_cmp(struct lexer *lx, enum avm_cmp *cmp)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
	const struct tok *t = next(lx);

	for (int i = 0; t && i < 6; i++)
		if (!strcmp(t->s, ops[i])) {
			*cmp = (enum avm_cmp)i;
			return 0;
		}
	return expected(lx, t, "a comparison (==, !=, <, <=, >, >=)");
}

/* RHS of a comparison: a number, an expression, or page(EXPR). */
static int get_rhs(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t = next(lx);
	size_t n;

	if (t && !strncmp(t->s, "page(", 5) && (n = strlen(t->s)) > 6 && t->s[n - 1] == ')') {
		char inner[MAX_LINE];
		memcpy(inner, t->s + 5, n - 6);
		inner[n - 6] = 0;
		if (parse_expr_str(inner, &op->rhs))
			return expected(lx, t, "page(ADDRESS)");
		op->rhs_page = true;
		return 0;
	}
	if (!t || parse_expr_str(t->s, &op->rhs))
		return expected(lx, t, "a value");
	return 0;
}

static int end_of_stmt(struct lexer *lx)
{
	const struct tok *t = peek(lx);

	if (t && !is_tok(t, "=>"))
		return expected(lx, t, "end of line");
	return 0;
}

/* ---- statements ------------------------------------------------------- */

static int parse_mmap(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t = peek(lx);
	bool fixed = false, noreplace = false, hint = false;
	int type = AVM_MAP_PRIVATE;

	if (is_tok(t, "-")) {
		next(lx);
		op->addr.present = true;
		op->addr.none = true;
	} else if (get_expr(lx, "an address or '-'", &op->addr)) {
		return -1;
	}
	if (get_expr(lx, "a length", &op->len) || get_prot(lx, &op->prot))
		return -1;
	op->flags = AVM_MAP_ANONYMOUS;
	while ((t = peek(lx)) && !is_tok(t, "=>")) {
		next(lx);
		if (is_tok(t, "shared"))
			type = AVM_MAP_SHARED;
		else if (is_tok(t, "private"))
			type = AVM_MAP_PRIVATE;
		else if (is_tok(t, "droppable"))
			type = AVM_MAP_DROPPABLE;
		else if (is_tok(t, "fixed"))
			fixed = true;
		else if (is_tok(t, "noreplace"))
			noreplace = true;
		else if (is_tok(t, "hint"))
			hint = true;
		else if (is_tok(t, "populate"))
			op->flags |= AVM_MAP_POPULATE;
		else if (is_tok(t, "locked"))
			op->flags |= AVM_MAP_LOCKED;
		else if (is_tok(t, "noreserve"))
			op->flags |= AVM_MAP_NORESERVE;
		else if (is_tok(t, "growsdown"))
			op->flags |= AVM_MAP_GROWSDOWN;
		else
			return expected(lx, t, "an mmap flag (shared, private, droppable, fixed, "
					       "noreplace, hint, populate, locked, noreserve, growsdown)");
	}
	op->flags |= type;
	if (fixed)
		op->flags |= AVM_MAP_FIXED;
	if (noreplace)
		op->flags |= AVM_MAP_FIXED_NOREPLACE;
	/* An address without fixed/hint means "exactly here, do not clobber". */
	if (!op->addr.none && !fixed && !noreplace && !hint)
		op->flags |= AVM_MAP_FIXED_NOREPLACE;
	return 0;
}

static int parse_mremap(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t;

	if (get_expr(lx, "an old address", &op->addr) || get_expr(lx, "an old length", &op->len) ||
	    get_expr(lx, "a new length", &op->len2))
		return -1;
	while ((t = peek(lx)) && !is_tok(t, "=>")) {
		next(lx);
		if (is_tok(t, "maymove")) {
			op->flags |= AVM_MREMAP_MAYMOVE;
		} else if (is_tok(t, "fixed")) {
			op->flags |= AVM_MREMAP_FIXED;
			if (get_expr(lx, "a new address after 'fixed'", &op->addr2))
				return -1;
		} else if (is_tok(t, "dontunmap")) {
			op->flags |= AVM_MREMAP_DONTUNMAP;
		} else if (is_tok(t, "relocate-anon")) {
			op->flags |= AVM_MREMAP_RELOCATE_ANON;
		} else {
			return expected(lx, t, "an mremap flag (maymove, fixed NEWADDR, dontunmap, "
					       "relocate-anon)");
		}
	}
	return 0;
}

static int parse_uffd_move(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t;

	if (get_expr(lx, "a destination address", &op->addr) ||
	    get_expr(lx, "a source address", &op->addr2) || get_expr(lx, "a length", &op->len))
		return -1;
	while ((t = peek(lx)) && !is_tok(t, "=>")) {
		next(lx);
		if (is_tok(t, "allow-src-holes"))
			op->flags |= AVM_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
		else if (is_tok(t, "dontwake"))
			op->flags |= AVM_UFFDIO_MOVE_MODE_DONTWAKE;
		else
			return expected(lx, t, "a uffd-move mode (allow-src-holes, dontwake)");
	}
	return 0;
}

static int parse_pin(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t;

	if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
		return -1;
	if (op->kind == AVM_OP_REF)
		return end_of_stmt(lx);
	op->flags = AVM_FOLL_WRITE;
	while ((t = peek(lx)) && !is_tok(t, "=>")) {
		next(lx);
		if (is_tok(t, "rw"))
			op->flags |= AVM_FOLL_WRITE;
		else if (is_tok(t, "ro"))
			op->flags &= ~AVM_FOLL_WRITE;
		else if (is_tok(t, "longterm"))
			op->flags |= AVM_FOLL_LONGTERM;
		else
			return expected(lx, t, "a pin flag (rw, ro, longterm)");
	}
	return 0;
}

static const struct {
	const char *name;
	enum avm_page_pred pred;
} pred_names[] = {
	{ "present", AVM_PRED_PRESENT },   { "swapped", AVM_PRED_SWAPPED },
	{ "zero", AVM_PRED_ZERO },         { "exclusive", AVM_PRED_EXCLUSIVE },
	{ "none", AVM_PRED_NONE },         { "writable", AVM_PRED_WRITABLE },
	{ "pinned", AVM_PRED_PINNED },     { "swapcache", AVM_PRED_SWAPCACHE },
	{ "mapped", AVM_PRED_MAPPED },
};

static int parse_expect(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t = peek(lx);

	if (is_tok(t, "valid")) {
		next(lx);
		op->expect = AVM_EXPECT_VALID;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "stat")) {
		next(lx);
		op->expect = AVM_EXPECT_STAT;
		if (get_name(lx, "a counter name (see 'show stats')", op->field) ||
		    get_cmp(lx, &op->cmp) || get_rhs(lx, op))
			return -1;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "frames") || is_tok(t, "swap")) {
		next(lx);
		op->expect = is_tok(t, "frames") ? AVM_EXPECT_FRAMES : AVM_EXPECT_SWAP;
		if (get_cmp(lx, &op->cmp) || get_rhs(lx, op))
			return -1;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "same-frame") || is_tok(t, "different-frame")) {
		next(lx);
		op->expect = is_tok(t, "same-frame") ? AVM_EXPECT_SAME_FRAME
						     : AVM_EXPECT_DIFFERENT_FRAME;
		if (get_name(lx, "a process name", op->proc) || get_expr(lx, "an address", &op->addr) ||
		    get_name(lx, "a process name", op->proc2) ||
		    get_expr(lx, "an address", &op->addr2))
			return -1;
		return end_of_stmt(lx);
	}
	if (get_name(lx, "valid, stat, frames, swap, same-frame, different-frame or a process name",
		     op->proc))
		return -1;
	t = next(lx);
	if (is_tok(t, "not")) {
		op->negate = true;
		t = next(lx);
		for (size_t i = 0; i < sizeof(pred_names) / sizeof(pred_names[0]); i++)
			if (is_tok(t, pred_names[i].name))
				goto state;
		return expected(lx, t, "a page state after 'not' (present, swapped, zero, "
				       "exclusive, none, writable, pinned, swapcache, mapped)");
	}
	for (size_t i = 0; i < sizeof(pred_names) / sizeof(pred_names[0]); i++) {
		if (is_tok(t, pred_names[i].name)) {
state:
			for (i = 0; i < sizeof(pred_names) / sizeof(pred_names[0]); i++)
				if (is_tok(t, pred_names[i].name))
					op->pred = pred_names[i].pred;
			op->expect = AVM_EXPECT_STATE;
			if (get_expr(lx, "an address", &op->addr))
				return -1;
			if (peek(lx) && !is_tok(peek(lx), "=>") &&
			    get_expr(lx, "a length or end of line", &op->len))
				return -1;
			return end_of_stmt(lx);
		}
	}
	if (is_tok(t, "read") || is_tok(t, "content") || is_tok(t, "mapcount") ||
	    is_tok(t, "refcount") || is_tok(t, "pgoff") || is_tok(t, "chain")) {
		op->expect = is_tok(t, "read")       ? AVM_EXPECT_READ
			     : is_tok(t, "content")  ? AVM_EXPECT_CONTENT
			     : is_tok(t, "mapcount") ? AVM_EXPECT_MAPCOUNT
			     : is_tok(t, "refcount") ? AVM_EXPECT_REFCOUNT
			     : is_tok(t, "pgoff")    ? AVM_EXPECT_PGOFF
						     : AVM_EXPECT_CHAIN;
		if (get_expr(lx, "an address", &op->addr) || get_cmp(lx, &op->cmp) ||
		    get_rhs(lx, op))
			return -1;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "vmas")) {
		op->expect = AVM_EXPECT_VMAS;
		if (get_cmp(lx, &op->cmp) || get_rhs(lx, op))
			return -1;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "mm")) {
		op->expect = AVM_EXPECT_MM;
		if (get_name(lx, "an mm field (see 'show P mm')", op->field) ||
		    get_cmp(lx, &op->cmp) || get_rhs(lx, op))
			return -1;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "anon_vma")) {
		op->expect = AVM_EXPECT_ANON_VMA;
		if (get_expr(lx, "an address", &op->addr) || get_cmp(lx, &op->cmp))
			return -1;
		if (op->cmp != AVM_CMP_EQ && op->cmp != AVM_CMP_NE)
			return set_error(lx, lx->t[lx->pos - 1].col, "expected == or !=, got '%s'",
					 lx->t[lx->pos - 1].s);
		if (is_tok(peek(lx), "none")) {
			next(lx);
			op->expect_none = true;
			return end_of_stmt(lx);
		}
		if (get_name(lx, "a process name or none", op->proc2) ||
		    get_expr(lx, "an address", &op->addr2))
			return -1;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "maps")) {
		op->expect = AVM_EXPECT_MAPS;
		return end_of_stmt(lx);
	}
	return expected(lx, t, "an expectation (read, content, vmas, maps, present, swapped, "
			       "zero, exclusive, none, writable, pinned, swapcache, mapped, not, "
			       "mapcount, refcount, anon_vma, pgoff, chain, mm)");
}

static int parse_show(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t = next(lx);

	if (is_tok(t, "stats") || is_tok(t, "anon_vmas") || is_tok(t, "procs")) {
		op->show = is_tok(t, "stats")	    ? AVM_SHOW_STATS
			   : is_tok(t, "anon_vmas") ? AVM_SHOW_ANON_VMAS
						    : AVM_SHOW_PROCS;
		return end_of_stmt(lx);
	}
	if (is_tok(t, "rmap")) {
		op->show = AVM_SHOW_RMAP;
		/* show rmap [P] A: with one operand, A names its process. */
		if (lx->n - lx->pos >= 2 && get_name(lx, "a process name", op->proc))
			return -1;
		if (get_expr(lx, "an address", &op->addr))
			return -1;
		return end_of_stmt(lx);
	}
	if (!t || !is_ident(t->s) || strlen(t->s) >= AVM_SYM_MAX)
		return expected(lx, t, "stats, anon_vmas, procs, rmap or a process name");
	strcpy(op->proc, t->s);
	t = next(lx);
	if (is_tok(t, "maps"))
		op->show = AVM_SHOW_MAPS;
	else if (is_tok(t, "smaps"))
		op->show = AVM_SHOW_SMAPS;
	else if (is_tok(t, "vmas"))
		op->show = AVM_SHOW_VMAS;
	else if (is_tok(t, "mm"))
		op->show = AVM_SHOW_MM;
	else if (is_tok(t, "pages")) {
		op->show = AVM_SHOW_PAGES;
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
			return -1;
	} else
		return expected(lx, t, "maps, smaps, vmas, mm or pages");
	return end_of_stmt(lx);
}

/* `=> ok | 0 | ERRNO | V | [ERRNO] N moved` */
static int parse_result(struct lexer *lx, struct avm_op *op)
{
	struct avm_result_spec *r = &op->result;
	const struct tok *t = next(lx);
	uint64_t v;

	r->given = true;
	if (is_tok(t, "ok")) {
		r->any_ok = true;
		return end_of_stmt(lx);
	}
	if (t && script_errno_parse(t->s) > 0) {
		r->err = script_errno_parse(t->s);
		t = next(lx);
		if (!t)
			return 0;
	}
	if (!t || parse_number(t->s, strlen(t->s), &v))
		return expected(lx, t, "ok, an errno name (EINVAL), a value, or N moved");
	if (is_tok(peek(lx), "moved")) {
		next(lx);
		if (op->kind != AVM_OP_UFFD_MOVE)
			return set_error(lx, t->col, "expected 'moved' only after uffd-move");
		if (v > (uint64_t)INT64_MAX)
			return expected(lx, t, "a byte count");
		r->has_moved = true;
		r->moved = (int64_t)v;
	} else {
		if (r->err)
			return expected(lx, t, "N moved after an errno name");
		r->has_value = true;
		r->value = v;
	}
	if (peek(lx))
		return expected(lx, peek(lx), "end of line");
	return 0;
}

static bool takes_result(enum avm_op_kind k)
{
	return k != AVM_OP_EXPECT && k != AVM_OP_SHOW && k != AVM_OP_CHECKPOINT &&
	       k != AVM_OP_NONE;
}

/* Commands that follow a process name: "P mmap ...". */
static const struct {
	const char *name;
	enum avm_op_kind kind;
	int advice; /* for aliases of madvise */
} proc_cmds[] = {
	/* Accesses first: traces are mostly reads and writes (searched in order). */
	{ "write", AVM_OP_WRITE, -1 },
	{ "read", AVM_OP_READ, -1 },
	{ "touch", AVM_OP_TOUCH, -1 },
	{ "fork", AVM_OP_FORK, -1 },
	{ "exit", AVM_OP_EXIT, -1 },
	{ "mmap", AVM_OP_MMAP, -1 },
	{ "munmap", AVM_OP_MUNMAP, -1 },
	{ "mprotect", AVM_OP_MPROTECT, -1 },
	{ "mremap", AVM_OP_MREMAP, -1 },
	{ "madvise", AVM_OP_MADVISE, -1 },
	{ "pageout", AVM_OP_MADVISE, AVM_MADV_PAGEOUT },
	{ "mlock", AVM_OP_MLOCK, -1 },
	{ "munlock", AVM_OP_MUNLOCK, -1 },
	{ "name", AVM_OP_NAME, -1 },
	{ "pin", AVM_OP_PIN, -1 },
	{ "ref", AVM_OP_REF, -1 },
	{ "uffd-register", AVM_OP_UFFD_REGISTER, -1 },
	{ "uffd-unregister", AVM_OP_UFFD_UNREGISTER, -1 },
	{ "uffd-move", AVM_OP_UFFD_MOVE, -1 },
};

static int parse_proc_cmd(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t = next(lx);
	size_t i;

	for (i = 0; i < sizeof(proc_cmds) / sizeof(proc_cmds[0]); i++)
		if (is_tok(t, proc_cmds[i].name))
			break;
	if (i == sizeof(proc_cmds) / sizeof(proc_cmds[0]))
		return expected(lx, t, "a command (fork, exit, mmap, munmap, mprotect, mremap, "
				       "madvise, pageout, mlock, munlock, name, read, write, touch, "
				       "pin, ref, uffd-register, uffd-unregister, uffd-move)");
	op->kind = proc_cmds[i].kind;
	switch (op->kind) {
	case AVM_OP_FORK:
	case AVM_OP_EXIT:
		return end_of_stmt(lx);
	case AVM_OP_MMAP:
		return parse_mmap(lx, op);
	case AVM_OP_MUNMAP:
	case AVM_OP_MUNLOCK:
	case AVM_OP_UFFD_REGISTER:
	case AVM_OP_UFFD_UNREGISTER:
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
			return -1;
		return end_of_stmt(lx);
	case AVM_OP_MPROTECT:
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len) ||
		    get_prot(lx, &op->prot))
			return -1;
		return end_of_stmt(lx);
	case AVM_OP_MREMAP:
		return parse_mremap(lx, op);
	case AVM_OP_MADVISE:
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
			return -1;
		if (proc_cmds[i].advice >= 0) {
			op->advice = proc_cmds[i].advice;
		} else {
			t = next(lx);
			if (!t || avm_advice_parse(t->s) < 0)
				return expected(lx, t, "an advice (dontneed, free, dontfork, dofork, "
						       "wipeonfork, keeponfork, cold, pageout, "
						       "random, populate_write, ...)");
			op->advice = avm_advice_parse(t->s);
		}
		return end_of_stmt(lx);
	case AVM_OP_MLOCK:
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
			return -1;
		if (is_tok(peek(lx), "onfault")) {
			next(lx);
			op->flags = AVM_MLOCK_ONFAULT;
		}
		return end_of_stmt(lx);
	case AVM_OP_NAME:
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
			return -1;
		t = next(lx);
		if (!t)
			return expected(lx, t, "a name or none");
		if (!strcmp(t->s, "none") && !t->quoted) {
			op->name_none = true;
		} else {
			if (strlen(t->s) >= AVM_ANON_NAME_MAX)
				return expected(lx, t, "a name shorter than 80 bytes");
			strcpy(op->name, t->s);
		}
		return end_of_stmt(lx);
	case AVM_OP_READ:
		if (get_expr(lx, "an address", &op->addr))
			return -1;
		return end_of_stmt(lx);
	case AVM_OP_WRITE:
		if (get_expr(lx, "an address", &op->addr) || get_number(lx, "a value", &op->value))
			return -1;
		return end_of_stmt(lx);
	case AVM_OP_TOUCH:
		if (get_expr(lx, "an address", &op->addr) || get_expr(lx, "a length", &op->len))
			return -1;
		if (is_tok(peek(lx), "write") || is_tok(peek(lx), "read"))
			op->flags = is_tok(next(lx), "write");
		return end_of_stmt(lx);
	case AVM_OP_PIN:
	case AVM_OP_REF:
		return parse_pin(lx, op);
	case AVM_OP_UFFD_MOVE:
		return parse_uffd_move(lx, op);
	default:
		return expected(lx, t, "a command");
	}
}

/*
 * Parse one tokenized line into *op.  Returns 1 (op), 0 (blank), -1.
 */
static int parse_tokens(struct lexer *lx, struct avm_op *op)
{
	const struct tok *t;

	memset(op, 0, sizeof(*op));
	if (!lx->n)
		return 0;
	op->line = lx->line;
	op->col = lx->t[0].col;
	/* NAME = ... */
	if (lx->n >= 2 && is_tok(&lx->t[1], "=")) {
		if (get_name(lx, "a name", op->bind))
			return -1;
		next(lx);
	}
	t = next(lx);
	if (!t)
		return expected(lx, t, "a command after '='");
	if (is_tok(t, "spawn")) {
		op->kind = AVM_OP_SPAWN;
		if (!op->bind[0])
			return set_error(lx, t->col, "expected 'NAME = spawn', got 'spawn' alone");
		if (end_of_stmt(lx))
			return -1;
	} else if (is_tok(t, "unpin")) {
		op->kind = AVM_OP_UNPIN;
		if (get_name(lx, "a pin handle name", op->handle) || end_of_stmt(lx))
			return -1;
	} else if (is_tok(t, "pin-read") || is_tok(t, "pin-write")) {
		op->kind = is_tok(t, "pin-read") ? AVM_OP_PIN_READ : AVM_OP_PIN_WRITE;
		if (get_name(lx, "a pin handle name", op->handle) ||
		    get_number(lx, "a page index", &op->index))
			return -1;
		if (op->kind == AVM_OP_PIN_WRITE && get_number(lx, "a value", &op->value))
			return -1;
		if (end_of_stmt(lx))
			return -1;
	} else if (is_tok(t, "reclaim")) {
		op->kind = AVM_OP_RECLAIM;
		if (get_number(lx, "a number of frames", &op->value) || end_of_stmt(lx))
			return -1;
	} else if (is_tok(t, "set")) {
		op->kind = AVM_OP_SET;
		t = next(lx);
		if (!is_tok(t, "max_map_count"))
			return expected(lx, t, "max_map_count");
		strcpy(op->name, "max_map_count");
		if (get_number(lx, "a number", &op->value) || end_of_stmt(lx))
			return -1;
	} else if (is_tok(t, "checkpoint")) {
		op->kind = AVM_OP_CHECKPOINT;
		if ((t = next(lx))) {
			if (strlen(t->s) >= sizeof(op->name))
				return expected(lx, t, "a shorter label");
			strcpy(op->name, t->s);
		}
		if (end_of_stmt(lx))
			return -1;
	} else if (is_tok(t, "expect")) {
		op->kind = AVM_OP_EXPECT;
		if (parse_expect(lx, op))
			return -1;
	} else if (is_tok(t, "show")) {
		op->kind = AVM_OP_SHOW;
		if (parse_show(lx, op))
			return -1;
	} else if (is_ident(t->s) && strlen(t->s) < AVM_SYM_MAX) {
		strcpy(op->proc, t->s);
		if (parse_proc_cmd(lx, op))
			return -1;
	} else {
		return expected(lx, t, "a command or a process name");
	}
	if (op->bind[0] && op->kind != AVM_OP_SPAWN && op->kind != AVM_OP_FORK &&
	    op->kind != AVM_OP_MMAP && op->kind != AVM_OP_MREMAP && op->kind != AVM_OP_PIN &&
	    op->kind != AVM_OP_REF)
		return set_error(lx, op->col, "expected no 'NAME =' before %s",
				 avm_op_kind_name(op->kind));
	if (op->kind == AVM_OP_EXPECT || op->kind == AVM_OP_SHOW || op->kind == AVM_OP_CHECKPOINT) {
		if (peek(lx))
			return expected(lx, peek(lx), "end of line");
		return 1;
	}
	t = next(lx);
	if (is_tok(t, "=>")) {
		if (!takes_result(op->kind))
			return expected(lx, t, "end of line");
		if (parse_result(lx, op))
			return -1;
	} else if (t) {
		return expected(lx, t, "'=>' or end of line");
	}
	return 1;
}

/* ---- the line-at-a-time parser --------------------------------------- */

void script_parser_init(struct script_parser *p, const char *file)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->file, sizeof(p->file), "%s", file ? file : "<input>");
}

void avm_op_free(struct avm_op *op)
{
	free(op->text);
	free(op->src);
	op->text = NULL;
	op->src = NULL;
}

/* Keep the statement's text (for --echo and reports): no comment, trimmed. */
static char *src_copy(const char *line)
{
	size_t n = strcspn(line, "#\r\n");
	char *s;

	/* A '#' inside "..." is text, not a comment. */
	for (const char *q = strchr(line, '"'); q && q < line + n;) {
		const char *e = strchr(q + 1, '"');
		if (!e)
			break;
		if (e >= line + n)
			n = strcspn(e, "#\r\n") + (size_t)(e - line);
		q = strchr(e + 1, '"');
	}
	while (*line == ' ' || *line == '\t') {
		line++;
		n--;
	}
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	s = malloc(n + 1);
	if (s) {
		memcpy(s, line, n);
		s[n] = 0;
	}
	return s;
}

void script_parser_reset(struct script_parser *p)
{
	if (p->has_pending)
		avm_op_free(&p->pending);
	p->has_pending = false;
	p->text_len = p->text_cap = 0;
}

/* `hex-hex ` at the start (after blanks): a line of an expected maps block. */
static bool is_maps_line(const char *s)
{
	const char *q;

	while (*s == ' ' || *s == '\t')
		s++;
	q = s;
	while (isxdigit((unsigned char)*s))
		s++;
	if (s == q || *s != '-')
		return false;
	q = ++s;
	while (isxdigit((unsigned char)*s))
		s++;
	return s != q && (*s == ' ' || *s == '\t');
}

static int append_text(struct script_parser *p, const char *line, struct script_error *err)
{
	size_t n = strcspn(line, "\r\n");
	char *t;

	while (*line == ' ' || *line == '\t') {
		line++;
		n--;
	}
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)line[i]) && line[i] != '\t')
			goto bad;
	if (n > MAX_LINE || p->text_len > (1u << 24))
		goto bad;
	if (p->text_len + n + 2 > p->text_cap) {
		size_t cap = (p->text_cap ? p->text_cap * 2 : 256) + n + 2;
		t = realloc(p->pending.text, cap);
		if (!t) {
			snprintf(err->msg, sizeof(err->msg), "out of memory");
			goto fill;
		}
		p->pending.text = t;
		p->text_cap = cap;
	}
	memcpy(p->pending.text + p->text_len, line, n);
	p->text_len += n;
	p->pending.text[p->text_len++] = '\n';
	p->pending.text[p->text_len] = 0;
	return 0;
bad:
	snprintf(err->msg, sizeof(err->msg), "expected a maps line (printable, shorter)");
fill:
	snprintf(err->file, sizeof(err->file), "%s", p->file);
	err->line = p->line;
	err->col = 1;
	return -1;
}

static void take_pending(struct script_parser *p, struct avm_op *out)
{
	*out = p->pending;
	if (!out->text) {
		/* An empty block: expect an empty address space. */
		out->text = calloc(1, 1);
	}
	memset(&p->pending, 0, sizeof(p->pending));
	p->has_pending = false;
	p->text_len = p->text_cap = 0;
}

int script_parser_feed(struct script_parser *p, const char *line, struct avm_op out[2],
		       struct script_error *err)
{
	struct lexer lx;
	int n = 0, r;

	p->line++;
	if (p->has_pending) {
		if (is_maps_line(line))
			return append_text(p, line, err) ? (script_parser_reset(p), -1) : 0;
		take_pending(p, &out[0]);
		n = 1;
	}
	lx.line = p->line;
	lx.file = p->file;
	lx.err = err;
	if (tokenize(&lx, line) < 0) {
		if (n)
			avm_op_free(&out[0]);
		return -1;
	}
	r = parse_tokens(&lx, &out[n]);
	if (r < 0) {
		if (n)
			avm_op_free(&out[0]);
		return -1;
	}
	/* Lean parsers (streaming runs) keep the text only where --echo shows it. */
	if (r == 1 && (!p->lean || out[n].kind == AVM_OP_SHOW))
		out[n].src = src_copy(line);
	if (r == 1 && out[n].kind == AVM_OP_EXPECT && out[n].expect == AVM_EXPECT_MAPS) {
		p->pending = out[n];
		p->has_pending = true;
		return n;
	}
	return n + r;
}

int script_parser_finish(struct script_parser *p, struct avm_op *out)
{
	if (!p->has_pending)
		return 0;
	take_pending(p, out);
	return 1;
}

/* ---- streams: one op at a time ------------------------------------------ */

void scenario_stream_init(struct scenario_stream *s, const char *file, const char *text,
			  size_t len)
{
	memset(s, 0, offsetof(struct scenario_stream, line));
	script_parser_init(&s->p, file);
	s->text = text;
	s->len = len;
}

static void stream_drop_ready(struct scenario_stream *s)
{
	for (int k = 0; k < s->n; k++)
		avm_op_free(&s->ops[k]);
	s->n = s->next = 0;
}

void scenario_stream_free(struct scenario_stream *s)
{
	stream_drop_ready(s);
	script_parser_reset(&s->p);
}

/* Fill *err for the line about to be fed (the position the parser has not counted yet). */
static int stream_error(struct scenario_stream *s, struct script_error *err, int col)
{
	s->pos = s->len;
	s->finished = true;
	snprintf(err->file, sizeof(err->file), "%s", s->p.file);
	err->line = s->p.line + 1;
	err->col = col;
	return -1;
}

int scenario_stream_next(struct scenario_stream *s, struct avm_op **op,
			 struct script_error *err)
{
	while (s->next == s->n) {
		const char *start, *nl, *nul;
		size_t n;
		int r;

		stream_drop_ready(s);
		if (s->pos >= s->len) {
			if (s->finished)
				return 0;
			s->finished = true;
			s->n = script_parser_finish(&s->p, &s->ops[0]);
			continue;
		}
		start = s->text + s->pos;
		nl = memchr(start, '\n', s->len - s->pos);
		n = nl ? (size_t)(nl - start) : s->len - s->pos;
		if ((nul = memchr(start, 0, n))) {
			snprintf(err->msg, sizeof(err->msg), "expected text, got a NUL byte");
			return stream_error(s, err, (int)(nul - start) + 1);
		}
		if (n > MAX_LINE) {
			snprintf(err->msg, sizeof(err->msg),
				 "expected a line of at most %d bytes, got %zu", MAX_LINE, n);
			return stream_error(s, err, MAX_LINE + 1);
		}
		memcpy(s->line, start, n);
		s->line[n] = 0;
		s->pos += n + 1;
		r = script_parser_feed(&s->p, s->line, s->ops, err);
		if (r < 0) {
			script_parser_reset(&s->p);
			s->pos = s->len;
			s->finished = true;
			return -1;
		}
		s->n = r;
	}
	*op = &s->ops[s->next++];
	return 1;
}

/* ---- whole scenarios --------------------------------------------------- */

static int push_op(struct scenario *sc, const struct avm_op *op)
{
	if (sc->nops == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct avm_op *ops = realloc(sc->ops, cap * sizeof(*ops));
		if (!ops)
			return -1;
		sc->ops = ops;
		sc->cap = cap;
	}
	sc->ops[sc->nops++] = *op;
	return 0;
}

void scenario_free(struct scenario *sc)
{
	for (size_t i = 0; i < sc->nops; i++)
		avm_op_free(&sc->ops[i]);
	free(sc->ops);
	sc->ops = NULL;
	sc->nops = sc->cap = 0;
}

int scenario_parse(const char *file, const char *text, size_t len, struct scenario *sc,
		   struct script_error *err)
{
	struct scenario_stream *s = malloc(sizeof(*s));
	struct avm_op *op;
	int r;

	memset(sc, 0, sizeof(*sc));
	snprintf(sc->file, sizeof(sc->file), "%s", file ? file : "<input>");
	if (!s) {
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "%s", sc->file);
		err->line = err->col = 1;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -1;
	}
	scenario_stream_init(s, sc->file, text, len);
	while ((r = scenario_stream_next(s, &op, err)) > 0) {
		if (push_op(sc, op)) {
			snprintf(err->file, sizeof(err->file), "%s", sc->file);
			err->line = op->line;
			err->col = 1;
			snprintf(err->msg, sizeof(err->msg), "out of memory");
			r = -1;
			break;
		}
		/* The scenario owns the heap parts now. */
		op->text = NULL;
		op->src = NULL;
	}
	scenario_stream_free(s);
	free(s);
	if (r < 0) {
		scenario_free(sc);
		return -1;
	}
	return 0;
}

int scenario_read(const char *path, char **text, size_t *len, struct script_error *err)
{
	bool is_stdin = !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	*text = NULL;
	*len = 0;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", is_stdin ? "<stdin>" : path);
	if (!f) {
		snprintf(err->msg, sizeof(err->msg), "cannot open: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;
		if (n + 4096 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				snprintf(err->msg, sizeof(err->msg), "out of memory");
				goto fail;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (!got)
			break;
	}
	if (ferror(f)) {
		snprintf(err->msg, sizeof(err->msg), "read error: %s", strerror(errno));
		goto fail;
	}
	if (!is_stdin)
		fclose(f);
	*text = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	if (!is_stdin)
		fclose(f);
	return -1;
}

int scenario_load(const char *path, struct scenario *sc, struct script_error *err)
{
	char *buf;
	size_t len;
	int r;

	memset(sc, 0, sizeof(*sc));
	if (scenario_read(path, &buf, &len, err))
		return -1;
	r = scenario_parse(!strcmp(path, "-") ? "<stdin>" : path, buf ? buf : "", len, sc, err);
	free(buf);
	return r;
}
