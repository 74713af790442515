#!/usr/bin/env bash
# Failover end to end: the arbiter is down when the log link is cut. Asserts:
#   - for 3 s nobody goes live or fenced: both proxies stay "arbitrating" (every ~20 ms
#     sample), both count the arbiter as unavailable;
#   - meanwhile the primary releases no held output (output_gate.released is flat) and
#     the client receives no reply (its acknowledged count is flat);
#   - the arbiter back (same config and data dir): exactly one side goes live, the other
#     is fenced, never both live; if the primary won the client's connection survived;
#     every acknowledged write is readable through the service IP;
#   - the arbiter restarted once more after the decision answers, over its JSON-lines
#     protocol, with the same winner for (cluster, epoch): read -> decided/winner, the
#     loser's test-and-set -> lost/winner, the winner's -> won (idempotent).
#     Requests are signed with the run's arbiter key; an unsigned one is refused
#     ("needs a key") and sets nothing.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

WINDOW_S=3
fo_setup
fo_start_kv kv 9
sleep 1
topo_stop arbiter || true
port_before=$(fo_kv_local_port kv)
[[ -n $port_before ]] || fo_fail "kv_client has no established connection before the cut"
fo_start_sampler sampler 9

fo_expect_roles "before the fault"
ip -n "$TOPO_NS_P1" link set log down
both_arbitrating() {
  [[ $(pair_state "$TOPO_NS_P1") == arbitrating && $(pair_state "$TOPO_NS_P2") == arbitrating ]]
}
ftp_wait_until 3 both_arbitrating ||
  fo_fail "not both arbitrating: P1 $(pair_state "$TOPO_NS_P1"), P2 $(pair_state "$TOPO_NS_P2")"
released0=$(fo_jq "$TOPO_NS_P1" .output_gate.released)
acked0=$(fo_acked_count kv)
w_start=$(fo_now)
sleep "$WINDOW_S"
w_end=$(fo_now)
released1=$(fo_jq "$TOPO_NS_P1" .output_gate.released)
acked1=$(fo_acked_count kv)
both_arbitrating || fo_fail "a side left arbitrating without an arbiter: P1 $(fo_transitions "$TOPO_NS_P1"); P2 $(fo_transitions "$TOPO_NS_P2")"
[[ $released1 == "$released0" ]] || fo_fail "primary released $((released1 - released0)) held outputs with no arbiter"
[[ $acked1 == "$acked0" ]] || fo_fail "client got $((acked1 - acked0)) replies while nobody was live"
for ns in "$TOPO_NS_P1" "$TOPO_NS_P2"; do
  (($(fo_jq "$ns" .failover.arbiter_unavailable) > 0)) || fo_fail "$ns did not count the arbiter unavailable"
done
# Every sample in the window: both arbitrating.
odd=$(awk -v a="$w_start" -v b="$w_end" '$1 + 0 >= a && $1 + 0 <= b && !($2 == "arbitrating" && $3 == "arbitrating") { print; exit }' \
  "$(topo_log sampler)")
[[ -z $odd ]] || fo_fail "a sample in the arbiter-less window was not both arbitrating: $odd"
ftp_log "${WINDOW_S}s without arbiter: both arbitrating, released $released0 -> $released1, acked $acked0 -> $acked1"

topo_start_arbiter arbiter2 "$TOPO_DIR/arbiter.toml"
decided() {
  local a b
  a=$(pair_state "$TOPO_NS_P1") b=$(pair_state "$TOPO_NS_P2")
  [[ $a-$b == live-fenced || $a-$b == fenced-live ]]
}
ftp_wait_until 5 decided || fo_fail "no decision after the arbiter came back: P1 $(pair_state "$TOPO_NS_P1"), P2 $(pair_state "$TOPO_NS_P2")"
if [[ $(pair_state "$TOPO_NS_P1") == live ]]; then winner=$TOPO_NS_P1 loser=$TOPO_NS_P2; else winner=$TOPO_NS_P2 loser=$TOPO_NS_P1; fi
fo_expect_outcome "$winner" "$loser"
winner_node=$(fo_jq "$winner" .node) loser_node=$(fo_jq "$loser" .node)
(($(fo_acked_count kv) > acked1)) || sleep 1
[[ $winner == "$TOPO_NS_P1" ]] || ftp_log "the backup won: the client may have to reconnect"

kv_rc=0
fo_wait_exit kv 20 || kv_rc=$?
kv_json=$(tail -n 1 "$(topo_log kv)")
ftp_log "kv: $kv_json"
if [[ $winner == "$TOPO_NS_P1" ]]; then
  ((kv_rc == 0)) || fo_fail "primary won but the connection broke: $kv_json"
  jq -e '.error == null' >/dev/null <<<"$kv_json" || fo_fail "primary won but the client saw an error"
  [[ $(jq -r .local <<<"$kv_json") == *":$port_before" ]] || fo_fail "kv ended on another connection"
  (($(fo_acked_count kv) > acked1)) || fo_fail "no reply after the primary went live"
fi
fo_verify_acked "$TOPO_NS_C" kv
fo_wait_exit sampler 10 || true
fo_check_samples sampler

# The decision survives an arbiter restart.
topo_stop arbiter2 || true
topo_start_arbiter arbiter3 "$TOPO_DIR/arbiter.toml"
cluster=$(fo_jq "$winner" .cluster) epoch=$(fo_jq "$winner" .epoch)
mapfile -t replies < <(fo_arbiter_query \
  "{\"op\":\"read\",\"cluster\":\"$cluster\",\"epoch\":$epoch}" \
  "{\"op\":\"tas\",\"cluster\":\"$cluster\",\"epoch\":$epoch,\"candidate\":\"$loser_node\"}" \
  "{\"op\":\"tas\",\"cluster\":\"$cluster\",\"epoch\":$epoch,\"candidate\":\"$winner_node\"}")
ftp_log "arbiter after restart: ${replies[*]}"
((${#replies[@]} == 3)) || fo_fail "arbiter answered ${#replies[@]} of 3 requests"
jq -e --arg w "$winner_node" '.result == "decided" and .owner == $w' >/dev/null <<<"${replies[0]}" ||
  fo_fail "read after restart: ${replies[0]} (winner $winner_node)"
jq -e --arg w "$winner_node" '.result == "lost" and .owner == $w' >/dev/null <<<"${replies[1]}" ||
  fo_fail "loser's test-and-set after restart: ${replies[1]}"
jq -e --arg w "$winner_node" '.result == "won" and .owner == $w' >/dev/null <<<"${replies[2]}" ||
  fo_fail "winner's test-and-set after restart: ${replies[2]}"
# The arbiter runs with the run's key: an unsigned request is refused and records nothing.
next_epoch=$((epoch + 1))
unsigned=$(FO_ARBITER_UNSIGNED=1 fo_arbiter_query \
  "{\"op\":\"tas\",\"cluster\":\"$cluster\",\"epoch\":$next_epoch,\"candidate\":\"intruder\"}")
jq -e '.result == "error" and (.message | contains("needs a key"))' >/dev/null <<<"$unsigned" ||
  fo_fail "unsigned test-and-set was not refused: $unsigned"
after=$(fo_arbiter_query "{\"op\":\"read\",\"cluster\":\"$cluster\",\"epoch\":$next_epoch}")
jq -e '.result == "undecided"' >/dev/null <<<"$after" || fo_fail "the refused request set a flag: $after"
ftp_log "unsigned request refused: $unsigned"

ftp_log "METRIC arbiter_down winner=$winner_node kv_max_gap_s=$(jq -r .max_gap_s <<<"$kv_json")"
ftp_log "PASS"
