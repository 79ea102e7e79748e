#!/usr/bin/env python3
"""The gateway's memory idle, and with many idle keep-alive connections.

    benches/load/idle-memory.py [CONNECTIONS]

Starts the release gateway (or GATEWAY_BIN) with one stock route, reads its RSS once idle, then
opens CONNECTIONS (default 10,000) connections, sends one request on each and keeps them open,
and reads the RSS again once they have idled long enough to give their buffers back. BATCH=N
opens them N at a time, 1.5 s apart (all at once by default): the RSS then shows what an idle
connection keeps rather than the peak of thousands of requests at once, which glibc's heap
keeps mapped after they are freed. SETTLE=S reads the RSS S seconds after the last connection
answered (default 3): the connections give their buffers back after a second idle, and the
allocator returns the freed pages to the system over the following second or more. Everything is
on 127.0.0.1 and stopped at the end; the file-descriptor limit must allow the connections
(ulimit -n).
"""
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

SPEC = """{ "routes": [ { "path": "/hello", "methods": ["GET"],
  "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hello" } } ] }"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    binary = os.environ.get("GATEWAY_BIN", "target/release/gateway")
    with tempfile.TemporaryDirectory() as work:
        spec = os.path.join(work, "spec.json")
        with open(spec, "w") as f:
            f.write(SPEC)
        config = os.path.join(work, "gateway.toml")
        with open(config, "w") as f:
            f.write(
                f'[gateway.limits]\nmax_connections = {count + 100}\n'
                f'max_connections_per_client = {count + 100}\nidle_timeout_seconds = 600\n\n'
                f'[[deployment]]\nname = "d"\npath_prefix = "/d"\nspecification = "{spec}"\n'
            )
        gateway = subprocess.Popen(
            [binary, "serve", "--config", config, "--listen", "127.0.0.1:0", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        try:
            line = gateway.stdout.readline()
            host, port = re.search(r"http://([\d.]+):(\d+)", line).groups()
            time.sleep(1)
            idle = rss_kib(gateway.pid)
            conns = []
            request = b"GET /d/hello HTTP/1.1\r\nHost: x\r\n\r\n"
            batch = int(os.environ.get("BATCH", count))
            for start in range(0, count, batch):
                opened = []
                for _ in range(min(batch, count - start)):
                    s = socket.create_connection((host, int(port)))
                    s.sendall(request)
                    opened.append(s)
                for s in opened:
                    s.recv(4096)
                conns += opened
                if start + batch < count:
                    time.sleep(1.5)
            # Idle past the second after which a connection gives its buffers back.
            time.sleep(float(os.environ.get("SETTLE", "3")))
            loaded = rss_kib(gateway.pid)
            print(f"idle RSS {idle / 1024:.1f} MB; with {count} idle keep-alive connections "
                  f"{loaded / 1024:.1f} MB (+{(loaded - idle) / 1024:.1f} MB, "
                  f"{(loaded - idle) * 1024 / count:.0f} bytes each)")
            for s in conns:
                s.close()
        finally:
            gateway.terminate()
            gateway.wait()


if __name__ == "__main__":
    main()
