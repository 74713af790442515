#!/usr/bin/env bash
# The replicated pair with arbiter.backend = "etcd": a real 3-member etcd cluster on the
# management link (M .17, ports 2379/2479/2579) that both proxies reach.
#   A. (epoch 1) kill the etcd leader (found with `etcdctl endpoint status`) and cut the log
#      link at once, so both proxies arbitrate during the election: exactly one goes live
#      (answer won), the other is fenced (answer lost), and the winner's fencing token is
#      the etcd create_revision of /ftproxy/<cluster>/1.
#   B. (epoch 2, fresh proxies, the dead member restarted) kill two members, cut the log
#      link: for 3 s nobody goes live or fenced (no quorum, no decision); bring one member
#      back: exactly one goes live, the other is fenced.
# Needs node.cpp to build the etcd backend (arbiter.backend = "etcd").
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  ftp_skip "etcd/etcdctl not installed"
fi
ftp_require_cmd jq curl redis-cli
[[ -x $FTPROXY_BIN ]] || ftp_skip "ftproxy not built in $FTP_BUILD_DIR"

topo_init
topo_pair
topo_start_etcd_cluster
topo_start_redis redis1 "$TOPO_NS_S1"
topo_start_redis redis2 "$TOPO_NS_S2"
eps=""
for i in 1 2 3; do eps+="${eps:+,}\"$TOPO_MGMT_IP:$((2279 + i * 100))\""; done
CLUSTER="e2e-$TOPO_PFX"

ctl() { topo_exec "$TOPO_NS_M" env ETCDCTL_API=3 etcdctl --command-timeout=2s --endpoints "$TOPO_ETCD_ENDPOINTS" "$@"; }
leader_member() {
  ctl endpoint status -w json 2>/dev/null | "$FTP_PYTHON" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["header"]["member_id"] == s["Status"]["leader"]:
        print((int(s["Endpoint"].rsplit(":", 1)[1]) - 2279) // 100)
        break'
}
restart_member() {
  local n=$1 peers="" i client peer
  client="http://$TOPO_MGMT_IP:$((2279 + n * 100))" peer="http://$TOPO_MGMT_IP:$((2280 + n * 100))"
  for i in 1 2 3; do peers+="${peers:+,}etcd$i=http://$TOPO_MGMT_IP:$((2280 + i * 100))"; done
  topo_spawn "etcd$n-$2" "$TOPO_NS_M" etcd --name "etcd$n" --data-dir "$TOPO_DIR/etcd$n" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$peers" --initial-cluster-state existing \
    --heartbeat-interval 50 --election-timeout 500
}
start_pair() {
  pair_start_proxies "node.cluster=\"$CLUSTER\"" "node.epoch=$1" 'arbiter.backend="etcd"' \
    "arbiter.endpoints=[$eps]" "arbiter.timeout_ms=1000" "arbiter.retry_ms=50"
  fo_expect_roles "epoch $1 after start-up"
}
decided() {
  local a b
  a=$(pair_state "$TOPO_NS_P1") b=$(pair_state "$TOPO_NS_P2")
  [[ $a-$b == live-fenced || $a-$b == fenced-live ]]
}
outcome() {
  if [[ $(pair_state "$TOPO_NS_P1") == live ]]; then fo_expect_outcome "$TOPO_NS_P1" "$TOPO_NS_P2"; else fo_expect_outcome "$TOPO_NS_P2" "$TOPO_NS_P1"; fi
}

# --- A: leader killed during arbitration -------------------------------------------
start_pair 1
leader=$(leader_member)
[[ $leader =~ ^[123]$ ]] || fo_fail "no etcd leader found"
topo_stop "etcd$leader" KILL || true
ip -n "$TOPO_NS_P1" link set log down
ftp_log "killed the etcd leader etcd$leader and cut the log link"
ftp_wait_until 10 decided ||
  fo_fail "no decision: P1 $(pair_state "$TOPO_NS_P1") [$(fo_transitions "$TOPO_NS_P1")], P2 $(pair_state "$TOPO_NS_P2") [$(fo_transitions "$TOPO_NS_P2")]"
outcome
if [[ $(pair_state "$TOPO_NS_P1") == live ]]; then winner_ns=$TOPO_NS_P1 winner=p1; else winner_ns=$TOPO_NS_P2 winner=p2; fi
key_json=$(ctl get -w json "/ftproxy/$CLUSTER/1")
owner=$(jq -r '.kvs[0].value | @base64d' <<<"$key_json")
rev=$(jq -r '.kvs[0].create_revision' <<<"$key_json")
token=$(fo_jq "$winner_ns" .failover.fencing_token)
ftp_log "etcd says epoch 1 -> $owner (create_revision $rev); winner $winner reports token $token"
[[ $owner == "$winner" ]] || fo_fail "etcd owner $owner, live proxy $winner"
[[ $token == "$rev" ]] || fo_fail "fencing token $token != create_revision $rev"
# The operator's view of the same decision, through etcd (ftproxyctl with the proxy's config).
if [[ -x $FTPROXYCTL_BIN ]]; then
  shown=$(ip netns exec "$winner_ns" "$FTPROXYCTL_BIN" epoch show --config "$TOPO_DIR/primary.toml") ||
    fo_fail "ftproxyctl epoch show over etcd failed: $shown"
  grep -Eq "^epoch +1: won by $winner " <<<"$shown" || fo_fail "ftproxyctl epoch show: $shown"
fi

# --- B: no quorum, then quorum back ------------------------------------------------
topo_stop primary TERM 3 || true
topo_stop backup TERM 3 || true
ip -n "$TOPO_NS_P1" link set log up
restart_member "$leader" back
ftp_wait_until 20 ctl endpoint health --cluster || fo_fail "etcd did not heal after restarting etcd$leader"
start_pair 2
a=$(((leader % 3) + 1)) b=$((((leader + 1) % 3) + 1))
topo_stop "etcd$a" KILL || true
topo_stop "etcd$b" KILL || true
ip -n "$TOPO_NS_P1" link set log down
ftp_log "killed etcd$a and etcd$b (no quorum) and cut the log link"
for ((i = 0; i < 30; i++)); do
  for ns in "$TOPO_NS_P1" "$TOPO_NS_P2"; do
    s=$(pair_state "$ns")
    [[ $s != live && $s != fenced ]] || fo_fail "$ns is $s without an etcd quorum [$(fo_transitions "$ns")]"
  done
  sleep 0.1
done
ftp_log "no quorum for 3 s: P1 $(pair_state "$TOPO_NS_P1"), P2 $(pair_state "$TOPO_NS_P2"), unavailable answers P1 $(fo_jq "$TOPO_NS_P1" .failover.arbiter_unavailable) P2 $(fo_jq "$TOPO_NS_P2" .failover.arbiter_unavailable)"
restart_member "$a" again
ftp_wait_until 20 decided ||
  fo_fail "no decision after the quorum came back: P1 $(pair_state "$TOPO_NS_P1") [$(fo_transitions "$TOPO_NS_P1")], P2 $(pair_state "$TOPO_NS_P2") [$(fo_transitions "$TOPO_NS_P2")]"
outcome
ftp_log "PASS"
