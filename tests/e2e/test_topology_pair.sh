#!/usr/bin/env bash
# Harness check for the replicated-pair topology (tests/e2e/lib/topology.sh
# topo_pair) that the failover tests build on. Kernel bridges stand in for the
# proxies here; no ftproxy binary is needed. Asserts:
#   - the two server copies carry the same IP and MAC and are isolated from the LAN
#     and from each other until something joins ext and int;
#   - a "proxy" joining ext/int in P1 makes S1 (and only S1) serve the client;
#   - after P1 stops and P2 takes over (plus one frame from S2 to refresh the
#     switch's MAC table, which a GARP does for ftproxy), S2 serves the client;
#   - the log link (P1 <-> P2) and the management link (P1, P2 -> M) work, and a
#     TCP listener in M (where the arbiter runs) is reachable from both proxies.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
ftp_require_root
ftp_require_cmd ping redis-server redis-cli

fail() { ftp_die "FAILED: $*"; }
reach() { topo_exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }

topo_init
topo_pair

for s in "$TOPO_NS_S1" "$TOPO_NS_S2"; do
  mac=$(ip -n "$s" -br link show eth0 | awk '{print $3}')
  [[ $mac == "$TOPO_SERVICE_MAC" ]] || fail "$s eth0 MAC is $mac"
  ip -n "$s" -br addr show eth0 | grep -q " $TOPO_SERVICE_IP/24" || fail "$s lacks $TOPO_SERVICE_IP"
done

reach "$TOPO_NS_C" "$TOPO_SERVICE_IP" && fail "service reachable with no proxy running"

# Each server copy holds a different value for the same key, so replies tell them apart.
topo_start_redis redis1 "$TOPO_NS_S1"
topo_start_redis redis2 "$TOPO_NS_S2"
topo_exec "$TOPO_NS_S1" redis-cli -h "$TOPO_SERVICE_IP" SET whoami s1 >/dev/null
topo_exec "$TOPO_NS_S2" redis-cli -h "$TOPO_SERVICE_IP" SET whoami s2 >/dev/null
whoami() { topo_exec "$TOPO_NS_C" timeout 5 redis-cli -h "$TOPO_SERVICE_IP" GET whoami 2>/dev/null; }

topo_kernel_bridge "$TOPO_NS_P1"
ftp_wait_until 5 reach "$TOPO_NS_C" "$TOPO_SERVICE_IP" || fail "no path through P1"
[[ $(whoami) == s1 ]] || fail "client did not reach S1 through P1"

topo_kernel_bridge_remove "$TOPO_NS_P1"
reach "$TOPO_NS_C" "$TOPO_SERVICE_IP" && fail "service still reachable after P1 stopped"
topo_kernel_bridge "$TOPO_NS_P2"
topo_exec "$TOPO_NS_S2" ping -c 1 -W 1 "$TOPO_CLIENT_IP" >/dev/null || fail "S2 cannot reach the client"
[[ $(whoami) == s2 ]] || fail "client did not reach S2 through P2 after the switch-over"

reach "$TOPO_NS_P1" "$TOPO_LOG_IP2" || fail "log link P1 -> P2"
reach "$TOPO_NS_P2" "$TOPO_LOG_IP1" || fail "log link P2 -> P1"
reach "$TOPO_NS_P1" "$TOPO_MGMT_IP" || fail "management link P1 -> M"
reach "$TOPO_NS_P2" "$TOPO_MGMT_IP" || fail "management link P2 -> M"
reach "$TOPO_NS_P1" "$TOPO_SERVICE_IP" && fail "proxy namespace has a route onto the service LAN"

# A TCP service in M (as the arbiter) is reachable from both proxy namespaces.
topo_spawn mgmt-redis "$TOPO_NS_M" redis-server --bind "$TOPO_MGMT_IP" --port 7500 --daemonize no \
  --save '' --appendonly no --protected-mode no --logfile ''
for p in "$TOPO_NS_P1" "$TOPO_NS_P2"; do
  ftp_wait_until 5 topo_exec "$p" redis-cli -h "$TOPO_MGMT_IP" -p 7500 ping ||
    fail "TCP service in M not reachable from $p"
done
topo_stop mgmt-redis || fail "redis-server in M did not stop cleanly"

# The 3-member etcd cluster for the etcd arbiter backend: reachable from both proxies,
# and still serving a linearizable txn after one member is killed.
topo_start_etcd_cluster
etcdctl_p() { topo_exec "$1" env ETCDCTL_API=3 etcdctl --endpoints "$TOPO_ETCD_ENDPOINTS" --command-timeout=3s "${@:2}"; }
etcdctl_p "$TOPO_NS_P1" put /ftproxy/check/1 p1 >/dev/null || fail "etcd put from P1"
[[ $(etcdctl_p "$TOPO_NS_P2" get --print-value-only /ftproxy/check/1) == p1 ]] || fail "etcd get from P2"
topo_stop etcd2 KILL || true  # status 137: killed, as intended
# etcdctl txn reads: compares, blank line, success ops, blank line, failure ops.
# If the killed member was the leader, the survivors elect a new one first (election
# timeout 500 ms): retry for a bounded time, as a real client would.
txn_ok=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
  if out=$(etcdctl_p "$TOPO_NS_P2" txn 2>&1 <<<$'create("/ftproxy/check/2") = "0"\n\nput /ftproxy/check/2 p2\n\nget /ftproxy/check/2\n'); then
    txn_ok=1
    break
  fi
  sleep 0.5
done
((txn_ok)) || fail "etcd txn after losing one member: $out"
grep -q SUCCESS <<<"$out" || fail "etcd txn did not succeed: $out"
ftp_log "PASS"
