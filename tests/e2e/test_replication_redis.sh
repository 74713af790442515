#!/usr/bin/env bash
# Replication end to end (issue 3): a primary and a backup ftproxy keep two unmodified
# redis-servers identical under redis-benchmark (8 parallel clients, pipelining off and
# on) and a scripted SET/INCR/LPUSH/HSET workload over several connections (both with
# replies whose lengths do not depend on how a server interleaves connections). Asserts:
#   - zero client errors (benchmark and script) and no error reply on either server;
#   - afterwards DEBUG DIGEST and DBSIZE equal on S1 and S2 (and DBSIZE non-trivial),
#     every workload command executed as often on S2 as on S1;
#   - the backup server's TCP is healthy: no socket with unacked data or in a state
#     waiting for a lost segment (ss -tni, after a short settle), an idle connection
#     kept open to the end has the same byte counts on S1 and S2 with everything acked,
#     no aborts or resets beyond what S1 saw (nstat);
#   - no frame from the backup side reached the LAN: the switch received nothing on p2
#     (tcpdump -Q in over the whole run, and the port's rx counter), while the primary's
#     port p1 carried the traffic (the capture works);
#   - the backup's /status: state backup, tcp divergence 0, log connected, entries
#     injected; the primary's: output_gate released > 0, nothing dropped; no failover.
# REPL_BENCH_N (20000): requests per redis-benchmark run; REPL_BACKEND (lib/replication.sh)
# picks the packet I/O backend (test_dpdk_replication.sh).
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli redis-benchmark tcpdump nstat ss jq curl "$FTP_PYTHON"

topo_init
repl_setup
repl_write_tools
# Captures first: they cover the backup proxy's whole life, start-up included.
repl_capture_start cap_p2 p2
repl_capture_start cap_p1 p1
repl_start_pair

repl_nstat_snapshot before

# An idle connection that stays open to the end (its server sockets are compared last).
repl_start_holder holder 120
hold_port=$REPL_HOLD_PORT

# run_bench LABEL ARGS...: redis-benchmark from the client (8 connections); exit 0, no
# error, a result for every command. Every reply's LENGTH must not depend on how the
# server interleaves the connections (the two servers interleave them differently, see
# docs/testing.md): keys are random over 100000 (INCR values stay below 10, HSET answers
# 0 or 1) and LPUSH goes to random lists instead of the one shared "mylist" of -t lpush,
# whose growing length crosses digit boundaries at different replies on S1 and S2.
run_bench() {
  local label=$1 out rc=0 t
  shift
  out=$({
    pair_client timeout 40 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
      -c 8 -n "$BENCH_N" -r 100000 -t set,incr,hset --csv "$@" &&
      pair_client timeout 40 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
        -c 8 -n "$BENCH_N" -r 100000 --csv "$@" LPUSH 'list:__rand_int__' v
  } 2>&1) || rc=$?
  echo "$out" >"$TOPO_DIR/bench-$label.out"
  ((rc == 0)) || repl_fail "redis-benchmark $label exited $rc: $(tail -n 5 <<<"$out")"
  ! grep -qi 'error' <<<"$out" || repl_fail "redis-benchmark $label reported errors: $(grep -i error <<<"$out" | head -n 3)"
  for t in SET INCR HSET LPUSH; do
    grep -q "^\"${t}[^\"]*\",\"[1-9]" <<<"$out" || repl_fail "redis-benchmark $label: no result for $t: $out"
  done
  ftp_log "redis-benchmark $label (requests/s): $(awk -F, '!/^"test"/ { gsub(/"/, ""); printf "%s=%s ", $1, $2 }' <<<"$out")"
}

BENCH_N=${REPL_BENCH_N:-20000}
t0=$SECONDS
run_bench pipeline1
run_bench pipeline16 -P 16
out=$(pair_client timeout 40 "$FTP_PYTHON" "$TOPO_DIR/kv_mix.py" --host "$TOPO_SERVICE_IP" \
  --conns 4 --ops 5000 --batch 50 --seconds 30) || repl_fail "scripted workload: $out"
