#!/usr/bin/env bash
# The real-connect end-to-end suite, as CI runs it:
#   1. install.sh        the parts (cached in $CDC_SENTINEL_E2E_CACHE, default ~/.cache/cdc-sentinel-e2e)
#   2. cargo build       the agent, unless CDC_SENTINEL_BIN points at a binary already
#   3. scenarios.py      every scenario against a real Kafka Connect worker (args are passed on,
#                        e.g. `run.sh --only 3`)
#   4. fleet.py          an agent beside each worker of a two-worker Connect cluster sharing
#                        --state-store; a worker and its agent killed mid-recovery (skip with
#                        CDC_SENTINEL_E2E_FLEET=0)
# Set CDC_SENTINEL_E2E_SMOKE=1 to run smoke.py (the environment alone, no agent) first.
# Exits non-zero, with a line saying which step, on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
step() { printf '\n==== real-connect: %s\n' "$*"; }
fail() { printf '\nreal-connect e2e FAILED at step: %s\n' "$*" >&2; exit 1; }

step "install the parts"
bash "$HERE/install.sh" || fail "install.sh (a part could not be installed; see the message above)"

if [[ -z "${CDC_SENTINEL_BIN:-}" ]]; then
  step "cargo build (set CDC_SENTINEL_BIN to skip)"
  (cd "$REPO" && cargo build --quiet --bin cdc-sentinel) || fail "cargo build of cdc-sentinel"
  export CDC_SENTINEL_BIN="$REPO/target/debug/cdc-sentinel"
fi

if [[ "${CDC_SENTINEL_E2E_SMOKE:-0}" == 1 ]]; then
  step "smoke run of the environment alone"
  python3 "$HERE/smoke.py" || fail "smoke.py (the real environment itself misbehaved; see the worker log above)"
fi

step "scenarios against $CDC_SENTINEL_BIN"
python3 "$HERE/scenarios.py" "$@" || fail "scenarios.py (see the FAIL lines and log tails above)"

if [[ "${CDC_SENTINEL_E2E_FLEET:-1}" == 1 ]]; then
  step "the fleet: an agent beside each of two workers, one state store"
  python3 "$HERE/fleet.py" || fail "fleet.py (see the FAIL line and log tails above)"
fi
printf '\nreal-connect e2e: all scenarios passed\n'
