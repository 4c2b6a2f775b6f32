# SPDX-License-Identifier: MIT
# Shared helpers for integration tests: real BPF, real processes, as root.
# Each test: exit 0 pass, 1 fail, 77 skip (only when a prerequisite is
# missing; tests/run.sh turns a skip into a failure under CI=true).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-build}
LOUPE=${LOUPE:-$PWD/$OUT/loupe}
RANKER=$PWD/$OUT/ranker
REQGEN=$PWD/$OUT/progs/reqgen
T=$(mktemp -d /tmp/loupe-test.XXXXXX)
BG_PIDS=()

cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
note() { echo "--- $*"; }

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to load BPF programs"
}

# jq query on a file; fails the test when jq fails or the value is null
jqf() {
	local v
	v=$(jq -r "$1" "$2") || fail "jq '$1' on $2"
	[ -n "$v" ] && [ "$v" != null ] || fail "jq '$1' on $2: no value"
	printf '%s\n' "$v"
}

# assert_near NAME GOT WANT TOLERANCE_FRACTION [ABS_FLOOR]: |GOT - WANT| <=
# max(WANT * TOLERANCE_FRACTION, ABS_FLOOR)
assert_near() {
	local lim
	# prints the limit it applies; the exit status is the verdict
	lim=$(awk -v g="$2" -v w="$3" -v t="$4" -v f="${5:-0}" 'BEGIN {
		d = g - w; if (d < 0) d = -d; lim = w * t; if (lim < 0) lim = -lim
		if (lim < f) lim = f; printf "%.15g", lim; exit !(d <= lim) }') ||
		fail "$1: got $2, want $3 +- $lim"
	echo "ok: $1 = $2 (want $3 +- $lim)"
}

assert_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; echo "ok: $1 = $2"; }

# wait_until SECONDS CMD...: polls CMD every 0.1 s
wait_until() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# Starts the ranker in the background (quiet) and waits for "ready".
start_ranker() {
	"$RANKER" "$@" >"$T/ranker.out" 2>"$T/ranker.err" &
	RANKER_PID=$!
	BG_PIDS+=("$RANKER_PID")
	wait_until 30 grep -q "ready" "$T/ranker.err" || fail "ranker did not start: $(cat "$T/ranker.err")"
}

# assert_fits_80 FILE: every text report must read at 80 columns, whatever
# the checkout path or the target's command line.
assert_fits_80() {
	awk 'length > 80 { print "too wide: " $0; bad = 1 } END { exit bad }' "$1" ||
		fail "$(basename "$1") wider than 80 columns"
}
