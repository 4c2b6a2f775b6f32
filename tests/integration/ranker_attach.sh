#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Attach to the real ranker long after start-up: both models, every stage
# and the config (including the config file's path) are known, though all
# were announced before loupe arrived.
source "$(dirname "$0")/lib.sh"
require_root

cp samples/configs/baseline.conf "$T/ranker.conf"
start_ranker --config "$T/ranker.conf" --qps 80 --duration 0 --quiet
sleep 2
"$LOUPE" record -p "$RANKER_PID" -d 3 -o "$T/r.lpt" 2>"$T/err" || fail "record: $(cat "$T/err")"
kill -0 "$RANKER_PID" || fail "ranker died while attached"
"$LOUPE" report --json "$T/r.lpt" >"$T/r.json" || fail report
assert_eq models "$(jq -c '.models | sort' "$T/r.json")" '["ctr_small","cvr_large"]'
assert_eq workers "$(jqf '.config.workers' "$T/r.json")" "$(nproc)"
assert_eq batch_max "$(jqf '.config.batch_max' "$T/r.json")" 256
cf=$(jqf '.config.config_file' "$T/r.json")
[ "$cf" -ef "$T/ranker.conf" ] || fail "config_file '$cf' is not $T/ranker.conf"
for m in ctr_small cvr_large; do
	for st in request queue_wait embedding bottom_mlp interaction top_mlp; do
		n=$(jqf ".entries[] | select(.model==\"$m\" and .stage==\"$st\") | .count" "$T/r.json")
		[ "$n" -gt 0 ] || fail "$m $st: no samples"
	done
done
# a second session on the same process works as well (re-attach)
"$LOUPE" record -p "$RANKER_PID" -d 2 -o "$T/r2.lpt" 2>"$T/err" || fail "second record: $(cat "$T/err")"
"$LOUPE" report --json "$T/r2.lpt" >"$T/r2.json" || fail report2
assert_eq "models (2nd)" "$(jq -c '.models | sort' "$T/r2.json")" '["ctr_small","cvr_large"]'
[ "$(jqf .requests "$T/r2.json")" -gt 50 ] || fail "second session: too few requests"
echo pass
