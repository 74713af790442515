#!/usr/bin/env bash
# Divergence detection by output digests (issue 8): the primary logs digests of its
# server's output per flow, the backup compares them with its own server's output.
#   1. deterministic servers: redis (4 pipelined connections, each on its own keys, so a
#      reply never depends on how a server interleaves connections) and a UDP echo
#      service: the backup compares checkpoints (/status digest.checked > 0) and finds
#      no mismatch (digest.mismatches == 0, flows_diverged == 0);
#   2. nondeterministic servers, started in both server namespaces: a TCP line server
#      replying with time.time_ns() (fixed length, so TCP stays in step) and a UDP server
#      replying with a random number: the backup reports mismatches, >= 1 diverged flow,
#      one "output divergence" log line per diverged flow naming the flow and byte range,
#      and the /metrics counters agree with /status;
#   3. the primary logged OUTPUT_DIGEST checkpoints and nothing failed over.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli jq curl "$FTP_PYTHON"

TIME_PORT=7001
UECHO_PORT=7002
URAND_PORT=7003

topo_init
repl_setup
repl_write_tools

cat >"$TOPO_DIR/toy_server.py" <<'PY'
# toy_server.py MODE HOST PORT: time (TCP, one time.time_ns() line per request line),
# uecho (UDP, the datagram upper-cased), urand (UDP, a random number per datagram).
import random, socket, sys, threading, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "time":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(16)
    print("listening", flush=True)
    def serve(c):
        f = c.makefile("rb")
        for _ in f:
            c.sendall(b"%d\n" % time.time_ns())
        c.close()
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    print("listening", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data.upper() if mode == "uecho" else b"%d" % random.getrandbits(64), peer)
PY

cat >"$TOPO_DIR/toy_client.py" <<'PY'
# toy_client.py tcp|udp HOST PORT CONNS REQUESTS: every request waits for its reply; a
# pause after every third request lets the flow go quiet (idle checkpoints).
import socket, sys, time
kind, host, port, conns, reqs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
replies = 0
for c in range(conns):
    if kind == "tcp":
        s = socket.create_connection((host, port), timeout=5)
        f = s.makefile("rb")
        for i in range(reqs):
            s.sendall(b"req %d %d\n" % (c, i))
            if not f.readline():
                sys.exit("EOF")
            replies += 1
            if i % 3 == 2:
                time.sleep(0.12)
        s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        for i in range(reqs):
            s.sendto(b"datagram %d %d" % (c, i), (host, port))
            s.recvfrom(65535)
            replies += 1
            if i % 3 == 2:
                time.sleep(0.12)
        s.close()
print("replies", replies)
PY

for s in 1 2; do
  ns_var="TOPO_NS_S$s"
  ns=${!ns_var}
  topo_spawn "time$s" "$ns" "$FTP_PYTHON" -u "$TOPO_DIR/toy_server.py" time "$TOPO_SERVICE_IP" $TIME_PORT
  topo_spawn "uecho$s" "$ns" "$FTP_PYTHON" -u "$TOPO_DIR/toy_server.py" uecho "$TOPO_SERVICE_IP" $UECHO_PORT
  topo_spawn "urand$s" "$ns" "$FTP_PYTHON" -u "$TOPO_DIR/toy_server.py" urand "$TOPO_SERVICE_IP" $URAND_PORT
  for n in time uecho urand; do
    ftp_wait_until 10 grep -q listening "$(topo_log "$n$s")" || ftp_die "$n$s did not start: $(cat "$(topo_log "$n$s")")"
  done
done

# Small chunks, so that the redis replies (about 20 KB per connection) cut several
# chunk checkpoints besides the idle and end ones.
REPL_PROXY_OPTS+=("replication.digest_chunk_bytes=4096")
repl_start_pair

digest_of() { topo_status "$1" | jq -c '.digest'; }
digest_field() { topo_status "$1" | jq -r ".digest.$2"; }

# wait_settled SECONDS: until the backup has nothing left to pair (idle checkpoints come
# after digest_idle_ms, pending ones are settled after at most 5 s): digest.checked
# stops moving for 1 s.
wait_settled() {
  local secs=$1 i prev="" cur
  for ((i = 0; i < secs * 2; i++)); do
    cur=$(digest_of "$TOPO_NS_P2")
    [[ -n $prev && $cur == "$prev" ]] && return 0
    prev=$cur
    sleep 0.5
  done
  return 1
}

# ---- 1. deterministic servers -------------------------------------------------------------
out=$(pair_client timeout 40 "$FTP_PYTHON" "$TOPO_DIR/kv_mix.py" --host "$TOPO_SERVICE_IP" \
  --conns 4 --ops 4000 --batch 50 --seconds 30) || repl_fail "redis workload: $out"
