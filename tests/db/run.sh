#!/usr/bin/env bash
# Real PostgreSQL and MariaDB servers against `cdc-sentinel probe`, each outcome compared with
# what pg_isready / mysqladmin ping say about the same server at the same moment.
#
# Servers come from Debian packages (installed if missing and we are root), run as user `nobody`
# from a temp dir on free 127.0.0.1 ports, and are stopped by PID on exit.
#
# Usage: tests/db/run.sh            (KEEP=1 keeps the temp dir with the server logs)
# Exit 0 when every probe outcome is the expected one, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

if [ "$(id -u)" = 0 ]; then
    need=()
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
    [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server mariadb-client)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
MYADMIN=$(command -v mariadb-admin || command -v mysqladmin)
MYCLI=$(command -v mariadb || command -v mysql)

cargo build --quiet --bin cdc-sentinel
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/debug/cdc-sentinel")

WORK=$(mktemp -d /tmp/cdcs-db.XXXXXX)
chmod 755 "$WORK"
if [ "$(id -u)" = 0 ]; then
    chown nobody "$WORK"
    as_db() { runuser -u nobody -- "$@"; }
else
    as_db() { "$@"; }
fi

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # tries command...
    local tries=$1; shift
    for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}

FAIL=0
ROWS=()
# check NAME URL WANT_EXIT WANT_REASON REF_NAME WANT_REF_EXIT REF_CMD...
check() {
    local name=$1 url=$2 want=$3 reason=$4 refname=$5 wantref=$6; shift 6
    local out code ref
    set +e
    out=$("$BIN" probe "$url" --timeout 3s 2>&1); code=$?
    "$@" >"$WORK/ref.out" 2>&1; ref=$?
    set -e
    local ok=ok
    if [ "$code" != "$want" ] || ! grep -q "reason=$reason " <<<"$out "; then ok=FAIL; FAIL=1; fi
    if [ "$ref" != "$wantref" ]; then ok=FAIL; FAIL=1; fi
    ROWS+=("$(printf '%-4s %-34s probe exit %s (want %s) %-22s | %s exit %s (want %s): %s' \
        "$ok" "$name" "$code" "$want" "reason=$(grep -o 'reason=[a-z_]*' <<<"$out" | head -1 | cut -d= -f2)" \
        "$refname" "$ref" "$wantref" "$(head -1 "$WORK/ref.out")")")
    echo "== $name"
    echo "$out"
    echo "   $refname: exit $ref: $(head -1 "$WORK/ref.out")"
}

