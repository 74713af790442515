#!/usr/bin/env bash
# Failover end to end with TCP timestamps off on the servers (net.ipv4.tcp_timestamps=0
# in both server namespaces, so no connection negotiates them; SACK stays on): the
# kill-primary scenario of test_failover_kill_primary.sh with the same assertions, plus
# a check that the client's connection indeed carries no timestamp option.
set -euo pipefail
FO_SERVER_TCP_TIMESTAMPS=0 exec bash "$(dirname "$0")/test_failover_kill_primary.sh"
