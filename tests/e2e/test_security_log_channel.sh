#!/usr/bin/env bash
# Log channel authentication under attack (issue 9, "Proven", first bullet).
# The pair runs with log.key_file (the shipped examples); the log link becomes a small
# switch with a third namespace X on it. While kv_client.py writes over one long-lived
# connection, X connects to the backup's log port:
#   no_key     a well-formed HELLO without a key                -> peer_without_key
#   wrong_key  the full handshake with another key              -> bad_proof
#   replay     the primary -> backup bytes of the pair's own log connection, captured with
#              tcpdump on the log link at start-up (HELLO, AUTH, tagged entries), sent again
#              as they were                                     -> bad_proof (new nonce)
# Asserts: each is refused by the backup (the connection is closed; for no_key the
# backup's HELLO says it requires a key), logged with the reason and counted
# (log.auth.failures.<reason> in /status, ftproxy_log_auth_failures_total{reason} in
# /metrics rise by one each); the wrong-key client checks the backup's proof with the
# real key (so its own transcript is right and only the key differs); the pair keeps
# replicating (writes acked during and after, no reconnect, no failover) and at the end
# the two redis replicas are DEBUG DIGEST-equal with every acked key on S2.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli jq curl tcpdump openssl "$FTP_PYTHON"
export PAIR_LOG_KEY=1  # this test needs the keyed pair of the examples

topo_init
pair_setup
repl_write_tools

# The log link as a switch with a third namespace X on it (repl_log_switch).
repl_log_switch

# Capture the primary -> backup stream from the first byte (the pair's only connection).
topo_spawn capture "$TOPO_NS_P2" tcpdump -i log -U -s 0 -w "$TOPO_DIR/log.pcap" \
  "tcp and src host $TOPO_LOG_IP1 and dst host $TOPO_LOG_IP2 and dst port 7600"
ftp_wait_until 5 grep -q "listening on" "$(topo_log capture)" || repl_fail "tcpdump: $(cat "$(topo_log capture)")"

# A key file others can read, or one too short, refuses the start with the key named.
pair_write_config backup "$TOPO_DIR/backup-check.toml"
topo_exec "$TOPO_NS_P2" "$FTPROXY_BIN" --check-config "$TOPO_DIR/backup-check.toml" >/dev/null ||
  repl_fail "the example config with the run's key does not pass --check-config"
cp "$TOPO_DIR/log.key" "$TOPO_DIR/bad.key"
chmod 0644 "$TOPO_DIR/bad.key"
pair_write_config backup "$TOPO_DIR/backup-bad.toml" "log.key_file=\"$TOPO_DIR/bad.key\""
rc=0
out=$(topo_exec "$TOPO_NS_P2" "$FTPROXY_BIN" --config "$TOPO_DIR/backup-bad.toml" 2>&1) || rc=$?
((rc == 2)) && grep -q "log.key_file: .*mode 0644" <<<"$out" || repl_fail "a 0644 key file: exit $rc, $out"
(umask 077 && head -c 40 "$TOPO_DIR/log.key" >"$TOPO_DIR/bad.key" && chmod 0600 "$TOPO_DIR/bad.key")
rc=0
out=$(topo_exec "$TOPO_NS_P2" "$FTPROXY_BIN" --check-config "$TOPO_DIR/backup-bad.toml" 2>&1) || rc=$?
((rc == 2)) && grep -q "log.key_file: .*40 characters" <<<"$out" || repl_fail "a 20-byte key: exit $rc, $out"
ftp_log "bad key files refused at start: $(tail -n 1 <<<"$out")"

repl_start_pair
cluster="e2e-$TOPO_PFX"
st1=$(topo_status "$TOPO_NS_P1")
jq -e '.log.auth.mode == "psk" and .log.auth.authenticated == 1' <<<"$st1" >/dev/null ||
  repl_fail "primary log channel not authenticated: $(jq -c .log <<<"$st1")"
grep -q "connected to backup .*authenticated with log.key_file" "$(topo_log primary)" ||
  repl_fail "primary did not log an authenticated connection: $(grep 'log channel' "$(topo_log primary)")"

repl_kv_start 25
sleep 1  # entries flow on the captured connection
topo_stop capture INT 5 || true
[[ -s $TOPO_DIR/log.pcap ]] || repl_fail "nothing captured on the log link"

