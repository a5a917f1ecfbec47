#!/usr/bin/env bash
# tests/run.sh BUILDDIR ASANBUILDDIR - every suite of `make test`.
#
#   1. unit tests                    BUILDDIR/unit
#   2. examples/*.avm and tests/scenarios/**/*.avm through
#      `anonvm run --validate` (one test per file)
#   3. the fuzz corpus (fuzz/corpus) replayed through the harness, built
#      without libFuzzer against the ASan objects
#   4. `anonvm bench --quick --verify` (one test: every case's digest)
#   5. the host-oracle suite, if tests/host/run.sh exists
#   6. unit + scenarios again with the ASan+UBSan build
#
# Ends with one line "N passed, N failed, N skipped" (sums over suites) and
# exits non-zero if anything failed.  `--only-asan` runs 3 and 6 only.
#
# Per-scenario directives (in the file's comments):
#   # run: OPTIONS         extra options for `anonvm run` (e.g. --host-like)
#   # expect-exit: N       expected exit status (default 0)
#   # expect-stderr: TEXT  stderr must contain TEXT (error-message tests)
#
# HOST_TIMEOUT (default 900 s, 720 s with CI=true) bounds the host-oracle suite.
set -uo pipefail

only_asan=0
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit 0
fi
if [[ ${1:-} == --only-asan ]]; then
	only_asan=1
	shift
fi
B=${1:-build/test}
A=${2:-build/asan}
cd "$(dirname "$0")/.."

P=0 F=0 S=0
failures=()

add() { # suite passed failed skipped
	P=$((P + $2)) F=$((F + $3)) S=$((S + $4))
	printf '%-22s %d passed, %d failed, %d skipped\n' "$1:" "$2" "$3" "$4"
}

