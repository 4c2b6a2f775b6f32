#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The exact on-CPU time of a stage ("oncpu" in diff/gate): its time less its
# off-CPU time, window by window; and CPU samples in their own windows.  The
# naps fixture sleeps 2 ms or 30 ms per request in alternate 700 ms phases;
# with 200 ms windows (the recorder writes one 250 ms after its end) a sleep
# charged to the window being written rather than to the one it happened in
# would leave whole milliseconds of a window's naps "on the CPU".
source "$(dirname "$0")/lib.sh"
require_root
NAPS=$PWD/$OUT/progs/naps

"$LOUPE" record -w 200 -o "$T/n.lpt" -- "$NAPS" 6 >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" diff --json "$T/n.lpt" -- "$T/n.lpt" >"$T/d.json" 2>"$T/derr" \
	|| fail "diff: $(cat "$T/derr")"
sel() { printf '.metrics[] | select(.model == "m_nap" and .stage == "%s" and .metric == "%s")' "$1" "$2"; }
nap_p50=$(jqf "$(sel nap p50) | .baseline" "$T/d.json")
nap_hi=$(jqf "$(sel nap oncpu) | .range[0][1]" "$T/d.json")
nap_units=$(jqf "$(sel nap oncpu) | .units[0]" "$T/d.json")
work=$(jqf "$(sel work oncpu) | .baseline" "$T/d.json")
echo "nap p50 $nap_p50 ns; nap on CPU at most $nap_hi ns per request over $nap_units units; work on CPU $work ns"
[ "$nap_units" -ge 10 ] || fail "only $nap_units units of the nap stage"
awk -v v="$nap_p50" 'BEGIN { exit !(v >= 2000000) }' || fail "nap p50 $nap_p50 ns: the fixture did not sleep"
# waking up costs tens of microseconds; a misplaced window of 2 ms or
# 30 ms naps costs milliseconds in many units (8-10 ms at most with the
# windowing switched off).  The limit is 3 ms, not 1: about one recording
# in 20 loses one off-CPU episode (a 30 ms nap, cause not yet found, see
# docs/cpu-profiling.md), which puts one unit at 1-2.5 ms.
awk -v v="$nap_hi" 'BEGIN { exit !(v < 3000000) }' \
	|| fail "a window's naps show $nap_hi ns on the CPU per request (want < 3 ms)"
assert_near "work stage on the CPU per request" "$work" 1000000 0.35

# CPU samples land in their window too, in both call-graph modes: the
# work stage's sampled CPU per request is 1 ms in every unit, where
# samples of one phase charged to the other's windows would make it 2-3x
# (333 requests a second in the short phase, 32 in the long one)
for mode in fp dwarf; do
	"$LOUPE" record --cpu=999 --call-graph "$mode" -w 200 -o "$T/c-$mode.lpt" -- "$NAPS" 6 \
		>/dev/null 2>"$T/err" || fail "record --call-graph $mode: $(cat "$T/err")"
	"$LOUPE" diff --json "$T/c-$mode.lpt" -- "$T/c-$mode.lpt" >"$T/c.json" \
		|| fail "diff ($mode)"
	lo=$(jqf "$(sel work cpu) | .range[0][0]" "$T/c.json")
	hi=$(jqf "$(sel work cpu) | .range[0][1]" "$T/c.json")
	echo "$mode: work stage's sampled CPU per request $lo .. $hi ns"
	awk -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(lo > 500000 && hi < 1800000) }' \
		|| fail "$mode: sampled CPU per request of the work stage $lo .. $hi ns (want 1 ms)"
done

# without off-CPU recording there is no exact on-CPU time (4 s: the first
# 2 s are warm-up)
"$LOUPE" record --no-offcpu -w 200 -o "$T/x.lpt" -- "$NAPS" 4 >/dev/null 2>"$T/err" \
	|| fail "record --no-offcpu: $(cat "$T/err")"
"$LOUPE" diff --json "$T/x.lpt" -- "$T/x.lpt" >"$T/x.json" || fail "diff --no-offcpu trace"
n=$(jq "[$(sel work oncpu)] | length" "$T/x.json")
assert_eq "oncpu entries without off-CPU data" "$n" 0
echo pass
