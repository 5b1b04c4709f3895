#!/bin/sh
# run_all.sh - the whole test run behind `make test`: C unit tests, a short
# fuzz run of every decoder, `make install` with a program built against it
# (test/install_test.sh), every command of the docs as written
# (test/docs_test.sh), and the Common Test suites against real erl
# nodes (OTP 25, the host's), then the interop suites again with OTP 27
# peer nodes (scripts/otp27.sh; CNODE_SKIP_OTP27=1 leaves that pass out,
# for local runs only).  Prints each stage's own report, then one line of
# totals, "N passed, N failed", last.  Exits non-zero if anything failed.
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

# shell_test SCRIPT: runs a test/*.sh that ends "NAME: N passed, N failed"
shell_test() {
    out=$(bash "$1" 2>&1); rc=$?
    echo "$out" | grep -E '^(ok|FAILED|exempt)|blocks run' | sed 's/^/   /'
    p=$(echo "$out" | tail -1 | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    f=$(echo "$out" | tail -1 | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
    if [ -z "$p" ]; then p=0; f=1; echo "$out" | tail -20; fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    add "$p" "$f"
}

echo "== make install, and a program built outside the tree with pkg-config"
shell_test test/install_test.sh

echo "== every command in README.md and docs/*.md, as written (test/docs_test.sh)"
shell_test test/docs_test.sh

# ct_totals LOG: adds what rebar3 ct reported in LOG (a failure if nothing)
ct_totals() {
    summary=$(grep -E 'tests passed|Failed [0-9]+ tests|Passed [0-9]+ tests' "$1" | tail -1)
    case "$summary" in
        *"All "*" tests passed"*)
            add "$(echo "$summary" | sed -n 's/.*All \([0-9]*\) tests passed.*/\1/p')" 0 ;;
        *Failed*)
            add "$(echo "$summary" | sed -n 's/.*Passed \([0-9]*\) tests.*/\1/p')" \
                "$(echo "$summary" | sed -n 's/.*Failed \([0-9]*\) tests.*/\1/p')" ;;
        *)
            echo "Common Test did not report a result"; add 0 1 ;;
    esac
}

echo "== Common Test suites"
rebar3 ct ${CT_SUITES:+--suite $CT_SUITES} 2>&1 | tee -a "$log" | grep -vE '^\s*$' | tail -40
ct_totals "$log"

# The interop suites with OTP 27 peer nodes (Debian 13's erlang-nox in a
# debootstrap chroot; the first run makes it, about a minute to three).  A
# chroot that cannot be made (no mirror) is a failure, not a skip.
OTP27_SUITES=${OTP27_SUITES:-runtime_peer_SUITE,raft_peer_SUITE,chatterbox_SUITE,gossip_SUITE}
echo "== Common Test, interop suites with OTP 27 peer nodes ($OTP27_SUITES)"
if [ "${CNODE_SKIP_OTP27:-0}" = 1 ]; then
    echo "   skipped: CNODE_SKIP_OTP27=1"
elif ! scripts/otp27.sh setup > _build/otp27_setup.log 2>&1; then
    tail -30 _build/otp27_setup.log
    echo "   FAILED: no OTP 27 chroot (scripts/otp27.sh setup; CNODE_SKIP_OTP27=1 skips this pass)"
    add 0 1
else
    log27=_build/test_run_otp27.log
    : > "$log27"
    start=$(date +%s)
    CNODE_PEER_OTP=27 rebar3 ct --suite "$OTP27_SUITES" 2>&1 | tee -a "$log27" |
        grep -vE '^\s*$' | tail -40
    echo "   OTP 27 pass: $(( $(date +%s) - start )) s"
    ct_totals "$log27"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
