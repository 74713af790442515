#!/usr/bin/env bash
# Replay harness (docs/replay-testing.md): replays the client side of a captured
# workload through a replicated ftproxy pair and checks the case's expectations.
#
# A case is a folder (tests/replay/<case>/): case.toml (server command, port, state
# command, failover point, expectations, proxy overrides), the capture (capture.pcap)
# and whatever the server needs. For each case the harness runs
#   1. the no-failover run: fresh namespaces (client, switch, primary proxy + server,
#      backup proxy + server, log link, embedded arbiter), both server copies started
#      from the case's command, the capture replayed against the service IP;
#   2. the failover run (unless failover = "none"): the same, and the primary proxy is
#      killed (SIGKILL, its server's link taken down) once the client has sent the chosen
#      turn, so the backup takes over mid-replay;
# then checks: the client-visible responses of both runs are equal, the two replicas'
# state is equal (no-failover run) and the survivor's state equals it (failover run),
# the backup reported divergence or not, as the case expects.
#
# Usage (root): bash scripts/replay.sh [options] CASE_DIR...
#   --out DIR          keep results in DIR (default: a new /tmp/ftproxy-replay.XXXXXX)
#   --failover SPEC    override the cases' failover: none | random | at=<fraction> | at=<turn>
#   --seed N           seed for failover = random (default $REPLAY_SEED, else random)
#   --pcaps            also capture what each server sent (the proxies' int ports) into
#                      the results (int-p1.pcap, int-p2.pcap), to see where copies differ
# Exit: 0 every case passed, 1 a case failed, 77 skipped (not root, tool missing).
# Results: DIR/<case>/{plain,failover}/{result.json,responses.json,logs/}, and one
# verdict line per case on stdout: "PASS <case> ..." or "FAIL <case>: <first reason>".
set -euo pipefail

source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$FTP_REPO_ROOT/tests/e2e/lib/pair.sh"
source "$FTP_REPO_ROOT/tests/e2e/lib/failover.sh"
source "$FTP_REPO_ROOT/scripts/lib/replay_common.sh"

# Proxy settings of every replay run (before the case's own `proxy` overrides): a 1 s
# failure timeout, as the replication e2e tests use, so that a loaded CI machine does
# not cause a failover nobody asked for.
RP_PROXY_DEFAULTS=("failover.timeout_ms=1000")

# ---- one run (a child process: its own namespaces, traps and work directory) -------------

rp_metric() { # NS NAME: the sum of a metric's samples on the proxy in NS ("" if absent)
  topo_metrics "$1" 2>/dev/null | awk -v n="$2" '
    $1 == n || index($1, n "{") == 1 { s += $NF; found = 1 } END { if (found) print s }'
}

# rp_digest NS: the backup's digest counters as JSON ({checked, mismatches,
# flows_diverged, uncomparable}), from /status .digest, else from /metrics; "null" when
# this build has no digest counters.
rp_digest() {
  local ns=$1 j m
  j=$(topo_status "$ns" 2>/dev/null | jq -c '.digest // empty | {checked, mismatches, flows_diverged, uncomparable}' 2>/dev/null || true)
  if [[ -n $j ]]; then
    echo "$j"
    return
  fi
  m=$(rp_metric "$ns" ftproxy_digest_mismatches_total)
  if [[ -z $m ]]; then
    echo null
    return
  fi
  jq -cn --arg c "$(rp_metric "$ns" ftproxy_digest_checked_total)" --arg m "$m" \
    --arg f "$(rp_metric "$ns" ftproxy_digest_flows_diverged_total)" \
    --arg u "$(rp_metric "$ns" ftproxy_digest_uncomparable_total)" \
    '{checked: ($c | tonumber? // null), mismatches: ($m | tonumber), flows_diverged: ($f | tonumber? // null), uncomparable: ($u | tonumber? // null)}'
}

rp_before() { awk -v d="$1" -v t="$(fo_now)" 'BEGIN { exit !(t < d) }'; } # DEADLINE: now < DEADLINE

