#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets into _build/fuzz/ and runs each for
# $FUZZ_SECONDS seconds (default 20) on a fresh copy of its seed corpus.
#
#   bash test/fuzz/run.sh                      # every target
#   FUZZ_SECONDS=300 bash test/fuzz/run.sh     # longer
#   bash test/fuzz/run.sh fuzz_dist            # some targets only
#
# Prints "fuzz_X: ok (N runs)" per target, or the crash and where its input
# was saved; exits non-zero if any target crashed or failed to build.
# Everything it writes is under _build/fuzz/.
set -u

cd "$(dirname "$0")/../.." || exit 2

CC=${FUZZ_CC:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
EI_DIR=${EI_DIR:-$(erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)}
[ -n "$EI_DIR" ] || EI_DIR=/usr/lib/erlang/lib/erl_interface-5.3

OUT=_build/fuzz
OBJ=$OUT/obj
ALL_TARGETS="fuzz_term fuzz_dist fuzz_handshake fuzz_epmd fuzz_raft_wire fuzz_peers fuzz_gossip_wire fuzz_chatterbox_wire fuzz_snapshot"
TARGETS=${*:-$ALL_TARGETS}

# The pure parts of the runtime; epmd.c needs libuv symbols, handshake.c
# libcrypto, the term code libei.
NODE_SRC="term_check term_match term_build term_format atom buf dist handshake epmd addr"
# Targets that need the whole runtime (Subjects) or a protocol's decoders.
FULL_SRC="c_src/node/*.c c_src/raft/raft_wire.c c_src/raft/raft_conf.c c_src/raft/raft_kv.c c_src/raft/raft_log.c"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=undefined
        -I$EI_DIR/include -I/usr/include/cjson"
LDLIBS="-L$EI_DIR/lib -lei -luv -lcjson -lssl -lcrypto -lz -lpthread -lm"

export ASAN_OPTIONS="detect_stack_use_after_return=1:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

mkdir -p "$OBJ" "$OUT/artifacts" "$OUT/logs" || exit 2

# ---- build -----------------------------------------------------------------
objs=""
for s in $NODE_SRC; do
    src=c_src/node/$s.c
    o=$OBJ/$s.o
    if [ ! -e "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find c_src/node -name '*.h' -newer "$o")" ]; then
        # shellcheck disable=SC2086
        $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$o" || { echo "build of $src failed"; exit 2; }
    fi
    objs="$objs $o"
done
for t in $TARGETS; do
    case $t in
        fuzz_raft_wire|fuzz_peers) srcs=$FULL_SRC; link="" ;;
        fuzz_snapshot) srcs="$FULL_SRC c_src/raft/raft_snapshot.c"; link="" ;;
        fuzz_gossip_wire) srcs="$FULL_SRC $(ls c_src/gossip/gc_*.c)"; link="" ;;
        fuzz_chatterbox_wire) srcs="$FULL_SRC $(ls c_src/chatterbox/cb_*.c)"; link="" ;;
        *) srcs=""; link=$objs ;;
    esac
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer "test/fuzz/$t.c" $srcs $link $LDLIBS -o "$OUT/$t" ||
        { echo "build of $t failed"; exit 2; }
done

# ---- run -------------------------------------------------------------------
status=0
for t in $TARGETS; do
    work=$OUT/corpus/$t
    log=$OUT/logs/$t.log
    rm -rf "$work"
    mkdir -p "$work"
    cp test/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    rm -f "$OUT/artifacts/$t"-*
    "$OUT/$t" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$t-" "$work" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "$t: ok (${runs:-?} runs)"
    else
        status=1
        artifact=$(ls "$OUT/artifacts/$t"-* 2>/dev/null | head -1)
        echo "$t: CRASH (exit $rc) after ${runs:-?} runs; input: ${artifact:-none}; log: $log"
        grep -E 'ERROR:|SUMMARY:|invariant failed|runtime error|^    #[0-9] ' "$log" | head -20 | sed 's/^/    /'
    fi
done
exit $status
