# Helpers shared by the failover end-to-end tests (tests/e2e/test_failover_*.sh):
# start the pair with clients running, read /status fields, sample both proxies'
# states, capture on the switch, check every acknowledged write after a failover, and
# talk to the arbiter. Source after topology.sh and pair.sh; call fo_setup.
# Everything started here goes through topo_spawn, so topo_cleanup stops it.
# shellcheck shell=bash disable=SC2034

FO_TOOLS="$FTP_REPO_ROOT/tests/e2e/tools"

fo_fail() { ftp_die "FAILED: $*"; }

# fo_now: wall-clock seconds with ns resolution (the clock tcpdump stamps frames with).
fo_now() { date +%s.%N; }

# fo_setup [section.key=value ...]: namespaces, arbiter, both redis-servers, both
# proxies (backup then primary, log channel up) and checks their initial states.
# The proxies run with the example configs' timers; FO_TIMEOUT_MS=N overrides
# [failover] timeout_ms on both (to tell a false failover from a real defect), and
# FO_BACKEND=dpdk runs both proxies on the dpdk packet I/O backend, and FO_ARBITER=etcd
# has a 3-member etcd cluster decide instead of the embedded arbiter.
fo_setup() {
  ftp_require_cmd jq curl redis-cli redis-benchmark tcpdump "$FTP_PYTHON"
  [[ -x $FTPROXY_BIN && -x $FTPROXY_ARBITER_BIN ]] ||
    ftp_skip "ftproxy/ftproxy-arbiter not built in $FTP_BUILD_DIR"
  local -a kv=("$@")
  [[ -z ${FO_TIMEOUT_MS:-} ]] || kv+=("failover.timeout_ms=$FO_TIMEOUT_MS")
  [[ -z ${FO_BACKEND:-} ]] || kv+=("ports.backend=\"$FO_BACKEND\"")
  topo_init
  pair_setup
  if [[ ${FO_ARBITER:-embedded} == etcd ]]; then
    # The same scenario decided by a 3-member etcd cluster on the management link.
    topo_start_etcd_cluster
    local eps
    eps=$(sed -e 's|http://|"|g' -e 's|,|",|g' -e 's|$|"|' <<<"$TOPO_ETCD_ENDPOINTS")
    kv+=('arbiter.backend="etcd"' "arbiter.endpoints=[$eps]" "arbiter.timeout_ms=1000")
  fi
  pair_start_proxies "${kv[@]}"
  [[ -z ${FO_BACKEND:-} ]] || pair_expect_backend "$FO_BACKEND" || fo_fail "$PAIR_BACKEND_ERROR"
  if [[ ${FO_ARBITER:-embedded} == etcd ]]; then
    grep -q '^backend = "etcd"' "$TOPO_DIR/primary.toml" "$TOPO_DIR/backup.toml" ||
      fo_fail "the proxies were not configured for etcd"
    ftp_log "arbiter: etcd cluster at $TOPO_ETCD_ENDPOINTS"
  fi
  fo_expect_roles "after start-up"
}

# fo_expect_roles WHEN: P1 is still "primary" and P2 "backup" (no false failover so far:
# nothing was broken yet, so any transition is the failure detector firing wrongly).
fo_expect_roles() {
  local a b
  a=$(pair_state "$TOPO_NS_P1") b=$(pair_state "$TOPO_NS_P2")
  [[ $a == primary && $b == backup ]] ||
    fo_fail "false failover $1 (nothing broken yet): P1 $a [$(fo_transitions "$TOPO_NS_P1")], P2 $b [$(fo_transitions "$TOPO_NS_P2")]"
}

# fo_jq NS FILTER: one value of the proxy's /status (jq -r), "" if it does not answer.
fo_jq() { topo_status "$1" 2>/dev/null | jq -r "$2" 2>/dev/null || true; }

# fo_transitions NS: the transition history as "from->to:answer" words, oldest first.
fo_transitions() {
  fo_jq "$1" '[.failover.transitions[] | "\(.from)->\(.to):\(.answer)"] | join(" ")'
}

# fo_transition_wall NS TO: wall-clock time (upper bound) of the proxy's last
# transition into state TO; the server computes seconds_ago between our two clock reads.
fo_transition_wall() {
  local ns=$1 to=$2 ago t1
  ago=$(fo_jq "$ns" "[.failover.transitions[] | select(.to == \"$to\")] | last | .seconds_ago // empty")
  t1=$(fo_now)
  [[ -n $ago ]] || return 1
  awk -v t="$t1" -v a="$ago" 'BEGIN { printf "%.6f\n", t - a }'
}

