#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CPU sampling against known answers (tests/progs/hot.c: 70 % under hot_a,
# whose work is an inlined helper, 30 % under hot_b), with frame-pointer
# stacks and with DWARF unwinding of a binary built without frame
# pointers: shares within 5 points, stacks complete (main reachable) in
# >= 95 % of samples, the inline frame shown, each function in its stage.
# Sampled at 999 Hz: at the default 99 Hz a 4 s run has ~400 samples, the
# share's sampling sd is 2.3 points and 5 points is only 2.2 sd (CI failed
# on 75.8 %); at 999 Hz the sd is 0.7 points.
source "$(dirname "$0")/lib.sh"
require_root

check_profile() { # trace label
	local tr=$1 label=$2 total a b ina fold all main
	"$LOUPE" report --cpu --json "$tr" >"$T/$label.json" || fail "$label: report --cpu"
	total=$(jqf '.cpu.on_cpu_ns' "$T/$label.json")
	[ "$(jqf '.cpu.samples' "$T/$label.json")" -ge 150 ] || fail "$label: too few samples"
	a=$(jqf '[.cpu.functions[] | select(.function=="hot_a") | .total_ns] | add // 0' "$T/$label.json")
	b=$(jqf '[.cpu.functions[] | select(.function=="hot_b") | .total_ns] | add // 0' "$T/$label.json")
	# the truth is a 70/30 split of the work between the two; start-up
	# and probe traps are outside both
	assert_near "$label hot_a share %" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", a * 100 / (a + b) }')" 70 0 5
	assert_near "$label hot_b share %" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", b * 100 / (a + b) }')" 30 0 5
	# and together they are nearly all of it
	assert_near "$label hot_a + hot_b of all CPU %" "$(awk -v a="$a" -v b="$b" -v t="$total" 'BEGIN { printf "%.1f", (a + b) * 100 / t }')" 100 0 10
	# the inlined helper appears as an inline frame
	ina=$(jqf '[.cpu.functions[] | select(.function=="inlined_work" and .inlined==true)] | length' "$T/$label.json")
	[ "$ina" -ge 1 ] || fail "$label: no inline frame for inlined_work"
	# stage attribution: hot_a runs in stage_a, hot_b in stage_b
	ina=$(jqf '[.cpu.functions[] | select(.function=="hot_a" and .stage=="stage_a") | .total_ns] | add // 0' "$T/$label.json")
	assert_near "$label hot_a in stage_a %" "$(awk -v x="$ina" -v a="$a" 'BEGIN { printf "%.1f", x * 100 / a }')" 100 0 5
	# complete stacks: main on the path of >= 95 % of samples
	"$LOUPE" export --format folded "$tr" >"$T/$label.folded" || fail "$label: export"
	all=$(awk '{ s += $NF } END { print s + 0 }' "$T/$label.folded")
	main=$(awk '$1 ~ /(^|;)main;/ { s += $NF } END { print s + 0 }' "$T/$label.folded")
	assert_near "$label stacks reaching main %" "$(awk -v m="$main" -v a="$all" 'BEGIN { printf "%.1f", m * 100 / a }')" 100 0 5
}

note "frame pointers"
"$LOUPE" record --cpu=999 --call-graph fp -o "$T/fp.lpt" -- "$PWD/$OUT/progs/hot" 4 >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
check_profile "$T/fp.lpt" fp

note "DWARF unwinding, binary without frame pointers"
"$LOUPE" record --cpu=999 --call-graph dwarf -o "$T/dw.lpt" -- "$PWD/$OUT/progs/nofp/hot_nofp" 4 >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
check_profile "$T/dw.lpt" dwarf

note "auto picks DWARF for the binary without frame pointers"
"$LOUPE" record --cpu=999 -o "$T/auto.lpt" -- "$PWD/$OUT/progs/nofp/hot_nofp" 3 >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
check_profile "$T/auto.lpt" auto
assert_eq "auto mode" "$(jqf .cpu.callgraph "$T/auto.json")" dwarf

note "symbols of a binary deleted while it runs, read from the trace alone"
cp "$PWD/$OUT/progs/hot" "$T/hot_copy"
"$T/hot_copy" 4 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
sleep 0.3
rm "$T/hot_copy"
"$LOUPE" record -p "$pid" -d 2 --call-graph fp -o "$T/del.lpt" 2>"$T/err" || fail "record: $(cat "$T/err")"
"$LOUPE" report --cpu --json "$T/del.lpt" >"$T/del.json" || fail "report"
jqf '[.cpu.functions[] | select(.function=="hot_a")] | length' "$T/del.json" | grep -qv '^0$' \
	|| fail "hot_a not symbolized for a deleted binary"
echo pass
