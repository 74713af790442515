#!/usr/bin/env bash
# The log channel over TLS (issue 9: "optional TLS ... because the stream is client
# data"). The pair runs with the shipped examples' log.key_file plus log.tls = true, each
# proxy with its own certificate from a test CA (made here with the openssl CLI); the log
# link is a small switch with a third namespace X on it. While kv_client.py writes over
# one long-lived connection, the client also writes a random marker value; tcpdump
# captures the log link (on the backup) and the client's link.
# Asserts:
#   - a log.tls_key_file others can read refuses the start with the key named;
#   - both proxies report log.auth.tls and the connection "authenticated with
#     log.key_file, over TLS";
#   - X with a certificate from another CA (openssl s_client, trusting the pair's CA),
#     and X speaking the log protocol in plaintext, are refused by the backup: logged
#     with reason tls_handshake and X's port, counted (log.auth.failures.tls_handshake in
#     /status, ftproxy_log_auth_failures_total{reason="tls_handshake"} in /metrics);
#   - the pair keeps replicating (writes acked during and after, no reconnect, no
#     failover), the replicas are DEBUG DIGEST-equal with every acked key on S2, and the
#     marker is on S2 (so it crossed the log link);
#   - the capture of the log link is TLS records only from the primary's first byte
#     (handshake, then application data carrying the entries) and does NOT contain the
#     marker, while the same search finds it in the capture of the client's link (the
#     control that the search can find it, and that nothing was dropped by tcpdump).
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli jq curl tcpdump openssl "$FTP_PYTHON"
export PAIR_LOG_KEY=1  # TLS and the pre-shared key together, as a hardened pair runs

topo_init
pair_setup
repl_write_tools

# The log link as a switch with X on it (as in test_security_log_channel.sh).
repl_log_switch

# Certificates: CA "ca" for the pair (p1, p2), CA "other" for X. EC P-256, one day.
tls="$TOPO_DIR/tls"
mkdir -p "$tls"
topo_tls_ca ca && topo_tls_ca other && topo_tls_cert p1 ca && topo_tls_cert p2 ca && topo_tls_cert x other ||
  repl_fail "openssl could not make the test certificates"

# tls_opts NODE: the [log] TLS keys for NODE's certificate.
tls_opts() {
  printf '%s\n' "log.tls=true" "log.tls_cert_file=\"$tls/$1.pem\"" "log.tls_key_file=\"$tls/$1.key\"" \
    "log.tls_ca_file=\"$tls/ca.pem\""
}
mapfile -t P1_TLS < <(tls_opts p1)
mapfile -t P2_TLS < <(tls_opts p2)

# A key file others can read refuses the start (and --check-config), naming the key.
cp "$tls/p2.key" "$tls/open.key"
chmod 0644 "$tls/open.key"
pair_write_config backup "$TOPO_DIR/backup-bad.toml" "${P2_TLS[@]}" "log.tls_key_file=\"$tls/open.key\""
rc=0
out=$(topo_exec "$TOPO_NS_P2" "$FTPROXY_BIN" --config "$TOPO_DIR/backup-bad.toml" 2>&1) || rc=$?
((rc == 2)) && grep -q "log.tls_key_file: .*mode 0644" <<<"$out" || repl_fail "a 0644 TLS key: exit $rc, $out"
rc=0
out=$(topo_exec "$TOPO_NS_P2" "$FTPROXY_BIN" --check-config "$TOPO_DIR/backup-bad.toml" 2>&1) || rc=$?
((rc == 2)) && grep -q "log.tls_key_file: .*mode 0644" <<<"$out" || repl_fail "--check-config, a 0644 TLS key: exit $rc, $out"
ftp_log "TLS key readable by others refused at start: $(grep -o 'log.tls_key_file: .*' <<<"$out" | head -n 1)"

# Captures from before the first connection: the whole log link (on the backup), and the
# client's link (the control).
topo_spawn capture "$TOPO_NS_P2" tcpdump -i log -U -s 0 -w "$TOPO_DIR/log.pcap" "tcp port 7600"
topo_spawn capture_c "$TOPO_NS_C" tcpdump -i eth0 -U -s 0 -w "$TOPO_DIR/client.pcap" "tcp port $TOPO_REDIS_PORT"
for c in capture capture_c; do
  ftp_wait_until 5 grep -q "listening on" "$(topo_log $c)" || repl_fail "tcpdump: $(cat "$(topo_log $c)")"
done

