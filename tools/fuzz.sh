#!/usr/bin/env bash
# tools/fuzz.sh - build the libFuzzer harness (fuzz/fuzz_scenario.c) with
# clang -fsanitize=fuzzer,address,undefined and run it.
#
#   FUZZ_SECONDS=60 (default) how long to run
#   FUZZ_JOBS=1               parallel fuzzing processes
#   FUZZ_MERGE=1              afterwards, merge inputs with new coverage into
#                             fuzz/corpus (the corpus `make test` replays)
#
# Crashes land in build/fuzz/crash-*; the log in build/fuzz/fuzz.log.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
OUT=build/fuzz
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT/work" "$OUT/obj"

command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (libFuzzer needs clang)"; exit 2; }
FLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Iinclude -Ilib -Iscript -DAVM_DEBUG=2"
echo "building $OUT/fuzz_scenario"
# shellcheck disable=SC2086
$CC $FLAGS -o "$OUT/fuzz_scenario" fuzz/fuzz_scenario.c script/*.c lib/*.c -lm

# Seed the working corpus with the repository corpus and every scenario.
cp -n fuzz/corpus/* "$OUT/work/" 2>/dev/null || true
for f in examples/*.avm $(find tests/scenarios -name '*.avm'); do
	cp -n "$f" "$OUT/work/$(echo "$f" | tr / _)" 2>/dev/null || true
done

echo "fuzzing for ${SECS}s with $JOBS job(s)"
set +e
"$OUT/fuzz_scenario" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	-dict=fuzz/avm.dict -artifact_prefix="$OUT/" -print_final_stats=1 \
	$([[ $JOBS -gt 1 ]] && echo "-fork=$JOBS") "$OUT/work" 2>&1 | tee "$OUT/fuzz.log" | grep -E 'DONE|pulse|NEW_FUNC|ERROR|crash|stat::' || true
set -e
crashes=$(find "$OUT" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \) | wc -l)
if [[ ${FUZZ_MERGE:-1} == 1 ]]; then
	"$OUT/fuzz_scenario" -merge=1 -max_len=4096 fuzz/corpus "$OUT/work" >"$OUT/merge.log" 2>&1 || true
fi
execs=$(cat "$OUT"/fuzz.log | { grep -oE 'stat::number_of_executed_units: *[0-9]+' || true; } | awk '{s+=$2} END {print s+0}')
echo "fuzz: ${execs} executions, ${crashes} crash/leak/timeout artifacts, corpus $(ls fuzz/corpus | wc -l) files"
[[ $crashes -eq 0 ]]
