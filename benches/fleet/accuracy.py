#!/usr/bin/env python3
"""How exactly a fleet enforces one limit, and what each limit store adds per request.

Accuracy: N gateway replicas (N = 1, 2, 3), each driven by its own `wrk` with C connections for
SECONDS, against one TOTAL limit of RATE requests per second, with the limit on one Redis server
and on a six-node Redis Cluster. A perfect fleet admits RATE x SECONDS plus one burst of RATE;
the script prints admitted / expected.

Latency: one replica with a limit it never reaches, its store in memory, on one Redis server and
on the cluster, driven by one connection (one request at a time, so that the figures are the
time a request takes, not time spent queued behind others); p50 and p99 of each, and what Redis
adds over memory.

The gateways run on CPU 0, Redis and wrk on CPU 1 (`taskset`), so run it on a quiet machine.

    benches/fleet/accuracy.py [--seconds 60] [--rate 100] [--connections 8]

Needs the release build (built here), redis-server, redis-cli and wrk.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAY = os.environ.get("GATEWAY_BIN", os.path.join(ROOT, "target/release/gateway"))
SERVER_CPU, LOAD_CPU = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Everything started here, stopped on exit."""

    def __init__(self):
        self.procs = []

    def start(self, args, cpu, **kwargs):
        proc = subprocess.Popen(["taskset", "-c", cpu, *args], **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs.remove(proc)

    def stop_all(self):
        for proc in list(self.procs):
            self.stop(proc)


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def redis_server(procs, work, port, *extra):
    procs.start(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", work, *extra],
        LOAD_CPU, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)


def redis_cluster(procs, work):
    """Six nodes, three primaries with a replica each; returns the seed URLs."""
    ports = []
    for i in range(6):
        port, bus = free_port(), free_port()
        node = os.path.join(work, f"node-{i}")
        os.makedirs(node)
        redis_server(procs, node, port, "--cluster-enabled", "yes", "--cluster-port", str(bus),
                     "--cluster-config-file", os.path.join(node, "nodes.conf"))
        ports.append(port)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-replicas", "1", "--cluster-yes"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        info = subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "info"],
                              capture_output=True, text=True).stdout
        if "cluster_state:ok" in info:
            return [f"redis://127.0.0.1:{p}" for p in ports]
        time.sleep(0.2)
    sys.exit("the cluster did not become ready")


def store_toml(store):
    kind, urls = store
    if kind == "memory":
        return ""
    if kind == "redis":
        return f'[rate_limit]\nstore = "redis"\nurl = "{urls}"\n'
    listed = ", ".join(f'"{u}"' for u in urls)
    return f'[rate_limit]\nstore = "redis"\nurl = [{listed}]\ncluster = true\n'


def gateways(procs, work, n, store, rate):
    """Starts n replicas sharing `store`; returns (addresses, processes)."""
    spec = os.path.join(work, "spec.json")
    with open(spec, "w") as f:
        f.write('{"requestPolicies": {"rateLimiting": {"rateInRequestsPerSecond": %d, '
                '"rateKey": "TOTAL"}}, "routes": [{"path": "/hello", "methods": ["GET"], '
                '"backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi"}}]}'
                % rate)
    addrs, started = [], []
    for i in range(n):
        config = os.path.join(work, f"gateway-{i}.toml")
        port = free_port()
        with open(config, "w") as f:
            f.write(f'[gateway]\nlisten = "127.0.0.1:{port}"\nnode = "r{i}"\n'
                    f'{store_toml(store)}\n[[deployment]]\nname = "fleet"\n'
                    f'path_prefix = "/f"\nspecification = "{spec}"\n')
        env = dict(os.environ, RUST_LOG="warn", TOKIO_WORKER_THREADS="1")
        started.append(procs.start([GATEWAY, "serve", "--config", config, "--no-watch"],
                                   SERVER_CPU, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL))
        wait_port(port)
        addrs.append(f"127.0.0.1:{port}")
    # Connect to Redis, then let the bucket refill before measuring.
    for addr in addrs:
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{addr}/f/hello"])
    time.sleep(2)
    return addrs, started


def wrk(procs, addr, connections, seconds):
    return procs.start(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                        f"http://{addr}/f/hello"],
                       LOAD_CPU, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def parse(out):
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return {
        "total": total,
        "admitted": total - (int(non2xx.group(1)) if non2xx else 0),
        "errors": errors.group(1) if errors else "none",
        "p50": latency.get("50"),
        "p99": latency.get("99"),
    }


def micros(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    for tool in ("redis-server", "redis-cli", "wrk", "taskset", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y redis-server wrk curl")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "gateway-bin"], cwd=ROOT,
                   check=True)

    procs = Processes()
    work = tempfile.mkdtemp(prefix="fleet-accuracy-")
    try:
        single_port = free_port()
        redis_server(procs, work, single_port)
        stores = {
            "memory": ("memory", None),
            "redis": ("redis", f"redis://127.0.0.1:{single_port}"),
            "cluster": ("cluster", redis_cluster(procs, work)),
        }
        print(f"one TOTAL limit of {args.rate}/s, {args.seconds} s, "
              f"{args.connections} connections per replica")
        print(f"{'store':8} {'N':>2} {'sent':>9} {'admitted':>9} {'expected':>9} "
              f"{'ratio':>6}  socket errors")
        expected = args.rate * args.seconds + args.rate
        for name in ("redis", "cluster"):
            for n in (1, 2, 3):
                addrs, started = gateways(procs, work, n, stores[name], args.rate)
                runs = [wrk(procs, a, args.connections, args.seconds) for a in addrs]
                results = [parse(r.communicate()[0]) for r in runs]
                for r in runs:
                    procs.procs.remove(r)
                sent = sum(r["total"] for r in results)
                admitted = sum(r["admitted"] for r in results)
                errors = "; ".join(r["errors"] for r in results)
                print(f"{name:8} {n:>2} {sent:>9} {admitted:>9} {expected:>9} "
                      f"{admitted / expected:>6.3f}  {errors}", flush=True)
                for g in started:
                    procs.stop(g)

        print(f"\nlatency, one replica, a limit it never reaches, one connection, "
              f"{min(args.seconds, 20)} s")
        base = None
        for name in ("memory", "redis", "cluster"):
            addrs, started = gateways(procs, work, 1, stores[name], 1_000_000)
            run = wrk(procs, addrs[0], 1, min(args.seconds, 20))
            result = parse(run.communicate()[0])
            procs.procs.remove(run)
            p50, p99 = micros(result["p50"]), micros(result["p99"])
            if base is None:
                base = (p50, p99)
                added = ""
            else:
                added = f"   added p50 {p50 - base[0]:+.0f} us, p99 {p99 - base[1]:+.0f} us"
            print(f"{name:8} {result['total'] / min(args.seconds, 20):>9.0f} req/s   "
                  f"p50 {p50:>7.0f} us   p99 {p99:>7.0f} us{added}", flush=True)
            for g in started:
                procs.stop(g)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
