#!/usr/bin/env bash
# docs_test.sh - every command in README.md and docs/*.md, run as written.
#
# Each ```sh and ```erlang block of those files is taken from the file
# itself (never a copy typed here) and must be preceded by a marker line
# `<!-- docs_test: NAME -->` naming it; a block without one, a marker this
# script has no handler for, or a handler whose block is gone, fails.  A
# handler takes the block's commands one logical line at a time by a
# fragment of the line (`take`), runs it as written in a scratch directory,
# and checks what it printed; a line it cannot run is declared with
# `exempt` and a reason, and any line of a block that is neither taken nor
# exempt fails the test, so a command added to the docs must be run here.
# The only rewrites are the docs' own placeholders: `host` in `n1@host` is
# this host, `[ID]` / `[--json]` are optional arguments (run without, and
# for --json with too).
#
# Isolation: the whole run is in a private network namespace (unshare
# --net, as root; make test needs root anyway) with its own loopback and
# its own epmd, so the fixed names and cookies the docs use (echo_c,
# secret, alice, n1, ports 9001-9003) never meet another test run's nodes
# on this machine, and every node it starts is its own.  The scratch
# directory has the tree's priv, _build, test, src, ... as symlinks, a
# copy of peers.json (a block rewrites it) and a Makefile that runs make
# in the tree, so `make` in a block builds the tree under test; HOME is a
# scratch directory (make install PREFIX=$HOME/.local, ~/.erlang.cookie).
# Every process started here is stopped by its pid.  Last line:
# "docs_test: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
if [ "${DOCS_TEST_NETNS:-}" != 1 ]; then
    if ! unshare --net true 2>/dev/null; then
        echo "FAILED: unshare --net (docs_test needs root for a private network namespace)"
        echo "docs_test: 0 passed, 1 failed"; exit 1
    fi
    DOCS_TEST_NETNS=1 exec unshare --net bash "$0" "$@"
fi
ip link set lo up || exit 1

