#!/usr/bin/env bash
# False-failover soak: a healthy pair with default timers on a machine whose cores are
# all kept busy (one busy loop per core at normal priority) while a client writes at a
# modest rate, for SECONDS (default 600). Any transition away from primary/backup is a
# false failover. Prints the count and both proxies' final states and transitions.
#
# Usage: bash scripts/bench-false-failover.sh [SECONDS=600] [section.key=value ...]
set -euo pipefail
source "$(dirname "$0")/../tests/e2e/lib/topology.sh"
source "$(dirname "$0")/../tests/e2e/lib/pair.sh"
SECS=${1:-600}
shift || true

topo_init
pair_setup
pair_start_proxies "$@"
burners=()
for ((i = 0; i < $(nproc); i++)); do
  timeout "$((SECS + 5))" sh -c 'while :; do :; done' &
  burners+=($!)
done
cleanup_burners() { kill "${burners[@]}" 2>/dev/null || true; wait "${burners[@]}" 2>/dev/null || true; }
trap 'cleanup_burners; topo_cleanup' EXIT
pair_client "$FTP_PYTHON" "$FTP_REPO_ROOT/tests/e2e/tools/kv_client.py" --host "$TOPO_SERVICE_IP" \
  --seconds "$SECS" --interval 0.01 --acked "$TOPO_DIR/acked" >"$TOPO_DIR/kv.json" || true
cleanup_burners
p=$(topo_status "$TOPO_NS_P1")
b=$(topo_status "$TOPO_NS_P2")
n=$(($(jq '.failover.transitions | length' <<<"$p") + $(jq '.failover.transitions | length' <<<"$b")))
echo
echo "False-failover soak: ${SECS}s, $(nproc) busy loops, $(jq -r .acked "$TOPO_DIR/kv.json") writes at ~100/s"
echo "- transitions (false failovers): $n"
echo "- states: primary $(jq -r .state <<<"$p"), backup $(jq -r .state <<<"$b")"
echo "- client: $(jq -c '{error, max_gap_s}' "$TOPO_DIR/kv.json")"
jq -c '.failover.transitions[]' <<<"$p" 2>/dev/null || true
jq -c '.failover.transitions[]' <<<"$b" 2>/dev/null || true
