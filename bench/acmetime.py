#!/usr/bin/env python3
"""bench/acmetime.py: time from exec to a certificate obtained by ACME.

  acmetime.py RUNS HTTPS_PORT ROOT_PEM BINARY ARGS...

RUNS times: a fresh data directory (so no stored certificate or account),
exec BINARY ARGS --data DIR, then TLS handshakes to 127.0.0.1:HTTPS_PORT
as "localhost" (a fresh connection every 20 ms) until one verifies against
ROOT_PEM, the ACME CA's root: that is the moment a client sees the new
certificate. Then SIGTERM and wait. The clock starts just before exec.
Prints each time in ms, then "median_ms min_ms max_ms".
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: acmetime.py RUNS HTTPS_PORT ROOT_PEM BINARY ARGS...")
    runs, port, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    cmd = sys.argv[4:]
    ctx = ssl.create_default_context(cafile=root)
    times = []
    for _ in range(runs):
        data = tempfile.mkdtemp(prefix="dongmul-acmetime-")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd + ["--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if proc.poll() is not None:
                    sys.exit(f"acmetime: the server exited (status {proc.returncode})")
                if time.monotonic() - t0 > 60:
                    sys.exit("acmetime: no certificate from the ACME server within 60 s")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                        with ctx.wrap_socket(s, server_hostname="localhost"):
                            break
                except (OSError, ssl.SSLError):
                    time.sleep(0.02)
            times.append((time.monotonic() - t0) * 1000)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(data, ignore_errors=True)
        print(f"{times[-1]:.0f}")
    s = sorted(times)
    print(f"{s[len(s) // 2]:.0f} {s[0]:.0f} {s[-1]:.0f}")


if __name__ == "__main__":
    main()
