#!/usr/bin/env bash
# Replication benchmark: one topology (the replicated pair of DESIGN.md §1), measured
# three ways in ONE run so the ratios are comparable on a shared, noisy machine:
#   kernel      a kernel bridge joins ext and int in P1 (no proxy, the floor)
#   standalone  ftproxy role standalone in P1 (forwarding only)
#   replicated  ftproxy primary in P1 + backup in P2, log channel on its own link
# Prints a markdown table: absolute figures, replicated/standalone and replicated/kernel
# ratios, the log channel's RTT, and log bytes per inbound byte.
#
# Usage: bash scripts/bench-replication.sh
# Environment: BENCH_IPERF_S (5), BENCH_RTT_N (2000), BENCH_REDIS_N (50000).
set -euo pipefail

source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../tests/e2e/lib/pair.sh"

source "$(dirname "$0")/lib/bench.sh"

ftp_require_cmd iperf3 redis-benchmark redis-cli ping jq curl
[[ -x $FTPROXY_BIN ]] || ftp_die "build first (scripts/setup.sh): no $FTPROXY_BIN"
declare -A R=()  # "<mode>:<metric>" -> value (filled by bench_measure)
measure() { bench_measure "$1" iperf rtt redis; }

topo_init
pair_setup
topo_start_iperf iperf1 "$TOPO_NS_S1"
topo_start_iperf iperf2 "$TOPO_NS_S2"
# The reverse run gets fresh iperf3 servers (see _bench_iperf in scripts/lib/bench.sh).
topo_start_iperf iperf1r "$TOPO_NS_S1" 5202
topo_start_iperf iperf2r "$TOPO_NS_S2" 5202
export BENCH_IPERF_REV_PORT=5202

topo_kernel_bridge "$TOPO_NS_P1"
measure kernel
topo_kernel_bridge_remove "$TOPO_NS_P1"

pair_write_config primary "$TOPO_DIR/standalone.toml" 'node.role="standalone"'
topo_start_proxy standalone "$TOPO_NS_P1" "$TOPO_DIR/standalone.toml"
measure standalone
topo_stop standalone

pair_start_proxies
measure replicated
st_p=$(topo_status "$TOPO_NS_P1")
st_b=$(topo_status "$TOPO_NS_P2")
log_bytes=$(jq -r '.log.bytes_sent' <<<"$st_p")
in_bytes=$(jq -r '.ports.ext.rx_bytes' <<<"$st_p")
R[log_ratio]=$(awk -v a="$log_bytes" -v b="$in_bytes" 'BEGIN {printf "%.3f", a / b}')
R[hold_avg_us]=$(jq -r '.output_gate.hold_seconds_avg * 1e6 | . * 10 | round / 10' <<<"$st_p")
R[divergence]=$(jq -r '.tcp.divergence' <<<"$st_b")
# The log channel's own round trip (ICMP over the log link), the floor of the output rule.
topo_exec "$TOPO_NS_P1" ping -c 200 -i 0.01 -W 1 "$TOPO_LOG_IP2" |
  sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | awk '{printf "%.0f\n", $1 * 1000}' | sort -n >"$TOPO_DIR/logping.txt"
R[log_rtt_p50]=$(awk '{v[NR]=$1} END {print v[int(NR/2)+1]}' "$TOPO_DIR/logping.txt")

ratio() { awk -v a="${R[$2:$1]:-0}" -v b="${R[replicated:$1]:-0}" 'BEGIN { if (a > 0) printf "%.2f", b / a; else printf "–" }'; }
row() {
  printf '| %s | %s | %s | %s | %s | %s |\n' "$2" "${R[kernel:$1]:-–}" "${R[standalone:$1]:-–}" \
    "${R[replicated:$1]:-–}" "$(ratio "$1" standalone)" "$(ratio "$1" kernel)"
}
echo
bench_machine_line "Replication"
echo
echo "| metric | kernel bridge | standalone | replicated | replicated / standalone | replicated / bridge |"
echo "|---|---|---|---|---|---|"
row tput_fwd "TCP throughput client→server (Gbit/s, iperf3 -t $BENCH_IPERF_S)"
row tput_rev "TCP throughput server→client (Gbit/s, iperf3 -R)"
row rtt_p50 "TCP request RTT p50 (µs, $BENCH_RTT_N sequential redis PINGs)"
row rtt_p99 "TCP request RTT p99 (µs)"
row set_rps "redis SET (req/s, -n $BENCH_REDIS_N -c 10)"
row get_rps "redis GET (req/s)"
echo
added=$(awk -v a="${R[standalone:rtt_p50]}" -v b="${R[replicated:rtt_p50]}" 'BEGIN {printf "%.0f", b - a}')
echo "- added request RTT p50 (replicated − standalone): ${added} µs; log-link ICMP RTT p50: ${R[log_rtt_p50]} µs;" \
  "mean output hold: ${R[hold_avg_us]} µs"
echo "- log channel bytes / inbound bytes on ext: ${R[log_ratio]}"
echo "- backup divergence counter after the run: ${R[divergence]} (iperf3's control connection carries"
echo "  per-server timing results, so a non-zero value here comes from iperf3, not from redis)"
