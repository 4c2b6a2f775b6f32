#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# loupe top's unhappy paths, in a real terminal (tmux): a PID that does not
# exist, and a recorder that fails after the screen was taken.  Each gives
# one clear error, exit 1, and the terminal as it was (stty settings equal,
# the shell prompt back).
source "$(dirname "$0")/lib.sh"
require_root
source "$(dirname "$0")/tui/tmux.sh"

tui_start sh 80 24 env PS1='prompt$ ' bash --norc --noprofile -i
wait_pane sh 10 'prompt\$'

# run_in_shell TAG CMD: runs CMD in the pane's shell between two stty -g;
# its status shows as "TAG rc=N" (a tag per case: the last case's line may
# still be on the screen when this one starts).
run_in_shell() {
	local tag=$1
	shift
	keys sh "clear; stty -g >$T/stty.before; $*; echo \"$tag rc=\$?\"; stty -g >$T/stty.after" Enter
}

note "no such process"
run_in_shell nopid "$LOUPE" top -p 4194303
wait_pane sh 10 '^nopid rc=1$'
wait_pane sh 2 'loupe: top: attach to pid 4194303: no such process'
wait_until 5 test -s "$T/stty.after" || fail "stty after"
cmp "$T/stty.before" "$T/stty.after" || fail "terminal settings changed"
wait_pane sh 2 '^prompt\$ *$'

note "recorder fails after the screen is up"
rm -f "$T/stty.after"
start_ranker --qps 50 --duration 0 --quiet
run_in_shell badprobe "$LOUPE" top -p "$RANKER_PID" --probe /nonexistent/lib.so:nothing
wait_pane sh 30 '^badprobe rc=1$'
wait_pane sh 2 'loupe: record: --probe /nonexistent/lib.so:nothing: '
wait_until 5 test -s "$T/stty.after" || fail "stty after"
cmp "$T/stty.before" "$T/stty.after" || fail "terminal settings changed"
wait_pane sh 2 '^prompt\$ *$'
kill -0 "$RANKER_PID" || fail "ranker died"

note "usage errors"
"$LOUPE" top 2>"$T/err"; [ $? -eq 2 ] || fail "no args: want 2"
grep -q "give either -p PID or a trace FILE" "$T/err" || fail "$(cat "$T/err")"
"$LOUPE" top -p 1 "$T/x.lpt" 2>"$T/err"; [ $? -eq 2 ] || fail "both: want 2"
"$LOUPE" top "$T/missing.lpt" 2>"$T/err"; [ $? -eq 1 ] || fail "missing file: want 1"
grep -q "open $T/missing.lpt: No such file" "$T/err" || fail "$(cat "$T/err")"
echo garbage >"$T/bad.lpt"
"$LOUPE" top "$T/bad.lpt" 2>"$T/err"; [ $? -eq 1 ] || fail "not a trace: want 1"
grep -q "not a loupe trace" "$T/err" || fail "$(cat "$T/err")"
"$LOUPE" top -p $$ </dev/null >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "no tty: want 1"
grep -q "needs a terminal" "$T/err" || fail "$(cat "$T/err")"
echo pass
