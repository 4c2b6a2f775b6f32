#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Attach mode after start-up: the model and config were announced before we
# attached, and must still be known (re-announcement); -d stops recording
# while the target keeps running.
source "$(dirname "$0")/lib.sh"
require_root

"$REQGEN" 100000 500 100 1000 >/dev/null &
pid=$!; BG_PIDS+=("$pid")
sleep 1
"$LOUPE" record -p "$pid" -d 2 -o "$T/t.lpt" 2>"$T/err" || fail "record: $(cat "$T/err")"
kill -0 "$pid" || fail "target died"
"$LOUPE" report --json "$T/t.lpt" >"$T/r.json" || fail "report"
assert_eq mode "$(jqf .target.mode "$T/r.json")" attach
assert_eq model "$(jqf '.models[0]' "$T/r.json")" m_test
assert_eq config "$(jqf '.config.test_key' "$T/r.json")" test_value
n=$(jqf .requests "$T/r.json")
[ "$n" -gt 200 ] || fail "only $n requests in 2 s"
w=$(jqf '.windows | length' "$T/r.json")
[ "$w" -ge 2 ] || fail "$w windows"
echo pass
