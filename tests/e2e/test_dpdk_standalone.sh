#!/usr/bin/env bash
# End-to-end: one ftproxy (role standalone, dpdk backend with its default af_packet
# vdevs, no [dpdk] section) between a client and a real redis server:
#   C (client) -- switch -- [ext  P (ftproxy, dpdk)  int] -- S (redis-server)
# The config differs from the pcap one by the backend line only. Asserts through the
# proxy: ARP + ping without loss, redis SET/GET, a short redis-benchmark without errors,
# dpdk counters in /status, SIGTERM exits 0, and ext/int are not left promiscuous.
# Exit 0 = pass, 77 = skipped (not root / tools missing / no DPDK in this build).
set -euo pipefail

source "$(dirname "$0")/lib/topology.sh"

ftp_require_root
ftp_require_cmd redis-server redis-cli redis-benchmark ping curl jq
[[ -x $FTPROXY_BIN ]] || ftp_die "ftproxy not built: $FTPROXY_BIN"
# A build with the dpdk backend links DPDK's ethdev library.
if ! ldd "$FTPROXY_BIN" 2>/dev/null | grep -q 'librte_ethdev'; then
  ftp_log "SKIP: $FTPROXY_BIN was built without DPDK (meson setup -Ddpdk=enabled)"
  exit 77
fi

fail() { ftp_die "FAILED: $*"; }
step() { ftp_log "--- $*"; }
promisc() { ip -n "$TOPO_NS_P" -o link show "$1" | grep -q PROMISC; }

topo_init
topo_standalone
topo_start_redis redis "$TOPO_NS_S"

for p in ext int; do
  promisc "$p" && fail "$p is promiscuous before the proxy runs"
done

CFG="$TOPO_DIR/standalone-dpdk.toml"
topo_write_standalone_config "$CFG" s1
sed -i 's/^backend = "pcap"/backend = "dpdk"/' "$CFG"
grep -q '^backend = "dpdk"' "$CFG" || fail "could not switch the backend line of $CFG"
topo_exec "$TOPO_NS_P" "$FTPROXY_BIN" --check-config "$CFG" >"$TOPO_DIR/check-config.log" 2>&1 ||
  { cat "$TOPO_DIR/check-config.log" >&2; fail "--check-config rejected the dpdk config"; }
topo_start_proxy proxy "$TOPO_NS_P" "$CFG"

step "status reports standalone"
status=$(topo_status "$TOPO_NS_P") || fail "/status did not answer"
[[ $(jq -r '.state' <<<"$status") == standalone ]] || fail "/status state is not standalone: $status"
for p in ext int; do
  promisc "$p" || fail "$p is not promiscuous while the dpdk port runs (is it really the dpdk backend?)"
done

step "ping x20 through the proxy"
ping_out=$(topo_exec "$TOPO_NS_C" ping -c 20 -i 0.05 -W 2 "$TOPO_SERVICE_IP") ||
  { echo "$ping_out" >&2; fail "ping failed"; }
grep -q ' 0% packet loss' <<<"$ping_out" || { echo "$ping_out" >&2; fail "ping lost packets"; }
ftp_log "$(grep -E '^rtt' <<<"$ping_out")"
neigh=$(topo_exec "$TOPO_NS_C" ip neigh show "$TOPO_SERVICE_IP")
grep -qi "$TOPO_SERVICE_MAC" <<<"$neigh" || fail "client's ARP entry is not the service MAC: $neigh"

step "redis SET/GET round trip"
cli=(topo_exec "$TOPO_NS_C" redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT")
value="ftproxy-dpdk-$RANDOM-$$"
[[ $("${cli[@]}" SET e2e:key "$value") == OK ]] || fail "SET did not answer OK"
got=$("${cli[@]}" GET e2e:key)
[[ $got == "$value" ]] || fail "GET returned '$got', expected '$value'"

step "redis-benchmark 5000 requests, 10 connections"
bench=$(topo_exec "$TOPO_NS_C" timeout 60 redis-benchmark -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" \
  -q -n 5000 -c 10 -t set,get 2>&1 | tr '\r' '\n') || { echo "$bench" >&2; fail "redis-benchmark failed"; }
grep -qi 'error' <<<"$bench" && { echo "$bench" >&2; fail "redis-benchmark reported errors"; }
for t in SET GET; do
  grep -Eq "^$t: [0-9.]+ requests per second" <<<"$bench" ||
    { echo "$bench" >&2; fail "redis-benchmark did not complete $t"; }
done
grep -E '^(SET|GET): [0-9.]+ requests' <<<"$bench" >&2
calls=$("${cli[@]}" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_get:calls=\([0-9]*\),.*/\1/p')
((${calls:-0} >= 5001)) || fail "redis served $calls GETs, expected >= 5001"

step "counters in /status"
status=$(topo_status "$TOPO_NS_P") || fail "/status did not answer after traffic"
jq -c '{forward, ports: (.ports | map_values({rx_frames, tx_frames, rx_dropped, rx_oversize, tx_errors}))}' \
  <<<"$status" >&2
for dir in ext_to_int int_to_ext; do
  n=$(jq -r ".forward.${dir}_frames // 0" <<<"$status")
  ((n > 10000)) || fail "/status forward.${dir}_frames = $n, expected > 10000"
done

step "SIGTERM stops the proxy with status 0 and restores promiscuity"
rc=0
topo_stop proxy TERM 5 || rc=$?
((rc == 0)) || fail "ftproxy exited with status $rc on SIGTERM"
for p in ext int; do
  promisc "$p" && fail "$p left promiscuous after the proxy stopped"
done
if topo_exec "$TOPO_NS_C" ping -c 1 -W 1 "$TOPO_SERVICE_IP" >/dev/null 2>&1; then
  fail "server still reachable after the proxy stopped"
fi
ftp_log "PASS"
