#!/usr/bin/env python3
"""Setup files, traffic, sampling and judging for benches/chaos/chaos.sh and soak.sh (stdlib
only).

  harness.py config --redis-port P --cache-dir DIR --functions DIR   gateway.toml on stdout
  harness.py spec --version V --upstream HOST:PORT   the deployment spec (JSON) on stdout; the
      stock route answers "stock vV" (V may be a placeholder the caller substitutes)
  harness.py traffic --addr HOST:PORT --gateway-pid PID --out DIR [--rate R] [--threads N]
                    [--sample-every S]
      Sends a steady mix to the four routes until SIGTERM/SIGINT (SIGUSR1 pauses, SIGUSR2
      resumes) and samples the gateway's RSS, open fds and function processes. Writes
      DIR/traffic.json at the end and DIR/samples.jsonl as it goes.
  harness.py inflight --addr HOST:PORT --count N --sleep S --out FILE
      N concurrent slow function calls (the echo function sleeps S seconds), for the drain test.
  harness.py report chaos|soak --dir DIR
      Reads what the run left in DIR (traffic.json, samples.jsonl, events, inflight.json),
      prints the report and exits 1 on any FAILURE.

The configuration, the routes and what a correct answer looks like are defined once, here.
"""

import argparse
import http.client
import json
import os
import re
import signal
import sys
import threading
import time

PREFIX = "/chaos"
UPSTREAM_BODY = b"upstream ok\n"
AUTH_BODY = b"authenticated"
# The echo function sleeps 20 ms on this body, so that a process killed by chaos.sh is often
# in the middle of a call.
FUNCTION_BODY = b"sleep:0.02"
# Distinct authorizer tokens. The authorizer answers `brief:` tokens with a one-second expiry,
# which the gateway stretches to its 60 s minimum: the cache stays at this many entries and
# the authorizer function is called for every token that expired (about TOKENS / 60 a second).
TOKENS = 600
ECHO_ID = "ocid1.fnfunc.oc1..chaos-echo"
AUTHORIZER_ID = "ocid1.fnfunc.oc1..chaos-authorizer"


def gateway_toml(redis_port, cache_dir, functions):
    """One deployment at /chaos (spec.json beside the file), rate limits counted in Redis and
    failing open, the admin listener on a free port, and the repository's echo and authorizer
    functions, prepared once into `cache_dir`."""
    return f"""[gateway]
admin_listen = "127.0.0.1:0"
cache_dir = "{cache_dir}"
shutdown_grace_seconds = 10

[[deployment]]
name = "chaos"
path_prefix = "{PREFIX}"
specification = "spec.json"

[rate_limit]
store = "redis"
url = "redis://127.0.0.1:{redis_port}"
on_unavailable = "open"

[[application]]
name = "chaos-app"

[[application.function]]
name = "echo"
id = "{ECHO_ID}"
source = "{functions}/echo"
timeout = 10

[[application.function]]
name = "authorizer"
id = "{AUTHORIZER_ID}"
source = "{functions}/authorizer"
timeout = 5
"""

STOCK_RE = re.compile(rb"^stock v(\d+)$")


def route_spec(version, upstream):
    """The deployment: four routes, a Redis-backed rate limit high enough never to refuse this
    traffic, and the custom authorizer at deployment level (anonymous routes skip it)."""
    anonymous = {"authorization": {"type": "ANONYMOUS"}}
    return {
        "requestPolicies": {
            "rateLimiting": {"rateInRequestsPerSecond": 10000, "rateKey": "TOTAL"},
            "authentication": {
                "type": "CUSTOM_AUTHENTICATION",
                "functionId": AUTHORIZER_ID,
                "tokenHeader": "Authorization",
                "isAnonymousAccessAllowed": True,
            },
        },
        "routes": [
            {"path": "/stock", "methods": ["GET"], "requestPolicies": anonymous,
             "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200,
                         "body": f"stock v{version}",
                         "headers": [{"name": "Content-Type", "value": "text/plain"}]}},
            {"path": "/http", "methods": ["GET"], "requestPolicies": anonymous,
             "backend": {"type": "HTTP_BACKEND", "url": f"http://{upstream}/body",
                         "readTimeoutInSeconds": 10}},
            {"path": "/fn", "methods": ["POST"], "requestPolicies": anonymous,
             "backend": {"type": "ORACLE_FUNCTIONS_BACKEND", "functionId": ECHO_ID}},
            {"path": "/auth", "methods": ["GET"],
             "requestPolicies": {"authorization": {"type": "AUTHENTICATION_ONLY"}},
             "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200,
                         "body": AUTH_BODY.decode()}},
        ],
    }


