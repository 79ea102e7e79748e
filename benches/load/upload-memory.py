#!/usr/bin/env python3
"""The load and the measurements of upload-memory.sh (run that script, not this file).

Fires CLIENTS chunked POSTs of BODY bytes at once at a gateway route, each on its own
connection, while sampling every 100 ms the resident memory (VmRSS) of the gateway process and,
separately, of its descendants (the function processes); then keeps sampling for IDLE seconds
after the last answer. Prints the statuses, how soon the refusals came, and the memory
figures.
"""
import argparse
import asyncio
import collections
import hashlib
import json
import os
import socket
import statistics
import time

CHUNK = 64 * 1024
SAMPLE_EVERY = 0.1


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid):
    """Every live process below `pid`, from the parent ids in /proc."""
    children = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name may hold spaces: the fields that follow its ')' are fixed.
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children[int(fields[1])].append(int(entry))
    found, stack = [], list(children[pid])
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children[child])
    return found


class Sampler:
    def __init__(self, pid):
        self.pid = pid
        self.samples = []  # (seconds since start, gateway bytes, functions bytes, processes)
        self.started = time.monotonic()

    def sample(self):
        functions = descendants(self.pid)
        self.samples.append((
            time.monotonic() - self.started,
            rss_bytes(self.pid),
            sum(rss_bytes(p) for p in functions),
            len(functions),
        ))

    async def run(self, stop):
        while not stop.is_set():
            self.sample()
            try:
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
            except asyncio.TimeoutError:
                pass


async def upload(host, port, path, body):
    """One upload on its own connection. Reads while it sends, so that an early answer (a
    refusal) is seen, and stops sending once the gateway has answered and closed. Returns the
    status (0: no answer), the seconds until the answer began, and the answer's body."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    started = time.monotonic()
    try:
        await loop.sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        return 0, None, b""
    received = bytearray()
    answered = None

    async def read():
        nonlocal answered
        while True:
            try:
                data = await loop.sock_recv(sock, 65536)
            except OSError:
                return
            if not data:
                return
            if answered is None:
                answered = time.monotonic() - started
            received.extend(data)

    reader = asyncio.create_task(read())
    try:
        await loop.sock_sendall(sock, (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode())
        view = memoryview(body)
        for offset in range(0, len(body), CHUNK):
            if reader.done():
                break  # answered and closed early: the rest of the body is not wanted
            piece = view[offset:offset + CHUNK]
            await loop.sock_sendall(sock, b"%x\r\n" % len(piece) + piece + b"\r\n")
        else:
            await loop.sock_sendall(sock, b"0\r\n\r\n")
    except OSError:
        pass  # the gateway closed while the body was still coming: its answer is read below
    await reader
    sock.close()
    head, _, payload = bytes(received).partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, answered, payload


def mb(n):
    return f"{n / 1e6:.0f} MB"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True, help="host:port of the gateway")
    parser.add_argument("--path", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the gateway's pid")
    parser.add_argument("--clients", type=int, default=400)
    parser.add_argument("--bytes", type=int, default=6_186_598)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    body = os.urandom(args.bytes)
    digest = hashlib.sha256(body).hexdigest()

    sampler = Sampler(args.pid)
    sampler.sample()
    before = sampler.samples[0]
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    started = time.monotonic()
    results = await asyncio.gather(
        *(upload(host, int(port), args.path, body) for _ in range(args.clients))
    )
    load_seconds = time.monotonic() - started
    load_end = time.monotonic() - sampler.started
    await asyncio.sleep(args.idle)
    stop.set()
    await sampling
    sampler.sample()

    statuses = collections.Counter(status for status, _, _ in results)
    wrong = 0
    for status, _, payload in results:
        if status == 200:
            answer = json.loads(payload.decode("utf-8", "replace") or "{}")
            if answer.get("bytes") != args.bytes or answer.get("sha256") != digest:
                wrong += 1
    refused_after = [after for status, after, _ in results if status == 503 and after is not None]
    during = [s for s in sampler.samples if s[0] <= load_end]
    idle = sampler.samples[-1]
    print(f"{args.clients} parallel chunked POSTs of {args.bytes} bytes in {load_seconds:.1f} s; "
          f"statuses: " + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())))
    if wrong:
        print(f"  {wrong} answers of 200 did not echo the body's size and digest")
    if refused_after:
        print(f"  503s answered after a median of {statistics.median(refused_after):.2f} s "
              f"(max {max(refused_after):.2f} s)")
    print(f"gateway RSS:   {mb(before[1])} before, peak {mb(max(s[1] for s in during))} "
          f"during the load, {mb(idle[1])} after {args.idle:.0f} s idle")
    print(f"functions RSS: peak {mb(max(s[2] for s in during))} in "
          f"{max(s[3] for s in during)} processes during the load, "
          f"{mb(idle[2])} in {idle[3]} after {args.idle:.0f} s idle")


asyncio.run(main())
