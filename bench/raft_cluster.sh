# raft_cluster.sh - sourced by the raft_kv shell benches (raft_catchup.sh,
# raft_soak.sh): a three-node durable C cluster of their own (a temp dir,
# unique names and cookie, a peers file), started and stopped by pid, and
# its status read through `raft_kv status --json`.
T=$(mktemp -d /tmp/raft_bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
COOKIE=rb_$$
HOST=$(hostname -s)
names=(); for i in 1 2 3; do names+=("rb${i}_$$"); done
printf '{"cookie": "%s", "nodes": [{"name": "%s@%s", "id": 1}, {"name": "%s@%s", "id": 2}, {"name": "%s@%s", "id": 3}]}\n' \
    "$COOKIE" "${names[0]}" "$HOST" "${names[1]}" "$HOST" "${names[2]}" "$HOST" > "$T/peers.json"
NODE_PIDS=()
start() {   # start node I (its pid in NODE_PIDS[I])
    priv/bin/raft_kv --peers "$T/peers.json" --id "$1" --data-dir "$T/d$1" --quiet \
        > "$T/n$1.log" 2>&1 &
    NODE_PIDS[$1]=$!
    PIDS+=("$!")
}
node_name() { echo "${names[$(($1 - 1))]}@$HOST"; }
status() {  # status of node I: one JSON object a member, a line each
    priv/bin/raft_kv status --sname "st$$_$RANDOM" --cookie "$COOKIE" --node "$(node_name "$1")" --json 2>/dev/null
}
field() {   # field F of member I from status rows on stdin
    python3 -c "import json,sys; r=[m for m in map(json.loads, sys.stdin) if m.get('id')==$1]; print(r[0].get('$2',0) if r else 0)"
}
leader_id() { python3 -c "import json,sys; l=[r['id'] for r in map(json.loads, sys.stdin) if r.get('role')=='leader']; print(l[0] if l else '')"; }
await_leader() {   # sets LEADER (30 s at most)
    local deadline=$((SECONDS + 30))
    LEADER=""
    until [ -n "$LEADER" ]; do
        [ $SECONDS -lt $deadline ] || { echo "$0: no leader in 30 s"; exit 1; }
        sleep 0.2
        LEADER=$(status 1 | leader_id)
    done
}
load() {   # raft_kv load against node I with the remaining flags; its pid in LOAD
    local n=$1; shift
    priv/bin/raft_kv load --sname "ld$$_$RANDOM" --cookie "$COOKIE" --node "$(node_name "$n")" \
        "$@" > "$T/load.log" 2>&1 &
    LOAD=$!
    PIDS+=("$LOAD")
}
rss_kib() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
disk_kib() { du -sk "$1" | cut -f1; }
