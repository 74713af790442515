#!/usr/bin/env bash
# ftproxy demo (the README's first command). Installs what is missing, builds, then
# runs one ftproxy (role standalone) in front of a real redis-server, all inside
# network namespaces created for this run:
#   client -- switch -- [ext  ftproxy  int] -- redis-server
# A client does SET/GET round trips for DEMO_SECONDS (10) seconds and prints its
# requests/s next to the proxy's counters every second. Ctrl-C stops it; everything
# (processes, namespaces) is removed on exit.
#
# Usage: bash scripts/demo.sh [--skip-setup]      (as root on Debian 12)
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ ${1:-} != --skip-setup ]]; then
  bash scripts/setup.sh
fi

source tests/e2e/lib/topology.sh
SECONDS_TO_RUN=${DEMO_SECONDS:-10}
ftp_require_cmd redis-server redis-cli curl jq

topo_init
topo_standalone
topo_start_redis redis "$TOPO_NS_S"
topo_write_standalone_config "$TOPO_DIR/demo.toml" demo
topo_start_proxy proxy "$TOPO_NS_P" "$TOPO_DIR/demo.toml"

cat <<EOF

  client $TOPO_CLIENT_IP  --  switch  --  [ext  ftproxy  int]  --  redis-server $TOPO_SERVICE_IP:$TOPO_REDIS_PORT
  (namespaces ${TOPO_PFX}{c,sw,p,s}; proxy config $TOPO_DIR/demo.toml)

EOF
topo_status "$TOPO_NS_P" | jq -c '{state, node}' | sed 's/^/  proxy status: /'
echo "  while it runs, from another shell:" \
  "ip netns exec $TOPO_NS_P curl -s http://127.0.0.1:$TOPO_CONTROL_PORT/metrics"
echo

# The proxy's forwarding counters, one compact line from /status.
proxy_counters() {
  topo_status "$TOPO_NS_P" 2>/dev/null | jq -r '
    "ext->int \(.forward.ext_to_int_frames) frames, int->ext \(.forward.int_to_ext_frames) frames," +
    " rx dropped \([.ports[].rx_dropped] | add), tx refused \(.forward.tx_refused)"' 2>/dev/null ||
    echo "(status unavailable)"
}

# In the background + wait, so that Ctrl-C/TERM run the clean-up at once (bash defers
# traps until a foreground command ends); the clean-up kills the client in C.
rc=0
(
  topo_exec "$TOPO_NS_C" "$FTP_PYTHON" scripts/lib/demo_client.py "$TOPO_SERVICE_IP" "$TOPO_REDIS_PORT" \
    "$SECONDS_TO_RUN" |
    while IFS= read -r line; do
      printf '  %s | proxy: %s\n' "$line" "$(proxy_counters)"
    done
) &
wait $! || rc=$?

echo
if ((rc == 0)); then
  echo "  every GET returned the value just SET, through ftproxy."
else
  echo "  the client saw errors (see above)."
fi
echo "  cleaning up."
exit "$rc"
