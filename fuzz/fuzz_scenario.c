/*
 * fuzz_scenario.c - libFuzzer harness for the scenario language: parse
 * arbitrary bytes, and if they parse, run every op on a small model world
 * with the validator after each op.  A crash, a sanitizer report, or a
 * validator failure (abort below) is a bug; a syntax or script error is
 * not.  Limits keep each input fast: ops touch at most 64 pages, at most 8
 * processes, 2048 frames, 256 swap slots.
 *
 * Built by tools/fuzz.sh (clang -fsanitize=fuzzer,address,undefined) and,
 * without libFuzzer, with fuzz/driver.c to replay fuzz/corpus in make test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct scenario sc;
	struct script_error err;
	struct script_options opt;
	struct script_state *st;
	char msg[256];

	if (size > 64 * 1024)
		return 0;
	if (scenario_parse("fuzz", (const char *)data, size, &sc, &err)) {
		/* Every parse error must carry a position and a message. */
		if (err.line < 1 || err.col < 1 || !err.msg[0])
			abort();
		script_error_format(&err, msg, sizeof(msg));
		return 0;
	}
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	script_options_default(&opt);
	opt.out = devnull; /* exercise the printers, keep the output */
	opt.err = NULL;
	opt.validate = true;
	opt.max_op_pages = 64;
	opt.max_procs = 8;
	opt.max_frames = 2048;
	opt.swap_slots = 256;
	opt.json = size & 1; /* both printer flavours */
	opt.host_like = size & 2;
	st = script_state_new(&opt, msg, sizeof(msg));
	if (!st)
		abort();
	for (size_t i = 0; i < sc.nops && i < 400; i++) {
		struct op_result res;
		if (script_exec_op(st, &sc.ops[i], &res) == SCRIPT_ERROR &&
		    !strncmp(res.msg, "validator:", 10)) {
			fprintf(stderr, "fuzz: line %d: %s\n", sc.ops[i].line, res.msg);
			abort();
		}
	}
	if (avm_validate(script_world(st), msg, sizeof(msg))) {
		fprintf(stderr, "fuzz: final validate: %s\n", msg);
		abort();
	}
	script_state_free(st);
	scenario_free(&sc);
	return 0;
}