rp_save_logs() {
  [[ -n ${RP_RUN_OUT:-} && -d ${TOPO_DIR:-} ]] || return 0
  mkdir -p "$RP_RUN_OUT/logs"
  cp "$TOPO_DIR"/*.log "$TOPO_DIR"/*.toml "$RP_RUN_OUT/logs/" 2>/dev/null || true
}

# rp_replay_udp: rewrite the capture's client datagrams to this topology (MACs, IPs,
# checksums) with tcprewrite and send them with tcpreplay from the client namespace,
# while replay_client.py udp-sink holds the captured client ports and records replies.
rp_replay_udp() {
  local ctl="$TOPO_DIR/udpctl" dlt
  local -a rate=()
  mkdir -p "$ctl"
  dlt=$(tcpdump -r "$RC_CAPTURE" -c 1 2>&1 >/dev/null | sed -n 's/.*link-type \([A-Z0-9_]*\).*/\1/p')
  if [[ $dlt == EN10MB ]]; then
    tcpdump -r "$RC_CAPTURE" -w "$TOPO_DIR/c2s.pcap" "udp and dst port $RC_PORT" 2>/dev/null ||
      ftp_die "cannot filter the client datagrams out of $RC_CAPTURE"
  else
    # tcprewrite reads few link types (not tcpdump -i any's Linux cooked v2): rebuild
    # the client's datagrams as Ethernet frames first.
    "$FTP_PYTHON" "$RP_CLIENT" to-ether --pcap "$RC_CAPTURE" --port "$RC_PORT" --out "$TOPO_DIR/c2s.pcap" >/dev/null ||
      ftp_die "cannot convert the $dlt capture's client datagrams to Ethernet"
  fi
  local -a rw=(--enet-smac="$TOPO_CLIENT_MAC" --enet-dmac="$TOPO_SERVICE_MAC"
    --srcipmap="0.0.0.0/0:$TOPO_CLIENT_IP/32" --dstipmap="0.0.0.0/0:$TOPO_SERVICE_IP/32" --fixcsum)
  tcprewrite "${rw[@]}" --infile="$TOPO_DIR/c2s.pcap" --outfile="$TOPO_DIR/c2s-rewritten.pcap" >"$TOPO_DIR/tcprewrite.log" 2>&1 ||
    ftp_die "tcprewrite failed: $(cat "$TOPO_DIR/tcprewrite.log")"
  topo_spawn client "$TOPO_NS_C" "$FTP_PYTHON" "$RP_CLIENT" udp-sink --pcap "$RC_CAPTURE" --port "$RC_PORT" \
    --bind "$TOPO_CLIENT_IP" --out "$RP_RUN_OUT/responses.json" --ctl-dir "$ctl" --quiet "$RC_QUIET" \
    --timeout "$RC_TURN_TIMEOUT"
  ftp_wait_until 30 test -e "$ctl/ready" || ftp_die "udp-sink did not start: $(cat "$(topo_log client)")"
  ((RC_UDP_PPS > 0)) && rate=(--pps="$RC_UDP_PPS")
  topo_exec "$TOPO_NS_C" tcpreplay -q -i eth0 "${rate[@]}" "$TOPO_DIR/c2s-rewritten.pcap" >"$TOPO_DIR/tcpreplay.log" 2>&1 ||
    ftp_die "tcpreplay failed: $(cat "$TOPO_DIR/tcpreplay.log")"
  touch "$ctl/done"
}