# fo_start_kv NAME SECONDS [kv_client args...]: the single-connection writer in the
# client namespace; acknowledged indices go to $TOPO_DIR/NAME.acked, the JSON summary
# is the last line of its log. Waits until the first write is acknowledged.
fo_start_kv() {
  local name=$1 secs=$2
  shift 2
  : >"$TOPO_DIR/$name.acked"
  topo_spawn "$name" "$TOPO_NS_C" "$FTP_PYTHON" "$FO_TOOLS/kv_client.py" --host "$TOPO_SERVICE_IP" \
    --port "$TOPO_REDIS_PORT" --seconds "$secs" --prefix "$name:" --acked "$TOPO_DIR/$name.acked" "$@"
  ftp_wait_until 5 test -s "$TOPO_DIR/$name.acked" || fo_fail "$name: no write acknowledged within 5 s"
}

fo_acked_count() { wc -l <"$TOPO_DIR/$1.acked"; }

# fo_kv_local_port NAME: local port of NAME's established connection to the service.
fo_kv_local_port() {
  local pid
  pid=$(topo_pid "$1")
  topo_exec "$TOPO_NS_C" ss -tnpH state established dst "$TOPO_SERVICE_IP:$TOPO_REDIS_PORT" |
    awk -v p="pid=$pid," 'index($0, p) && !done { n = split($3, a, ":"); print a[n]; done = 1 }'
}

# fo_wait_exit NAME SECONDS: wait (bounded) until a spawned process exits; returns its
# exit status (fails the test if it is still running).
fo_wait_exit() {
  local name=$1 secs=$2 pid rc=0 i
  pid=$(topo_pid "$name")
  [[ -n $pid ]] || fo_fail "no process named $name"
  for ((i = 0; i < secs * 10; i++)); do
    topo_alive "$name" || break
    sleep 0.1
  done
  topo_alive "$name" && fo_fail "$name still running after ${secs}s"
  wait "$pid" || rc=$?
  unset "TOPO_PIDS[$name]"
  return "$rc"
}

# fo_check_kv NAME LOCAL_PORT: NAME exited 0, its JSON says no error, it used the
# connection whose local port was LOCAL_PORT (read before the fault). Sets FO_KV_MAX_GAP
# (max_gap_s). Not in a command substitution: it waits for a child of this shell.
fo_check_kv() {
  local name=$1 port_before=$2 rc=0 json
  fo_wait_exit "$name" 30 || rc=$?
  json=$(tail -n 1 "$(topo_log "$name")")
  ftp_log "$name: $json"
  ((rc == 0)) || fo_fail "$name exited $rc: the connection broke ($json)"
  jq -e '.error == null and .acked > 0' >/dev/null <<<"$json" || fo_fail "$name reported an error: $json"
  [[ $(jq -r '.local' <<<"$json") == *":$port_before" ]] ||
    fo_fail "$name ended on $(jq -r .local <<<"$json"), started on port $port_before"
  [[ $(jq -r .acked <<<"$json") == "$(fo_acked_count "$name")" ]] || fo_fail "$name: acked file and summary disagree"
  FO_KV_MAX_GAP=$(jq -r .max_gap_s <<<"$json")
}

# fo_verify_acked NS NAME: every index in NAME's acked file reads back as its value
# (GET NAME:i == vi), over one pipelined connection from namespace NS to the service IP.
fo_verify_acked() {
  local ns=$1 name=$2 out
  out=$(topo_exec "$ns" timeout 30 "$FTP_PYTHON" - "$TOPO_SERVICE_IP" "$TOPO_REDIS_PORT" "$name:" \
    "$TOPO_DIR/$name.acked" <<'PY'
import socket, sys
host, port, prefix, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
idx = [int(x) for x in open(path) if x.strip()]
s = socket.create_connection((host, port), timeout=10)
f = s.makefile("rb")
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        b = x.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out
bad = 0
first = None
for lo in range(0, len(idx), 1000):
    chunk = idx[lo:lo + 1000]
    s.sendall(b"".join(cmd("GET", f"{prefix}{i}") for i in chunk))
    for i in chunk:
        head = f.readline()
        val = f.readline().rstrip(b"\r\n") if head.startswith(b"$") and head != b"$-1\r\n" else None
        if val != f"v{i}".encode():
            bad += 1
            first = first or (i, head, val)
print(f"{len(idx)} {bad} {first}")
sys.exit(0 if bad == 0 and idx else 1)
PY
  ) || fo_fail "acked writes of $name not all readable from $ns: (checked, bad, first bad) = $out"
  ftp_log "$name: all ${out%% *} acknowledged writes readable from $ns"
}

