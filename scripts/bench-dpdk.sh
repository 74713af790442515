#!/usr/bin/env bash
# shellcheck disable=SC2034  # BENCH_SINK, BENCH_CPU_PIDS are read by scripts/lib/bench.sh
# Packet I/O backend benchmark: the same topologies measured with every forwarding path
# side by side in ONE run (interleaved, BENCH_ROUNDS rounds), so the ratios are
# comparable on a shared, noisy machine:
#   kernel     a kernel bridge joins ext and int in the proxy namespace (the floor)
#   pcap       ftproxy, backend = "pcap"
#   dpdk       ftproxy, backend = "dpdk" with its defaults (no [dpdk] section: vdev_driver
#              "auto", net_af_xdp vdevs where they start, else net_af_packet; idle back-off)
#   dpdk_afp   ftproxy, backend = "dpdk" with [dpdk] vdev_driver = "af_packet"
#   dpdk_busy  like dpdk, with [dpdk] busy_poll = true (the back-off's latency cost)
# in two topologies: standalone (C -- switch -- [ext P int] -- S) and replicated (the
# pair: primary P1 + backup P2, log channel on its own link; kernel = bridge in P1).
# Per mode: iperf3 TCP both ways, TCP request RTT p50/p99 (scripts/lib/tcp_rtt.py), a
# small-packet rate test (64-byte UDP frames from the client as fast as
# scripts/lib/udp_flood.c sends them for BENCH_SMALL_S seconds, counted as delivered on
# the server's interface, which drops them at its ingress hook)
# and the proxy processes' CPU time (/proc/PID/stat) per forwarded frame. BENCH_SENDERS
# sender processes flood at once (default 1: on this 2-CPU machine two senders at the
# proxies' priority starved the kernel's softirq thread and lost most af_xdp frames
# before the proxy, and two at normal priority offered less than one; docs/benchmarks.md).
# The DPDK driver each proxy port ran on is read from its log.
# Prints one markdown table per topology: per-round values and the median, and the
# median ratio of each mode to pcap over the rounds.
#
# Usage: bash scripts/bench-dpdk.sh [standalone|replicated|all] [--profile]
#   --profile: afterwards, per proxy mode of the standalone topology, `perf record -a -g`
#              (cpu-clock) during one small-packet flood; the proxy's and the sender's
#              top symbols to $BENCH_OUT/profile-MODE.txt
# Environment: BENCH_CAP (off; PCT: one more flood per proxy mode with the proxy capped at
#   PCT % of CPU 1, see capped_small), BENCH_ROUNDS (3), BENCH_MODES ("kernel pcap dpdk dpdk_afp dpdk_busy"), BENCH_SENDERS (1),
#   BENCH_IPERF_S (3), BENCH_RTT_N (2000), BENCH_SMALL_S (3), BENCH_SMALL_N (2000000),
#   BENCH_OUT (a temp dir; report.md and the profiles are kept there)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/e2e/lib/topology.sh"
source "$here/../tests/e2e/lib/pair.sh"
BENCH_IPERF_S=${BENCH_IPERF_S:-3}
source "$here/lib/bench.sh"

WHICH=all
PROFILE=0
for a in "$@"; do
  case $a in
    standalone | replicated | all) WHICH=$a ;;
    --profile) PROFILE=1 ;;
    *) ftp_die "usage: $0 [standalone|replicated|all] [--profile]" ;;
  esac
done
ROUNDS=${BENCH_ROUNDS:-3}
read -r -a MODES <<<"${BENCH_MODES:-kernel pcap dpdk dpdk_afp dpdk_busy}"
BENCH_SENDERS=${BENCH_SENDERS:-1}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/ftp-bench-dpdk.XXXXXX)}
mkdir -p "$BENCH_OUT"

ftp_require_root
ftp_require_cmd iperf3 redis-server redis-cli jq curl cc
[[ -x $FTPROXY_BIN ]] || ftp_die "build first: no $FTPROXY_BIN"
"$FTPROXY_BIN" --version 2>/dev/null | grep -q ' dpdk' || ftp_die "$FTPROXY_BIN was built without DPDK"
declare -A R=()

