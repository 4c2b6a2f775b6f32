#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make bench: what loupe costs the workload, beside the tools people use.
# The ranker runs at a fixed offered load (BENCH_LOAD, default 70 % of its
# measured capacity), open loop, in these configurations, interleaved
# a b c d e f a b c ... BENCH_REPS times (default 5), BENCH_SECONDS each:
#   (a) no profiler
#   (b) loupe record, defaults: request latency + 99 Hz stacks (the ranker
#       has frame pointers, so fp) + off-CPU + counters
#   (c) the probes compiled out (-DLOUPE_DISABLE), no profiler
#   (d) loupe record --call-graph dwarf
#   (e) perf record -F 99 -g
#   (f) perf record -F 99 --call-graph dwarf
#   (g) loupe record --no-cpu --no-offcpu --no-counters: latency only
# and, side by side in the same interleaved runs, memory tracing on the
# ranker with the allocator-churn fault (samples/configs/alloc_churn.conf,
# ~10k malloc/free pairs per request), closed loop (BENCH_CLOSED, default
# 4 outstanding) so that a cost shows as lost throughput:
#   (h) no profiler
#   (i) libloupe-alloc.so preloaded + loupe record --mem (shim mode)
#   (j) loupe record --mem without the shim (uprobes on glibc)
#   (both with --no-cpu --no-offcpu: memory tracing and counters (RSS), as
#   the other two tools trace memory only; (b) above is the profile's cost)
#   (k) heaptrack (records every allocation)
#   (l) bpftrace -e 'uprobe:...libc.so.6:malloc { @[comm] = count(); }'
# BENCH_MEM_CONFIGS picks among h-l ("" skips them).
# Printed: medians with min-max of throughput and p99 (the ranker's own
# ground truth), the ranker's CPU per request (its getrusage: low noise),
# the profiler's own CPU (time(1) of the whole run minus the ranker's own
# CPU), peak RSS, output size; for loupe also traps per request and BPF
# time per flush (kernel.bpf_stats_enabled=1 for the run); then the
# symbolizer's and unwinder's throughput from their unit tests.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build}
REPS=${BENCH_REPS:-5}
DUR=${BENCH_SECONDS:-10}
LOAD=${BENCH_LOAD:-0.70}
CONFIGS=${BENCH_CONFIGS:-a b c d e f g}
MEM_CONFIGS=${BENCH_MEM_CONFIGS-h i j k l}
CLOSED=${BENCH_CLOSED:-4}
SHIM=$PWD/$OUT/libloupe-alloc.so
LIBC=/lib/x86_64-linux-gnu/libc.so.6
T=$(mktemp -d /tmp/loupe-bench.XXXXXX)
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (BPF)"; exit 1; }
command -v perf >/dev/null || { echo "bench: perf missing (make deps installs linux-perf)"; exit 1; }
if [ -n "$MEM_CONFIGS" ]; then
	for tool in heaptrack bpftrace; do
		command -v $tool >/dev/null || { echo "bench: $tool missing (make bench installs it)"; exit 1; }
	done
	[ -e "$SHIM" ] || { echo "bench: no $SHIM (make all builds it)"; exit 1; }
fi

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; rm -rf "$T"' EXIT

echo "bench: measuring capacity (closed loop, 4 outstanding, 5 s)"
"$OUT/ranker" --closed 4 --duration 5 --quiet --stats-json "$T/cap.json" 2>/dev/null
cap=$(jq -r .throughput_rps "$T/cap.json")
qps=$(awk -v c="$cap" -v l="$LOAD" 'BEGIN { printf "%d", c * l }')
[ -n "${BENCH_QPS:-}" ] && qps=$BENCH_QPS
echo "bench: capacity $cap req/s; offered load $qps req/s; $REPS x $DUR s per configuration"

RANKER_ARGS="--qps $qps --duration $DUR --quiet"
CHURN_ARGS="--config samples/configs/alloc_churn.conf --closed $CLOSED --duration $DUR --quiet"

emit() { echo "$1 $2 $3" >>"$T/results"; }

