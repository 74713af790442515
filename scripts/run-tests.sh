#!/usr/bin/env bash
# THE test command (CI runs exactly this). Stages, each item counted as one test:
#   build   scripts/setup.sh: packages + build/ with -Dwerror=true          (1 test)
#   unit    meson test --suite unit --suite component                      (1 per meson test)
#   format  clang-format --dry-run --Werror over src/ include/ tests/ C++  (1 test)
#           and the shell scripts with `shellcheck -S warning`            (1 test)
#   fuzz    libFuzzer targets fuzz_* built in build-fuzz/ (clang): each replays
#           its whole corpus once, unmutated                             (1 per target)
#           and is run over it for FTP_FUZZ_SECONDS (20) seconds           (1 per target)
#   e2e     every tests/e2e/test_*.sh as root under `timeout 300`          (1 per script;
#           exit 0 = pass, 77 = skip, anything else = fail)
#   replay  every tests/replay/<case>/ through scripts/replay.sh as root     (1 per case;
#           under `timeout 300`; docs/replay-testing.md)
# Ends with the line "N passed, N failed, N skipped"; exits 1 if anything failed.
#
# Usage: bash scripts/run-tests.sh [--skip-setup] [--only build|unit|format|fuzz|e2e|replay]...
#        FTP_E2E_FILTER=REGEX limits the e2e scripts; FTP_FUZZ_SECONDS sets the fuzz time.
#        FTP_REPLAY_FILTER=REGEX limits the replay cases.
# Logs: build/test-logs/ (shown on failure).
set -uo pipefail

source "$(dirname "$0")/lib/common.sh"
cd "$FTP_REPO_ROOT" || exit 1

SKIP_SETUP=0
declare -A ONLY=()
while (($#)); do
  case $1 in
    --skip-setup) SKIP_SETUP=1 ;;
    --only) ONLY[${2:?--only needs a stage}]=1; shift ;;
    -h | --help) sed -n "2,15p" "$0"; exit 0 ;;
    *) ftp_die "unknown argument: $1" ;;
  esac
  shift
done
FUZZ_SECONDS=${FTP_FUZZ_SECONDS:-20}
E2E_TIMEOUT=${FTP_E2E_TIMEOUT:-300}
REPLAY_TIMEOUT=${FTP_REPLAY_TIMEOUT:-300}
STAGES=(build unit format fuzz e2e replay)

want() { ((${#ONLY[@]} == 0)) || [[ -n ${ONLY[$1]:-} ]]; }

declare -A PASS=() FAIL=() SKIP=()
for s in "${STAGES[@]}"; do PASS[$s]=0 FAIL[$s]=0 SKIP[$s]=0; done
FAILED_NAMES=()

# record STAGE NAME pass|fail|skip [LOG]: count one test; show the log of a failure.
record() {
  local stage=$1 name=$2 result=$3 log=${4:-}
  case $result in
    pass) PASS[$stage]=$((PASS[$stage] + 1)) ;;
    skip) SKIP[$stage]=$((SKIP[$stage] + 1)) ;;
    *)
      FAIL[$stage]=$((FAIL[$stage] + 1))
      FAILED_NAMES+=("$stage/$name")
      if [[ -n $log && -s $log ]]; then
        echo "----- $stage/$name failed; last 80 lines of $log -----"
        tail -n 80 "$log"
        echo "----- end of $stage/$name -----"
      fi
      ;;
  esac
  printf '  %-5s %s/%s\n' "${result^^}" "$stage" "$name"
}

LOG_DIR="$FTP_BUILD_DIR/test-logs"
banner() { echo; echo "=== $* ==="; }

# run_timed STAGE NAME LIMIT LOG CMD...: one e2e script or replay case, CMD run under
# `timeout LIMIT` with its output in LOG; counted as a pass (exit 0), a skip (exit 77; its
# SKIP line is shown) or a failure (anything else; 124 = timed out).
run_timed() {
  local stage=$1 name=$2 limit=$3 log=$4 rc start=$SECONDS
  shift 4
  timeout -k 10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  echo "  ($name: exit $rc after $((SECONDS - start))s, log $log)"
  case $rc in
    0) record "$stage" "$name" pass ;;
    77) record "$stage" "$name" skip; grep -m1 'SKIP' "$log" | sed 's/^/    /' ;;
    124) echo "  TIMEOUT after ${limit}s"; record "$stage" "$name" fail "$log" ;;
    *) record "$stage" "$name" fail "$log" ;;
  esac
}

