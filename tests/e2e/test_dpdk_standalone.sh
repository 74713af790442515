#!/usr/bin/env bash
# The standalone forwarding scenario (test_standalone_forwarding.sh, every assertion
# unchanged) on the dpdk packet I/O backend with its defaults: the config differs from
# the pcap one by the backend line only (no [dpdk] section: vdev_driver "auto", net_af_xdp
# vdevs on ext/int, or net_af_packet with a logged reason where af_xdp does not start).
# Adds the dpdk checks of that script: the start-up log names the backend, ext/int are
# promiscuous while it runs and not afterwards. Skipped when ftproxy was built without DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BACKEND=dpdk DPDK_PMD=auto exec bash "$here/test_standalone_forwarding.sh"
