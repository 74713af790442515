#!/usr/bin/env bash
# Cost of output digests (replication.output_digests, issue 8): the replicated pair is
# run with digests off and on (and optionally other chunk sizes) under the same load,
# and the primary's log channel bytes are compared with the inbound bytes on ext.
# Prints a markdown table, one row per setting: log bytes / inbound bytes, digest
# checkpoints, flows whose output capture lost bytes (no longer digested), redis
# throughput (noisy on a shared machine).
#
# Usage: bash scripts/bench-digest.sh
# Environment: BENCH_DIGEST_CHUNKS ("4096"; space-separated chunk sizes to try besides
# "off"), BENCH_REDIS_N (50000), BENCH_IPERF_S (3).
set -euo pipefail

source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../tests/e2e/lib/pair.sh"

ftp_require_cmd iperf3 redis-benchmark redis-cli jq curl
[[ -x $FTPROXY_BIN ]] || ftp_die "build first (scripts/setup.sh): no $FTPROXY_BIN"
CHUNKS=${BENCH_DIGEST_CHUNKS:-4096}
REDIS_N=${BENCH_REDIS_N:-50000}
IPERF_S=${BENCH_IPERF_S:-3}

topo_init
pair_setup
RUNS=0

# run SETTING KEY=VALUE...: start the pair with the overrides, run the load, print a row.
# Fresh iperf3 servers per pair (the backup's copy still holds the previous pair's
# replicated session); a 1 s failure timeout as in the replication tests, so that a
# loaded machine does not turn the measurement into a failover.
run() {
  local label=$1 st rps_set rps_get out
  shift
  RUNS=$((RUNS + 1))
  topo_start_iperf "iperf1.$RUNS" "$TOPO_NS_S1"
  topo_start_iperf "iperf2.$RUNS" "$TOPO_NS_S2"
  pair_start_proxies 'failover.timeout_ms=1000' "$@"
  pair_wait_state "$TOPO_NS_P2" backup 5 || ftp_die "backup not in state backup"
  out=$(pair_client timeout 120 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
    -n "$REDIS_N" -c 10 -t set,get --csv) || ftp_die "redis-benchmark failed: $out"
  rps_set=$(awk -F, '/^"SET"/ { gsub(/"/, "", $2); print int($2) }' <<<"$out")
  rps_get=$(awk -F, '/^"GET"/ { gsub(/"/, "", $2); print int($2) }' <<<"$out")
  pair_client timeout 30 iperf3 -c "$TOPO_SERVICE_IP" -t "$IPERF_S" -R >/dev/null || ftp_die "iperf3 -R failed"
  sleep 0.5  # idle checkpoints and the last acks
  st=$(topo_status "$TOPO_NS_P1")
  jq -r --arg l "$label" --arg s "$rps_set" --arg g "$rps_get" '
    "| \($l) | \(.ports.ext.rx_bytes) | \(.ports.int.rx_bytes) | \(.log.bytes_sent) | " +
    "\((.log.bytes_sent / .ports.ext.rx_bytes * 1000 | round) / 1000) | \(.digest.checkpoints) | " +
    "\(.digest.gaps) | \(.ports.int.rx_dropped) | " +
    "\($s) | \($g) |"' <<<"$st"
  jq -e '[.failover.transitions[]?] == []' <<<"$st" >/dev/null || ftp_die "the pair failed over during the run"
  topo_stop primary || true
  topo_stop backup || true
  topo_stop "iperf1.$RUNS" || true
  topo_stop "iperf2.$RUNS" || true
}

echo
echo "| digests | inbound bytes (ext rx) | server output bytes (int rx) | log bytes sent | log / inbound | checkpoints | flows not digested (gaps) | int rx dropped | redis SET req/s | redis GET req/s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
run off 'replication.output_digests=false'
for c in $CHUNKS; do
  run "on, chunk $c" 'replication.output_digests=true' "replication.digest_chunk_bytes=$c"
done
echo
echo "(load: redis-benchmark -n $REDIS_N -c 10 -t set,get, then iperf3 -R -t $IPERF_S; one pair per row)"
