#!/usr/bin/env bash
# The shipped Prometheus files are well-formed and every ftproxy metric the alert rules
# use is really served by a running pair (primary and backup /metrics together), with
# HELP and TYPE lines, so a renamed metric cannot silently disarm an alert.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/topology.sh"
source "$here/lib/pair.sh"
rules="$FTP_REPO_ROOT/configs/prometheus/ftproxy-alerts.yml"
"$FTP_PYTHON" - "$rules" "$FTP_REPO_ROOT/configs/prometheus/scrape.yml" <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
for g in rules["groups"]:
    for r in g["rules"]:
        assert {"alert", "expr", "labels", "annotations"} <= r.keys(), r
        assert r["labels"]["severity"] in ("info", "warning", "critical"), r
scrape = yaml.safe_load(open(sys.argv[2]))
assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
PY
topo_init
pair_setup
pair_start_proxies
served="$TOPO_DIR/metrics.txt"
topo_metrics "$TOPO_NS_P1" >"$served"
topo_metrics "$TOPO_NS_P2" >>"$served"
missing=0
for m in $(grep -o 'ftproxy_[a-z_]*' "$rules" | sort -u); do
  if ! grep -q "^# TYPE $m " "$served" || ! grep -q "^# HELP $m " "$served" || ! grep -q "^${m}[{ ]" "$served"; then
    ftp_log "alert rules use $m, which the pair does not serve (with HELP/TYPE)"
    missing=$((missing + 1))
  fi
done
((missing == 0)) || ftp_die "FAILED: $missing metric(s) missing"
ftp_log "PASS: $(grep -o 'ftproxy_[a-z_]*' "$rules" | sort -u | wc -l) metrics used by the rules are served"