# fo_start_bench NAME REQUESTS CLIENTS: redis-benchmark (SET then GET) from the client
# namespace, bounded by `timeout`, CSV output in its log.
fo_start_bench() {
  topo_spawn "$1" "$TOPO_NS_C" timeout 45 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
    -n "$2" -c "$3" -t set,get --csv
}

# fo_check_bench NAME MAX_STALL_MS: what the failover tests accept from redis-benchmark:
# it completed (exit 0, both CSV rows), printed no error of any kind (reset, closed
# connection, server error), and its worst latency is a stall under MAX_STALL_MS (a
# failover pauses requests: detection + arbitration + TCP retransmission; it must never
# fail or lose one). Sets FO_BENCH_MAX_MS (max latency); not in a command substitution.
fo_check_bench() {
  local name=$1 max_ms=$2 rc=0 log max
  fo_wait_exit "$name" 40 || rc=$?
  log=$(topo_log "$name")
  ((rc == 0)) || fo_fail "redis-benchmark exited $rc: $(tr '\r' '\n' <"$log" | grep -v '^$' | tail -n 3)"
  if grep -qiE 'error|reset|closed|refused|timeout' "$log"; then
    fo_fail "redis-benchmark reported errors: $(grep -iE 'error|reset|closed|refused|timeout' "$log" | head -n 3)"
  fi
  grep -q '^"SET"' "$log" || fo_fail "redis-benchmark did not complete SET"
  grep -q '^"GET"' "$log" || fo_fail "redis-benchmark did not complete GET"
  max=$(awk -F'"' '/^"(SET|GET)"/ { if ($16 + 0 > m) m = $16 + 0 } END { print m + 0 }' "$log")
  awk -v m="$max" -v lim="$max_ms" 'BEGIN { exit !(m < lim) }' || fo_fail "redis-benchmark stalled ${max} ms (limit $max_ms)"
  FO_BENCH_MAX_MS=$max
}

# fo_check_clients_after SURVIVOR_NS SERVER KV_PORT ACKED_BEFORE: what every failover test
# asks of the clients once one side is gone: the kv client (NAME kv) kept its connection
# (local port KV_PORT) and had writes acknowledged after the fault (more than
# ACKED_BEFORE); redis-benchmark (NAME bench) finished without an error or a stall over
# 5 s; every acknowledged write reads back through the service IP and on the surviving
# server's namespace SURVIVOR_NS; and a new connection can write, landing on that server
# (SERVER names it in the message). Sets FO_KV_MAX_GAP and FO_BENCH_MAX_MS.
fo_check_clients_after() {
  local ns=$1 server=$2 port_before=$3 acked_before=$4
  fo_check_kv kv "$port_before"
  (($(fo_acked_count kv) > acked_before)) || fo_fail "no write acknowledged after the failover"
  fo_check_bench bench 5000
  fo_verify_acked "$TOPO_NS_C" kv
  fo_verify_acked "$ns" kv
  [[ $(pair_client timeout 5 redis-cli -h "$TOPO_SERVICE_IP" SET fo:new after-failover) == OK ]] ||
    fo_fail "a new connection after the failover cannot write"
  [[ $(topo_exec "$ns" redis-cli -h "$TOPO_SERVICE_IP" GET fo:new) == after-failover ]] ||
    fo_fail "the new connection's write is not on $server"
}

