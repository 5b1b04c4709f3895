#!/usr/bin/env bash
# raft_soak.sh - does raft_kv run for long in bounded memory and disk?
# Three durable C nodes (default snapshot settings) under constant writes
# over SOAK_KEYS keys (default 10,000: each put, then deleted, in turn, so
# the store stays that size while the log grows by every write) for
# SOAK_SECONDS (default 3600) at SOAK_INFLIGHT requests in flight (64).
# Every SOAK_EVERY seconds (60) a row: entries committed, each node's RSS
# and data directory.  At the end, after warm-up (a fifth of the run), the
# peak RSS and data directory of the first half of the rows against the
# second (a data directory rises and falls with each snapshot, so peaks
# are compared, not single rows); flat means within 20%.  Then the whole cluster is restarted and
# timed until every node has applied all it had (raft_cluster.sh).  Run by `make soak` (SOAK_SECONDS).
set -u
cd "$(dirname "$0")/.." || exit 2
SECS=${SOAK_SECONDS:-3600}
EVERY=${SOAK_EVERY:-60}
. bench/raft_cluster.sh
start 1; start 2; start 3
await_leader
load "$LEADER" --inflight "${SOAK_INFLIGHT:-64}" --keys "${SOAK_KEYS:-10000}" --seconds "$SECS"
printf 'raft_soak: %-8s %12s %10s %10s %10s %10s %10s %10s\n' "SECONDS" "COMMITTED" \
    "RSS1_KiB" "RSS2_KiB" "RSS3_KiB" "DISK1_KiB" "DISK2_KiB" "DISK3_KiB"
rows=()
t0=$SECONDS
while kill -0 "$LOAD" 2>/dev/null; do
    sleep "$EVERY"
    c=$(status "$LEADER" | field "$LEADER" commit_index)
    r1=$(rss_kib "${NODE_PIDS[1]}"); r2=$(rss_kib "${NODE_PIDS[2]}"); r3=$(rss_kib "${NODE_PIDS[3]}")
    d1=$(disk_kib "$T/d1"); d2=$(disk_kib "$T/d2"); d3=$(disk_kib "$T/d3")
    printf 'raft_soak: %-8d %12s %10s %10s %10s %10s %10s %10s\n' "$((SECONDS - t0))" "$c" \
        "$r1" "$r2" "$r3" "$d1" "$d2" "$d3"
    rows+=("$((SECONDS - t0)) $(printf '%s\n' "$r1" "$r2" "$r3" | sort -n | tail -1) $(printf '%s\n' "$d1" "$d2" "$d3" | sort -n | tail -1)")
done
tail -1 "$T/load.log"
restart_timed raft_soak
printf '%s\n' "${rows[@]}" | awk -v warm="$((SECS / 5))" '
    $1 >= warm { t[n] = $1; r[n] = $2; d[n] = $3; n++ }
    END {
        if (n < 2) { print "raft_soak: too short to judge (fewer than 2 rows after warm-up)"; exit 1 }
        h = int(n / 2)
        for (i = 0; i < n; i++) {
            if (i < h) { if (r[i] > r1) r1 = r[i]; if (d[i] > d1) d1 = d[i] }
            else       { if (r[i] > r2) r2 = r[i]; if (d[i] > d2) d2 = d[i] }
        }
        printf "raft_soak: after warm-up (%d s), peak of the first half against the second: largest RSS %d -> %d KiB (%+.1f%%), largest data directory %d -> %d KiB (%+.1f%%)\n",
               warm, r1, r2, 100 * (r2 - r1) / r1, d1, d2, 100 * (d2 - d1) / d1 }'
