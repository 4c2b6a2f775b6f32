#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Memory tracing with libloupe-alloc.so: the ranker's per-request leak is
# found at the right function with its rate within 20 %; a cache that warms
# up and then plateaus is not a leak (the same program leaking is); and
# allocations made before loupe attached are not called leaks.
source "$(dirname "$0")/lib.sh"
require_root
SHIM=$PWD/$OUT/libloupe-alloc.so
# unsanitized even under SAN=1: the shim and ASan both want malloc
RANKER=$PWD/$OUT/progs/ranker-plain
[ -e "$SHIM" ] || fail "no $SHIM"
# a smaller sampling mean than the default, for enough samples in 10 s
export LOUPE_ALLOC_SAMPLE_BYTES=65536
leak_bytes=$(awk -F= '/^fault_leak_bytes/ { gsub(/ /, "", $2); print $2 }' samples/configs/leak.conf)

note "the ranker's leak fault ($leak_bytes bytes per request)"
"$LOUPE" record --mem --call-graph fp -d 10 -o "$T/leak.lpt" -- env LD_PRELOAD="$SHIM" \
	"$RANKER" --config samples/configs/leak.conf --qps 200 --quiet >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" report --mem --json "$T/leak.lpt" >"$T/leak.json" || fail report
# the shim's probes, never uprobes on glibc too (they would count twice)
assert_eq "mode" "$(jqf .mem.mode "$T/leak.json")" shim
grep -q "uprobes on" "$T/err" && fail "uprobes beside the shim: $(cat "$T/err")"
assert_eq "leaking function" "$(jqf '.mem.leaks[0].function' "$T/leak.json")" leak_request_context
assert_near "bytes per request" "$(jqf '.mem.leaks[0].bytes_per_request' "$T/leak.json")" "$leak_bytes" 0.20
assert_eq "leaks" "$(jqf '.mem.leaks | length' "$T/leak.json")" 1
"$LOUPE" report --mem "$T/leak.lpt" >"$T/mem.txt"
grep -q "LEAKS" "$T/mem.txt" || fail "text report lacks the leak"
assert_fits_80 "$T/mem.txt"
# RSS per window: the leak (touched memory) shows as anon growth
first=$(jqf '.mem.rss[0].anon_bytes' "$T/leak.json")
last=$(jqf '.mem.rss[-1].anon_bytes' "$T/leak.json")
[ "$last" -gt $((first + 10000000)) ] || fail "RSS anon did not grow: $first -> $last"

# exports: heap pprof (inuse_space) and folded, led by the leak
"$LOUPE" export --format pprof --mem -o "$T/heap.pb.gz" "$T/leak.lpt" || fail "export pprof --mem"
if command -v go >/dev/null; then
	go tool pprof -top -sample_index=inuse_space "$T/heap.pb.gz" 2>/dev/null >"$T/heap.top"
	grep -q "leak_request_context" "$T/heap.top" || fail "pprof heap lacks the leak: $(cat "$T/heap.top")"
fi
"$LOUPE" export --format folded --mem "$T/leak.lpt" | sort -t' ' -k2 -n | tail -n 1 \
	| grep -q "leak_request_context;malloc" || fail "folded heap is not led by the leak"

note "baseline: no leak"
"$LOUPE" record --mem --call-graph fp -d 10 -o "$T/base.lpt" -- env LD_PRELOAD="$SHIM" \
	"$RANKER" --config samples/configs/baseline.conf --qps 200 --quiet >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" report --mem --json "$T/base.lpt" >"$T/base.json" || fail report
assert_eq "baseline leaks" "$(jqf '.mem.leaks | length' "$T/base.json")" 0
[ "$(jqf '.mem.sites | length' "$T/base.json")" -gt 0 ] || fail "baseline: no allocation sites at all"

note "a cache that warms up, then plateaus: not a leak; the same leaking: a leak"
"$LOUPE" record --mem -o "$T/warm.lpt" -- env LD_PRELOAD="$SHIM" \
	"$PWD/$OUT/progs/cache_warm" 10 3 >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
"$LOUPE" report --mem --json "$T/warm.lpt" >"$T/warm.json" || fail report
assert_eq "plateau leaks" "$(jqf '.mem.leaks | length' "$T/warm.json")" 0
assert_eq "plateau top site" "$(jqf '.mem.sites[0].function' "$T/warm.json")" cache_entry_new
"$LOUPE" record --mem -o "$T/wleak.lpt" -- env LD_PRELOAD="$SHIM" \
	"$PWD/$OUT/progs/cache_warm" 10 3 leak >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
"$LOUPE" report --mem --json "$T/wleak.lpt" >"$T/wleak.json" || fail report
assert_eq "leaking cache" "$(jqf '.mem.leaks[0].function' "$T/wleak.json")" cache_entry_new

note "attach late: what leaked before attaching is not counted"
LD_PRELOAD="$SHIM" "$RANKER" --config samples/configs/leak.conf --qps 200 --quiet \
	--duration 0 >/dev/null 2>"$T/rk.err" &
pid=$!; BG_PIDS+=("$pid")
sleep 4	# ~4 s x 200 req/s x 16 KiB = ~13 MB leaked before attach
"$LOUPE" record --mem --call-graph fp -p "$pid" -d 10 -o "$T/late.lpt" 2>"$T/err" || fail "record: $(cat "$T/err")"
"$LOUPE" report --mem --json "$T/late.lpt" >"$T/late.json" || fail report
# requests the full queue rejected (attaching stalls the ranker for a
# moment; a busy machine too) never reach the leak
reqs=$(($(jqf .requests "$T/late.json") - $(jqf .errors "$T/late.json")))
out=$(jqf '.mem.sites[] | select(.function=="leak_request_context") | .outstanding_bytes' "$T/late.json")
# outstanding = only what leaked while attached: served requests x leak
assert_near "outstanding after a late attach" "$out" "$((reqs * leak_bytes))" 0.20
echo pass
