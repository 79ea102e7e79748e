#!/usr/bin/env python3
"""The load and the measurements of upload-memory.sh (run that script, not this file).

Fires CLIENTS chunked POSTs of BODY bytes at once at a gateway route, each on its own
connection, while sampling every 100 ms the resident memory (VmRSS) of the gateway process and,
separately, of its descendants (the function processes); then keeps sampling for IDLE seconds
after the last answer. Prints the statuses, how much of its body a refused upload had sent when
its answer came, and the memory figures.
"""
import argparse
import asyncio
import collections
import hashlib
import json
import os
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


class Upload(asyncio.Protocol):
    """One connection: sends the body as the transport allows, keeps whatever comes back, and
    notes how much of the body had been sent when the first byte of the answer arrived."""

    def __init__(self, loop):
        self.received = bytearray()
        self.closed = loop.create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent = 0
        self.sent_at_answer = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.sent_at_answer is None:
            self.sent_at_answer = self.sent
        self.received += data

    def pause_writing(self):
        self.writable.clear()

    def resume_writing(self):
        self.writable.set()

    def connection_lost(self, exc):
        self.writable.set()
        if not self.closed.done():
            self.closed.set_result(None)


async def upload(host, port, path, body):
    loop = asyncio.get_running_loop()
    try:
        _, conn = await loop.create_connection(lambda: Upload(loop), host, port)
    except OSError:
        return 0, None, b""
    conn.transport.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/octet-stream\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
    )
    view = memoryview(body)
    for offset in range(0, len(body), CHUNK):
        await conn.writable.wait()
        if conn.closed.done() or conn.transport.is_closing():
            break  # answered and closed early: the rest of the body is not wanted
        piece = view[offset:offset + CHUNK]
        conn.transport.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
        conn.sent += len(piece)
    else:
        await conn.writable.wait()
        if not conn.transport.is_closing():
            conn.transport.write(b"0\r\n\r\n")
    await conn.closed
    raw = bytes(conn.received)
    head, _, payload = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, conn.sent_at_answer, payload


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
    refused_sent = [sent for status, sent, _ in results if status == 503 and sent is not None]
    during = [s for s in sampler.samples if s[0] <= load_end]
    idle = sampler.samples[-1]
    print(f"{args.clients} parallel chunked POSTs of {args.bytes} bytes in {load_seconds:.1f} s; "
          f"statuses: " + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())))
    if wrong:
        print(f"  {wrong} answers of 200 did not echo the body's size and digest")
    if refused_sent:
        print(f"  503s came after their client had sent a median of "
              f"{statistics.median(refused_sent):.0f} body bytes (max {max(refused_sent)})")
    print(f"gateway RSS:   {mb(before[1])} before, peak {mb(max(s[1] for s in during))} "
          f"during the load, {mb(idle[1])} after {args.idle:.0f} s idle")
    print(f"functions RSS: peak {mb(max(s[2] for s in during))} in "
          f"{max(s[3] for s in during)} processes during the load, "
          f"{mb(idle[2])} in {idle[3]} after {args.idle:.0f} s idle")


asyncio.run(main())