run_unit() { # builddir label
	local out p f
	if [[ ! -x $1/unit ]]; then
		echo "$2: $1/unit not built"
		add "$2" 0 1 0
		failures+=("$2: not built")
		return
	fi
	out=$("$1/unit" 2>&1)
	echo "$out" | grep -E '^FAIL' | sed "s|^|  $2: |"
	read -r p f < <(echo "$out" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*$/\2 \3/p' | tail -1)
	if [[ -z ${p:-} ]]; then
		# A sanitizer report ends the process before stdout is flushed.
		echo "$out" | grep -E 'ERROR: |SUMMARY: |^FAIL' | head -10 | sed "s|^|  $2: |"
		add "$2" 0 1 0
		failures+=("$2: crashed or no summary")
		return
	fi
	add "$2" "$p" "$f" 0
	((f == 0)) || failures+=("$2: $f failed")
}

scenario_files() {
	ls examples/*.avm 2>/dev/null
	find tests/scenarios -name '*.avm' 2>/dev/null | sort
}

run_scenarios() { # anonvm label
	local bin=$1 label=$2 p=0 f=0 file opts want rc err pat
	if [[ ! -x $bin ]]; then
		add "$label" 0 1 0
		failures+=("$label: $bin not built")
		return
	fi
	while read -r file; do
		[[ -n $file ]] || continue
		opts=$(sed -nE 's/^#[[:space:]]*run:[[:space:]]*(.*)$/\1/p' "$file" | head -1)
		want=$(sed -nE 's/^#[[:space:]]*expect-exit:[[:space:]]*([0-9]+).*/\1/p' "$file" | head -1)
		pat=$(sed -nE 's/^#[[:space:]]*expect-stderr:[[:space:]]*(.*)$/\1/p' "$file" | head -1)
		want=${want:-0}
		# shellcheck disable=SC2086
		err=$("$bin" run --validate --quiet $opts "$file" 2>&1 >/dev/null)
		rc=$?
		if [[ $rc -eq $want && ( -z $pat || $err == *"$pat"* ) ]]; then
			p=$((p + 1))
		else
			f=$((f + 1))
			failures+=("$label: $file (exit $rc, want $want)")
			echo "  FAIL $file (exit $rc, want $want)"
			echo "$err" | head -15 | sed 's/^/    /'
		fi
	done < <(scenario_files)
	add "$label" "$p" "$f" 0
}

run_corpus() {
	local drv=$A/fuzz/driver out
	local san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	if [[ ! -f $A/libanonvm.a ]]; then
		add corpus 0 1 0
		failures+=("corpus: $A/libanonvm.a not built")
		return
	fi
	mkdir -p "$A/fuzz"
	# shellcheck disable=SC2086
	if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g $san -Iinclude -Iscript \
		-o "$drv" fuzz/driver.c fuzz/fuzz_scenario.c "$A"/script/*.o "$A/libanonvm.a" -lm; then
		add corpus 0 1 0
		failures+=("corpus: driver did not build")
		return
	fi
	local n=0 bad=0 file
	# One process per input would be slow; the driver takes them all, but a
	# crash must name the input, so run in batches and bisect on failure.
	if out=$("$drv" fuzz/corpus examples tests/scenarios/*/ 2>&1); then
		n=$(echo "$out" | sed -nE 's/^([0-9]+) inputs$/\1/p' | tail -1)
	else
		for file in fuzz/corpus/* examples/*.avm; do
			[[ -f $file ]] || continue
			if "$drv" "$file" >/dev/null 2>&1; then n=$((n + 1)); else
				bad=$((bad + 1))
				failures+=("corpus: $file")
				echo "  FAIL corpus input $file"
				"$drv" "$file" 2>&1 | head -20 | sed 's/^/    /'
			fi
		done
		((bad)) || bad=1
	fi
	add corpus "${n:-0}" "$bad" 0
}

# `anonvm bench --quick --verify`: every benchmark case at tiny sizes, its
# final state checked against its digest and the validator (one test).
run_bench_quick() {
	local bin=$B/anonvm out
	if [[ ! -x $bin ]]; then
		add bench-quick 0 1 0
		failures+=("bench-quick: $bin not built")
		return
	fi
	if out=$("$bin" bench --quick --verify 2>&1); then
		add bench-quick 1 0 0
	else
		echo "$out" | tail -5 | sed 's/^/  bench-quick: /'
		add bench-quick 0 1 0
		failures+=("bench-quick: anonvm bench --quick --verify failed")
	fi
}

run_host() {
	local out p f s host_timeout=${HOST_TIMEOUT:-900}
	# CI must finish in 20 minutes, builds included.
	[[ ${CI:-} == true && -z ${HOST_TIMEOUT:-} ]] && host_timeout=720
	[[ -x tests/host/run.sh || -f tests/host/run.sh ]] || return 0
	# The oracle drives real processes; a hang must not hang `make test`.
	out=$(timeout "$host_timeout" bash tests/host/run.sh "$B" 2>&1)
	if [[ $? -eq 124 ]]; then
		echo "$out" | tail -5 | sed 's/^/  host: /'
		add host 0 1 0
		failures+=("host: timed out after ${host_timeout}s")
		return
	fi
	echo "$out" | grep -E 'FAIL|DIVERGE' | head -20 | sed 's/^/  host: /'
	read -r p f s < <(echo "$out" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*$/\2 \3 \5/p' | tail -1)
	if [[ -z ${p:-} ]]; then
		echo "$out" | tail -10 | sed 's/^/  host: /'
		add host 0 1 0
		failures+=("host: no summary line")
		return
	fi
	add host "$p" "$f" "${s:-0}"
	((f == 0)) || failures+=("host: $f failed")
}

if ((!only_asan)); then
	run_unit "$B" unit
	run_scenarios "$B/anonvm" scenarios
	run_bench_quick
	run_host
fi
run_corpus
run_unit "$A" unit-asan
run_scenarios "$A/anonvm" scenarios-asan

if ((${#failures[@]})); then
	echo "failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$P passed, $F failed, $S skipped"
((F == 0))
