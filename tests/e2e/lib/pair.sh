# The replicated pair on top of topology.sh: configs derived from the shipped examples
# (configs/primary.toml, configs/backup.toml, configs/arbiter.toml) and helpers to start
# the arbiter, both server copies and both proxies, and to read their state.
# Source after topology.sh; call pair_setup after topo_init.
# shellcheck shell=bash disable=SC2034

# pair_write_config ROLE OUT [KEY=VALUE...]: the example config for ROLE (primary|backup)
# with this topology's addresses. Extra KEY=VALUE pairs (section.key=raw TOML value)
# override further keys, e.g. failover.timeout_ms=100.
pair_write_config() {
  local role=$1 out=$2
  shift 2
  local example="$FTP_REPO_ROOT/configs/$role.toml" name log_ep
  [[ -r $example ]] || ftp_die "missing example config $example"
  if [[ $role == primary ]]; then name=p1; else name=p2; fi
  local -a kv=(
    "node.cluster=\"e2e-$TOPO_PFX\""
    "control.listen=\"127.0.0.1:$TOPO_CONTROL_PORT\""
    "service.ips=[\"$TOPO_SERVICE_IP\"]"
    "service.mac=\"$TOPO_SERVICE_MAC\""
    "arbiter.endpoints=[\"$TOPO_MGMT_IP:7500\"]"
  )
  if [[ $role == primary ]]; then kv+=("log.peer=\"$TOPO_LOG_IP2:7600\""); else kv+=("log.listen=\"$TOPO_LOG_IP2:7600\""); fi
  # The examples authenticate the log channel: both proxies share one key per run
  # (PAIR_LOG_KEY=0, or log.key_file="" as an override, runs an unauthenticated pair).
  if [[ ${PAIR_LOG_KEY:-1} == 1 ]]; then
    pair_log_key "$TOPO_DIR/log.key"
    kv+=("log.key_file=\"$TOPO_DIR/log.key\"")
  else
    kv+=('log.key_file=""')
  fi
  # The embedded arbiter refuses unsigned requests: the proxies get the run's arbiter
  # key (topo_arbiter_key); an etcd pair has no use for it (etcd: user or certificate).
  if [[ " $* " == *'arbiter.backend="etcd"'* ]]; then
    kv+=('arbiter.key_file=""')
  else
    kv+=("arbiter.key_file=\"$(topo_arbiter_key)\"")
  fi
  kv+=("$@")
  local spec
  spec=$(printf '%s\n' "${kv[@]}")
  SPEC="$spec" awk '
    BEGIN {
      n = split(ENVIRON["SPEC"], lines, "\n")
      for (i = 1; i <= n; i++) {
        if (lines[i] == "") continue
        eq = index(lines[i], "="); full = substr(lines[i], 1, eq - 1); val = substr(lines[i], eq + 1)
        dot = index(full, "."); sec = substr(full, 1, dot - 1); key = substr(full, dot + 1)
        want[sec, key] = val; order[++m] = sec SUBSEP key
      }
    }
    function flush_section(   k, parts) {
      for (k in want) { split(k, parts, SUBSEP); if (parts[1] == section && !((k) in done)) { print parts[2] " = " want[k]; done[k] = 1 } }
    }
    /^\[/ { flush_section(); section = substr($0, 2, index($0, "]") - 2); print; next }
    {
      line = $0; key = line; sub(/[ \t]*=.*/, "", key)
      if ((section, key) in want && !((section, key) in done)) { print key " = " want[section, key]; done[section, key] = 1; next }
      print
    }
    END {
      flush_section()
      # Keys of sections the example does not have: one new table per section.
      for (k in want) if (!(k in done)) { split(k, parts, SUBSEP); extra[parts[1]] = extra[parts[1]] parts[2] " = " want[k] "\n" }
      for (sec in extra) printf "[%s]\n%s", sec, extra[sec]
    }
  ' "$example" >"$out" || ftp_die "cannot derive a config from $example"
}

# pair_log_key FILE: a log channel key (64 hex digits, mode 0600) unless FILE exists.
pair_log_key() {
  [[ -s $1 ]] && return 0
  (umask 077 && openssl rand -hex 32 >"$1") || ftp_die "cannot create the log key $1"
}

# pair_setup: topology, arbiter, two redis-servers (S1, S2). Configs in $TOPO_DIR.
pair_setup() {
  topo_pair
  topo_write_arbiter_config "$TOPO_DIR/arbiter.toml"
  topo_start_arbiter arbiter "$TOPO_DIR/arbiter.toml"
  topo_start_redis redis1 "$TOPO_NS_S1"
  topo_start_redis redis2 "$TOPO_NS_S2"
}

# pair_start_proxies [KEY=VALUE...]: backup first (it listens), then the primary; waits
# until the primary reports its log channel connected.
pair_start_proxies() {
  pair_write_config backup "$TOPO_DIR/backup.toml" "$@"
  pair_write_config primary "$TOPO_DIR/primary.toml" "$@"
  topo_start_proxy backup "$TOPO_NS_P2" "$TOPO_DIR/backup.toml"
  topo_start_proxy primary "$TOPO_NS_P1" "$TOPO_DIR/primary.toml"
  ftp_wait_until 10 pair_log_connected "$TOPO_NS_P1" || {
    cat "$(topo_log primary)" "$(topo_log backup)" >&2
    ftp_die "log channel did not connect"
  }
}

# pair_expect_backend BACKEND: both proxies logged opening both ports with BACKEND (a
# test parameterised by backend proves it ran on the one it asked for). On failure sets
# PAIR_BACKEND_ERROR and returns 1.
pair_expect_backend() {
  local who p
  for who in primary backup; do
    for p in ext int; do
      grep -q "port opened port=$p .*backend=$1" "$(topo_log "$who")" || {
        PAIR_BACKEND_ERROR="$who did not open port $p with backend $1: $(grep 'port opened' "$(topo_log "$who")")"
        return 1
      }
    done
  done
}

pair_log_connected() { topo_status "$1" | jq -e '.log.connected == true' >/dev/null 2>&1; }

# pair_state NS: the proxy's state ("primary", "backup", "live", ...), or "down".
pair_state() { topo_status "$1" 2>/dev/null | jq -r '.state' 2>/dev/null || echo down; }

# pair_wait_state NS STATE SECONDS
pair_wait_state() {
  local ns=$1 want=$2 secs=$3
  ftp_wait_until "$secs" bash -c "[[ \$(ip netns exec $ns curl -sf --max-time 1 http://127.0.0.1:$TOPO_CONTROL_PORT/status | jq -r .state) == $want ]]"
}

# pair_redis_digest NS: DEBUG DIGEST of the redis-server in a server namespace.
pair_redis_digest() { topo_exec "$1" redis-cli -h "$TOPO_SERVICE_IP" -p "$TOPO_REDIS_PORT" DEBUG DIGEST; }

# pair_client CMD...: run a command in the client namespace.
pair_client() { topo_exec "$TOPO_NS_C" "$@"; }
