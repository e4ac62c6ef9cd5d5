#!/usr/bin/env python3
"""Points python-oracledb (thin mode: a real Oracle client, no Oracle libraries) at the scripted
TNS listener of tests/it/probe_tns_listener.rs and checks that it reacts the way it reacts to a
real listener. The Rust test tests/it/probe_oracledb.rs starts one listener per scenario and runs
this script as `oracledb_check.py NAME=PORT ...`; it then checks what the listener parsed from
the CONNECT packets python-oracledb sent.

Exit 0 when every scenario raised what a real listener makes python-oracledb raise, 1 otherwise.
Prints one line per scenario: `ok|MISMATCH NAME: <the error python-oracledb raised>`.
"""

import sys

import oracledb

# Scenario -> (error python-oracledb raises, text that must appear in the message). These are its
# reactions to real listeners: it maps the listener's REFUSE error number 12514 to DPY-6001,
# 12505 to DPY-6003, ERR=0 to DPY-5005 and any other to DPY-6000 "Similar to ORA-n" (all wrapped
# in DPY-6005 "cannot connect"); it refuses TNS versions below 315 with DPY-3010; after ACCEPT
# it carries on with a DATA packet and reports DPY-4011 when the peer then hangs up.
EXPECT = {
    "refuse_12514": ("DPY-6001", 'Service "ORCLPDB1" is not registered'),
    "sid_refuse_12505": ("DPY-6003", 'SID "ORCL" is not registered'),
    "refuse_12528": ("DPY-6000", "Similar to ORA-12528"),
    "refuse_12526": ("DPY-6000", "Similar to ORA-12526"),
    "refuse_12519": ("DPY-6000", "Similar to ORA-12519"),
    "refuse_12516": ("DPY-6000", "Similar to ORA-12516"),
    "ping_err0": ("DPY-5005", "unexpected error format"),
    "resend_then_12514": ("DPY-6001", 'Service "ORCLPDB1" is not registered'),
    "redirect_split_then_12514": ("DPY-6001", 'Service "ORCLPDB1" is not registered'),
    "accept_319": ("DPY-4011", "closed"),
    "accept_314": ("DPY-3010", ""),
    "inline_refuse_12514": ("DPY-6001", 'Service "FREEPDB1" is not registered'),
}


def attempt(name, port):
    host = "127.0.0.1"
    kwargs = dict(user="probe_check", password="not-a-password", tcp_connect_timeout=5)
    if name.startswith("sid_"):
        dsn = oracledb.makedsn(host, port, sid="ORCL")
    elif name.startswith("inline_"):
        # Short CID values keep the connect data under 230 bytes: inline in the CONNECT.
        dsn = f"{host}:{port}/FREEPDB1"
        kwargs.update(program="p", machine="m", osuser="o")
    else:
        dsn = f"{host}:{port}/ORCLPDB1"
    try:
        conn = oracledb.connect(dsn=dsn, **kwargs)
    except oracledb.Error as e:
        return str(e).replace("\n", " | ")
    conn.close()
    return "CONNECTED (no error)"


def main(argv):
    failures = 0
    for arg in argv:
        name, port = arg.split("=", 1)
        got = attempt(name, int(port))
        prefix, text = EXPECT[name]
        ok = f"{prefix}:" in got and text in got
        failures += not ok
        print(f"{'ok' if ok else 'MISMATCH'} {name}: {got}", flush=True)
        if not ok:
            print(f"   expected {prefix} ... {text!r}", flush=True)
    print(f"python-oracledb {oracledb.__version__}")
    print(f"oracledb-check: {len(argv) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
