#!/usr/bin/env bash
# Replication benchmark: one topology (the replicated pair of DESIGN.md §1), measured
# three ways in ONE run so the ratios are comparable on a shared, noisy machine:
#   kernel      a kernel bridge joins ext and int in P1 (no proxy, the floor)
#   standalone  ftproxy role standalone in P1 (forwarding only)
#   replicated  ftproxy primary in P1 + backup in P2, log channel on its own link
#   logtcp      (iperf only) no proxy: a plain TCP stream P1 -> P2 over the log link,
#               the cost of the log's transport alone on the primary's CPU (also paced
#               at the pair's log rate: logpaced)
# Prints a markdown table: absolute figures, replicated/standalone and replicated/kernel
# ratios, the log channel's RTT, and log bytes per inbound byte; in the two-host model
# also CPU 0's busy ms per GB client→server of each mode and the ceiling the log stream's
# own cost puts on the pair's client→server ratio.
#
# Usage: bash scripts/bench-replication.sh
# Environment: BENCH_IPERF_S (5), BENCH_IPERF_GAP_S (2.5), BENCH_RTT_N (2000), BENCH_REDIS_N (50000),
# BENCH_PARTS ("iperf rtt redis"; a subset measures only those rows),
# BENCH_ROUNDS (3): rounds of the three modes in turn (medians are reported),
# BENCH_HOSTS ("2"): "2" models two hosts on this 2-core machine: the client, the
#   primary side (proxy, server, kernel bridge or standalone proxy) run on CPU 0 and the
#   backup side (proxy and server) on CPU 1, as the backup has a machine of its own in a
#   deployment; "1" lets every process run anywhere (the replicated pair then competes
#   with its own backup for the primary's cores).
set -euo pipefail

source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../tests/e2e/lib/pair.sh"

source "$(dirname "$0")/lib/bench.sh"

ftp_require_cmd iperf3 redis-benchmark redis-cli ping jq curl
[[ -x $FTPROXY_BIN ]] || ftp_die "build first (scripts/setup.sh): no $FTPROXY_BIN"
declare -A R=()  # "<mode>:<metric>" -> value (filled by bench_measure)
read -r -a BENCH_PARTS_A <<<"${BENCH_PARTS:-iperf rtt redis}"
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
[[ $BENCH_ROUNDS =~ ^[1-9][0-9]*$ ]] || ftp_die "BENCH_ROUNDS must be a positive integer"

BENCH_HOSTS=${BENCH_HOSTS:-2}
[[ $BENCH_HOSTS == 1 || $BENCH_HOSTS == 2 ]] || ftp_die "BENCH_HOSTS must be 1 or 2"
bench_two_host_pair # CPU 0 from here on, the backup side moved to CPU 1 once started
# Every round gets fresh iperf3 servers, and the reverse run its own pair of them
# (BENCH_IPERF_REV_PORT, see _bench_iperf in scripts/lib/bench.sh).
export BENCH_IPERF_REV_PORT=5202
# The forward test's control connection diverges at its end (per-server results) and
# the backup holds it for tcp.hold_ms (2 s) with every later segment behind it (global
# order, docs/limitations.md): the reverse test starts after that, not into it.
export BENCH_IPERF_GAP_S=${BENCH_IPERF_GAP_S:-2.5}

# The log link alone (after the pair, stopped, in each round that measures iperf): a plain kernel
# TCP stream from P1 (CPU 0) to P2 (CPU 1) over the log link, no proxy at all: what any
# TCP log channel costs the primary's CPU per byte. Twice: as fast as it goes (logtcp, in
# log.batch_bytes writes), and paced at the rate the pair's log ran in this round
# (logpaced: iperf3 -b, a write every 100 µs), as the log runs in the pair. With the
# standalone proxy's cost they give a ceiling for the pair's client→server ratio in this
# model (printed after the table).
LOG_TCP_PORT=5301
LOG_TCP_WRITE=65536 # configs/primary.toml's log.batch_bytes
if [[ $BENCH_HOSTS == 2 ]]; then
  topo_spawn logsink "$TOPO_NS_P2" iperf3 -s -B "$TOPO_LOG_IP2" -p "$LOG_TCP_PORT"
  bench_backup_host logsink
