# Helpers for the replication end-to-end tests (tests/e2e/test_replication_*.sh), on top
# of topology.sh and pair.sh: a pair set-up with per-server sysctls applied before the
# redis-servers start, redis workloads run from the client namespace, comparisons of the
# two server copies, the backup server's TCP health (ss, nstat) and a capture on the
# switch port of the backup proxy.
# Source it after topo_init's libraries; it sources pair.sh itself when needed.
# shellcheck shell=bash disable=SC2034

_repl_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
declare -F topo_init >/dev/null || source "$_repl_lib_dir/topology.sh"
declare -F pair_setup >/dev/null || source "$_repl_lib_dir/pair.sh"

# repl_fail MESSAGE: fail the test; first prints what both proxies report (state,
# failover history, log channel, output gate, TCP translation), for the diagnosis.
repl_fail() {
  local ns
  for ns in ${TOPO_NS_P1:-} ${TOPO_NS_P2:-}; do
    ftp_log "status of $ns: $(topo_status "$ns" 2>/dev/null | jq -c '{state, log, output_gate, tcp,
      transitions: [.failover.transitions[]? | {from, to, reason, seconds_ago}]}' 2>/dev/null)"
  done
  ftp_die "FAILED: $*"
}

# Overrides for pair_start_proxies. These tests are about replication, not failure
# detection, and run with a 1 s failure timeout instead of the example's 60 ms: while the
# backup's translator has no room (tcp.inject_backpressure), its log receiver stops
# reading, so it stops hearing the primary's heartbeats too and declares the primary
# silent after failover.timeout_ms (a spurious failover, seen with a single client when
# S2 lags S1; reported to the lead). REPL_FAILOVER_TIMEOUT_MS=60 runs with the shipped value.
REPL_PROXY_OPTS=("failover.timeout_ms=${REPL_FAILOVER_TIMEOUT_MS:-1000}")
# REPL_BACKEND=dpdk runs both proxies on that packet I/O backend (like FO_BACKEND of
# failover.sh; test_dpdk_replication.sh sets it); unset = the example configs' pcap.
[[ -z ${REPL_BACKEND:-} ]] || REPL_PROXY_OPTS+=("ports.backend=\"$REPL_BACKEND\"")

# repl_start_pair: pair_start_proxies with REPL_PROXY_OPTS, then both in their states.
repl_start_pair() {
  pair_start_proxies "${REPL_PROXY_OPTS[@]}"
  [[ -z ${REPL_BACKEND:-} ]] || pair_expect_backend "$REPL_BACKEND" || repl_fail "$PAIR_BACKEND_ERROR"
  pair_wait_state "$TOPO_NS_P2" backup 5 || repl_fail "backup not in state backup: $(pair_state "$TOPO_NS_P2")"
  pair_wait_state "$TOPO_NS_P1" primary 5 || repl_fail "primary not in state primary: $(pair_state "$TOPO_NS_P1")"
}

# repl_assert_no_failover: neither proxy changed state since it started (a failover
# in the middle of a replication test would make every later check meaningless).
repl_assert_no_failover() {
  local ns t
  for ns in "$TOPO_NS_P1" "$TOPO_NS_P2"; do
    t=$(topo_status "$ns" | jq -c '[.failover.transitions[]? | {from, to, reason, seconds_ago}]')
    [[ $t == "[]" ]] || repl_fail "$ns changed state during the test: $t"
  done
}

# repl_setup [S1_SYSCTLS] [S2_SYSCTLS]: like pair_setup (topology, arbiter, redis on S1
# and S2), but applies the space-separated sysctl assignments to each server namespace
# before its redis-server starts (a listener inherits nothing, but new connections read
# e.g. net.ipv4.tcp_timestamps when they are created).
repl_setup() {
  local s1_sysctls=${1:-} s2_sysctls=${2:-} kv
  topo_pair
  for kv in $s1_sysctls; do topo_exec "$TOPO_NS_S1" sysctl -qw "$kv" || ftp_die "sysctl $kv in S1"; done
  for kv in $s2_sysctls; do topo_exec "$TOPO_NS_S2" sysctl -qw "$kv" || ftp_die "sysctl $kv in S2"; done
  topo_write_arbiter_config "$TOPO_DIR/arbiter.toml"
  topo_start_arbiter arbiter "$TOPO_DIR/arbiter.toml"
  topo_start_redis redis1 "$TOPO_NS_S1"
  topo_start_redis redis2 "$TOPO_NS_S2"
}

