#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# On the real ranker under Poisson load, loupe's whole-request p50 and p99
# agree with the ranker's own ground truth within 2 % or one histogram
# bucket (whichever is larger), per model and overall, and request counts
# are equal when nothing was dropped; the per-window latency series is
# consistent with the whole.  Twice: the ranker ending by itself,
# and stopped by loupe's -d (SIGTERM, drain, exit).
source "$(dirname "$0")/lib.sh"
require_root

# tolerance: max(2 % of v, width of the histogram bucket holding v)
check_quantile() { # name got want
	local tol
	tol=$(awk -v v="$3" 'BEGIN { w = 2 ^ int(log(v) / log(2)) / 64; t = v * 0.02; print (w > t ? w : t) }')
	assert_near "$1" "$2" "$3" 0 "$tol"
}

compare() { # trace ground-truth-json
	"$LOUPE" report --json "$1" >"$T/r.json" || fail "report $1"
	assert_eq dropped "$(jqf .dropped "$T/r.json")" 0
	local gt=$2 m
	assert_eq "requests (all)" "$(jqf '.overall.count' "$T/r.json")" "$(jqf .requests "$gt")"
	check_quantile "p50 (all)" "$(jqf .overall.p50_ns "$T/r.json")" "$(jqf .p50_ns "$gt")"
	check_quantile "p99 (all)" "$(jqf .overall.p99_ns "$T/r.json")" "$(jqf .p99_ns "$gt")"
	# the latency time series: each window's requests, ordered quantiles,
	# and the slowest request of the run in one of them
	assert_eq "windows' max = overall max" "$(jqf '[.windows[].max_ns] | max' "$T/r.json")" \
		"$(jqf .overall.max_ns "$T/r.json")"
	assert_eq "windows with requests and no latency, or disordered" \
		"$(jqf '[.windows[] | select(.requests > 0 and (.p50_ns <= 0 or .p50_ns > .p99_ns or .p99_ns > .max_ns))] | length' "$T/r.json")" 0
	for m in ctr_small cvr_large; do
		sel=".entries[] | select(.model==\"$m\" and .stage==\"request\")"
		gsel=".models[] | select(.model==\"$m\")"
		assert_eq "$m requests" "$(jqf "$sel | .count" "$T/r.json")" "$(jqf "$gsel | .requests" "$gt")"
		check_quantile "$m p50" "$(jqf "$sel | .p50_ns" "$T/r.json")" "$(jqf "$gsel | .p50_ns" "$gt")"
		check_quantile "$m p99" "$(jqf "$sel | .p99_ns" "$T/r.json")" "$(jqf "$gsel | .p99_ns" "$gt")"
		for st in queue_wait embedding bottom_mlp interaction top_mlp; do
			n=$(jqf ".entries[] | select(.model==\"$m\" and .stage==\"$st\") | .count" "$T/r.json")
			[ "$n" -gt 0 ] || fail "$m $st: no samples"
		done
	done
}

note "launch, ranker ends by itself"
"$LOUPE" record -o "$T/a.lpt" -- "$RANKER" --qps 120 --duration 8 --quiet \
	--stats-json "$T/gt.json" 2>"$T/err" || fail "record: $(cat "$T/err")"
compare "$T/a.lpt" "$T/gt.json"

note "launch, stopped by -d (SIGTERM)"
"$LOUPE" record -d 4 -o "$T/b.lpt" -- "$RANKER" --qps 120 --quiet \
	--stats-json "$T/gt2.json" 2>"$T/err" || fail "record: $(cat "$T/err")"
[ -s "$T/gt2.json" ] || fail "ranker wrote no ground truth after SIGTERM"
compare "$T/b.lpt" "$T/gt2.json"
echo pass
