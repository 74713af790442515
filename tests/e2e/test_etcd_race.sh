#!/usr/bin/env bash
# The etcd arbiter backend against a real 3-member etcd cluster (in a private network
# namespace, members on its loopback): two candidates race test_and_set on the same
# epochs (tests/e2e/tools/etcd_race.cpp, two threads, two arbiters entering through
# different members).
#   1. 1000 epochs: exactly one winner each time, the loser learns the winner's name,
#      both see the same fencing token, and a read afterwards agrees.
#   2. kill the leader (found with `etcdctl endpoint status`): more epochs, still exactly
#      one winner (answers resume once a new leader is elected).
#   3. kill a second member: no quorum, every answer is `unavailable` (nobody wins).
#   4. bring one member back: the epochs of step 3 are raced again (a txn left pending
#      while the quorum was gone must not make a second winner) and new epochs decide.
# Exit 0 pass, 77 skip (no etcd), 1 fail.
set -euo pipefail
# shellcheck source=lib/topology.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/topology.sh"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  ftp_skip "etcd/etcdctl not installed (Debian: etcd-server etcd-client)"
fi
RACE_BIN="${ETCD_RACE_BIN:-$FTP_BUILD_DIR/tests/unit/arbiter/etcd_race}"
[[ -x $RACE_BIN ]] || ftp_die "missing $RACE_BIN (ninja -C $FTP_BUILD_DIR tests/unit/arbiter/etcd_race)"

topo_init
TOPO_NS_M="${TOPO_PFX}m"
topo_ns m
TOPO_MGMT_IP=127.0.0.1  # the namespace's own loopback: no clash with the host's ports
topo_start_etcd_cluster
ENDPOINTS="${TOPO_ETCD_ENDPOINTS//http:\/\//}"
CLUSTER="race$$"

ctl() { topo_exec "$TOPO_NS_M" env ETCDCTL_API=3 etcdctl --command-timeout=2s "$@"; }

# The member number (1..3) of the current leader, from `etcdctl endpoint status`.
leader_member() {
  ctl --endpoints "$TOPO_ETCD_ENDPOINTS" endpoint status -w json 2>/dev/null |
    "$FTP_PYTHON" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["header"]["member_id"] == s["Status"]["leader"]:
        print((int(s["Endpoint"].rsplit(":", 1)[1]) - 2279) // 100)
        break'
}

# race PHASE ARGS...: run the race program, log its summary, fail the test on a violation.
race() {
  local phase=$1 out
  shift
  if ! out=$(topo_exec "$TOPO_NS_M" "$RACE_BIN" --endpoints "$ENDPOINTS" --cluster "$CLUSTER" "$@"); then
    ftp_log "$phase: $out"
    ftp_die "$phase: violation (see above)"
  fi
  ftp_log "$phase: $out"
}

race "1000 epochs, healthy cluster" --from 1 --count 1000 --timeout-ms 1000 --retry-for-ms 5000

leader=$(leader_member)
[[ $leader =~ ^[123]$ ]] || ftp_die "no etcd leader found"
ftp_log "killing the leader etcd$leader"
topo_stop "etcd$leader" KILL || true  # its status is the KILL
race "leader killed" --from 1001 --count 100 --timeout-ms 1000 --retry-for-ms 10000

second=$(((leader % 3) + 1))
ftp_log "killing a second member etcd$second: no quorum left"
topo_stop "etcd$second" KILL || true
race "two members down" --from 2001 --count 5 --timeout-ms 500 --expect unavailable

ftp_log "restarting etcd$second"
client="http://$TOPO_MGMT_IP:$((2279 + second * 100))" peer="http://$TOPO_MGMT_IP:$((2280 + second * 100))"
peers=""
for i in 1 2 3; do peers+="${peers:+,}etcd$i=http://$TOPO_MGMT_IP:$((2280 + i * 100))"; done
# The data directory exists: the member rejoins with its identity (cluster flags ignored).
topo_spawn "etcd${second}again" "$TOPO_NS_M" etcd --name "etcd$second" --data-dir "$TOPO_DIR/etcd$second" \
  --listen-client-urls "$client" --advertise-client-urls "$client" \
  --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
  --initial-cluster "$peers" --initial-cluster-state existing \
  --heartbeat-interval 50 --election-timeout 500
race "member back: epochs of the outage again" --from 2001 --count 5 --timeout-ms 1000 --retry-for-ms 20000
race "member back: new epochs" --from 3001 --count 100 --timeout-ms 1000 --retry-for-ms 5000

ftp_log "PASS"