# ---------------------------------------------------------------- PostgreSQL
PGPORT=$(free_port)
PGDATA=$WORK/pg
mkdir -p "$WORK/pgsock" && chown --reference="$WORK" "$WORK/pgsock"
as_db "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >"$WORK/initdb.log"
pg_start() { # extra -c options
    as_db "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w -t 30 start \
        -o "-p $PGPORT -k $WORK/pgsock -c listen_addresses=127.0.0.1 -c log_connections=on -c log_disconnections=on $*" >/dev/null
    PGPID=$(head -1 "$PGDATA/postmaster.pid")
    PIDS+=("$PGPID")
}
pg_wait_gone() { for _ in $(seq 100); do kill -0 "$PGPID" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
psql_() { "$PGBIN/psql" -X -q -h "$WORK/pgsock" -p "$PGPORT" -U postgres -d postgres "$@"; }
PGURL=postgres://127.0.0.1:$PGPORT
ISREADY=("$PGBIN/pg_isready" -h 127.0.0.1 -p "$PGPORT" -t 3)

pg_start
check "postgres up (scram)" "$PGURL" 0 ok pg_isready 0 "${ISREADY[@]}"

echo "== latency, postgres up"
"$BIN" probe "$PGURL" --count 20 --interval 20ms | tail -1 | tee "$WORK/pg-latency.txt"

# A role that trust lets in: the probe logs in, reads server_version, sends Terminate.
psql_ -c "CREATE ROLE cdc_sentinel LOGIN" >/dev/null
sed -i "1i host all cdc_sentinel 127.0.0.1/32 trust" "$PGDATA/pg_hba.conf"
psql_ -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
check "postgres up (trust login)" "$PGURL" 0 ok pg_isready 0 "${ISREADY[@]}"
sleep 0.3
left=$(psql_ -tA -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cdc-sentinel'")
if [ "$left" != 0 ]; then echo "FAIL: $left probe sessions left behind"; FAIL=1; fi
ROWS+=("$( [ "$left" = 0 ] && echo ok || echo FAIL)   postgres: probe sessions left behind: $left")

# Smart shutdown waiting for a client: new connections get 57P03.
"$PGBIN/psql" -X -q -h "$WORK/pgsock" -p "$PGPORT" -U postgres -d postgres -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
PIDS+=($!)
sleeper() { psql_ -tA -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'"; }
has_sleeper() { [ -n "$(sleeper)" ]; }
wait_for 50 has_sleeper
BACKEND=$(sleeper)
as_db "$PGBIN/pg_ctl" -D "$PGDATA" -m smart -W stop >/dev/null
wait_for 50 grep -q "received smart shutdown request" "$WORK/pg.log"
check "postgres smart shutdown, 1 client" "$PGURL" 1 starting_up pg_isready 1 "${ISREADY[@]}"
kill "$BACKEND"   # the client's backend ends; the smart shutdown completes
pg_wait_gone

# Full: max_connections taken by sessions that are still running.
pg_start -c max_connections=3 -c superuser_reserved_connections=0
for _ in 1 2 3; do
    "$PGBIN/psql" -X -q -h "$WORK/pgsock" -p "$PGPORT" -U postgres -d postgres -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
    PIDS+=($!)
done
sleep 1.5
check "postgres full (53300)" "$PGURL" 1 too_many_connections pg_isready 0 "${ISREADY[@]}"
as_db "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null   # ends the sessions too
pg_wait_gone
check "postgres stopped" "$PGURL" 1 refused pg_isready 2 "${ISREADY[@]}"
echo "== what PostgreSQL logged (log_connections=on, log_disconnections=on), by kind"
grep -E "connection received|connection authorized|disconnection|FATAL" "$WORK/pg.log" \
    | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //; s/port=[0-9]+/port=N/g; s/session time: [0-9:.]+/session time: T/' \
    | sort | uniq -c | sort -rn | head -12

# ---------------------------------------------------------------- MariaDB
MYPORT=$(free_port)
MYDATA=$WORK/my
mariadb-install-db --no-defaults --datadir="$MYDATA" --user=nobody --skip-test-db >"$WORK/install-db.log" 2>&1
my_start() { # extra options
    /usr/sbin/mariadbd --no-defaults --user=nobody --datadir="$MYDATA" --port="$MYPORT" \
        --bind-address=127.0.0.1 --socket="$WORK/my.sock" --pid-file="$WORK/my.pid" \
        --log-error="$WORK/my.err" --skip-log-bin --innodb-buffer-pool-size=16M "$@" &
    MYPID=$!
    PIDS+=("$MYPID")
    wait_for 150 "$MYADMIN" --no-defaults -S "$WORK/my.sock" -u root ping
}
my_stop() { kill "$MYPID"; for _ in $(seq 150); do kill -0 "$MYPID" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
MYURL=mysql://127.0.0.1:$MYPORT
PING=("$MYADMIN" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MYPORT" --connect-timeout=3 ping)

my_start
check "mariadb up" "$MYURL" 0 ok "mysqladmin ping" 0 "${PING[@]}"
echo "== latency, mariadb up"
"$BIN" probe "$MYURL" --count 20 --interval 20ms | tail -1 | tee "$WORK/my-latency.txt"
aborted=$("$MYCLI" --no-defaults -S "$WORK/my.sock" -u root -N -e "SHOW GLOBAL STATUS LIKE 'Aborted_connects'" | cut -f2)
echo "   Aborted_connects after 21 probes: $aborted (access denied for the probe account counts here)"

# Full: max_connections (+1 for SUPER) taken.
my_stop
my_start --max-connections=10
for _ in $(seq 11); do
    "$MYCLI" --no-defaults -S "$WORK/my.sock" -u root -e "SELECT SLEEP(60)" >/dev/null 2>&1 &
    PIDS+=($!)
done
sleep 2
check "mariadb full (1040)" "$MYURL" 1 too_many_connections "mysqladmin ping" 1 "${PING[@]}"
my_stop   # ends the sessions too
check "mariadb stopped" "$MYURL" 1 refused "mysqladmin ping" 1 "${PING[@]}"
echo "== what MariaDB logged for the probe (default log_warnings=2)"
grep -i "cdc_sentinel" "$WORK/my.err" | sed -E 's/^[0-9-]+ +[0-9:]+ +[0-9]+ //' | sort | uniq -c | sort -rn | head -5 || true

if [ "$(id -u)" = 0 ] && unshare -n -m true 2>/dev/null; then
    echo "== mariadb host cache (in network + mount namespaces)"
    while IFS= read -r line; do
        echo "$line"
        case $line in ok*|FAIL*) ROWS+=("$line") ;; esac
        case $line in FAIL*) FAIL=1 ;; esac
    done < <(unshare -n -m tests/db/host_cache.sh "$BIN" "$MYDATA" "$WORK" 2>&1)
else
    ROWS+=("skip mariadb host cache: needs root and unshare -n -m")
fi

echo
echo "== summary (probe vs. the database's own tool)"
printf '%s\n' "${ROWS[@]}"
passed=$(printf '%s\n' "${ROWS[@]}" | grep -c '^ok' || true)
failed=$(printf '%s\n' "${ROWS[@]}" | grep -c '^FAIL' || true)
echo "db-check: $passed passed, $failed failed"
exit $FAIL