# The pair (pair_start_proxies, with a certificate per node).
pair_write_config backup "$TOPO_DIR/backup.toml" "${REPL_PROXY_OPTS[@]}" "${P2_TLS[@]}"
pair_write_config primary "$TOPO_DIR/primary.toml" "${REPL_PROXY_OPTS[@]}" "${P1_TLS[@]}"
topo_start_proxy backup "$TOPO_NS_P2" "$TOPO_DIR/backup.toml"
topo_start_proxy primary "$TOPO_NS_P1" "$TOPO_DIR/primary.toml"
ftp_wait_until 10 pair_log_connected "$TOPO_NS_P1" || {
  cat "$(topo_log primary)" "$(topo_log backup)" >&2
  repl_fail "log channel did not connect over TLS"
}
pair_wait_state "$TOPO_NS_P2" backup 5 || repl_fail "backup not in state backup: $(pair_state "$TOPO_NS_P2")"
pair_wait_state "$TOPO_NS_P1" primary 5 || repl_fail "primary not in state primary: $(pair_state "$TOPO_NS_P1")"
for ns in "$TOPO_NS_P1" "$TOPO_NS_P2"; do
  st=$(topo_status "$ns")
  jq -e '.log.auth.tls == true and .log.auth.mode == "psk" and .log.auth.authenticated == 1' <<<"$st" >/dev/null ||
    repl_fail "$ns: log channel not over TLS with the key: $(jq -c .log <<<"$st")"
done
grep -q "connected to backup .*authenticated with log.key_file, over TLS" "$(topo_log primary)" ||
  repl_fail "primary did not log a TLS connection: $(grep 'log channel' "$(topo_log primary)")"

repl_note_reconnects
repl_kv_start 25

