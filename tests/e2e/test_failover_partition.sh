#!/usr/bin/env bash
# Failover end to end: cut ONLY the log link (both proxies and servers stay up) while a
# single-connection writer runs. Asserts:
#   - exactly one side goes live (arbiter answer "won") and the other is fenced (answer
#     "lost", fence cause arbiter_lost, never live), and no sample of both /status taken
#     every ~20 ms shows both live;
#   - a capture on the switch port of the fenced side (frames the switch received from
#     it) holds no frame stamped after the fence, while the live side's port carries
#     traffic after it (the capture works);
#   - if the primary won, the writer kept its connection with no error; whoever won,
#     every acknowledged write is readable with its value through the service IP.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

fo_setup
fo_start_capture cap_p1 p1
fo_start_capture cap_p2 p2
fo_start_kv kv 5
fo_start_sampler sampler 5
sleep 1.2
port_before=$(fo_kv_local_port kv)
[[ -n $port_before ]] || fo_fail "kv_client has no established connection before the cut"

fo_expect_roles "before the fault"
t_cut=$(fo_now)
ip -n "$TOPO_NS_P1" link set log down
ftp_log "log link cut after $(fo_acked_count kv) acknowledged writes"

decided() {
  local a b
  a=$(pair_state "$TOPO_NS_P1") b=$(pair_state "$TOPO_NS_P2")
  [[ $a-$b == live-fenced || $a-$b == fenced-live ]]
}
ftp_wait_until 5 decided ||
  fo_fail "no decision: P1 $(pair_state "$TOPO_NS_P1") [$(fo_transitions "$TOPO_NS_P1")], P2 $(pair_state "$TOPO_NS_P2") [$(fo_transitions "$TOPO_NS_P2")]"
if [[ $(pair_state "$TOPO_NS_P1") == live ]]; then
  winner=$TOPO_NS_P1 loser=$TOPO_NS_P2 loser_cap=cap_p2 winner_cap=cap_p1 winner_name=primary
else
  winner=$TOPO_NS_P2 loser=$TOPO_NS_P1 loser_cap=cap_p1 winner_cap=cap_p2 winner_name=backup
fi
fo_expect_outcome "$winner" "$loser"
fence_wall=$(fo_transition_wall "$loser" fenced)
live_wall=$(fo_transition_wall "$winner" live)
ftp_log "the $winner_name won; fenced at $fence_wall"

# Keep the clients and the capture running past the decision, then stop them.
kv_rc=0
fo_wait_exit kv 15 || kv_rc=$?
fo_wait_exit sampler 10 || true # ends by its timeout (status 124)
fo_check_samples sampler
[[ $(pair_state "$winner") == live && $(pair_state "$loser") == fenced ]] ||
  fo_fail "outcome changed: winner $(pair_state "$winner"), loser $(pair_state "$loser")"
sleep 0.2
topo_stop cap_p1 || true
topo_stop cap_p2 || true

late=$(fo_frames_after "$loser_cap" "$(awk -v t="$fence_wall" 'BEGIN { printf "%.6f", t + 0.001 }')")
[[ -z $late ]] || fo_fail "the fenced side sent frames after it was fenced:"$'\n'"$late"
winner_frames=$(fo_frames_after "$winner_cap" "$fence_wall" | wc -l)
((winner_frames > 0)) || fo_fail "no frame from the live side after the decision: is the capture working?"
ftp_log "capture: $(fo_frame_count "$loser_cap") frames from the fenced side in total, none after the fence"

kv_json=$(tail -n 1 "$(topo_log kv)")
ftp_log "kv: $kv_json"
if [[ $winner_name == primary ]]; then
  ((kv_rc == 0)) || fo_fail "the primary won but the client's connection broke: $kv_json"
  jq -e '.error == null' >/dev/null <<<"$kv_json" || fo_fail "the primary won but the client saw an error"
  [[ $(jq -r .local <<<"$kv_json") == *":$port_before" ]] || fo_fail "kv ended on another connection"
fi
fo_verify_acked "$TOPO_NS_C" kv

decision_s=$(awk -v a="$live_wall" -v b="$t_cut" 'BEGIN { printf "%.3f", a - b }')
ftp_log "METRIC partition winner=$winner_name live_after_cut_s=$decision_s kv_max_gap_s=$(jq -r .max_gap_s <<<"$kv_json") kv_error=$(jq -c .error <<<"$kv_json") samples=$FO_SAMPLES"
ftp_log "PASS"
