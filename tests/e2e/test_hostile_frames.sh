#!/usr/bin/env bash
# Hostile frames on ext during replication (issue 9). A replicated pair serves a
# single-connection acked-write redis client (tests/e2e/tools/kv_client.py) while
# tests/e2e/tools/hostile_frames.py, in the client namespace, sends malformed and abusive
# frames to the service MAC/IP for HOSTILE_SECONDS (25) at HOSTILE_RATE (2000) frames/s:
# random bytes and lengths, truncated headers, bad IHL / lengths / data offsets, bogus TCP
# options, absurd SACK blocks (also blind on the live connection's ports), IPv4/IPv6
# fragments, VLAN stacks up to 16 tags, oversize frames (jumbo and beyond the snap length;
# the client -> switch -> ext path runs at MTU 16000 so they reach the proxies),
# broadcast/multicast junk, ARP garbage. The primary logs and forwards every frame (it is
# a bump in the wire); the backup parses each logged frame before injecting it.
# Asserts:
#   - the writer's connection survived, every acked write reads back on S1 and S2;
#   - neither proxy changed state; both still run;
#   - RSS of each proxy grew by less than HOSTILE_RSS_BOUND_KIB (4096) between a
#     warmed-up baseline and its maximum during and after the attack (VmRSS in
#     /proc/PID/status, sampled every second; measured growth: 0 KiB, see docs/testing.md);
#   - /metrics shows the drops: the backup's ftproxy_parse_errors_total for at least
#     HOSTILE_MIN_REASONS (10) reasons, rx_oversize on the primary's ext, tx_oversize on
#     both int ports (a jumbo cannot go to a 1500-byte server link);
#   - the replicas are DEBUG DIGEST-equal at the end.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli jq curl ip "$FTP_PYTHON"
"$FTP_PYTHON" -c 'import scapy.all' 2>/dev/null || ftp_skip "python3-scapy missing (run scripts/setup.sh)"
[[ -x $FTPROXY_BIN && -x $FTPROXY_ARBITER_BIN ]] || ftp_skip "ftproxy/ftproxy-arbiter not built in $FTP_BUILD_DIR"

HOSTILE_SECONDS=${HOSTILE_SECONDS:-25}
HOSTILE_RATE=${HOSTILE_RATE:-2000}
HOSTILE_RSS_BOUND_KIB=${HOSTILE_RSS_BOUND_KIB:-4096}
HOSTILE_MIN_REASONS=${HOSTILE_MIN_REASONS:-10}
JUMBO_MTU=16000

fail() { repl_fail "$*"; }
fo_fail() { repl_fail "$*"; } # failover.sh's checks print both proxies' status too

topo_init
repl_setup
# A jumbo-capable path from the client to both proxies' ext ports (the server links stay
# at 1500): frames up to 16000 bytes reach the proxies' capture, beyond the snap length.
ip -n "$TOPO_NS_C" link set eth0 mtu "$JUMBO_MTU"
for p in c0 p1 p2; do ip -n "$TOPO_NS_SW" link set "$p" mtu "$JUMBO_MTU"; done
ip -n "$TOPO_NS_SW" link set br0 mtu "$JUMBO_MTU"
# A switch forwards frames without judging their IP headers; with br_netfilter loaded
# (the host's choice) the Linux bridge would drop bad IPv4 headers before the proxies
# (br_validate_ipv4), and the test would not exercise the proxies' parser with them.
for k in iptables ip6tables arptables; do
  f=/proc/sys/net/bridge/bridge-nf-call-$k
  topo_exec "$TOPO_NS_SW" sh -c "[ ! -e $f ] || echo 0 >$f"
done
for ns in "$TOPO_NS_P1" "$TOPO_NS_P2"; do ip -n "$ns" link set ext mtu "$JUMBO_MTU"; done
repl_start_pair

# vmrss NAME: resident set of a proxy in KiB (the spawned PID is ftproxy itself: `ip
# netns exec` execs it).
vmrss() {
  local pid
  pid=$(topo_pid "$1")
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ftproxy ]] || fail "$1 (pid $pid) is not running"
  awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}

# metric NS NAME [LABEL_MATCH]: sum of a counter's samples in the proxy's /metrics.
metric() {
  topo_metrics "$1" | awk -v n="$2" -v l="${3:-}" '
    $1 ~ "^" n "([{]|$)" && index($1, l) { s += $NF } END { printf "%d\n", s }'
}

# parse_reasons NS: "reason=count" for every ftproxy_parse_errors_total sample > 0.
parse_reasons() {
  topo_metrics "$1" | sed -n 's/^ftproxy_parse_errors_total{reason="\([^"]*\)"} \([0-9]*\)$/\1=\2/p' |
    awk -F= '$2 > 0'
}

# ---- a writer, then the baseline -----------------------------------------------------
fo_start_kv kv $((HOSTILE_SECONDS + 20)) --interval 0.002
port_before=$(fo_kv_local_port kv)
[[ -n $port_before ]] || fail "kv_client has no established connection"
sleep 3 # warm-up: pools, rings and the writer's flow exist before the baseline
rss1_before=$(vmrss primary) rss2_before=$(vmrss backup)
for ns in "$TOPO_NS_P1" "$TOPO_NS_P2"; do topo_metrics "$ns" >"$TOPO_DIR/metrics-before-${ns#"$TOPO_PFX"}"; done
ext_rx_before=$(metric "$TOPO_NS_P1" ftproxy_port_rx_frames_total 'port="ext"')
parse_before=$(metric "$TOPO_NS_P2" ftproxy_parse_errors_total)
ftp_log "baseline: VmRSS primary ${rss1_before} KiB, backup ${rss2_before} KiB; backup parse errors $parse_before"