cat >"$TOPO_DIR/log_intruder.py" <<'PY'
# log_intruder.py KIND HOST PORT CLUSTER KEYFILE [PCAP]: one hostile opening on the log
# port. Prints "local_port N", then what it saw, then "closed|reset|open BYTES".
import hashlib, hmac, os, socket, struct, sys

kind, host, port, cluster, keyfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
real_key = bytes.fromhex(open(keyfile).read().strip())
VERSION = @LOG_VERSION@  # kProtocolVersion, filled in by the test

def record(rtype, payload):
    return struct.pack(">HBBI", 0x4654, rtype, 0, len(payload)) + payload

def hello_payload(auth, nonce=b""):
    c, n = cluster.encode(), b"intruder"
    return struct.pack(">HBBQQ", VERSION, 1, auth, 1, 0) + bytes([len(c)]) + c + bytes([len(n)]) + n + nonce

def transcript(hp, hb_wo_proof):
    return hashlib.sha256(b"ftproxy-log-v%d" % VERSION + struct.pack(">H", len(hp)) + hp +
                          struct.pack(">H", len(hb_wo_proof)) + hb_wo_proof).digest()

def read_record(s):
    buf = b""
    while len(buf) < 8:
        chunk = s.recv(8 - len(buf))
        if not chunk:
            return None
        buf += chunk
    magic, rtype, flags, length = struct.unpack(">HBBI", buf)
    payload = b""
    while len(payload) < length:
        chunk = s.recv(length - len(payload))
        if not chunk:
            return None
        payload += chunk
    return rtype, payload