ftp_log "scripted workload: $out"
ftp_log "workload took $((SECONDS - t0)) s"
repl_assert_no_failover

# ---- replicas -------------------------------------------------------------------------
repl_wait_replicas_equal 5 || repl_fail "S1 and S2 hold different data"
((REPL_DBSIZE > 10000)) || repl_fail "DBSIZE only $REPL_DBSIZE: the workload did not land"
repl_compare_cmdstats set incr lpush hset
repl_no_error_replies
# Exactly-once on both copies: the script increments m0:n1 at commands i = 1 + 500k,
# k = 0..9 (INCR is command kind i % 4 == 1, key i % 500).
for ns in "$TOPO_NS_S1" "$TOPO_NS_S2"; do
  v=$(repl_redis "$ns" GET m0:n1)
  [[ $v == 10 ]] || repl_fail "$ns: m0:n1 is '$v', expected 10"
done

# ---- the backup server's TCP ----------------------------------------------------------
repl_check_backup_tcp 3
repl_check_holder "$hold_port"

repl_nstat_snapshot after
repl_nstat_check before after

# ---- proxies --------------------------------------------------------------------------
st2=$(topo_status "$TOPO_NS_P2") || repl_fail "backup /status"
st1=$(topo_status "$TOPO_NS_P1") || repl_fail "primary /status"
jq -e '.state == "backup"' <<<"$st2" >/dev/null || repl_fail "backup state $(jq -r .state <<<"$st2")"
jq -e '.tcp.divergence == 0' <<<"$st2" >/dev/null || repl_fail "backup tcp: $(jq -c .tcp <<<"$st2")"
jq -e '.log.connected == true and .log.seq_injected > 0' <<<"$st2" >/dev/null ||
  repl_fail "backup log: $(jq -c .log <<<"$st2")"
jq -e '.log.reconnects == 0' <<<"$st1" >/dev/null || repl_fail "primary log reconnected: $(jq -c .log <<<"$st1")"
jq -e '.state == "primary" and .output_gate.released > 0 and .output_gate.dropped_full == 0' <<<"$st1" >/dev/null ||
  repl_fail "primary: state $(jq -r .state <<<"$st1"), output_gate $(jq -c .output_gate <<<"$st1")"
jq -e '.log.log_refused == 0' <<<"$st1" >/dev/null || repl_fail "primary dropped inputs (log full): $(jq -c .log <<<"$st1")"
ftp_log "primary log $(jq -c '.log | {seq_sent, seq_acked, reconnects}' <<<"$st1") gate $(jq -c '.output_gate | {released, held_max, hold_seconds_max}' <<<"$st1")"
ftp_log "backup log $(jq -c '.log | {seq_received, seq_injected}' <<<"$st2") tcp $(jq -c '.tcp | {flows_created, translated_in, held_total, hold_timeouts, divergence, inject_backpressure, stale_retransmits, paws_clamped}' <<<"$st2")"

# ---- nothing from the backup on the LAN -------------------------------------------------
topo_stop holder TERM 2 || true
rx_p2=$(repl_switch_rx_packets p2)
n_p2=$(repl_capture_stop cap_p2 "$rx_p2")
n_p1=$(repl_capture_stop cap_p1 1000)
ftp_log "frames into the switch: from p1 $n_p1 (capture), from p2 $n_p2 (capture), $rx_p2 (p2 rx counter)"
((n_p1 > 1000)) || repl_fail "capture on p1 saw only $n_p1 frames: the capture does not work"
((n_p2 == 0)) || repl_fail "$n_p2 frames from the backup reached the switch: $(tcpdump -r "$TOPO_DIR/cap_p2.pcap" -n -c 5 2>/dev/null)"
((rx_p2 == 0)) || repl_fail "switch port p2 received $rx_p2 packets"
repl_assert_no_failover
ftp_log "PASS"