ftp_log "redis workload: $out"
# A reply much larger than a chunk, several times over one connection.
big=$(head -c 30000 /dev/zero | tr '\0' 'b')
pair_client timeout 10 redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" SET big "$big" >/dev/null ||
  repl_fail "SET big"
for _ in 1 2 3; do
  n=$(pair_client timeout 10 redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" STRLEN big)
  [[ $n == 30000 ]] || repl_fail "STRLEN big: $n"
  pair_client timeout 10 redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" GET big | wc -c >/dev/null
done
out=$(pair_client timeout 30 "$FTP_PYTHON" "$TOPO_DIR/toy_client.py" udp "$TOPO_SERVICE_IP" $UECHO_PORT 2 9) ||
  repl_fail "udp echo client: $out"
ftp_log "udp echo: $out"
wait_settled 15 || repl_fail "the backup's digest counters never settled: $(digest_of "$TOPO_NS_P2")"
d1=$(digest_of "$TOPO_NS_P2")
ftp_log "backup digest after deterministic traffic: $d1"
jq -e '.enabled == true and .checked > 20 and .mismatches == 0 and .flows_diverged == 0' <<<"$d1" >/dev/null ||
  repl_fail "deterministic servers: expected checked > 20, no mismatch: $d1"
checked1=$(jq -r .checked <<<"$d1")
! grep -q "output divergence" "$(topo_log backup)" ||
  repl_fail "divergence logged for deterministic servers: $(grep 'output divergence' "$(topo_log backup)" | head -n 3)"

# ---- 2. nondeterministic servers ----------------------------------------------------------
out=$(pair_client timeout 30 "$FTP_PYTHON" "$TOPO_DIR/toy_client.py" tcp "$TOPO_SERVICE_IP" $TIME_PORT 3 9) ||
  repl_fail "time client: $out"
ftp_log "tcp time server: $out"
out=$(pair_client timeout 30 "$FTP_PYTHON" "$TOPO_DIR/toy_client.py" udp "$TOPO_SERVICE_IP" $URAND_PORT 1 6) ||
  repl_fail "udp random client: $out"
ftp_log "udp random server: $out"
wait_settled 15 || repl_fail "the backup's digest counters never settled: $(digest_of "$TOPO_NS_P2")"
d2=$(digest_of "$TOPO_NS_P2")
ftp_log "backup digest after nondeterministic traffic: $d2"
# 3 TCP connections + 1 UDP flow diverge; each reports once.
jq -e --argjson c "$checked1" '.checked > $c and .mismatches >= 4 and .flows_diverged == 4' <<<"$d2" >/dev/null ||
  repl_fail "nondeterministic servers: expected mismatches and 4 diverged flows: $d2"
lines=$(grep -c "output divergence" "$(topo_log backup)" || true)
((lines == 4)) || repl_fail "expected 4 divergence log lines (one per flow), got $lines"
grep "output divergence" "$(topo_log backup)" | grep -q "server=$TOPO_SERVICE_IP:$TIME_PORT.*bytes=\[" ||
  repl_fail "no divergence line names the time server's flow and a byte range: $(grep 'output divergence' "$(topo_log backup)")"
grep "output divergence" "$(topo_log backup)" | grep -q "proto=udp.*server=$TOPO_SERVICE_IP:$URAND_PORT" ||
  repl_fail "no divergence line for the UDP random server: $(grep 'output divergence' "$(topo_log backup)")"
ftp_log "divergence lines: $(grep 'output divergence' "$(topo_log backup)" | sed 's/.*output divergence //' | tr '\n' ';')"

# /metrics says the same as /status.
m=$(topo_metrics "$TOPO_NS_P2")
for pair in checked:ftproxy_digest_checked_total mismatches:ftproxy_digest_mismatches_total \
  flows_diverged:ftproxy_digest_flows_diverged_total uncomparable:ftproxy_digest_uncomparable_total; do
  field=${pair%%:*} metric=${pair#*:}
  mv=$(awk -v m="$metric" '$1 == m { print $2 }' <<<"$m")
  sv=$(digest_field "$TOPO_NS_P2" "$field")
  [[ -n $mv && $mv == "$sv" ]] || repl_fail "$metric is '$mv' but /status digest.$field is '$sv'"
done

# ---- 3. primary side, no failover ------------------------------------------------------------
p=$(digest_of "$TOPO_NS_P1")
ftp_log "primary digest: $p; log $(topo_status "$TOPO_NS_P1" | jq -c '.log | {seq_sent, seq_acked, bytes_sent}')"
jq -e '.checkpoints > 20 and .overflow == 0' <<<"$p" >/dev/null || repl_fail "primary digest: $p"
jq -e '.bad_entries == 0 and .chunk_mismatch == 0' <<<"$d2" >/dev/null || repl_fail "backup digest entries: $d2"
repl_assert_no_failover
ftp_log "PASS"