# The marker: written by the client like any value, so it crosses the log link.
marker="ftproxy-tls-marker-$(openssl rand -hex 12)"
for i in $(seq 1 20); do
  [[ $(pair_client redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" SET "marker$i" "$marker") == OK ]] ||
    repl_fail "SET marker$i not acked"
done

failures() { repl_status_get "$TOPO_NS_P2" ".log.auth.failures.$1"; }

# refused WHAT BEFORE PORT: the backup counted one more tls_handshake than BEFORE and
# logged the refusal of X's PORT with the reason.
refused() {
  local what=$1 before=$2 port=$3 after
  ftp_wait_until 5 bash -c "(( \$(ip netns exec $TOPO_NS_P2 curl -sf --max-time 1 http://127.0.0.1:$TOPO_CONTROL_PORT/status | jq .log.auth.failures.tls_handshake) > $before ))" ||
    repl_fail "$what: log.auth.failures.tls_handshake stayed at $before"
  after=$(failures tls_handshake)
  ((after == before + 1)) || repl_fail "$what: tls_handshake went from $before to $after"
  ftp_wait_until 3 grep -q "refused connection from $X_IP:$port: authentication failed: tls_handshake" "$(topo_log backup)" ||
    repl_fail "$what: no refusal logged for port $port: $(grep 'log channel' "$(topo_log backup)" | tail -n 3)"
  topo_alive kv || repl_fail "kv_client ended during $what: $(cat "$(topo_log kv)")"
  ftp_log "$what from port $port refused: $(grep "refused connection from $X_IP:$port" "$(topo_log backup)" | sed 's/.*authentication failed: //')"
}

# 1. X with a certificate from another CA; it trusts the pair's CA (public), so only the
# backup's check of X's certificate can refuse it. The port is fixed so the log line can
# be matched.
before=$(failures tls_handshake)
a0=$(repl_kv_acked)
out=$(topo_exec "$TOPO_NS_X" timeout 15 openssl s_client -connect "$TOPO_LOG_IP2:7600" -tls1_3 \
  -cert "$tls/x.pem" -key "$tls/x.key" -CAfile "$tls/ca.pem" -verify_return_error -bind "$X_IP:47001" </dev/null 2>&1) || true
refused "certificate from another CA" "$before" 47001
grep -q "Verify return code: 0" <<<"$out" ||
  repl_fail "s_client did not verify the backup's certificate with the pair's CA (so the test proves nothing): $out"
sleep 1.1 # refusals are logged at most once a second

# 2. X speaking the log protocol in plaintext (a version-2 HELLO header).
before=$(failures tls_handshake)
out=$(topo_exec "$TOPO_NS_X" timeout 15 "$FTP_PYTHON" "$TOPO_DIR/log_probe.py" hello "$TOPO_LOG_IP2" 7600 "e2e-$TOPO_PFX") ||
  repl_fail "plaintext intruder: the backup did not close ($out)"
port=$(awk '/^local_port/ { print $2 }' <<<"$out")
[[ $(tail -n 1 <<<"$out") =~ ^(closed|reset)\  ]] || repl_fail "plaintext intruder: the backup did not close ($out)"
refused "plaintext log protocol" "$before" "$port"
acked_intruders=$(repl_kv_acked)
ftp_log "kv acked $a0 -> $acked_intruders during the intruders"

repl_kv_finish 30 "$acked_intruders" intruders
jq -e '[.log.auth.failures[]] | add == 0' <<<"$REPL_ST1" >/dev/null ||
  repl_fail "primary counted auth failures: $(jq -c .log.auth <<<"$REPL_ST1")"
jq -e '.log.auth.failures.tls_handshake == 2 and ([.log.auth.failures[]] | add == 2)' <<<"$REPL_ST2" >/dev/null ||
  repl_fail "backup auth failures: $(jq -c .log.auth <<<"$REPL_ST2")"
m=$(topo_metrics "$TOPO_NS_P2")
[[ $(awk '$1 == "ftproxy_log_auth_failures_total{reason=\"tls_handshake\"}" { print $2 }' <<<"$m") == 2 ]] ||
  repl_fail "metrics: $(grep ftproxy_log_auth <<<"$m")"
! grep -q "replacing the old connection" "$(topo_log backup)" ||
  repl_fail "the backup replaced its log connection: $(grep -i replac "$(topo_log backup)")"
# The marker reached S2 (through the log link, the only way there); then the marker keys
# go (through the pair too) so that S2 holds exactly kv_client's keys.
for i in 1 20; do
  ftp_wait_until 5 bash -c "[[ \$(ip netns exec $TOPO_NS_S2 redis-cli -h $TOPO_SERVICE_IP -p $TOPO_REDIS_PORT GET marker$i) == $marker ]]" ||
    repl_fail "marker$i missing on S2"
done
mapfile -t marker_keys < <(printf 'marker%d\n' $(seq 1 20))
[[ $(pair_client redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" DEL "${marker_keys[@]}") == 20 ]] ||
  repl_fail "DEL of the marker keys"
repl_kv_check_on_backup

for c in capture capture_c; do
  topo_stop "$c" INT 5 || true
  grep -q "^0 packets dropped by kernel" "$(topo_log $c)" || repl_fail "tcpdump $c dropped packets: $(cat "$(topo_log $c)")"
done
# The control: the same search finds the marker where the client's data is in clear.
grep -aqF "$marker" "$TOPO_DIR/client.pcap" || repl_fail "the marker is not in the client link's capture (the search is broken)"
grep -aqF "$marker" "$TOPO_DIR/log.pcap" && repl_fail "the marker crossed the log link in plaintext"
# Not even the protocol: the primary's stream is TLS records from its first byte (no log
# record header), and no redis command (RESP "$3\r\nSET\r\n") is anywhere in the capture.
tls_summary=$(topo_exec "$TOPO_NS_P2" "$FTP_PYTHON" - "$TOPO_DIR/log.pcap" "$TOPO_LOG_IP1" <<'PY'
import json, socket, struct, sys
raw = open(sys.argv[1], "rb").read()
src = socket.inet_aton(sys.argv[2])
endian = "<" if struct.unpack("<I", raw[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
segs, sport0, pos = {}, None, 24
while pos + 16 <= len(raw):
    incl = struct.unpack(endian + "I", raw[pos + 8:pos + 12])[0]
    f = raw[pos + 16:pos + 16 + incl]
    pos += 16 + incl
    if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 6 or f[26:30] != src:
        continue
    ihl = (f[14] & 0x0F) * 4
    tcp = f[14 + ihl:14 + struct.unpack(">H", f[16:18])[0]]
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    payload = tcp[(tcp[12] >> 4) * 4:]
    if dport != 7600 or not payload:
        continue
    sport0 = sport0 or sport
    if sport == sport0:
        segs[seq] = payload
data, seq = b"", min(segs) if segs else 0
while seq in segs:
    data += segs[seq]
    seq = (seq + len(segs[seq])) & 0xFFFFFFFF
types, app_bytes, i, bad = {}, 0, 0, 0
while i + 5 <= len(data):
    t, major, n = data[i], data[i + 1], struct.unpack(">H", data[i + 3:i + 5])[0]
    if t not in (20, 21, 22, 23) or major != 3:
        bad += 1
        break
    types[t] = types.get(t, 0) + 1
    if t == 23:
        app_bytes += n
    i += 5 + n
print(json.dumps({"stream_bytes": len(data), "parsed_bytes": i, "first": data[:2].hex(), "records": types,
                  "app_bytes": app_bytes, "bad": bad, "resp_set": raw.find(b"$3\r\nSET\r\n") >= 0}))
PY
) || repl_fail "cannot read the log capture"
ftp_log "primary -> backup stream on the log link: $tls_summary"
jq -e '.first == "1603" and .bad == 0 and .records["22"] >= 1 and .records["23"] >= 10 and .app_bytes > 20000 and
  .parsed_bytes >= .stream_bytes and .resp_set == false' <<<"$tls_summary" >/dev/null ||
  repl_fail "the primary's stream is not TLS records only, or RESP is in clear: $tls_summary"

ftp_log "PASS ($REPL_KV_ACKED writes acked over a TLS log channel; marker absent from the log link, present in the client capture; backup refused: $(jq -c .log.auth.failures <<<"$REPL_ST2"))"
