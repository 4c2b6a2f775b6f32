#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every kind of bad input gets exactly one clear line on stderr and a
# non-zero exit status, and no stray trace file.
source "$(dirname "$0")/lib.sh"
require_root

# expect STATUS PATTERN CMD...: exit status, one stderr line matching PATTERN
expect() {
	local want=$1 pat=$2; shift 2
	(cd "$T" && "$@") >"$T/out" 2>"$T/err"
	local rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*': exit $rc, want $want; stderr: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*': want one stderr line, got: $(cat "$T/err")"
	grep -Eq "$pat" "$T/err" || fail "'$*': stderr '$(cat "$T/err")' lacks /$pat/"
	echo "ok: $* -> $rc: $(cat "$T/err")"
}

expect 2 "unknown option '--bogus'" "$LOUPE" record --bogus -p 1
expect 2 "unknown option '-x'" "$LOUPE" record -x
expect 2 "unknown command 'frobnicate'" "$LOUPE" frobnicate
expect 2 "either -p PID or a command" "$LOUPE" record
expect 2 "invalid pid" "$LOUPE" record -p abc
expect 2 "invalid call graph mode 'lbr'" "$LOUPE" record --call-graph lbr -p 1
expect 2 "invalid sampling rate '0'" "$LOUPE" record --cpu=0 -p 1
expect 2 "unknown option" "$LOUPE" report --bogus x.lpt

# a PID that never existed, and one that just died
expect 1 "attach to pid 4194303: no such process" "$LOUPE" record -p 4194303
sleep 0.01 & dead=$!; wait $dead
expect 1 "attach to pid $dead: no such process" "$LOUPE" record -p $dead

# a program that isn't there
expect 1 "launch /no/such/program: No such file" "$LOUPE" record -- /no/such/program
expect 1 "launch no-such-program-xyz: No such file" "$LOUPE" record -- no-such-program-xyz

# a process without loupe probes, attached and launched
sleep 60 & plain=$!; BG_PIDS+=("$plain")
# (latency only: with profiling on, un-instrumented processes are profiled)
expect 1 "pid $plain \(sleep 60\): no loupe probes" "$LOUPE" record --no-cpu --no-offcpu --no-counters -p $plain
expect 1 "no loupe probes" "$LOUPE" record --no-cpu --no-offcpu --no-counters -d 1 -o "$T/plain.lpt" -- sleep 3

# a non-root user
if command -v setpriv >/dev/null; then
	expect 1 "need root, or CAP_BPF and CAP_PERFMON" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$LOUPE" record -p $plain
else
	fail "setpriv (util-linux) missing"
fi

# files that are not whole loupe traces
expect 1 "open $T/missing.lpt: No such file" "$LOUPE" report "$T/missing.lpt"
: >"$T/empty.lpt"
expect 1 "not a loupe trace file" "$LOUPE" report "$T/empty.lpt"
expect 1 "not a loupe trace file" "$LOUPE" report /etc/passwd
head -c 4096 /dev/urandom >"$T/random.lpt"
expect 1 "not a loupe trace file" "$LOUPE" report "$T/random.lpt"
"$LOUPE" record -o "$T/good.lpt" -- "$REQGEN" 50 200 50 0 >/dev/null 2>&1 || fail "record good trace"
head -c 20 "$T/good.lpt" >"$T/short.lpt"
expect 1 "not a loupe trace file" "$LOUPE" report "$T/short.lpt"
# a version from the future
cp "$T/good.lpt" "$T/v9.lpt"; printf '\x09' | dd of="$T/v9.lpt" bs=1 seek=8 conv=notrunc 2>/dev/null
expect 1 "not a loupe trace file|unsupported trace format version" "$LOUPE" report "$T/v9.lpt"
# cut inside the last chunk: everything before it is still reported
size=$(stat -c %s "$T/good.lpt")
head -c $((size - 7)) "$T/good.lpt" >"$T/cut.lpt"
expect 1 "did not end cleanly \(truncated\); recovered" "$LOUPE" report "$T/cut.lpt"
grep -q "m_test" "$T/out" || fail "truncated file: report lost the recovered data"
# one corrupt byte in the middle: its bits flipped (a fixed value would
# change nothing when the byte already has it)
cp "$T/good.lpt" "$T/bad.lpt"
byte=$(od -An -tu1 -j $((size / 2)) -N 1 "$T/good.lpt" | tr -d ' ')
printf "\\$(printf '%03o' $((255 - byte)))" | dd of="$T/bad.lpt" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
cmp -s "$T/good.lpt" "$T/bad.lpt" && fail "the corrupt copy is the same as the original"
expect 1 "damaged|did not end cleanly" "$LOUPE" report "$T/bad.lpt"
echo pass