# repl_redis NS ARGS...: redis-cli against the server copy inside server namespace NS.
repl_redis() {
  local ns=$1
  shift
  topo_exec "$ns" timeout 10 redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" "$@"
}

# repl_status_get NS JQ_FILTER: one value of the proxy's /status (raw jq output).
repl_status_get() { topo_status "$1" | jq -r "$2"; }

# repl_info_field NS SECTION FIELD: a field of redis INFO SECTION on a server copy.
repl_info_field() {
  repl_redis "$1" INFO "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'
}

# repl_cmd_calls NS CMD: how many times redis executed CMD (INFO commandstats), 0 if never.
repl_cmd_calls() {
  local v
  v=$(repl_info_field "$1" commandstats "cmdstat_$2" | sed -n 's/^calls=\([0-9]*\),.*/\1/p')
  echo "${v:-0}"
}

# repl_wait_replicas_equal SECONDS: poll until DEBUG DIGEST and DBSIZE agree on S1 and S2
# (the backup may still be injecting the last entries when the client got its replies:
# the backup acks on receipt). Prints the final digests; returns 1 if they never agree.
repl_wait_replicas_equal() {
  local secs=$1 i d1="" d2="" n1="" n2=""
  for ((i = 0; i < secs * 10; i++)); do
    d1=$(repl_redis "$TOPO_NS_S1" DEBUG DIGEST) d2=$(repl_redis "$TOPO_NS_S2" DEBUG DIGEST)
    n1=$(repl_redis "$TOPO_NS_S1" DBSIZE) n2=$(repl_redis "$TOPO_NS_S2" DBSIZE)
    if [[ -n $d1 && $d1 == "$d2" && $n1 == "$n2" ]]; then
      ftp_log "replicas equal: digest $d1, dbsize $n1"
      REPL_DBSIZE=$n1
      return 0
    fi
    sleep 0.1
  done
  ftp_log "replicas differ: S1 digest $d1 dbsize $n1, S2 digest $d2 dbsize $n2"
  return 1
}

# repl_compare_cmdstats CMD...: each command ran as often on S2 as on S1 (and at least
# once). Prints "cmd=calls" pairs.
repl_compare_cmdstats() {
  local c a b out=""
  for c in "$@"; do
    a=$(repl_cmd_calls "$TOPO_NS_S1" "$c") b=$(repl_cmd_calls "$TOPO_NS_S2" "$c")
    ((a > 0)) || repl_fail "S1 never executed $c"
    ((a == b)) || repl_fail "$c executed $a times on S1 but $b times on S2"
    out+=" $c=$a"
  done
  ftp_log "command counts equal on S1 and S2:$out"
}

# repl_no_error_replies: neither server answered any command with an error.
repl_no_error_replies() {
  local ns e
  for ns in "$TOPO_NS_S1" "$TOPO_NS_S2"; do
    e=$(repl_info_field "$ns" stats total_error_replies)
    [[ $e == 0 ]] || repl_fail "$ns: redis total_error_replies=$e"
  done
}

# ---- capture on the switch ------------------------------------------------------------
# repl_capture_start NAME SWITCH_PORT: tcpdump in the switch namespace counting only the
# frames that arrive INTO the switch from SWITCH_PORT (-Q in: what the proxy behind the
# port transmitted; frames the bridge floods out to it are direction "out"). Waits until
# tcpdump listens. The capture file is $TOPO_DIR/NAME.pcap.
repl_capture_start() {
  local name=$1 port=$2
  ftp_require_cmd tcpdump
  topo_spawn "$name" "$TOPO_NS_SW" tcpdump -i "$port" -Q in -n -U -w "$TOPO_DIR/$name.pcap"
  ftp_wait_until 5 grep -q "listening on" "$(topo_log "$name")" ||
    ftp_die "tcpdump on $port did not start (see $(topo_log "$name"))"
}

