#!/usr/bin/env bash
# test_failover_kill_primary.sh, every assertion unchanged, with the arbiter on a real
# 3-member etcd cluster (FO_ARBITER=etcd in tests/e2e/lib/failover.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v etcd >/dev/null || { echo "etcd not installed" >&2; exit 77; }
FO_ARBITER=etcd exec bash "$here/test_failover_kill_primary.sh"
