#!/bin/sh
# manpage.sh BINARY VERSION - a man page (section 1) made from the binary's
# --help, for `make install`: NAME, SYNOPSIS and OPTIONS as --help prints
# them, so the page never disagrees with the program.
set -eu
bin=$1
version=$2
name=$(basename "$bin")
help=$("$bin" --help)
case $name in
    raft_kv)     summary="a Raft KV node that joins the Gleam raft_kv emulation's clusters" ;;
    gossip_chat) summary="a gossip chat node on an Erlang cluster" ;;
    chatterbox)  summary="the chatterbox broadcast node (CH/OTP task)" ;;
    echo_node)   summary="the smallest C node: an echo process" ;;
    *)           summary="a C node on an Erlang cluster" ;;
esac
printf '.TH %s 1 "" "cnode %s" "User Commands"\n' "$(echo "$name" | tr a-z A-Z)" "$version"
printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
printf '.SH SYNOPSIS AND OPTIONS\n.nf\n'
echo "$help" | sed -e 's/\\/\\\\/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"
printf '.fi\n.SH SEE ALSO\nerl(1), epmd(1); README.md and docs/ of the cnode sources\n'
