#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# loupe export --format pprof read back by 'go tool pprof' itself, against
# tests/progs/hot.c's known answers: 70 % of CPU under hot_a (whose work is
# the inlined helper inlined_work), 30 % under hot_b; hot_a in stage_a,
# hot_b in stage_b.  Checks shares, the stage labels through -tagfocus,
# file:line and inline frames through -lines, the gzip wrapper, the
# off-CPU variant, and the refusals (bad format, terminal, bad trace).
# Sampled at 999 Hz so that sampling noise (sd 0.8 points over 3 s, against
# 2.6 at 99 Hz) stays far inside the 5-point tolerance.
source "$(dirname "$0")/lib.sh"
require_root

if ! command -v go >/dev/null; then
	[ "${CI:-}" = true ] && fail "go not found (Debian package golang-go; make deps)"
	skip "go not found: install golang-go for 'go tool pprof'"
fi
pprof() { timeout 120 go tool pprof "$@" 2>"$T/pprof.err" || fail "go tool pprof $*: $(cat "$T/pprof.err")"; }

# pct FILE FIELD FUNCTION: flat% (FIELD 2) or cum% (FIELD 5) of FUNCTION's
# row in pprof -top output, 0 when it has none
pct() {
	awk -v f="$2" -v fn="$3" '$6 == fn && $2 ~ /%$/ { v = $f; sub(/%$/, "", v); s += v }
		END { printf "%.2f", s + 0 }' "$1"
}

"$LOUPE" record --cpu=999 --call-graph fp -o "$T/h.lpt" -- "$PWD/$OUT/progs/hot" 3 >/dev/null 2>"$T/err" \
	|| fail "record: $(cat "$T/err")"
"$LOUPE" export --format pprof -o "$T/h.pb.gz" "$T/h.lpt" 2>"$T/err" || fail "export: $(cat "$T/err")"
assert_eq "gzip magic" "$(head -c 2 "$T/h.pb.gz" | od -An -tx1 | tr -d ' ')" 1f8b
"$LOUPE" export --format pprof "$T/h.lpt" >"$T/stdout.pb.gz" 2>"$T/err" || fail "export to stdout: $(cat "$T/err")"
cmp -s "$T/h.pb.gz" "$T/stdout.pb.gz" || fail "-o FILE and stdout differ"

note "shares"
pprof -top -nodecount=20 "$T/h.pb.gz" >"$T/top"
cat "$T/top"
grep -q '^Type: cpu$' "$T/top" || fail "sample type is not cpu"
# hot_a's own work is in its inlined helper: pprof shows that as its own
# (inline) node, so hot_a's flat is its flat plus the helper's.
assert_near "hot_a cum %" "$(pct "$T/top" 5 hot_a)" 70 0 5
assert_near "hot_a flat % (with inlined_work)" \
	"$(awk -v a="$(pct "$T/top" 2 hot_a)" -v i="$(pct "$T/top" 2 inlined_work)" 'BEGIN { print a + i }')" 70 0 5
assert_near "hot_b cum %" "$(pct "$T/top" 5 hot_b)" 30 0 5
assert_near "hot_b flat %" "$(pct "$T/top" 2 hot_b)" 30 0 5

note "stage labels"
pprof -top -nodecount=20 -tagfocus=stage=stage_b "$T/h.pb.gz" >"$T/top_b"
assert_near "hot_b under stage_b %" "$(pct "$T/top_b" 5 hot_b)" 30 0 5
for f in hot_a inlined_work; do
	[ "$(pct "$T/top_b" 5 $f)" = 0.00 ] || fail "-tagfocus=stage=stage_b kept $f: $(cat "$T/top_b")"
done
pprof -top -nodecount=20 -tagfocus=stage=stage_a "$T/h.pb.gz" >"$T/top_a"
assert_near "hot_a under stage_a %" "$(pct "$T/top_a" 5 hot_a)" 70 0 5
[ "$(pct "$T/top_a" 5 hot_b)" = 0.00 ] || fail "-tagfocus=stage=stage_a kept hot_b"
pprof -tags "$T/h.pb.gz" >"$T/tags"
grep -q 'm_hot' "$T/tags" || fail "no model label m_hot: $(cat "$T/tags")"

note "file:line and inline frames"
pprof -top -lines -nodecount=20 "$T/h.pb.gz" >"$T/lines"
grep -Eq 'hot_b .*hot\.c:[0-9]+' "$T/lines" || fail "-lines lacks hot.c: $(cat "$T/lines")"
grep -Eq 'inlined_work .*hot\.c:[0-9]+ \(inline\)' "$T/lines" \
	|| fail "inlined_work not an inline line of its location: $(cat "$T/lines")"
pprof -raw "$T/h.pb.gz" >"$T/raw"
grep -Eq '^1: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ .*/hot ' "$T/raw" \
	|| fail "the main binary is not mapping 1: $(sed -n '/^Mappings/,$p' "$T/raw")"

note "off-CPU"
"$LOUPE" export --format pprof --offcpu -o "$T/off.pb.gz" "$T/h.lpt" 2>"$T/err" || fail "export --offcpu: $(cat "$T/err")"
pprof -raw "$T/off.pb.gz" >"$T/off_raw"
grep -q '^PeriodType: offcpu nanoseconds' "$T/off_raw" || fail "off-CPU period type: $(head -5 "$T/off_raw")"
grep -Eq 'episodes/count +offcpu/nanoseconds' "$T/off_raw" || fail "off-CPU sample types: $(head -8 "$T/off_raw")"
# every sample is off-CPU: one kind label per sample row
nsamp=$(sed -n '/^Samples:/,/^Locations/p' "$T/off_raw" | grep -Ec '^ +[0-9]+ +[0-9]+:')
nkind=$(grep -Ec 'kind:\[(blocked|runq)\]' "$T/off_raw")
[ "$nsamp" -ge 1 ] || fail "no off-CPU samples"
assert_eq "off-CPU samples with a kind label" "$nkind" "$nsamp"

note "refusals"
"$LOUPE" export --format svg "$T/h.lpt" >/dev/null 2>"$T/err"
assert_eq "unknown format exit" $? 2
grep -q "unsupported format 'svg'" "$T/err" || fail "unknown format message: $(cat "$T/err")"
printf 'not a trace' >"$T/bad.lpt"
"$LOUPE" export --format pprof -o "$T/bad.pb.gz" "$T/bad.lpt" 2>"$T/err"
assert_eq "bad trace exit" $? 1
[ ! -e "$T/bad.pb.gz" ] || fail "bad trace left an output file"
"$LOUPE" export --format pprof -o "$T/no/such/dir/x.pb.gz" "$T/h.lpt" 2>"$T/err"
assert_eq "unwritable output exit" $? 1
if command -v script >/dev/null; then
	# script(1) gives the command a terminal as stdout
	script -qec "'$LOUPE' export --format pprof '$T/h.lpt'" /dev/null >"$T/tty" 2>&1
	assert_eq "pprof to a terminal exit" $? 2
	grep -q 'not writing a gzipped pprof profile to a terminal' "$T/tty" || fail "terminal refusal: $(cat -v "$T/tty")"
fi
echo pass
