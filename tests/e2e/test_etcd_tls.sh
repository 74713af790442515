#!/usr/bin/env bash
# The etcd arbiter backend over TLS with client certificates: a 3-member etcd cluster
# (private namespace, members on its loopback) whose client URLs are https and demand a
# client certificate signed by the test CA (--client-cert-auth). Certificates are made
# here with the openssl CLI. Two candidates race test_and_set (tests/e2e/tools/etcd_race):
#   1. with the CA and the right client certificate: 100 epochs, exactly one winner each;
#   2. without a client certificate: every answer `unavailable`, nobody wins, and the
#      message names the TLS failure;
#   3. with a certificate from another CA: the same;
#   4. not trusting the server (another CA as tls_ca_file): `unavailable`, "certificate
#      verify failed";
#   5. plain HTTP against the https endpoints: `unavailable`;
#   6. ftproxyctl epoch show with a proxy config holding arbiter.tls = true and the
#      tls_* files reads an epoch decided in step 1.
# Exit 0 pass, 77 skip (no etcd or openssl), 1 fail.
set -euo pipefail
# shellcheck source=lib/topology.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/topology.sh"

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
  ftp_skip "etcd/etcdctl not installed (Debian: etcd-server etcd-client)"
command -v openssl >/dev/null || ftp_skip "openssl not installed (Debian: openssl)"
RACE_BIN="${ETCD_RACE_BIN:-$FTP_BUILD_DIR/tests/unit/arbiter/etcd_race}"
[[ -x $RACE_BIN ]] || ftp_die "missing $RACE_BIN (ninja -C $FTP_BUILD_DIR tests/unit/arbiter/etcd_race)"

topo_init
TOPO_NS_M="${TOPO_PFX}m"
topo_ns m
# shellcheck disable=SC2034  # read by topo_start_etcd_cluster
TOPO_MGMT_IP=127.0.0.1

# --- certificates ----------------------------------------------------------------------
tls="$TOPO_DIR/tls"
mkdir -p "$tls"
# new_ca NAME / new_cert NAME CA EXT: topo_tls_ca / topo_tls_cert (topology.sh).
new_ca() { topo_tls_ca "$1"; }
new_cert() { topo_tls_cert "$1" "$2" "$3"; }
new_ca ca
new_ca rogue-ca
# etcd's JSON gateway dials etcd's gRPC port with the server certificate: it needs clientAuth too.
new_cert server ca $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth'
new_cert client ca 'extendedKeyUsage=clientAuth'
new_cert rogue rogue-ca 'extendedKeyUsage=clientAuth'
ftp_log "certificates in $tls: CA, server (IP:127.0.0.1), client, and a client from another CA"

TOPO_ETCD_TLS_DIR=$tls topo_start_etcd_cluster
ENDPOINTS="${TOPO_ETCD_ENDPOINTS//https:\/\//}"
CLUSTER="tls$$"

# race PHASE ARGS...: the race program; its JSON summary in $summary; fails on a violation.
race() {
  local phase=$1
  shift
  if ! summary=$(topo_exec "$TOPO_NS_M" "$RACE_BIN" --endpoints "$ENDPOINTS" --cluster "$CLUSTER" "$@"); then
    ftp_log "$phase: $summary"
    ftp_die "$phase: violation (see above)"
  fi
  ftp_log "$phase: $summary"
}
# expect_message TEXT: the first `unavailable` message of the last race contains TEXT.
expect_message() {
  jq -e --arg t "$1" '.first_unavailable_message | contains($t)' >/dev/null <<<"$summary" ||
    ftp_die "expected '$1' in the unavailable message: $(jq -r .first_unavailable_message <<<"$summary")"
}

race "right client certificate" --from 1 --count 100 --timeout-ms 1000 --retry-for-ms 5000 \
  --tls-ca "$tls/ca.pem" --tls-cert "$tls/client.pem" --tls-key "$tls/client.key"
[[ $(jq -r '.wins_a + .wins_b' <<<"$summary") == 100 ]] || ftp_die "not 100 decided epochs: $summary"

race "no client certificate" --from 1001 --count 3 --timeout-ms 1000 --expect unavailable \
  --tls-ca "$tls/ca.pem"
expect_message "does etcd accept arbiter.tls_cert_file?"
ftp_log "without a client certificate: $(jq -r .first_unavailable_message <<<"$summary")"
race "client certificate of another CA" --from 1001 --count 3 --timeout-ms 1000 --expect unavailable \
  --tls-ca "$tls/ca.pem" --tls-cert "$tls/rogue.pem" --tls-key "$tls/rogue.key"
ftp_log "with a rogue certificate: $(jq -r .first_unavailable_message <<<"$summary")"
expect_message "does etcd accept arbiter.tls_cert_file?"
race "server not trusted" --from 1001 --count 3 --timeout-ms 1000 --expect unavailable \
  --tls-ca "$tls/rogue-ca.pem" --tls-cert "$tls/client.pem" --tls-key "$tls/client.key"
expect_message "certificate verify failed"
race "plain HTTP to the https endpoints" --from 1001 --count 3 --timeout-ms 1000 --expect unavailable
ftp_log "plain HTTP: $(jq -r .first_unavailable_message <<<"$summary")"
expect_message "connection closed before a reply"
# None of the refused attempts decided epoch 1001; the right certificate still can.
race "epoch of the refused attempts, right certificate" --from 1001 --count 1 --timeout-ms 1000 \
  --retry-for-ms 5000 --tls-ca "$tls/ca.pem" --tls-cert "$tls/client.pem" --tls-key "$tls/client.key"

# --- the proxy configuration keys, through ftproxyctl ----------------------------------
if [[ -x $FTPROXYCTL_BIN ]]; then
  eps=$(sed -e 's|^|"|' -e 's|,|","|g' -e 's|$|"|' <<<"$ENDPOINTS")
  cat >"$TOPO_DIR/proxy.toml" <<EOF
[node]
name = "p1"
role = "standalone"
cluster = "$CLUSTER"
[ports]
ext = "ext"
int = "int"
[arbiter]
backend = "etcd"
endpoints = [$eps]
tls = true
tls_ca_file = "$tls/ca.pem"
tls_cert_file = "$tls/client.pem"
tls_key_file = "$tls/client.key"
EOF
  out=$(topo_exec "$TOPO_NS_M" "$FTPROXYCTL_BIN" epoch show --config "$TOPO_DIR/proxy.toml" --epoch 1 2>&1) ||
    ftp_die "ftproxyctl epoch show over TLS failed: $out"
  grep -Eq '^epoch +1: won by cand-[ab] ' <<<"$out" || ftp_die "ftproxyctl epoch show over TLS: $out"
  ftp_log "ftproxyctl over TLS: $(head -n 1 <<<"$out")"
  sed -i '/^tls_cert_file\|^tls_key_file/d' "$TOPO_DIR/proxy.toml"
  rc=0
  out=$(topo_exec "$TOPO_NS_M" "$FTPROXYCTL_BIN" epoch show --config "$TOPO_DIR/proxy.toml" --epoch 1 2>&1) || rc=$?
  ((rc == 3)) || ftp_die "ftproxyctl without a client certificate: exit $rc, expected 3: $out"
fi

ftp_log "PASS"