# repl_capture_stop NAME [MIN_FRAMES]: stop the capture; prints the number of frames
# captured. tcpdump stops without draining its ring on SIGINT, so when the caller knows
# frames went by (e.g. the port's rx counter), wait (bounded, 2 s) until the file holds at
# least MIN_FRAMES before stopping.
repl_capture_stop() {
  local name=$1 min=${2:-0} file="$TOPO_DIR/$1.pcap" i
  for ((i = 0; i < 20; i++)); do
    (($(repl_pcap_count "$file") >= min)) && break
    sleep 0.1
  done
  topo_stop "$name" INT 3 >/dev/null 2>&1 || true
  repl_pcap_count "$file"
}

# repl_pcap_count FILE: frames in a capture file (one summary line per frame starts with
# its timestamp; unknown ethertypes add hex-dump lines, which start with a tab).
repl_pcap_count() { tcpdump -r "$1" -n 2>/dev/null | grep -c '^[0-9]' || true; }

# repl_switch_rx_packets PORT: packets the switch received on PORT since it was created
# (the kernel's counter; independent of any capture timing).
repl_switch_rx_packets() {
  ip -n "$TOPO_NS_SW" -s -j link show "$1" | jq '.[0].stats64.rx.packets'
}

# ---- TCP health of a server namespace --------------------------------------------------
# repl_nstat NS: absolute TCP counters of the namespace ("name value" lines; history untouched).
repl_nstat() { topo_exec "$1" nstat -asz 2>/dev/null | awk '/^(Tcp|TcpExt)/ { print $1, $2 }'; }

# repl_nstat_delta BEFORE_FILE AFTER_FILE NAME: the counter's increase between snapshots.
repl_nstat_delta() {
  awk -v n="$3" 'FNR == NR { if ($1 == n) b = $2; next } $1 == n { a = $2 } END { print a - b }' "$1" "$2"
}

# repl_tcp_stuck NS PORT: prints the server-side sockets of local port PORT that are not
# healthy: data sent and not acked (Send-Q > 0 or "unacked:" in ss -i), or a state that
# only lasts while a segment is missing (SYN-RECV, FIN-WAIT-1, CLOSING, LAST-ACK,
# CLOSE-WAIT). Prints nothing when every socket is healthy.
repl_tcp_stuck() {
  topo_exec "$1" ss -tniH state connected "( sport = :$2 )" | awk '
    /^[A-Z]/ {
      if (sock != "" && bad) print sock " " info
      sock = $0; info = ""; bad = ($3 > 0) || ($1 ~ /SYN-RECV|FIN-WAIT-1|CLOSING|LAST-ACK|CLOSE-WAIT/)
      next
    }
    { info = info $0; if ($0 ~ /unacked:/) bad = 1 }
    END { if (sock != "" && bad) print sock " " info }'
}

# repl_wait_tcp_healthy NS PORT SECONDS: poll until repl_tcp_stuck prints nothing; on
# timeout prints the stuck sockets and returns 1.
repl_wait_tcp_healthy() {
  local ns=$1 port=$2 secs=$3 i out=""
  for ((i = 0; i < secs * 10; i++)); do
    out=$(repl_tcp_stuck "$ns" "$port")
    [[ -z $out ]] && return 0
    sleep 0.1
  done
  echo "$out"
  return 1
}

# repl_conn_bytes NS PORT CLIENT_PORT: "bytes_sent bytes_acked bytes_received" of the
# established server-side socket of one client connection (ss -i).
repl_conn_bytes() {
  topo_exec "$1" ss -tniH state established "( sport = :$2 and dport = :$3 )" | awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, ":"); v[kv[1]] = kv[2] } }
    END { printf "%d %d %d\n", v["bytes_sent"], v["bytes_acked"], v["bytes_received"] }'
}

# ---- workloads --------------------------------------------------------------------------
# repl_write_tools: the Python workload scripts, written into $TOPO_DIR.
#   kv_mix.py     several connections, each pipelining SET/INCR/LPUSH/HSET on its OWN keys
#                 (so the result does not depend on how the server interleaves connections),
#                 checking every reply; exits 1 on any error reply or connection error.
#   kv_hold.py    one connection that writes a few values, then stays open idle (until
#                 killed or --seconds), so the server sockets can be compared at the end.
#   log_probe.py  connects to the backup's log port and sends one bad opening; reports
#                 whether the peer closed the connection.
repl_write_tools() {
  cat >"$TOPO_DIR/kv_mix.py" <<'PY'
import argparse, json, socket, sys, threading, time

def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)

