#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make eval-gate: how often 'loupe gate' fails without a change (A/A) and
# how often it catches one (A/B), on the sample ranker.
#
# Each of K rounds records five rankers side by side, three times
# (3 slots x SLOT_S seconds of load, so each side is 3 runs, <= 30 s):
#   A, A'         the same build and config
#   B3, B5, B10   top_mlp made 3 %, 5 %, 10 % slower (fault_slow_stage)
# and gates A' against A (a false fail if it fails) and each B against A
# (detected if it fails naming top_mlp).  Needs root (BPF).
#   K=20 make eval-gate      (default K=12, about 12-20 minutes on 2 vCPUs)
# Also: SLOTS, SLOT_S, QPS, WINDOW_MS, STAGE, POLICY, KEEP=1 (keep traces).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build}
LOUPE=$PWD/$OUT/loupe
RANKER=$PWD/$OUT/ranker
K=${K:-12}
SLOTS=${SLOTS:-3}
SLOT_S=${SLOT_S:-10}
QPS=${QPS:-60}
WINDOW_MS=${WINDOW_MS:-500}
STAGE=${STAGE:-top_mlp}
POLICY=${POLICY:-}
KEEP=${KEEP:-}
T=$(mktemp -d /tmp/loupe-eval-gate.XXXXXX)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT

[ "$(id -u)" -eq 0 ] || { echo "eval-gate: needs root (BPF)"; exit 77; }
[ -x "$LOUPE" ] && [ -x "$RANKER" ] || { echo "eval-gate: build first (make)"; exit 2; }
# a snapshot, so that a rebuild meanwhile cannot mix two versions
cp "$LOUPE" "$T/loupe" && cp "$RANKER" "$T/ranker" || exit 2
LOUPE=$T/loupe RANKER=$T/ranker
export LOUPE_RULES_DIR=${LOUPE_RULES_DIR:-$PWD/analyzer/rules}
command -v jq >/dev/null || { echo "eval-gate: needs jq"; exit 2; }

: >"$T/A.conf"
cp "$T/A.conf" "$T/A2.conf"
for p in 3 5 10; do
	printf 'fault_slow_stage = %s\nfault_slow_pct = %s\n' "$STAGE" "$p" >"$T/B$p.conf"
done
VARIANTS="A A2 B3 B5 B10"

echo "eval-gate: K=$K rounds; each: $SLOTS slots x ${SLOT_S}s, 5 rankers side by side at $QPS qps, ${WINDOW_MS} ms windows"
echo "eval-gate: B = $STAGE slower by 3/5/10 %; policy ${POLICY:-defaults}; started $(date -u +%FT%TZ)"
start=$SECONDS
for k in $(seq 1 "$K"); do
	for s in $(seq 1 "$SLOTS"); do
		pids=()
		for v in $VARIANTS; do
			"$LOUPE" record -w "$WINDOW_MS" -o "$T/r$k-$v-$s.lpt" -- "$RANKER" --qps "$QPS" \
				--duration "$SLOT_S" --quiet --seed "$k$s" \
				--config "$T/$v.conf" >/dev/null 2>"$T/r$k-$v-$s.err" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do
			wait "$p" || { echo "eval-gate: record failed:"; cat "$T"/r$k-*-$s.err; exit 1; }
		done
	done
	base=$(for s in $(seq 1 "$SLOTS"); do printf '%s ' "$T/r$k-A-$s.lpt"; done)
	for v in A2 B3 B5 B10; do
		cand=$(for s in $(seq 1 "$SLOTS"); do printf '%s ' "$T/r$k-$v-$s.lpt"; done)
		# shellcheck disable=SC2086
		"$LOUPE" gate ${POLICY:+--policy "$POLICY"} --json $base -- $cand \
			>"$T/g$k-$v.json" 2>"$T/g$k-$v.err"
		rc=$?
		named=$(jq -r --arg st "$STAGE" \
			'[.metrics[] | select(.status == "fail" and .stage == $st) | .metric] | join(",")' \
			"$T/g$k-$v.json" 2>/dev/null)
		other=$(jq -r --arg st "$STAGE" \
			'[.metrics[] | select(.status == "fail" and .stage != $st) | "\(.model)/\(.stage)/\(.metric)"] | join(",")' \
			"$T/g$k-$v.json" 2>/dev/null)
		echo "$k $v $rc ${named:--} ${other:--}" >>"$T/results"
	done
	printf 'eval-gate: round %d/%d done (%d s): %s\n' "$k" "$K" $((SECONDS - start)) \
		"$(awk -v k="$k" '$1 == k { printf "%s=%s%s ", $2, $3, ($4 != "-" ? "(" $4 ")" : "") }' "$T/results")"
done

echo
echo "loupe gate, K=$K rounds ($(date -u +%F), $((SECONDS - start)) s, $(nproc) CPUs, load avg $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v K="$K" -v stage="$STAGE" '
	{ n[$2]++; if ($3 == 1) f[$2]++; if ($3 == 3) inc[$2]++; if ($3 == 2) err[$2]++
	  if ($3 == 1 && $4 != "-") hit[$2]++
	  if ($5 != "-") wrong[$2]++
	  delete seen; split($4, m, ",")
	  for (i in m) if (m[i] != "-" && !seen[m[i]]++) bym[$2 "," m[i]]++ }
	function pct(a, b) { return b ? sprintf("%5.1f%%", 100 * a / b) : "    -" }
	END {
		printf "%-22s %4s %8s %8s %8s  %s\n", "pair", "K", "fail", "inconcl", "wrong", "failing " stage " metric"
		printf "%-22s %4d %8s %8s %8s  (false-fail rate; <= %.0f%% claimable at K=%d)\n", "A/A", n["A2"], pct(f["A2"], n["A2"]), pct(inc["A2"], n["A2"]), pct(wrong["A2"], n["A2"]), 100 / K, K
		split("B3 B5 B10", vs, " "); split("+3% +5% +10%", lab, " ")
		for (j = 1; j <= 3; j++) {
			v = vs[j]
			printf "%-22s %4d %8s %8s %8s  item %s, p50 %s, p99 %s\n", "A/B " stage " " lab[j], n[v],
				pct(hit[v], n[v]), pct(inc[v], n[v]), pct(wrong[v], n[v]),
				pct(bym[v ",item"], n[v]), pct(bym[v ",p50"], n[v]), pct(bym[v ",p99"], n[v])
		}
		if (err["A2"] + err["B3"] + err["B5"] + err["B10"])
			print "errors (exit 2): " err["A2"] + err["B3"] + err["B5"] + err["B10"]
	}' "$T/results"
echo "fail: exit 1 (A/A: a false fail; A/B: detected, naming $STAGE); wrong: a failure"
echo "naming another stage or metric; inconcl: exit 3"
[ -n "$KEEP" ] && echo "traces and gate outputs kept in $T"
exit 0
