#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stage attribution on the ranker: with the slow-stage fault on top_mlp,
# the fault's busy loop (slow_stage_burn) is sampled in top_mlp and in no
# other stage, and top_mlp's share of CPU grows against the baseline.
source "$(dirname "$0")/lib.sh"
require_root

share() { # json model stage -> % of on-CPU time
	jq -r --arg m "$2" --arg s "$3" '([.cpu.stages[] | select(.model==$m and .stage==$s) | .on_cpu_ns] | add // 0) * 100 / .cpu.on_cpu_ns' "$1"
}

"$LOUPE" record -d 4 -o "$T/base.lpt" -- "$RANKER" --config samples/configs/baseline.conf \
	--qps 200 --quiet >/dev/null 2>"$T/err" || fail "record baseline: $(cat "$T/err")"
"$LOUPE" record -d 4 -o "$T/slow.lpt" -- "$RANKER" --config samples/configs/slow_stage.conf \
	--qps 200 --quiet >/dev/null 2>"$T/err" || fail "record slow: $(cat "$T/err")"
"$LOUPE" report --cpu --json "$T/base.lpt" >"$T/base.json" || fail report
"$LOUPE" report --cpu --json "$T/slow.lpt" >"$T/slow.json" || fail report
burn_top=$(jq '[.cpu.functions[] | select(.function=="slow_stage_burn" and .stage=="top_mlp") | .total_ns] | add // 0' "$T/slow.json")
burn_all=$(jq '[.cpu.functions[] | select(.function=="slow_stage_burn") | .total_ns] | add // 0' "$T/slow.json")
echo "slow_stage_burn: $burn_top ns in top_mlp of $burn_all ns"
[ "$burn_top" -gt 0 ] || fail "slow_stage_burn not sampled in top_mlp"
assert_near "slow_stage_burn in top_mlp %" "$(awk -v a="$burn_top" -v b="$burn_all" 'BEGIN { printf "%.1f", a * 100 / b }')" 100 0 2
for m in ctr_small cvr_large; do
	b=$(share "$T/base.json" $m top_mlp)
	s=$(share "$T/slow.json" $m top_mlp)
	echo "$m top_mlp share: baseline $b %, slow $s %"
	awk -v b="$b" -v s="$s" 'BEGIN { exit !(s > b * 1.5) }' || fail "$m top_mlp share did not grow ($b -> $s)"
done
echo pass
