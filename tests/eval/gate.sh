#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make eval-gate: how often 'loupe gate' fails without a change (A/A) and
# how often it catches one (A/B), on the sample ranker.
#
# Each of K rounds records four pairs, each pair as CI would: baseline and
# candidate side by side, two rankers at a time, both pinned to one CPU, in
# SLOTS slots of SLOT_S seconds (so each side is SLOTS runs, <= 30 s):
#   A  vs A2      the same build and config (a false fail if it fails)
#   A  vs B3/5/10 top_mlp made 3 %, 5 %, 10 % slower (fault_slow_stage):
#                 detected if the gate fails naming top_mlp
# Every pair has its own baseline runs, so the K x 4 gates are independent.
# Then the A/A slots of all rounds are resampled (RESAMPLE draws of SLOTS
# slots each, either way round) to measure the false-fail rate more finely
# than K alone can.  Needs root (BPF).
#   K=16 make eval-gate      (default K=12: about 30 minutes)
# Also: SLOTS, SLOT_S, QPS, WINDOW_MS, STAGE, POLICY, RESAMPLE, KEEP=1
# (keep the traces), REGATE=DIR (gate kept traces again, e.g. with another
# POLICY), PIN=CPUS (taskset every recorder and ranker to CPUS; default
# the last CPU, PIN= for no pinning).
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
RESAMPLE=${RESAMPLE:-200}
# both sides on one CPU by default (the last): what disturbs it disturbs
# both, and cancels in the comparison (docs/ci.md); PIN= for none
PIN=${PIN-$(($(nproc) - 1))}
REGATE=${REGATE:-}
if [ -n "$REGATE" ]; then
	# gate the traces of an earlier KEEP=1 run again (another policy or
	# build): no recording
	T=$REGATE KEEP=1
	[ -f "$T/r1-A2-A-1.lpt" ] || { echo "eval-gate: no kept traces in $T"; exit 2; }
	rm -f "$T/results" "$T/resampled"
else
	T=$(mktemp -d /tmp/loupe-eval-gate.XXXXXX)
fi
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT

[ "$(id -u)" -eq 0 ] || { echo "eval-gate: needs root (BPF)"; exit 77; }
[ -x "$LOUPE" ] && [ -x "$RANKER" ] || { echo "eval-gate: build first (make)"; exit 2; }
# a snapshot, so that a rebuild meanwhile cannot mix two versions
cp "$LOUPE" "$T/loupe.run" && cp "$RANKER" "$T/ranker.run" || exit 2
LOUPE=$T/loupe.run RANKER=$T/ranker.run
export LOUPE_RULES_DIR=${LOUPE_RULES_DIR:-$PWD/analyzer/rules}
command -v jq >/dev/null || { echo "eval-gate: needs jq"; exit 2; }

: >"$T/A.conf"
cp "$T/A.conf" "$T/A2.conf"
for p in 3 5 10; do
	printf 'fault_slow_stage = %s\nfault_slow_pct = %s\n' "$STAGE" "$p" >"$T/B$p.conf"
done
PAIRS="A2 B3 B5 B10"

# gate TAG BASE_FILES CAND_FILES: the gate's exit status and what failed,
# as "rc named other process": the metrics of $STAGE, those of other
# stages (model/stage/metric), and process-wide ones (a slower stage also
# costs CPU per request: not a wrong failure)
gate_pair() {
	local tag=$1 base=$2 cand=$3 rc named other
	# shellcheck disable=SC2086
	"$LOUPE" gate ${POLICY:+--policy "$POLICY"} --json $base -- $cand \
		>"$T/g-$tag.json" 2>"$T/g-$tag.err"
	rc=$?
	named=$(jq -r --arg st "$STAGE" \
		'[.metrics[] | select(.status == "fail" and .stage == $st) | .metric] | join(",")' \
		"$T/g-$tag.json" 2>/dev/null)
	other=$(jq -r --arg st "$STAGE" \
		'[.metrics[] | select(.status == "fail" and .stage != null and .stage != $st) | "\(.model)/\(.stage)/\(.metric)"] | join(",")' \
		"$T/g-$tag.json" 2>/dev/null)
	proc=$(jq -r '[.metrics[] | select(.status == "fail" and .stage == null) | .metric] | join(",")' \
		"$T/g-$tag.json" 2>/dev/null)
	echo "$rc ${named:--} ${other:--} ${proc:--}"
}