T=$(mktemp -d /tmp/cnode_docs.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "${EPMD_PID:-}" ] && { kill "$EPMD_PID" 2>/dev/null; wait "$EPMD_PID" 2>/dev/null; }
    rm -rf "$T"
}
trap cleanup EXIT
passed=0
failed=0
ran_blocks=0
exempt_blocks=0
exempt_lines=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() {
    echo "docs_test: $ran_blocks blocks run, $exempt_blocks blocks and $exempt_lines lines exempt"
    echo "docs_test: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]; exit
}
H=$(hostname -s)
DOCS=(README.md docs/*.md)

# this namespace's epmd, in the foreground so that its pid is ours
epmd > "$T/epmd.log" 2>&1 &
EPMD_PID=$!
for _ in $(seq 1 50); do epmd -names > /dev/null 2>&1 && break; sleep 0.1; done

# ---- the scratch directory the blocks run in ---------------------------------
W=$T/w
mkdir -p "$W" "$T/home" "$T/blocks" "$T/out"
for d in priv _build test src scripts c_src bench docs; do ln -s "$ROOT/$d" "$W/$d"; done
cp peers.json "$W/"
REAL_HOME=$HOME
cat > "$W/Makefile" <<EOF
# docs_test: make here is make in the tree under test
.DEFAULT_GOAL := all
Makefile: ;
%:
	@HOME=$REAL_HOME \$(MAKE) --no-print-directory -C $ROOT \$@
EOF
export HOME=$T/home

# ---- the blocks --------------------------------------------------------------
# $T/blocks/NAME: the block's text; $T/blocks/NAME.where: file:line lang.
for f in "${DOCS[@]}"; do
    awk -v F="$f" -v D="$T/blocks" '
        function bad(msg) { print "FAILED: " F ":" NR ": " msg; errs++ }
        /^```/ && !inb {
            inb = 1; lang = substr($0, 4); name = ""
            if (prev ~ /^<!-- docs_test: [a-z0-9_-]+ -->$/) {
                name = prev; sub(/^<!-- docs_test: /, "", name); sub(/ -->$/, "", name)
                if (name in seen) bad("marker " name " used twice")
                seen[name] = 1
                printf "%s:%d %s\n", F, NR, lang > (D "/" name ".where")
                printf "" > (D "/" name)
            } else if (lang == "sh" || lang == "erlang")
                bad("a ```" lang " block without a <!-- docs_test: NAME --> marker")
            next
        }
        /^```/ && inb { inb = 0; prev = ""; next }
        inb && name != "" { print > (D "/" name); next }
        !inb && $0 !~ /^[[:space:]]*$/ { prev = $0 }
        END { exit errs > 0 }' "$f" || failed=$((failed + 1))
done

# logical lines of block NAME (continuations joined, trailing comments cut)
lines() {
    sed -e ':a' -e '/\\$/{N; s/\\\n[[:space:]]*/ /; ba' -e '}' "$T/blocks/$1" |
        sed -e 's/[[:space:]]\+# .*$//' -e 's/[[:space:]]*$//' | grep -v '^[[:space:]]*$'
}
# take NAME FRAGMENT [x]: the one logical line of NAME containing FRAGMENT
# (with x: equal to it), marked as run; fails (printing nothing) unless
# exactly one line matches
take() {
    local n
    n=$(lines "$1" | grep -cF${3:+x} -- "$2")
    if [ "$n" -ne 1 ]; then
        fail "$1: $n lines match '$2' (the docs changed: update docs_test.sh)"; return 1
    fi
    lines "$1" | grep -nF${3:+x} -- "$2" | cut -d: -f1 >> "$T/blocks/$1.taken"
    lines "$1" | grep -F${3:+x} -- "$2"
}
# take_block NAME: the whole block, run as one script
take_block() { lines "$1" | grep -n '' | cut -d: -f1 >> "$T/blocks/$1.taken"; cat "$T/blocks/$1"; }
# exempt NAME FRAGMENT REASON [x]: a line that is not run, and why
exempt() {
    take "$1" "$2" ${4:-} > /dev/null || return 1
    echo "exempt: $1: '$2': $3"; exempt_lines=$((exempt_lines + 1)); echo x >> "$T/blocks/$1.exempt"
}
# exempt_block NAME REASON: a block that is not a command (code, a fragment)
exempt_block() {
    lines "$1" | grep -n '' | cut -d: -f1 >> "$T/blocks/$1.taken"
    lines "$1" | sed 's/.*/x/' >> "$T/blocks/$1.exempt"
    echo "exempt: $1 (the whole block): $2"
}
# block_done NAME: every line of the block was taken; counts the block as
# run, or as exempt when every line was exempt
block_done() {
    local i=0 l
    while IFS= read -r l; do
        i=$((i + 1))
        grep -qx "$i" "$T/blocks/$1.taken" 2>/dev/null || fail "$1: line not run by docs_test.sh: $l"
    done < <(lines "$1")
    if [ "$(cat "$T/blocks/$1.exempt" 2>/dev/null | wc -l)" -eq "$i" ]; then exempt_blocks=$((exempt_blocks + 1))
    else ran_blocks=$((ran_blocks + 1)); fi
}
at_host() { sed -e "s/@host\b/@$H/g"; }

# ---- running commands --------------------------------------------------------
# run DESC TIMEOUT CMD: CMD in the scratch dir; ok if it exits 0
# (output in $T/out/last.out, .err)
run() {
    local desc=$1 to=$2 cmd=$3
    local rc=0
    (cd "$W" && timeout "$to" bash -c "$cmd") > "$T/out/last.out" 2> "$T/out/last.err" < /dev/null || rc=$?
    if [ $rc -eq 0 ]; then ok "$desc"; return 0; fi
    fail "$desc: exit $rc ($cmd)"; tail -n 15 "$T/out/last.out" "$T/out/last.err"; return 1
}
# start VAR TAG CMD [STDIN]: CMD (its trailing & cut) in the background,
# stdout in $T/out/TAG.out; the pid in VAR
start() {
    local cmd=${3%&}
    (cd "$W" && exec bash -c "exec $cmd") < "${4:-/dev/null}" > "$T/out/$2.out" 2> "$T/out/$2.err" &
    PIDS+=($!)
    printf -v "$1" '%s' "$!"
}
# await FILE PATTERN SECONDS: polls until FILE has a line matching PATTERN
await() {
    local end=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# stop PID: SIGTERM, and its exit status
stop() {
    local p=$1 rc q keep=()
    kill "$p" 2>/dev/null; wait "$p"; rc=$?
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]}")
    return $rc
}
# server DESC TAG CMD: a node command that runs until stopped: it must say
# "ready" and stop with status 0 on SIGTERM
server() {
    local pid
    start pid "$2" "$3"
    if await "$T/out/$2.out" '^ready ' 30; then ok "$1: ready"
    else fail "$1: no ready line ($3)"; tail -5 "$T/out/$2.err"; fi
    if stop "$pid"; then ok "$1: stops with status 0 on SIGTERM"; else fail "$1: exit status $? on SIGTERM"; fi
}
# erl_input NAME: the expressions of an erl shell session (prompts cut)
erl_input() { sed -n 's/^[0-9]\+> //p' "$T/blocks/$1"; }
# erl_output NAME: the lines the session shows as printed
erl_output() { grep -v '^[0-9]\+> ' "$T/blocks/$1"; }
# session DESC NAME ERLCMD: ERLCMD (a doc line) fed the session of block
# NAME; every output line the docs show must appear, and no exception
session() {
    local desc=$1 name=$2 cmd=$3 l bad=0
    take_block "$name" > /dev/null
    erl_input "$name" > "$T/out/$name.in"
    (cd "$W" && timeout 60 bash -c "$cmd") < "$T/out/$name.in" 2>&1 |
        sed -e ':a' -e 's/^([^)]*)[0-9]\+> //' -e 'ta' > "$T/out/$name.out"
    while IFS= read -r l; do
        grep -qxF -- "$l" "$T/out/$name.out" || { bad=1; echo "   missing: $l"; }
    done < <(erl_output "$name")
    grep -q '\*\* exception' "$T/out/$name.out" && bad=1
    if [ $bad -eq 0 ] && [ "$(erl_input "$name" | wc -l)" -gt 0 ]; then ok "$desc"
    else fail "$desc"; cat "$T/out/$name.out"; fi
}
# the erl node a fixture uses: the tree's modules, a unique name
fixture_erl() {
    (cd "$W" && timeout 60 erl -noshell -sname "dtfix_$$" -setcookie "$1" \
        -pa _build/default/lib/cnode/ebin -eval "$2") > "$T/out/fixture.out" 2>&1
}

