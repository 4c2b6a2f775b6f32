#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make demo: the sample ranking server under Poisson load, loupe attached to
# it for DEMO_SECONDS, then the report.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-build}
secs=${DEMO_SECONDS:-10}
qps=${DEMO_QPS:-250}
trace=${DEMO_TRACE:-$OUT/demo.lpt}

echo "demo: starting the sample ranking server at $qps req/s (samples/README.md)"
"$OUT/ranker" --config samples/configs/baseline.conf --qps "$qps" --duration 0 \
	2>"$OUT/demo-ranker.log" &
ranker=$!
trap 'kill $ranker 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q ready "$OUT/demo-ranker.log" && break; sleep 0.1; done
echo "demo: attaching loupe to pid $ranker for $secs s"
echo "demo: \$ loupe record -p $ranker -d $secs -o $trace"
"$OUT/loupe" record -p "$ranker" -d "$secs" -o "$trace"
kill -INT $ranker; wait $ranker 2>/dev/null || true
trap - EXIT
echo
echo "demo: \$ loupe report --cpu $trace"
"$OUT/loupe" report --cpu "$trace"
echo
echo "demo: the ranker's own ground truth for its whole run:"
grep -E "requests|p50|p99" "$OUT/demo-ranker.log" | sed 's/^/  /' || true
