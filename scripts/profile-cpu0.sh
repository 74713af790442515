#!/usr/bin/env bash
# Where the primary host's CPU goes: a system-wide profile of CPU 0 in the two-host model
# of scripts/lib/bench.sh (the client, the switch and the primary side on CPU 0, the
# backup side on CPU 1, RPS on each end of the log link), during one iperf3 run through a
# standalone proxy and one through the replicated pair, back to back. Prints, per mode,
# the throughput, the CPU's samples per GB delivered (busy and idle), its samples per
# command, and the symbols whose samples per GB differ most between the two
# (replicated − standalone).
#
# Usage: bash scripts/profile-cpu0.sh
# Environment: PROFILE_DIR (fwd = client→server, rev = server→client; fwd),
#   PROFILE_S (iperf3 seconds; 6), PROFILE_CC (iperf3 -C; cubic), PROFILE_TOP (30),
#   PROFILE_CPU (0, the primary host; 1 profiles the backup host instead),
#   PROFILE_CALLGRAPH (0; 1 records call graphs: `perf report -i DATA -G -S SYMBOL`),
#   PROFILE_OUT (a new temp dir; the perf data files are kept there)
set -euo pipefail
source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../tests/e2e/lib/pair.sh"
source "$(dirname "$0")/lib/bench.sh"

ftp_require_root
ftp_require_cmd iperf3 perf jq taskset
DIR=${PROFILE_DIR:-fwd}
T=${PROFILE_S:-6}
OUT=${PROFILE_OUT:-$(mktemp -d /tmp/ftp-profile-cpu0.XXXXXX)}
mkdir -p "$OUT"
CPU=${PROFILE_CPU:-0}
[[ $CPU == 0 || $CPU == 1 ]] || ftp_die "PROFILE_CPU must be 0 (primary host) or 1 (backup host)"
PERF_G=()
[[ ${PROFILE_CALLGRAPH:-0} == 1 ]] && PERF_G=(-g)
export BENCH_HOSTS=2
bench_two_host_pair

declare -A GB=() IPI=()
# Function-call IPIs (RPS hand-offs, remote wake-ups) received by CPU 0 and CPU 1.
ipis() { awk '$1 == "CAL:" { print $2, $3 }' /proc/interrupts; }
run() { # MODE: perf on CPU $CPU for T-1 s while iperf3 runs T s
  local a=(-t "$T" -J -C "${PROFILE_CC:-cubic}") out pp
  [[ $DIR == rev ]] && a+=(-R)
  ftp_wait_until 10 topo_exec "$TOPO_NS_C" ping -c 1 -W 1 "$TOPO_SERVICE_IP" || ftp_die "[$1] no service"
  perf record "${PERF_G[@]}" -a -C "$CPU" -e cpu-clock -F 999 -o "$OUT/$1.data" -- sleep "$((T - 1))" >/dev/null 2>&1 &
  pp=$!
  local i0 i1
  read -r -a i0 <<<"$(ipis)"
  out=$(topo_exec "$TOPO_NS_C" iperf3 -c "$TOPO_SERVICE_IP" "${a[@]}")
  read -r -a i1 <<<"$(ipis)"
  wait "$pp" || true
  GB[$1]=$(jq -r '.end.sum_received.bytes / 1e9' <<<"$out")
  IPI[$1]="$((i1[0] - i0[0])) $((i1[1] - i0[1]))"
  ftp_log "[$1] $(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 1000 | round / 1000' <<<"$out") Gbit/s"
}

bench_fresh_iperf
topo_start_proxy standalone "$TOPO_NS_P1" "$TOPO_DIR/standalone.toml"
run standalone
topo_stop standalone || true
bench_fresh_iperf
pair_start_proxies
bench_backup_host backup
run replicated
topo_stop primary || true
topo_stop backup || true

report() { # MODE SORT FILE: perf's samples of MODE per SORT key, as "count<TAB>key" lines
  perf report -i "$OUT/$1.data" --no-children --sort "$2" -q -n 2>/dev/null |
    awk '{ n = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); print n "\t" $0 }' >"$3"
}
for m in standalone replicated; do
  report "$m" dso,sym "$OUT/$m.txt"
  report "$m" comm "$OUT/$m.comm.txt"
done
echo "CPU $CPU profile, iperf3 $DIR ($T s, ${PROFILE_CC:-cubic}), perf cpu-clock 999 Hz; data in $OUT"
python3 - "$OUT" "${GB[standalone]}" "${GB[replicated]}" "${PROFILE_TOP:-30}" "${IPI[standalone]}" "${IPI[replicated]}" <<'EOF'
import sys
out, gs, gr, top = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ipi = {"standalone": sys.argv[5].split(), "replicated": sys.argv[6].split()}
def load(m, kind="txt"):
    d = {}
    for line in open(f"{out}/{m}.{kind}"):
        n, _, sym = line.rstrip("\n").partition("\t")
        if n.isdigit():
            d[sym] = d.get(sym, 0) + int(n)
    return d
s, r = load("standalone"), load("replicated")
idle = lambda d: sum(v for k, v in d.items() if "safe_halt" in k or "cpu_idle" in k)
for name, d, g in (("standalone", s, gs), ("replicated", r, gr)):
    tot = sum(d.values())
    c0, c1 = (int(x) / g for x in ipi[name])
    print(f"{name}: {g:.2f} GB, samples per GB: busy {(tot - idle(d)) / g:.0f}, idle {idle(d) / g:.0f}; "
          f"function-call IPIs per GB received: CPU 0 {c0:.0f}, CPU 1 {c1:.0f}")
sc, rc = load("standalone", "comm.txt"), load("replicated", "comm.txt")
print("\nsamples per GB by command (standalone, replicated):")
for k in sorted(set(sc) | set(rc), key=lambda k: -(rc.get(k, 0) / gr))[:8]:
    print(f"{sc.get(k, 0) / gs:8.0f} {rc.get(k, 0) / gr:8.0f}  {k}")
print(f"\nsamples per GB, replicated - standalone (top {top}):")
diff = sorted(((r.get(k, 0) / gr - s.get(k, 0) / gs), k) for k in set(s) | set(r))
for v, k in diff[::-1][:top]:
    print(f"{v:+8.0f}  {k}")
EOF
