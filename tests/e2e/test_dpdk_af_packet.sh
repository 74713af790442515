#!/usr/bin/env bash
# The standalone forwarding scenario (test_standalone_forwarding.sh, every assertion
# unchanged) on the dpdk backend with `[dpdk] vdev_driver = "af_packet"`: the fallback
# driver of the default "auto" choice, chosen explicitly (net_af_packet vdevs on ext/int,
# no XDP program attached). Skipped when ftproxy was built without DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BACKEND=dpdk DPDK_PMD=af_packet exec bash "$here/test_standalone_forwarding.sh"
