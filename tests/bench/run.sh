#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make bench: what loupe costs the workload.  The ranker runs at a fixed
# offered load (BENCH_LOAD, default 70 % of its measured capacity) in three
# configurations, interleaved a b c a b c ... BENCH_REPS times (default 5):
#   (a) no profiler, (b) loupe record launching the ranker, (c) probes
#   compiled out.
# Prints medians with min-max: throughput and p99 (the ranker's own ground
# truth), the ranker's CPU per request (low noise: CPU time, not wall time),
# and for (b) loupe's own CPU %, peak RSS, traps per request and BPF run
# time per flush (kernel.bpf_stats_enabled=1 for the run).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build}
REPS=${BENCH_REPS:-5}
DUR=${BENCH_SECONDS:-10}
LOAD=${BENCH_LOAD:-0.70}
T=$(mktemp -d /tmp/loupe-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (BPF)"; exit 1; }

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; rm -rf "$T"' EXIT

echo "bench: measuring capacity (closed loop, 4 outstanding, 5 s)"
"$OUT/ranker" --closed 4 --duration 5 --quiet --stats-json "$T/cap.json" 2>/dev/null
cap=$(jq -r .throughput_rps "$T/cap.json")
qps=$(awk -v c="$cap" -v l="$LOAD" 'BEGIN { printf "%d", c * l }')
[ -n "${BENCH_QPS:-}" ] && qps=$BENCH_QPS
echo "bench: capacity $cap req/s; offered load $qps req/s; $REPS x $DUR s per configuration"

# run_ranker BIN TAG: runs the ranker under GNU time; leaves $T/TAG.{json,time}
run_ranker() {
	/usr/bin/time -f '%e %U %S %M' -o "$T/$2.time" \
		"$1" --qps "$qps" --duration "$DUR" --quiet --stats-json "$T/$2.json" \
		2>"$T/$2.err"
}

emit() { # config metric value
	echo "$1 $2 $3" >>"$T/results"
}

ranker_metrics() { # config tag
	local req
	req=$(jq -r .requests "$T/$2.json")
	emit "$1" thr "$(jq -r .throughput_rps "$T/$2.json")"
	emit "$1" p99 "$(jq -r '.p99_ns / 1e6' "$T/$2.json")"
	emit "$1" cpu_req "$(awk -v r="$req" '{ printf "%.1f", ($2 + $3) * 1e6 / r }' "$T/$2.time")"
}

for rep in $(seq "$REPS"); do
	for cfg in a b c; do
		tag=$cfg$rep
		printf '\rbench: run %d/%d, configuration (%s)   ' "$rep" "$REPS" "$cfg"
		case $cfg in
		a) run_ranker "$OUT/ranker" "$tag" ;;
		c) run_ranker "$OUT/ranker-noprobes" "$tag" ;;
		b)
			# Launch mode: the probes are in place before the first
			# request, as in production where loupe stays attached.
			/usr/bin/time -f '%e %U %S %M' -o "$T/$tag.time" \
				"$OUT/loupe" -v record -o "$T/$tag.lpt" -- "$OUT/ranker" \
				--qps "$qps" --duration "$DUR" --quiet --stats-json "$T/$tag.json" \
				2>"$T/$tag.lerr" >/dev/null
			# loupe's own share, from its getrusage(RUSAGE_SELF)
			own=$(grep -o 'own cost: [0-9.]* s CPU in [0-9.]* s ([0-9.]* %.*peak RSS [0-9.]* MiB' "$T/$tag.lerr")
			lcpu=$(echo "$own" | awk '{ print $3 }')
			emit b loupe_cpu "$(echo "$own" | sed 's/.*(\([0-9.]*\) %.*/\1/')"
			emit b loupe_rss "$(echo "$own" | sed 's/.*peak RSS \([0-9.]*\) MiB/\1/')"
			emit b traps "$(grep -o '([0-9.]* traps per request)' "$T/$tag.lerr" | tr -d '(' | awk '{ print $1 }')"
			emit b bpf_ns "$(grep -o 'bpf on_flush: [0-9]* runs, [0-9]* ns' "$T/$tag.lerr" | awk '{ print $5 }')"
			emit b size_kib "$(awk -v b="$(stat -c %s "$T/$tag.lpt")" 'BEGIN { printf "%.0f", b / 1024 }')"
			# time(1) saw loupe and the ranker: keep the ranker's part
			awk -v l="$lcpu" '{ printf "%s %s %s %s\n", $1, $2 - l, $3, $4 }' \
				"$T/$tag.time" >"$T/$tag.time2" && mv "$T/$tag.time2" "$T/$tag.time"
			;;
		esac
		ranker_metrics "$cfg" "$tag"
	done
done
printf '\r%60s\r' ''

# values CONFIG METRIC: the samples, sorted (mawk has no asort)
values() {
	awk -v c="$1" -v m="$2" '$1 == c && $2 == m && $3 != "" { print $3 }' "$T/results" | sort -g
}
# summ CONFIG METRIC -> "median [min-max]"
summ() {
	values "$1" "$2" | awk '{ v[++n] = $1 }
	END {
		if (!n) { print "-"; exit }
		med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "%.4g [%.4g-%.4g]", med, v[1], v[n]
	}'
}
median() {
	values "$1" "$2" | awk '{ v[++n] = $1 }
	END { print n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

echo
echo "loupe bench: ranker at $qps req/s offered (~${LOAD} of $cap capacity), $REPS x $DUR s, interleaved; median [min-max]"
printf '%-26s %-26s %-26s %-24s\n' configuration "throughput req/s" "p99 ms" "ranker CPU us/request"
for cfg in a b c; do
	case $cfg in a) name="(a) no profiler" ;; b) name="(b) loupe record" ;; c) name="(c) probes compiled out" ;; esac
	printf '%-26s %-26s %-26s %-24s\n' "$name" "$(summ $cfg thr)" "$(summ $cfg p99)" "$(summ $cfg cpu_req)"
done
echo
printf '%-26s %s\n' "loupe CPU % of one core" "$(summ b loupe_cpu)"
printf '%-26s %s\n' "loupe peak RSS MiB" "$(summ b loupe_rss)"
printf '%-26s %s\n' "traps per request" "$(summ b traps)"
printf '%-26s %s\n' "BPF ns per flush" "$(summ b bpf_ns)"
printf '%-26s %s\n' "trace KiB per run" "$(summ b size_kib)"
echo
for m in thr p99 cpu_req; do
	a=$(median a $m) b=$(median b $m) c=$(median c $m)
	awk -v m=$m -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
		printf "%-8s (b) vs (a): %+.2f %%   (c) vs (a): %+.2f %%\n", m, (b - a) * 100 / a, (c - a) * 100 / a }'
done
