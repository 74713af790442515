#!/usr/bin/env bash
# ftproxyctl against a running pair (token-protected control ports). Asserts:
#   - status works in both proxy namespaces and shows primary / backup; --json is the
#     proxy's JSON; --expect-state exits 0 on a match and 4 otherwise;
#   - flows lists the TCP flow of a running client (its local port) on the backup,
#     which keeps the translation table, and still on it once it is live;
#   - fence without a token, or with a wrong one, exits 1 and changes nothing; with a
#     group-readable token file it exits 2 (config error) and sends nothing;
#   - fence with the token moves the primary to fenced, and the backup takes over
#     (the fenced primary closes the log channel, the backup hears silence, asks the
#     arbiter, wins): state live;
#   - the client's one connection is still served (same port, more writes acked);
#   - promote on the live proxy is refused (exit 1) with the proxy's JSON answer;
#   - the refused fences answered 401 (no token) and 403 (wrong token) and were counted
#     in ftproxy_control_unauthorized_total; /status and /metrics stay open;
#   - epoch show through the arbiter names the winner (p2), from --config and from
#     explicit --arbiter/--cluster/--epoch/--arbiter-key-file; without the arbiter key,
#     or with a wrong one, the arbiter refuses (exit 3, "refused" named) and counts it;
#     epoch new says 2;
#   - nothing listening / no arbiter -> exit 3; bad usage -> exit 2.
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"
source "$(dirname "$0")/lib/pair.sh"
source "$(dirname "$0")/lib/failover.sh"

ftp_require_cmd jq curl redis-cli ss "$FTP_PYTHON"
[[ -x $FTPROXY_BIN && -x $FTPROXY_ARBITER_BIN ]] || ftp_skip "ftproxy/ftproxy-arbiter not built in $FTP_BUILD_DIR"
[[ -x $FTPROXYCTL_BIN ]] || ftp_skip "ftproxyctl not built in $FTP_BUILD_DIR"

fail() { fo_fail "$*"; }
# ctl NS ARGS...: ftproxyctl inside a proxy namespace; output in $out, exit code in $rc.
ctl() {
  local ns=$1
  shift
  rc=0
  out=$(ip netns exec "$ns" "$FTPROXYCTL_BIN" "$@" 2>&1) || rc=$?
}
expect_rc() {
  local want=$1 what=$2
  [[ $rc == "$want" ]] || fail "$what: exit $rc, expected $want; output: $out"
}

# shellcheck disable=SC2119  # topo_init takes an optional prefix, not the script arguments
topo_init
token_file="$TOPO_DIR/control.token"
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
pair_setup
# Failover timing is not under test here: a generous failure timeout keeps a loaded
# machine from failing the pair over before the checks start.
pair_start_proxies "control.token_file=\"$token_file\"" failover.timeout_ms=400
pair_wait_state "$TOPO_NS_P1" primary 5 || fail "P1 is $(pair_state "$TOPO_NS_P1"), not primary"
pair_wait_state "$TOPO_NS_P2" backup 5 || fail "P2 is $(pair_state "$TOPO_NS_P2"), not backup"
P1=$TOPO_NS_P1 P2=$TOPO_NS_P2

# --- status ---------------------------------------------------------------------------
ctl "$P1" status
expect_rc 0 "status on P1"
grep -Eq '^state +primary$' <<<"$out" || fail "P1 status does not show primary: $out"
grep -Eq '^node +p1 ' <<<"$out" || fail "P1 status does not name p1: $out"
grep -Eq '^log +connected' <<<"$out" || fail "P1 status: log not connected: $out"
ctl "$P2" status
expect_rc 0 "status on P2"
grep -Eq '^state +backup$' <<<"$out" || fail "P2 status does not show backup: $out"
ctl "$P1" status --json
expect_rc 0 "status --json on P1"
[[ $(jq -r .state <<<"$out") == primary ]] || fail "status --json is not the proxy's JSON: $out"
ctl "$P2" status --expect-state backup
expect_rc 0 "status --expect-state backup on P2"
ctl "$P1" status --expect-state live
expect_rc 4 "status --expect-state live on the primary"

