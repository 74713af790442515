#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) to build, test and benchmark ftproxy:
# install the Debian packages (skipped when all are present), make sure no
# system-wide redis/etcd started by the packages is left running, then configure
# and build build/ with warnings as errors. Idempotent; reruns take seconds.
#
# Usage: bash scripts/setup.sh [--no-build]
# Environment: FTP_NINJA_JOBS (default: nproc) limits the build's parallelism.
set -euo pipefail

source "$(dirname "$0")/lib/common.sh"

BUILD=1
[[ ${1:-} == --no-build ]] && BUILD=0

PACKAGES=(
  # build
  build-essential meson ninja-build pkg-config
  libpcap-dev libdpdk-dev libboost1.81-all-dev libboost-json1.81-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libssl-dev libxxhash-dev
  # fuzzing (libFuzzer ships in libclang-rt) and formatting
  clang libclang-rt-14-dev clang-format shellcheck
  # runtime, end-to-end tests and benchmarks
  iproute2 iputils-ping ethtool nftables tcpdump redis-server redis-tools iperf3 tcpreplay
  etcd-server etcd-client python3 python3-scapy curl jq procps psmisc coreutils systemd
  openssl  # keys (openssl rand) and the test certificates of tests/e2e/test_etcd_tls.sh
)
OPTIONAL_PACKAGES=(linux-perf)

missing_packages() {
  local p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || echo "$p"
  done
}

# stop_service NAME PIDFILE: a package's postinst may have started its daemon; the
# tests run their own instances in namespaces and want no system-wide copy.
stop_service() {
  local name=$1 pidfile=$2 pid
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$name" 2>/dev/null; then
    ftp_log "stopping and disabling system service $name"
    systemctl disable --now "$name" >/dev/null 2>&1 || true
  fi
  if [[ -r $pidfile ]]; then
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      ftp_log "stopping $name (pid $pid from $pidfile)"
      kill "$pid" 2>/dev/null || true
    fi
  fi
}

[[ $(id -u) -eq 0 ]] || ftp_die "run as root (apt-get and network namespaces)"

mapfile -t MISSING < <(missing_packages "${PACKAGES[@]}")
if ((${#MISSING[@]})); then
  ftp_log "installing ${#MISSING[@]} package(s): ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${MISSING[@]}"
  mapfile -t STILL < <(missing_packages "${PACKAGES[@]}")
  ((${#STILL[@]} == 0)) || ftp_die "packages still missing: ${STILL[*]}"
else
  ftp_log "all ${#PACKAGES[@]} required packages present"
fi
mapfile -t MISSING_OPT < <(missing_packages "${OPTIONAL_PACKAGES[@]}")
if ((${#MISSING_OPT[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${MISSING_OPT[@]}" ||
    ftp_log "optional package(s) not installed: ${MISSING_OPT[*]}"
fi
stop_service redis-server /run/redis/redis-server.pid
stop_service etcd /run/etcd/etcd.pid

((BUILD)) || exit 0

cd "$FTP_REPO_ROOT"
if [[ -f $FTP_BUILD_DIR/meson-private/coredata.dat ]]; then
  # Reconfigure only when an option differs (meson configure forces a regeneration).
  current=$(meson introspect "$FTP_BUILD_DIR" --buildoptions |
    jq -r '[.[] | select(.name == "werror" or .name == "buildtype") | "\(.name)=\(.value)"] | sort | join(" ")')
  if [[ $current != "buildtype=debugoptimized werror=true" ]]; then
    meson configure "$FTP_BUILD_DIR" -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
  fi
else
  meson setup "$FTP_BUILD_DIR" -Dwerror=true --buildtype=debugoptimized
fi
ninja -C "$FTP_BUILD_DIR" -j "${FTP_NINJA_JOBS:-$(nproc)}"
ftp_log "build ready in $FTP_BUILD_DIR"
