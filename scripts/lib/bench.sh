# Measurement steps shared by scripts/bench-standalone.sh, bench-replication.sh and
# bench-dpdk.sh. Source after tests/e2e/lib/topology.sh (topo_exec, TOPO_*); the caller
# declares `declare -A R=()`: results land in R["<mode>:<metric>"].
# shellcheck shell=bash disable=SC2034

BENCH_IPERF_S=${BENCH_IPERF_S:-5}
BENCH_PINGS=${BENCH_PINGS:-200}
BENCH_RTT_N=${BENCH_RTT_N:-2000}
BENCH_REDIS_N=${BENCH_REDIS_N:-50000}
BENCH_SMALL_N=${BENCH_SMALL_N:-2000000}
BENCH_SMALL_S=${BENCH_SMALL_S:-3}
# Small-packet test and CPU accounting (set by the caller before bench_measure):
#   BENCH_SINK="NS IFACE"   the server's interface: frames delivered are counted there
#                           (rx_packets; rx+tx for the frames of the iperf3 phase)
#   BENCH_CPU_PIDS=(PID...) processes whose CPU time (/proc/PID/stat utime+stime) is
#                           charged to the forwarded frames; empty = not measured
BENCH_SINK=${BENCH_SINK:-}
BENCH_CPU_PIDS=()
BENCH_LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

# bench_percentiles FILE: nearest-rank p50 and p99 of one number per line.
bench_percentiles() {
  sort -n "$1" | awk '{v[NR] = $1} END {
    if (NR == 0) { print "nan nan"; exit }
    i50 = int(0.50 * NR); if (i50 < 0.50 * NR) i50++; if (i50 < 1) i50 = 1
    i99 = int(0.99 * NR); if (i99 < 0.99 * NR) i99++; if (i99 < 1) i99 = 1
    printf "%s %s\n", v[i50], v[i99] }'
}

