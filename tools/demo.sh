#!/usr/bin/env bash
# tools/demo.sh ANONVM - a tour of the examples: what each shows, its maps,
# the rmap diagrams, and the counters.  Run by `make demo`.
set -uo pipefail
BIN=${1:-build/anonvm}
cd "$(dirname "$0")/.."
[[ -x $BIN ]] || { echo "demo: $BIN not built (run make)"; exit 2; }

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || { bold= dim= off=; }

section() { printf '\n%s==== %s ====%s\n' "$bold" "$*" "$off"; }
# The comment block at the top of an example, without the '#'.
intro() { sed -n '1,/^[^#]/p' "$1" | grep '^#' | sed -E 's/^# ?//'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # file, then lines of the language to append (show commands)
	local f=$1 t
	shift
	t=$tmp/$(basename "$f")
	{ cat "$f"; printf '%s\n' "$@"; } >"$t"
	printf '%s$ anonvm run --echo %s%s\n' "$dim" "$f" "$off"
	"$BIN" run --validate --echo "$t" 2>&1 | sed "s|$tmp/|examples/|"
}

section "anonvm $("$BIN" --version | cut -d' ' -f2-)"
cat <<'TXT'
anonvm runs scenarios - what processes do with anonymous memory - on a model
of the Linux 6.18 memory manager, and shows what the kernel would show.
Every example below ends with "ok (N checks, 0 failed)": its expect lines
held.  Read the .avm files next to this output.
TXT

section "1. anon_vma and an rmap walk over fork chains"
intro examples/01-anon-vma-rmap-walk.avm
run examples/01-anon-vma-rmap-walk.avm "show p2 maps" "show stats"

section "2. anon_vma_chain under repeated fork"
intro examples/02-anon-vma-chain-repeated-fork.avm
run examples/02-anon-vma-chain-repeated-fork.avm

section "3. mremap: moved VMAs that cannot merge, holes that can"
intro examples/03-mremap-merge.avm
run examples/03-mremap-merge.avm "show p1 maps"

section "4. PG_anon_exclusive and pins across fork"
intro examples/04-pin-across-fork.avm
run examples/04-pin-across-fork.avm "show p1 pages a 1p" "show p2 pages a 1p"

section "5. UFFDIO_MOVE"
intro examples/05-uffd-move.avm
run examples/05-uffd-move.avm

section "6. swap and exclusivity"
intro examples/06-swap-exclusive.avm
run examples/06-swap-exclusive.avm "show p1 smaps"

section "7. vm.max_map_count"
intro examples/07-max-map-count.avm
run examples/07-max-map-count.avm "show p1 maps"

section "next"
cat <<TXT
  $BIN repl                      type scenario lines (try: help)
  $BIN run --json FILE           machine-readable shows
  $BIN dot examples/01-anon-vma-rmap-walk.avm > world.dot   (SVG if Graphviz is installed)
  README.md                      the language reference
TXT
