#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# loupe gate and diff on real runs of the ranker, recorded side by side:
# an A/A pair passes (or is inconclusive, never fails), an A/B pair with
# top_mlp made 4x slower fails naming top_mlp and the function that burns
# the time, a leaking candidate fails on its RSS growth; every exit status
# (0 1 2 3) with its one clear line; JUnit XML
# valid against tests/data/junit.xsd; diff in text (80 columns), JSON and
# Markdown.
source "$(dirname "$0")/lib.sh"
require_root
command -v xmllint >/dev/null || skip "xmllint missing (libxml2-utils; make deps)"
XSD=$PWD/tests/data/junit.xsd

# short runs: 10 stable windows a side, 1 s of warm-up
printf 'min_windows = 10\nwarmup = 1s\n' >"$T/short.policy"
printf 'min_windows = 100\n' >"$T/long.policy"
: >"$T/base.conf"
printf 'fault_slow_stage = top_mlp\nfault_slow_pct = 300\n' >"$T/slow.conf"

# The ranker is the fixture: never sanitized (under SAN=1 ASan's allocator
# would blur the leak's RSS growth); loupe is what is under test.
PLAIN=$PWD/$OUT/progs/ranker-plain
[ -x "$PLAIN" ] || PLAIN=$RANKER
# quarter-second windows: more units from a short run
rec() { # name config seconds
	"$LOUPE" record -w 250 -o "$T/$1.lpt" -- "$PLAIN" --qps 100 --duration "$3" \
		--quiet --seed 7 --config "$T/$2.conf" >/dev/null 2>"$T/$1.err"
}
printf 'fault_leak_bytes = 65536\n' >"$T/leak.conf"
note "four rankers side by side: a, a2 (the same), b (top_mlp +300 %), l (leaks)"
rec a base 8 & p1=$!
rec a2 base 8 & p2=$!
rec b slow 8 & p3=$!
rec l leak 8 & p4=$!
wait $p1 || fail "record a: $(cat "$T/a.err")"
wait $p2 || fail "record a2: $(cat "$T/a2.err")"
wait $p3 || fail "record b: $(cat "$T/b.err")"
wait $p4 || fail "record l: $(cat "$T/l.err")"

# gate_rc EXPECTED... -- ARGS: runs the gate, checks its status is one of EXPECTED
gate() { "$LOUPE" gate "$@" >"$T/out" 2>"$T/err"; echo $?; }

note "A/A: pass or inconclusive, never a failure"
rc=$(gate --policy "$T/short.policy" --json "$T/a.lpt" -- "$T/a2.lpt")
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] ||
	fail "A/A: exit $rc; failing: $(jq -c '[.metrics[] | select(.status=="fail") | [.model,.stage,.metric,.change]]' "$T/out")"
assert_eq "A/A comparison" "$(jqf .comparison "$T/out")" side_by_side
assert_eq "A/A verdict field" "$(jqf .exit_code "$T/out")" "$rc"
echo "ok: A/A exit $rc ($(jqf .summary "$T/out"))"

note "A/B: fails, naming top_mlp and what burns there"
rc=$(gate --policy "$T/short.policy" --json --junit "$T/junit.xml" \
	--markdown "$T/comment.md" "$T/a.lpt" -- "$T/b.lpt")