class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()
    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("EOF from server")
            self.buf.extend(chunk)
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i]); del self.buf[: i + 2]
        return out

def worker(a, c, res):
    try:
        s = socket.create_connection((a.host, a.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = Reader(s)
        done = 0
        deadline = time.monotonic() + a.seconds
        while done < a.ops and time.monotonic() < deadline:
            cmds = []
            for i in range(done, min(done + a.batch, a.ops)):
                kind = i % 4
                if kind == 0:
                    cmds.append(resp("SET", f"m{c}:s{i % a.keys}", f"v{i}"))
                elif kind == 1:
                    cmds.append(resp("INCR", f"m{c}:n{i % a.keys}"))
                elif kind == 2:
                    cmds.append(resp("LPUSH", f"m{c}:l{i % 97}", f"e{i}"))
                else:
                    cmds.append(resp("HSET", f"m{c}:h{i % 89}", f"f{i}", "x" * (i % 200)))
            s.sendall(b"".join(cmds))
            for _ in cmds:
                line = r.line()
                if line[:1] not in (b"+", b":"):
                    raise RuntimeError(f"error reply {line!r}")
            done += len(cmds)
        s.close()
        res[c] = (done, None)
    except Exception as e:  # noqa: BLE001 - reported in the summary
        res[c] = (0, f"{type(e).__name__}: {e}")

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=6379)
ap.add_argument("--conns", type=int, default=4)
ap.add_argument("--ops", type=int, default=4000, help="commands per connection")
ap.add_argument("--batch", type=int, default=50, help="commands per pipelined write")
ap.add_argument("--keys", type=int, default=500)
ap.add_argument("--seconds", type=float, default=30)
a = ap.parse_args()
res = {}
ts = [threading.Thread(target=worker, args=(a, c, res)) for c in range(a.conns)]
for t in ts: t.start()
for t in ts: t.join()
errors = [e for _, e in res.values() if e]
done = sum(d for d, _ in res.values())
print(json.dumps({"commands": done, "expected": a.conns * a.ops, "errors": errors}))
sys.exit(0 if not errors and done == a.conns * a.ops else 1)
PY
  cat >"$TOPO_DIR/kv_hold.py" <<'PY'
import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
buf = b""
for i in range(20):
    v = ("h%d" % i) * 100
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\nhold:%d\r\n$%d\r\n%s\r\n" % (len(b"hold:%d" % i), i, len(v), v.encode()))
    while b"\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("EOF")
        buf += chunk
    if not buf.startswith(b"+OK"):
        sys.exit("reply %r" % buf)
    buf = buf[buf.index(b"\r\n") + 2:]
print("local_port", s.getsockname()[1], flush=True)
time.sleep(seconds)
PY
  cat >"$TOPO_DIR/log_probe.py" <<'PY'
import socket, struct, sys

def hello(cluster, node, epoch=1, role=1, version=@LOG_VERSION@):
    c, n = cluster.encode(), node.encode()
    payload = struct.pack(">HBBQQ", version, role, 0, epoch, 0) + bytes([len(c)]) + c + bytes([len(n)]) + n
    return struct.pack(">HBBI", 0x4654, 1, 0, len(payload)) + payload

kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = sys.argv[4] if len(sys.argv) > 4 else ""
if kind == "garbage":
    with open("/dev/urandom", "rb") as f:
        data = f.read(4096)
    if data[:2] == b"FT":
        data = b"\0" + data[1:]
elif kind == "http":
    data = b"GET /status HTTP/1.1\r\nHost: backup\r\nUser-Agent: probe\r\n\r\n"
elif kind == "hello":
    data = hello(arg, "intruder")  # a valid plaintext HELLO (to a TLS port, or without the key)
elif kind == "wrong_cluster":
    data = hello("not-" + arg, "intruder")
elif kind == "wrong_epoch":
    data = hello(arg, "intruder", epoch=7)
elif kind == "wrong_role":
    data = hello(arg, "intruder", role=2)
elif kind == "silent":
    data = b""
else:
    sys.exit("unknown probe " + kind)
s = socket.create_connection((host, port), timeout=3)
print("local_port", s.getsockname()[1], flush=True)
s.sendall(data)
s.settimeout(3)
got = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    how = "closed"
except ConnectionResetError:
    how = "reset"
except socket.timeout:
    how = "open"
print(how, len(got))
sys.exit(0 if how != "open" else 1)
PY
  # The HELLO it sends speaks the protocol version the code was built with.
  sed -i "s/@LOG_VERSION@/$(repl_log_version)/" "$TOPO_DIR/log_probe.py"
}

