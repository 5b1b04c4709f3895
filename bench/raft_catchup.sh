#!/usr/bin/env bash
# raft_catchup.sh - how long a follower that missed BENCH_CATCHUP_ENTRIES
# entries (default 1,000,000) takes to catch up, and what the leader's
# memory and data directory hold meanwhile.  Three durable C nodes
# (peers file, --data-dir, fsync, default snapshot settings); follower 3 is
# stopped, `raft_kv load` writes until the leader's commit index has grown
# by that many entries, then the follower starts again from its data
# directory and we time it until its last_applied reaches the leader's
# commit index (it comes back through InstallSnapshot plus the log after
# the snapshot).  Prints one labelled row per measure.  Run by make bench.
set -u
cd "$(dirname "$0")/.." || exit 2
N=${BENCH_CATCHUP_ENTRIES:-1000000}
T=$(mktemp -d /tmp/raft_catchup.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
COOKIE=catchup_$$
HOST=$(hostname -s)
names=(); for i in 1 2 3; do names+=("cu${i}_$$"); done
printf '{"cookie": "%s", "nodes": [{"name": "%s@%s", "id": 1}, {"name": "%s@%s", "id": 2}, {"name": "%s@%s", "id": 3}]}\n' \
    "$COOKIE" "${names[0]}" "$HOST" "${names[1]}" "$HOST" "${names[2]}" "$HOST" > "$T/peers.json"
start() {   # start node I; its pid in NODE_PID
    priv/bin/raft_kv --peers "$T/peers.json" --id "$1" --data-dir "$T/d$1" --quiet \
        > "$T/n$1.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
}
status() {  # status of node I as JSON rows (one per member)
    priv/bin/raft_kv status --sname "st$$_$RANDOM" --cookie "$COOKIE" --node "${names[$(($1 - 1))]}@$HOST" --json 2>/dev/null
}
field() {   # field F of member I from status --json rows (one object a line) on stdin
    python3 -c "import json,sys; r=[m for m in map(json.loads, sys.stdin) if m.get('id')==$1]; print(r[0].get('$2',0) if r else 0)"
}
start 1; start 2; start 3; F=$NODE_PID
leader_id() { python3 -c "import json,sys; l=[r['id'] for r in map(json.loads, sys.stdin) if r.get('role')=='leader']; print(l[0] if l else '')"; }
deadline=$((SECONDS + 30))
leader=""
until [ -n "$leader" ]; do
    [ $SECONDS -lt $deadline ] || { echo "raft_catchup: no leader in 30 s"; exit 1; }
    sleep 0.2
    leader=$(status 1 | leader_id)
done
if [ "$leader" = 3 ]; then   # the follower to stop must not lead
    priv/bin/raft_kv admin --sname tr$$ --cookie "$COOKIE" --node "${names[2]}@$HOST" transfer 1 >/dev/null 2>&1
    leader=1
fi
kill "$F"; wait "$F" 2>/dev/null
base=$(status "$leader" | field "$leader" commit_index)
priv/bin/raft_kv load --sname ld$$ --cookie "$COOKIE" --node "${names[$((leader - 1))]}@$HOST" \
    --inflight 256 --seconds 3600 > "$T/load.log" 2>&1 &
LOAD=$!; PIDS+=("$LOAD")
while :; do
    c=$(status "$leader" | field "$leader" commit_index)
    [ -n "$c" ] && [ "$((c - base))" -ge "$N" ] && break
    kill -0 "$LOAD" 2>/dev/null || { echo "raft_catchup: the load stopped"; cat "$T/load.log"; exit 1; }
    sleep 1
done
kill "$LOAD"; wait "$LOAD" 2>/dev/null
target=$(status "$leader" | field "$leader" commit_index)
lpid=${PIDS[$((leader - 1))]}
rss=$(awk '/VmRSS/ {print $2}' /proc/"$lpid"/status)
disk=$(du -sk "$T/d$leader" | cut -f1)
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
