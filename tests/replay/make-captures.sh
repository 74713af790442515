#!/usr/bin/env bash
# Regenerate the committed captures of the replay cases (tests/replay/<case>/capture.pcap)
# from the real servers: for each case folder that holds a workload.py, start the case's
# own server command (case.toml `server`, the same one the harness runs) in a server
# namespace, run `workload.py HOST PORT` from a client namespace over a veth, capture the
# client's eth0 with tcpdump and write the capture into the case folder.
#
# Usage (root): bash tests/replay/make-captures.sh [CASE_DIR...]   (default: every case)
# The captures are replayed by scripts/replay.sh; see docs/replay-testing.md.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../e2e/lib/topology.sh"
source "$FTP_REPO_ROOT/scripts/lib/replay_common.sh"
ftp_require_root
ftp_require_cmd tcpdump ss "$FTP_PYTHON"

cases=("$@")
if ((${#cases[@]} == 0)); then
  for d in "$here"/*/; do [[ -f $d/workload.py ]] && cases+=("${d%/}"); done
fi
((${#cases[@]})) || ftp_die "no case folder with a workload.py"

topo_init rpgen$$
topo_ns c
topo_ns s
topo_veth "${TOPO_PFX}c" eth0 "${TOPO_PFX}s" eth0
topo_endpoint "${TOPO_PFX}c" eth0 "$TOPO_CLIENT_MAC" "$TOPO_CLIENT_IP/24"
topo_endpoint "${TOPO_PFX}s" eth0 "$TOPO_SERVICE_MAC" "$TOPO_SERVICE_IP/24"

n=0
for c in "${cases[@]}"; do
  rp_load_case "$c" --allow-missing-capture
  [[ -f $RC_DIR/workload.py ]] || ftp_die "$RC_NAME has no workload.py"
  n=$((n + 1))
  ftp_log "$RC_NAME: $RC_DESCRIPTION"
  rp_start_server "srv$n" "${TOPO_PFX}s"
  pcap="$TOPO_DIR/$RC_NAME.pcap"
  topo_spawn "cap$n" "${TOPO_PFX}c" tcpdump -i eth0 -n -s 1600 -B 16384 --immediate-mode -U -w "$pcap" "host $TOPO_SERVICE_IP and $RC_TRANSPORT port $RC_PORT"
  ftp_wait_until 5 grep -q 'listening on' "$(topo_log "cap$n")" || ftp_die "tcpdump did not start"
  topo_exec "${TOPO_PFX}c" timeout 120 "$FTP_PYTHON" "$RC_DIR/workload.py" "$TOPO_SERVICE_IP" "$RC_PORT" ||
    ftp_die "$RC_NAME: workload failed"
  # tcpdump stops without draining its ring on SIGINT: wait (bounded) until the file
  # stops growing first.
  prev=-1
  for ((i = 0; i < 50; i++)); do
    sleep 0.3
    cur=$(stat -c %s "$pcap")
    ((cur == prev)) && break
    prev=$cur
  done
  topo_stop "cap$n" INT 3 || true
  grep -q '^0 packets dropped by kernel' "$(topo_log "cap$n")" || ftp_die "$RC_NAME: tcpdump dropped frames: $(cat "$(topo_log "cap$n")")"
  topo_stop "srv$n" TERM 3 || true
  install -m 0644 "$pcap" "$RC_CAPTURE"
  ftp_log "$RC_NAME: $(tcpdump -r "$RC_CAPTURE" -n 2>/dev/null | wc -l) frames, $(stat -c %s "$RC_CAPTURE") bytes -> $RC_CAPTURE"
  ftp_log "$RC_NAME: $("$FTP_PYTHON" "$RP_CLIENT" plan --pcap "$RC_CAPTURE" --port "$RC_PORT" --transport "$RC_TRANSPORT")"
done
