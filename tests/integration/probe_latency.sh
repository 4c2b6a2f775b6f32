#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --probe BINARY:SYMBOL: an exact latency histogram by uprobe + uretprobe
# agrees with the stage timing around the same work, and the probes' own
# cost is measured and reported, with the 1 % warning.
source "$(dirname "$0")/lib.sh"
require_root

"$LOUPE" record --probe "$PWD/$OUT/progs/hot:hot_b" -o "$T/p.lpt" -- "$PWD/$OUT/progs/hot" 2 \
	>/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
cat "$T/err"
grep -Eq -- "--probe: [0-9]+ calls at [0-9.]+ us each \(measured\)" "$T/err" || fail "no cost line"
grep -q "warning: --probe cost more than 1 %" "$T/err" || fail "no warning for a hot function"
"$LOUPE" report --json "$T/p.lpt" >"$T/p.json" || fail report
n=$(jqf '.entries[] | select(.model=="[probe]" and .stage=="hot_b") | .count' "$T/p.json")
stage_n=$(jqf '.entries[] | select(.model=="m_hot" and .stage=="stage_b") | .count' "$T/p.json")
assert_eq "calls = stage_b spans" "$n" "$stage_n"
# stage_b wraps hot_b and the probe's traps, part of which the probe's
# own timestamps also see: hot_b's p50 lies between stage_b's minus the
# measured cost of one probed call and stage_b's (5 % slack each side)
cost_ns=$(grep -o 'calls at [0-9.]* us each' "$T/err" | awk '{ printf "%d", $3 * 1000 }')
stage_p50=$(jqf '.entries[] | select(.stage=="stage_b") | .p50_ns' "$T/p.json")
probe_p50=$(jqf '.entries[] | select(.model=="[probe]") | .p50_ns' "$T/p.json")
echo "hot_b p50 $probe_p50, stage_b p50 $stage_p50, probe cost $cost_ns ns"
awk -v p="$probe_p50" -v s="$stage_p50" -v c="$cost_ns" \
	'BEGIN { exit !(p >= (s - c) * 0.95 && p <= s * 1.05) }' \
	|| fail "hot_b p50 $probe_p50 outside [stage_b - cost, stage_b] = [$((stage_p50 - cost_ns)), $stage_p50]"

# a rare function: no warning
"$LOUPE" record --probe "$PWD/$OUT/progs/hot:main" -o "$T/q.lpt" -- "$PWD/$OUT/progs/hot" 1 \
	>/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
grep -q "warning" "$T/err" && fail "warned for a function called once: $(cat "$T/err")"
# bad specs: one line, exit 1 (unknown symbol) or 2 (malformed)
"$LOUPE" record --probe "$PWD/$OUT/progs/hot:no_such_fn" -o "$T/r.lpt" -- "$PWD/$OUT/progs/hot" 1 \
	>/dev/null 2>"$T/err" && fail "unknown symbol accepted"
grep -q -- "--probe .*no_such_fn" "$T/err" || fail "unclear error: $(cat "$T/err")"
[ ! -e "$T/r.lpt" ] || fail "trace left behind after a failed start"
"$LOUPE" record --probe nocolon -p 1 2>"$T/err"; [ $? -eq 2 ] || fail "malformed spec: want exit 2"
echo pass