# run CONFIG TAG: one run; leaves $T/TAG.json (ranker), $T/TAG.time, $T/TAG.err
run() {
	local cfg=$1 tag=$2 r="$OUT/ranker" pre=()
	case $cfg in
	b) pre=("$OUT/loupe" -v record -o "$T/$tag.out" --) ;;
	c) r="$OUT/ranker-noprobes" ;;
	d) pre=("$OUT/loupe" -v record --call-graph dwarf -o "$T/$tag.out" --) ;;
	e) pre=(perf record -q -F 99 -g -o "$T/$tag.out" --) ;;
	f) pre=(perf record -q -F 99 --call-graph dwarf -o "$T/$tag.out" --) ;;
	g) pre=("$OUT/loupe" -v record --no-cpu --no-offcpu --no-counters -o "$T/$tag.out" --) ;;
	h | i | j | k | l) run_mem "$@"; return ;;
	esac
	# shellcheck disable=SC2086
	/usr/bin/time -f '%e %U %S %M' -o "$T/$tag.time" "${pre[@]}" "$r" $RANKER_ARGS \
		--stats-json "$T/$tag.json" >/dev/null 2>"$T/$tag.err"
}

# run_mem CONFIG TAG: one run of the churning ranker, closed loop
run_mem() {
	local cfg=$1 tag=$2 r=$PWD/$OUT/ranker pre=()
	case $cfg in
	i) pre=("$OUT/loupe" -v record --mem --no-cpu --no-offcpu -o "$T/$tag.out" -- env LD_PRELOAD="$SHIM") ;;
	j) pre=("$OUT/loupe" -v record --mem --no-cpu --no-offcpu -o "$T/$tag.out" --) ;;
	k) pre=(heaptrack -o "$T/$tag.out") ;;
	esac
	if [ "$cfg" = l ]; then
		# the one-liner people type: it probes every process's malloc
		/usr/bin/time -f '%e %U %S %M' -o "$T/$tag.time" bpftrace -o "$T/$tag.out" \
			-e "uprobe:$LIBC:malloc { @[comm] = count(); }" \
			-c "$r $CHURN_ARGS --stats-json $T/$tag.json" >/dev/null 2>"$T/$tag.err"
		return
	fi
	# shellcheck disable=SC2086
	/usr/bin/time -f '%e %U %S %M' -o "$T/$tag.time" "${pre[@]}" "$r" $CHURN_ARGS \
		--stats-json "$T/$tag.json" >/dev/null 2>"$T/$tag.err"
}

metrics() { # config tag
	local cfg=$1 tag=$2 req rcpu
	req=$(jq -r .requests "$T/$tag.json")
	rcpu=$(jq -r .cpu_s "$T/$tag.json")
	emit "$cfg" thr "$(jq -r .throughput_rps "$T/$tag.json")"
	emit "$cfg" p99 "$(jq -r '.p99_ns / 1e6' "$T/$tag.json")"
	emit "$cfg" cpu_req "$(awk -v c="$rcpu" -v r="$req" 'BEGIN { printf "%.1f", c * 1e6 / r }')"
	read -r wall u s rss <"$T/$tag.time"
	case $cfg in a | c | h) return ;; esac
	# time(1) saw the profiler and the ranker: the rest is the profiler's
	emit "$cfg" prof_cpu "$(awk -v u="$u" -v s="$s" -v r="$rcpu" -v w="$wall" \
		'BEGIN { v = (u + s - r) * 100 / w; printf "%.2f", v < 0 ? 0 : v }')"
	# heaptrack appends its compression's suffix
	emit "$cfg" size_kib "$(cat "$T/$tag.out"* | wc -c | awk '{ printf "%.0f", $1 / 1024 }')"
	case $cfg in
	i)
		# shim mode traps only for samples: an allocation and, mostly,
		# its free; the rate limit bounds them whatever the churn
		emit "$cfg" sampled "$("$OUT/loupe" report --mem --json "$T/$tag.out" |
			jq -r --argjson r "$req" '[.mem.sites[].objects] | add / $r')"
		;;
	j)
		# "--mem: N allocation and M free calls trapped (...) ... at A + B us each"
		awk -v r="$req" '/--mem: [0-9]+ allocation and/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "allocation") a = $(i - 1)
				if ($i == "free") f = $(i - 1)
				if ($i == "us" && $(i + 1) ~ /^each/) { m = $(i - 3); fr = $(i - 1) }
			}
			printf "calls %.0f\npair_us %.1f\n", (a + f) / r, m + fr }' "$T/$tag.err" |
			while read -r k v; do emit "$cfg" "$k" "$v"; done
		;;
	esac
	case $cfg in
	b | d | g | i | j)
		emit "$cfg" rss "$(grep -o 'peak RSS [0-9.]* MiB' "$T/$tag.err" | awk '{ print $3 }')"
		emit "$cfg" steady "$(grep -o 'steady state: [0-9.]* %' "$T/$tag.err" | awk '{ print $3 }')"
		emit "$cfg" traps "$(grep -o '([0-9.]* traps per request)' "$T/$tag.err" | tr -d '(' | awk '{ print $1 }')"
		emit "$cfg" bpf_ns "$(grep -o 'bpf on_flush: [0-9]* runs, [0-9]* ns' "$T/$tag.err" | awk '{ print $5 }')"
		;;
	esac
}