class Route:
    def __init__(self, name, method, path, body=None):
        self.name, self.method, self.path, self.body = name, method, PREFIX + path, body

    def headers(self, n):
        if self.name == "auth":
            return {"Authorization": f"Bearer brief:chaos{n % TOKENS}"}
        if self.body is not None:
            return {"Content-Type": "text/plain"}
        return {}

    def check(self, body):
        """None when `body` is what this route answers with 200, else what is wrong."""
        if self.name == "stock":
            return None if STOCK_RE.match(body) else "not a stock body"
        if self.name == "http":
            return None if body == UPSTREAM_BODY else "not the upstream's body"
        if self.name == "auth":
            return None if body == AUTH_BODY else "not the authenticated stock body"
        try:
            echoed = json.loads(body)
        except ValueError:
            return "function answer is not JSON"
        return None if echoed.get("body") == FUNCTION_BODY.decode() else "function echoed the wrong body"


ROUTES = [
    Route("stock", "GET", "/stock"),
    Route("http", "GET", "/http"),
    Route("function", "POST", "/fn", FUNCTION_BODY),
    Route("auth", "GET", "/auth"),
]


# ---------------------------------------------------------------------------------------------
# /proc


def proc_status(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, ...), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def children(pid):
    """PIDs whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry))
    return found


# ---------------------------------------------------------------------------------------------
# traffic


class Recorder:
    """Counts per route and status; every answer other than a correct 200 in full."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {r.name: {} for r in ROUTES}
        self.failures = []   # {"route", "status" or "error", "start", "end", "detail"}
        self.latencies = {r.name: [] for r in ROUTES}
        self.stock_versions = {}  # version -> [count, first seen, last seen]
        self.requests = 0
        self.errors = 0

    def ok(self, route, start, end, body):
        with self.lock:
            self.requests += 1
            c = self.counts[route.name]
            c["200"] = c.get("200", 0) + 1
            self.latencies[route.name].append(end - start)
            if route.name == "stock":
                v = int(STOCK_RE.match(body).group(1))
                seen = self.stock_versions.setdefault(v, [0, end, end])
                seen[0] += 1
                seen[2] = end

    def bad(self, route, start, end, status=None, error=None, detail=""):
        key = str(status) if status is not None else "error"
        with self.lock:
            self.requests += 1
            self.errors += 1
            c = self.counts[route.name]
            c[key] = c.get(key, 0) + 1
            self.latencies[route.name].append(end - start)
            self.failures.append({"route": route.name, "status": status, "error": error,
                                  "start": start, "end": end, "detail": detail[:300]})

    def progress(self):
        with self.lock:
            return self.requests, self.errors


def send(conn, route, n):
    """One request on `conn`; returns (status, body)."""
    conn.request(route.method, route.path, body=route.body, headers=route.headers(n))
    res = conn.getresponse()
    return res.status, res.read()


