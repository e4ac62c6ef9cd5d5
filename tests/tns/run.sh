#!/usr/bin/env bash
# Proves the scripted TNS listener of tests/it/ faithful with an independent real Oracle client,
# python-oracledb in thin mode (pure Python, no Oracle libraries): it must raise against the
# scripted listener what real listeners make it raise, and the listener must parse the CONNECT
# packets it sends the way tests/tns/VECTORS.txt records them.
#
# Installs oracledb with pip (into a venv under target/) if the chosen Python lacks it.
# Usage: tests/tns/run.sh            (PYTHON=python3.12 tests/tns/run.sh to pick an interpreter)
# Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import oracledb' 2>/dev/null; then
    venv=${CARGO_TARGET_DIR:-target}/tns-venv
    if [ ! -x "$venv/bin/python" ]; then
        echo "run.sh: creating $venv with python-oracledb" >&2
        "$PYTHON" -m venv "$venv"
    fi
    "$venv/bin/python" -c 'import oracledb' 2>/dev/null \
        || "$venv/bin/python" -m pip install --quiet 'oracledb>=2.5'
    PYTHON=$venv/bin/python
fi
echo "run.sh: using $("$PYTHON" -c 'import oracledb, sys; print(sys.executable, "oracledb", oracledb.__version__)')" >&2

CDC_SENTINEL_PYTHON=$PYTHON cargo test --test it probe_oracledb -- --ignored --nocapture
