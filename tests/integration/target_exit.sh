#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An attached target that exits mid-recording ends the recording cleanly,
# keeping everything recorded so far; SIGINT does the same.
source "$(dirname "$0")/lib.sh"
require_root

"$REQGEN" 1500 500 100 500 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
sleep 0.3
"$LOUPE" record -p "$pid" -o "$T/e.lpt" 2>"$T/err" || fail "record: $(cat "$T/err")"
grep -q "requests, .* windows, 0 dropped events" "$T/err" || fail "summary: $(cat "$T/err")"
"$LOUPE" report --json "$T/e.lpt" >"$T/r.json" || fail "report of a finished recording failed"
n=$(jqf .requests "$T/r.json")
[ "$n" -gt 500 ] || fail "only $n requests"

"$REQGEN" 1000000 500 100 500 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
"$LOUPE" record -p "$pid" -o "$T/i.lpt" 2>"$T/err" &
rec=$!
sleep 1.5
kill -INT "$rec"
wait "$rec" || fail "record after SIGINT exited $?: $(cat "$T/err")"
"$LOUPE" report --json "$T/i.lpt" >"$T/r2.json" || fail "report after SIGINT"
assert_eq ended_cleanly "$(jqf .recovery.ended_cleanly "$T/r2.json")" true
echo pass
