#!/usr/bin/env python3
"""A tiny stand-in for a Kafka Connect worker with one healthy Debezium connector, for the
container smoke test (tests/container/run.sh).

It answers only what a watching agent reads:
  GET /                                      -> the worker's version
  GET /connectors?expand=status&expand=info  -> one RUNNING PostgreSQL connector "inv"
Anything else gets Kafka Connect's own error shape (404/405 with error_code and message), and
every request is logged to stdout, so the test can assert that the agent did not try to pause
or restart a healthy connector.

It also opens a TCP listener standing in for the connector's database (the agent probes
database.hostname:database.port), accepting and closing connections.

Both listen on 127.0.0.1 on free ports; "HTTP_PORT DB_PORT" is written to the file given as
the first argument once both are listening.
"""

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def db_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)

    def serve():
        while True:
            conn, _ = s.accept()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]


def connectors_body(db_port):
    worker = "127.0.0.1:8083"
    return {
        "inv": {
            "status": {
                "name": "inv",
                "connector": {"state": "RUNNING", "worker_id": worker},
                "tasks": [{"id": 0, "state": "RUNNING", "worker_id": worker}],
                "type": "source",
            },
            "info": {
                "name": "inv",
                "config": {
                    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
                    "database.hostname": "127.0.0.1",
                    "database.port": str(db_port),
                },
                "tasks": [],
                "type": "source",
            },
        }
    }


def make_handler(db_port):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            sys.stdout.write("%s %s\n" % (self.command, self.path))
            sys.stdout.flush()

        def do_GET(self):
            if self.path == "/":
                self._send(200, {"version": "3.9.0", "commit": "x", "kafka_cluster_id": "y"})
            elif self.path == "/connectors?expand=status&expand=info":
                self._send(200, connectors_body(db_port))
            else:
                self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

        def _refuse(self):
            # Drain any body so the connection stays usable, then refuse like a worker would
            # for an endpoint this fake does not implement.
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            self._send(405, {"error_code": 405, "message": "HTTP 405 Method Not Allowed"})

        do_PUT = _refuse
        do_POST = _refuse
        do_DELETE = _refuse

    return Handler


def main():
    port_file = sys.argv[1]
    db_port = db_listener()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(db_port))
    with open(port_file + ".tmp", "w") as f:
        f.write("%d %d\n" % (httpd.server_address[1], db_port))
    os.rename(port_file + ".tmp", port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
