#!/bin/sh
# bench/run.sh BUILD - what `make bench` runs.
#
# Builds bench/kernel (native microbenchmarks of the real syscalls) and
# bench/report, then runs bench/kernel and `BUILD/anonvm bench` alternately,
# case by case and size by size (which goes first alternates too), so that
# noise on this machine hits both sides alike.  Every result line is JSON
# (bench/bench.h); bench/report joins them into bench/results/results.md,
# results.json and chart.svg.
#
# Swap cases need a swap device.  As root, with /sys/block/zram0 free, this
# script sets zram0 up as swap for the run and tears it down on exit
# (spec/host-kernel.md); otherwise those kernel cases say SKIP.
#
# Knobs (environment):
#   BENCH_RUNS=5                      runs per case and size (median, min, max)
#   BENCH_SIZES=1024,16384,262144,1048576
#   BENCH_K=1,16,256                  processes for the rmap walks
#   BENCH_SET=case,case               only these cases (default: all)
#   BENCH_QUICK=1                     tiny sizes, 3 runs (a smoke test)
#   BENCH_OUT=bench/results
set -eu

BUILD=${1:-build}
ANONVM=$BUILD/anonvm
OUT=${BENCH_OUT:-bench/results}
RUNS=${BENCH_RUNS:-5}
SIZES=${BENCH_SIZES:-1024,16384,262144,1048576}
KS=${BENCH_K:-1,16,256}
INTERP_LINES=${BENCH_INTERP_LINES:-1000000}
if [ -n "${BENCH_QUICK:-}" ]; then
	RUNS=${BENCH_RUNS:-3}
	SIZES=${BENCH_SIZES:-64,512}
	KS=${BENCH_K:-1,4}
	INTERP_LINES=${BENCH_INTERP_LINES:-10000}
fi

CC=${CC:-cc}
CFL="-std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Ibench"
mkdir -p "$BUILD/bench" "$OUT"
$CC $CFL bench/kernel.c -o "$BUILD/bench/kernel"
$CC $CFL bench/report.c -o "$BUILD/bench/report" -lm
KERNEL=$BUILD/bench/kernel
[ -x "$ANONVM" ] || { echo "bench: $ANONVM missing (make all)" >&2; exit 1; }

RAW=$OUT/raw.jsonl
: > "$RAW"
LARGEST=$(echo "$SIZES" | tr ',' '\n' | sort -n | tail -1)

# ---- zram swap for the swap and rmap cases ---------------------------------
ZRAM_OURS=
zram_teardown() {
	if [ -n "$ZRAM_OURS" ]; then
		swapoff /dev/zram0 2>/dev/null || true
		echo 1 > /sys/block/zram0/reset 2>/dev/null || true
		ZRAM_OURS=
	fi
}
zram_setup() {
	[ "$(id -u)" = 0 ] || { echo "bench: not root, swap cases SKIP on the kernel side"; return 0; }
	[ -e /sys/block/zram0/disksize ] || { echo "bench: no zram0, swap cases SKIP"; return 0; }
	if grep -q '^/dev/zram0' /proc/swaps; then
		echo "bench: zram0 is already swap (someone else's): using it, not touching it"
		return 0
	fi
	if [ "$(cat /sys/block/zram0/disksize)" != 0 ]; then
		echo "bench: zram0 is in use, swap cases SKIP on the kernel side"
		return 0
	fi
	# Twice the largest region, plus slack: zram stores compressed, so
	# this is an upper bound, not memory taken.
	echo $(( (LARGEST * 2 + 65536) * 4096 )) > /sys/block/zram0/disksize
	ZRAM_OURS=1
	if ! mkswap /dev/zram0 >/dev/null 2>&1 || ! swapon /dev/zram0; then
		echo "bench: could not swapon zram0, swap cases SKIP"
		zram_teardown
	fi
}
trap zram_teardown EXIT
trap 'zram_teardown; exit 130' INT TERM

case_wanted() {
	[ -z "${BENCH_SET:-}" ] && return 0
	echo ",$BENCH_SET," | grep -q ",$1,"
}

zram_setup

