/*
 * repl.c - `anonvm repl`: type scenario lines, see results at once.
 *
 * Line editing is our own small editor (no libreadline dependency, so
 * `make` needs only a C compiler): on a terminal it puts the tty in raw
 * mode and handles left/right, home/end, backspace/delete, ctrl-A/E/K/U/W,
 * up/down history (kept in ~/.anonvm_history), ctrl-C (drop the line) and
 * ctrl-D (quit on an empty line).  Without a terminal it reads plain lines
 * with fgets, so `anonvm repl < file` works as a scripted session.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "exec.h"

#define LINE_MAX_LEN 4096
#define HIST_MAX 500

struct history {
	char *lines[HIST_MAX];
	int n;
};

static void hist_add(struct history *h, const char *line)
{
	if (!line[0] || (h->n && !strcmp(h->lines[h->n - 1], line)))
		return;
	if (h->n == HIST_MAX) {
		free(h->lines[0]);
		memmove(h->lines, h->lines + 1, (HIST_MAX - 1) * sizeof(char *));
		h->n--;
	}
	h->lines[h->n] = strdup(line);
	if (h->lines[h->n])
		h->n++;
}

static char *hist_path(void)
{
	const char *home = getenv("HOME");
	char *p;

	if (!home || !*home)
		return NULL;
	p = malloc(strlen(home) + 32);
	if (p)
		sprintf(p, "%s/.anonvm_history", home);
	return p;
}

static void hist_load(struct history *h)
{
	char *path = hist_path(), buf[LINE_MAX_LEN];
	FILE *f = path ? fopen(path, "r") : NULL;

	while (f && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\r\n")] = 0;
		hist_add(h, buf);
	}
	if (f)
		fclose(f);
	free(path);
}

static void hist_save(const struct history *h)
{
	char *path = hist_path();
	FILE *f = path ? fopen(path, "w") : NULL;

	for (int i = 0; f && i < h->n; i++)
		fprintf(f, "%s\n", h->lines[i]);
	if (f)
		fclose(f);
	free(path);
}

static void refresh(const char *prompt, const char *buf, size_t len, size_t pos)
{
	/* Carriage return, prompt, text, erase to end of line, cursor back. */
	printf("\r%s%.*s\x1b[K", prompt, (int)len, buf);
	if (len > pos)
		printf("\x1b[%zuD", len - pos);
	fflush(stdout);
}

/*
 * Read one line with editing.  Returns: 1 line in buf, 0 end of input,
 * -1 interrupted (ctrl-C).
 */
