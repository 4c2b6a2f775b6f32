#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Off-CPU time: a thread sleeping in sleep_in_here(), two threads taking
# turns on a mutex (each blocks in wait_for_lock() about half the time),
# and with 6 spinners on this machine's cores, run-queue wait.
# Off-CPU user stacks are walked by frame pointers at switch-out, and
# Debian's glibc has none: the stacks reach the libc function that
# blocked (clock_nanosleep, __lll_lock_wait) and the kernel path, not
# always the caller above it; that is what is asserted.
source "$(dirname "$0")/lib.sh"
require_root

"$LOUPE" record --call-graph fp -o "$T/o.lpt" -- "$PWD/$OUT/progs/offcpu" 3 >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" export --format folded --offcpu "$T/o.lpt" >"$T/o.folded" || fail export
sleep_us=$(awk '/clock_nanosleep/ { s += $NF } END { print s + 0 }' "$T/o.folded")
lock_us=$(awk '/lll_lock_wait/ { s += $NF } END { print s + 0 }' "$T/o.folded")
echo "sleep ${sleep_us} us, lock ${lock_us} us"
# the main thread sleeps 3 s too, the sleeper thread ~3 s: ~6 s
[ "$sleep_us" -ge 4000000 ] || fail "sleepers: only $sleep_us us off-CPU in clock_nanosleep (want ~6 s)"
[ "$lock_us" -ge 1000000 ] || fail "lockers: only $lock_us us off-CPU waiting for the mutex (want ~3 s)"
grep "lll_lock_wait" "$T/o.folded" | grep -q "futex_wait" || fail "lock waits do not show the futex path"
"$LOUPE" report --cpu --json "$T/o.lpt" >"$T/o.json" || fail report
quiet_runq=$(jqf .cpu.offcpu_runq_ns "$T/o.json")

"$LOUPE" record --call-graph fp -o "$T/s.lpt" -- "$PWD/$OUT/progs/offcpu" 3 6 >"$T/out" 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" report --cpu --json "$T/s.lpt" >"$T/s.json" || fail report
runq=$(jqf .cpu.offcpu_runq_ns "$T/s.json")
echo "run-queue wait: $quiet_runq ns quiet, $runq ns with 6 spinners"
[ "$runq" -ge 3000000000 ] || fail "oversubscribed: run-queue wait only $runq ns"
[ "$runq" -ge $((quiet_runq * 5)) ] || fail "run-queue wait does not stand out: $runq vs $quiet_runq"
"$LOUPE" report --cpu "$T/s.lpt" >"$T/cpu.txt"
grep -q "RUNQ" "$T/cpu.txt" || fail "text report lacks the RUNQ stacks"
assert_fits_80 "$T/cpu.txt"
# counters: task-clock agrees with the program's own CPU time (all 9
# threads, created after the counters were opened: each counted once)
tc=$(jqf .cpu.counters.task_clock_ns "$T/s.json")
truth=$(awk '/cpu_ns/ { print $3 }' "$T/out")
assert_near "task-clock vs the program's getrusage" "$tc" "$truth" 0.10
# every sample the recorder counted is in the trace, the last window's too
"$LOUPE" record --call-graph dwarf -o "$T/d.lpt" -- "$PWD/$OUT/progs/offcpu" 1 2 >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
said=$(grep -o '[0-9]* CPU samples' "$T/err" | awk '{ print $1 }')
"$LOUPE" report --cpu --json "$T/d.lpt" >"$T/d.json" || fail report
assert_eq "samples in the trace" "$(jqf .cpu.samples "$T/d.json")" "$said"
echo pass
