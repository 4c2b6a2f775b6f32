#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# loupe top, driven through tmux at 80x24: attach to the ranker and see its
# models serving; with the oversubscription fault on, find the finding and
# its fix, apply it (config file edited, ranker reloaded) and see the
# verify outcome; the trace holds the actions and replays; resize redraws.
source "$(dirname "$0")/lib.sh"
require_root
source "$(dirname "$0")/tui/tmux.sh"

cp samples/configs/oversubscribe.conf "$T/ranker.conf"
cp "$T/ranker.conf" "$T/ranker.conf.orig"
start_ranker --config "$T/ranker.conf" --qps 400 --duration 0 --quiet
tui_start live 80 24 "$LOUPE" top -p "$RANKER_PID" -o "$T/top.lpt"

note "attach: both models serving"
wait_pane live 30 'LIVE +window [1-9]'
wait_pane live 20 '^ctr_small +[0-9]*[1-9][0-9]*\.[0-9]'
wait_pane live 20 '^cvr_large +[0-9]*[1-9][0-9]*\.[0-9]'
wait_pane live 5 'top cpu [0-9.]+%'   # the status line's right end fits

note "resize: the frame follows"
tmux_ resize-window -t live -x 100 -y 30
wait_pane live 10 '^ loupe top .{60,}LIVE +window [0-9]+ *$'
[ "$(pane live | wc -l)" -eq 30 ] || fail "pane has $(pane live | wc -l) rows"
wait_pane live 10 '^ F1/\? Help .{70,}top cpu'
tmux_ resize-window -t live -x 80 -y 24

note "findings: oversubscription with a workers fix"
keys live 4
wait_pane live 60 'oversubscription'
keys live / o v e r s u b Enter
wait_pane live 5 'filter: oversub'
keys live Enter
wait_pane live 10 'workers: 16 (→|->) [0-9]+'
to=$(pane live | sed -nE 's/.*workers: 16 (→|->) ([0-9]+).*/\2/p' | head -n 1)
[ -n "$to" ] && [ "$to" -lt 16 ] || fail "proposed workers '$to'"
echo "ok: proposed workers = $to"

note "apply: confirm, file edited, ranker reloaded, outcome reported"
keys live a
wait_pane live 5 'Apply this fix\?'
wait_pane live 5 "ranker.conf:"
keys live y
wait_until 10 grep -q "reloaded config" "$T/ranker.err" ||
	fail "ranker did not reload: $(tail -n 3 "$T/ranker.err")"
grep -qx "workers = $to" "$T/ranker.conf" || fail "config: $(cat "$T/ranker.conf")"
diff <(grep -v '^workers' "$T/ranker.conf.orig") <(grep -v '^workers' "$T/ranker.conf") ||
	fail "apply changed more than the workers line"
[ "$(ls "$T" | grep -c 'ranker.conf.loupe-')" -eq 0 ] || fail "temp file left behind"
wait_pane live 40 'Apply: verify workers='"$to"': .* -> .*: (improved|no change|worse)'
pane live | grep -E 'Apply: verify'

note "the actions are in the trace: the live view reads them back"
keys live Escape
keys live 1
wait_pane live 10 'window +[0-9]+ +verify '
pane live | grep -E 'window +[0-9]+ +apply workers: 16 -> '"$to" ||
	fail "apply action not in the trace"
cpu=$(pane live | sed -nE 's/.*top cpu ([0-9.]+)%.*/\1/p')
echo "top's own CPU: $cpu % of a core"
if [ "${SAN:-0}" != 1 ]; then
	awk -v c="$cpu" 'BEGIN { exit !(c < 2.0) }' || fail "top used $cpu % CPU (> 2 %)"
fi

note "quit: the recorder finishes the trace, the terminal is back"
keys live q
wait_pane live 15 '^EXIT=0'
pane live | grep -q 'loupe: record: .* written to '"$T/top.lpt" || fail "no record summary"
kill -0 "$RANKER_PID" || fail "ranker died"
"$LOUPE" report --json "$T/top.lpt" >"$T/r.json" || fail "report of top's trace"
[ "$(jqf .requests "$T/r.json")" -gt 100 ] || fail "too few requests recorded"
pgrep -f "loupe record -p $RANKER_PID" && fail "recorder still running"

note "replay, without colors (NO_COLOR: the monochrome attributes)"
tui_start replay 80 24 env NO_COLOR=1 "$LOUPE" top "$T/top.lpt"
wait_pane replay 10 '^ctr_small '
wait_pane replay 5 'x1 +window'
keys replay End
wait_pane replay 10 'end of the trace'
wait_pane replay 5 'apply workers: 16 -> '"$to"
wait_pane replay 5 'verify '
keys replay Home
wait_pane replay 5 'window 0 '
keys replay q
wait_pane replay 5 '^EXIT=0'
echo pass
