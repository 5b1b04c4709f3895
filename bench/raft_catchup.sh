#!/usr/bin/env bash
# raft_catchup.sh - how long a follower that missed BENCH_CATCHUP_ENTRIES
# entries (default 1,000,000) takes to catch up, and what the leader's
# memory and data directory hold meanwhile.  Three durable C nodes
# (peers file, --data-dir, fsync, default snapshot settings); follower 3 is
# stopped, `raft_kv load` writes until the leader's commit index has grown
# by that many entries, then the follower starts again from its data
# directory and we time it until its last_applied reaches the leader's
# commit index (it comes back through InstallSnapshot plus the log after
# the snapshot).  Then the whole cluster is restarted and timed until every
# node has applied all of it again (bounded by the store and the log after
# the snapshot, not by what was ever written).  Prints one labelled row
# per measure.  Run by make bench.
set -u
cd "$(dirname "$0")/.." || exit 2
N=${BENCH_CATCHUP_ENTRIES:-1000000}
. bench/raft_cluster.sh
start 1; start 2; start 3; F=${NODE_PIDS[3]}
await_leader
leader=$LEADER
if [ "$leader" = 3 ]; then   # the follower to stop must not lead
    priv/bin/raft_kv admin --sname tr$$ --cookie "$COOKIE" --node "$(node_name 3)" transfer 1 >/dev/null 2>&1
    leader=1
fi
kill "$F"; wait "$F" 2>/dev/null
base=$(status "$leader" | field "$leader" commit_index)
load "$leader" --inflight 256 --seconds 3600
while :; do
    c=$(status "$leader" | field "$leader" commit_index)
    [ -n "$c" ] && [ "$((c - base))" -ge "$N" ] && break
    kill -0 "$LOAD" 2>/dev/null || { echo "raft_catchup: the load stopped"; cat "$T/load.log"; exit 1; }
    sleep 1
done
kill "$LOAD"; wait "$LOAD" 2>/dev/null
target=$(status "$leader" | field "$leader" commit_index)
rss=$(rss_kib "${NODE_PIDS[$leader]}")
disk=$(disk_kib "$T/d$leader")
t0=$(date +%s.%N)
start 3
deadline=$((SECONDS + 300))
until [ "$(status 3 | field 3 last_applied)" -ge "$target" ] 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "raft_catchup: not caught up in 300 s"; exit 1; }
    sleep 0.05
done
t1=$(date +%s.%N)
printf 'raft_catchup: follower that missed %d entries (leader at %d): caught up in %.2f s\n' \
    "$((target - base))" "$target" "$(echo "$t1 - $t0" | bc)"
printf 'raft_catchup: leader RSS %d KiB, leader data directory %d KiB after %d entries\n' \
    "$rss" "$disk" "$target"
restart_timed raft_catchup
