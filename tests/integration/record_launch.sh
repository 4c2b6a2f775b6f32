#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Launch mode on a workload with known answers: every request is recorded,
# stage nesting and durations come out right, model and config are known.
source "$(dirname "$0")/lib.sh"
require_root

OMP_NUM_THREADS=3 MALLOC_ARENA_MAX=2 NOT_A_TUNING_VAR=x \
	"$LOUPE" record -o "$T/t.lpt" -- "$REQGEN" 400 1000 300 300 2>"$T/err" || fail "record: $(cat "$T/err")"
grep -q "400 requests" "$T/err" || fail "summary line: $(cat "$T/err")"
[ "$(stat -c %a "$T/t.lpt")" = 600 ] || fail "trace mode is $(stat -c %a "$T/t.lpt"), want 600"
"$LOUPE" report --json "$T/t.lpt" >"$T/r.json" || fail "report failed"
assert_eq requests "$(jqf .requests "$T/r.json")" 400
assert_eq dropped "$(jqf .dropped "$T/r.json")" 0
assert_eq mode "$(jqf .target.mode "$T/r.json")" launch
assert_eq model "$(jqf '.models[0]' "$T/r.json")" m_test
assert_eq config "$(jqf '.config.test_key' "$T/r.json")" test_value
# what fix rules need: the machine and the target's tuning environment
assert_eq cores "$(jqf '.recorded_context["machine.cores"]' "$T/r.json")" "$(nproc)"
assert_eq OMP_NUM_THREADS "$(jqf '.recorded_context["env.OMP_NUM_THREADS"]' "$T/r.json")" 3
assert_eq MALLOC_ARENA_MAX "$(jqf '.recorded_context["env.MALLOC_ARENA_MAX"]' "$T/r.json")" 2
jq -e '.recorded_context | has("env.NOT_A_TUNING_VAR") | not' "$T/r.json" >/dev/null ||
	fail "recorded an environment variable that tunes nothing"
for st in request outer inner; do
	assert_eq "$st count" "$(jqf ".entries[] | select(.stage==\"$st\") | .count" "$T/r.json")" 400
done
assert_near "request p50" "$(jqf '.entries[] | select(.stage=="request") | .p50_ns' "$T/r.json")" 1000000 0.05
assert_near "inner p50" "$(jqf '.entries[] | select(.stage=="inner") | .p50_ns' "$T/r.json")" 300000 0.05
# text report fits 80 columns
"$LOUPE" report "$T/t.lpt" >"$T/r.txt" || fail "text report"
assert_fits_80 "$T/r.txt"
grep -q "m_test" "$T/r.txt" || fail "text report lacks model"
echo pass