# ---- build ----
if ((SKIP_SETUP == 0)) && want build; then
  banner "build: scripts/setup.sh"
  mkdir -p "$FTP_BUILD_DIR"
  setup_log=$(mktemp /tmp/ftproxy-setup.XXXXXX.log)
  if bash scripts/setup.sh >"$setup_log" 2>&1; then
    record build setup-and-build pass
  else
    record build setup-and-build fail "$setup_log"
  fi
  mkdir -p "$LOG_DIR"
  mv "$setup_log" "$LOG_DIR/setup.log"
fi
mkdir -p "$LOG_DIR"

# ---- unit + component (meson) ----
if want unit; then
  banner "unit + component: meson test"
  testlog="$FTP_BUILD_DIR/meson-logs/testlog.json"
  rm -f "$testlog"
  meson_log="$LOG_DIR/meson-test.log"
  if [[ ! -f $FTP_BUILD_DIR/build.ninja ]]; then
    record unit meson-test fail
  else
    meson test -C "$FTP_BUILD_DIR" --no-rebuild --print-errorlogs \
      --suite unit --suite component >"$meson_log" 2>&1
    meson_rc=$?
    if [[ -s $testlog ]]; then
      while IFS=$'\t' read -r name result; do
        name=${name##* / }
        case $result in
          OK | EXPECTEDFAIL) record unit "$name" pass ;;
          SKIP) record unit "$name" skip ;;
          *) record unit "$name ($result)" fail ;;
        esac
      done < <(jq -r '[.name, .result] | @tsv' "$testlog")
      # Show meson's own output (it holds the failing tests' error logs) once.
      ((FAIL[unit] == 0)) || tail -n 150 "$meson_log"
    elif grep -q 'No suitable tests defined' "$meson_log"; then
      echo "  (no unit or component tests defined yet)"
    elif ((meson_rc != 0)); then
      record unit meson-test fail "$meson_log"
    fi
  fi
fi