# bench_cpu_ticks: summed utime+stime (clock ticks) of BENCH_CPU_PIDS, every thread.
bench_cpu_ticks() {
  local pid t=0 v
  for pid in "${BENCH_CPU_PIDS[@]}"; do
    # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
    v=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# bench_cpu_mark CPU: "WALL_NS IDLE_TICKS": the clock and one CPU's idle + iowait clock
# ticks since boot (/proc/stat). The busy fields there are sampled at the tick and alias
# with periodic load (a paced sender measured 60 and 3900 ms per GB in two runs); a
# tickless kernel accounts idle time exactly, so busy = wall time - idle time.
bench_cpu_mark() {
  echo "$(date +%s%N) $(awk -v cpu="cpu$1" '$1 == cpu { print $5 + $6 }' /proc/stat)"
}

# bench_cpu_ms_per_gb "MARK0" "MARK1" BYTES: the CPU's busy milliseconds per GB between
# two bench_cpu_mark's.
bench_cpu_ms_per_gb() {
  local w0 i0 w1 i1
  read -r w0 i0 <<<"$1"
  read -r w1 i1 <<<"$2"
  awk -v w=$((w1 - w0)) -v i=$((i1 - i0)) -v n="$3" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { b = w / 1e6 - i / hz * 1e3; if (b < 0) b = 0; printf "%.0f", (n > 0 ? b / (n / 1e9) : 0) }'
}

# bench_sink_counter FIELD: the sink interface's statistics/FIELD (rx_packets, ...).
bench_sink_counter() {
  local ns if
  read -r ns if <<<"$BENCH_SINK"
  topo_exec "$ns" cat "/sys/class/net/$if/statistics/$1"
}

# bench_cpu_ns_per_frame TICKS FRAMES: CPU nanoseconds per frame ("–" if unknown).
bench_cpu_ns_per_frame() {
  local hz
  hz=$(getconf CLK_TCK)
  if ((${#BENCH_CPU_PIDS[@]} == 0 || $2 <= 0)); then
    echo "–"
  else
    awk -v t="$1" -v f="$2" -v hz="$hz" 'BEGIN { printf "%.0f", t / hz * 1e9 / f }'
  fi
}

# bench_build_flood: compile scripts/lib/udp_flood.c once into $TOPO_DIR.
bench_build_flood() {
  [[ -x $TOPO_DIR/udp_flood ]] && return 0
  ftp_require_cmd cc
  cc -O2 -o "$TOPO_DIR/udp_flood" "$FTP_REPO_ROOT/scripts/lib/udp_flood.c" || ftp_die "cannot build udp_flood"
}

# bench_measure MODE PART...: the client-side measurements through whatever joins the
# client to the service IP now. PARTs, in the order given:
#   iperf  TCP throughput both ways (iperf3 -t BENCH_IPERF_S): tput_fwd, tput_rev (Gbit/s),
#          cpu0_fwd (CPU 0's busy ms per GB of the forward run);
#          with a sink and pids also cpu_iperf_ns (CPU ns per frame crossing the sink)
#   ping   ICMP RTT (BENCH_PINGS at 10 ms): ping_p50, ping_p99 (µs), ping_loss
#   rtt    TCP request RTT (scripts/lib/tcp_rtt.py, BENCH_RTT_N): rtt_p50, rtt_p99 (µs)
#   redis  redis-benchmark -n BENCH_REDIS_N -c 10 -t set,get: set_rps, get_rps
#   small  64-byte frames as fast as the sender goes (udp_flood.c), BENCH_SMALL_N of
#          them or for BENCH_SMALL_S seconds, whichever ends first:
#          small_offered (pps the sender achieved), small_pps (frames delivered at the
#          sink / sender time), small_loss (% not delivered), cpu_small_ns (CPU ns of
#          BENCH_CPU_PIDS per delivered frame). The sender runs at SCHED_RR
#          BENCH_SENDER_RT (10, the proxies' default priority; 0 = normal);
#          BENCH_SENDERS (1) sender processes run side by side, each sending up to
#          BENCH_SMALL_N frames (offered = their sum / the longest one's time)
bench_measure() {
  local mode=$1 c=$TOPO_NS_C sip=$TOPO_SERVICE_IP out part
  shift
  ftp_log "[$mode] warm-up"
  ftp_wait_until 10 topo_exec "$c" ping -c 1 -W 1 "$sip" || ftp_die "[$mode] no connectivity"
  for part in "$@"; do
    case $part in
      iperf) _bench_iperf "$mode" ;;
      ping) _bench_ping "$mode" ;;
      rtt)
        ftp_log "[$mode] TCP request RTT: $BENCH_RTT_N sequential redis PINGs"
        out=$(topo_exec "$c" "$FTP_PYTHON" "$FTP_REPO_ROOT/scripts/lib/tcp_rtt.py" "$sip" "$TOPO_REDIS_PORT" "$BENCH_RTT_N")
        R[$mode:rtt_p50]=$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$out")
        R[$mode:rtt_p99]=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")
        ;;
      redis)
        ftp_log "[$mode] redis-benchmark -n $BENCH_REDIS_N -c 10 -t set,get"
        out=$(topo_exec "$c" redis-benchmark -h "$sip" -q -n "$BENCH_REDIS_N" -c 10 -t set,get | tr '\r' '\n')
        R[$mode:set_rps]=$(sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -n 1)
        R[$mode:get_rps]=$(sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -n 1)
        ;;
      small) _bench_small "$mode" ;;
      *) ftp_die "bench_measure: unknown part $part" ;;
    esac
  done
}

