# raft_cluster.sh - sourced by the raft_kv shell benches (raft_catchup.sh,
# raft_soak.sh): a three-node durable C cluster of their own (a temp dir,
# unique names and cookie, a peers file), started and stopped by pid, its
# status read through `raft_kv status --json`, and a timed restart of all
# of it.
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
restart_timed() {   # LABEL: stops all three nodes (SIGTERM), starts them
    # again from their data directories and prints how long until each has
    # applied up to the highest commit index seen before the stop
    local i c target=0 t0 deadline
    for i in 1 2 3; do
        c=$(status "$i" | field "$i" commit_index)
        [ -n "$c" ] && [ "$c" -gt "$target" ] && target=$c
    done
    for i in 1 2 3; do kill "${NODE_PIDS[$i]}"; wait "${NODE_PIDS[$i]}" 2>/dev/null; done
    t0=$(date +%s.%N)
    start 1; start 2; start 3
    deadline=$((SECONDS + 600))
    for i in 1 2 3; do
        until [ "$(status "$i" | field "$i" last_applied)" -ge "$target" ] 2>/dev/null; do
            [ $SECONDS -lt $deadline ] || { echo "$0: node $i not applied up to $target in 600 s"; exit 1; }
            sleep 0.05
        done
    done
    printf '%s: full cluster restart after %d entries: all three applied up to %d in %.2f s (data directories %s KiB)\n' \
        "$1" "$target" "$target" "$(echo "$(date +%s.%N) - $t0" | bc)" \
        "$(for i in 1 2 3; do disk_kib "$T/d$i"; done | paste -sd/)"
}
rss_kib() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
disk_kib() { du -sk "$1" | cut -f1; }