# rp_run MODE CASE_DIR RUN_OUT [PAUSE_AT]: one run; writes RUN_OUT/result.json.
rp_run() {
  local mode=$1 case_dir=$2 pause_at=${4:-0}
  RP_RUN_OUT=$3
  mkdir -p "$RP_RUN_OUT"
  rp_load_case "$case_dir"
  topo_init
  trap 'rc=$?; rp_save_logs; (exit $rc); topo_cleanup' EXIT
  local t0=$SECONDS
  topo_pair
  topo_write_arbiter_config "$TOPO_DIR/arbiter.toml"
  topo_start_arbiter arbiter "$TOPO_DIR/arbiter.toml"
  rp_start_server srv1 "$TOPO_NS_S1"
  rp_start_server srv2 "$TOPO_NS_S2"
  pair_start_proxies "${RP_PROXY_DEFAULTS[@]}" ${RC_PROXY[@]+"${RC_PROXY[@]}"}
  pair_wait_state "$TOPO_NS_P2" backup 5 || ftp_die "backup not in state backup: $(pair_state "$TOPO_NS_P2")"
  pair_wait_state "$TOPO_NS_P1" primary 5 || ftp_die "primary not in state primary: $(pair_state "$TOPO_NS_P1")"
  ftp_log "$RC_NAME/$mode: pair up after $((SECONDS - t0)) s"
  if [[ ${RP_PCAPS:-0} == 1 ]]; then
    local who
    for who in 1 2; do
      topo_spawn "cap_int$who" "${TOPO_PFX}p$who" tcpdump -i int -Q in -n -s 0 -B 16384 --immediate-mode -U \
        -w "$RP_RUN_OUT/int-p$who.pcap" "port $RC_PORT"
      ftp_wait_until 5 grep -q 'listening on' "$(topo_log "cap_int$who")" || ftp_die "tcpdump on p$who int did not start"
    done
  fi

  local t_replay=$SECONDS killed_at="" live=false client_rc=0
  if [[ $RC_TRANSPORT == udp ]]; then
    rp_replay_udp
  else
    local -a pause=()
    if ((pause_at > 0)); then
      mkdir -p "$TOPO_DIR/pause"
      pause=(--pause-at "$pause_at" --pause-dir "$TOPO_DIR/pause")
    fi
    topo_spawn client "$TOPO_NS_C" "$FTP_PYTHON" "$RP_CLIENT" tcp --pcap "$RC_CAPTURE" --port "$RC_PORT" \
      --host "$TOPO_SERVICE_IP" --out "$RP_RUN_OUT/responses.json" --turn-timeout "$RC_TURN_TIMEOUT" \
      --quiet "$RC_QUIET" ${pause[@]+"${pause[@]}"}
    if ((pause_at > 0)); then
      local i
      for ((i = 0; i < 1200; i++)); do
        [[ -e $TOPO_DIR/pause/paused ]] && break
        topo_alive client || break
        sleep 0.1
      done
      [[ -e $TOPO_DIR/pause/paused ]] || ftp_die "the client never reached turn $pause_at: $(tail -n 3 "$(topo_log client)")"
      # The primary's host dies: its proxy is killed, its server cut off (as in
      # tests/e2e/test_failover_kill_primary.sh).
      topo_stop primary KILL 2 || true
      ip -n "$TOPO_NS_S1" link set eth0 down
      killed_at=$pause_at
      touch "$TOPO_DIR/pause/go"
      ftp_log "$RC_NAME/$mode: primary killed after the client sent turn $pause_at"
      if pair_wait_state "$TOPO_NS_P2" live 20; then live=true; fi
    fi
  fi
  fo_wait_exit client 300 || client_rc=$?
  local replay_s=$((SECONDS - t_replay))
  ftp_log "$RC_NAME/$mode: replay finished after ${replay_s} s (client exit $client_rc): $(tail -n 1 "$(topo_log client)")"
  [[ -s $RP_RUN_OUT/responses.json ]] || ftp_die "the replay client wrote no responses: $(tail -n 5 "$(topo_log client)")"

  # Replica state: the backup acks on receipt and may still be injecting; poll (bounded)
  # until both copies agree when the case expects them to.
  local s1="" s2="" deadline
  deadline=$(awk -v t="$(fo_now)" -v s="$RC_SETTLE" 'BEGIN { printf "%.3f", t + s }')
  if [[ -n $RC_STATE ]]; then
    while :; do
      s2=$(rp_state "$TOPO_NS_S2" srv2 2>&1 || true)
      if [[ $mode == plain ]]; then
        s1=$(rp_state "$TOPO_NS_S1" srv1 2>&1 || true)
        [[ $RC_EXPECT_REPLICAS_EQUAL == 1 && -n $s1 && $s1 == "$s2" ]] && break
        [[ $RC_EXPECT_REPLICAS_EQUAL == 0 ]] && break
      else
        break
      fi
      rp_before "$deadline" || break
      sleep 0.1
    done
  fi
  # Divergence: digests may arrive after the last reply; when divergence is expected wait
  # (bounded) for it, else give the backup a moment to compare the last ranges.
  local digest=null
  deadline=$(awk -v t="$(fo_now)" -v s="$RC_SETTLE" 'BEGIN { printf "%.3f", t + s }')
  [[ $RC_EXPECT_DIVERGENCE == 0 ]] && sleep 1
  while :; do
    digest=$(rp_digest "$TOPO_NS_P2")
    [[ $RC_EXPECT_DIVERGENCE == 0 ]] && break
    [[ $digest != null ]] && (($(jq -r '.mismatches // 0' <<<"$digest") > 0)) && break
    rp_before "$deadline" || break
    sleep 0.1
  done
  local st1 st2
  st1=$(topo_status "$TOPO_NS_P1" 2>/dev/null || echo '{}')
  st2=$(topo_status "$TOPO_NS_P2" 2>/dev/null || echo '{}')
  jq -n --arg mode "$mode" --arg case "$RC_NAME" --argjson client "$(tail -n 1 "$(topo_log client)" | jq -c . 2>/dev/null || echo null)" \
    --argjson client_rc "$client_rc" --arg killed_at "$killed_at" --argjson live "$live" \
    --arg s1 "$s1" --arg s2 "$s2" --argjson digest "$digest" \
    --arg div "$(rp_metric "$TOPO_NS_P2" ftproxy_divergence_total)" \
    --argjson st1 "$st1" --argjson st2 "$st2" --argjson replay_s "$replay_s" --argjson total_s "$((SECONDS - t0))" '
    def hist(s): [s.failover.transitions[]? | "\(.from)->\(.to):\(.answer)"];
    {mode: $mode, case: $case, client: $client, client_rc: $client_rc,
     killed_at_turn: ($killed_at | tonumber? // null), backup_went_live: $live,
     state_s1: $s1, state_s2: $s2, digest: $digest, divergence_total: ($div | tonumber? // null),
     p1: {state: $st1.state, transitions: hist($st1)},
     p2: {state: $st2.state, transitions: hist($st2), int_to_ext_frames: $st2.forward.int_to_ext_frames,
          takeover_replayed: $st2.forward.takeover_replayed, tcp_divergence: $st2.tcp.divergence},
     replay_s: $replay_s, total_s: $total_s}' >"$RP_RUN_OUT/result.json"
  ftp_log "$RC_NAME/$mode: $(jq -c '{state_s1, state_s2, digest, divergence_total, p1, p2}' "$RP_RUN_OUT/result.json")"
}

# ---- checks (parent) ------------------------------------------------------------------------

RP_FAILS=()
rp_check() { # DESCRIPTION CONDITION_RESULT(0/1) [DETAIL]
  if [[ $2 == 0 ]]; then
    ftp_log "  ok    $1"
  else
    ftp_log "  FAIL  $1${3:+: $3}"
    RP_FAILS+=("$1${3:+: $3}")
  fi
}
rp_jq() { jq -e "$2" "$1" >/dev/null 2>&1 && echo 0 || echo 1; }

# rp_check_divergence RESULT_JSON RUN: the case's divergence expectation against the
# digest counters (or ftproxy_divergence_total when this build has none).
rp_check_divergence() {
  local r=$1 run=$2 d
  d=$(jq -c .digest "$r")
  if [[ $d != null ]]; then
    if [[ $RC_EXPECT_DIVERGENCE == 1 ]]; then
      rp_check "$run: the backup reported divergence (digest mismatches > 0)" "$(rp_jq "$r" '.digest.mismatches > 0')" "$d"
    else
      rp_check "$run: no divergence reported (digest mismatches = 0)" "$(rp_jq "$r" '.digest.mismatches == 0')" "$d"
    fi
  else
    ftp_log "  note  this build has no digest counters: divergence read from ftproxy_divergence_total"
    if [[ $RC_EXPECT_DIVERGENCE == 1 ]]; then
      rp_check "$run: the backup reported divergence (ftproxy_divergence_total > 0)" "$(rp_jq "$r" '.divergence_total > 0')" "$(jq -c .divergence_total "$r")"
    else
      rp_check "$run: no divergence reported (ftproxy_divergence_total = 0)" "$(rp_jq "$r" '.divergence_total == 0')" "$(jq -c .divergence_total "$r")"
    fi
  fi
}

# rp_case CASE_DIR OUT: both runs of one case and every check; prints the verdict line.
rp_case() {
  local case_dir=$1 out=$2 t0=$SECONDS plan turns k="" seed run_rc
  RP_FAILS=()
  rp_load_case "$case_dir"
  local fo=${RP_FAILOVER_OVERRIDE:-$RC_FAILOVER}
  [[ $RC_TRANSPORT == udp && $fo != none ]] && {
    ftp_log "$RC_NAME: UDP case, failover override ignored"
    fo=none
  }
  mkdir -p "$out/$RC_NAME"
  ftp_log "=== $RC_NAME: $RC_DESCRIPTION"
  plan=$("$FTP_PYTHON" "$RP_CLIENT" plan --pcap "$RC_CAPTURE" --port "$RC_PORT" --transport "$RC_TRANSPORT") ||
    { echo "FAIL $RC_NAME: cannot read the capture"; return 1; }
  ftp_log "capture: $plan"
  turns=$(jq -r '.turns // .datagrams' <<<"$plan")
  ((turns > 0)) || { echo "FAIL $RC_NAME: no client payload for port $RC_PORT in the capture"; return 1; }
  if [[ $fo != none ]]; then
    case $fo in
      random)
        seed=${RP_SEED:-$((RANDOM * 32768 + RANDOM))}
        RANDOM=$seed
        k=$((1 + RANDOM % turns))
        ftp_log "failover: random turn $k of $turns (seed $seed; rerun with --seed $seed)"
        ;;
      at=*.*) k=$(awk -v f="${fo#at=}" -v n="$turns" 'BEGIN { k = int(f * n); print (k < 1 ? 1 : k) }') ;;
      at=*) k=${fo#at=} ;;
      *) echo "FAIL $RC_NAME: bad failover '$fo'"; return 1 ;;
    esac
    ((k >= 1 && k <= turns)) || { echo "FAIL $RC_NAME: failover turn $k outside 1..$turns"; return 1; }
  fi

  local runs=(plain)
  [[ -n $k ]] && runs+=(failover)
  local run
  for run in "${runs[@]}"; do
    run_rc=0
    ftp_log "--- $RC_NAME: $run run${k:+$([[ $run == failover ]] && echo " (kill the primary after turn $k of $turns)")}"
    timeout -k 10 420 bash "$0" --run "$run" "$case_dir" "$out/$RC_NAME/$run" "$([[ $run == failover ]] && echo "$k" || echo 0)" \
      >"$out/$RC_NAME/$run.log" 2>&1 || run_rc=$?
    if ((run_rc == 77)); then
      grep -m1 SKIP "$out/$RC_NAME/$run.log" >&2 || true
      echo "SKIP $RC_NAME"
      return 77
    fi
    if ((run_rc != 0)) || [[ ! -s $out/$RC_NAME/$run/result.json ]]; then
      tail -n 40 "$out/$RC_NAME/$run.log" >&2
      echo "FAIL $RC_NAME: the $run run did not complete (exit $run_rc, log $out/$RC_NAME/$run.log)"
      return 1
    fi
    grep -E '\] [^ ]+/(plain|failover):' "$out/$RC_NAME/$run.log" >&2 || true
  done

  local p="$out/$RC_NAME/plain/result.json" pr="$out/$RC_NAME/plain/responses.json" cmp rc
  ftp_log "checks:"
  rp_check "plain: replay client finished without connection errors" "$(rp_jq "$p" '.client.errors == 0 and .client_rc == 0')" "$(jq -c .client "$p")"
  rp_check "plain: no failover happened" "$(rp_jq "$p" '(.p1.transitions | length) == 0 and (.p2.transitions | length) == 0 and .p1.state == "primary" and .p2.state == "backup"')" \
    "$(jq -c '{p1, p2}' "$p")"
  if [[ $RC_EXPECT_MATCH_CAPTURE == 1 ]]; then
    cmp=$("$FTP_PYTHON" "$RP_CLIENT" check-capture "$pr") && rc=0 || rc=1
    rp_check "plain: responses equal the server bytes in the capture" "$rc" "$cmp"
  fi
  if [[ $RC_EXPECT_REPLICAS_EQUAL == 1 ]]; then
    rp_check "plain: replica state equal on S1 and S2" "$(rp_jq "$p" '.state_s1 != "" and .state_s1 == .state_s2')" \
      "$(jq -c '{state_s1, state_s2}' "$p")"
  fi
  rp_check_divergence "$p" plain

  if [[ -n $k ]]; then
    local f="$out/$RC_NAME/failover/result.json" fr="$out/$RC_NAME/failover/responses.json"
    rp_check "failover: replay client finished without connection errors" "$(rp_jq "$f" '.client.errors == 0 and .client_rc == 0')" "$(jq -c .client "$f")"
    rp_check "failover: the backup went live after winning at the arbiter" \
      "$(rp_jq "$f" '.backup_went_live and .p2.state == "live" and (.p2.transitions | index("arbitrating->live:won")) != null')" "$(jq -c .p2 "$f")"
    rp_check "failover: the survivor served the rest of the replay" "$(rp_jq "$f" '.p2.int_to_ext_frames > 0')" "$(jq -c .p2 "$f")"
    if [[ $RC_EXPECT_RESPONSES_EQUAL == 1 ]]; then
      cmp=$("$FTP_PYTHON" "$RP_CLIENT" compare "$pr" "$fr") && rc=0 || rc=1
      rp_check "failover: client-visible responses equal the no-failover run's" "$rc" "$cmp"
    fi
    if [[ $RC_EXPECT_REPLICAS_EQUAL == 1 ]]; then
      rp_check "failover: the survivor's state equals the no-failover run's" \
        "$(jq -e -n --slurpfile a "$p" --slurpfile b "$f" '$b[0].state_s2 != "" and $b[0].state_s2 == $a[0].state_s1' >/dev/null && echo 0 || echo 1)" \
        "$(jq -c '{state_s2}' "$f")"
    fi
    [[ $RC_EXPECT_DIVERGENCE == 0 ]] && rp_check_divergence "$f" failover
  fi
  local took=$((SECONDS - t0))
  if ((${#RP_FAILS[@]} == 0)); then
    echo "PASS $RC_NAME (${took}s; $turns turns${k:+, failover after turn $k})"
    return 0
  fi
  echo "FAIL $RC_NAME (${took}s): ${RP_FAILS[0]}"
  return 1
}

# ---- main -------------------------------------------------------------------------------------

if [[ ${1:-} == --run ]]; then
  shift
  rp_run "$@"
  exit 0
fi

OUT="" RP_FAILOVER_OVERRIDE="" RP_SEED=${REPLAY_SEED:-}
CASES=()
while (($#)); do
  case $1 in
    --out) OUT=$2; shift ;;
    --failover) RP_FAILOVER_OVERRIDE=$2; shift ;;
    --seed) RP_SEED=$2; shift ;;
    --pcaps) export RP_PCAPS=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) ftp_die "unknown option $1" ;;
    *) CASES+=("$1") ;;
  esac
  shift