fi
log_tcp() {
  local rate
  ftp_log "[logtcp.$1] iperf3 TCP over the log link, P1 -> P2, ${BENCH_IPERF_S}s"
  bench_iperf_fwd "logtcp.$1" "$TOPO_NS_P1" -c "$TOPO_LOG_IP2" -p "$LOG_TCP_PORT" -l "$LOG_TCP_WRITE"
  rate=$(awk -v t="${R[replicated.$1:tput_fwd]}" -v k="${R[replicated.$1:log_ratio]}" 'BEGIN { printf "%.0f", t * k * 1e9 }')
  ftp_log "[logpaced.$1] the same at the pair's log rate ($rate bit/s)"
  bench_iperf_fwd "logpaced.$1" "$TOPO_NS_P1" -c "$TOPO_LOG_IP2" -p "$LOG_TCP_PORT" -l "$LOG_TCP_WRITE" \
    -b "$rate" --pacing-timer 100
}

# Rounds: the three modes one after the other, BENCH_ROUNDS times, so that a burst of
# load from elsewhere on this shared machine hits one round, not one mode. Round 1
# measures every part; later rounds only the iperf3 throughput (the noisiest figure).
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  parts=("${BENCH_PARTS_A[@]}")
  ((round == 1)) || parts=(iperf)
  bench_fresh_iperf "$BENCH_IPERF_REV_PORT"
  topo_kernel_bridge "$TOPO_NS_P1"
  bench_measure "kernel.$round" "${parts[@]}"
  topo_kernel_bridge_remove "$TOPO_NS_P1"

  topo_start_proxy standalone "$TOPO_NS_P1" "$TOPO_DIR/standalone.toml"
  bench_measure "standalone.$round" "${parts[@]}"
  topo_stop standalone

  bench_fresh_iperf "$BENCH_IPERF_REV_PORT"
  pair_start_proxies
  bench_backup_host backup
  bench_measure "replicated.$round" "${parts[@]}"
  # This round's pair's counters (the last round's are reported below).
  st_p=$(topo_status "$TOPO_NS_P1")
  st_b=$(topo_status "$TOPO_NS_P2")
  R[replicated.$round:log_ratio]=$(jq -r '.log.bytes_sent / .ports.ext.rx_bytes | . * 1000 | round / 1000' <<<"$st_p")
  R[hold_avg_us]=$(jq -r '.output_gate.hold_seconds_avg * 1e6 | . * 10 | round / 10' <<<"$st_p")
  R[divergence]=$(jq -r '.tcp.divergence' <<<"$st_b")
  if ((round == BENCH_ROUNDS)); then
    # The log channel's own round trip (ICMP over the log link, the pair still up as
    # when it runs), the floor of the output rule.
    topo_exec "$TOPO_NS_P1" ping -c 200 -i 0.01 -W 1 "$TOPO_LOG_IP2" |
      sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | awk '{printf "%.0f\n", $1 * 1000}' | sort -n >"$TOPO_DIR/logping.txt"
    R[log_rtt_p50]=$(awk '{v[NR]=$1} END {print v[int(NR/2)+1]}' "$TOPO_DIR/logping.txt")
  fi
  topo_stop primary || true
  topo_stop backup || true
  # In the two-host model (the CPU 0 accounting it is for), every round that measured the
  # pair's throughput (log_tcp paces at its log rate).
  if [[ $BENCH_HOSTS == 2 && -n ${R[replicated.$round:tput_fwd]:-} ]]; then log_tcp "$round"; fi
done
R[log_ratio]=${R[replicated.$BENCH_ROUNDS:log_ratio]}