# --- flows ----------------------------------------------------------------------------
fo_start_kv kv 40 --interval 0.02
port=""
ftp_wait_until 5 test -n "$(fo_kv_local_port kv)" || fail "kv_client has no established connection"
port=$(fo_kv_local_port kv)
# The translation table is the backup's (the primary's server numbers the client sees).
ctl "$P2" flows
expect_rc 0 "flows on P2"
grep -Eq "^$TOPO_CLIENT_IP:$port +$TOPO_SERVICE_IP:$TOPO_REDIS_PORT .*established" <<<"$out" ||
  fail "flows on the backup does not list the client's flow $TOPO_CLIENT_IP:$port: $out"
ctl "$P2" flows --json
expect_rc 0 "flows --json on P2"
jq -e --arg c "$TOPO_CLIENT_IP:$port" '[.flows[] | select(.client == $c and .delta_known)] | length == 1' \
  >/dev/null <<<"$out" || fail "flows --json lacks the client's flow with a known delta: $out"
ctl "$P1" flows
expect_rc 0 "flows on P1"
ftp_log "flows on the primary:"$'\n'"$out"

# --- fence without / with a wrong token: refused, nothing changes ----------------------
ctl "$P1" fence
expect_rc 1 "fence without a token"
wrong="$TOPO_DIR/wrong.token"
(umask 077 && echo not-the-token >"$wrong")
ctl "$P1" fence --token-file "$wrong"
expect_rc 1 "fence with a wrong token"
loose="$TOPO_DIR/loose.token"
cp "$token_file" "$loose" && chmod 0644 "$loose"
ctl "$P1" fence --token-file "$loose"
expect_rc 2 "fence with a group/world-readable token file"
# The proxy's answers, as a client sees them: 401 without a token, 403 with a wrong one.
code=$(topo_exec "$P1" curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$TOPO_CONTROL_PORT/fence")
[[ $code == 401 ]] || fail "POST /fence without a token answered HTTP $code, expected 401"
code=$(topo_exec "$P1" curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer not-it" \
  "http://127.0.0.1:$TOPO_CONTROL_PORT/fence")
[[ $code == 403 ]] || fail "POST /fence with a wrong token answered HTTP $code, expected 403"
refused=$(topo_metrics "$P1" | awk '$1 == "ftproxy_control_unauthorized_total" { print $2 }')
[[ $refused == 4 ]] || fail "ftproxy_control_unauthorized_total is '$refused', expected 4 (2 ftproxyctl + 2 curl)"
sleep 0.3  # several failure timeouts: a wrongly applied fence would show by now
[[ $(pair_state "$P1") == primary ]] || fail "refused fence changed P1 to $(pair_state "$P1")"
[[ $(pair_state "$P2") == backup ]] || fail "refused fence changed P2 to $(pair_state "$P2")"

# --- fence with the token: the primary fences, the backup takes over -----------------
acked_before=$(fo_acked_count kv)
ctl "$P1" fence --config "$TOPO_DIR/primary.toml"
expect_rc 0 "fence with the token (from --config)"
[[ $(jq -r .state <<<"$out") == fenced ]] || fail "fence answer does not say fenced: $out"
ctl "$P1" status --expect-state fenced
expect_rc 0 "status --expect-state fenced on P1"
grep -Eq '^fence cause +operator$' <<<"$out" || fail "P1 status does not show the fence cause: $out"
pair_wait_state "$P2" live 5 ||
  fail "backup did not take over after the primary was fenced: $(pair_state "$P2") $(fo_transitions "$P2")"
ftp_log "backup transitions: $(fo_transitions "$P2")"
ctl "$P2" status
expect_rc 0 "status on the live backup"
grep -Eq '^state +live$' <<<"$out" || fail "P2 status does not show live: $out"
grep -q 'arbitrating -> live' <<<"$out" || fail "P2 status does not list the takeover transition: $out"
ftp_log "status of the live backup:"$'\n'"$out"
ctl "$P2" flows
expect_rc 0 "flows on the live backup"
grep -Eq "^$TOPO_CLIENT_IP:$port " <<<"$out" || fail "the live backup lost the client's flow: $out"
# The client's one connection keeps being served through the takeover.
live_acked=$(fo_acked_count kv)
ftp_wait_until 5 bash -c "(( \$(wc -l <'$TOPO_DIR/kv.acked') > $live_acked ))" ||
  fail "no write acknowledged after the backup went live ($(tail -n 1 "$(topo_log kv)"))"
[[ $(fo_kv_local_port kv) == "$port" ]] || fail "the client's connection changed after the fence"

# promote is refused by a live proxy; the JSON answer is printed.
ctl "$P2" promote --token-file "$token_file"
expect_rc 1 "promote on the live proxy"
grep -q '"already live"' <<<"$out" || fail "promote refusal without the proxy's answer: $out"

# --- epoch ----------------------------------------------------------------------------
ctl "$P2" epoch show --config "$TOPO_DIR/backup.toml"
expect_rc 0 "epoch show --config"
grep -Eq '^epoch +1: won by p2 ' <<<"$out" || fail "epoch show does not name p2 as the winner of epoch 1: $out"
ftp_log "epoch show:"$'\n'"$out"
ctl "$P1" epoch show --json --arbiter "$TOPO_MGMT_IP:7500" --cluster "e2e-$TOPO_PFX" --epoch 1 \
  --arbiter-key-file "$(topo_arbiter_key)"
expect_rc 0 "epoch show --arbiter"
[[ $(jq -r '.current.result + " " + .current.owner + " " + .latest.owner' <<<"$out") == "decided p2 p2" ]] ||
  fail "epoch show --json: $out"
# Without the arbiter key, or with another one, the arbiter does not even say who won.
ctl "$P1" epoch show --arbiter "$TOPO_MGMT_IP:7500" --cluster "e2e-$TOPO_PFX" --epoch 1
expect_rc 3 "epoch show without the arbiter key"
grep -q 'refused: cluster .* needs a key' <<<"$out" || fail "epoch show without a key: $out"
grep -q 'won by' <<<"$out" && fail "epoch show without a key revealed the winner: $out"
other_key="$TOPO_DIR/other-arbiter.key"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$other_key")
ctl "$P1" epoch new --arbiter "$TOPO_MGMT_IP:7500" --cluster "e2e-$TOPO_PFX" --arbiter-key-file "$other_key"
expect_rc 3 "epoch new with a wrong arbiter key"
grep -q 'refused: bad mac' <<<"$out" || fail "epoch new with a wrong key: $out"
grep -q 'request refused .*needs a key' "$(topo_log arbiter)" || fail "the arbiter did not log the unsigned request"
grep -q 'request refused .*bad mac' "$(topo_log arbiter)" || fail "the arbiter did not log the wrongly signed request"
# Without --config or --cluster the cluster and epoch come from the proxy's /status.
ctl "$P2" epoch show --arbiter "$TOPO_MGMT_IP:7500" --arbiter-key-file "$(topo_arbiter_key)"
expect_rc 0 "epoch show (cluster/epoch from /status)"
grep -q 'won by p2' <<<"$out" || fail "epoch show via /status: $out"
ctl "$P2" epoch new --config "$TOPO_DIR/backup.toml"
expect_rc 0 "epoch new"
grep -Eq '^next epoch: 2$' <<<"$out" || fail "epoch new does not say 2: $out"
grep -q 'node.epoch = 2' <<<"$out" || fail "epoch new lacks the steps: $out"

# --- exit codes for outages and usage ---------------------------------------------------
ctl "$P1" status --control 127.0.0.1:9 --timeout-ms 500
expect_rc 3 "status with nothing listening"
ctl "$P1" epoch show --arbiter 127.0.0.1:9 --cluster x --epoch 1 --timeout-ms 500
expect_rc 3 "epoch show with no arbiter"
ctl "$P1" status --expect-state nonsense
expect_rc 2 "bad --expect-state"
ctl "$P1" epoch show --config "$TOPO_DIR/no-such.toml"
expect_rc 2 "missing config"

topo_stop kv || true
ftp_log "kv_client: $acked_before writes acknowledged before the fence, $(fo_acked_count kv) in all"
ftp_log "PASS"
