#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: a few valid inputs per target, so the fuzzer starts from the
shapes the parsers accept (a TOML file, a window, a TNS REFUSE...) rather than from nothing.
Re-run after changing it; the seeds are committed."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


put("classify", "oracle-down", "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\nCaused by: java.sql.SQLRecoverableException: ORA-03113: end-of-file on communication channel\nProcess ID: 1234\nSession ID: 56 Serial number: 789\n\tat oracle.jdbc.driver.T4CTTIoer11.processError(T4CTTIoer11.java:509)\n")
put("classify", "offset-gone", "io.debezium.DebeziumException: Online REDO LOG files or archive log files do not contain the offset scn 123456.  Please perform a new snapshot.\n")
put("classify", "pg-secret", "org.postgresql.util.PSQLException: FATAL: password authentication failed for user \"dbz\" database.password=hunter2 jdbc:postgresql://u:pw@h:5432/db\n")

for i, t in enumerate([
    "oracle://db1:1521/ORCLPDB1", "oracle://db1:1521?sid=ORCL", "postgres://pg:5432", "mysql://[::1]:3306", "tcp://10.0.0.1:1521",
    "jdbc:oracle:thin:@//h:1521/svc", "jdbc:oracle:thin:@h:1521:SID",
    "jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=h)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=s)))",
    "connector.class=io.debezium.connector.postgresql.PostgresConnector\ndatabase.hostname=pg\ndatabase.port=5432",
    "connector.class=io.debezium.connector.oracle.OracleConnector\ndatabase.url=jdbc:oracle:thin:@//h:1521/svc\ndatabase.pdb.name=PDB1",
]):
    put("target", f"t{i}", t)

put("config", "readme.toml", """[connectors."inventory-oracle"]
db = "tcp://10.78.30.98:1521"
max_wait = "45m"
after_timeout = "resume"
hold_with = "stop"

[connectors."legacy-jdbc"]
ignore = true

[[maintenance]]
when = "Mon-Fri 01:50-02:30 Asia/Seoul"
targets = ["10.78.30.98:1521/ORCLPDB1", "oracle://crm:1521/CRM"]

[[maintenance]]
start = "2026-12-24T01:00:00+09:00"
end = "2026-12-24T04:00:00+09:00"
connectors = ["orders-oracle"]
""")

record = {"phase": "waiting", "reason": "task_failed", "target": "db:1521", "started_at": 1700000000000,
          "held_at": 1700000000000, "hold_with": "pause"}
put("state", "empty.json", json.dumps({"version": 1, "connectors": {}, "handed_back": {"x": 1}}))
put("state", "held.json", json.dumps({"version": 1, "connectors": {"inv": record}, "handed_back": {}}))

put("connect_json", "list.json", json.dumps({
    "inv": {"status": {"name": "inv", "connector": {"state": "RUNNING", "worker_id": "w:8083"},
                       "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w:8083", "trace": "boom"}], "type": "source"},
            "info": {"name": "inv", "config": {"connector.class": "io.debezium.connector.oracle.OracleConnector",
                                               "database.hostname": "db", "database.port": "1521"},
                     "tasks": [{"connector": "inv", "task": 0}], "type": "source"}},
    "gone": {"status": {"name": "gone", "connector": {"state": "UNASSIGNED", "worker_id": "w"}, "tasks": [], "type": "unknown"}, "info": None},
    "empty": {}}))
put("connect_json", "root.json", json.dumps({"version": "3.9.0", "commit": "abc", "kafka_cluster_id": "x"}))


def tns(ptype, body):
    return struct.pack(">HHBBH", 8 + len(body), 0, ptype, 0, 0) + body


accept = tns(2, struct.pack(">HHHHHHH", 0x13c, 0, 8192, 32767, 0, 0, 0) + b"\0" * 8)
refuse_text = b"(DESCRIPTION=(TMP=)(VSNNUM=318767104)(ERR=12514)(ERROR_STACK=(ERROR=(CODE=12514)(EMFI=4))))"
refuse = tns(4, struct.pack(">BBH", 1, 1, len(refuse_text)) + refuse_text)
redirect_text = b"(ADDRESS=(PROTOCOL=tcp)(HOST=10.0.0.2)(PORT=1522))"
redirect = tns(5, struct.pack(">H", len(redirect_text)) + redirect_text)
resend = tns(11, b"")
for name, data in [("accept", accept), ("refuse", refuse), ("redirect", redirect), ("resend-accept", resend + accept)]:
    put("tns", name, bytes([255]) + data)
    put("tns", name + "-bytewise", bytes([0]) + data)


def pg(t, body):
    return bytes([t]) + struct.pack(">I", 4 + len(body)) + body


pg_err = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
put("postgres", "starting", bytes([255]) + pg(ord("E"), pg_err))
put("postgres", "sasl", bytes([255]) + pg(ord("R"), b"\0\0\0\x0aSCRAM-SHA-256\0\0"))
put("postgres", "trust", bytes([7]) + pg(ord("R"), b"\0\0\0\0") + pg(ord("S"), b"server_version\x0016.1\0") + pg(ord("Z"), b"I"))


def my(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


g = bytes([10]) + b"5.5.5-10.11.6-MariaDB-0+deb12u1\0" + struct.pack("<I", 7) + b"abcdefgh\0" + struct.pack("<H", 0xf7fe) + bytes([45]) + struct.pack("<HH", 2, 0x81bf) + bytes([21]) + b"\0" * 6 + bytes([0x1d, 0, 0, 0]) + b"ijklmnopqrst\0mysql_native_password\0"
put("mysql", "greeting", bytes([255]) + my(0, g))
put("mysql", "greeting-then-ok", bytes([3]) + my(0, g) + my(2, b"\0\0\0\x02\0\0\0"))
put("mysql", "too-many", bytes([255]) + my(0, b"\xff\x10\x04Too many connections"))

for i, w in enumerate(["Mon-Fri 01:50-02:30 Asia/Seoul", "daily 23:30-00:30 Europe/Berlin", "Sat,Sun 02:00-03:00 America/New_York",
                       "Mon-Sun 01:50-02:30 UTC", "2026-12-24T01:00:00+09:00"]):
    put("windows", f"w{i}", struct.pack("<Q", 1_773_000_000_000) + w.encode())
