#!/usr/bin/env bash
# Replication with TCP timestamp offsets that differ between the two server copies.
# Both server namespaces share one kernel, so by default their TSval offsets are equal
# and a missing TSecr/TSval translation could go unnoticed. Here the BACKUP server runs
# with net.ipv4.tcp_timestamps=2 (timestamps on, no random per-connection offset) while
# the primary server keeps the default (random offset), so TS deltas are large.
# Phase 1 (large TS delta): a short redis-benchmark (pipelining off and on) and the
#   scripted workload; asserts zero client errors, DEBUG DIGEST/DBSIZE equal, the backup
#   server's TCP healthy (ss, nstat), and the backup's /flows entry of an idle
#   connection with ts_known and a large ts_delta, its bytes equal and fully acked on S2.
# Phase 2 (timestamps off on both servers, new connections): the same workload still
#   replicates; the new idle connection's flow has ts_known false.
# Throughout: divergence 0 on the backup, nothing received by the switch from p2.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli redis-benchmark nstat ss jq curl "$FTP_PYTHON"

topo_init
repl_setup "" "net.ipv4.tcp_timestamps=2"
repl_write_tools
repl_start_pair

# workload LABEL: benchmark (P1 and P16) + scripted mix with a key prefix per phase.
workload() {
  local label=$1 out p
  # Reply lengths independent of the interleaving of connections (see test_replication_redis.sh).
  for p in 1 16; do
    out=$({
      pair_client timeout 30 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
        -c 4 -n 4000 -r 100000 -t set,incr,hset -P "$p" --csv &&
        pair_client timeout 30 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
          -c 4 -n 4000 -r 100000 -P "$p" --csv LPUSH 'list:__rand_int__' v
    } 2>&1) || repl_fail "$label redis-benchmark -P $p: $(tail -n 5 <<<"$out")"
    ! grep -qi error <<<"$out" || repl_fail "$label redis-benchmark -P $p errors: $(grep -i error <<<"$out" | head -n 3)"
    [[ $(grep -c '^"\(SET\|INCR\|LPUSH[^"]*\|HSET\)","[1-9]' <<<"$out") == 4 ]] ||
      repl_fail "$label redis-benchmark -P $p incomplete: $out"
  done
  out=$(pair_client timeout 30 "$FTP_PYTHON" "$TOPO_DIR/kv_mix.py" --host "$TOPO_SERVICE_IP" \
    --conns 3 --ops 2000 --batch 40 --seconds 20) || repl_fail "$label scripted workload: $out"
  ftp_log "$label: benchmark done, scripted workload $out"
}

# check_phase LABEL HOLD_PORT: replicas, TCP health of the backup server, proxies.
check_phase() {
  local label=$1 port=$2 st2
  repl_assert_no_failover
  repl_wait_replicas_equal 5 || repl_fail "$label: S1 and S2 hold different data"
  ((REPL_DBSIZE > 1000)) || repl_fail "$label: DBSIZE only $REPL_DBSIZE"
  repl_compare_cmdstats set incr lpush hset
  repl_no_error_replies
  repl_check_backup_tcp 3
  repl_check_holder "$port"
  st2=$(topo_status "$TOPO_NS_P2") || repl_fail "backup /status"
  jq -e '.state == "backup" and .tcp.divergence == 0 and .log.connected == true' <<<"$st2" >/dev/null ||
    repl_fail "$label: backup state $(jq -r .state <<<"$st2"), log $(jq -c .log <<<"$st2"), tcp $(jq -c .tcp <<<"$st2")"
  ftp_log "$label: backup tcp $(jq -c '.tcp | {flows_created, translated_in, held_total, hold_timeouts, divergence, inject_backpressure, paws_clamped, stale_retransmits}' <<<"$st2")"
}

# ---- phase 1: the backup server without TS offset ---------------------------------------
repl_nstat_snapshot p1-before
repl_start_holder hold1 100
workload "large TS delta"
check_phase "large TS delta" "$REPL_HOLD_PORT"
repl_nstat_snapshot p1-after
repl_nstat_check p1-before p1-after
flow=$(repl_flow "$TOPO_NS_P2" "$REPL_HOLD_PORT")
[[ -n $flow ]] || repl_fail "idle connection :$REPL_HOLD_PORT not in the backup's /flows"
ftp_log "backup flow of the idle connection: $flow"
jq -e '.ts_known == true and .delta_known == true' <<<"$flow" >/dev/null || repl_fail "TS/seq delta not known: $flow"
dist=$(repl_ts_distance "$(jq -r .ts_delta <<<"$flow")")
((dist > 1000)) || repl_fail "ts_delta of the idle connection is small ($dist): the scenario does not exercise TS translation"
n_large=$(ip netns exec "$TOPO_NS_P2" curl -sf --max-time 2 "http://127.0.0.1:$TOPO_CONTROL_PORT/flows" |
  jq '[.flows[] | select(.ts_known and .ts_delta > 1 and .ts_delta < 4294967295)] | length')
ftp_log "flows with a large ts_delta: $n_large (idle connection: distance $dist from 0)"
topo_stop hold1 TERM 2 || true

# ---- phase 2: timestamps off on both servers ---------------------------------------------
topo_exec "$TOPO_NS_S1" sysctl -qw net.ipv4.tcp_timestamps=0
topo_exec "$TOPO_NS_S2" sysctl -qw net.ipv4.tcp_timestamps=0
repl_nstat_snapshot p2-before
repl_start_holder hold2 100
workload "timestamps off"
check_phase "timestamps off" "$REPL_HOLD_PORT"
repl_nstat_snapshot p2-after
repl_nstat_check p2-before p2-after
flow=$(repl_flow "$TOPO_NS_P2" "$REPL_HOLD_PORT")
[[ -n $flow ]] || repl_fail "idle connection :$REPL_HOLD_PORT not in the backup's /flows"
ftp_log "backup flow of the idle connection (timestamps off): $flow"
jq -e '.ts_known == false and .delta_known == true' <<<"$flow" >/dev/null ||
  repl_fail "timestamps off: expected ts_known false and the seq delta known: $flow"
topo_stop hold2 TERM 2 || true

rx_p2=$(repl_switch_rx_packets p2)
((rx_p2 == 0)) || repl_fail "switch port p2 received $rx_p2 packets from the backup proxy"
repl_assert_no_failover
ftp_log "PASS"
