#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# record --mem on processes without libloupe-alloc.so: uprobes on glibc's
# malloc/calloc/realloc/free, sampled in BPF.  The mode line and its
# measured cost are printed; a fixture with known bytes per site comes out
# in the right proportions (realloc(NULL, n), which glibc runs through its
# own malloc, counted once), with its one leak named, also with the plain
# uprobe + uretprobe pair; the ranker's leak is found at the right
# function and rate when loupe attaches to it, and the missing -d is
# warned about.
source "$(dirname "$0")/lib.sh"
require_root
KNOWN=$PWD/$OUT/progs/alloc_known
[ -x "$KNOWN" ] || fail "no $KNOWN"
# unsanitized: an ASan build's malloc is ASan's, not glibc's
RANKER=$PWD/$OUT/progs/ranker-plain
# smaller sampling means than the default, for enough samples in 10 s
leak_bytes=$(awk -F= '/^fault_leak_bytes/ { gsub(/ /, "", $2); print $2 }' samples/configs/leak.conf)

# site_bytes JSON FUNCTION FIELD
site_bytes() {
	jqf ".mem.sites[] | select(.function == \"$2\") | .$3" "$1"
}

# known_sites TRACE: per-site proportions of the fixture's bytes
known_sites() {
	"$LOUPE" report --mem --json "$1" >"$T/known.json" || fail "report $1"
	assert_eq "mode" "$(jqf .mem.mode "$T/known.json")" uprobe
	jqf .mem.allocator "$T/known.json" | grep -q 'libc\.so' || fail "allocator: $(jqf .mem.allocator "$T/known.json")"
	[ "$(jqf .mem.uprobe_cost_ns "$T/known.json")" -gt 0 ] || fail "no measured cost in the trace"
	base=$(site_bytes "$T/known.json" known_malloc allocated_bytes)
	# 4096 : 2048 : 4096 : 1024 : 8192 bytes per iteration; ~500+ samples
	# per site at 8 KiB, so +-20 % is over 3 standard deviations
	assert_near "calloc / malloc" "$(awk -v a="$(site_bytes "$T/known.json" known_calloc allocated_bytes)" -v b="$base" 'BEGIN { print a / b }')" 0.5 0.20
	assert_near "realloc(NULL) / malloc (counted once)" "$(awk -v a="$(site_bytes "$T/known.json" known_realloc_null allocated_bytes)" -v b="$base" 'BEGIN { print a / b }')" 1 0.20
	assert_near "realloc grow / malloc" "$(awk -v a="$(site_bytes "$T/known.json" known_grow allocated_bytes)" -v b="$base" 'BEGIN { print a / b }')" 2 0.20
	assert_near "grow's first malloc / malloc" "$(awk -v a="$(site_bytes "$T/known.json" known_grow_small allocated_bytes)" -v b="$base" 'BEGIN { print a / b }')" 0.25 0.25
	# freed sites (realloc(p, 0) and realloc's move included) end near 0:
	# a block allocated just before loupe detached is never seen freed
	for f in known_malloc known_realloc_null known_grow_small known_grow; do
		out=$(site_bytes "$T/known.json" $f outstanding_bytes)
		[ "$out" -le 100000 ] || fail "$f: $out bytes outstanding, want at most a few samples"
		echo "ok: $f outstanding = $out"
	done
	assert_eq "leaks" "$(jqf '.mem.leaks | length' "$T/known.json")" 1
	assert_eq "leaking site" "$(jqf '.mem.leaks[0].function' "$T/known.json")" known_calloc
	# 400 iterations/s x 2048 bytes
	assert_near "leak rate" "$(jqf '.mem.leaks[0].bytes_per_second' "$T/known.json")" 819200 0.20
}

note "launched fixture, session uprobes (one trap per unsampled malloc)"
LOUPE_ALLOC_SAMPLE_BYTES=8192 "$LOUPE" -v record --mem --no-cpu -d 10 -o "$T/known.lpt" -- \
	"$KNOWN" 12 >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
grep -E -q 'loupe: record: --mem without libloupe-alloc.so: uprobes on /.*libc\.so\.6 malloc/calloc/realloc/free \(~[0-9]+ us per malloc\+free measured' "$T/err" ||
	fail "no mode line: $(grep -v libbpf "$T/err")"
