#!/usr/bin/env bash
# Long fuzzing run (not in CI; CI replays the corpus and runs a 20 s smoke, see
# scripts/run-tests.sh). Builds the libFuzzer targets fuzz_* in build-fuzz/ (clang,
# -Dfuzz=true), runs each for FTP_FUZZ_SECONDS (600) with an input size bound fitted to
# the target, merges the inputs that add coverage into tests/fuzz/corpus/<target>/
# (libFuzzer -merge=1 on edge coverage: only inputs reaching new code are kept) and reports per target:
# runs, execs/s, peak RSS, new corpus files, crashes (crash/leak/timeout/oom artifacts;
# zero expected). Exits 1 if any target crashed or failed to run.
#
# Usage: bash scripts/fuzz-long.sh [TARGET...]      (default: every fuzz_* target)
#   FTP_FUZZ_SECONDS=600  run time per target
#   FTP_FUZZ_JOBS=2       targets run in parallel (one core each)
#   FTP_FUZZ_MERGE=1      0 = do not touch the repository's corpus
#   FTP_FUZZ_BUILD_DIR    the clang build (default build-fuzz/, shared with run-tests.sh)
# Artifacts (crashing inputs) and logs: $FTP_FUZZ_BUILD_DIR/fuzz-long/.
set -uo pipefail

source "$(dirname "$0")/lib/common.sh"
cd "$FTP_REPO_ROOT" || exit 1

case ${1:-} in -h | --help) sed -n '2,17p' "$0"; exit 0 ;; esac
SECONDS_PER_TARGET=${FTP_FUZZ_SECONDS:-600}
JOBS=${FTP_FUZZ_JOBS:-2}
MERGE=${FTP_FUZZ_MERGE:-1}
OUT_DIR="$FTP_FUZZ_BUILD_DIR/fuzz-long"

# max_len per target: a frame up to a 9000-byte jumbo payload plus Ethernet and two
# VLAN tags; a log stream of a few records of up to the fuzz target's 4096-byte payload;
# a config file a few times the size of the shipped examples (about 2 KB).
max_len_of() {
  case $1 in
    fuzz_frame) echo 9022 ;;
    fuzz_log_codec) echo 16384 ;;
    fuzz_config) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

corpus_of() { echo "tests/fuzz/corpus/${1#fuzz_}"; }

ftp_require_cmd clang++ meson ninja jq
if [[ ! -f $FTP_FUZZ_BUILD_DIR/meson-private/coredata.dat ]]; then
  CC=clang CXX=clang++ meson setup "$FTP_FUZZ_BUILD_DIR" -Dfuzz=true -Ddpdk=disabled \
    --buildtype=debugoptimized >/dev/null || ftp_die "meson setup $FTP_FUZZ_BUILD_DIR failed"
fi
mapfile -t all_targets < <(meson introspect "$FTP_FUZZ_BUILD_DIR" --targets |
  jq -r '.[] | select(.type == "executable" and (.name | startswith("fuzz_"))) | "\(.name)\t\(.filename[0])"')
((${#all_targets[@]} > 0)) || ftp_die "no fuzz_* targets in $FTP_FUZZ_BUILD_DIR"

declare -A BIN=()
for t in "${all_targets[@]}"; do BIN[${t%%$'\t'*}]=${t#*$'\t'}; done
if (($#)); then targets=("$@"); else mapfile -t targets < <(printf '%s\n' "${!BIN[@]}" | sort); fi
ninja_targets=()
for name in "${targets[@]}"; do
  [[ -n ${BIN[$name]:-} ]] || ftp_die "unknown fuzz target $name (have: ${!BIN[*]})"
  ninja_targets+=("${BIN[$name]#"$FTP_FUZZ_BUILD_DIR"/}")
done
ftp_log "building ${targets[*]}"
ninja -C "$FTP_FUZZ_BUILD_DIR" "${ninja_targets[@]}" >/dev/null || ftp_die "fuzz build failed"

mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/ftproxy-fuzz-long.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# run_one NAME: fuzz, then merge; writes $WORK/NAME.result ("key value" lines).
run_one() {
  local name=$1 bin=${BIN[$1]} corpus max_len log rc before after crashes
  corpus=$(corpus_of "$name")
  max_len=$(max_len_of "$name")
  log="$OUT_DIR/$name.log"
  mkdir -p "$corpus" "$WORK/$name.new"
  rm -f "$OUT_DIR/$name-"{crash,leak,timeout,oom,slow-unit}-*
  before=$(find "$corpus" -type f | wc -l)
  # New inputs go to a scratch folder (the first one); the corpus is only read here.
  timeout -k 30 $((SECONDS_PER_TARGET + 120)) "$bin" -max_total_time="$SECONDS_PER_TARGET" \
    -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT_DIR/$name-" "$WORK/$name.new" "$corpus" >"$log" 2>&1
  rc=$?
  crashes=$(find "$OUT_DIR" -maxdepth 1 -name "$name-*" \( -name "*crash-*" -o -name "*leak-*" \
    -o -name "*timeout-*" -o -name "*oom-*" \) | wc -l)
  if ((MERGE)) && ((rc == 0)); then
    # Edge coverage only (-use_counters=0): an input joins the committed corpus when it
    # reaches code no corpus file reaches, not merely a new hit count (about half the files).
    "$bin" -merge=1 -use_counters=0 -max_len="$max_len" -timeout=10 "$corpus" "$WORK/$name.new" \
      >"$OUT_DIR/$name.merge.log" 2>&1 ||
      ftp_log "$name: merge failed (see $OUT_DIR/$name.merge.log)"
  fi
  after=$(find "$corpus" -type f | wc -l)
  {
    echo "rc $rc"
    echo "crashes $crashes"
    echo "runs $(awk '/stat::number_of_executed_units:/ { print $2 }' "$log")"
    echo "execs_per_sec $(awk '/stat::average_exec_per_sec:/ { print $2 }' "$log")"
    echo "peak_rss_mb $(awk '/stat::peak_rss_mb:/ { print $2 }' "$log")"
    echo "found $(find "$WORK/$name.new" -type f | wc -l)"
    echo "corpus_before $before"
    echo "corpus_after $after"
    echo "corpus_kb $(du -sk "$corpus" | cut -f1)"
  } >"$WORK/$name.result"
}

ftp_log "fuzzing ${#targets[@]} target(s) for ${SECONDS_PER_TARGET}s each, $JOBS at a time"
for name in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n; done
  ftp_log "start $name (max_len $(max_len_of "$name"), corpus $(corpus_of "$name"))"
  run_one "$name" &
done
wait

get() { awk -v k="$2" '$1 == k { print $2 }' "$WORK/$1.result" 2>/dev/null; }
failed=0
printf '%-16s %8s %12s %10s %8s %14s %8s %s\n' target seconds runs execs/s rss_mb "corpus(+new)" crashes result
for name in "${targets[@]}"; do
  rc=$(get "$name" rc) crashes=$(get "$name" crashes)
  result=ok
  if [[ $rc != 0 || $crashes != 0 ]]; then
    result="FAIL (exit ${rc:-?}; log $OUT_DIR/$name.log)"
    failed=1
  fi
  printf '%-16s %8s %12s %10s %8s %14s %8s %s\n' "$name" "$SECONDS_PER_TARGET" "$(get "$name" runs)" \
    "$(get "$name" execs_per_sec)" "$(get "$name" peak_rss_mb)" \
    "$(get "$name" corpus_after)(+$(($(get "$name" corpus_after) - $(get "$name" corpus_before))))" \
    "${crashes:-?}" "$result"
done
exit "$failed"
