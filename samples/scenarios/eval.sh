#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make eval: runs every scenario of samples/scenarios under loupe (the
# ranker with one fault switch on, loupe attached to it), analyzes each
# trace and prints: scenario, expected finding, found?, expected fix key,
# proposed?, false findings (warning or worse, of a kind the scenario does
# not explain).  The baseline runs BASELINE_RUNS times and must stay clean.
#
# A scenario file: config= (from samples/configs), set=KEY=VALUE (overrides,
# repeatable), qps=, mem=1 (the allocator shim), switch_at=S (start on the
# baseline, switch to the config after S s), expect= (finding kind), fix=
# (config key a rule must propose), also= (kinds that are true
# consequences, not false findings).
#
# Environment: OUT (build folder), SCENARIOS (names, default all),
# DURATION (seconds recorded per scenario, default 12), BASELINE_RUNS (5),
# RESULTS (a TSV file to write the rows to), KEEP (folder to keep traces).
# Exit status: 0 when every scenario passed, 1 otherwise.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build}
LOUPE=$PWD/$OUT/loupe
# the workload, not our code: unsanitized even under SAN=1, because the
# allocator shim and ASan both want malloc
RANKER=$PWD/$OUT/progs/ranker-plain
SHIM=$PWD/$OUT/libloupe-alloc.so
DURATION=${DURATION:-12}
BASELINE_RUNS=${BASELINE_RUNS:-5}
WORK=$(mktemp -d /tmp/loupe-eval.XXXXXX)
RESULTS=${RESULTS:-$WORK/results.tsv}
trap 'rm -rf "$WORK"' EXIT
for f in "$LOUPE" "$RANKER" "$SHIM"; do
	[ -e "$f" ] || { echo "eval: $f missing (run make first)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "eval: needs root (BPF)" >&2; exit 2; }

# scenario_get FILE KEY: the value of KEY= (comments stripped), or "".
scenario_get() {
	sed -n "s/^$2=\([^#]*\).*/\1/p" "$1" | sed 's/[[:space:]]*$//' | head -n 1
}

# run_one NAME LABEL: records and analyzes one run; appends its row.
run_one() {
	local sc=samples/scenarios/$1.scenario label=$2 t=$WORK/$2
	local config qps mem switch expect fix also pid rc=0
	config=$(scenario_get "$sc" config)
	qps=$(scenario_get "$sc" qps)
	mem=$(scenario_get "$sc" mem)
	switch=$(scenario_get "$sc" switch_at)
	expect=$(scenario_get "$sc" expect)
	fix=$(scenario_get "$sc" fix)
	also=$(scenario_get "$sc" also)
	mkdir -p "$t"
	if [ -n "$switch" ]; then
		cp samples/configs/baseline.conf "$t/ranker.conf"
	else
		cp "samples/configs/$config" "$t/ranker.conf"
	fi
	# set=KEY=VALUE lines override the example config (a later key wins)
	sed -n 's/^set=\([^=]*\)=\([^#]*\).*/\1 = \2/p' "$sc" >>"$t/override.conf"
	[ -z "$switch" ] && cat "$t/override.conf" >>"$t/ranker.conf"
	local -a env=() rec=()
	if [ "$mem" = 1 ]; then
		env=(LD_PRELOAD="$SHIM" LOUPE_ALLOC_SAMPLE_BYTES=65536)
		rec=(--mem)
	fi
	printf '  %-16s recording %s s ...\r' "$label" "$DURATION" >&2
	env "${env[@]}" "$RANKER" --qps "$qps" --duration $((DURATION + 5)) \
		--config "$t/ranker.conf" --quiet >"$t/ranker.out" 2>"$t/ranker.err" &
	pid=$!
	for _ in $(seq 100); do
		grep -q ready "$t/ranker.err" 2>/dev/null && break
		sleep 0.1
	done
	"$LOUPE" record -p "$pid" "${rec[@]}" -d "$DURATION" -o "$t/trace.lpt" \
		>/dev/null 2>"$t/record.err" &
	local rec_pid=$!
	if [ -n "$switch" ]; then
		sleep "$switch"
		cat "samples/configs/$config" "$t/override.conf" >"$t/ranker.conf"
		kill -HUP "$pid"
	fi
	wait "$rec_pid" || rc=$?
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ "$rc" != 0 ]; then
		echo "eval: $label: record failed: $(tail -n 1 "$t/record.err")" >&2
		printf '%s\t%s\terror\t%s\terror\t-1\t\n' "$label" "$expect" "${fix:--}" >>"$RESULTS"
		return
	fi
	"$LOUPE" analyze --json "$t/trace.lpt" >"$t/analyze.json" 2>"$t/analyze.err"
	[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$t/trace.lpt" "$KEEP/$label.lpt" &&
		cp "$t/analyze.json" "$KEEP/$label.json"
	jq -r --arg k "$expect" --arg fix "${fix:-}" --arg also "$also" --arg name "$label" '
		def serious: .severity == "warning" or .severity == "critical";
		([$k] + ($also | split(" "))) as $ok
		| [.findings[] | select(.kind == $k and serious)] as $hit
		| [.findings[] | select(.kind == $k) | .fixes[] | select(.key == $fix)] as $fx
		| [.findings[] | select(serious and (.kind as $x | $ok | index($x) | not))] as $bad
		| [$name, $k,
		   (if $k == "none" then "-" elif ($hit | length) > 0 then "yes" else "no" end),
		   (if $fix == "" then "-" else $fix end),
		   (if $fix == "" then "-" elif ($fx | length) > 0 then "yes" else "no" end),
		   ($bad | length | tostring),
		   ([$bad[] | .kind] | join(","))] | @tsv' "$t/analyze.json" >>"$RESULTS"
}

: >"$RESULTS"
names=${SCENARIOS:-$(ls samples/scenarios/*.scenario | xargs -n1 basename | sed 's/\.scenario$//')}
for n in $names; do
	[ -e "samples/scenarios/$n.scenario" ] || { echo "eval: no scenario $n" >&2; exit 2; }
	if [ "$n" = baseline ]; then
		for i in $(seq "$BASELINE_RUNS"); do run_one baseline "baseline#$i"; done
	else
		run_one "$n" "$n"
	fi
done

printf '%-14s %-18s %-6s %-21s %-9s %s\n' SCENARIO "EXPECTED FINDING" FOUND "EXPECTED FIX KEY" PROPOSED FALSE
pass=0 total=0
while IFS=$'\t' read -r label expect found fix proposed bad kinds; do
	total=$((total + 1))
	printf '%-14s %-18s %-6s %-21s %-9s %s%s\n' "$label" "$expect" "$found" "$fix" \
		"$proposed" "$bad" "${kinds:+ ($kinds)}"
	if [ "$found" != no ] && [ "$found" != error ] && [ "$proposed" != no ] &&
		[ "$bad" = 0 ]; then
		pass=$((pass + 1))
	fi
done <"$RESULTS"
echo "$pass of $total runs passed (found, fix proposed, no false findings)"
[ "$pass" = "$total" ]
