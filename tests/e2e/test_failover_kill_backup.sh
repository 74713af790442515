#!/usr/bin/env bash
# Failover end to end: kill -9 the BACKUP proxy (and take its server's link down) while
# a single-connection writer and redis-benchmark run. Asserts:
#   - the primary goes live alone: its history is primary->arbitrating->live with the
#     arbiter answer "won"; it held outputs while arbitrating and released them after;
#   - the writer kept its one TCP connection (same local port, no error, exit 0) and
#     wrote on after the failover;
#   - every acknowledged write is readable with its value through the service IP and
#     directly on S1;
#   - redis-benchmark completed with no error, only a bounded stall;
#   - a new connection after the failover works and lands on S1.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

BENCH_REQUESTS=${BENCH_REQUESTS:-30000}
fo_setup

fo_start_kv kv 6
fo_start_bench bench "$BENCH_REQUESTS" 4
sleep 1.5
port_before=$(fo_kv_local_port kv)
[[ -n $port_before ]] || fo_fail "kv_client has no established connection before the kill"
topo_alive bench || fo_fail "redis-benchmark finished before the kill: raise BENCH_REQUESTS"
acked_before=$(fo_acked_count kv)

fo_expect_roles "before the fault"
t_kill=$(fo_now)
topo_stop backup KILL 2 || true
ip -n "$TOPO_NS_S2" link set eth0 down
ftp_log "killed the backup after $acked_before acknowledged writes"

pair_wait_state "$TOPO_NS_P1" live 5 || fo_fail "primary did not go live: $(pair_state "$TOPO_NS_P1") $(fo_transitions "$TOPO_NS_P1")"
live_wall=$(fo_transition_wall "$TOPO_NS_P1" live)
hist=$(fo_transitions "$TOPO_NS_P1")
ftp_log "primary transitions: $hist"
[[ $hist =~ primary-\>arbitrating:\ arbitrating-\>live:won$ ]] || fo_fail "unexpected primary history: $hist"
[[ $(fo_jq "$TOPO_NS_P1" .output_gate.held) == 0 ]] || fo_fail "live primary still holds outputs"

fo_check_clients_after "$TOPO_NS_S1" S1 "$port_before" "$acked_before"

live_after=$(awk -v a="$live_wall" -v b="$t_kill" 'BEGIN { printf "%.3f", a - b }')
ftp_log "METRIC kill_backup live_after_kill_s=$live_after kv_max_gap_s=$FO_KV_MAX_GAP bench_max_latency_ms=$FO_BENCH_MAX_MS"
ftp_log "PASS"