def replay_stream(path):
    # The primary -> backup TCP payload of the first connection in the capture, in
    # sequence order. The pcap (tcpdump -w: Ethernet, IPv4) is read by hand: fast.
    raw = open(path, "rb").read()
    magic = struct.unpack("<I", raw[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    segs, first_sport, pos = {}, None, 24
    while pos + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[pos + 8:pos + 12])[0]
        frame = raw[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue
        ihl = (frame[14] & 0x0f) * 4
        total = struct.unpack(">H", frame[16:18])[0]
        tcp = frame[14 + ihl:14 + total]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if not payload:
            continue
        if first_sport is None:
            first_sport = sport
        if sport == first_sport:
            segs[seq] = payload
    data, seq = b"", min(segs)
    while seq in segs:
        data += segs[seq]
        seq = (seq + len(segs[seq])) & 0xffffffff
    return data

# Parsed before connecting: the backup gives a silent connection 500 ms.
data = replay_stream(sys.argv[6]) if kind == "replay" else b""
s = socket.create_connection((host, port), timeout=3)
print("local_port", s.getsockname()[1], flush=True)
if kind == "no_key":
    s.sendall(record(1, hello_payload(0)))
    r = read_record(s)
    print("backup_hello_auth", r[1][3] if r and r[0] == 1 else "none", flush=True)
elif kind == "wrong_key":
    nonce = os.urandom(32)
    hp = hello_payload(1, nonce)
    s.sendall(record(1, hp))
    r = read_record(s)
    if not r or r[0] != 1:
        sys.exit("no HELLO from the backup")
    hb = r[1]
    t = transcript(hp, hb[:-32])
    ok = hmac.compare_digest(hmac.new(real_key, b"backup proof" + t, hashlib.sha256).digest(), hb[-32:])
    print("backup_proof_valid_with_real_key", ok, flush=True)
    wrong = os.urandom(32)
    s.sendall(record(5, hmac.new(wrong, b"primary proof" + t, hashlib.sha256).digest()))
elif kind == "replay":
    print("replay_bytes", len(data), "first_record_type", data[2], "auth", data[8 + 3], flush=True)
    s.sendall(data)
else:
    sys.exit("unknown kind " + kind)
s.settimeout(3)
got = 0
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += len(chunk)
    how = "closed"
except ConnectionResetError:
    how = "reset"
except socket.timeout:
    how = "open"
print(how, got)
sys.exit(0 if how != "open" else 1)
PY
sed -i "s/@LOG_VERSION@/$(repl_log_version)/" "$TOPO_DIR/log_intruder.py"

failures() { repl_status_get "$TOPO_NS_P2" ".log.auth.failures.$1"; }
repl_note_reconnects

# intrude KIND REASON: one hostile opening from X; the backup refuses it, counts REASON
# once and logs it with X's port.
intrude() {
  local kind=$1 reason=$2 out port before after a0 a1
  before=$(failures "$reason")
  a0=$(repl_kv_acked)
  out=$(topo_exec "$TOPO_NS_X" timeout 20 "$FTP_PYTHON" "$TOPO_DIR/log_intruder.py" "$kind" \
    "$TOPO_LOG_IP2" 7600 "$cluster" "$TOPO_DIR/log.key" "$TOPO_DIR/log.pcap") ||
    repl_fail "intruder $kind: the backup did not close the connection ($out)"
  port=$(awk '/^local_port/ { print $2 }' <<<"$out")
  [[ $(tail -n 1 <<<"$out") =~ ^(closed|reset)\ [0-9]+$ ]] || repl_fail "intruder $kind: unexpected end ($out)"
  ftp_wait_until 3 bash -c "(( \$(ip netns exec $TOPO_NS_P2 curl -sf --max-time 1 http://127.0.0.1:$TOPO_CONTROL_PORT/status | jq .log.auth.failures.$reason) > $before ))" ||
    repl_fail "intruder $kind: log.auth.failures.$reason stayed at $before"
  after=$(failures "$reason")
  ((after == before + 1)) || repl_fail "intruder $kind: $reason went from $before to $after"
  ftp_wait_until 2 grep -q "refused connection from $X_IP:$port: authentication failed: $reason" "$(topo_log backup)" ||
    repl_fail "intruder $kind: no log line with reason $reason for port $port: $(grep 'log channel' "$(topo_log backup)" | tail -n 3)"
  topo_alive kv || repl_fail "kv_client ended during intruder $kind: $(cat "$(topo_log kv)")"
  a1=$(repl_kv_acked)
  ftp_log "intruder $kind from port $port: $(tr '\n' ' ' <<<"$out")-> $reason $after, kv acked $a0 -> $a1"
  INTRUDER_OUT=$out
}

intrude no_key peer_without_key
grep -q '^backup_hello_auth 1$' <<<"$INTRUDER_OUT" || repl_fail "no_key: the backup's HELLO did not announce its key: $INTRUDER_OUT"
sleep 1.1  # refusals are logged at most once a second
intrude wrong_key bad_proof
grep -q '^backup_proof_valid_with_real_key True$' <<<"$INTRUDER_OUT" ||
  repl_fail "wrong_key: the backup's proof did not verify with the real key (transcript?): $INTRUDER_OUT"
sleep 1.1
intrude replay bad_proof
grep -q 'first_record_type 1 auth 1' <<<"$INTRUDER_OUT" || repl_fail "replay: the capture does not start with the keyed HELLO: $INTRUDER_OUT"
replay_bytes=$(awk '/^replay_bytes/ { print $2 }' <<<"$INTRUDER_OUT")
((replay_bytes > 1000)) || repl_fail "replay: only $replay_bytes bytes captured (no entries?)"
acked_intruders=$(repl_kv_acked)

repl_kv_finish 25 "$acked_intruders" intruders
jq -e '.log.auth.authenticated == 1' <<<"$REPL_ST2" >/dev/null || repl_fail "backup: $(jq -c '{state, log}' <<<"$REPL_ST2")"
jq -e '[.log.auth.failures[]] | add == 0' <<<"$REPL_ST1" >/dev/null || repl_fail "primary counted auth failures: $(jq -c .log.auth <<<"$REPL_ST1")"
jq -e '.log.auth.failures.peer_without_key == 1 and .log.auth.failures.bad_proof == 2 and ([.log.auth.failures[]] | add == 3)' \
  <<<"$REPL_ST2" >/dev/null || repl_fail "backup auth failures: $(jq -c .log.auth <<<"$REPL_ST2")"
m=$(topo_metrics "$TOPO_NS_P2")
[[ $(awk '$1 == "ftproxy_log_auth_failures_total{reason=\"bad_proof\"}" { print $2 }' <<<"$m") == 2 ]] ||
  repl_fail "metrics: $(grep ftproxy_log_auth <<<"$m")"
[[ $(awk '$1 == "ftproxy_log_auth_failures_total{reason=\"peer_without_key\"}" { print $2 }' <<<"$m") == 1 ]] ||
  repl_fail "metrics: $(grep ftproxy_log_auth <<<"$m")"
! grep -q "replacing the old connection" "$(topo_log backup)" ||
  repl_fail "the backup replaced its log connection: $(grep -i replac "$(topo_log backup)")"

repl_kv_check_on_backup
ftp_log "PASS ($REPL_KV_ACKED writes acked; backup refused: $(jq -c .log.auth.failures <<<"$REPL_ST2"))"