echo "eval-gate: K=$K rounds; each: 4 pairs x $SLOTS slots x ${SLOT_S}s, 2 rankers side by side at $QPS qps, ${WINDOW_MS} ms windows"
echo "eval-gate: B = $STAGE slower by 3/5/10 %; policy ${POLICY:-defaults}; started $(date -u +%FT%TZ)"
[ -z "$PIN" ] || echo "eval-gate: every recorder and ranker on CPU(s) $PIN (taskset)"
[ -z "$REGATE" ] || echo "eval-gate: gating the traces kept in $T again (not recording)"
start=$SECONDS
for k in $(seq 1 "$K"); do
	for v in $PAIRS; do
		for s in $(seq 1 "$SLOTS"); do
			[ -z "$REGATE" ] || continue
			pids=()
			for side in A "$v"; do
				${PIN:+taskset -c "$PIN"} "$LOUPE" record -w "$WINDOW_MS" -o "$T/r$k-$v-$side-$s.lpt" -- "$RANKER" \
					--qps "$QPS" --duration "$SLOT_S" --quiet --seed "$k$s" \
					--config "$T/$side.conf" >/dev/null 2>"$T/r$k-$v-$side-$s.err" &
				pids+=($!)
			done
			for p in "${pids[@]}"; do
				wait "$p" || { echo "eval-gate: record failed:"; cat "$T"/r$k-$v-*-$s.err; exit 1; }
			done
		done
		base=$(for s in $(seq 1 "$SLOTS"); do printf '%s ' "$T/r$k-$v-A-$s.lpt"; done)
		cand=$(for s in $(seq 1 "$SLOTS"); do printf '%s ' "$T/r$k-$v-$v-$s.lpt"; done)
		echo "$k $v $(gate_pair "$k-$v" "$base" "$cand")" >>"$T/results"
	done
	printf 'eval-gate: round %d/%d done (%d s): %s\n' "$k" "$K" $((SECONDS - start)) \
		"$(awk -v k="$k" '$1 == k { printf "%s=%s%s ", $2, $3, ($4 != "-" ? "(" $4 ")" : "") }' "$T/results")"
done

# A/A resampled: SLOTS slot pairs drawn at random from all rounds' A/A
# slots (without repeats in a draw), each either way round.
if [ "$RESAMPLE" -gt 0 ]; then
	echo "eval-gate: resampling the A/A slots ($RESAMPLE draws)"
	: >"$T/resampled"
	for i in $(seq 1 "$RESAMPLE"); do
		base= cand=
		for pick in $(seq 1 $((K * SLOTS)) | shuf -n "$SLOTS" --random-source=<(yes "$i")); do
			k=$(( (pick - 1) / SLOTS + 1 )) s=$(( (pick - 1) % SLOTS + 1 ))
			a=$T/r$k-A2-A-$s.lpt b=$T/r$k-A2-A2-$s.lpt
			if (( (pick + i) % 2 )); then base+="$a " cand+="$b "; else base+="$b " cand+="$a "; fi
		done
		echo "$i RS $(gate_pair "rs$i" "$base" "$cand")" >>"$T/resampled"
	done
fi

echo
echo "loupe gate, K=$K rounds ($(date -u +%F), $((SECONDS - start)) s, $(nproc) CPUs, load avg $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v K="$K" -v stage="$STAGE" '
	{ n[$2]++; if ($3 == 1) f[$2]++; if ($3 == 3) inc[$2]++; if ($3 == 2) err[$2]++
	  if ($3 == 1 && $4 != "-") hit[$2]++
	  if ($5 != "-") wrong[$2]++
	  if ($6 != "-" && $6 != "") procf[$2]++
	  delete seen; split($4, m, ",")
	  for (i in m) if (m[i] != "-" && !seen[m[i]]++) bym[$2 "," m[i]]++ }
	function pct(a, b) { return b ? sprintf("%5.1f%%", 100 * a / b) : "    -" }
	END {
		printf "%-22s %4s %8s %8s %8s  %s\n", "pair", "K", "fail", "inconcl", "wrong", "failing " stage " metric"
		# 95 % upper bound of the false-fail rate given what was seen
		# (Clopper-Pearson for 0 failures: 1 - 0.05^(1/K))
		ub = f["A2"] ? "" : sprintf("; 0/%d: rate < %.0f%% at 95%%", n["A2"], 100 * (1 - exp(log(0.05) / n["A2"])))
		printf "%-22s %4d %8s %8s %8s  (false fails%s)\n", "A/A", n["A2"], pct(f["A2"], n["A2"]), pct(inc["A2"], n["A2"]), pct(wrong["A2"], n["A2"]), ub
		split("B3 B5 B10", vs, " "); split("+3% +5% +10%", lab, " ")
		for (j = 1; j <= 3; j++) {
			v = vs[j]
			printf "%-22s %4d %8s %8s %8s  item %s, p50 %s, p99 %s; cpu/req %s\n", "A/B " stage " " lab[j], n[v],
				pct(hit[v], n[v]), pct(inc[v], n[v]), pct(wrong[v], n[v]),
				pct(bym[v ",item"], n[v]), pct(bym[v ",p50"], n[v]), pct(bym[v ",p99"], n[v]),
				pct(procf[v], n[v])
		}
		if (err["A2"] + err["B3"] + err["B5"] + err["B10"])
			print "errors (exit 2): " err["A2"] + err["B3"] + err["B5"] + err["B10"]
	}' "$T/results"
if [ -s "$T/resampled" ]; then
	awk -v K="$K" -v S="$SLOTS" '{ n++; if ($2 == "RS" && $3 == 1) f++; if ($3 == 3) inc++ }
		END { printf "%-22s %4d %8s %8s %8s  (draws of %d of the %d A/A slots, not independent)\n",
			"A/A resampled", n, sprintf("%5.1f%%", 100 * f / n), sprintf("%5.1f%%", 100 * inc / n),
			"", S, K * S }' "$T/resampled"
fi
echo "fail: exit 1 (A/A: a false fail; A/B: detected, naming $STAGE); wrong: a failure"
echo "naming another stage; inconcl: exit 3; cpu/req: also failed CPU per request"
[ -n "$KEEP" ] && echo "traces and gate outputs kept in $T"
exit 0
