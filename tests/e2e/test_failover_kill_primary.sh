#!/usr/bin/env bash
# Failover end to end: kill -9 the PRIMARY proxy (and take its server's link down)
# while a single-connection writer and redis-benchmark run. Asserts:
#   - the backup goes live: its history is backup->arbitrating->live with the arbiter
#     answer "won", and it sent gratuitous ARPs;
#   - the writer kept its one TCP connection (same local port, no error, exit 0);
#   - every acknowledged write is readable with its value through the service IP and
#     directly on S2;
#   - redis-benchmark completed SET and GET with no error, only a bounded stall;
#   - a new connection after the failover works and lands on S2.
# FO_SERVER_TCP_TIMESTAMPS=0 (test_failover_ts_off.sh) turns TCP timestamps off in both
# server namespaces first and checks the connection runs without them; SACK stays on.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

BENCH_REQUESTS=${BENCH_REQUESTS:-30000}
# How long the kv client writes: the fault must land while it still runs (checked below).
KV_SECONDS=${FO_KV_SECONDS:-6}
fo_setup
ts_mode=${FO_SERVER_TCP_TIMESTAMPS:-1}
for ns in "$TOPO_NS_S1" "$TOPO_NS_S2"; do
  topo_exec "$ns" sysctl -qw "net.ipv4.tcp_timestamps=$ts_mode"
done

# The SYN-ACKs the client receives tell which TCP options the connections negotiated.
topo_spawn syn_cap "$TOPO_NS_C" tcpdump -i eth0 -n -U -w "$TOPO_DIR/syn_cap.pcap" \
  "src port $TOPO_REDIS_PORT and tcp[tcpflags] & tcp-syn != 0"
ftp_wait_until 5 grep -q 'listening on' "$(topo_log syn_cap)" || fo_fail "tcpdump in the client did not start"
fo_start_kv kv "$KV_SECONDS"
fo_start_bench bench "$BENCH_REQUESTS" 4
sleep 1.5
port_before=$(fo_kv_local_port kv)
[[ -n $port_before ]] || fo_fail "kv_client has no established connection before the kill"
topo_stop syn_cap || true
synacks=$(tcpdump -r "$TOPO_DIR/syn_cap.pcap" -n 2>/dev/null)
[[ -n $synacks ]] || fo_fail "no SYN-ACK captured from the service"
ftp_log "first SYN-ACK: $(head -n 1 <<<"$synacks")"
grep -v -q sackOK <<<"$synacks" && fo_fail "a SYN-ACK without SACK: $synacks"
if [[ $ts_mode == 0 ]]; then
  grep -q 'TS val' <<<"$synacks" && fo_fail "TCP timestamps still negotiated: $synacks"
else
  grep -v -q 'TS val' <<<"$synacks" && fo_fail "a SYN-ACK without TCP timestamps: $synacks"
fi
topo_alive bench || fo_fail "redis-benchmark finished before the kill: raise BENCH_REQUESTS"
fo_expect_roles "before the fault"
acked_before=$(fo_acked_count kv)
# On a loaded machine the steps above can outlast the client: a kill after it ended would
# read as "nothing acknowledged after the failover" (raise FO_KV_SECONDS).
topo_alive kv || fo_fail "kv_client (FO_KV_SECONDS=$KV_SECONDS) finished before the kill"
[[ $(fo_jq "$TOPO_NS_P2" .forward.garps_sent) == 0 ]] || fo_fail "backup sent GARPs before any failover"

t_kill=$(fo_now)
topo_stop primary KILL 2 || true
ip -n "$TOPO_NS_S1" link set eth0 down
ftp_log "killed the primary after $acked_before acknowledged writes"

pair_wait_state "$TOPO_NS_P2" live 5 || fo_fail "backup did not go live: $(pair_state "$TOPO_NS_P2") $(fo_transitions "$TOPO_NS_P2")"
live_wall=$(fo_transition_wall "$TOPO_NS_P2" live)
hist=$(fo_transitions "$TOPO_NS_P2")
ftp_log "backup transitions: $hist"
[[ $hist =~ backup-\>arbitrating:\ arbitrating-\>live:won$ ]] || fo_fail "unexpected backup history: $hist"
garps=$(fo_jq "$TOPO_NS_P2" .forward.garps_sent)
((garps > 0)) || fo_fail "backup went live without sending a gratuitous ARP"

fo_check_clients_after "$TOPO_NS_S2" S2 "$port_before" "$acked_before"

live_after=$(awk -v a="$live_wall" -v b="$t_kill" 'BEGIN { printf "%.3f", a - b }')
ftp_log "METRIC kill_primary ts=$ts_mode live_after_kill_s=$live_after kv_max_gap_s=$FO_KV_MAX_GAP bench_max_latency_ms=$FO_BENCH_MAX_MS garps=$garps"
ftp_log "PASS"