grep -q 'session uprobe' "$T/err" || fail "not session uprobes on a 6.13+ kernel: $(grep 'uprobes cost' "$T/err")"
grep -q 'give -d' "$T/err" && fail "warned about -d although it was given"
line=$(grep -o -- '--mem: [0-9]* allocation and [0-9]* free calls trapped ([0-9]* sampled' "$T/err") ||
	fail "no cost summary: $(grep -v libbpf "$T/err")"
read -r _ allocs _ _ frees _ _ _ sampled _ <<<"${line//(/}"
# 7 allocator calls and 3 frees per iteration, 400 per second, ~9.9 s
# (launched: the probes go in once its exec has settled, ~0.1 s)
assert_near "allocation calls trapped" "$allocs" 27700 0.15
assert_near "free calls trapped" "$frees" 11900 0.15
[ "$sampled" -gt 1000 ] || fail "only $sampled allocations sampled"
known_sites "$T/known.lpt"
"$LOUPE" report --mem "$T/known.lpt" >"$T/known.txt" || fail report
grep -q 'MEMORY  sampled heap allocations (uprobes on libc.so.6, ~[0-9]* us per malloc+free)' "$T/known.txt" ||
	fail "report does not say uprobe mode: $(grep MEMORY "$T/known.txt")"
assert_fits_80 "$T/known.txt"

note "the same with plain uprobe + uretprobe (kernels before 6.13)"
LOUPE_MEM_UPROBE_CLASSIC=1 LOUPE_ALLOC_SAMPLE_BYTES=8192 "$LOUPE" -v record --mem --no-cpu -d 10 \
	-o "$T/plain.lpt" -- "$KNOWN" 12 >/dev/null 2>"$T/err" || fail "record: $(cat "$T/err")"
grep -q 'uprobe + uretprobe' "$T/err" || fail "not the plain pair: $(grep 'uprobes cost' "$T/err")"
known_sites "$T/plain.lpt"

note "attach to the ranker without -d: warned, leak found at its rate"
RANKER_ARGS=(--config samples/configs/leak.conf --qps 100 --quiet --duration 0)
start_ranker "${RANKER_ARGS[@]}"
LOUPE_ALLOC_SAMPLE_BYTES=65536 "$LOUPE" record --mem --call-graph fp -p "$RANKER_PID" \
	-o "$T/rk.lpt" 2>"$T/err" &
lp=$!
BG_PIDS+=("$lp")
wait_until 20 grep -q 'uprobes on' "$T/err" || fail "no mode line: $(cat "$T/err")"
grep -q 'warning: --mem uprobes slow every malloc and free of pid [0-9]* until loupe stops: give -d' "$T/err" ||
	fail "no warning about the missing -d: $(cat "$T/err")"
sleep 10
kill -INT "$lp"
wait "$lp" || fail "record: $(cat "$T/err")"
"$LOUPE" report --mem --json "$T/rk.lpt" >"$T/rk.json" || fail report
assert_eq "ranker mode" "$(jqf .mem.mode "$T/rk.json")" uprobe
assert_eq "leaking function" "$(jqf '.mem.leaks[0].function' "$T/rk.json")" leak_request_context
assert_eq "ranker leaks" "$(jqf '.mem.leaks | length' "$T/rk.json")" 1
# the fit counts requests the full queue rejected too (they never reach
# the leak): looser than the served-requests check below
assert_near "bytes per request" "$(jqf '.mem.leaks[0].bytes_per_request' "$T/rk.json")" "$leak_bytes" 0.35
# requests rejected by the full queue (attaching stalls the ranker for a
# moment) never reach the leak
ok=$(($(jqf .requests "$T/rk.json") - $(jqf .errors "$T/rk.json")))
assert_near "outstanding = served requests x leak" "$(site_bytes "$T/rk.json" leak_request_context outstanding_bytes)" \
	"$((ok * leak_bytes))" 0.20
# stacks start at the allocator entry, as the shim's do
"$LOUPE" export --format folded --mem "$T/rk.lpt" | sort -t' ' -k2 -n | tail -n 1 |
	grep -E -q 'leak_request_context;(__GI___libc_malloc|__libc_malloc|malloc) ' ||
	fail "folded heap is not led by leak_request_context;malloc"
# detached cleanly: a breakpoint left behind would kill it with SIGTRAP
# at its next malloc (100 per second)
sleep 0.5
kill -0 "$RANKER_PID" || fail "the ranker died after loupe detached"
echo pass