for rep in $(seq "$REPS"); do
	for cfg in $CONFIGS $MEM_CONFIGS; do
		printf '\rbench: run %d/%d, configuration (%s)   ' "$rep" "$REPS" "$cfg"
		run "$cfg" "$cfg$rep"
		metrics "$cfg" "$cfg$rep"
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
	END { if (n) print n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
name() {
	case $1 in
	a) echo "(a) no profiler" ;; b) echo "(b) loupe record (fp)" ;;
	c) echo "(c) probes compiled out" ;; d) echo "(d) loupe --call-graph dwarf" ;;
	e) echo "(e) perf record -F99 -g" ;; f) echo "(f) perf -F99 --call-graph dwarf" ;;
	g) echo "(g) loupe, latency only" ;;
	h) echo "(h) no profiler" ;; i) echo "(i) shim + loupe record --mem" ;;
	j) echo "(j) loupe --mem, uprobes" ;; k) echo "(k) heaptrack" ;;
	l) echo "(l) bpftrace malloc count" ;;
	esac
}

echo
echo "loupe bench: ranker at $qps req/s offered (~${LOAD} of $cap capacity), $REPS x $DUR s, interleaved; median [min-max]"
printf '%-32s %-24s %-24s %s\n' configuration "throughput req/s" "p99 ms" "ranker CPU us/req"
for cfg in $CONFIGS; do
	printf '%-32s %-24s %-24s %s\n' "$(name $cfg)" "$(summ $cfg thr)" "$(summ $cfg p99)" "$(summ $cfg cpu_req)"
done
echo
echo "profiler's own CPU, % of one core: all of the run (start-up included), and"
echo "loupe's steady state after its first two windows (perf has no such split);"
echo "peak RSS: loupe's own (getrusage); perf's is not separable from the ranker's"
printf '%-32s %-20s %-20s %-16s %-12s %s\n' profiler "CPU % (all)" "CPU % (steady)" "peak RSS MiB" "output KiB" "traps/req"
for cfg in $CONFIGS; do
	case $cfg in a | c) continue ;; esac
	printf '%-32s %-20s %-20s %-16s %-12s %s\n' "$(name $cfg)" "$(summ $cfg prof_cpu)" "$(summ $cfg steady)" \
		"$(summ $cfg rss)" "$(summ $cfg size_kib)" "$(summ $cfg traps)"