static int edit_line(const char *prompt, char *buf, size_t cap, struct history *h)
{
	struct termios orig, raw;
	size_t len = 0, pos = 0;
	int hidx = h->n, ret = 1;
	char saved[LINE_MAX_LEN] = "";

	if (tcgetattr(STDIN_FILENO, &orig) < 0)
		return -2;
	raw = orig;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -2;
	buf[0] = 0;
	refresh(prompt, buf, len, pos);
	for (;;) {
		unsigned char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			ret = len ? 1 : 0;
			break;
		}
		if (c == '\r' || c == '\n') {
			break;
		} else if (c == 3) { /* ctrl-C */
			ret = -1;
			break;
		} else if (c == 4) { /* ctrl-D */
			if (!len) {
				ret = 0;
				break;
			}
			if (pos < len) {
				memmove(buf + pos, buf + pos + 1, len - pos);
				len--;
			}
		} else if (c == 127 || c == 8) { /* backspace */
			if (pos) {
				memmove(buf + pos - 1, buf + pos, len - pos + 1);
				pos--;
				len--;
			}
		} else if (c == 1) {
			pos = 0;
		} else if (c == 5) {
			pos = len;
		} else if (c == 11) { /* ctrl-K */
			len = pos;
		} else if (c == 21) { /* ctrl-U */
			memmove(buf, buf + pos, len - pos);
			len -= pos;
			pos = 0;
		} else if (c == 23) { /* ctrl-W: delete the word before the cursor */
			size_t s = pos;
			while (s && buf[s - 1] == ' ')
				s--;
			while (s && buf[s - 1] != ' ')
				s--;
			memmove(buf + s, buf + pos, len - pos);
			len -= pos - s;
			pos = s;
		} else if (c == 27) { /* escape sequences: arrows, home, end, delete */
			unsigned char seq[3];
			if (read(STDIN_FILENO, seq, 1) != 1 || read(STDIN_FILENO, seq + 1, 1) != 1)
				continue;
			if (seq[0] != '[' && seq[0] != 'O')
				continue;
			if (seq[1] >= '0' && seq[1] <= '9') {
				if (read(STDIN_FILENO, seq + 2, 1) != 1 || seq[2] != '~')
					continue;
				if (seq[1] == '3' && pos < len) {
					memmove(buf + pos, buf + pos + 1, len - pos);
					len--;
				} else if (seq[1] == '1' || seq[1] == '7') {
					pos = 0;
				} else if (seq[1] == '4' || seq[1] == '8') {
					pos = len;
				}
			} else if (seq[1] == 'D' && pos) {
				pos--;
			} else if (seq[1] == 'C' && pos < len) {
				pos++;
			} else if (seq[1] == 'H') {
				pos = 0;
			} else if (seq[1] == 'F') {
				pos = len;
			} else if (seq[1] == 'A' || seq[1] == 'B') {
				if (hidx == h->n) {
					buf[len] = 0;
					snprintf(saved, sizeof(saved), "%s", buf);
				}
				if (seq[1] == 'A' && hidx > 0)
					hidx--;
				else if (seq[1] == 'B' && hidx < h->n)
					hidx++;
				else
					continue;
				snprintf(buf, cap, "%s", hidx == h->n ? saved : h->lines[hidx]);
				len = pos = strlen(buf);
			}
		} else if (c >= 32 && c < 127 && len + 1 < cap) {
			memmove(buf + pos + 1, buf + pos, len - pos);
			buf[pos++] = (char)c;
			len++;
		}
		buf[len] = 0;
		refresh(prompt, buf, len, pos);
	}
	buf[len] = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &orig);
	printf("\r\n");
	fflush(stdout);
	return ret;
}

static void repl_help(void)
{
	puts("Type scenario lines; each runs at once.  Examples:\n"
	     "  p1 = spawn                      a process with an empty address space\n"
	     "  a = p1 mmap - 16p rw            16 pages, the model chooses the address\n"
	     "  p1 write a+2p 0xdead            write fault: allocates a frame\n"
	     "  p2 = p1 fork                    copies VMAs, page tables, anon_vma chain\n"
	     "  p2 write a+2p 1 => 0            COW in the child; '=> 0' checks success\n"
	     "  expect p1 read a+2p == 0xdead\n"
	     "  show p1 maps | smaps | vmas | mm | pages a 4p\n"
	     "  show rmap a+2p | stats | anon_vmas | procs\n"
	     "Commands of the shell: help, reset (a fresh world), quit.\n"
	     "The full language is in README.md.");
}

static void repl_usage(FILE *f)
{
	fprintf(f, "usage: anonvm repl [--policy NAME] [--host-like] [--json] [--validate]\n\n"
		   "An interactive shell for the scenario language (help inside).\n"
		   "With a terminal: line editing and history (~/.anonvm_history).\n"
		   "Without one (a pipe or file on stdin): plain lines, no prompt.\n");
}

