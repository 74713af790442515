#!/usr/bin/env bash
# A/B benchmark of two builds of ftproxy on the replicated pair: iperf3 throughput of
# the pair run with build A, then with build B, alternated in rounds, next to a
# standalone proxy (build B) as the reference, all in ONE topology and run, so that a
# change's effect is read from side-by-side figures on this shared, noisy machine.
# Both ends of a pair run the same build (the log protocol may differ between them).
# Same two-host model as bench-replication.sh (BENCH_HOSTS=2): the client and the
# primary side on CPU 0, the backup side on CPU 1, RPS on each end of the log link.
#
# Usage: BENCH_A=/path/to/build-a BENCH_B=/path/to/build-b bash scripts/bench-ab.sh
#   e.g. git worktree add /tmp/wt-a HEAD~1 && meson setup /tmp/wt-a/b /tmp/wt-a &&
#        ninja -C /tmp/wt-a/b src/bin/ftproxy && BENCH_A=/tmp/wt-a/b BENCH_B=build bash scripts/bench-ab.sh
# Environment: BENCH_ROUNDS (3), BENCH_IPERF_S (5), BENCH_DIRS ("fwd rev": client→server,
# server→client), BENCH_CC (iperf3 -C congestion control; empty = the system's default).
# Prints a markdown table: per-round Gbit/s, medians, A and B over standalone, B over A.
set -euo pipefail

source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../tests/e2e/lib/pair.sh"
source "$(dirname "$0")/lib/bench.sh"

ftp_require_cmd iperf3 jq
[[ -n ${BENCH_A:-} && -n ${BENCH_B:-} ]] || ftp_die "set BENCH_A and BENCH_B to two build directories"
for b in "$BENCH_A" "$BENCH_B"; do
  [[ -x $b/src/bin/ftproxy ]] || ftp_die "no ftproxy binary in $b/src/bin (build it first)"
done
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
[[ $BENCH_ROUNDS =~ ^[1-9][0-9]*$ ]] || ftp_die "BENCH_ROUNDS must be a positive integer"
BENCH_IPERF_S=${BENCH_IPERF_S:-5}
read -r -a DIRS <<<"${BENCH_DIRS:-fwd rev}"
export BENCH_HOSTS=2 # the two-host model of scripts/lib/bench.sh, always
bench_two_host_pair

declare -A R=() # "<mode>:<dir>:<round>" -> Gbit/s
measure() { # MODE DIR ROUND
  local a=(-t "$BENCH_IPERF_S" -J) out
  [[ -n ${BENCH_CC:-} ]] && a+=(-C "$BENCH_CC")
  [[ $2 == rev ]] && a+=(-R)
  ftp_wait_until 10 topo_exec "$TOPO_NS_C" ping -c 1 -W 1 "$TOPO_SERVICE_IP" ||
    ftp_die "[$1] the service does not answer"
  out=$(topo_exec "$TOPO_NS_C" iperf3 -c "$TOPO_SERVICE_IP" "${a[@]}")
  R[$1:$2:$3]=$(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 1000 | round / 1000' <<<"$out")
  ftp_log "round $3 $2 $1: ${R[$1:$2:$3]} Gbit/s"
}

for ((r = 1; r <= BENCH_ROUNDS; r++)); do
  for d in "${DIRS[@]}"; do
    bench_fresh_iperf
    FTPROXY_BIN=$BENCH_B/src/bin/ftproxy topo_start_proxy standalone "$TOPO_NS_P1" "$TOPO_DIR/standalone.toml"
    measure standalone "$d" "$r"
    topo_stop standalone || true
    for m in A B; do
      bench_fresh_iperf # each pair gets fresh servers
      dir=BENCH_$m
      FTPROXY_BIN=${!dir}/src/bin/ftproxy pair_start_proxies
      bench_backup_host backup
      measure "$m" "$d" "$r"
      topo_stop primary || true
      topo_stop backup || true
    done
  done
done

med() { # MODE DIR
  local v=() r
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do v+=("${R[$1:$2:$r]}"); done
  printf '%s\n' "${v[@]}" | sort -g | awk '{x[NR]=$1} END {print (NR % 2) ? x[(NR+1)/2] : (x[NR/2] + x[NR/2+1]) / 2}'
}
rounds() { # MODE DIR
  local v=() r
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do v+=("${R[$1:$2:$r]}"); done
  echo "${v[*]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
bench_machine_line "A/B (BENCH_HOSTS=2 model, iperf3 ${BENCH_CC:-default} congestion control)"
echo "A = $BENCH_A ($(git -C "$BENCH_A/.." rev-parse --short HEAD 2>/dev/null || echo '?')), B = $BENCH_B ($(git -C "$BENCH_B/.." rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "| direction | standalone (Gbit/s, rounds) | pair A | pair B | A / standalone | B / standalone | B / A |"
echo "|---|---|---|---|---|---|---|"
for d in "${DIRS[@]}"; do
  sv=$(med standalone "$d") av=$(med A "$d") bv=$(med B "$d")
  name=$([[ $d == fwd ]] && echo "client→server" || echo "server→client")
  echo "| $name | $sv ($(rounds standalone "$d")) | $av ($(rounds A "$d")) | $bv ($(rounds B "$d")) | $(ratio "$av" "$sv") | $(ratio "$bv" "$sv") | $(ratio "$bv" "$av") |"
done