# dpdk_toml MODE: the [dpdk] section MODE needs (empty for the defaults).
dpdk_toml() {
  case $1 in
    dpdk_busy) printf '[dpdk]\nbusy_poll = true\n' ;;
    dpdk_afp) printf '[dpdk]\nvdev_driver = "af_packet"\n' ;;
  esac
}

# write_standalone_cfg MODE FILE: the standalone proxy's config for MODE.
write_standalone_cfg() {
  local extra
  topo_write_standalone_config "$2" bench
  sed -i "s/^backend = \"pcap\"/backend = \"$(backend_of "$1")\"/" "$2"
  extra=$(dpdk_toml "$1")
  [[ -z $extra ]] || printf '\n%s\n' "$extra" >>"$2"
}

# port_drivers NAME: "ext/int" drivers the proxy NAME logged at start ("pcap" for pcap).
port_drivers() {
  local p d out=""
  for p in ext int; do
    d=$(sed -n "s/.*port opened port=$p .*driver=\([a-z_]*\).*/\1/p" "$(topo_log "$1")" | tail -n 1)
    out+="${out:+/}${d:-?}"
  done
  echo "$out"
}

# sink_drop NS: the server drops the flood (UDP port 9) at its interface's ingress hook
# (nftables netdev table), before the IP stack: delivery is counted (the veth rx counter)
# but no server CPU is spent on it, so the sender and the proxy set the rate.
sink_drop() {
  ftp_require_cmd nft
  topo_exec "$1" nft -f - <<'NFT' || ftp_die "nft ingress drop rule in $1"
table netdev ftpbench {
  chain in {
    type filter hook ingress device "eth0" priority 0;
    udp dport 9 drop
  }
}
NFT
}

backend_of() { if [[ $1 == pcap ]]; then echo pcap; else echo dpdk; fi; }

# as_kv TOML: a [dpdk] section as pair_write_config's dpdk.KEY=VALUE arguments.
as_kv() { awk -F' = ' '/ = / { print "dpdk." $1 "=" $2 }' <<<"$1"; }

# idle_cpu KEY: the proxy's CPU over BENCH_IDLE_S (2) seconds without traffic, in % of
# one core (the cost of polling when nothing comes): R[KEY:idle_cpu].
idle_cpu() {
  local t0 t1 s=${BENCH_IDLE_S:-2}
  sleep 0.5
  t0=$(bench_cpu_ticks)
  sleep "$s"
  t1=$(bench_cpu_ticks)
  R[$1:idle_cpu]=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$s" 'BEGIN { printf "%.0f", 100 * t / hz / s }')
}