# bench_iperf_fwd MODE NS IPERF3-ARGS...: one iperf3 client run (-t BENCH_IPERF_S) in NS:
# tput_fwd (Gbit/s received) and cpu0_fwd, CPU 0's busy ms per GB received (in the
# two-host model the client's and the primary side's cost per byte, which bounds the
# forward throughput).
bench_iperf_fwd() {
  local mode=$1 ns=$2 out m0 m1
  shift 2
  m0=$(bench_cpu_mark 0)
  out=$(topo_exec "$ns" iperf3 "$@" -t "$BENCH_IPERF_S" -J)
  m1=$(bench_cpu_mark 0)
  R[$mode:tput_fwd]=$(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$out")
  R[$mode:cpu0_fwd]=$(bench_cpu_ms_per_gb "$m0" "$m1" "$(jq -r '.end.sum_received.bytes' <<<"$out")")
}

_bench_iperf() {
  local mode=$1 c=$TOPO_NS_C sip=$TOPO_SERVICE_IP out f0=0 f1=0 t0 t1
  if [[ -n $BENCH_SINK ]]; then
    f0=$(($(bench_sink_counter rx_packets) + $(bench_sink_counter tx_packets)))
    t0=$(bench_cpu_ticks)
  fi
  ftp_log "[$mode] iperf3 TCP client->server ${BENCH_IPERF_S}s"
  bench_iperf_fwd "$mode" "$c" -c "$sip"
  ftp_log "[$mode] iperf3 TCP server->client ${BENCH_IPERF_S}s"
  # The reverse run may use its own iperf3 server (BENCH_IPERF_REV_PORT): iperf3's control
  # connection carries per-server timing results, so a replicated pair's backup server
  # diverges at the end of every test, and its next test on the same server starts out of
  # step (a 2 s hold, tcp.hold_ms, that stalls the whole pair).
  # BENCH_IPERF_GAP_S: a pause first, so that the end of the forward test (its diverged
  # control connection, held up to tcp.hold_ms at a backup) is over before this one.
  sleep "${BENCH_IPERF_GAP_S:-0}"
  out=$(topo_exec "$c" iperf3 -c "$sip" -p "${BENCH_IPERF_REV_PORT:-5201}" -t "$BENCH_IPERF_S" -J -R)
  echo "$out" >"$TOPO_DIR/iperf-rev-${mode//:/-}.json"
  R[$mode:tput_rev]=$(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$out")
  if [[ -n $BENCH_SINK ]]; then
    f1=$(($(bench_sink_counter rx_packets) + $(bench_sink_counter tx_packets)))
    t1=$(bench_cpu_ticks)
    R[$mode:cpu_iperf_ns]=$(bench_cpu_ns_per_frame $((t1 - t0)) $((f1 - f0)))
  fi
}

_bench_ping() {
  local mode=$1
  ftp_log "[$mode] ping x$BENCH_PINGS at 10 ms"
  topo_exec "$TOPO_NS_C" ping -c "$BENCH_PINGS" -i 0.01 -W 1 "$TOPO_SERVICE_IP" |
    sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | awk '{printf "%.0f\n", $1 * 1000}' >"$TOPO_DIR/ping.txt"
  read -r "R[$mode:ping_p50]" "R[$mode:ping_p99]" < <(bench_percentiles "$TOPO_DIR/ping.txt")
  R[$mode:ping_loss]=$((BENCH_PINGS - $(wc -l <"$TOPO_DIR/ping.txt")))
}

_bench_small() {
  local mode=$1 out r0 r1 prev t0 t1 i sent secs k
  local -a senders=()
  [[ -n $BENCH_SINK ]] || ftp_die "bench_measure small needs BENCH_SINK"
  bench_build_flood
  # The proxies run SCHED_RR (node.realtime_priority, default 10): on a loaded machine a
  # normal-priority sender would be starved and measure the load, not the proxy. The
  # sender gets the same priority for the few seconds it runs (BENCH_SENDER_RT=0: off).
  local -a sender_prio=()
  ((${BENCH_SENDER_RT:-10} > 0)) && sender_prio=(chrt -r "${BENCH_SENDER_RT:-10}")
  # BENCH_SENDER_CPU: pin the sender(s) to that CPU (the capped-proxy phase of bench-dpdk).
  [[ -n ${BENCH_SENDER_CPU:-} ]] && sender_prio=(taskset -c "$BENCH_SENDER_CPU" "${sender_prio[@]}")
  ftp_log "[$mode] 64-byte UDP frames for ${BENCH_SMALL_S}s (at most $BENCH_SMALL_N per sender)," \
    "as fast as ${BENCH_SENDERS:-1} sender(s) go"
  rm -f "$TOPO_DIR"/flood-*.out
  r0=$(bench_sink_counter rx_packets)
  t0=$(bench_cpu_ticks)
  for ((k = 0; k < ${BENCH_SENDERS:-1}; k++)); do
    topo_exec "$TOPO_NS_C" "${sender_prio[@]}" "$TOPO_DIR/udp_flood" eth0 "$TOPO_SERVICE_MAC" "$TOPO_SERVICE_IP" \
      "$BENCH_SMALL_N" "$BENCH_SMALL_S" >"$TOPO_DIR/flood-$k.out" &
    senders+=("$!")
  done
  for k in "${senders[@]}"; do wait "$k" || ftp_die "[$mode] udp_flood failed"; done
  out=$(cat "$TOPO_DIR"/flood-*.out)
  # Frames still in a ring when the sender stops arrive a little later: wait (bounded,
  # 3 s) until the counter stands still for 0.2 s.
  prev=-1
  for ((i = 0; i < 15; i++)); do
    r1=$(bench_sink_counter rx_packets)
    ((r1 == prev)) && break
    prev=$r1
    sleep 0.2
  done
  t1=$(bench_cpu_ticks)
  sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out" | awk '{ n += $1 } END { print n + 0 }')
  secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out" | sort -g | tail -n 1)
  R[$mode:small_offered]=$(awk -v n="$sent" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  R[$mode:small_pps]=$(awk -v n=$((r1 - r0)) -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  R[$mode:small_loss]=$(awk -v n=$((r1 - r0)) -v s="$sent" 'BEGIN { d = 100 * (1 - n / s); if (d < 0) d = 0; printf "%.1f", d }')
  R[$mode:cpu_small_ns]=$(bench_cpu_ns_per_frame $((t1 - t0)) $((r1 - r0)))
  ftp_log "[$mode] offered ${R[$mode:small_offered]} pps, delivered ${R[$mode:small_pps]} pps" \
    "(${R[$mode:small_loss]} % lost), CPU ${R[$mode:cpu_small_ns]} ns/frame"
}

# bench_machine_line TITLE: the one-line header every table gets (date, kernel, CPUs,
# load average at the start and now: the machine is shared).
bench_machine_line() {
  echo "$1, $(date -u +%Y-%m-%d), $(uname -r), $(nproc --all) CPU(s):" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "load average at start $BENCH_LOAD_AT_START, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---- the two-host model of a pair on this 2-core machine (BENCH_HOSTS=2) ----------------
# The client and the primary side (proxy, server S1, kernel bridge or standalone proxy)
# on CPU 0, the backup side (proxy, S2) on CPU 1, as the backup has a machine of its own
# in a deployment. BENCH_HOSTS=1 turns every step into a no-op (processes run anywhere).

# bench_primary_host: pins this script, and so every process it starts, to CPU 0.
bench_primary_host() {
  [[ ${BENCH_HOSTS:-2} == 2 ]] || return 0
  (($(nproc) >= 2)) || ftp_die "the two-host model (BENCH_HOSTS=2) needs 2 CPUs"
  ftp_require_cmd taskset
  taskset -p -c 0 $$ >/dev/null
}

# bench_backup_host NAME...: moves the named started processes (all threads) to CPU 1.
bench_backup_host() {
  [[ ${BENCH_HOSTS:-2} == 2 ]] || return 0
  local name
  for name in "$@"; do taskset -a -p -c 1 "$(topo_pid "$name")" >/dev/null; done
}

# bench_log_rps: a veth delivers a frame in the sender's context, so without this the
# backup's receive work for the log stream would run on the primary's CPU (and the
# primary's for the acks on the backup's): RPS on each log end steers it to its own
# host's CPU, as a NIC on a second machine would.
bench_log_rps() {
  [[ ${BENCH_HOSTS:-2} == 2 ]] || return 0
  topo_exec "$TOPO_NS_P1" sh -c 'echo 1 >/sys/class/net/log/queues/rx-0/rps_cpus'
  topo_exec "$TOPO_NS_P2" sh -c 'echo 2 >/sys/class/net/log/queues/rx-0/rps_cpus'
}

# bench_two_host_pair: the replicated pair's topology (pair_setup) in the two-host model
# (this shell on CPU 0, S2's redis on CPU 1, RPS on the log link), and the config of a
# standalone proxy in P1 ($TOPO_DIR/standalone.toml) to compare the pair with.
bench_two_host_pair() {
  bench_primary_host # every process started from here on runs on CPU 0
  topo_init
  pair_setup
  bench_backup_host redis2
  bench_log_rps
  pair_write_config primary "$TOPO_DIR/standalone.toml" 'node.role="standalone"'
}

# bench_fresh_iperf [REV_PORT]: new iperf3 servers on S1 and S2 (iperf1, iperf2; with
# REV_PORT also iperf1r, iperf2r on that port), S2's on the backup host. iperf3's
# control connection carries per-server timing results, so a replicated backup server
# diverges at the end of each test and its next test would start out of step.
bench_fresh_iperf() {
  local n
  for n in iperf1 iperf2 iperf1r iperf2r; do topo_stop "$n" || true; done
  topo_start_iperf iperf1 "$TOPO_NS_S1"
  topo_start_iperf iperf2 "$TOPO_NS_S2"
  bench_backup_host iperf2
  if [[ -n ${1:-} ]]; then
    topo_start_iperf iperf1r "$TOPO_NS_S1" "$1"
    topo_start_iperf iperf2r "$TOPO_NS_S2" "$1"
    bench_backup_host iperf2r
  fi
  sleep 0.3 # listening
}
