#!/bin/sh
# otp27.sh - Erlang/OTP 27 (Debian 13 "trixie"'s erlang-nox) in a debootstrap
# chroot, for running the interop suites' peer nodes on OTP 27 while the host
# (and Common Test) stay on Debian 12's OTP 25.
#
#   scripts/otp27.sh setup          make the chroot (idempotent; 1-3 minutes
#                                   the first time), compile src/*.erl and
#                                   test/*.erl (suite code runs on peers too)
#                                   with OTP 27's erlc into $CNODE_OTP27_EBIN,
#                                   and write $CNODE_OTP27_EBIN/../bin/erl, a
#                                   one-line erl that runs the chroot's
#   scripts/otp27.sh erl ARGS...    run OTP 27's erl with ARGS
#   scripts/otp27.sh erlc ARGS...   run OTP 27's erlc with ARGS
#   scripts/otp27.sh ebin           print the OTP 27 ebin of the peers
#   scripts/otp27.sh check          exit 0 if the chroot is ready
#
# The chroot shares the host's network namespace, so its nodes register with
# the host's epmd and reach host nodes as usual.  Every command runs in a
# private mount namespace (unshare -m) in which /proc, /dev, /tmp, /etc/hosts,
# ~/.erlang.cookie and the project tree are mounted into the chroot at their
# host paths; the mounts vanish with the namespace when the command exits, however it
# exits, so nothing is left mounted.  `erl` keeps its pid through every exec
# (unshare, chroot, erl, erlexec), so callers can stop it by that pid.
#
# Environment:
#   CNODE_OTP27_DIR    where the chroot lives (default /var/cache/cnode-otp27;
#                      the chroot is $CNODE_OTP27_DIR/root)
#   CNODE_OTP27_MIRROR Debian mirror (default http://deb.debian.org/debian)
#   CNODE_OTP27_EBIN   the OTP 27 build of src/ and test/ (default
#                      _build/otp27/ebin)
# Needs root (debootstrap, chroot, mount).
set -eu

ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
DIR=${CNODE_OTP27_DIR:-/var/cache/cnode-otp27}
CHROOT=$DIR/root
MIRROR=${CNODE_OTP27_MIRROR:-http://deb.debian.org/debian}
EBIN=${CNODE_OTP27_EBIN:-$ROOT_DIR/_build/otp27/ebin}
SUITE=trixie
# (not erlang-common-test: it drags in desktop packages that fail to
# configure in a chroot; the host's ct.hrl is used to compile the suites)
PKGS=erlang-nox
MARK=$CHROOT/.cnode-otp27-ready

die() { echo "otp27.sh: $*" >&2; exit 1; }

# ready when made from this package list (a changed list makes it anew)
ready() { [ -x "$CHROOT/usr/bin/erl" ] && [ "$(cat "$MARK" 2>/dev/null)" = "$PKGS" ]; }

make_chroot() {
    ready && return 0
    [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap and chroot)"
    mkdir -p "$DIR"
    # one maker at a time; a second caller waits and then finds it ready
    exec 9>"$DIR/.lock"
    flock 9
    ready && return 0
    command -v debootstrap >/dev/null 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >&2 ||
              die "cannot install debootstrap"; }
    TMP=$DIR/root.tmp.$$
    rm -rf "$DIR"/root.tmp.*
    echo "otp27.sh: debootstrap $SUITE with $PKGS into $CHROOT (a few minutes)" >&2
    # in a mount namespace of its own: what debootstrap mounts in the new
    # root (proc, sys) goes with it, also when it fails or is killed
    if ! unshare --mount --propagation private \
            debootstrap --variant=minbase --include=$PKGS "$SUITE" "$TMP" "$MIRROR" \
            > "$DIR/debootstrap.log" 2>&1; then
        tail -30 "$DIR/debootstrap.log" >&2
        rm -rf "$TMP"
        die "debootstrap of $SUITE from $MIRROR failed (log: $DIR/debootstrap.log)"
    fi
    [ -x "$TMP/usr/bin/erl" ] || die "no erl in the new chroot"
    rm -rf "$CHROOT"
    mv "$TMP" "$CHROOT"
    chroot "$CHROOT" erl -noshell -eval \
        'io:format("~s~n", [erlang:system_info(otp_release)]), halt().' > "$CHROOT/.otp_release"
    echo "$PKGS" > "$MARK"
    exec 9>&-
    echo "otp27.sh: chroot ready: OTP $(cat "$CHROOT/.otp_release")" >&2
}