int cmd_repl(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "host-like", no_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "validate", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct script_options opt;
	struct script_state *st;
	struct script_parser p;
	struct history hist = { .n = 0 };
	bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	char line[LINE_MAX_LEN], msg[512];
	int c, status = 0;

	script_options_default(&opt);
	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': opt.policy = optarg; break;
		case 'H': opt.host_like = true; break;
		case 'j': opt.json = true; break;
		case 'v': opt.validate = true; break;
		case 'h': repl_usage(stdout); return 0;
		case 'V': cli_version("repl"); return 0;
		default: repl_usage(stderr); return 2;
		}
	}
	if (optind < argc)
		return cli_usage_error("repl", "unexpected argument");
	st = script_state_new(&opt, msg, sizeof(msg));
	if (!st) {
		fprintf(stderr, "anonvm repl: %s\n", msg);
		return 2;
	}
	script_parser_init(&p, "repl");
	if (tty) {
		hist_load(&hist);
		printf("anonvm %s - type 'help'.\n", AVM_VERSION);
	}
	for (;;) {
		struct avm_op ops[2];
		struct script_error err;
		int n, r = 0;
		const char *prompt = p.has_pending ? "...> " : "avm> ";

		if (tty) {
			r = edit_line(prompt, line, sizeof(line), &hist);
			if (r == -2)
				tty = false;
			else if (r == -1) {
				script_parser_reset(&p);
				continue;
			}
		}
		if (!tty) {
			r = fgets(line, sizeof(line), stdin) ? 1 : 0;
			line[strcspn(line, "\r\n")] = 0;
		}
		if (r == 0) {
			/* End of input closes an open maps block. */
			struct avm_op op;
			if (script_parser_finish(&p, &op)) {
				struct op_result res;
				if (script_exec_op(st, &op, &res) != SCRIPT_OK) {
					printf("FAIL: %s\n", res.msg);
					status = 1;
				}
				avm_op_free(&op);
			}
			break;
		}
		if (tty)
			hist_add(&hist, line);
		{
			const char *s = line + strspn(line, " \t");
			if (!p.has_pending && (!strcmp(s, "help") || !strcmp(s, "?"))) {
				repl_help();
				continue;
			}
			if (!p.has_pending && (!strcmp(s, "quit") || !strcmp(s, "exit")))
				break;
			if (!p.has_pending && !strcmp(s, "reset")) {
				script_state_free(st);
				st = script_state_new(&opt, msg, sizeof(msg));
				if (!st) {
					fprintf(stderr, "anonvm repl: %s\n", msg);
					return 2;
				}
				puts("(a fresh world)");
				continue;
			}
		}
		n = script_parser_feed(&p, line, ops, &err);
		if (n < 0) {
			script_error_format(&err, msg, sizeof(msg));
			printf("%s\n", msg);
			if (!tty)
				status = 2;
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct op_result res;
			int s = script_exec_op(st, &ops[i], &res);
			if (s == SCRIPT_ERROR) {
				printf("error: %s\n", res.msg);
				status = status ? status : 2;
			} else if (s == SCRIPT_EXPECT_FAILED) {
				printf("FAIL: %s\n", res.msg);
				status = status ? status : 1;
			} else if (res.msg[0]) {
				printf("%s\n", res.msg);
			} else if (tty && ops[i].kind != AVM_OP_SHOW) {
				/* Echo what happened, so the shell is informative. */
				if (ops[i].kind == AVM_OP_MMAP || ops[i].kind == AVM_OP_MREMAP)
					printf("= 0x%lx\n", res.addr);
				else if (ops[i].kind == AVM_OP_READ || ops[i].kind == AVM_OP_PIN_READ)
					printf("= 0x%llx\n", (unsigned long long)res.value);
				else if (ops[i].kind == AVM_OP_SPAWN || ops[i].kind == AVM_OP_FORK)
					printf("= pid %d\n", res.pid);
				else if (ops[i].kind == AVM_OP_UFFD_MOVE)
					printf("= %d, %ld moved\n", res.ret, res.moved);
				else if (ops[i].kind == AVM_OP_EXPECT)
					printf("ok\n");
			}
			avm_op_free(&ops[i]);
		}
		fflush(stdout);
	}
	if (tty)
		hist_save(&hist);
	for (int i = 0; i < hist.n; i++)
		free(hist.lines[i]);
	script_parser_reset(&p);
	script_state_free(st);
	return tty ? 0 : status;
}