def worker(index, args, rec, go, stop):
    host, port = args.addr.rsplit(":", 1)
    conn = None
    interval = args.threads / args.rate
    due = time.monotonic()
    n = index
    while not stop.is_set():
        if not go.is_set():
            go.wait(0.2)
            due = time.monotonic()
            continue
        route = ROUTES[n % len(ROUTES)]
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
        start = time.time()
        try:
            status, body = send(conn, route, n // len(ROUTES))
        except (OSError, http.client.HTTPException) as e:
            rec.bad(route, start, time.time(), error=type(e).__name__, detail=str(e))
            conn.close()
            conn = None
        else:
            end = time.time()
            wrong = route.check(body) if status == 200 else None
            if status == 200 and wrong is None:
                rec.ok(route, start, end, body)
            else:
                rec.bad(route, start, end, status=status, detail=wrong or body.decode("utf-8", "replace"))
        n += args.threads
        due += interval
        pause = due - time.monotonic()
        if pause > 0:
            stop.wait(pause)
        else:
            due = time.monotonic()  # behind: carry on, but never in a burst
    if conn is not None:
        conn.close()


def monitor(args, rec, stop):
    """Samples the gateway every `sample_every` seconds into samples.jsonl."""
    seen_functions = set()
    with open(os.path.join(args.out, "samples.jsonl"), "a") as out:
        while True:
            kids = children(args.gateway_pid)
            seen_functions.update(kids)
            requests, errors = rec.progress()
            sample = {"t": time.time(), "requests": requests, "errors": errors,
                      "rss_kb": proc_status(args.gateway_pid, "VmRSS"),
                      "fds": open_fds(args.gateway_pid), "functions": len(kids)}
            out.write(json.dumps(sample) + "\n")
            out.flush()
            # Every function process ever seen, for the check that none outlives the gateway.
            with open(os.path.join(args.out, "function-pids"), "w") as f:
                f.write("".join(f"{p}\n" for p in sorted(seen_functions)))
            if stop.wait(args.sample_every):
                return


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def traffic(args):
    rec = Recorder()
    go, stop = threading.Event(), threading.Event()
    go.set()
    signal.signal(signal.SIGUSR1, lambda *_: go.clear())
    signal.signal(signal.SIGUSR2, lambda *_: go.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=worker, args=(i, args, rec, go, stop), daemon=True)
               for i in range(args.threads)]
    threads.append(threading.Thread(target=monitor, args=(args, rec, stop), daemon=True))
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.5)
    for t in threads:
        t.join(args.timeout + 5)
    with rec.lock:
        result = {
            "counts": rec.counts,
            "failures": rec.failures,
            "latency_ms": {name: {"p50": ms(percentile(v, 50)), "p99": ms(percentile(v, 99)),
                                  "max": ms(max(v) if v else None)}
                           for name, v in rec.latencies.items()},
            "stock_versions": {str(k): v for k, v in sorted(rec.stock_versions.items())},
        }
    with open(os.path.join(args.out, "traffic.json"), "w") as f:
        json.dump(result, f)


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def inflight(args):
    """`count` slow calls at once; records each one's status or error."""
    host, port = args.addr.rsplit(":", 1)
    results = [None] * args.count

    def call(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        start = time.time()
        try:
            conn.request("POST", PREFIX + "/fn", body=f"sleep:{args.sleep}".encode())
            res = conn.getresponse()
            res.read()
            results[i] = {"start": start, "end": time.time(), "status": res.status}
        except (OSError, http.client.HTTPException) as e:
            results[i] = {"start": start, "end": time.time(), "error": f"{type(e).__name__}: {e}"}
        finally:
            conn.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(args.count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.out, "w") as f:
        json.dump(results, f)


# ---------------------------------------------------------------------------------------------
# report


def read_events(path):
    """Lines `TIME NAME [DETAIL...]` written by the shell scripts."""
    events = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                events.append((float(parts[0]), parts[1], parts[2:]))
    return events


def read_samples(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def mb(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MB"


class Report:
    def __init__(self, out_path):
        self.lines, self.failed, self.out_path = [], [], out_path

    def say(self, text=""):
        self.lines.append(text)

    def fail(self, text):
        self.failed.append(text)
        self.say("FAILURE: " + text)

    def finish(self):
        self.say()
        self.say("RESULT: " + (f"FAILED ({len(self.failed)} failure(s))" if self.failed else "PASSED"))
        text = "\n".join(self.lines) + "\n"
        with open(self.out_path, "w") as f:
            f.write(text)
        sys.stdout.write(text)
        return 1 if self.failed else 0


def counts_table(rep, traffic_result):
    rep.say("responses per route and status (\"error\": no HTTP answer):")
    for name, counts in traffic_result["counts"].items():
        total = sum(counts.values())
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        lat = traffic_result["latency_ms"][name]
        rep.say(f"  {name:<9} {total:>7} requests   {shown}   "
                f"(p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms)")


def describe(f):
    what = f"status {f['status']}" if f["status"] is not None else f"error {f['error']}"
    return f"{f['route']:<9} {what:<22} {f['detail'][:120]!r}"


# Which routes each fault may legitimately fail with a documented status (502/503/504), and
# for how long after it ends: a killed function fails its calls in flight and those queued
# until a new process is ready; a stopped upstream fails the HTTP route until it is back.
# Redis is absent from the table on purpose: with on_unavailable = "open" its outage must not
# fail anything. Reloads must not fail anything either.
FAULT_GRACE = 5.0
FAULT_ROUTES = {
    "kill_functions:echo": ["function"],
    "kill_functions:authorizer": ["auth"],
    "kill_functions:all": ["function", "auth"],
    "upstream_down": ["http"],
}
DOCUMENTED = {502, 503, 504}
# Each function process holds this many of the gateway's descriptors (its pidfd, its stdout and
# stderr pipes, its socket); the pool grows and shrinks with the load, so the descriptors
# judged are the others, with this tolerance.
FDS_PER_FUNCTION = 4
FD_TOLERANCE = 5


def fault_windows(events):
    """[(start, end, routes, label)] from the event log."""
    windows = []
    upstream_down = None
    for t, name, detail in events:
        if name == "kill_functions":
            key = f"kill_functions:{detail[0]}"
            windows.append((t, t + FAULT_GRACE, FAULT_ROUTES[key], key))
        elif name == "upstream_down":
            upstream_down = t
        elif name == "upstream_up" and upstream_down is not None:
            windows.append((upstream_down, t + FAULT_GRACE, FAULT_ROUTES["upstream_down"], "upstream_down"))
            upstream_down = None
    if upstream_down is not None:
        windows.append((upstream_down, float("inf"), ["http"], "upstream_down"))
    return windows


def first(events, name):
    return next(((t, d) for t, n, d in events if n == name), (None, None))


def gateway_exit(rep, events, term_at):
    """The gateway must have run until SIGTERM and exited 0 after it."""
    exit_at, detail = first(events, "gateway_exit")
    if exit_at is None:
        rep.fail("the gateway's exit was not recorded")
        return
    code = detail[0]
    if term_at is None or exit_at < term_at:
        rep.fail(f"the gateway exited with {code} before it was sent SIGTERM")
    elif code != "0":
        rep.fail(f"the gateway exited with status {code} after SIGTERM (expected 0)")
    else:
        rep.say(f"gateway exit: status 0, {exit_at - term_at:.1f} s after SIGTERM")
    survivors = [d for t, n, d in events if n == "function_survivors"]
    if survivors and survivors[0]:
        rep.fail(f"function processes outlived the gateway: {' '.join(survivors[0])}")


def rss_at(events, name):
    t, detail = first(events, name)
    return None if t is None else {"rss": int(detail[0]), "fds": int(detail[1]), "functions": int(detail[2])}


def report_chaos(d):
    events = read_events(os.path.join(d, "events"))
    result = json.load(open(os.path.join(d, "traffic.json")))
    samples = read_samples(os.path.join(d, "samples.jsonl"))
    rep = Report(os.path.join(d, "report.txt"))
    rep.say(f"chaos run in {d}")
    faults = {}
    for _, name, detail in events:
        if name in ("kill_functions", "redis_down", "upstream_down", "reload"):
            key = name + (":" + detail[0] if name == "kill_functions" else "")
            faults[key] = faults.get(key, 0) + 1
    rep.say("faults injected: " + ", ".join(f"{k} x{v}" for k, v in sorted(faults.items())))
    t0 = samples[0]["t"] if samples else 0
    rep.say("timeline (every second also: spec rewritten + SIGHUP, until faults_end):")
    for t, name, detail in events:
        if name != "reload":
            rep.say(f"  t={t - t0:7.2f}s  {name} {' '.join(detail)}")
    counts_table(rep, result)

    term_at, _ = first(events, "sigterm")
    # A request that started this long before SIGTERM was in flight when it came: the drain
    # promises it an answer. One started later may meet a closing listener or connection.
    drain_margin = 0.1
    windows = fault_windows(events)
    explained, during_stop, unexplained = [], [], []
    for f in result["failures"]:
        if term_at is not None and f["start"] >= term_at - drain_margin:
            if f["status"] in (None, *DOCUMENTED):
                during_stop.append((f, "after SIGTERM"))
            else:
                unexplained.append((f, None))
            continue
        cause = None
        if f["status"] in DOCUMENTED:
            cause = next((f"{label} at t={s - t0:.1f}s" for s, e, routes, label in windows
                          if f["route"] in routes and s - 0.5 <= f["start"] <= e), None)
        (explained if cause else unexplained).append((f, cause))

    rep.say()
    rep.say(f"failed requests: {len(result['failures'])} "
            f"({len(explained)} documented status during a fault, {len(during_stop)} during the "
            f"SIGTERM stop, {len(unexplained)} unexplained)")
    # Every failed request, one a line, in failures.txt; here, the documented ones grouped by
    # the fault that explains them, the unexplained ones one by one.
    with open(os.path.join(d, "failures.txt"), "w") as out:
        for f, cause in sorted(explained + during_stop + unexplained, key=lambda fc: fc[0]["start"]):
            out.write(f"t={f['start'] - t0:8.3f}s  {describe(f)}  [{cause or 'UNEXPLAINED'}]\n")
    groups = {}
    for f, cause in explained + during_stop:
        kind = f"status {f['status']}" if f["status"] is not None else f"error {f['error']}"
        groups.setdefault((cause, kind, f["route"]), []).append(f)
    for (cause, kind, route), fs in sorted(groups.items(), key=lambda g: min(f["start"] for f in g[1])):
        first_t, last_t = min(f["start"] for f in fs) - t0, max(f["start"] for f in fs) - t0
        rep.say(f"  ok   {len(fs):>4} x {kind:<28} on {route:<9} t={first_t:7.2f}..{last_t:7.2f}s  [{cause}]")
    for f, _ in unexplained:
        rep.fail(f"t={f['start'] - t0:.2f}s {describe(f)}  [no fault explains it]")

    # The drain: slow calls in flight at SIGTERM must all be answered 200.
    inflight_path = os.path.join(d, "inflight.json")
    if os.path.exists(inflight_path):
        calls = json.load(open(inflight_path))
        answered = [c for c in calls if c and c.get("status") == 200]
        rep.say(f"slow calls in flight at SIGTERM: {len(answered)}/{len(calls)} answered 200")
        for c in calls:
            if not c or c.get("status") != 200:
                rep.fail(f"a call in flight at SIGTERM was not answered 200: {c}")

    # Reloads: the last version written must be what the stock route serves after the faults.
    written = [int(d_[0]) for _, n, d_ in events if n == "reload"]
    versions = {int(k): v for k, v in result["stock_versions"].items()}
    calm_at, _ = first(events, "faults_end")
    if written:
        last = written[-1]
        served_late = [v for v, (_, _, last_seen) in versions.items()
                       if calm_at is not None and last_seen > calm_at + 3]
        rep.say(f"reloads: {len(written)} spec rewrites + SIGHUP; {len(versions)} distinct stock "
                f"bodies served; after the faults the stock route serves v{max(served_late) if served_late else '?'} "
                f"(last written v{last})")
        if served_late != [last]:
            rep.fail(f"after the last rewrite (v{last}) the stock route served versions {served_late}")

    # Redis came back: limits counted in Redis again after the faults.
    before, after = first(events, "metrics_calm_start")[1], first(events, "metrics_calm_end")[1]
    if before and after:
        permitted = int(after[0]) - int(before[0])
        unavailable = int(after[1]) - int(before[1])
        rep.say(f"rate limit in the 7 s after the faults: {permitted} permitted via Redis, "
                f"{unavailable} storeUnavailable")
        if permitted <= 0 or unavailable > 0:
            rep.fail("the rate limiter did not use Redis again after it came back")

    # Memory: baseline (idle after warm-up), peak, after (idle after the faults).
    base, end = rss_at(events, "baseline"), rss_at(events, "after")
    rss = [s["rss_kb"] for s in samples if s["rss_kb"] is not None]
    peak = max(rss) if rss else None
    rep.say()
    if base and end:
        rep.say(f"gateway RSS: baseline {mb(base['rss'])}, peak {mb(peak)}, after {mb(end['rss'])}")
        limit = base["rss"] + max(20 * 1024, base["rss"] // 4)
        if end["rss"] > limit:
            rep.fail(f"RSS after the faults ({mb(end['rss'])}) is more than +20 MB / +25% over the "
                     f"baseline ({mb(base['rss'])})")
        else:
            rep.say(f"  within +20 MB or +25% of the baseline (limit {mb(limit)}): yes")
        other = [b["fds"] - FDS_PER_FUNCTION * b["functions"] for b in (base, end)]
        rep.say(f"open fds: baseline {base['fds']}, after {end['fds']} (function processes "
                f"{base['functions']} -> {end['functions']}; other fds {other[0]} -> {other[1]})")
        if other[1] - other[0] > FD_TOLERANCE:
            rep.fail(f"the gateway holds {other[1] - other[0]} more fds than at the baseline, beyond "
                     f"its function processes' (tolerance {FD_TOLERANCE})")
        else:
            rep.say(f"  fds back to the baseline beyond the function processes' (tolerance +{FD_TOLERANCE}): yes")
    else:
        rep.fail("the RSS baseline or after figure is missing (did the gateway die?)")

    gateway_exit(rep, events, term_at)
    return rep.finish()


def report_soak(d, rss_tolerance_kb, fd_tolerance):
    events = read_events(os.path.join(d, "events"))
    result = json.load(open(os.path.join(d, "traffic.json")))
    soak_from, _ = first(events, "soak_start")
    soak_to, _ = first(events, "soak_end")
    samples = [s for s in read_samples(os.path.join(d, "samples.jsonl"))
               if soak_from is not None and soak_from <= s["t"] <= (soak_to or float("inf"))]
    rep = Report(os.path.join(d, "report.txt"))
    rep.say(f"soak run in {d}")
    counts_table(rep, result)
    for f in result["failures"]:
        rep.fail(describe(f))
    if not result["failures"]:
        rep.say("every response 200 with the expected body: yes")

    for s in samples:
        s["other_fds"] = None if s["fds"] is None else s["fds"] - FDS_PER_FUNCTION * s["functions"]
    rep.say()
    rep.say(" time   requests  errors   RSS        fds  function processes  other fds")
    for s in samples:
        rep.say(f"{s['t'] - samples[0]['t']:5.0f}s  {s['requests']:>8}  {s['errors']:>6}  "
                f"{mb(s['rss_kb']):>9}  {s['fds'] if s['fds'] is not None else 'n/a':>4}  "
                f"{s['functions']:>18}  {s['other_fds'] if s['other_fds'] is not None else 'n/a':>9}")
    third = len(samples) // 3
    if third < 2 or any(s["rss_kb"] is None or s["fds"] is None for s in samples):
        rep.fail(f"too few samples to judge ({len(samples)}), or the gateway was gone")
    else:
        def mean(key, part):
            return sum(s[key] for s in part) / len(part)
        head, tail = samples[:third], samples[-third:]
        rss_head, rss_tail = mean("rss_kb", head), mean("rss_kb", tail)
        fd_head, fd_tail = mean("fds", head), mean("fds", tail)
        fn_head, fn_tail = mean("functions", head), mean("functions", tail)
        other_head, other_tail = mean("other_fds", head), mean("other_fds", tail)
        rep.say()
        rep.say(f"first third vs last third ({third} samples each):")
        rep.say(f"  RSS {mb(rss_head)} -> {mb(rss_tail)} ({(rss_tail - rss_head) / 1024:+.1f} MB)")
        rep.say(f"  open fds {fd_head:.1f} -> {fd_tail:.1f} (min {min(s['fds'] for s in samples)}, "
                f"max {max(s['fds'] for s in samples)}); function processes {fn_head:.1f} -> {fn_tail:.1f}; "
                f"fds other than the function processes' {FDS_PER_FUNCTION} each: "
                f"{other_head:.1f} -> {other_tail:.1f} ({other_tail - other_head:+.1f})")
        rss_limit = max(rss_tolerance_kb, rss_head * 0.10)
        if rss_tail - rss_head > rss_limit:
            rep.fail(f"RSS grew by {(rss_tail - rss_head) / 1024:.1f} MB (tolerance {rss_limit / 1024:.1f} MB)")
        else:
            rep.say(f"  RSS flat (tolerance +{rss_limit / 1024:.1f} MB: the larger of "
                    f"{rss_tolerance_kb // 1024} MB and 10%): yes")
        if other_tail - other_head > fd_tolerance:
            rep.fail(f"open fds grew by {other_tail - other_head:.1f} beyond the function processes' "
                     f"(tolerance {fd_tolerance})")
        else:
            rep.say(f"  open fds flat (tolerance +{fd_tolerance} beyond the function processes'): yes")
    term_at, _ = first(events, "sigterm")
    gateway_exit(rep, events, term_at)
    return rep.finish()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("config")
    c.add_argument("--redis-port", type=int, required=True)
    c.add_argument("--cache-dir", required=True)
    c.add_argument("--functions", required=True)
    s = sub.add_parser("spec")
    s.add_argument("--version", required=True)
    s.add_argument("--upstream", required=True)
    t = sub.add_parser("traffic")
    t.add_argument("--addr", required=True)
    t.add_argument("--gateway-pid", type=int, required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--rate", type=float, default=200.0, help="requests per second, all threads")
    t.add_argument("--threads", type=int, default=8)
    t.add_argument("--timeout", type=float, default=30.0)
    t.add_argument("--sample-every", type=float, default=0.25)
    i = sub.add_parser("inflight")
    i.add_argument("--addr", required=True)
    i.add_argument("--count", type=int, default=4)
    i.add_argument("--sleep", type=float, default=2.0)
    i.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("kind", choices=["chaos", "soak"])
    r.add_argument("--dir", required=True)
    r.add_argument("--rss-tolerance-mb", type=int, default=2)
    r.add_argument("--fd-tolerance", type=int, default=FD_TOLERANCE)
    args = p.parse_args()
    if args.command == "config":
        sys.stdout.write(gateway_toml(args.redis_port, args.cache_dir, args.functions))
    elif args.command == "spec":
        json.dump(route_spec(args.version, args.upstream), sys.stdout, indent=1)
        print()
    elif args.command == "traffic":
        traffic(args)
    elif args.command == "inflight":
        inflight(args)
    elif args.kind == "chaos":
        return report_chaos(args.dir)
    else:
        return report_soak(args.dir, args.rss_tolerance_mb * 1024, args.fd_tolerance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
