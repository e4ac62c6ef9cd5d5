#!/usr/bin/env bash
# Runs every test suite of cdc-sentinel, each in its own step, all of them even after a
# failure, and closes with one "N passed, N failed" line. Installs missing tools first
# (scripts/deps.sh, needs root) unless CDC_SENTINEL_NO_DEPS=1.
#
#   ./scripts/test.sh              # everything
#   ./scripts/test.sh rust alerts  # only these steps
#
# Steps: lint rust fuzz alerts prometheus probes container real-connect
# (fuzz: every parser under cargo-fuzz for CDC_SENTINEL_FUZZ_SECONDS each, default 15)
set -uo pipefail
cd "$(dirname "$0")/.."

[ "${CDC_SENTINEL_NO_DEPS:-0}" = 1 ] || bash scripts/deps.sh || { echo "test.sh: installing the test tools failed" >&2; exit 2; }

all=(lint rust fuzz alerts prometheus probes container real-connect)
steps=("$@")
((${#steps[@]})) || steps=("${all[@]}")

passed=0
failed=0
failures=()
run_step() {
  local name=$1
  shift
  local t0=$SECONDS
  echo
  echo "=== $name: $*"
  if "$@"; then
    echo "=== $name: ok ($((SECONDS - t0))s)"
    passed=$((passed + 1))
  else
    echo "=== $name: FAILED ($((SECONDS - t0))s)"
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

lint() {
  cargo fmt --all -- --check && cargo clippy --workspace --all-targets --quiet -- -D warnings \
    && cargo clippy --no-default-features --bin cdc-sentinel --quiet -- -D warnings
}

for s in "${steps[@]}"; do
  case "$s" in
    lint) run_step lint lint ;;
    rust) run_step rust cargo test --workspace --all-targets ;;
    fuzz) run_step fuzz bash scripts/fuzz.sh "${CDC_SENTINEL_FUZZ_SECONDS:-15}" ;;
    alerts) run_step alerts bash alerts/check.sh ;;
    prometheus) run_step prometheus bash tests/e2e/prometheus/run.sh ;;
    probes)
      run_step probes bash tests/db/run.sh
      run_step tns bash tests/tns/run.sh
      ;;
    container) run_step container bash tests/container/run.sh ;;
    real-connect) run_step real-connect bash tests/e2e/real-connect/run.sh ;;
    *) echo "test.sh: unknown step '$s' (steps: ${all[*]})" >&2; exit 2 ;;
  esac
done

echo
((failed)) && echo "failed steps: ${failures[*]}"
echo "test.sh: $passed passed, $failed failed"
((failed == 0))