done
((${#CASES[@]})) || ftp_die "usage: $0 [--out DIR] [--failover SPEC] [--seed N] [--pcaps] CASE_DIR..."
ftp_require_root
ftp_require_cmd jq curl tcpdump tcprewrite tcpreplay ss "$FTP_PYTHON"
[[ -x $FTPROXY_BIN && -x $FTPROXY_ARBITER_BIN ]] || ftp_skip "ftproxy/ftproxy-arbiter not built in $FTP_BUILD_DIR"
"$FTP_PYTHON" -c 'import scapy, tomllib' 2>/dev/null || ftp_skip "$FTP_PYTHON lacks scapy or tomllib"
[[ -n $OUT ]] || OUT=$(mktemp -d /tmp/ftproxy-replay.XXXXXX)
mkdir -p "$OUT"
ftp_log "results in $OUT"
pass=0 fail=0 skip=0
for c in "${CASES[@]}"; do
  rc=0
  rp_case "$c" "$OUT" || rc=$?
  case $rc in
    0) pass=$((pass + 1)) ;;
    77) skip=$((skip + 1)) ;;
    *) fail=$((fail + 1)) ;;
  esac
done
ftp_log "replay: $pass passed, $fail failed, $skip skipped (results in $OUT)"
((fail == 0)) || exit 1
((pass == 0 && skip > 0)) && exit 77
exit 0
