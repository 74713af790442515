# Reusable end-to-end topologies for ftproxy (DESIGN.md §1), built from network
# namespaces that this library creates with a per-run prefix and removes on exit.
# Source it, call topo_init, then topo_standalone or topo_pair.
#
# Every interface lives inside a namespace of ours (veths are created directly in
# their namespaces, the switch is a bridge inside its own namespace): nothing is
# added to the root namespace. Processes are started with topo_spawn (foreground
# programs only, never daemons) and stopped by PID; topo_cleanup, installed as the
# EXIT trap, stops them, deletes the namespaces and the work directory.
#
# Addresses (X = per-run octet, 1..250):
#   service LAN   10.77.X.0/24  client .1 (C), service IP .10 (S / S1 / S2)
#   log link      10.78.X.0/30  P1 log .1, P2 log .2                (pair only)
#   management    10.78.X.16/28 M .17 (arbiter/etcd), P1 .18, P2 .19 (pair only)
# shellcheck shell=bash disable=SC2034  # TOPO_* variables are for the sourcing scripts

# shellcheck source=../../../scripts/lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib" && pwd)/common.sh"

TOPO_SERVICE_MAC="${TOPO_SERVICE_MAC:-02:00:00:00:01:00}"
TOPO_CLIENT_MAC="${TOPO_CLIENT_MAC:-02:00:00:00:02:01}"
TOPO_REDIS_PORT=6379
TOPO_CONTROL_PORT=9100

TOPO_NAMESPACES=()        # created namespaces, in creation order
declare -A TOPO_PIDS=()   # spawn name -> PID
TOPO_SPAWN_ORDER=()       # spawn names, in start order
TOPO_CLEANED=0

