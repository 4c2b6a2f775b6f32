#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A fast subset of the scenario suite (make eval): the ranker with a fault
# switched on, loupe attached; loupe analyze must report the fault's finding
# with the right fix key and no false warning.  Then the JSON/Markdown/text
# forms of one result, and analyze's bad input.
source "$(dirname "$0")/lib.sh"
require_root
export DURATION=10 BASELINE_RUNS=0 RESULTS=$T/results.tsv KEEP=$T/keep
SCENARIOS="lock oversubscribe leak" samples/scenarios/eval.sh >"$T/eval.out" 2>"$T/eval.err"
rc=$?
cat "$T/eval.out"
for row in "lock lock_contention fault_lock_us" "oversubscribe oversubscription workers" \
	"leak memory_leak fault_leak_bytes"; do
	set -- $row
	line=$(awk -F'\t' -v s="$1" '$1 == s' "$RESULTS")
	[ -n "$line" ] || fail "$1: no result ($(tail -n 3 "$T/eval.err"))"
	[ "$(cut -f3 <<<"$line")" = yes ] || fail "$1: $2 not found"
	[ "$(cut -f5 <<<"$line")" = yes ] || fail "$1: no fix for $3"
	echo "ok: $1 -> $2, fix $3"
done
[ "$rc" = 0 ] || fail "eval: false findings (see the table)"

# the leak names its site, in every output form
jqf '.findings[] | select(.kind == "memory_leak") | .function' "$KEEP/leak.json" |
	grep -qx leak_request_context || fail "leak site not named"
"$LOUPE" analyze --markdown "$KEEP/leak.lpt" >"$T/leak.md" || fail "analyze --markdown"
grep -q '^| critical \|^| warning ' "$T/leak.md" || fail "markdown lacks the findings table"
"$LOUPE" analyze "$KEEP/lock.lpt" >"$T/lock.txt" || fail "analyze text"
grep -q "fix: fault_lock_us: 4000 -> 0" "$T/lock.txt" || fail "text lacks the fix line"
assert_fits_80 "$T/lock.txt"

# bad input: one line, non-zero
"$LOUPE" analyze --slo p42=1 "$KEEP/lock.lpt" 2>"$T/err" && fail "bad --slo accepted"
grep -q -- "--slo" "$T/err" || fail "bad --slo: $(cat "$T/err")"
"$LOUPE" analyze "$T/missing.lpt" 2>"$T/err"
[ $? = 1 ] || fail "missing file: want exit 1"
"$LOUPE" analyze /etc/passwd 2>"$T/err"
grep -q "not a loupe trace" "$T/err" || fail "not a trace: $(cat "$T/err")"
mkdir -p "$T/rules" && printf 'rule x\n  finding nonsense\n' >"$T/rules/bad.rules"
"$LOUPE" analyze --rules "$T/rules" "$KEEP/lock.lpt" 2>"$T/err"
[ $? = 2 ] && grep -q "bad.rules:2" "$T/err" || fail "bad rules file: $(cat "$T/err")"
# a cut trace: what was read is analysed, and the exit status says so
head -c 40000 "$KEEP/lock.lpt" >"$T/cut.lpt"
"$LOUPE" analyze "$T/cut.lpt" >"$T/cut.txt" 2>"$T/err"
[ $? = 1 ] || fail "cut trace: want exit 1"
grep -q "damaged trace" "$T/cut.txt" && grep -q "truncated" "$T/err" ||
	fail "cut trace: $(cat "$T/err")"
echo pass