# median M:METRIC: the median over the rounds that measured it ("–" if none).
median() {
  local r v=()
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do [[ -n ${R[$1.$r:$2]:-} ]] && v+=("${R[$1.$r:$2]}"); done
  ((${#v[@]})) || { printf '–'; return; }
  printf '%s\n' "${v[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
# ratios BASE METRIC: replicated/BASE of each round that measured both, then their median.
ratios() {
  local r out=()
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    [[ -n ${R[$1.$r:$2]:-} && -n ${R[replicated.$r:$2]:-} ]] || continue
    out+=("$(awk -v a="${R[$1.$r:$2]}" -v b="${R[replicated.$r:$2]}" 'BEGIN { if (a > 0) printf "%.2f", b / a; else printf "0" }')")
  done
  ((${#out[@]})) || { printf '–'; return; }
  printf '%s (%s)' "$(printf '%s\n' "${out[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')" "${out[*]}"
}
row() {
  printf '| %s | %s | %s | %s | %s | %s |\n' "$2" "$(median kernel "$1")" "$(median standalone "$1")" \
    "$(median replicated "$1")" "$(ratios standalone "$1")" "$(ratios kernel "$1")"
}
echo
bench_machine_line "Replication (BENCH_HOSTS=$BENCH_HOSTS)"
echo
echo "Medians over $BENCH_ROUNDS rounds (kernel, standalone, replicated in turn; rtt and redis in round 1 only);"
echo "ratio columns: median of the rounds' ratios, then each round's in brackets."
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
added=$(awk -v a="${R[standalone.1:rtt_p50]:-}" -v b="${R[replicated.1:rtt_p50]:-}" 'BEGIN {if (a == "" || b == "") printf "–"; else printf "%.0f", b - a}')
echo "- added request RTT p50 (replicated − standalone): ${added} µs; log-link ICMP RTT p50: ${R[log_rtt_p50]} µs;" \
  "mean output hold (last round): ${R[hold_avg_us]} µs"
echo "- log channel bytes / inbound bytes on ext (last round): ${R[log_ratio]}"
# Per round that ran the log stream (log_tcp), each CPU 0's busy ms per GB: the pair's cost
# ratio (standalone / replicated), and the ceiling standalone / (standalone + log bytes
# ratio × log stream): the pair's client→server ratio if CPU 0 is the limit and the pair
# cost it nothing beyond a kernel TCP stream of the log (unpaced: the cheapest such
# stream; paced: one at the rate the pair's log ran).
# ceiling S L K: S / (S + K × L), two decimals.
ceiling() { awk -v s="$1" -v l="$2" -v k="$3" 'BEGIN { printf "%.2f", s / (s + k * l) }'; }
cost=() ceil=() ceilp=()
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
  s0=${R[standalone.$r:cpu0_fwd]:-} p0=${R[replicated.$r:cpu0_fwd]:-}
  l0=${R[logtcp.$r:cpu0_fwd]:-} lp=${R[logpaced.$r:cpu0_fwd]:-}
  [[ -n $s0 && -n $p0 && -n $l0 && -n $lp ]] || continue
  cost+=("$(awk -v s="$s0" -v p="$p0" 'BEGIN { printf "%.2f", s / p }')")
  ceil+=("$(ceiling "$s0" "$l0" "${R[replicated.$r:log_ratio]}")")
  ceilp+=("$(ceiling "$s0" "$lp" "${R[replicated.$r:log_ratio]}")")
done
if ((${#cost[@]} > 0)); then
  echo "- CPU 0 busy ms per GB client→server (medians): standalone $(median standalone cpu0_fwd)," \
    "replicated $(median replicated cpu0_fwd); a plain TCP stream over the log link, no proxy" \
    "($LOG_TCP_WRITE-byte writes): $(median logtcp cpu0_fwd) unpaced ($(median logtcp tput_fwd) Gbit/s)," \
    "$(median logpaced cpu0_fwd) paced at the pair's log rate"
  echo "- CPU 0 cost per byte, standalone / replicated, each round: ${cost[*]}; ceiling for any TCP log" \
    "channel, standalone / (standalone + log bytes ratio × log stream), each round: unpaced ${ceil[*]}," \
    "paced ${ceilp[*]}"
fi
echo "- backup divergence counter after the last round: ${R[divergence]} (iperf3's control connection carries"
echo "  per-server timing results, so a non-zero value here comes from iperf3, not from redis)"