# topo_init [PREFIX]: choose the run's prefix, subnet and work directory; install traps.
topo_init() {
  ftp_require_root
  ftp_require_cmd ip ethtool
  local pid=$$
  TOPO_PFX="${1:-ftp$pid}"
  ((${#TOPO_PFX} <= 10)) || ftp_die "prefix '$TOPO_PFX' too long (max 10 chars)"
  TOPO_OCTET=$((pid % 250 + 1))
  TOPO_NET="10.77.$TOPO_OCTET"
  TOPO_AUX_NET="10.78.$TOPO_OCTET"
  TOPO_SERVICE_IP="$TOPO_NET.10"
  TOPO_CLIENT_IP="$TOPO_NET.1"
  TOPO_DIR="$(mktemp -d "/tmp/ftproxy-e2e.$TOPO_PFX.XXXXXX")"
  trap topo_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ftp_log "topology prefix $TOPO_PFX, service LAN $TOPO_NET.0/24, work dir $TOPO_DIR"
}

# topo_ns NAME: create namespace ${TOPO_PFX}NAME with loopback up and IPv6 off
# (router solicitations and DAD would add frames the tests do not expect;
# set TOPO_IPV6=1 to keep IPv6). Prints nothing; the name is ${TOPO_PFX}NAME.
topo_ns() {
  local ns="$TOPO_PFX$1"
  ip netns add "$ns" || ftp_die "cannot create namespace $ns"
  TOPO_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  if [[ ${TOPO_IPV6:-0} != 1 ]]; then
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
}

# topo_veth NS_A IF_A NS_B IF_B: a veth pair with one end in each namespace, both up.
topo_veth() {
  ip link add name "$2" netns "$1" type veth peer name "$4" netns "$3" ||
    ftp_die "cannot create veth $1/$2 <-> $3/$4"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

# topo_bridge NS BR: a Linux bridge without STP (ports forward at once), no snooping.
topo_bridge() {
  ip -n "$1" link add name "$2" type bridge stp_state 0 mcast_snooping 0 ||
    ftp_die "cannot create bridge $1/$2"
  ip -n "$1" link set "$2" up
}

topo_bridge_port() { ip -n "$1" link set "$3" master "$2"; }

# topo_endpoint NS IF MAC IP/LEN: configure a host's NIC. Checksum offload is turned
# off: a veth with tx checksumming on hands partial checksums to whatever captures the
# frame, and a user-space bridge then forwards frames the receiver drops.
topo_endpoint() {
  local ns=$1 ifc=$2 mac=$3 addr=$4
  ip -n "$ns" link set "$ifc" down
  ip -n "$ns" link set "$ifc" address "$mac"
  ip -n "$ns" addr add "$addr" dev "$ifc"
  ip -n "$ns" link set "$ifc" up
  ip netns exec "$ns" ethtool -K "$ifc" tx off >/dev/null 2>&1 ||
    ftp_die "ethtool -K $ifc tx off failed in $ns"
}

# topo_client: namespace C (eth0, client IP) attached to the switch port c0.
topo_client() {
  TOPO_NS_C="${TOPO_PFX}c"
  topo_ns c
  topo_veth "$TOPO_NS_SW" c0 "$TOPO_NS_C" eth0
  topo_bridge_port "$TOPO_NS_SW" br0 c0
  topo_endpoint "$TOPO_NS_C" eth0 "$TOPO_CLIENT_MAC" "$TOPO_CLIENT_IP/24"
}

# topo_proxy_and_server SUFFIX SWITCH_PORT: proxy namespace P<SUFFIX> with ports
# ext (on the switch) and int (to server namespace S<SUFFIX>, eth0 = service IP/MAC).
topo_proxy_and_server() {
  local sfx=$1 swport=$2
  local p="${TOPO_PFX}p$sfx" s="${TOPO_PFX}s$sfx"
  topo_ns "p$sfx"
  topo_ns "s$sfx"
  topo_veth "$TOPO_NS_SW" "$swport" "$p" ext
  topo_bridge_port "$TOPO_NS_SW" br0 "$swport"
  topo_veth "$p" int "$s" eth0
  topo_endpoint "$s" eth0 "$TOPO_SERVICE_MAC" "$TOPO_SERVICE_IP/24"
}

# topo_standalone: C -- switch -- [ext P int] -- S.
# Sets TOPO_NS_C TOPO_NS_SW TOPO_NS_P TOPO_NS_S.
topo_standalone() {
  TOPO_NS_SW="${TOPO_PFX}sw"
  topo_ns sw
  topo_bridge "$TOPO_NS_SW" br0
  topo_client
  topo_proxy_and_server "" p0
  TOPO_NS_P="${TOPO_PFX}p"
  TOPO_NS_S="${TOPO_PFX}s"
}

# topo_pair: the replicated pair of DESIGN.md §1.
#   C -- switch --+-- [ext P1 int] -- S1 (service IP/MAC)
#                 +-- [ext P2 int] -- S2 (same IP/MAC)
#   P1 log <--> P2 log          (log channel link, 10.78.X.1 / .2)
#   P1 mgmt, P2 mgmt -- bridge in M (M .17 hosts the arbiter or etcd; P1 .18, P2 .19)
# Sets TOPO_NS_{C,SW,P1,P2,S1,S2,M} and TOPO_{LOG_IP1,LOG_IP2,MGMT_IP,MGMT_IP1,MGMT_IP2}.
topo_pair() {
  TOPO_NS_SW="${TOPO_PFX}sw"
  topo_ns sw
  topo_bridge "$TOPO_NS_SW" br0
  topo_client
  topo_proxy_and_server 1 p1
  topo_proxy_and_server 2 p2
  TOPO_NS_P1="${TOPO_PFX}p1" TOPO_NS_P2="${TOPO_PFX}p2"
  TOPO_NS_S1="${TOPO_PFX}s1" TOPO_NS_S2="${TOPO_PFX}s2"

  TOPO_LOG_IP1="$TOPO_AUX_NET.1" TOPO_LOG_IP2="$TOPO_AUX_NET.2"
  topo_veth "$TOPO_NS_P1" log "$TOPO_NS_P2" log
  ip -n "$TOPO_NS_P1" addr add "$TOPO_LOG_IP1/30" dev log
  ip -n "$TOPO_NS_P2" addr add "$TOPO_LOG_IP2/30" dev log

  TOPO_NS_M="${TOPO_PFX}m"
  topo_ns m
  topo_bridge "$TOPO_NS_M" mbr
  TOPO_MGMT_IP="$TOPO_AUX_NET.17" TOPO_MGMT_IP1="$TOPO_AUX_NET.18" TOPO_MGMT_IP2="$TOPO_AUX_NET.19"
  ip -n "$TOPO_NS_M" addr add "$TOPO_MGMT_IP/28" dev mbr
  topo_veth "$TOPO_NS_M" m1 "$TOPO_NS_P1" mgmt
  topo_veth "$TOPO_NS_M" m2 "$TOPO_NS_P2" mgmt
  topo_bridge_port "$TOPO_NS_M" mbr m1
  topo_bridge_port "$TOPO_NS_M" mbr m2
  ip -n "$TOPO_NS_P1" addr add "$TOPO_MGMT_IP1/28" dev mgmt
  ip -n "$TOPO_NS_P2" addr add "$TOPO_MGMT_IP2/28" dev mgmt
}

# topo_kernel_bridge NS / topo_kernel_bridge_remove NS: join ext and int of a proxy
# namespace with a kernel bridge (the baseline a proxy is compared with).
topo_kernel_bridge() {
  topo_bridge "$1" kbr
  topo_bridge_port "$1" kbr ext
  topo_bridge_port "$1" kbr int
}
topo_kernel_bridge_remove() { ip -n "$1" link del kbr; }

# topo_spawn NAME NS CMD...: run CMD in the foreground of namespace NS, in the
# background of this shell; output to $TOPO_DIR/NAME.log. The PID is TOPO_PIDS[NAME].
topo_spawn() {
  local name=$1 ns=$2
  shift 2
  [[ -z ${TOPO_PIDS[$name]:-} ]] || ftp_die "process name '$name' already used"
  ip netns exec "$ns" "$@" </dev/null >"$TOPO_DIR/$name.log" 2>&1 &
  TOPO_PIDS[$name]=$!
  TOPO_SPAWN_ORDER+=("$name")
}

topo_pid() { echo "${TOPO_PIDS[$1]:-}"; }
topo_log() { echo "$TOPO_DIR/$1.log"; }

# topo_alive NAME: the process runs (not exited, not a zombie).
topo_alive() {
  local pid=${TOPO_PIDS[$1]:-} state
  [[ -n $pid ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# topo_stop NAME [SIGNAL] [GRACE_S]: signal the process (TERM), wait up to GRACE_S
# (5) seconds, then KILL. Returns the process's exit status. Idempotent.
topo_stop() {
  local name=$1 sig=${2:-TERM} grace=${3:-5} pid rc=0 i
  pid=${TOPO_PIDS[$name]:-}
  [[ -n $pid ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    topo_alive "$name" || break
    sleep 0.1
  done
  if topo_alive "$name"; then
    ftp_log "$name (pid $pid) still running after ${grace}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  unset "TOPO_PIDS[$name]"
  return "$rc"
}

# topo_exec NS CMD...: run a command inside a namespace.
topo_exec() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# topo_start_redis NAME NS: a throw-away redis-server on the service IP (no persistence).
topo_start_redis() {
  ftp_require_cmd redis-server redis-cli
  topo_spawn "$1" "$2" redis-server --bind "$TOPO_SERVICE_IP" --port "$TOPO_REDIS_PORT" \
    --daemonize no --save '' --appendonly no --protected-mode no --enable-debug-command yes --dir "$TOPO_DIR" \
    --logfile ''
  ftp_wait_until 10 topo_exec "$2" redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" ping ||
    ftp_die "redis-server did not start in $2 (see $(topo_log "$1"))"
}

# topo_start_iperf NAME NS [PORT]: iperf3 server on the service IP (port 5201 by default).
topo_start_iperf() {
  ftp_require_cmd iperf3
  topo_spawn "$1" "$2" iperf3 -s -B "$TOPO_SERVICE_IP" -p "${3:-5201}"
}

# topo_write_standalone_config FILE NODE_NAME: the shipped example
# configs/standalone.toml with this topology's values (node name, cluster, ports
# ext/int, control on 127.0.0.1:TOPO_CONTROL_PORT inside the proxy namespace), so
# the example itself stays tested. Keys are replaced line by line, first match only.
topo_write_standalone_config() {
  local out=$1 node=$2 example="$FTP_REPO_ROOT/configs/standalone.toml"
  [[ -r $example ]] || ftp_die "missing example config $example"
  awk -v node="$node" -v cluster="e2e-$TOPO_PFX" -v listen="127.0.0.1:$TOPO_CONTROL_PORT" '
    function put(key, val) { if (!(key in done)) { done[key] = 1; print key " = \"" val "\""; return 1 } return 0 }
    /^\[/ { section = $0 }
    section == "[node]" && /^name[ \t]*=/ && put("name", node) { next }
    section == "[node]" && /^cluster[ \t]*=/ && put("cluster", cluster) { next }
    section == "[ports]" && /^ext[ \t]*=/ && put("ext", "ext") { next }
    section == "[ports]" && /^int[ \t]*=/ && put("int", "int") { next }
    section == "[control]" && /^listen[ \t]*=/ && put("listen", listen) { next }
    { print }
    END { if (length(done) != 5) { print "config keys not all replaced" > "/dev/stderr"; exit 1 } }
  ' "$example" >"$out" || ftp_die "cannot derive a config from $example"
  grep -q '^role = "standalone"' "$out" || ftp_die "$example is not a standalone config"
}

# topo_start_proxy NAME NS CONFIG: start ftproxy and wait until /status answers.
topo_start_proxy() {
  local name=$1 ns=$2 cfg=$3
  [[ -x $FTPROXY_BIN ]] || ftp_die "ftproxy binary not found at $FTPROXY_BIN (build first)"
  topo_spawn "$name" "$ns" "$FTPROXY_BIN" --config "$cfg"
  local i
  for ((i = 0; i < 100; i++)); do
    topo_alive "$name" || {
      cat "$(topo_log "$name")" >&2
      ftp_die "$name exited during start-up"
    }
    topo_status "$ns" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$(topo_log "$name")" >&2
  ftp_die "$name: /status did not answer within 10 s"
}

# topo_status NS / topo_metrics NS: the proxy's control endpoints, from inside NS.
topo_status() { ip netns exec "$1" curl -sf --max-time 2 "http://127.0.0.1:$TOPO_CONTROL_PORT/status"; }
topo_metrics() { ip netns exec "$1" curl -sf --max-time 2 "http://127.0.0.1:$TOPO_CONTROL_PORT/metrics"; }

# Test certificates (openssl CLI), EC P-256, valid one day, in $TOPO_DIR/tls:
# topo_tls_ca NAME makes NAME.key + NAME.pem (self-signed); topo_tls_cert NAME CA [EXT]
# makes NAME.key (mode 0600) + NAME.pem signed by CA, with the x509v3 extension lines
# EXT (e.g. subjectAltName = IP:10.0.0.1) if given. Prints the folder.
topo_tls_ca() {
  mkdir -p "$TOPO_DIR/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$TOPO_DIR/tls/$1.key" -out "$TOPO_DIR/tls/$1.pem" -subj "/CN=ftproxy test $1" 2>/dev/null
}
topo_tls_cert() {
  local d=$TOPO_DIR/tls name=$1 ca=$2 ext=${3:-} extopt=()
  mkdir -p "$d"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$name.key" \
    -out "$d/$name.csr" -subj "/CN=$name" 2>/dev/null || return 1
  if [[ -n $ext ]]; then
    printf '%s\n' "$ext" >"$d/$name.ext"
    extopt=(-extfile "$d/$name.ext")
  fi
  openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" -CAcreateserial \
    -days 1 -out "$d/$name.pem" "${extopt[@]}" 2>/dev/null || return 1
  chmod 600 "$d/$name.key"
}

# topo_write_arbiter_config FILE [PORT]: configs/arbiter.toml with the arbiter
# listening on the management address (TOPO_MGMT_IP:PORT, default 7500), its data in
# the work directory and its key_file the run's arbiter key (topo_arbiter_key, which
# pair_write_config gives the proxies too). Call after topo_pair.
topo_write_arbiter_config() {
  local out=$1 port=${2:-7500} example="$FTP_REPO_ROOT/configs/arbiter.toml" key
  [[ -r $example ]] || ftp_die "missing example config $example"
  mkdir -p "$TOPO_DIR/arbiter-data"
  key=$(topo_arbiter_key)
  awk -v listen="$TOPO_MGMT_IP:$port" -v data="$TOPO_DIR/arbiter-data" -v key="$key" '
    function put(key, val) { if (!(key in done)) { done[key] = 1; print key " = \"" val "\""; return 1 } return 0 }
    /^\[/ { section = $0 }
    section == "[arbiter]" && /^listen[ \t]*=/ && put("listen", listen) { next }
    section == "[arbiter]" && /^data_dir[ \t]*=/ && put("data_dir", data) { next }
    section == "[arbiter]" && /^key_file[ \t]*=/ && put("key_file", key) { next }
    { print }
    END { if (length(done) != 3) { print "config keys not all replaced" > "/dev/stderr"; exit 1 } }
  ' "$example" >"$out" || ftp_die "cannot derive a config from $example"
}

# topo_arbiter_key: the path of this run's embedded-arbiter key (mode 0600), made on
# first use: the arbiter's key_file and the proxies' arbiter.key_file.
topo_arbiter_key() {
  local f="$TOPO_DIR/arbiter.key"
  if [[ ! -s $f ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f") || ftp_die "cannot write $f"
  fi
  echo "$f"
}

# topo_start_arbiter NAME CONFIG: ftproxy-arbiter in the management namespace; waits
# until its port accepts connections.
topo_start_arbiter() {
  local name=$1 cfg=$2 listen
  [[ -x $FTPROXY_ARBITER_BIN ]] || ftp_die "ftproxy-arbiter not found at $FTPROXY_ARBITER_BIN"
  topo_spawn "$name" "$TOPO_NS_M" "$FTPROXY_ARBITER_BIN" --config "$cfg"
  listen=$(sed -n 's/^listen[ \t]*=[ \t]*"\([^"]*\)".*/\1/p' "$cfg" | head -n 1)
  ftp_wait_until 10 topo_exec "$TOPO_NS_M" bash -c "exec 3<>/dev/tcp/${listen%:*}/${listen##*:}" ||
    ftp_die "$name: nothing listens on $listen (see $(topo_log "$name"))"
}

# topo_start_etcd_cluster: a 3-member etcd cluster in the management namespace, on
# TOPO_MGMT_IP ports 2379/2380, 2479/2480, 2579/2580 (spawn names etcd1..etcd3, data in
# the work directory). Sets TOPO_ETCD_ENDPOINTS (comma-separated client URLs) and
# waits until the cluster answers. A member is stopped with `topo_stop etcdN KILL`.
# With TOPO_ETCD_TLS_DIR set (holding ca.pem, server.pem, server.key, client.pem,
# client.key), the client URLs are https and every client must present a certificate
# signed by ca.pem (--client-cert-auth); the peer URLs stay plain http.
topo_start_etcd_cluster() {
  ftp_require_cmd etcd etcdctl
  local i peers="" token="ftp-$TOPO_PFX" scheme=http tls_dir=${TOPO_ETCD_TLS_DIR:-}
  local -a server_tls=() ctl_tls=()
  if [[ -n $tls_dir ]]; then
    scheme=https
    server_tls=(--client-cert-auth --trusted-ca-file "$tls_dir/ca.pem"
      --cert-file "$tls_dir/server.pem" --key-file "$tls_dir/server.key")
    ctl_tls=(--cacert "$tls_dir/ca.pem" --cert "$tls_dir/client.pem" --key "$tls_dir/client.key")
  fi
  TOPO_ETCD_ENDPOINTS=""
  for i in 1 2 3; do
    peers+="${peers:+,}etcd$i=http://$TOPO_MGMT_IP:$((2280 + i * 100))"
    TOPO_ETCD_ENDPOINTS+="${TOPO_ETCD_ENDPOINTS:+,}$scheme://$TOPO_MGMT_IP:$((2279 + i * 100))"
  done
  for i in 1 2 3; do
    local client="$scheme://$TOPO_MGMT_IP:$((2279 + i * 100))" peer="http://$TOPO_MGMT_IP:$((2280 + i * 100))"
    topo_spawn "etcd$i" "$TOPO_NS_M" etcd --name "etcd$i" --data-dir "$TOPO_DIR/etcd$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$peers" --initial-cluster-token "$token" --initial-cluster-state new \
      --heartbeat-interval 50 --election-timeout 500 "${server_tls[@]}"
  done
  ftp_wait_until 20 topo_exec "$TOPO_NS_M" env ETCDCTL_API=3 etcdctl --endpoints "$TOPO_ETCD_ENDPOINTS" \
    "${ctl_tls[@]}" --command-timeout=1s endpoint health --cluster ||
    ftp_die "etcd cluster did not become healthy (see $(topo_log etcd1))"
}

# topo_cleanup: EXIT trap. Stops processes (reverse start order), kills anything left
# inside our namespaces, deletes them and the work directory (kept when the run
# failed and TOPO_KEEP_ON_FAILURE=1, or always with TOPO_KEEP=1).
topo_cleanup() {
  local rc=$?
  ((TOPO_CLEANED)) && return "$rc"
  TOPO_CLEANED=1
  set +e
  trap - INT TERM
  local i name ns pid
  # Show the processes' logs when the run failed (not when it was interrupted).
  if ((rc != 0 && rc != 130 && rc != 143)) && [[ -d ${TOPO_DIR:-} ]]; then
    for name in "${TOPO_SPAWN_ORDER[@]}"; do
      [[ -s $TOPO_DIR/$name.log ]] || continue
      echo "----- last lines of $name.log -----" >&2
      tail -n 30 "$TOPO_DIR/$name.log" >&2
    done
  fi
  for ((i = ${#TOPO_SPAWN_ORDER[@]} - 1; i >= 0; i--)); do
    topo_stop "${TOPO_SPAWN_ORDER[i]}" TERM 3 || true
  done
  for ((i = ${#TOPO_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ns=${TOPO_NAMESPACES[i]}
    # Anything still inside one of our namespaces was started by this run.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || ftp_log "could not delete namespace $ns"
  done
  if [[ -d ${TOPO_DIR:-} ]]; then
    if [[ ${TOPO_KEEP:-0} == 1 ]] || { ((rc != 0)) && [[ ${TOPO_KEEP_ON_FAILURE:-0} == 1 ]]; }; then
      ftp_log "kept work directory $TOPO_DIR"
    else
      rm -rf "$TOPO_DIR"
    fi
  fi
  return "$rc"
}