# ---- capped proxy: the small-packet rate when the proxy is the bottleneck -------------
# Uncapped, one sender offers ~250-300 k frames/s, which the dpdk proxy forwards with CPU to
# spare: the delivered rate is the sender's, and CPU per frame includes the cost of waking
# for small batches. BENCH_CAP=PCT gives each proxy mode one more flood with the proxy
# (every thread) on CPU 1 at normal priority, limited to PCT % of that CPU by the cpu
# cgroup controller (CFS bandwidth, 10 ms period; SCHED_RR threads would ignore the
# quota), and the sender on CPU 0: the sender outruns the proxy, rings fill, and
# "delivered" is what that much CPU forwards, per backend.
CAP_CG=""
cap_proxy() { # PID PCT
  local tid base
  if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then # cgroup v1
    base=/sys/fs/cgroup/cpu
    CAP_CG=$base/ftpbench-$$
    mkdir -p "$CAP_CG"
    echo 10000 >"$CAP_CG/cpu.cfs_period_us"
    echo $((100 * $2)) >"$CAP_CG/cpu.cfs_quota_us"
  elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then # cgroup v2
    base=/sys/fs/cgroup
    CAP_CG=$base/ftpbench-$$
    echo +cpu >"$base/cgroup.subtree_control" 2>/dev/null || true
    mkdir -p "$CAP_CG"
    echo "$((100 * $2)) 10000" >"$CAP_CG/cpu.max"
  else
    ftp_die "BENCH_CAP needs the cpu cgroup controller (v1 /sys/fs/cgroup/cpu or v2 cpu.max)"
  fi
  for tid in "/proc/$1/task/"*; do
    tid=${tid##*/}
    chrt -o -p 0 "$tid" >/dev/null
    taskset -p -c 1 "$tid" >/dev/null
    if [[ -f $CAP_CG/tasks ]]; then echo "$tid" >"$CAP_CG/tasks"; else echo "$tid" >"$CAP_CG/cgroup.threads" 2>/dev/null || echo "$tid" >"$CAP_CG/cgroup.procs"; fi
  done
}
uncap_proxy() { # PID: back to the root group (the proxy is stopped right after)
  local tid root=${CAP_CG%/*}
  [[ -n $CAP_CG && -d $CAP_CG ]] || return 0
  for tid in "/proc/$1/task/"*; do
    tid=${tid##*/}
    if [[ -f $root/tasks ]]; then echo "$tid" >"$root/tasks"; else echo "$tid" >"$root/cgroup.procs"; fi 2>/dev/null || true
  done
  rmdir "$CAP_CG" 2>/dev/null || true
}

# capped_small KEY PID: one flood with the proxy PID capped (R[KEY:small_pps], ... as
# _bench_small sets them).
capped_small() {
  cap_proxy "$2" "$BENCH_CAP"
  BENCH_SENDER_CPU=0 _bench_small "$1"
  uncap_proxy "$2"
}

# ---- standalone ----------------------------------------------------------------------
# kernel_mode NS KEY: the client-side measurements through a kernel bridge in NS.
kernel_mode() {
  topo_kernel_bridge "$1"
  BENCH_CPU_PIDS=()
  bench_measure "$2" iperf rtt small
  topo_kernel_bridge_remove "$1"
}

standalone_mode() {
  local mode=$1 round=$2 cfg="$TOPO_DIR/standalone-$1.toml"
  if [[ $mode == kernel ]]; then
    kernel_mode "$TOPO_NS_P" "s:$mode:$round"
    return
  fi
  write_standalone_cfg "$mode" "$cfg"
  topo_start_proxy proxy "$TOPO_NS_P" "$cfg"
  R[s:$mode:$round:drivers]=$(port_drivers proxy)
  BENCH_CPU_PIDS=("$(topo_pid proxy)")
  idle_cpu "s:$mode:$round"
  bench_measure "s:$mode:$round" iperf rtt small
  [[ -n ${BENCH_CAP:-} ]] && capped_small "s:$mode:$round:capped" "$(topo_pid proxy)"
  R[s:$mode:$round:rx_dropped]=$(topo_status "$TOPO_NS_P" | jq '[.ports[].rx_dropped] | add')
  topo_stop proxy || ftp_log "proxy ($mode) exited with status $? on SIGTERM"
}

run_standalone() {
  local round mode
  topo_init
  topo_standalone
  topo_start_redis redis "$TOPO_NS_S"
  topo_start_iperf iperf "$TOPO_NS_S"
  sink_drop "$TOPO_NS_S"
  BENCH_SINK="$TOPO_NS_S eth0"
  for ((round = 1; round <= ROUNDS; round++)); do
    for mode in "${MODES[@]}"; do
      standalone_mode "$mode" "$round"
    done
  done
  if ((PROFILE)); then
    for mode in "${MODES[@]}"; do
      [[ $mode != kernel ]] && profile_mode "$mode"
    done
  fi
  report s "Standalone (C -- switch -- [ext P int] -- S)"
}

# profile_mode MODE: a system-wide perf record (cpu-clock, call graphs) during one
# small-packet flood through the standalone proxy; the top symbols of the proxy process
# and of the sender (whose system calls carry the receive side into the proxy's ring)
# into $BENCH_OUT/profile-MODE.txt. System-wide because `perf record -p` of the pcap
# proxy caught almost nothing here; the report is filtered by PID.
profile_mode() {
  local mode=$1 cfg="$TOPO_DIR/standalone-$1.toml" pid data="$BENCH_OUT/perf-$1.data" spid who
  ftp_require_cmd perf
  write_standalone_cfg "$mode" "$cfg"
  topo_start_proxy proxy "$TOPO_NS_P" "$cfg"
  pid=$(topo_pid proxy)
  topo_spawn perf "$TOPO_NS_P" perf record -a -e cpu-clock -F 1999 -g -o "$data" -- sleep $((BENCH_SMALL_S + 5))
  sleep 1.5 # perf -a -g takes a moment to start on a loaded machine
  BENCH_CPU_PIDS=("$pid")
  if [[ -n ${BENCH_CAP:-} ]]; then # profile the capped (saturated) proxy instead
    capped_small "prof:$mode" "$pid"
  else
    bench_measure "prof:$mode" small
  fi
  topo_stop perf INT 20 || true
  topo_stop proxy || true
  spid=$(perf report -i "$data" --sort pid --stdio -g none 2>/dev/null | awk '/udp_flood/ { split($3, a, ":"); print a[1]; exit }')
  {
    echo "# perf record -a -e cpu-clock -g during ${BENCH_SMALL_S}s of 64-byte frames through ftproxy ($mode${BENCH_CAP:+, capped at $BENCH_CAP % of CPU 1});" \
      "delivered ${R[prof:$mode:small_pps]} frames/s, proxy CPU ${R[prof:$mode:cpu_small_ns]} ns/frame"
    echo "# share of all samples per process:"
    perf report -i "$data" --sort pid --stdio -g none 2>/dev/null | grep -E "^ .*($pid|${spid:-none}):" || true
    for who in "proxy $pid" "sender ${spid:-}"; do
      [[ -n ${who#* } ]] || continue
      echo "# $who: kernel vs user space, and user space per object (percent of that process's samples)"
      perf report -i "$data" --pid "${who#* }" --percentage relative --no-children --sort dso,sym --stdio -g none \
        2>/dev/null | awk '$3 == "[k]" || $3 == "[.]" { p = $1; sub("%", "", p)
          if ($3 == "[k]") k += p; else { u += p; d[$2] += p } }
          END { printf "kernel %.1f%%, user %.1f%%:", k, u; for (x in d) if (d[x] >= 0.5) printf " %s %.1f%%", x, d[x]; print "" }'
      echo "# $who: top symbols (percent of that process's samples)"
      perf report -i "$data" --pid "${who#* }" --percentage relative --no-children --sort dso,sym --stdio -g none \
        --percent-limit 1.5 2>/dev/null | grep -v -e '^#' -e '^$' | head -n 25 || true
    done
  } >"$BENCH_OUT/profile-$mode.txt"
  ftp_log "profile of $mode: $BENCH_OUT/profile-$mode.txt"
}

# ---- replicated ----------------------------------------------------------------------
replicated_mode() {
  local mode=$1 round=$2 extra b0 b1 kv=() role
  # Fresh servers for every mode: a backup stopped mid-stream leaves S2's sockets (and
  # iperf3's one-test-at-a-time server) in a state S1 does not share, which stalled the
  # next pair's replicated streams (iperf3 -R at 0 Gbit/s) before this.
  fresh_servers
  if [[ $mode == kernel ]]; then
    kernel_mode "$TOPO_NS_P1" "r:$mode:$round"
    return
  fi
  for role in backup primary; do
    kv=("ports.backend=\"$(backend_of "$mode")\"" "failover.timeout_ms=1000")
    extra=$(dpdk_toml "$mode")
    if [[ -n $extra ]]; then mapfile -t -O 2 kv < <(as_kv "$extra"); fi
    pair_write_config "$role" "$TOPO_DIR/$role-$mode.toml" "${kv[@]}"
  done
  topo_start_proxy backup "$TOPO_NS_P2" "$TOPO_DIR/backup-$mode.toml"
  topo_start_proxy primary "$TOPO_NS_P1" "$TOPO_DIR/primary-$mode.toml"
  ftp_wait_until 10 pair_log_connected "$TOPO_NS_P1" || ftp_die "[$mode] log channel did not connect"
  R[r:$mode:$round:drivers]="$(port_drivers primary) $(port_drivers backup)"
  pair_wait_state "$TOPO_NS_P2" backup 5 || ftp_die "[$mode] backup not in state backup"
  BENCH_CPU_PIDS=("$(topo_pid primary)" "$(topo_pid backup)")
  bench_measure "r:$mode:$round" iperf rtt
  b0=$(topo_exec "$TOPO_NS_S2" cat /sys/class/net/eth0/statistics/rx_packets)
  bench_measure "r:$mode:$round" small
  sleep 1  # the backup injects what the log still carries
  b1=$(topo_exec "$TOPO_NS_S2" cat /sys/class/net/eth0/statistics/rx_packets)
  R[r:$mode:$round:small_at_backup]=$((b1 - b0))
  R[r:$mode:$round:states]="$(pair_state "$TOPO_NS_P1")/$(pair_state "$TOPO_NS_P2")"
  topo_stop primary || true
  topo_stop backup || true
}

fresh_servers() {
  local n
  for n in iperf1 iperf2 redis1 redis2; do topo_stop "$n" TERM 3 || true; done
  topo_start_redis redis1 "$TOPO_NS_S1"
  topo_start_redis redis2 "$TOPO_NS_S2"
  topo_start_iperf iperf1 "$TOPO_NS_S1"
  topo_start_iperf iperf2 "$TOPO_NS_S2"
}

run_replicated() {
  local round mode
  topo_init
  pair_setup
  sink_drop "$TOPO_NS_S1"
  sink_drop "$TOPO_NS_S2"
  BENCH_SINK="$TOPO_NS_S1 eth0"
  for ((round = 1; round <= ROUNDS; round++)); do
    for mode in "${MODES[@]}"; do
      [[ $mode == dpdk_busy ]] && continue # the back-off's cost is measured standalone
      replicated_mode "$mode" "$round"
    done
  done
  report r "Replicated (primary P1 + backup P2; kernel = a bridge in P1)"
}

# ---- report --------------------------------------------------------------------------
median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{v[NR] = $1} END { if (NR) print v[int((NR + 1) / 2)]; else print "–" }'; }

# cell T MODE METRIC: "r1 / r2 / r3 (median m)".
cell() {
  local t=$1 mode=$2 metric=$3 r vals=()
  for ((r = 1; r <= ROUNDS; r++)); do vals+=("${R[$t:$mode:$r:$metric]:-–}"); done
  local IFS=' '
  printf '%s (**%s**)' "$(sed 's/ / \/ /g' <<<"${vals[*]}")" "$(median <<<"${vals[*]}")"
}

# ratio T MODE METRIC: median over rounds of MODE / pcap in the same round.
ratio() {
  local t=$1 mode=$2 metric=$3 r out=""
  for ((r = 1; r <= ROUNDS; r++)); do
    out+=" $(awk -v a="${R[$t:$mode:$r:$metric]:-}" -v b="${R[$t:pcap:$r:$metric]:-}" \
      'BEGIN { if (a != "" && a != "–" && b + 0 > 0) printf "%.2f", a / b; else print "–" }')"
  done
  median <<<"$out"
}

# per_round T METRIC LABEL: one list item, each proxy mode of T with METRIC per round.
per_round() {
  local t=$1 metric=$2 mode r
  printf -- '- %s:' "$3"
  for mode in "${MODES[@]}"; do
    [[ $mode == kernel || ($t == r && $mode == dpdk_busy) ]] && continue
    printf ' %s' "$mode"
    for ((r = 1; r <= ROUNDS; r++)); do printf ' %s' "${R[$t:$mode:$r:$metric]:-–}"; done
    printf ';'
  done
  echo
}

report() {
  local t=$1 title=$2 mode metric
  local -a metrics=(tput_fwd tput_rev rtt_p50 rtt_p99 small_offered small_pps small_loss cpu_small_ns cpu_iperf_ns idle_cpu)
  local -a ratios=(tput_fwd tput_rev rtt_p50 small_pps cpu_small_ns)
  if [[ $t == s && -n ${BENCH_CAP:-} ]]; then
    metrics+=(capped:small_offered capped:small_pps capped:cpu_small_ns)
    ratios+=(capped:small_pps capped:cpu_small_ns)
  fi
  local -A label=(
    [tput_fwd]="TCP client→server (Gbit/s, iperf3 -t $BENCH_IPERF_S)"
    [tput_rev]="TCP server→client (Gbit/s, iperf3 -R)"
    [rtt_p50]="TCP request RTT p50 (µs, $BENCH_RTT_N redis PINGs)"
    [rtt_p99]="TCP request RTT p99 (µs)"
    [small_offered]="64-byte frames offered (frames/s)"
    [small_pps]="64-byte frames delivered (frames/s)"
    [small_loss]="64-byte frames lost (%)"
    [cpu_small_ns]="proxy CPU per 64-byte frame (ns)"
    [cpu_iperf_ns]="proxy CPU per frame, iperf3 phase (ns)"
    [idle_cpu]="proxy CPU when idle (% of a core)"
    [capped:small_offered]="capped proxy (${BENCH_CAP:-}% of CPU 1): 64-byte frames offered (frames/s)"
    [capped:small_pps]="capped proxy: 64-byte frames delivered (frames/s)"
    [capped:cpu_small_ns]="capped proxy: CPU per 64-byte frame (ns)"
  )
  {
    echo
    bench_machine_line "$title, $ROUNDS rounds"
    echo
    printf '| metric |'
    for mode in "${MODES[@]}"; do [[ $t == r && $mode == dpdk_busy ]] || printf ' %s |' "$mode"; done
    echo
    printf '|---|'
    for mode in "${MODES[@]}"; do [[ $t == r && $mode == dpdk_busy ]] || printf -- '---|'; done
    echo
    for metric in "${metrics[@]}"; do
      printf '| %s |' "${label[$metric]}"
      for mode in "${MODES[@]}"; do
        [[ $t == r && $mode == dpdk_busy ]] && continue
        printf ' %s |' "$(cell "$t" "$mode" "$metric")"
      done
      echo
    done
    echo
    echo "Median over the rounds of (mode / pcap in the same round):"
    echo
    for metric in "${ratios[@]}"; do
      printf -- '- %s:' "${label[$metric]}"
      for mode in "${MODES[@]}"; do
        [[ $mode == pcap || ($t == r && $mode == dpdk_busy) ]] && continue
        printf ' %s %s;' "$mode" "$(ratio "$t" "$mode" "$metric")"
      done
      echo
    done
    if [[ $t == r ]]; then
      per_round r small_at_backup "frames delivered to the backup's server during the small-packet test, per round"
      per_round r states "states after each mode (primary/backup)"
      per_round r drivers "port drivers (primary ext/int, backup ext/int)"
    else
      per_round s rx_dropped "proxy rx_dropped (ring/mbuf drops) after each mode"
      per_round s drivers "port drivers (ext/int)"
    fi
  } | tee -a "$BENCH_OUT/report.md"
}

ftp_log "results and profiles in $BENCH_OUT"
# One topology per subshell: each has its own namespaces and EXIT trap (topo_init).
rc=0
if [[ $WHICH != replicated ]]; then (run_standalone) || { rc=$?; ftp_log "standalone part failed ($rc)"; }; fi
if [[ $WHICH != standalone ]]; then (run_replicated) || { rc=$?; ftp_log "replicated part failed ($rc)"; }; fi
exit "$rc"
