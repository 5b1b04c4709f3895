#!/bin/sh
# deps.sh - installs what building and testing need, from Debian, if missing.
# Used by `make deps` (and so by `make demo`, `make test`, `make bench`) and
# by CI.  Needs root or sudo only when something is missing.
set -e

PKGS="build-essential clang llvm libclang-rt-14-dev pkg-config make \
erlang-nox erlang-dev erlang-src rebar3 erlang-common-test \
libuv1-dev libcjson-dev uthash-dev libssl-dev zlib1g-dev iproute2 iptables procps \
chromium tmux debootstrap"

have() {
    command -v erl >/dev/null 2>&1 &&
    command -v rebar3 >/dev/null 2>&1 &&
    command -v clang >/dev/null 2>&1 &&
    command -v epmd >/dev/null 2>&1 &&
    [ -f /usr/include/uv.h ] &&
    [ -f /usr/include/cjson/cJSON.h ] &&
    [ -f /usr/include/uthash.h ] &&
    [ -f /usr/include/openssl/evp.h ] &&
    [ -f /usr/include/zlib.h ] &&
    command -v chromium >/dev/null 2>&1 &&
    command -v iptables >/dev/null 2>&1 &&
    command -v tmux >/dev/null 2>&1 &&
    command -v debootstrap >/dev/null 2>&1 &&
    ls /usr/lib/erlang/lib/erl_interface-*/include/ei.h >/dev/null 2>&1 &&
    ls /usr/lib/erlang/lib/common_test-* >/dev/null 2>&1
}

FORCE=0
BENCH=0
LIST=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        --bench) BENCH=1 ;;               # etcd, for make bench's comparison
        --list) LIST=1 ;;                 # print the package names (for CI)
        *) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
if [ $BENCH -eq 1 ]; then
    PKGS="$PKGS etcd-server etcd-client"
fi

if [ $LIST -eq 1 ]; then
    echo $PKGS
    exit 0
fi

have_all() {
    have && { [ $BENCH -eq 0 ] || command -v etcd >/dev/null 2>&1; }
}

if [ $FORCE -eq 0 ] && have_all; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "deps.sh: installing: $PKGS" >&2
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $PKGS
have_all || { echo "deps.sh: still missing something after apt-get" >&2; exit 1; }
