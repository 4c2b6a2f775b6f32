#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A recorder killed with SIGKILL leaves a file whose complete chunks all
# read back; report shows them and says how much it recovered.
source "$(dirname "$0")/lib.sh"
require_root

"$REQGEN" 1000000 500 100 500 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
sleep 0.3 # let it exec
"$LOUPE" record -p "$pid" -w 100 -o "$T/k.lpt" 2>"$T/err" &
rec=$!; BG_PIDS+=("$rec")
sleep 2.5
kill -9 "$rec"; wait "$rec" 2>/dev/null
kill -0 "$pid" || fail "target died with the recorder"
"$LOUPE" report --json "$T/k.lpt" >"$T/r.json" 2>"$T/rerr"
rc=$?
[ "$rc" -eq 1 ] || fail "report of a killed recording: exit $rc, want 1"
grep -q "recovered" "$T/rerr" || fail "no recovery line: $(cat "$T/rerr")"
cat "$T/rerr"
assert_eq ended_cleanly "$(jqf .recovery.ended_cleanly "$T/r.json")" false
w=$(jqf '.windows | length' "$T/r.json")
[ "$w" -ge 10 ] || fail "only $w windows recovered from ~2.5 s at 100 ms windows"
n=$(jqf .requests "$T/r.json")
[ "$n" -gt 500 ] || fail "only $n requests recovered"
assert_eq model "$(jqf '.entries[0].model' "$T/r.json")" m_test
# the recovered windows are all whole: per-window counts add up
sum=$(jqf '[.windows[].requests] | add' "$T/r.json")
assert_eq "window sum" "$sum" "$n"
echo pass