# repl_log_version: the log protocol version of this source tree (kProtocolVersion), for
# the test tools that speak the protocol themselves.
repl_log_version() {
  local v
  v=$(sed -n 's/^inline constexpr std::uint16_t kProtocolVersion = \([0-9]*\);.*/\1/p' \
    "$FTP_REPO_ROOT/include/ftproxy/replication/codec.hpp")
  [[ -n $v ]] || ftp_die "kProtocolVersion not found in include/ftproxy/replication/codec.hpp"
  echo "$v"
}

# repl_flow NS CLIENT_PORT: the /flows entry (JSON object) of the proxy in NS for the
# client connection from TOPO_CLIENT_IP:CLIENT_PORT; empty if not tracked.
repl_flow() {
  ip netns exec "$1" curl -sf --max-time 2 "http://127.0.0.1:$TOPO_CONTROL_PORT/flows" |
    jq -c --arg c "$TOPO_CLIENT_IP:$2" '.flows[] | select(.client == $c)'
}

# repl_ts_distance DELTA: distance of a 32-bit delta from 0 (modulo 2^32).
repl_ts_distance() {
  local d=$(($1 & 0xffffffff))
  ((d > 0x80000000)) && d=$((0x100000000 - d))
  echo "$d"
}

# repl_start_holder NAME SECONDS: an idle client connection (kv_hold.py) from the client
# namespace; sets REPL_HOLD_PORT to its local port once its writes were acknowledged.
repl_start_holder() {
  topo_spawn "$1" "$TOPO_NS_C" "$FTP_PYTHON" "$TOPO_DIR/kv_hold.py" "$TOPO_SERVICE_IP" "$TOPO_REDIS_PORT" "$2"
  ftp_wait_until 10 grep -q '^local_port' "$(topo_log "$1")" || repl_fail "$1 connection: $(cat "$(topo_log "$1")")"
  REPL_HOLD_PORT=$(awk '/^local_port/ { print $2 }' "$(topo_log "$1")")
}

# repl_check_holder PORT: the idle connection has the same byte counts on S1 and S2 and
# the backup server's output on it is fully acked (the client's acks were translated).
repl_check_holder() {
  local port=$1 b1 b2 s1_sent s1_acked s1_recv s2_sent s2_acked s2_recv
  b1=$(repl_conn_bytes "$TOPO_NS_S1" "$TOPO_REDIS_PORT" "$port")
  b2=$(repl_conn_bytes "$TOPO_NS_S2" "$TOPO_REDIS_PORT" "$port")
  read -r s1_sent s1_acked s1_recv <<<"$b1"
  read -r s2_sent s2_acked s2_recv <<<"$b2"
  ftp_log "idle connection :$port  sent/acked/received  S1 $b1  S2 $b2"
  ((s1_recv > 0 && s1_sent > 0)) || repl_fail "idle connection :$port not found on S1 ($b1)"
  ((s2_recv == s1_recv && s2_sent == s1_sent)) || repl_fail "idle connection :$port differs: S1 $b1, S2 $b2"
  ((s2_acked == s2_sent)) || repl_fail "S2's output on the idle connection :$port not fully acked: $b2"
}

# repl_check_backup_tcp SECONDS: no stuck socket on either server (after a settle time).
repl_check_backup_tcp() {
  local stuck
  stuck=$(repl_wait_tcp_healthy "$TOPO_NS_S2" "$TOPO_REDIS_PORT" "$1") ||
    repl_fail "backup server sockets stuck after $1 s: $stuck"
  stuck=$(repl_wait_tcp_healthy "$TOPO_NS_S1" "$TOPO_REDIS_PORT" "$1") ||
    repl_fail "primary server sockets stuck after $1 s: $stuck"
}

