#!/usr/bin/env bash
# One failover measurement on a fresh replicated pair: a client writes over one TCP
# connection, the primary proxy is killed (-9) and its server's link taken down at a
# random moment, and one JSON line is printed:
#   takeover_ms   kill -> the backup's transition to live (from its log timestamp)
#   stall_ms      the client's longest wait for a reply (kv_client max_gap)
#   survived      the client's connection carried on (no reset, no reconnect)
#   lost          acknowledged writes missing on the new live side
# Used by scripts/bench-failover.sh; needs root and a build.
set -euo pipefail
source "$(dirname "$0")/../../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../../tests/e2e/lib/pair.sh"

topo_init "fo$$"
pair_setup >/dev/null
pair_start_proxies "$@" >/dev/null
pair_client "$FTP_PYTHON" "$FTP_REPO_ROOT/tests/e2e/tools/kv_client.py" --host "$TOPO_SERVICE_IP" \
  --seconds 3 --acked "$TOPO_DIR/acked" >"$TOPO_DIR/kv.json" &
kv=$!
sleep "1.$((RANDOM % 10))$((RANDOM % 10))"
kill_at=$(date +%s.%N)
kill -KILL "$(topo_pid primary)"
ip -n "$TOPO_NS_S1" link set eth0 down
wait "$kv" || true
topo_stop primary KILL 1 >/dev/null 2>&1 || true
pair_wait_state "$TOPO_NS_P2" live 5 || true
live_ts=$(sed -n 's/^\([0-9T:.-]*Z\) .*state transition.*to=live.*/\1/p' "$(topo_log backup)" | head -n 1)
takeover_ms=null
[[ -n $live_ts ]] && takeover_ms=$(awk -v a="$(date -d "$live_ts" +%s.%N)" -v b="$kill_at" 'BEGIN {printf "%.1f", (a - b) * 1000}')
# Every acknowledged write must be readable from the new live side.
lost=$(topo_exec "$TOPO_NS_C" "$FTP_PYTHON" - "$TOPO_SERVICE_IP" "$TOPO_DIR/acked" <<'PY'
import socket, sys
host, path = sys.argv[1], sys.argv[2]
idx = [int(l) for l in open(path) if l.strip()]
s = socket.create_connection((host, 6379), timeout=5)
f = s.makefile("rb")
missing = 0
for start in range(0, len(idx), 1000):
    chunk = idx[start:start + 1000]
    s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\nk%d\r\n" % (len(b"k%d" % i), i) for i in chunk))
    for i in chunk:
        line = f.readline()
        if line.startswith(b"$-1"):
            missing += 1
            continue
        val = f.readline().strip()
        if val != b"v%d" % i:
            missing += 1
print(missing)
PY
)
jq -c --argjson takeover "$takeover_ms" --argjson lost "${lost:-null}" --arg state "$(pair_state "$TOPO_NS_P2")" \
  '{takeover_ms: $takeover, stall_ms: (.max_gap_s * 1000 | . * 10 | round / 10), survived: (.error == null),
    acked: .acked, lost: $lost, backup_state: $state}' "$TOPO_DIR/kv.json"