# ---- format ----
if want format; then
  banner "format: clang-format --dry-run --Werror"
  mapfile -d '' cxx_files < <(find src include tests -type f \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cc' -o -name '*.h' \) -print0 2>/dev/null | sort -z)
  fmt_log="$LOG_DIR/format.log"
  if ((${#cxx_files[@]} == 0)); then
    record format clang-format skip
  elif clang-format --dry-run --Werror "${cxx_files[@]}" >"$fmt_log" 2>&1; then
    echo "  ${#cxx_files[@]} files formatted"
    record format clang-format pass
  else
    grep -oE '^[^: ]+\.(cpp|hpp|cc|h):[0-9]+:[0-9]+: (error|warning)' "$fmt_log" | cut -d: -f1 | sort -u |
      sed 's/^/  needs clang-format: /'
    echo "  (fix with clang-format -i FILE...; diagnostics in $fmt_log)"
    record format clang-format fail
  fi
fi

# ---- shell scripts ----
if want format; then
  banner "format: shellcheck -S warning over scripts/, tests/e2e/ and tests/replay/"
  mapfile -d '' sh_files < <(find scripts tests/e2e tests/replay .ci -type f \( -name '*.sh' -o -name run \) -print0 | sort -z)
  sc_log="$LOG_DIR/shellcheck.log"
  if ! command -v shellcheck >/dev/null 2>&1; then
    record format shellcheck skip
  elif shellcheck -S warning -e SC1091 "${sh_files[@]}" >"$sc_log" 2>&1; then
    echo "  ${#sh_files[@]} scripts clean"
    record format shellcheck pass
  else
    record format shellcheck fail "$sc_log"
  fi
fi

# ---- fuzz smoke ----
# The fuzz build configures the whole project with clang and -Dfuzz=true but builds
# only the fuzz_* targets (no DPDK: the targets do not need it).
fuzz_corpus_dir() { # NAME -> seed corpus folder (may not exist)
  local n=$1 short=${1#fuzz_} d
  for d in tests/fuzz/corpus/$n tests/fuzz/corpus/$short tests/fuzz/${n}_corpus tests/fuzz/$short/corpus; do
    [[ -d $d ]] && { echo "$d"; return; }
  done
}
# fuzz_replay BIN DIR LOG: every input of DIR through BIN once, without mutation (file
# arguments: libFuzzer runs each and stops at the first that crashes, leaks or runs past
# 10 s). Fails unless the run exits 0 having executed every file.
fuzz_replay() {
  local bin=$1 dir=$2 log=$3 files=()
  mapfile -d '' files < <(find "$dir" -type f -print0 | sort -z)
  ((${#files[@]} > 0)) || return 0
  timeout -k 10 300 "$bin" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$LOG_DIR/$(basename "$bin")-corpus-" "${files[@]}" >"$log" 2>&1 || return 1
  local ran
  ran=$(grep -c '^Executed ' "$log")
  echo "  $(basename "$bin"): replayed $ran/${#files[@]} corpus inputs"
  ((ran == ${#files[@]}))
}
if want fuzz; then
  banner "fuzz: libFuzzer corpus replay, then ${FUZZ_SECONDS}s smoke per target"
  if [[ ! -f tests/fuzz/meson.build ]]; then
    echo "  (tests/fuzz/meson.build not present: no fuzz targets)"
  else
    fuzz_log="$LOG_DIR/fuzz-build.log"
    # An existing build-fuzz/ was set up by this block (it reconfigures itself on change).
    if [[ ! -f $FTP_FUZZ_BUILD_DIR/meson-private/coredata.dat ]]; then
      CC=clang CXX=clang++ meson setup "$FTP_FUZZ_BUILD_DIR" -Dfuzz=true -Ddpdk=disabled \
        --buildtype=debugoptimized >"$fuzz_log" 2>&1
    else
      : >"$fuzz_log"
    fi
    mapfile -t fuzz_targets < <(meson introspect "$FTP_FUZZ_BUILD_DIR" --targets 2>>"$fuzz_log" |
      jq -r '.[] | select(.type == "executable" and (.name | startswith("fuzz_"))) | "\(.name)\t\(.filename[0])"')
    if ((${#fuzz_targets[@]} == 0)); then
      record fuzz configure-or-discover fail "$fuzz_log"
    else
      ninja_targets=()
      for t in "${fuzz_targets[@]}"; do ninja_targets+=("${t#*$'\t'"$FTP_FUZZ_BUILD_DIR"/}"); done
      if ! ninja -C "$FTP_FUZZ_BUILD_DIR" -j "$(nproc)" "${ninja_targets[@]}" >>"$fuzz_log" 2>&1; then
        record fuzz build fail "$fuzz_log"
      else
        for t in "${fuzz_targets[@]}"; do
          name=${t%%$'\t'*} bin=${t#*$'\t'}
          seeds=$(fuzz_corpus_dir "$name")
          if [[ -n $seeds ]]; then
            replay_log="$LOG_DIR/$name-corpus.log"
            if fuzz_replay "$bin" "$seeds" "$replay_log"; then
              record fuzz "$name-corpus" pass
            else
              record fuzz "$name-corpus" fail "$replay_log"
            fi
          fi
          work=$(mktemp -d "/tmp/ftproxy-fuzz-$name.XXXXXX")
          log="$LOG_DIR/$name.log"
          # New inputs go to a scratch folder, never into the repository's corpus.
          if timeout -k 10 $((FUZZ_SECONDS + 60)) "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
            -print_final_stats=1 -artifact_prefix="$LOG_DIR/$name-" "$work" ${seeds:+"$seeds"} >"$log" 2>&1; then
            record fuzz "$name" pass
          else
            record fuzz "$name" fail "$log"
          fi
          rm -rf "$work"
        done
      fi
    fi
  fi
fi

# ---- end-to-end ----
if want e2e; then
  banner "e2e: tests/e2e/test_*.sh (timeout ${E2E_TIMEOUT}s each)"
  for t in tests/e2e/test_*.sh; do
    [[ -f $t ]] || continue
    name=$(basename "$t" .sh)
    [[ -z ${FTP_E2E_FILTER:-} || $name =~ $FTP_E2E_FILTER ]] || continue
    run_timed e2e "$name" "$E2E_TIMEOUT" "$LOG_DIR/e2e-$name.log" bash "$t"
  done
fi

# ---- replay cases ----
# Each tests/replay/<case>/ folder (case.toml + capture) is one test: scripts/replay.sh
# runs it without and with a failover and checks its expectations (0 pass, 77 skip).
if want replay; then
  banner "replay: tests/replay/*/ through scripts/replay.sh (timeout ${REPLAY_TIMEOUT}s each)"
  for d in tests/replay/*/; do
    [[ -f $d/case.toml ]] || continue
    name=$(basename "$d")
    [[ -z ${FTP_REPLAY_FILTER:-} || $name =~ $FTP_REPLAY_FILTER ]] || continue
    run_timed replay "$name" "$REPLAY_TIMEOUT" "$LOG_DIR/replay-$name.log" \
      bash scripts/replay.sh --out "$LOG_DIR/replay" "$d"
  done
fi

# ---- summary ----
banner "summary"
tp=0 tf=0 ts=0
for s in "${STAGES[@]}"; do
  printf '  %-7s %3d passed, %3d failed, %3d skipped\n' "$s" "${PASS[$s]}" "${FAIL[$s]}" "${SKIP[$s]}"
  tp=$((tp + PASS[$s])) tf=$((tf + FAIL[$s])) ts=$((ts + SKIP[$s]))
done
for n in "${FAILED_NAMES[@]}"; do echo "  FAILED: $n"; done
echo "$tp passed, $tf failed, $ts skipped"
((tf == 0))
