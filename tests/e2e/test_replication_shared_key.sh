#!/usr/bin/env bash
# Replication under shared-key load (issue 3): many clients write the SAME keys through
# the replicated pair, so the final state and every reply's length depend on the order in
# which each redis-server serves its connections. Workload, all at the same time:
#   - redis-benchmark -c 8 -t lpush: 8 connections LPUSH onto the one list "mylist";
#   - redis-benchmark -c 8 -r 300 INCR: 8 connections increment 300 shared counters;
#   - a scripted client, 4 connections LPUSH one at a time onto one list "shared".
#
# What ftproxy can guarantee here is that the pair keeps serving: the backup injects in
# the log's order, holds a request until its server has produced the reply the request's
# ack covers, synthesizes the ACKs its server needs (tcp.acks_synthesized), and once a
# flow's byte streams no longer line up (a hold timed out) stops holding that flow
# instead of stalling every flow behind it. Asserted:
#   - no client error, every workload finished in time, no failover;
#   - tcp.hold_timeouts <= tcp.flows_diverged <= number of client flows (at most one
#     hold timeout per flow, never thousands), the translator queue empty at the end,
#     nothing dropped for lack of room;
#   - every command executed as often on S2 as on S1;
#   - when the copies ended equal: tcp.divergence 0 and S2's TCP no worse than S1's.
# Whether the two copies end EQUAL is logged, and asserted only with SHARED_REQUIRE_EQUAL=1:
# they can differ because the primary's own redis does not serve its connections in
# arrival order (a level-triggered epoll ready list keeps a connection it just served
# ahead of others; which requests that reorders depends on when redis was scheduled),
# and nothing in the log tells the backup that order (docs/limitations.md).
# SHARED_N (default 20000) sets the requests per redis-benchmark run.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/replication.sh"
ftp_require_root
ftp_require_cmd redis-server redis-cli redis-benchmark nstat ss jq curl "$FTP_PYTHON"

n=${SHARED_N:-20000}
topo_init
repl_setup
repl_write_tools
cat >"$TOPO_DIR/lpush_one.py" <<'PY'
import json, socket, sys, threading

host, port, conns, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
res = {}

def worker(c):
    try:
        s = socket.create_connection((host, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        for i in range(ops):
            v = b"c%di%d" % (c, i)
            s.sendall(b"*3\r\n$5\r\nLPUSH\r\n$6\r\nshared\r\n$%d\r\n%s\r\n" % (len(v), v))
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("EOF from server")
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            if not line.startswith(b":"):
                raise RuntimeError("reply %r" % line)
        s.close()
        res[c] = None
    except Exception as e:  # noqa: BLE001 - reported in the summary
        res[c] = "%s: %s" % (type(e).__name__, e)

ts = [threading.Thread(target=worker, args=(c,)) for c in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
errors = [e for e in res.values() if e]
print(json.dumps({"commands": conns * ops, "errors": errors}))
sys.exit(1 if errors else 0)
PY
repl_start_pair
repl_nstat_snapshot before

t0=$SECONDS
pair_client timeout 150 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
  -c 8 -n "$n" -t lpush --csv >"$TOPO_DIR/bench-lpush.out" 2>&1 &
pid_lpush=$!
pair_client timeout 150 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
  -c 8 -n "$n" -r 300 --csv INCR 'counter:__rand_int__' >"$TOPO_DIR/bench-incr.out" 2>&1 &
pid_incr=$!
pair_client timeout 150 "$FTP_PYTHON" "$TOPO_DIR/lpush_one.py" "$TOPO_SERVICE_IP" "$TOPO_REDIS_PORT" \
  4 $((n / 4)) >"$TOPO_DIR/lpush_one.out" 2>&1 &
pid_script=$!
rc_lpush=0 rc_incr=0 rc_script=0
wait "$pid_lpush" || rc_lpush=$?
wait "$pid_incr" || rc_incr=$?
wait "$pid_script" || rc_script=$?
ftp_log "workload took $((SECONDS - t0)) s (exit codes lpush $rc_lpush, incr $rc_incr, script $rc_script)"
for f in bench-lpush bench-incr; do
  ftp_log "$f: $(awk -F, '!/^"test"/ { gsub(/"/, ""); printf "%s=%s rps ", $1, $2 }' "$TOPO_DIR/$f.out")"
done
ftp_log "scripted LPUSH: $(cat "$TOPO_DIR/lpush_one.out")"

st2=$(topo_status "$TOPO_NS_P2") || repl_fail "backup /status"
ftp_log "backup tcp $(jq -c '.tcp | {flows_created, translated_in, held_total, hold_timeouts, flows_diverged,
  acks_clamped, acks_lowered, acks_synthesized, stale_retransmits, divergence, inject_backpressure}' <<<"$st2")"

((rc_lpush == 0)) || repl_fail "redis-benchmark lpush exited $rc_lpush: $(tail -n 3 "$TOPO_DIR/bench-lpush.out")"
((rc_incr == 0)) || repl_fail "redis-benchmark incr exited $rc_incr: $(tail -n 3 "$TOPO_DIR/bench-incr.out")"
((rc_script == 0)) || repl_fail "scripted LPUSH: $(cat "$TOPO_DIR/lpush_one.out")"
! grep -qi error "$TOPO_DIR/bench-lpush.out" "$TOPO_DIR/bench-incr.out" || repl_fail "redis-benchmark reported errors"
equal=1
repl_wait_replicas_equal 10 || equal=0
ftp_log "replicas equal: $equal"
if [[ ${SHARED_REQUIRE_EQUAL:-0} == 1 ]] && ((equal == 0)); then
  repl_fail "S1 and S2 hold different data"
fi

st2=$(topo_status "$TOPO_NS_P2") || repl_fail "backup /status"
flows=$(jq '.tcp.flows_created' <<<"$st2")
jq -e --argjson f "$flows" '.tcp.hold_timeouts <= .tcp.flows_diverged and .tcp.flows_diverged <= $f' \
  <<<"$st2" >/dev/null || repl_fail "hold timeouts not bounded per flow: $(jq -c .tcp <<<"$st2")"
jq -e '.tcp.held == 0 and .tcp.waiting == 0' <<<"$st2" >/dev/null ||
  repl_fail "translator queue not empty at the end: $(jq -c .tcp <<<"$st2")"
jq -e '.tcp.queue_full_drops == 0' <<<"$st2" >/dev/null ||
  repl_fail "backup dropped client segments for lack of room: $(jq -c .tcp <<<"$st2")"
for list in mylist shared; do
  l1=$(repl_redis "$TOPO_NS_S1" LLEN "$list") l2=$(repl_redis "$TOPO_NS_S2" LLEN "$list")
  ((l1 > 0 && l1 == l2)) || repl_fail "LLEN $list: S1 $l1, S2 $l2"
done
repl_compare_cmdstats lpush incr
repl_no_error_replies
repl_nstat_snapshot after
if ((equal == 1)); then
  # Copies whose replies differed in length have byte streams that no longer line up:
  # S2 then resets or retransmits on those connections, as expected. Equal copies must
  # have had healthy TCP on S2, with nothing dropped.
  repl_nstat_check before after
  jq -e '.tcp.divergence == 0' <<<"$st2" >/dev/null || repl_fail "equal copies but tcp divergence: $(jq -c .tcp <<<"$st2")"
fi
repl_assert_no_failover
ftp_log "PASS (replicas equal: $equal)"
