#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Probes in a shared library are found, also when the library is
# dlopen()ed after loupe attached and the executable itself has none.
source "$(dirname "$0")/lib.sh"
require_root
LIB=$PWD/$OUT/progs/libprobed.so
HOST=$PWD/$OUT/progs/dlopen_host

note "launch: the library is loaded 300 ms after start"
"$LOUPE" record -o "$T/l.lpt" -- "$HOST" "$LIB" 300 300 1500 >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" report --json "$T/l.lpt" >"$T/l.json" || fail report
assert_eq requests "$(jqf .requests "$T/l.json")" 300
assert_eq model "$(jqf '.entries[0].model' "$T/l.json")" m_lib

note "attach: before the library is loaded"
"$HOST" "$LIB" 300 1000 1500 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
sleep 0.3
# (latency only: with profiling on, loupe would record CPU time instead)
"$LOUPE" record --no-cpu --no-offcpu --no-counters -p "$pid" -o "$T/a.lpt" 2>"$T/err" \
	&& fail "attach before dlopen should find no probes yet"
grep -q "no loupe probes" "$T/err" || fail "want a 'no loupe probes' line: $(cat "$T/err")"
wait "$pid"

note "attach: after the library is loaded"
"$HOST" "$LIB" 300 100 1500 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
sleep 0.6
"$LOUPE" record -p "$pid" -o "$T/b.lpt" 2>"$T/err" || fail "record: $(cat "$T/err")"
"$LOUPE" report --json "$T/b.lpt" >"$T/b.json" || fail report
assert_eq requests "$(jqf .requests "$T/b.json")" 300
echo pass
