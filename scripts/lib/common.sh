# Shared settings for scripts/ and tests/e2e/: the ONE place that names the build
# directory, the binaries and the tools. Source it; it defines variables and small
# helpers only (no side effects beyond `set -o pipefail`).
# shellcheck shell=bash

set -o pipefail

FTP_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FTP_BUILD_DIR="${FTP_BUILD_DIR:-$FTP_REPO_ROOT/build}"
FTP_FUZZ_BUILD_DIR="${FTP_FUZZ_BUILD_DIR:-$FTP_REPO_ROOT/build-fuzz}"

# Binaries (override any of them from the environment to test another build).
FTPROXY_BIN="${FTPROXY_BIN:-$FTP_BUILD_DIR/src/bin/ftproxy}"
# The arbiter binary is defined in src/bin/ (it needs control_dep); src/arbiter/ was its
# first home and is still looked at.
if [[ -z ${FTPROXY_ARBITER_BIN:-} ]]; then
  FTPROXY_ARBITER_BIN="$FTP_BUILD_DIR/src/bin/ftproxy-arbiter"
  if [[ ! -e $FTPROXY_ARBITER_BIN && -e $FTP_BUILD_DIR/src/arbiter/ftproxy-arbiter ]]; then
    FTPROXY_ARBITER_BIN="$FTP_BUILD_DIR/src/arbiter/ftproxy-arbiter"
  fi
fi
FTPROXYCTL_BIN="${FTPROXYCTL_BIN:-$FTP_BUILD_DIR/src/bin/ftproxyctl}"

# The distribution's Python (python3-scapy lives there), not whatever is first in PATH.
FTP_PYTHON="${FTP_PYTHON:-/usr/bin/python3}"

# Exit code that test runners (meson, automake, ours) read as "skipped".
FTP_EXIT_SKIP=77

ftp_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ftp_die() { ftp_log "ERROR: $*"; exit 1; }
ftp_skip() { ftp_log "SKIP: $*"; exit "$FTP_EXIT_SKIP"; }

ftp_require_root() {
  [[ $(id -u) -eq 0 ]] || ftp_skip "needs root (network namespaces)"
}

# ftp_require_cmd CMD... : skip (77) when a tool is missing.
ftp_require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || ftp_skip "missing tool: $c (run scripts/setup.sh)"
  done
}

# ftp_wait_until TIMEOUT_S CMD... : poll CMD every 0.1 s until it succeeds; bounded.
ftp_wait_until() {
  local timeout_s=$1
  shift
  local tries=$((timeout_s * 10)) i
  for ((i = 0; i < tries; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