# ---- the handlers, one per marker -------------------------------------------
HANDLED=()
handler() { HANDLED+=("$1"); }

handler two-commands
b_two-commands() {
    exempt two-commands "make test" "it is the whole run this test is part of (recursion)"
    local c; c=$(take two-commands "make demo") || return
    # about 4 s: five raft_kv nodes (three C, two Erlang), three clients
    run "make demo exits 0 (every store identical)" 120 "$c" &&
        { grep -q 'all 5 stores identical' "$T/out/last.out" && ok "make demo: all 5 stores identical" ||
          fail "make demo: no 'all 5 stores identical'"; }
}

handler echo-erl
handler echo-erl-session
b_echo-erl() {
    local c e pid
    c=$(take echo-erl "priv/bin/echo_node") && e=$(take echo-erl "erl -sname me") || return
    case "$c" in "make && "*) run "make" 600 make || return; c=${c#make && } ;; esac
    start pid echo_c "$c"
    await "$T/out/echo_c.out" '^ready ' 30 || { fail "echo_node: no ready line"; return; }
    session "README: erl session with echo_c (gen_server:call, send, ping)" echo-erl-session "$e"
    stop "$pid" && ok "echo_node stops with status 0" || fail "echo_node: exit $? on SIGTERM"
}
b_echo-erl-session() { :; }     # run by b_echo-erl (and b_tls)

handler install-cc
b_install-cc() {
    local inst c
    # the README's own words before the block: `make install PREFIX=$HOME/.local`
    inst=$(grep -o 'make install PREFIX=\$HOME/\.local' README.md | head -1)
    [ -n "$inst" ] || { fail "README no longer says make install PREFIX=\$HOME/.local"; return; }
    run "$inst (HOME a scratch dir)" 600 "$inst" || return
    c=$(take install-cc "cc my_node.c") || return
    sed 's|"../node/cli.h"|<cnode/cli.h>|' c_src/echo/echo_node.c > "$W/my_node.c"
    # PKG_CONFIG_PATH as the line's comment says
    run "README: cc my_node.c with pkg-config" 120 \
        "export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig; $c && LD_LIBRARY_PATH=$HOME/.local/lib ./my_node --version"
}

handler tls
b_tls() {
    local c e pid
    c=$(take tls "priv/bin/echo_node") && e=$(take tls "erl -sname me") || return
    # the files the commands name: a CA and a certificate for this host
    fixture_erl x 'cnode_certs:make(".", net_adm:localhost()), halt().' ||
        { fail "certificates"; cat "$T/out/fixture.out"; return; }
    start pid echo_tls "$c"
    await "$T/out/echo_tls.out" '^ready ' 30 || { fail "TLS echo_node: no ready line"; tail "$T/out/echo_tls.err"; return; }
    session "README: TLS erl (mutual verification) to TLS echo_c, the same session" echo-erl-session "$e"
    stop "$pid" && ok "TLS echo_node stops with status 0" || fail "TLS echo_node: exit $? on SIGTERM"
}

