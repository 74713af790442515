# Shared by scripts/replay.sh (the replay harness) and tests/replay/make-captures.sh
# (the capture generator): read a case folder's case.toml and start/query the case's
# server inside a namespace. Source after tests/e2e/lib/topology.sh.
# docs/replay-testing.md describes the case folder.
# shellcheck shell=bash disable=SC2034  # RC_* variables are for the sourcing scripts

RP_CLIENT="$FTP_REPO_ROOT/scripts/lib/replay_client.py"

# rp_load_case DIR [--allow-missing-capture]: validate DIR/case.toml and set the RC_*
# variables (see replay_client.py case-env); RC_DIR is the case folder, RC_NAME its name.
rp_load_case() {
  local dir env
  dir=$(cd "$1" 2>/dev/null && pwd) || ftp_die "no case folder $1"
  env=$("$FTP_PYTHON" "$RP_CLIENT" case-env "$dir" ${2:+"$2"}) || ftp_die "invalid case $dir"
  eval "$env"
  RC_DIR=$dir
  RC_NAME=$(basename "$dir")
}

# rp_server_env SERVER_DIR: the environment a case's server and state commands see.
rp_server_env() {
  printf '%s\n' "REPLAY_IP=$TOPO_SERVICE_IP" "REPLAY_PORT=$RC_PORT" "REPLAY_CASE_DIR=$RC_DIR" \
    "REPLAY_SERVER_DIR=$1" "REPLAY_PYTHON=$FTP_PYTHON"
}

# rp_start_server NAME NS: the case's server command in namespace NS, in the foreground
# (topo_spawn), working directory a fresh $TOPO_DIR/NAME.d; waits until it listens.
rp_start_server() {
  local name=$1 ns=$2 sdir="$TOPO_DIR/$1.d"
  local -a env
  mkdir -p "$sdir"
  mapfile -t env < <(rp_server_env "$sdir")
  topo_spawn "$name" "$ns" env "${env[@]}" bash -c "cd \"\$REPLAY_SERVER_DIR\" && $RC_SERVER"
  ftp_wait_until 15 rp_listening "$ns" || {
    cat "$(topo_log "$name")" >&2
    ftp_die "$RC_NAME: the server in $ns does not listen on $RC_TRANSPORT port $RC_PORT"
  }
}

# rp_listening NS: something listens on the case's port in NS (ss; no packet sent, so the
# server sees nothing a copy in another namespace would not see too).
rp_listening() {
  local flag=-Hltn
  [[ $RC_TRANSPORT == udp ]] && flag=-Hlun
  [[ -n $(ip netns exec "$1" ss "$flag" "sport = :$RC_PORT") ]]
}

# rp_state NS NAME: run the case's state command against the server copy in NS (its
# output on stdout; empty when the case has none).
rp_state() {
  local ns=$1 name=$2
  local -a env
  [[ -n $RC_STATE ]] || return 0
  mapfile -t env < <(rp_server_env "$TOPO_DIR/$name.d")
  ip netns exec "$ns" env "${env[@]}" timeout 20 bash -c "$RC_STATE"
}