# repl_nstat_snapshot LABEL: TCP counters of both server namespaces into $TOPO_DIR.
repl_nstat_snapshot() {
  repl_nstat "$TOPO_NS_S1" >"$TOPO_DIR/nstat-s1.$1"
  repl_nstat "$TOPO_NS_S2" >"$TOPO_DIR/nstat-s2.$1"
}

# repl_nstat_check BEFORE AFTER: between the two snapshots the backup server saw no more
# aborts, resets or failed connection attempts than the primary server (both run the
# same inputs; anything extra on S2 comes from a translation error). Logs the deltas
# and a few retransmission counters (diagnostics only).
repl_nstat_check() {
  local b=$1 a=$2 c d1 d2 out=""
  for c in TcpExtTCPAbortOnData TcpExtTCPAbortOnClose TcpExtTCPAbortOnMemory TcpExtTCPAbortOnTimeout \
    TcpExtTCPAbortOnLinger TcpExtTCPAbortFailed TcpEstabResets TcpOutRsts TcpAttemptFails \
    TcpRetransSegs TcpExtTCPSynRetrans TcpExtTCPTimeouts TcpExtTCPLossProbes TcpExtPAWSEstab; do
    d1=$(repl_nstat_delta "$TOPO_DIR/nstat-s1.$b" "$TOPO_DIR/nstat-s1.$a" "$c")
    d2=$(repl_nstat_delta "$TOPO_DIR/nstat-s2.$b" "$TOPO_DIR/nstat-s2.$a" "$c")
    out+=" $c=$d1/$d2"
    case $c in
      TcpExtTCPAbort* | TcpEstabResets | TcpOutRsts | TcpAttemptFails | TcpExtPAWSEstab)
        ((d2 <= d1)) || repl_fail "backup server $c rose by $d2 (primary server: $d1)"
        ;;
    esac
  done
  ftp_log "nstat deltas S1/S2:$out"
}

# ---- a writer that must not notice hostile log connections -----------------------------
# For the tests that open bad or hostile connections to the backup's log port while the
# pair replicates (test_replication_bad_hello.sh, test_security_log_channel.sh):
# kv_client.py writes over one long-lived connection meanwhile, and afterwards the pair
# must be as if nothing had happened.

# repl_note_reconnects: remembers both proxies' log.reconnects (REPL_RECONNECTS1 for the
# primary, REPL_RECONNECTS2 for the backup) for repl_kv_finish.
repl_note_reconnects() {
  REPL_RECONNECTS1=$(repl_status_get "$TOPO_NS_P1" .log.reconnects)
  REPL_RECONNECTS2=$(repl_status_get "$TOPO_NS_P2" .log.reconnects)
}

# repl_kv_start SECONDS: kv_client.py from the client namespace as process "kv", writing
# for SECONDS, each acked write's number appended to $TOPO_DIR/acked; returns once 50
# writes were acked (bounded: 5 s).
repl_kv_start() {
  : >"$TOPO_DIR/acked"
  topo_spawn kv "$TOPO_NS_C" "$FTP_PYTHON" "$FTP_REPO_ROOT/tests/e2e/tools/kv_client.py" \
    --host "$TOPO_SERVICE_IP" --seconds "$1" --acked "$TOPO_DIR/acked" --interval 0.002
  ftp_wait_until 5 bash -c "(( \$(wc -l <'$TOPO_DIR/acked') >= 50 ))" || repl_fail "kv_client did not start writing"
}

# repl_kv_acked: how many writes kv_client has acked so far.
repl_kv_acked() { wc -l <"$TOPO_DIR/acked" 2>/dev/null || echo 0; }