# in_chroot PROG ARGS...: PROG of the chroot, with the bind mounts above, in
# a private mount namespace; the current directory is kept when it exists
# inside (it does for anything under the project tree or /tmp).
in_chroot() {
    ready || die "no OTP 27 chroot at $CHROOT; run: scripts/otp27.sh setup"
    # an OTP 25 parent's erl exports these; OTP 27's erl must not see them
    unset BINDIR ROOTDIR EMU PROGNAME ERL_LIBS 2>/dev/null || true
    exec unshare --mount --propagation private /bin/sh -ec '
        C=$1; P=$2; shift 2
        bind() { mkdir -p "$C$1"; mount --rbind "$1" "$C$1"; }
        mount -t proc proc "$C/proc"
        mount --rbind /dev "$C/dev"
        mount --rbind /tmp "$C/tmp"
        [ -f "$C/etc/hosts" ] || : > "$C/etc/hosts"
        mount --bind /etc/hosts "$C/etc/hosts"
        bind "$P"
        # the default cookie, so that a bare `otp27.sh erl -sname x` joins
        # the host nodes (no single quotes in this script: it is one)
        if [ -n "${HOME:-}" ] && [ -f "$HOME/.erlang.cookie" ]; then
            mkdir -p "$C$HOME"; [ -e "$C$HOME/.erlang.cookie" ] || : > "$C$HOME/.erlang.cookie"
            mount --bind "$HOME/.erlang.cookie" "$C$HOME/.erlang.cookie"
        fi
        exec chroot "$C" /bin/sh -c "cd \"\$0\" 2>/dev/null || cd /; exec \"\$@\"" "$PWD" "$@"
    ' sh "$CHROOT" "$ROOT_DIR" "$@"
}

compile_peers() {
    mkdir -p "$EBIN"
    # the OTP 27 beams are rebuilt when any source is newer than the stamp
    STAMP=$EBIN/.stamp
    if [ -f "$STAMP" ] && [ -z "$(find "$ROOT_DIR/src" "$ROOT_DIR/test" "$ROOT_DIR/scripts/otp27" -name '*.erl' -newer "$STAMP")" ]; then
        return 0
    fi
    # src/*.erl and the test modules peer nodes run (suite cases and
    # cnode_test_lib), and scripts/otp27's stand-ins for common_test;
    # include_lib("common_test/include/ct.hrl") falls back to the -I path
    INC=$EBIN/../include
    mkdir -p "$INC/common_test/include"
    cp /usr/lib/erlang/lib/common_test-*/include/ct.hrl "$INC/common_test/include/"
    (cd "$ROOT_DIR" && "$0" erlc -o "$EBIN" -I "$INC" -I src \
         src/*.erl test/*.erl scripts/otp27/*.erl) ||
        die "OTP 27 erlc failed"
    touch "$STAMP"
}

# $EBIN/../bin/erl: OTP 27's erl as one executable path, for callers that
# take a program, not a command line (open_port, peer's exec)
erl_script() {
    B=$EBIN/../bin
    mkdir -p "$B"
    printf '#!/bin/sh\n# OTP 27 erl (made by scripts/otp27.sh setup)\nexec "%s" erl "$@"\n' \
        "$ROOT_DIR/scripts/otp27.sh" > "$B/erl.tmp"
    chmod +x "$B/erl.tmp"
    mv "$B/erl.tmp" "$B/erl"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) make_chroot; compile_peers; erl_script; echo "$EBIN" ;;
    check) ready ;;
    ebin) echo "$EBIN" ;;
    erl|erlc|escript) in_chroot "/usr/bin/$cmd" "$@" ;;
    run) in_chroot "$@" ;;
    *) sed -n '2,30s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