handler runtime-c
b_runtime-c() {
    exempt_block runtime-c "a fragment (the '...' is elided); echo_node.c is the whole program, built and run by install_test.sh"
}

handler raft-cli
b_raft-cli() {
    local c n2 n3 n4 p1 p2 p3 p4 l
    c=$(take raft-cli "--peers peers.json --id 1") && server "raft_kv --peers peers.json --id 1" rk_peers "$c"
    c=$(take raft-cli "--mode emulation") && server "raft_kv --mode emulation" rk_emu "$c"
    c=$(take raft-cli "--data-dir") && server "raft_kv --data-dir" rk_dur "$c" &&
        { [ -d "$W/$(echo "$c" | sed 's/.*--data-dir \([^ ]*\).*/\1/')" ] && ok "the data dir is made" || fail "no data dir"; }
    c=$(take raft-cli "raft_kv emulate") && run "raft_kv emulate --seed 7" 120 "$c" &&
        { grep -q 'slot' "$T/out/last.out" && ok "emulate prints the trace" || fail "emulate: no trace"; }
    # a cluster for the client commands: n1 as written, n2..n4 the same line
    c=$(take raft-cli "--sname n1 --cookie secret --id 1") || return
    start p1 n1 "$c"
    start p2 n2 "$(echo "$c" | sed 's/n1/n2/; s/--id 1/--id 2/')"
    start p3 n3 "$(echo "$c" | sed 's/n1/n3/; s/--id 1/--id 3/')"
    start p4 n4 "$(echo "$c" | sed 's/n1/n4/; s/--id 1/--id 4/')"
    for n in n1 n2 n3 n4; do
        await "$T/out/$n.out" '^ready ' 30 || { fail "raft_kv $n: no ready line"; return; }
    done
    ok "raft_kv --sname n1 --cookie secret --id 1 (and n2-n4 alike) ready"
    fixture_erl secret "
        Sub = fun(I) -> gen_server:call({raft_kv, list_to_atom(\"n\" ++ integer_to_list(I) ++ \"@$H\")}, subject) end,
        ok = raft_ref_main:set_peers([{I, Sub(I)} || I <- [1, 2, 3]]),
        Leader = fun L(0) -> halt(1);
                     L(K) -> case [x || I <- [1,2,3], #{role := leader} <- [gen_server:call({raft_kv, list_to_atom(\"n\" ++ integer_to_list(I) ++ \"@$H\")}, status)]] of
                                 [_] -> halt(0);
                                 _ -> timer:sleep(100), L(K - 1) end end,
        Leader(100)." && ok "set_peers n1-n3: a leader" || { fail "no leader"; cat "$T/out/fixture.out"; return; }
    for l in "raft_kv client" "raft_kv load" "transfer" "add n4@host" "remove n2@host"; do
        c=$(take raft-cli "$l") || continue
        c=$(echo "$c" | at_host | sed 's/ \[ID\]$//')
        run "$c" 60 "$c"
    done
    c=$(take raft-cli "raft_kv status") && c=$(echo "$c" | at_host | sed 's/ \[--json\]$//') &&
        run "$c" 60 "$c" && grep -q "n4@$H" "$T/out/last.out" && ! grep -q "n2@$H" "$T/out/last.out" &&
        ok "status: n4 added, n2 removed" && run "$c --json" 60 "$c --json"
    for p in $p1 $p2 $p3 $p4; do stop "$p"; done
}

handler raft-bridge
b_raft-bridge() {
    local c p
    c=$(lines raft-cli | grep -F -- "--sname n1 --cookie secret --id 1")
    start p n1b "$c"
    await "$T/out/n1b.out" '^ready ' 30 || { fail "raft_kv n1: no ready line"; return; }
    # n1 alone is a cluster and leads; it holds k = v
    fixture_erl secret "
        N = 'n1@$H', S = gen_server:call({raft_kv, N}, subject),
        ok = raft_ref_main:set_peers([{1, S}]),
        Put = fun P(0) -> halt(1);
                  P(K) -> case raft_ref_actor:call(S, 5000, fun(R) -> {client_put, <<\"k\">>, <<\"v\">>, R} end) of
                              op_ok -> halt(0);
                              _ -> timer:sleep(100), P(K - 1) end end,
        Put(100)." || { fail "one-node cluster with k = v"; cat "$T/out/fixture.out"; stop "$p"; return; }
    take_block raft-bridge | at_host > "$T/out/bridge.in"
    (cd "$W" && timeout 60 erl -sname "dtbridge" -setcookie secret) < "$T/out/bridge.in" > "$T/out/bridge.out" 2>&1
    if ! grep -q '\*\* exception' "$T/out/bridge.out" && grep -q '^ok$\|> ok$' "$T/out/bridge.out"; then
        ok "README: the bridge's calls (subject, status, watch) against n1"
    else fail "README bridge block"; cat "$T/out/bridge.out"; fi
    stop "$p"
}

handler gleam-bridge
b_gleam-bridge() {
    exempt_block gleam-bridge "Gleam source needing the emulation's raft_kv/node module and a Gleam toolchain (not in this tree)"
}

handler otp27
b_otp27() {
    exempt otp27 "scripts/otp27.sh setup" "run by make test (run_all.sh, the OTP 27 pass); needs Debian's mirror the first time"
    exempt otp27 "CNODE_PEER_OTP=27 rebar3 ct" "it is make test's OTP 27 pass"
    exempt otp27 "scripts/otp27.sh erl -sname x" "an interactive shell in the OTP 27 chroot, which only make test's pass makes"
    exempt otp27 "CNODE_SKIP_OTP27=1 make test" "it is make test (recursion)"
}

handler check-readme
b_check-readme() {
    exempt check-readme "cnode-check run test/scenarios/raft_smoke.json" "run by check_SUITE in make test (namespaces on the host, minutes)"
    exempt check-readme "make soak" "ten minutes per protocol, by design"
}

handler check-run
b_check-run() {
    local c
    c=$(take check-run "make" x) && run "check.md: make" 600 "$c"
    exempt check-run "priv/bin/cnode-check run test/scenarios/raft_smoke.json" "run by check_SUITE in make test (namespaces on the host)" x
    exempt check-run "--seed 7 --cluster mixed" "a longer run of the same scenario; check_SUITE runs the mixed cluster"
    exempt check-run "cnode-check check" "needs a run's history; check_SUITE checks histories"
    exempt check-run "cnode-check clean" "removes every ck* namespace on the host, other runs' too"
    exempt check-run "cnode-check summary" "needs make soak's results"
    exempt check-run "make soak" "ten minutes per protocol, by design"
}

handler chatterbox-run
b_chatterbox-run() {
    local n
    # the whole block, as one script: make, peers.json, three nodes, wait
    run "chatterbox.md: three C nodes, 10 s + 5 s" 60 "$(take_block chatterbox-run)" || return
    n=$(grep -c '^(' "$T/out/last.out"); l=$(grep '^(' "$T/out/last.out" | sort -u | wc -l)
    if [ "$n" -eq 3 ] && [ "$l" -eq 1 ]; then ok "all three print the same tuple $(grep -m1 '^(' "$T/out/last.out")"
    else fail "chatterbox tuples: $n lines, $l distinct"; cat "$T/out/last.out"; fi
    cp "$T/out/last.out" "$T/out/chatterbox-c.out"
}

handler chatterbox-erl
b_chatterbox-erl() {
    local c p1 p2 pe rc1 rc2
    c=$(take chatterbox-erl "chatterbox_ref main") || return
    # with two C nodes, the block's peers.json (ports 9001-9003) being in place
    start p1 cb1 "priv/bin/chatterbox -p 9001 --send-for 10 --wait-for 5 --with-seed 42"
    start p2 cb2 "priv/bin/chatterbox -p 9002 --send-for 10 --wait-for 5 --with-seed 42"
    if (cd "$W" && timeout 60 bash -c "$c") > "$T/out/cb3.out" 2> "$T/out/cb3.err"; then
        ok "chatterbox.md: the Erlang node exits 0"; else fail "chatterbox_ref exit $?"; cat "$T/out/cb3.err"; fi
    wait "$p1"; rc1=$?; wait "$p2"; rc2=$?; PIDS=()
    if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] &&
       [ "$(cat "$T/out/cb1.out" "$T/out/cb2.out" "$T/out/cb3.out" | grep '^(' | sort -u | wc -l)" -eq 1 ] &&
       [ "$(cat "$T/out/cb1.out" "$T/out/cb2.out" "$T/out/cb3.out" | grep -c '^(')" -eq 3 ]; then
        ok "two C nodes and the Erlang node print the same tuple"
    else fail "mixed chatterbox: $rc1 $rc2"; cat "$T/out/cb1.out" "$T/out/cb2.out" "$T/out/cb3.out"; fi
}

handler gossip-run
handler gossip-script
handler gossip-erl
b_gossip-script() { :; }        # run by b_gossip-run, alice being up
b_gossip-erl() { :; }           # likewise
b_gossip-run() {
    local c who pa pb pc pd rc
    c=$(take gossip-run "make" x) && run "gossip.md: make" 600 "$c"
    for who in alice bob carol; do
        c=$(take gossip-run "gossip_chat $who") || return
        mkfifo "$T/$who.in"
        start pid_"$who" "$who" "$c" "$T/$who.in"
    done
    exec 5<> "$T/alice.in" 6<> "$T/bob.in" 7<> "$T/carol.in"
    pa=$pid_alice; pb=$pid_bob; pc=$pid_carol
    # carol may reach bob before bob has joined alice: she then joins a
    # cluster of 2 and hears of alice from bob ("* alice@... joined")
    if await "$T/out/alice.out" "^\\* bob@$H joined" 30 && await "$T/out/alice.out" "^\\* carol@$H joined" 30 &&
       await "$T/out/carol.out" "^\\* joined through bob@$H: [23] members" 30 &&
       { grep -q "^\\* joined through bob@$H: 3 members" "$T/out/carol.out" ||
         await "$T/out/carol.out" "^\\* alice@$H joined" 30; }; then ok "gossip.md: bob and carol joined"
    else fail "gossip: joins"; cat "$T/out/alice.out" "$T/out/carol.out"; fi
    echo "hello" >&6
    if await "$T/out/alice.out" "^\\[bob@$H\\] hello$" 30 && await "$T/out/carol.out" "^\\[bob@$H\\] hello$" 30; then
        ok "a line typed at bob is shown as [bob@$H] hello"; else fail "bob's line"; fi
    # the script, through alice
    local s; s=$(take gossip-script "printf") && c=$(take gossip-script "gossip_chat bot") &&
        run "gossip.md: the scripted bot" 60 "$s && $c" &&
        { await "$T/out/alice.out" "^\\[bot@$H\\] hello from a script$" 30 && ok "alice shows the bot's line" ||
          fail "the bot's line at alice"; }
    # the Erlang reference peer, joining alice
    c=$(take gossip-erl "-run gossip_ref main") || return
    mkfifo "$T/dave.in"
    start pd dave "$c" "$T/dave.in"
    exec 8<> "$T/dave.in"
    if await "$T/out/alice.out" "^\\* dave@$H joined" 30 && echo "hi dave" >&6 &&
       await "$T/out/dave.out" "^\\[bob@$H\\] hi dave$" 30; then
        ok "gossip.md: dave (gossip_ref) joins and chats"; else fail "dave"; cat "$T/out/dave.out"; fi
    for who in 8:pd 6:pb 7:pc 5:pa; do
        echo /quit >&"${who%%:*}"
    done
    for p in $pd $pb $pc $pa; do
        wait "$p"; rc=$?
        [ $rc -eq 0 ] && ok "a chat node leaves on /quit with status 0" || fail "chat node exit $rc on /quit"
    done
    PIDS=()
    exec 5>&- 6>&- 7>&- 8>&-
}

handler gossip-tests
b_gossip-tests() {
    local c
    # its codec and join cases only: the whole simulation (a minute) is
    # make test's C unit stage
    c=$(take gossip-tests "gossip_sim_test") &&
        run "gossip.md: make san gossip_sim_test && run it (GOSSIP_SIM_ONLY=join)" 600 "GOSSIP_SIM_ONLY=join; export GOSSIP_SIM_ONLY; $c"
    exempt gossip-tests "rebar3 ct --suite gossip_SUITE" "run by make test's Common Test stage"
}

# ---- run ---------------------------------------------------------------------
for name in "${HANDLED[@]}"; do
    [ -f "$T/blocks/$name" ] || fail "docs_test.sh has a handler for $name, but no doc has its marker"
done
for w in "$T"/blocks/*.where; do
    name=$(basename "$w" .where)
    case " ${HANDLED[*]} " in *" $name "*) ;; *) fail "$(cat "$w"): marker $name has no handler in docs_test.sh" ;; esac
done
for name in "${HANDLED[@]}"; do
    [ -f "$T/blocks/$name" ] || continue
    echo "== $name ($(cut -d' ' -f1 "$T/blocks/$name.where"))"
    "b_$name"
    block_done "$name"
done
finish
