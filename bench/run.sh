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
# Swap cases need a swap device.  As root this script hot-adds a zram
# device, makes it swap for the run and removes it on exit
# (spec/host-kernel.md); otherwise those kernel cases say SKIP.
#
# Knobs (environment):
#   BENCH_RUNS=5                      runs per case and size (median, min, max)
#   BENCH_SETTLE=0.5                  seconds of rest after each kernel run
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
SETTLE=${BENCH_SETTLE:-0.5}
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
[ -x "$BUILD/anonvm" ] || { echo "bench: $BUILD/anonvm missing (make all)" >&2; exit 1; }
# A private copy: a rebuild of BUILD/anonvm during the run must not mix binaries.
cp "$BUILD/anonvm" "$BUILD/bench/anonvm"
ANONVM=$BUILD/bench/anonvm
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

RAW=$OUT/raw.jsonl
: > "$RAW"
LARGEST=$(echo "$SIZES" | tr ',' '\n' | sort -n | tail -1)

# ---- zram swap for the swap and rmap cases ---------------------------------
# A zram device of our own: hot-added (zram1, ...) so that whoever uses
# zram0 (the host oracle's swap tests) is not disturbed, and given a high
# priority so pageouts land on it.  zram0 only when hot_add is missing and
# zram0 is free.
ZRAM_DEV=
ZRAM_HOT=
zram_teardown() {
	if [ -n "$ZRAM_DEV" ]; then
		swapoff "/dev/$ZRAM_DEV" 2>/dev/null || true
		echo 1 > "/sys/block/$ZRAM_DEV/reset" 2>/dev/null || true
		if [ -n "$ZRAM_HOT" ]; then
			echo "$ZRAM_HOT" > /sys/class/zram-control/hot_remove 2>/dev/null || true
		fi
		ZRAM_DEV=; ZRAM_HOT=
	fi
}
zram_setup() {
	[ "$(id -u)" = 0 ] || { echo "bench: not root, swap cases SKIP on the kernel side"; return 0; }
	if [ -w /sys/class/zram-control/hot_add ]; then
		ZRAM_HOT=$(cat /sys/class/zram-control/hot_add) || ZRAM_HOT=
		[ -n "$ZRAM_HOT" ] && ZRAM_DEV=zram$ZRAM_HOT
		for i in 1 2 3 4 5; do [ -b "/dev/$ZRAM_DEV" ] && break; sleep 0.2; done
	elif [ -e /sys/block/zram0/disksize ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ]; then
		ZRAM_DEV=zram0
	fi
	if [ -z "$ZRAM_DEV" ] || [ ! -b "/dev/$ZRAM_DEV" ]; then
		echo "bench: no free zram device, swap cases SKIP on the kernel side"
		zram_teardown
		return 0
	fi
	# Twice the largest region plus slack: zram stores compressed, so this
	# bounds the space, it does not take memory.
	echo $(( (LARGEST * 2 + 65536) * 4096 )) > "/sys/block/$ZRAM_DEV/disksize"
	if ! mkswap "/dev/$ZRAM_DEV" >/dev/null 2>&1 || ! swapon -p 32000 "/dev/$ZRAM_DEV"; then
		echo "bench: could not swapon $ZRAM_DEV, swap cases SKIP"
		zram_teardown
		return 0
	fi
	echo "bench: swap on /dev/$ZRAM_DEV"
}
trap zram_teardown EXIT
trap 'zram_teardown; exit 130' INT TERM

case_wanted() {
	[ -z "${BENCH_SET:-}" ] && return 0
	echo ",$BENCH_SET," | grep -q ",$1,"
}

if case_wanted swap-out || case_wanted swap-in || case_wanted rmap-chain || case_wanted rmap-star; then
	zram_setup
fi

