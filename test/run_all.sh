#!/bin/sh
# run_all.sh - the whole test run behind `make test`: C unit tests, a short
# fuzz run of every decoder, `make install` with a program built against it
# (test/install_test.sh), and the Common Test suites against real erl
# nodes.  Prints each stage's own report, then one line of totals,
# "N passed, N failed", last.  Exits non-zero if anything failed.
cd "$(dirname "$0")/.." || exit 2
passed=0
failed=0
log=_build/test_run.log
mkdir -p _build
: > "$log"

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

echo "== C unit tests"
for t in _build/c/san/test/*_test; do
    out=$("$t" 2>&1); rc=$?
    echo "$out" | tail -1
    p=$(echo "$out" | tail -1 | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    f=$(echo "$out" | tail -1 | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
    if [ -z "$p" ]; then p=0; f=1; echo "$out" | tail -20; fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "$out" | tail -20; fi
    add "$p" "$f"
done

echo "== fuzzing (${FUZZ_SECONDS:-10} s per target)"
if FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash test/fuzz/run.sh > _build/fuzz.log 2>&1; then
    grep -E '^fuzz_' _build/fuzz.log
    add "$(grep -cE '^fuzz_.*: ok' _build/fuzz.log)" 0
else
    tail -30 _build/fuzz.log
    add "$(grep -cE '^fuzz_.*: ok' _build/fuzz.log)" "$(grep -cE '^fuzz_' _build/fuzz.log | awk '{print ($1>0)?$1:1}')"
fi

echo "== make install, and a program built outside the tree with pkg-config"
out=$(bash test/install_test.sh 2>&1); rc=$?
echo "$out" | grep -E '^(ok|FAILED)' | sed 's/^/   /'
p=$(echo "$out" | tail -1 | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
f=$(echo "$out" | tail -1 | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
if [ -z "$p" ]; then p=0; f=1; echo "$out" | tail -20; fi
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
add "$p" "$f"

echo "== Common Test suites"
rebar3 ct ${CT_SUITES:+--suite $CT_SUITES} 2>&1 | tee -a "$log" | grep -vE '^\s*$' | tail -40
summary=$(grep -E 'tests passed|Failed [0-9]+ tests|Passed [0-9]+ tests' "$log" | tail -1)
case "$summary" in
    *"All "*" tests passed"*)
        add "$(echo "$summary" | sed -n 's/.*All \([0-9]*\) tests passed.*/\1/p')" 0 ;;
    *Failed*)
        add "$(echo "$summary" | sed -n 's/.*Passed \([0-9]*\) tests.*/\1/p')" \
            "$(echo "$summary" | sed -n 's/.*Failed \([0-9]*\) tests.*/\1/p')" ;;
    *)
        echo "Common Test did not report a result"; add 0 1 ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
