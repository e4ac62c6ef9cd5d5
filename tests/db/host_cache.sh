#!/usr/bin/env bash
# Run by tests/db/run.sh inside fresh network and mount namespaces (unshare -n -m): checks that the MySQL
# probe does not get its host blocked by max_connect_errors, and that a blocked host (ERROR
# 1129) is reported as `blocked`.
#
# MariaDB/MySQL exempt 127.0.0.1 from the host cache, so inside the namespace connections to
# 127.0.0.3 leave from 127.0.0.2, which the host cache counts like any remote host. Errors only
# count for a host whose name resolved (forward and back), so the namespace gets its own
# /etc/hosts naming 127.0.0.2 (no DNS in there).
# Usage: host_cache.sh BIN DATADIR WORKDIR      Prints "ok ..." / "FAIL ..." lines.
set -euo pipefail
BIN=$1 DATADIR=$2 WORK=$3
printf '127.0.0.1 localhost\n127.0.0.2 kc-worker.test\n' >"$WORK/hc.hosts"
mount --bind "$WORK/hc.hosts" /etc/hosts
ip link set lo up
ip addr add 127.0.0.2/8 dev lo
ip route replace local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.2
PORT=3306
/usr/sbin/mariadbd --no-defaults --user=nobody --datadir="$DATADIR" --port=$PORT \
    --bind-address=127.0.0.3 --socket="$WORK/hc.sock" --pid-file="$WORK/hc.pid" \
    --log-error="$WORK/hc.err" --skip-log-bin --innodb-buffer-pool-size=16M \
    --max-connect-errors=3 --performance-schema=ON &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
ADMIN=$(command -v mariadb-admin || command -v mysqladmin)
CLI=$(command -v mariadb || command -v mysql)
for _ in $(seq 150); do "$ADMIN" --no-defaults -S "$WORK/hc.sock" -u root ping >/dev/null 2>&1 && break; sleep 0.2; done
# An account any host may use, so 127.0.0.2 gets a greeting (else 1130 before the handshake).
"$CLI" --no-defaults -S "$WORK/hc.sock" -u root -e "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'not-used'; FLUSH HOSTS"

url=mysql://127.0.0.3:$PORT
ups=0
for _ in 1 2 3 4 5 6; do
    "$BIN" probe "$url" --timeout 3s >"$WORK/hc.out" 2>&1 && ups=$((ups + 1))
done
errors=$("$CLI" --no-defaults -S "$WORK/hc.sock" -u root -N -e \
    "SELECT CONCAT(SUM_CONNECT_ERRORS, '/', COUNT_HANDSHAKE_ERRORS) FROM performance_schema.host_cache WHERE IP = '127.0.0.2'")
if [ $ups = 6 ] && [ "$errors" = 0/0 ]; then
    echo "ok   mariadb max_connect_errors=3: 6 probes from 127.0.0.2 (kc-worker.test), 6 up, host cache errors $errors"
else
    echo "FAIL mariadb max_connect_errors=3: $ups of 6 probes up, host cache connect/handshake errors $errors: $(cat "$WORK/hc.out")"
fi
# Control: a client that reads the greeting and hangs up (what a bare TCP or greeting-only check
# does) is a handshake error; three of them block the host.
python3 - "$PORT" <<'PY'
import socket, sys
for _ in range(3):
    s = socket.create_connection(("127.0.0.3", int(sys.argv[1])))
    s.recv(1024)
    s.close()
PY
set +e
out=$("$BIN" probe "$url" --timeout 3s 2>&1); code=$?
set -e
if [ $code = 1 ] && grep -q "reason=blocked" <<<"$out" && grep -q "ERROR 1129" <<<"$out"; then
    echo "ok   mariadb after 3 greeting-only clients: probe says blocked (1129), exit 1"
else
    echo "FAIL mariadb after 3 greeting-only clients: exit $code: $out"
fi
echo "$out" | sed 's/^/     /'