# repl_kv_finish WAIT_S ACKED_BEFORE WHAT: waits (at most WAIT_S seconds) for kv_client to
# end; fails unless it ended without an error and acked more than ACKED_BEFORE writes
# (its count once WHAT, e.g. "probes", were over), or if either proxy changed state or
# reconnected its log channel since repl_note_reconnects, or is not connected in its
# state. Sets REPL_KV_ACKED (writes acked in all), REPL_ST1 and REPL_ST2 (the /status of
# the primary and of the backup, read after kv_client ended).
repl_kv_finish() {
  local wait_s=$1 before=$2 what=$3 rc=0 summary
  ftp_wait_until "$wait_s" bash -c "! kill -0 $(topo_pid kv) 2>/dev/null || [[ \$(awk '{print \$3}' /proc/$(topo_pid kv)/stat) == Z ]]" ||
    repl_fail "kv_client did not finish"
  topo_stop kv || rc=$?
  summary=$(tail -n 1 "$(topo_log kv)")
  ftp_log "kv_client: $summary"
  ((rc == 0)) || repl_fail "kv_client exited $rc: $summary"
  jq -e '.error == null and .acked > 0' <<<"$summary" >/dev/null || repl_fail "kv_client: $summary"
  REPL_KV_ACKED=$(jq .acked <<<"$summary")
  ((REPL_KV_ACKED > before)) || repl_fail "no write acked after the $what ($before -> $REPL_KV_ACKED)"

  repl_assert_no_failover
  REPL_ST1=$(topo_status "$TOPO_NS_P1")
  REPL_ST2=$(topo_status "$TOPO_NS_P2")
  [[ $(jq .log.reconnects <<<"$REPL_ST1") == "$REPL_RECONNECTS1" ]] ||
    repl_fail "primary log channel reconnected: $(jq -c .log <<<"$REPL_ST1")"
  [[ $(jq .log.reconnects <<<"$REPL_ST2") == "$REPL_RECONNECTS2" ]] ||
    repl_fail "backup log channel reconnected: $(jq -c .log <<<"$REPL_ST2")"
  jq -e '.log.connected == true and .state == "backup"' <<<"$REPL_ST2" >/dev/null ||
    repl_fail "backup: $(jq -c '{state, log}' <<<"$REPL_ST2")"
  jq -e '.log.connected == true and .state == "primary"' <<<"$REPL_ST1" >/dev/null ||
    repl_fail "primary: $(jq -c '{state, log}' <<<"$REPL_ST1")"
}

# repl_kv_check_on_backup: S1 and S2 end with the same data, as many keys as kv_client
# had writes acked (REPL_KV_ACKED) and the last acked key on S2; still no failover.
repl_kv_check_on_backup() {
  local last
  repl_wait_replicas_equal 5 || repl_fail "S1 and S2 hold different data"
  ((REPL_DBSIZE == REPL_KV_ACKED)) || repl_fail "DBSIZE $REPL_DBSIZE, but kv_client had $REPL_KV_ACKED writes acked"
  last=$(tail -n 1 "$TOPO_DIR/acked")
  [[ $(repl_redis "$TOPO_NS_S2" GET "k$last") == "v$last" ]] || repl_fail "last acked write k$last missing on S2"
  repl_assert_no_failover
}

# repl_log_switch: turn the log link into a switch: P1, P2 and a third namespace X on
# bridge lbr in namespace LSW (a /29, so X has an address on the link; the proxies keep
# theirs). Sets TOPO_NS_LSW, TOPO_NS_X and X_IP. Call after topo_pair, before the proxies.
repl_log_switch() {
  local l
  TOPO_NS_LSW="${TOPO_PFX}lsw"
  TOPO_NS_X="${TOPO_PFX}x"
  topo_ns lsw
  topo_ns x
  topo_bridge "$TOPO_NS_LSW" lbr
  ip -n "$TOPO_NS_P1" link del log
  topo_veth "$TOPO_NS_P1" log "$TOPO_NS_LSW" l1
  topo_veth "$TOPO_NS_P2" log "$TOPO_NS_LSW" l2
  topo_veth "$TOPO_NS_X" log "$TOPO_NS_LSW" l3
  for l in l1 l2 l3; do topo_bridge_port "$TOPO_NS_LSW" lbr "$l"; done
  X_IP="$TOPO_AUX_NET.3"
  ip -n "$TOPO_NS_P1" addr add "$TOPO_LOG_IP1/29" dev log
  ip -n "$TOPO_NS_P2" addr add "$TOPO_LOG_IP2/29" dev log
  ip -n "$TOPO_NS_X" addr add "$X_IP/29" dev log
  ftp_wait_until 5 topo_exec "$TOPO_NS_X" ping -c 1 -W 1 "$TOPO_LOG_IP2" >/dev/null ||
    repl_fail "X cannot reach P2 on the log link"
}
