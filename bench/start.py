#!/usr/bin/env python3
"""Starts a server and measures the time from its start to its first successful answer.

usage: start.py PORT LOGFILE TIMEOUT_S -- COMMAND [ARG...]

Starts COMMAND (its output to LOGFILE, in a session of its own so that the caller stops it by
its pid), then asks GET /.well-known/openid-configuration on 127.0.0.1:PORT in a tight loop
(a fresh connection every 0.5 ms) until the answer is 200. Prints {"pid": ..., "ms": ...}:
milliseconds from just before the fork to the end of the first 200 answer. Leaves the server
running. Exits 1 (and stops the server) if it dies or does not answer within TIMEOUT_S.
"""
import json
import socket
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit(__doc__)
    port, log, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    command = sys.argv[5:]
    request = (
        "GET /.well-known/openid-configuration HTTP/1.1\r\n"
        f"Host: localhost:{port}\r\nConnection: close\r\n\r\n"
    ).encode()
    with open(log, "ab") as out:
        start = time.monotonic()
        server = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = start + timeout
    while True:
        if server.poll() is not None:
            print(f"start.py: {command[0]} exited with status {server.returncode} before "
                  f"answering; see {log}", file=sys.stderr)
            sys.exit(1)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(request)
                answer = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            if answer.startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.terminate()
            print(f"start.py: no answer on port {port} within {timeout} s; see {log}",
                  file=sys.stderr)
            sys.exit(1)
        time.sleep(0.0005)
    elapsed_ms = (time.monotonic() - start) * 1000
    print(json.dumps({"pid": server.pid, "ms": round(elapsed_ms, 1)}))


if __name__ == "__main__":
    main()
