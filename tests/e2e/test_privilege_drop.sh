#!/usr/bin/env bash
# Privilege drop end to end: both proxies run with node.user = "nobody" (started as root,
# as systemd or an operator would). Asserts:
#   - each proxy logged "privileges dropped" and /proc/PID/status shows uid and gid of
#     nobody (real, effective, saved, fs), no capabilities (CapEff, CapPrm, CapBnd, CapAmb,
#     CapInh all 0) and NoNewPrivs 1 -- except CAP_IPC_LOCK in CapEff/CapPrm/CapBnd when
#     the proxy locked its memory and could not raise RLIMIT_MEMLOCK (it logs why: a
#     root without CAP_SYS_RESOURCE, as in a container; under the systemd unit the hard
#     limit is infinity and nothing is kept);
#   - replication works unprivileged: a single-connection writer runs, then the primary is
#     killed; the unprivileged backup asks the (keyed) arbiter, wins, goes live, sends its
#     gratuitous ARPs, keeps the writer's connection, and every acknowledged write is on S2;
#   - the live unprivileged backup stops cleanly on SIGTERM (exit 0).
# The measurement behind "no capabilities needed" in docs/security.md is this test.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

RUN_AS=${FTP_PRIVDROP_USER:-nobody}
id -u "$RUN_AS" >/dev/null 2>&1 || ftp_skip "user $RUN_AS does not exist"
uid=$(id -u "$RUN_AS") gid=$(id -g "$RUN_AS")

# A generous failure timeout: the test is about privileges, not detection speed.
# FTP_PRIVDROP_OPTS adds section.key=value overrides, e.g. node.realtime_priority=0 (no
# locked memory: then nothing at all is kept).
read -r -a extra <<<"${FTP_PRIVDROP_OPTS:-}"
fo_setup "node.user=\"$RUN_AS\"" failover.timeout_ms=400 ${extra[@]+"${extra[@]}"}

# status_field NAME FIELD: a line of /proc/PID/status of a spawned process, tabs as spaces.
status_field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$(topo_pid "$1")/status"; }
for who in primary backup; do
  caps=$(sed -n "s/.*privileges dropped user=$RUN_AS .*capabilities=\([a-z_,]*\).*/\1/p" "$(topo_log "$who")")
  case $caps in
    none) want=0000000000000000 ;;
    cap_ipc_lock)
      grep -q 'keeping cap_ipc_lock' "$(topo_log "$who")" || fo_fail "$who kept cap_ipc_lock without saying why"
      want=0000000000004000 ;;
    *) fo_fail "$who did not log the privilege drop, or kept '$caps': $(grep -i privilege "$(topo_log "$who")")" ;;
  esac
  [[ $(status_field "$who" Uid) == "$uid $uid $uid $uid" ]] || fo_fail "$who Uid: $(status_field "$who" Uid)"
  [[ $(status_field "$who" Gid) == "$gid $gid $gid $gid" ]] || fo_fail "$who Gid: $(status_field "$who" Gid)"
  for f in CapEff CapPrm CapBnd; do
    [[ $(status_field "$who" "$f") == "$want" ]] || fo_fail "$who $f: $(status_field "$who" "$f"), expected $want"
  done
  for f in CapAmb CapInh; do
    [[ $(status_field "$who" "$f") == 0000000000000000 ]] || fo_fail "$who $f: $(status_field "$who" "$f")"
  done
  [[ $(status_field "$who" NoNewPrivs) == 1 ]] || fo_fail "$who NoNewPrivs: $(status_field "$who" NoNewPrivs)"
  ftp_log "$who: Uid $(status_field "$who" Uid), CapEff $(status_field "$who" CapEff), CapBnd $(status_field "$who" CapBnd)"
done

fo_start_kv kv 6
sleep 1.5
port_before=$(fo_kv_local_port kv)
[[ -n $port_before ]] || fo_fail "kv_client has no established connection"
fo_expect_roles "before the fault"
acked_before=$(fo_acked_count kv)
((acked_before > 0)) || fo_fail "no write acknowledged through the unprivileged pair"

topo_stop primary KILL 2 || true
ip -n "$TOPO_NS_S1" link set eth0 down
ftp_log "killed the primary after $acked_before acknowledged writes"
pair_wait_state "$TOPO_NS_P2" live 5 ||
  fo_fail "unprivileged backup did not go live: $(pair_state "$TOPO_NS_P2") $(fo_transitions "$TOPO_NS_P2")"
hist=$(fo_transitions "$TOPO_NS_P2")
[[ $hist =~ arbitrating-\>live:won$ ]] || fo_fail "unexpected backup history: $hist"
(($(fo_jq "$TOPO_NS_P2" .forward.garps_sent) > 0)) || fo_fail "the unprivileged backup sent no gratuitous ARP"
fo_check_kv kv "$port_before"
(($(fo_acked_count kv) > acked_before)) || fo_fail "no write acknowledged after the failover"
fo_verify_acked "$TOPO_NS_S2" kv

rc=0
topo_stop backup TERM 5 || rc=$?
((rc == 0)) || fo_fail "the unprivileged live backup exited $rc on SIGTERM"
ftp_log "METRIC privilege_drop user=$RUN_AS kept=$caps acked=$(fo_acked_count kv) history=\"$hist\""
ftp_log "PASS"
