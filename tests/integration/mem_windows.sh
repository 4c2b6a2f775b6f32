#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Allocations and requests land in the same windows.  The naps fixture
# leaks 4 KiB per request in its "work" stage and serves 333 requests a
# second in one 700 ms phase and 32 in the next, so a window's leak differs
# tenfold between phases while its bytes per request do not.  With 300 ms
# windows, written 250 ms after they end, an allocation counted in the
# window being drained rather than the one it happened in gives the
# windows at each phase change several times, or a fraction of, 4 KiB per
# request.
source "$(dirname "$0")/lib.sh"
require_root
NAPS=$PWD/$OUT/progs/naps
LEAK=4096

# sampling every 512 bytes on average: a 4 KiB malloc is nearly always seen
LOUPE_ALLOC_SAMPLE_BYTES=512 "$LOUPE" record --mem --no-cpu --no-offcpu -w 300 -o "$T/m.lpt" -- \
	"$NAPS" 6 1000 2 30 700 "$LEAK" >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
"$LOUPE" report --json "$T/m.lpt" >"$T/r.json" || fail "report"
"$LOUPE" report --mem --json "$T/m.lpt" >"$T/m.json" || fail "report --mem"
assert_eq "leaking function" "$(jqf '.mem.leaks[0].function' "$T/m.json")" leak
assert_near "bytes per request" "$(jqf '.mem.leaks[0].bytes_per_request' "$T/m.json")" "$LEAK" 0.10
nw=$(jqf '.windows | length' "$T/r.json")
assert_eq "a point per window" "$(jqf '.mem.leaks[0].outstanding_by_window | length' "$T/m.json")" "$nw"

# window, requests, bytes leaked in it; the last is left out (partial)
jq -r --slurpfile m "$T/m.json" '
	($m[0].mem.leaks[0].outstanding_by_window) as $o |
	.windows[] | select(.index >= 1 and .index < ($o | length) - 1) |
	"\(.index) \(.requests) \($o[.index] - $o[.index - 1])"' "$T/r.json" >"$T/win" ||
	fail "jq per window"
cat "$T/win"
# a slow window has 9 or 10 requests, and one that ends in the next
# window may have made its allocation in this one: +-1 request.  Judged
# from the window after the first with allocations: the uprobes go in as
# the launched fixture's exec settles, part way into a window.
awk -v leak="$LEAK" '!seen { seen = $3 > 0; next } $2 >= 5 {
		n++; r = $3 / ($2 * leak)
		if (r < 0.6 || r > 1.6) { printf "window %d: %d requests, %d bytes: %.2f x %d B per request\n", $1, $2, $3, r, leak; bad++ }
		if ($2 < 20) slow++; else fast++
	}
	END { printf "%d windows judged (%d slow, %d fast), %d off\n", n, slow, fast, bad
		exit !(n >= 12 && slow >= 4 && fast >= 4 && !bad) }' "$T/win" ||
	fail "allocations and requests in different windows"
echo pass