# ---- the cases, alternating the two programs ------------------------------
# One process per side and cell, RUNS runs in it.  The model's process
# does one untimed run first (--warmup): its heap grows there, as it would
# in a long replay, instead of in the first timed run; the kernel's runs
# each map fresh memory anyway.
turn=0
for c in $($KERNEL --list); do
	case_wanted "$c" || continue
	case $c in
	rmap-*) list=$KS ;;
	*) list=$SIZES ;;
	esac
	for n in $(echo "$list" | tr ',' ' '); do
		if [ $(( turn % 2 )) = 0 ]; then order="kernel model"; else order="model kernel"; fi
		for side in $order; do
			if [ "$side" = kernel ]; then
				"$KERNEL" --set "$c" --sizes "$n" --runs "$RUNS" --json >> "$RAW" ||
					echo "{\"side\":\"kernel\",\"case\":\"$c\",\"n\":$n,\"unit\":\"\",\"runs\":0,\"median\":0,\"min\":0,\"max\":0,\"status\":\"skip\",\"note\":\"bench/kernel failed\"}" >> "$RAW"
				# Let the kernel finish what the run left behind
				# (gigabytes to free, zram slots) before the model.
				sleep "$SETTLE"
			else
				"$ANONVM" bench --set "$c" --sizes "$n" --runs "$RUNS" --warmup --json --verify >> "$RAW" ||
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
# `anonvm run --quiet`; the same file cut to its two header lines measures
# start-up, which is subtracted.  Median of RUNS by wall clock; the note
# also gives the rate by CPU time (user + sys), which other load on the
# machine does not inflate.
interp() {
	f=$BUILD/bench/interp.avm
	h=$BUILD/bench/interp-head.avm
	tf=$BUILD/bench/interp.time
	printf 'p1 = spawn\np1 mmap 0x7e0000000000 1024p rw\n' > "$h"
	{ cat "$h"; awk -v n="$INTERP_LINES" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "p1 write 0x7e0000%03x000 %d\n", i % 1024, i
	}'; } > "$f"
	: > "$tf.all"
	for r in $(seq "$RUNS"); do
		for which in head full; do
			if [ $which = head ]; then in=$h; else in=$f; fi
			if [ -x /usr/bin/time ]; then
				/usr/bin/time -f "$which %e %U %S" -o "$tf" "$ANONVM" run --quiet "$in" > /dev/null 2>&1 || return 1
				cat "$tf" >> "$tf.all"
			else
				a=$(date +%s%N); "$ANONVM" run --quiet "$in" > /dev/null 2>&1 || return 1; b=$(date +%s%N)
				echo "$which $(( (b - a) / 1000000 )).$(( (b - a) / 1000 % 1000 )) 0 0" >> "$tf.all"
			fi
		done
	done
	awk -v L="$INTERP_LINES" -v R="$RUNS" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$1 == "head" { hw[++nh] = $2; hc[nh] = $3 + $4 }
	$1 == "full" { fw[++nf] = $2; fc[nf] = $3 + $4 }
	END {
		h = median(hw, nh); hcpu = median(hc, nh)
		lo = 1e30; hi = 0
		for (i = 1; i <= nf; i++) { if (fw[i] < lo) lo = fw[i]; if (fw[i] > hi) hi = fw[i] }
		m = median(fw, nf); c = median(fc, nf)
		d = m - h; if (d <= 0) d = 0.001
		dc = c - hcpu; if (dc <= 0) dc = 0.001
		printf "{\"side\":\"model\",\"case\":\"interp\",\"n\":%d,\"unit\":\"lines/s\",\"runs\":%d,", L, R
		printf "\"median\":%.1f,\"min\":%.1f,\"max\":%.1f,\"status\":\"ok\",", L / d, L / (hi - h > 0 ? hi - h : 0.001), L / (lo - h > 0 ? lo - h : 0.001)
		printf "\"note\":\"anonvm run --quiet on %d write lines, wall clock, start-up %.2f s subtracted; by CPU time (user+sys) %.0f lines/s\"}\n", L, h, L / dc
	}' "$tf.all"
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

# DAMON sampling physical memory (kdamond clearing accessed bits through
# the rmap) slows memory-heavy processes on and off: say so when it runs.
DAMON=
for st in /sys/kernel/mm/damon/admin/kdamonds/*/state; do
	[ -r "$st" ] && [ "$(cat "$st")" = on ] &&
		DAMON="; DAMON monitoring on ($(cat "${st%/state}/contexts/0/operations" 2>/dev/null || echo '?'))"
done
MACHINE="$(uname -sr), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)$DAMON"
"$BUILD/bench/report" "$RAW" "$OUT" "$MACHINE"
echo "bench: wrote $OUT/results.md, $OUT/results.json, $OUT/chart.svg"