# fo_start_sampler NAME SECONDS: sample both proxies' /status states every ~10 ms (one
# process entering each proxy namespace with setns(2): no fork per sample), one line
# "wall_time P1_state P2_state" per sample in NAME's log. Bounded by SECONDS.
fo_start_sampler() {
  cat >"$TOPO_DIR/sampler.py" <<'PY'
import ctypes, json, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
port, secs, names = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
fds = [os.open(f"/run/netns/{n}", os.O_RDONLY) for n in names]
def state(fd):
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        sys.exit(f"setns: errno {ctypes.get_errno()}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])["state"]
    except Exception:  # noqa: BLE001 - a proxy that does not answer is "down"
        return "down"
end = time.monotonic() + secs
while time.monotonic() < end:
    print(f"{time.time():.6f} " + " ".join(state(fd) for fd in fds), flush=True)
    time.sleep(0.005)
PY
  topo_spawn "$1" "$TOPO_NS_M" "$FTP_PYTHON" "$TOPO_DIR/sampler.py" "$TOPO_CONTROL_PORT" "$2" \
    "$TOPO_NS_P1" "$TOPO_NS_P2"
}

# fo_check_samples NAME: no sample shows both proxies live; sets FO_SAMPLES (count).
fo_check_samples() {
  local log n both
  log=$(topo_log "$1")
  n=$(grep -c ' ' "$log" || true)
  ((n > 20)) || fo_fail "state sampler took only $n samples"
  both=$(awk '$2 == "live" && $3 == "live" { print; exit }' "$log")
  [[ -z $both ]] || fo_fail "both proxies live at the same time: $both"
  FO_SAMPLES=$n
}

# fo_start_capture NAME SWITCH_PORT: frames the switch receives on SWITCH_PORT (i.e.
# sent by the proxy behind it) into $TOPO_DIR/NAME.pcap; waits until tcpdump listens.
fo_start_capture() {
  ftp_require_cmd tcpdump
  topo_spawn "$1" "$TOPO_NS_SW" tcpdump -i "$2" -Q in -n -U -w "$TOPO_DIR/$1.pcap"
  ftp_wait_until 5 grep -q 'listening on' "$(topo_log "$1")" || fo_fail "tcpdump on $2 did not start"
}

# fo_frames_after NAME WALL_TIME: frames in NAME's capture stamped after WALL_TIME
# (the first 5, as tcpdump lines; reads the whole capture so no pipe breaks).
fo_frames_after() {
  tcpdump -r "$TOPO_DIR/$1.pcap" -n -tt 2>/dev/null |
    awk -v t="$2" '$1 + 0 > t + 0 && ++n <= 5 { l[n] = $0 } END { for (i = 1; i <= n && i <= 5; i++) print l[i] }'
}
fo_frame_count() { tcpdump -r "$TOPO_DIR/$1.pcap" -n -tt 2>/dev/null | wc -l; }

# fo_arbiter_query JSON_LINE...: send requests to the arbiter from the management
# namespace (its JSON-lines protocol) on one connection and print one reply line per
# request. Requests are signed with the run's arbiter key (a hello, then seq/cnonce/mac
# as in include/ftproxy/arbiter/auth.hpp) unless FO_ARBITER_UNSIGNED=1.
fo_arbiter_query() {
  local key=""
  [[ ${FO_ARBITER_UNSIGNED:-0} == 1 ]] || key=$(head -n 1 "$(topo_arbiter_key)")
  topo_exec "$TOPO_NS_M" env FO_KEY="$key" timeout 10 "$FTP_PYTHON" - "$TOPO_MGMT_IP" 7500 "$@" <<'PY'
import hashlib, hmac, json, os, socket, sys
key = os.environ["FO_KEY"].encode()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
f = s.makefile("rb")
nonce = None
if key:
    s.sendall(b'{"op":"hello"}\n')
    nonce = json.loads(f.readline())["nonce"]
for seq, line in enumerate(sys.argv[3:], start=1):
    if key:
        req = json.loads(line)
        cnonce = os.urandom(16).hex()
        text = "\n".join(["ftproxy-arbiter-v1 request", nonce, cnonce, str(seq), req["op"], req["cluster"],
                          str(req.get("epoch", 0)), req.get("candidate", "")])
        req.update(seq=seq, cnonce=cnonce, mac=hmac.new(key, text.encode(), hashlib.sha256).hexdigest())
        line = json.dumps(req)
    s.sendall(line.encode() + b"\n")
    print(f.readline().decode().rstrip("\n"))
PY
}

# fo_expect_outcome WINNER_NS LOSER_NS: WINNER is live after winning at the arbiter,
# LOSER fenced after losing; the loser's history never went live.
fo_expect_outcome() {
  local w=$1 l=$2 wh lh
  wh=$(fo_transitions "$w")
  lh=$(fo_transitions "$l")
  ftp_log "winner $w: $wh"
  ftp_log "loser  $l: $lh"
  [[ $wh == *"arbitrating->live:won"* ]] || fo_fail "winner $w has no arbitrating->live won transition: $wh"
  [[ $lh == *"arbitrating->fenced:lost"* ]] || fo_fail "loser $l has no arbitrating->fenced lost transition: $lh"
  [[ $lh != *"->live"* ]] || fo_fail "loser $l was live at some point: $lh"
  [[ $(fo_jq "$l" .failover.fence_cause) == arbiter_lost ]] || fo_fail "loser fence cause: $(fo_jq "$l" .failover.fence_cause)"
}
