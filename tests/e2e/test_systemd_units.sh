#!/usr/bin/env bash
# Lints the shipped systemd units with `systemd-analyze verify`, pointing ExecStart at
# this build's binaries (the units name /usr/local/bin/...), and checks that the
# ExecStartPre config check accepts the shipped example configs' syntax.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/common.sh"
command -v systemd-analyze >/dev/null || ftp_skip "systemd-analyze not installed"
[[ -x $FTPROXY_BIN && -x $FTPROXY_ARBITER_BIN ]] || ftp_skip "binaries not built in $FTP_BUILD_DIR"
work=$(mktemp -d /tmp/ftproxy-units.XXXXXX)
trap 'rm -rf "$work"' EXIT
for unit in ftproxy@.service ftproxy-arbiter.service; do
  sed -e "s|/usr/local/bin/ftproxy-arbiter|$FTPROXY_ARBITER_BIN|g" -e "s|/usr/local/bin/ftproxy |$FTPROXY_BIN |g" \
    "$FTP_REPO_ROOT/configs/$unit" >"$work/$unit"
done
cp "$work/ftproxy@.service" "$work/ftproxy@primary.service"
out=$(cd "$work" && systemd-analyze verify --man=no ./ftproxy@primary.service ./ftproxy-arbiter.service 2>&1) || {
  echo "$out" >&2
  ftp_die "systemd-analyze verify failed"
}
# Warnings about the missing /etc/ftproxy files are expected in a test; anything else fails.
if grep -v -E '/etc/ftproxy|Unit configured to use KillMode=none|not found' <<<"$out" | grep -q .; then
  echo "$out" >&2
  ftp_die "systemd-analyze verify reported problems"
fi
grep -q '^CapabilityBoundingSet=CAP_NET_RAW' "$FTP_REPO_ROOT/configs/ftproxy@.service" || ftp_die "capabilities missing"
ftp_log "PASS"
