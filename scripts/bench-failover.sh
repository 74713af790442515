#!/usr/bin/env bash
# Failover benchmark: N kills of the primary proxy, each on a fresh pair, with the
# default timers (configs/primary.toml, configs/backup.toml). Prints every run's JSON
# line and the distribution (median, p90, max) of the takeover time and of the
# client-visible stall, and how many runs lost the connection or an acknowledged write.
#
# Usage: bash scripts/bench-failover.sh [N=20]
set -euo pipefail
N=${1:-20}
here=$(dirname "$0")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= N; i++)); do
  line=$(bash "$here/lib/failover_once.sh" 2>/dev/null | tail -n 1)
  echo "run $i: $line" >&2
  echo "$line" >>"$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def dist(key):
    v = sorted(r[key] for r in rows if r.get(key) is not None)
    if not v:
        return "–"
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    return f"median {statistics.median(v):.1f} ms, p90 {p(0.9):.1f} ms, max {v[-1]:.1f} ms (n={len(v)})"
print()
print(f"Failover, {len(rows)} kills of the primary proxy (fresh pair each), default timers:")
print()
print(f"- takeover (kill -> backup live): {dist('takeover_ms')}")
print(f"- client-visible stall (longest wait for a reply): {dist('stall_ms')}")
print(f"- connections that survived: {sum(r['survived'] for r in rows)}/{len(rows)}")
print(f"- acknowledged writes lost: {sum((r['lost'] or 0) for r in rows)} "
      f"(of {sum(r['acked'] for r in rows)} acknowledged)")
print(f"- backup ended live: {sum(r['backup_state'] == 'live' for r in rows)}/{len(rows)}")
PY