[ "$rc" -eq 1 ] || fail "A/B: exit $rc, want 1: $(jqf .summary "$T/out")"
assert_eq "A/B verdict" "$(jqf .verdict "$T/out")" fail
n=$(jq '[.metrics[] | select(.status=="fail" and .stage=="top_mlp")] | length' "$T/out")
[ "$n" -ge 1 ] || fail "A/B: no failing top_mlp metric"
# B's other stages may stretch a little (its busier threads preempt each
# other), but the largest growth of a stage must be top_mlp's
worst=$(jq -r '[.metrics[] | select(.status=="fail" and .stage != null and .stage != "request")]
	| max_by(.change) | .stage' "$T/out")
assert_eq "A/B stage that grew most" "$worst" top_mlp
jqf .summary "$T/out" | grep -q "clearest: .*/top_mlp" || fail "summary does not name top_mlp: $(jqf .summary "$T/out")"
fns=$(jq -r '[.metrics[] | select(.status=="fail" and .stage=="top_mlp") | .functions[]?.function] | unique | join(" ")' "$T/out")
echo "$fns" | grep -Eq 'spin_ns|slow_stage_burn' || fail "A/B: moved functions '$fns' lack the burner"
jq -e '[.metrics[] | select(.status=="fail")][0] | .p_adjusted < 0.05 and .change > 0.05 and .cliffs_delta > 0' \
	"$T/out" >/dev/null || fail "A/B: failure lacks p-value or effect size"
echo "ok: A/B fails: $(jqf .summary "$T/out"); functions: $fns"
# the text form names the stage too, and fits 80 columns
rc=$(gate --policy "$T/short.policy" "$T/a.lpt" -- "$T/b.lpt")
assert_eq "A/B text exit" "$rc" 1
grep -Eq '^FAIL +(ctr_small|cvr_large)/top_mlp' "$T/out" || fail "text lacks 'FAIL .../top_mlp': $(cat "$T/out")"
assert_fits_80 "$T/out"

note "a leak new in the candidate fails"
rc=$(gate --policy "$T/short.policy" --json "$T/a.lpt" -- "$T/l.lpt")
[ "$rc" -eq 1 ] || fail "leak: exit $rc, want 1: $(jqf .summary "$T/out")"
jq -e '[.metrics[] | select(.metric == "rss_growth" and .status == "fail")] | length == 1' \
	"$T/out" >/dev/null || fail "leak: rss_growth did not fail"
echo "ok: leak: $(jqf .summary "$T/out")"

note "JUnit XML validates; Markdown is a PR comment"
xmllint --noout --schema "$XSD" "$T/junit.xml" 2>"$T/xerr" || fail "junit invalid: $(cat "$T/xerr")"
xmllint --xpath 'count(//testcase[failure][contains(@name,"top_mlp")])' "$T/junit.xml" >"$T/nf" ||
	fail "xpath on junit"
[ "$(cat "$T/nf")" -ge 1 ] || fail "junit: no failing top_mlp testcase"
assert_eq "junit failures attribute" \
	"$(xmllint --xpath 'string(/testsuites/testsuite/@failures)' "$T/junit.xml")" \
	"$(xmllint --xpath 'count(//testcase/failure)' "$T/junit.xml")"
grep -q '^## :x: loupe gate: performance regression' "$T/comment.md" || fail "markdown heading"
grep -q 'top_mlp' "$T/comment.md" || fail "markdown lacks top_mlp"
# a passing gate writes valid JUnit too
gate --policy "$T/short.policy" --junit "$T/junit-aa.xml" "$T/a.lpt" -- "$T/a2.lpt" >/dev/null
xmllint --noout --schema "$XSD" "$T/junit-aa.xml" 2>"$T/xerr" || fail "A/A junit invalid: $(cat "$T/xerr")"

note "exit 3: too little data, said with how much more"
rc=$(gate --policy "$T/long.policy" --json --junit "$T/junit-3.xml" "$T/a.lpt" -- "$T/b.lpt")
assert_eq "100 windows wanted" "$rc" 3
xmllint --noout --schema "$XSD" "$T/junit-3.xml" 2>"$T/xerr" || fail "inconclusive junit invalid: $(cat "$T/xerr")"
jqf .summary "$T/out" | grep -q "too little data: .* need 100: record about [0-9]* s more" ||
	fail "no 'how much more': $(jqf .summary "$T/out")"
assert_eq "windows needed" "$(jqf .windows.needed "$T/out")" 100
rec c base 3 || fail "record c: $(cat "$T/c.err")"
rc=$(gate --policy "$T/short.policy" --json "$T/a.lpt" -- "$T/c.lpt")
assert_eq "one run a side, apart" "$rc" 3
assert_eq "apart comparison" "$(jqf .comparison "$T/out")" apart
jqf .summary "$T/out" | grep -q "between-run noise not measured" || fail "apart: $(jqf .summary "$T/out")"

note "exit 2: one clear line each"
expect2() { # pattern args...
	local pat=$1; shift
	"$LOUPE" "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	[ "$rc" -eq 2 ] || fail "'$*': exit $rc, want 2; stderr: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*': want one stderr line, got: $(cat "$T/err")"
	grep -Eq "$pat" "$T/err" || fail "'$*': stderr '$(cat "$T/err")' lacks /$pat/"
	echo "ok: exit 2: $(cat "$T/err")"
}
expect2 "^loupe: gate: open $T/missing.lpt: No such file or directory$" gate "$T/a.lpt" -- "$T/missing.lpt"
expect2 "^loupe: gate: open /etc/passwd: not a loupe trace file$" gate /etc/passwd -- "$T/a.lpt"
expect2 "^loupe: diff: open $T/nope.lpt: No such file" diff "$T/nope.lpt" -- "$T/a.lpt"
expect2 "give the baseline's and the candidate's traces" gate "$T/a.lpt" "$T/b.lpt"
expect2 "no candidate trace" gate "$T/a.lpt" --
expect2 "unknown option '--bogus'" gate --bogus "$T/a.lpt" -- "$T/b.lpt"
printf 'p99 = +5%%\np98 = +1%%\n' >"$T/bad.policy"
expect2 "policy $T/bad.policy:2: unknown metric or setting 'p98'" gate --policy "$T/bad.policy" "$T/a.lpt" -- "$T/b.lpt"
expect2 "policy open $T/none.policy: No such file" gate --policy "$T/none.policy" "$T/a.lpt" -- "$T/b.lpt"
"$LOUPE" record -o "$T/other.lpt" -- "$REQGEN" 50 200 50 0 >/dev/null 2>&1 || fail "record reqgen"
expect2 "workloads differ: .* runs 'ranker(-plain)?', .* runs 'reqgen'" gate "$T/a.lpt" -- "$T/other.lpt"

note "diff: text, JSON, Markdown"
"$LOUPE" diff "$T/a.lpt" -- "$T/b.lpt" >"$T/diff.txt" 2>"$T/err" || fail "diff: $(cat "$T/err")"
assert_fits_80 "$T/diff.txt"
grep -Eq '^(ctr_small|cvr_large)/top_mlp +item' "$T/diff.txt" || fail "diff lacks top_mlp item row"
grep -q "^CPU PROFILE" "$T/diff.txt" || fail "diff lacks the CPU profile"
"$LOUPE" diff --json "$T/a.lpt" -- "$T/b.lpt" >"$T/diff.json" || fail "diff --json"
jq -e '(.metrics | length) > 10 and (.profile | type == "array") and
	(.new_findings | type == "array") and .comparison == "side_by_side"' "$T/diff.json" >/dev/null ||
	fail "diff --json keys"
jq -e '[.metrics[] | select(.stage=="top_mlp" and .metric=="item")][0].change > 0.5' \
	"$T/diff.json" >/dev/null || fail "diff: top_mlp item did not grow by half"
"$LOUPE" diff --markdown "$T/a.lpt" -- "$T/b.lpt" | grep -q '^### loupe diff' || fail "diff --markdown"
"$LOUPE" help gate | grep -q "exit status\|Exit status" || fail "help gate"
"$LOUPE" help diff | grep -q "BASE... -- CAND..." || fail "help diff"
echo pass
