#!/usr/bin/env bash
# install_test.sh - `make install` into a fresh prefix, then programs built
# outside this tree against the installed copy, as a user builds them:
# echo_node.c (the example to copy) compiled with `pkg-config --cflags
# --libs cnode`, linked to the shared library (its soname), answers a
# gen_server:call from a real erl node; the same source linked statically
# (`pkg-config --static`) runs too; the installed binaries say their
# version.  Last line: "install_test: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
T=$(mktemp -d /tmp/cnode_install.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
passed=0
failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() { echo "install_test: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }

P=$T/prefix
if make -s install PREFIX="$P" > "$T/install.log" 2>&1; then ok "make install PREFIX=$P"
else cat "$T/install.log"; fail "make install"; finish; fi
for f in bin/raft_kv bin/gossip_chat bin/chatterbox bin/echo_node lib/libcnode.a \
         lib/libcnode.so lib/pkgconfig/cnode.pc include/cnode/cn.h include/cnode/cli.h \
         share/man/man1/raft_kv.1 share/man/man1/gossip_chat.1; do
    [ -e "$P/$f" ] || { fail "$f installed"; finish; }
done
ok "binaries, man pages, libraries, headers and cnode.pc in place"
if head -1 "$P/share/man/man1/raft_kv.1" | grep -q '^\.TH RAFT_KV 1' &&
   grep -q -- '--data-dir' "$P/share/man/man1/raft_kv.1"; then ok "raft_kv.1 is --help as a man page"
else fail "raft_kv.1"; fi
export PKG_CONFIG_PATH=$P/lib/pkgconfig
ver=$(pkg-config --modversion cnode)
if "$P/bin/raft_kv" --version | grep -q "^raft_kv $ver "; then ok "installed raft_kv --version is $ver"
else fail "installed raft_kv --version"; fi

mkdir -p "$T/src"
sed 's|"../node/cli.h"|<cnode/cli.h>|' c_src/echo/echo_node.c > "$T/src/echo.c"
# shellcheck disable=SC2046
if cc -Wall "$T/src/echo.c" $(pkg-config --cflags --libs cnode) -Wl,-rpath,"$P/lib" \
      -o "$T/echo_shared" 2> "$T/cc.log"; then ok "an outside program builds with pkg-config"
else cat "$T/cc.log"; fail "outside build (shared)"; finish; fi
if ldd "$T/echo_shared" | grep -q "libcnode.so.0 => $P/lib/"; then ok "it links the installed libcnode.so.0"
else ldd "$T/echo_shared"; fail "soname"; fi
# shellcheck disable=SC2046
if cc -Wall "$T/src/echo.c" $(pkg-config --cflags cnode) \
      $(pkg-config --static --libs cnode | sed "s|-lcnode|$P/lib/libcnode.a|") \
      -o "$T/echo_static" 2> "$T/cc2.log" && ! ldd "$T/echo_static" | grep -q libcnode; then
    ok "and links statically (pkg-config --static)"
else cat "$T/cc2.log"; fail "outside build (static)"; fi

# the shared build against a real erl node
cookie=inst_$$
name=inst_echo_$$
"$T/echo_shared" --sname "$name" --cookie "$cookie" > "$T/echo.out" 2> "$T/echo.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^ready ' "$T/echo.out" && break; sleep 0.1; done
node=$(sed -n 's/^ready //p' "$T/echo.out")
if [ -n "$node" ]; then ok "it registers as $node"; else cat "$T/echo.err"; fail "ready"; finish; fi
if timeout 60 erl -noshell -sname "inst_erl_$$" -setcookie "$cookie" -eval "
      N = '$node',
      pong = net_adm:ping(N),
      {hello, [1,2,3]} = gen_server:call({echo, N}, {hello, [1,2,3]}),
      halt(0)." > "$T/erl.log" 2>&1; then ok "an erl node pings it and calls its echo process"
else cat "$T/erl.log"; fail "erl call"; fi
kill "${PIDS[0]}"; wait "${PIDS[0]}"; rc=$?
PIDS=()
if [ "$rc" -eq 0 ]; then ok "it stops cleanly on SIGTERM"; else fail "exit status $rc on SIGTERM"; fi
if "$T/echo_static" --version | grep -q "echo_node $ver"; then ok "the static build runs"
else fail "static build runs"; fi
finish
