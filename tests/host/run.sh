#!/bin/sh
# tests/host/run.sh [BUILD_DIR | ANONVM_BINARY] - the host-kernel oracle suite.
#
#   1. `anonvm diff --selftest`: the host side alone (puppets, /proc readers,
#      the kernel facts of spec/host-kernel.md the oracle relies on);
#   2. every examples/*.avm and tests/scenarios/**/*.avm through `anonvm diff`;
#   3. a fixed-seed differential fuzz run (HOST_FUZZ_RUNS scenarios of
#      HOST_FUZZ_STEPS steps, 1-4 processes; defaults 300 x 40).
#
# A divergence or a broken scenario fails; an environment that cannot check
# (not root, no /proc/kpageflags, KSM on, no zram, no io_uring, no
# UFFDIO_MOVE) gives SKIP with the reason, never a pass.
# Last line: "N passed, N failed, N skipped".
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
arg=${1:-build/test}
case $arg in
/*) ;;
*) arg=$here/$arg ;;
esac
if [ -d "$arg" ]; then bin=$arg/anonvm; else bin=$arg; fi
runs=${HOST_FUZZ_RUNS:-300}
steps=${HOST_FUZZ_STEPS:-40}
seed=${HOST_FUZZ_SEED:-20261207}
pass=0 fail=0 skip=0

finish() {
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
	exit $?
}

if [ ! -x "$bin" ]; then
	echo "FAIL host: no binary $bin"
	fail=1
	finish
fi
if [ "$(id -u)" != 0 ]; then
	echo "SKIP host oracle: not root (pagemap PFNs and /proc/kpageflags need it)"
	skip=1
	finish
fi
cd "$here" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Add the counts of a "N passed, N failed, N skipped" line.
add_counts() {
	set -- $(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p' "$1" | tail -1)
	if [ $# -eq 3 ]; then
		pass=$((pass + $1)); fail=$((fail + $2)); skip=$((skip + $3))
	else
		fail=$((fail + 1))
	fi
}

# 1. selftest
"$bin" diff --selftest >"$tmp/self" 2>&1
sed 's/^/  /' "$tmp/self" | grep -v ' passed, ' 
add_counts "$tmp/self"

# 2. scenario files
files=$(find examples tests/scenarios -name '*.avm' 2>/dev/null | sort)
if [ -n "$files" ]; then
	# shellcheck disable=SC2086
	"$bin" diff --keep-going -v $files >"$tmp/diff" 2>&1
	p=$(grep -c '^PASS \|^XPASS ' "$tmp/diff")
	d=$(grep -c '^DIVERGE \|^ERROR ' "$tmp/diff")
	s=$(grep -c '^SKIP \|^XFAIL ' "$tmp/diff")
	pass=$((pass + p)); fail=$((fail + d)); skip=$((skip + s))
	# Show everything but the PASS lines: divergences with their state, skips with reasons.
	grep -v '^PASS \|^host: ' "$tmp/diff" | sed 's/^/  /'
	echo "host diff: $p passed, $d failed, $s skipped ($(echo "$files" | wc -l) files)"
fi

# 3. fixed-seed fuzz runs: the main one, then a few with small vm.max_map_count
#    limits (emulated per puppet with padding VMAs: slower, so fewer runs).
"$bin" fuzz --seed "$seed" --runs "$runs" --steps "$steps" --procs 4 \
	--out "$tmp/fuzz" -q >"$tmp/fuzz.log" 2>&1
"$bin" fuzz --seed "$((seed + 1))" --runs "${HOST_FUZZ_LIMIT_RUNS:-12}" --steps "$steps" \
	--procs 4 --limits --out "$tmp/fuzz" -q >>"$tmp/fuzz.log" 2>&1
sed 's/^/  /' "$tmp/fuzz.log"
nline=$(grep -c '^fuzz seed' "$tmp/fuzz.log")
if [ "$nline" -gt 0 ]; then
	grep '^fuzz seed' "$tmp/fuzz.log" | while read -r line; do
		echo "$line" | sed -n 's/.*: \([0-9]*\) clean, \([0-9]*\) diverged, \([0-9]*\) skipped, \([0-9]*\) errors.*/\1 \2 \3 \4/p'
	done >"$tmp/fuzz.counts"
	while read -r c d s e; do
		pass=$((pass + c)); fail=$((fail + d + e)); skip=$((skip + s))
	done <"$tmp/fuzz.counts"
	[ "$nline" -eq 2 ] || fail=$((fail + 1))
	if ls "$tmp/fuzz"/*.avm >/dev/null 2>&1; then
		mkdir -p "$here/build/host-divergences"
		cp "$tmp/fuzz"/*.avm "$here/build/host-divergences/"
		echo "  shrunk divergences saved in build/host-divergences/"
	fi
elif grep -q '^SKIP' "$tmp/fuzz.log"; then
	skip=$((skip + 1))
else
	fail=$((fail + 1))
fi
finish