# ---- the attack ------------------------------------------------------------------------
topo_spawn hostile "$TOPO_NS_C" "$FTP_PYTHON" "$FTP_REPO_ROOT/tests/e2e/tools/hostile_frames.py" \
  --iface eth0 --src-mac "$TOPO_CLIENT_MAC" --dst-mac "$TOPO_SERVICE_MAC" --src-ip "$TOPO_CLIENT_IP" \
  --dst-ip "$TOPO_SERVICE_IP" --port "$TOPO_REDIS_PORT" --seconds "$HOSTILE_SECONDS" \
  --rate "$HOSTILE_RATE" --max-frame 12000
rss1_max=$rss1_before rss2_max=$rss2_before
for ((i = 0; i < HOSTILE_SECONDS + 60; i++)); do
  topo_alive hostile || break
  r1=$(vmrss primary) r2=$(vmrss backup)
  ((r1 > rss1_max)) && rss1_max=$r1
  ((r2 > rss2_max)) && rss2_max=$r2
  sleep 1
done
rc=0
fo_wait_exit hostile 5 || rc=$?
gen=$(tail -n 1 "$(topo_log hostile)")
((rc == 0)) || fail "the generator exited $rc: $(tail -n 5 "$(topo_log hostile)")"
ftp_log "generator: $gen"
sent=$(jq -r .total <<<"$gen")
((sent >= HOSTILE_SECONDS * HOSTILE_RATE / 4)) || fail "only $sent hostile frames sent"
fo_expect_roles "during the hostile traffic"

# ---- the writer and the data -------------------------------------------------------------
fo_check_kv kv "$port_before"
acked=$(fo_acked_count kv)
ftp_log "writer: $acked acked writes, longest reply gap ${FO_KV_MAX_GAP}s"
# The backup acks on receipt: it may still be injecting the backlog the attack left.
repl_wait_replicas_equal 60 || fail "S1 and S2 hold different data"
fo_verify_acked "$TOPO_NS_S1" kv
fo_verify_acked "$TOPO_NS_S2" kv
repl_assert_no_failover

# ---- memory -------------------------------------------------------------------------------
rss1_after=$(vmrss primary) rss2_after=$(vmrss backup)
g1=$((rss1_max - rss1_before)) g2=$((rss2_max - rss2_before))
ftp_log "VmRSS primary ${rss1_before} -> max ${rss1_max} -> ${rss1_after} KiB (growth ${g1}), backup ${rss2_before} -> max ${rss2_max} -> ${rss2_after} KiB (growth ${g2}); bound ${HOSTILE_RSS_BOUND_KIB} KiB"
((g1 < HOSTILE_RSS_BOUND_KIB)) || fail "primary RSS grew by $g1 KiB"
((g2 < HOSTILE_RSS_BOUND_KIB)) || fail "backup RSS grew by $g2 KiB"

# ---- the drops in /metrics -----------------------------------------------------------------
ext_rx=$(($(metric "$TOPO_NS_P1" ftproxy_port_rx_frames_total 'port="ext"') - ext_rx_before))
parse_after=$(metric "$TOPO_NS_P2" ftproxy_parse_errors_total)
reasons=$(parse_reasons "$TOPO_NS_P2" | tr '\n' ' ')
n_reasons=$(wc -w <<<"$reasons")
p1_rx_oversize=$(metric "$TOPO_NS_P1" ftproxy_port_rx_oversize_total 'port="ext"')
p1_tx_oversize=$(metric "$TOPO_NS_P1" ftproxy_port_tx_oversize_total 'port="int"')
p2_tx_oversize=$(metric "$TOPO_NS_P2" ftproxy_port_tx_oversize_total 'port="int"')
ftp_log "primary: ext rx $ext_rx frames during the attack, ext rx_oversize $p1_rx_oversize, int tx_oversize $p1_tx_oversize"
ftp_log "backup: parse errors +$((parse_after - parse_before)) ($reasons), int tx_oversize $p2_tx_oversize"
ftp_log "backup tcp: $(repl_status_get "$TOPO_NS_P2" '.tcp | {untracked_in, out_of_window, gaps_clamped, blind_dropped, stale_retransmits, held_total, hold_timeouts, wait_drops, queue_full_drops, divergence, inject_backpressure, flows_created}' | jq -c .)"
ftp_log "backup forward: $(repl_status_get "$TOPO_NS_P2" '.forward' | jq -c 'del(.parse_errors)')"
((ext_rx >= sent / 2)) || fail "the primary's ext saw only $ext_rx frames of $sent sent"
((parse_after > parse_before)) || fail "the backup counted no parse error"
((n_reasons >= HOSTILE_MIN_REASONS)) || fail "parse errors for only $n_reasons reasons: $reasons"
((p1_rx_oversize > 0)) || fail "primary ext rx_oversize is 0 (frames beyond the snap length)"
((p1_tx_oversize > 0)) || fail "primary int tx_oversize is 0 (jumbo frames towards the server)"
((p2_tx_oversize > 0)) || fail "backup int tx_oversize is 0 (logged jumbo frames towards the server)"
topo_alive primary || fail "the primary exited"
topo_alive backup || fail "the backup exited"
ftp_log "PASS"