# ---- the cases, alternating the two programs ------------------------------
turn=0
for c in $($KERNEL --list); do
	case_wanted "$c" || continue
	case $c in
	rmap-*) list=$KS ;;
	*) list=$SIZES ;;
	esac
	for n in $(echo "$list" | tr ',' ' '); do
		for side in first second; do
			if [ $(( turn % 2 )) = 0 ] && [ $side = first ] ||
			   [ $(( turn % 2 )) = 1 ] && [ $side = second ]; then
				"$KERNEL" --set "$c" --sizes "$n" --runs "$RUNS" --json >> "$RAW" ||
					echo "{\"side\":\"kernel\",\"case\":\"$c\",\"n\":$n,\"unit\":\"\",\"runs\":0,\"median\":0,\"min\":0,\"max\":0,\"status\":\"skip\",\"note\":\"bench/kernel failed\"}" >> "$RAW"
			else
				"$ANONVM" bench --set "$c" --sizes "$n" --runs "$RUNS" --json --verify >> "$RAW" ||
					{ echo "bench: anonvm bench failed on $c N=$n" >&2; exit 1; }
			fi
		done
		tail -n 2 "$RAW" | sed 's/"note".*//'
		turn=$(( turn + 1 ))
	done
done
zram_teardown

# ---- memory at the largest N -----------------------------------------------
if case_wanted mem; then
	"$KERNEL" --mem --sizes "$LARGEST" --json >> "$RAW"
	"$ANONVM" bench --mem --sizes "$LARGEST" --json >> "$RAW"
fi

# ---- scenario interpretation speed ----------------------------------------
# A generated file of simple lines (writes over 1024 resident pages), run by
# `anonvm run`; the same file cut to its header measures start-up, which is
# subtracted.  Median of RUNS.
interp() {
	f=$BUILD/bench/interp.avm
	h=$BUILD/bench/interp-head.avm
	printf 'p1 = spawn\np1 mmap 0x7e0000000000 1024p rw\n' > "$h"
	{ cat "$h"; awk -v n="$INTERP_LINES" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "p1 write 0x7e0000%03x000 %d\n", i % 1024, i
	}'; } > "$f"
	t_full=; t_head=
	for r in $(seq "$RUNS"); do
		a=$(date +%s%N); "$ANONVM" run "$h" > /dev/null 2>&1 || return 1; b=$(date +%s%N)
		t_head="$t_head $((b - a))"
		a=$(date +%s%N); "$ANONVM" run "$f" > /dev/null 2>&1 || return 1; b=$(date +%s%N)
		t_full="$t_full $((b - a))"
	done
	med() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
	mn() { echo "$@" | tr ' ' '\n' | grep . | sort -n | head -1; }
	mx() { echo "$@" | tr ' ' '\n' | grep . | sort -n | tail -1; }
	head_ns=$(med $t_head)
	awk -v L="$INTERP_LINES" -v med="$(med $t_full)" -v lo="$(mn $t_full)" -v hi="$(mx $t_full)" \
	    -v h="$head_ns" -v R="$RUNS" 'BEGIN {
		d = med - h; if (d <= 0) d = 1
		printf "{\"side\":\"model\",\"case\":\"interp\",\"n\":%d,\"unit\":\"lines/s\",\"runs\":%d,", L, R
		printf "\"median\":%.1f,\"min\":%.1f,\"max\":%.1f,\"status\":\"ok\",", L * 1e9 / d, L * 1e9 / (hi - h > 0 ? hi - h : 1), L * 1e9 / (lo - h > 0 ? lo - h : 1)
		printf "\"note\":\"anonvm run on %d write lines, start-up (%.1f ms) subtracted; with start-up %.0f lines/s\"}\n", L, h / 1e6, L * 1e9 / med
	}'
}
if case_wanted interp; then
	if interp >> "$RAW.interp" 2>/dev/null; then
		cat "$RAW.interp" >> "$RAW"
		tail -n 1 "$RAW"
	else
		echo "bench: 'anonvm run' failed on the generated scenario; interpretation not measured"
	fi
	rm -f "$RAW.interp"
fi

MACHINE="$(uname -sr), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
"$BUILD/bench/report" "$RAW" "$OUT" "$MACHINE"
echo "bench: wrote $OUT/results.md, $OUT/results.json, $OUT/chart.svg"
