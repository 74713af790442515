#!/usr/bin/env bash
# Bad openings on the backup's log port while the pair replicates (issue 3, "Bad input").
# While kv_client.py writes over one long-lived connection, the primary proxy's namespace
# (it owns the log link address) opens extra connections to the backup's log listener:
#   garbage       4 KiB of random bytes                    -> bad_magic
#   http          an HTTP request                          -> bad_magic
#   wrong_cluster a well-formed HELLO for another cluster  -> wrong_cluster
#   wrong_epoch   the right cluster, epoch 7 (pair: 1)     -> wrong_epoch
#   wrong_role    the right cluster and epoch, role backup -> wrong_role
#   silent        connects and sends nothing               -> HELLO timeout
# Asserts: each is closed by the backup without a reply and counted (log.refused_hellos
# in /status and ftproxy_log_refused_hellos_total in /metrics rise by one each); the
# backup's log names the reason of each refused HELLO; the legitimate pair keeps
# replicating (kv_client acks before, during and after, no error; the log channel never
# reconnected, on either side); at the end DEBUG DIGEST equal and every acked key on S2.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli jq curl "$FTP_PYTHON"

topo_init
pair_setup
repl_write_tools
repl_start_pair

cluster="e2e-$TOPO_PFX"
refused() { repl_status_get "$TOPO_NS_P2" .log.refused_hellos; }
repl_note_reconnects
refused_0=$(refused)

repl_kv_start 12

# probe KIND REASON: one bad opening from P1; the backup closes it without a reply, the
# refusal is counted and (for a decode error) logged with REASON and the probe's port.
probe() {
  local kind=$1 reason=$2 out port before after a0 a1
  before=$(refused)
  a0=$(repl_kv_acked)
  out=$(topo_exec "$TOPO_NS_P1" timeout 10 "$FTP_PYTHON" "$TOPO_DIR/log_probe.py" "$kind" \
    "$TOPO_LOG_IP2" 7600 "$cluster") || repl_fail "probe $kind: the backup did not close the connection ($out)"
  port=$(awk '/^local_port/ { print $2 }' <<<"$out")
  [[ $(tail -n 1 <<<"$out") =~ ^(closed|reset)\ 0$ ]] || repl_fail "probe $kind: unexpected answer ($out)"
  ftp_wait_until 2 bash -c "(( \$(ip netns exec $TOPO_NS_P2 curl -sf --max-time 1 http://127.0.0.1:$TOPO_CONTROL_PORT/status | jq .log.refused_hellos) > $before ))" ||
    repl_fail "probe $kind: refused_hellos stayed at $before"
  after=$(refused)
  ((after == before + 1)) || repl_fail "probe $kind: refused_hellos went from $before to $after"
  if [[ -n $reason ]]; then
    ftp_wait_until 2 grep -q "refused connection from $TOPO_LOG_IP1:$port: $reason" "$(topo_log backup)" ||
      repl_fail "probe $kind: no log line with reason $reason for port $port: $(grep 'log channel' "$(topo_log backup)" | tail -n 3)"
  fi
  topo_alive kv || repl_fail "kv_client ended during probe $kind: $(cat "$(topo_log kv)")"
  a1=$(repl_kv_acked)
  ftp_log "probe $kind from port $port: $(tail -n 1 <<<"$out"), refused_hellos $after, kv acked $a0 -> $a1"
}

# The backup logs refusals at most once a second (a scanner must not flood the log):
# space the probes so each one's reason is logged.
probe garbage bad_magic
sleep 1.1
probe http bad_magic
sleep 1.1
probe wrong_cluster wrong_cluster
sleep 1.1
probe wrong_epoch wrong_epoch
sleep 1.1
probe wrong_role wrong_role
probe silent ""
acked_probes=$(repl_kv_acked)

# kv_client ends on its own (--seconds); bounded wait.
repl_kv_finish 20 "$acked_probes" probes
[[ $(jq .log.refused_hellos <<<"$REPL_ST2") == $((refused_0 + 6)) ]] || repl_fail "refused_hellos $(jq .log.refused_hellos <<<"$REPL_ST2"), expected $((refused_0 + 6))"
m=$(topo_metrics "$TOPO_NS_P2" | awk '$1 == "ftproxy_log_refused_hellos_total" { print $2 }')
[[ $m == $((refused_0 + 6)) ]] || repl_fail "ftproxy_log_refused_hellos_total is '$m', expected $((refused_0 + 6))"
! grep -q "primary '.*' reconnected\|replacing the old connection" "$(topo_log backup)" ||
  repl_fail "the backup replaced its log connection: $(grep -i reconnect "$(topo_log backup)")"

repl_kv_check_on_backup
ftp_log "PASS ($REPL_KV_ACKED writes acked, refused_hellos $(jq .log.refused_hellos <<<"$REPL_ST2"))"