done
printf '%-32s %s\n' "loupe BPF ns per flush (b)" "$(summ b bpf_ns)"
echo
base_thr=$(median a thr) base_p99=$(median a p99) base_cpu=$(median a cpu_req)
for cfg in $CONFIGS; do
	[ "$cfg" = a ] && continue
	awk -v n="$(name $cfg)" -v t="$(median $cfg thr)" -v p="$(median $cfg p99)" -v c="$(median $cfg cpu_req)" \
		-v bt="$base_thr" -v bp="$base_p99" -v bc="$base_cpu" 'BEGIN {
		printf "%-32s vs (a): throughput %+.2f %%, p99 %+.2f %%, ranker CPU/req %+.2f %%\n",
			n, (t - bt) * 100 / bt, (p - bp) * 100 / bp, (c - bc) * 100 / bc }'
done

if [ -n "$MEM_CONFIGS" ]; then
	echo
	echo "memory tracing: ranker with the allocator-churn fault (samples/configs/alloc_churn.conf),"
	echo "closed loop $CLOSED outstanding, $REPS x $DUR s, interleaved with the above; median [min-max]"
	printf '%-32s %-24s %-24s %s\n' configuration "throughput req/s" "p99 ms" "ranker CPU us/req"
	for cfg in $MEM_CONFIGS; do
		printf '%-32s %-24s %-24s %s\n' "$(name $cfg)" "$(summ $cfg thr)" "$(summ $cfg p99)" "$(summ $cfg cpu_req)"
	done
	echo
	echo "profiler's own CPU, % of one core (time(1) of the run minus the ranker's own CPU;"
	echo "heaptrack's in-process part and the uprobe traps count as the ranker's), output size"
	printf '%-32s %-20s %-20s %-16s %s\n' profiler "CPU % (all)" "CPU % (steady)" "peak RSS MiB" "output KiB"
	for cfg in $MEM_CONFIGS; do
		[ "$cfg" = h ] && continue
		printf '%-32s %-20s %-20s %-16s %s\n' "$(name $cfg)" "$(summ $cfg prof_cpu)" "$(summ $cfg steady)" \
			"$(summ $cfg rss)" "$(summ $cfg size_kib)"
	done
	case " $MEM_CONFIGS " in *" i "*)
		printf '%-32s %s\n' "(i) sampled allocs per request" "$(summ i sampled)" ;;
	esac
	case " $MEM_CONFIGS " in *" j "*)
		printf '%-32s %s\n' "(j) allocator calls per request" "$(summ j calls)"
		printf '%-32s %s\n' "(j) measured us per malloc+free" "$(summ j pair_us)"
		# what the calls cost in the ranker itself: its extra CPU per
		# request over (h)'s, per trapped call (caches and TLB shared
		# with the workload; the calibration runs on an idle thread)
		case " $MEM_CONFIGS " in *" h "*)
			awk -v j="$(median j cpu_req)" -v h="$(median h cpu_req)" -v n="$(median j calls)" 'BEGIN {
				if (n > 0) printf "%-32s %.1f\n", "(j) in the ranker, us per call", (j - h) / n }' ;;
		esac ;;
	esac
	echo
	base_thr=$(median h thr) base_p99=$(median h p99) base_cpu=$(median h cpu_req)
	for cfg in $MEM_CONFIGS; do
		[ "$cfg" = h ] && continue
		[ -n "$base_thr" ] || break
		awk -v n="$(name $cfg)" -v t="$(median $cfg thr)" -v p="$(median $cfg p99)" -v c="$(median $cfg cpu_req)" \
			-v bt="$base_thr" -v bp="$base_p99" -v bc="$base_cpu" 'BEGIN {
			printf "%-32s vs (h): throughput %+.2f %%, p99 %+.2f %%, ranker CPU/req %+.2f %%\n",
				n, (t - bt) * 100 / bt, (p - bp) * 100 / bp, (c - bc) * 100 / bc }'
	done
fi

echo
echo "symbolization and unwinding throughput (from the unit tests):"
for t in test_symbolize test_unwind_dwarf; do
	[ -x "$OUT/tests/$t" ] || make -s "$OUT/tests/$t" >/dev/null 2>&1
	"$OUT/tests/$t" 2>&1 | grep -E '^# (symbolize|unwind_dwarf):' | sed 's/^/  /'
done
