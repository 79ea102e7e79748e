#!/usr/bin/env bash
# The gateway's data path against nginx doing the same work, measured in one run:
#
#   benches/load/compare.sh stock|proxy|function|h2 [ROUNDS] [SECONDS]
#
#   stock     a STOCK_RESPONSE_BACKEND route vs nginx `return 200` (same body and content type)
#   proxy     an HTTP_BACKEND route vs nginx `proxy_pass` with a keep-alive upstream, both to the
#             same upstream (nginx serving a 1 KiB body)
#   function  a route to a local Python FDK function (tests/functions/echo, one warm process)
#             vs nginx `proxy_pass` to that same process's unix socket with the headers of the
#             FDK contract; one connection, one call at a time, so p50 shows what each adds
#   h2        the stock route over HTTP/2 (h2c, prior knowledge) with h2load vs nginx `http2`
#
# The server under test (gateway or nginx, one worker each) runs on CPU 0; the load generator
# (wrk -t1 -c50, or h2load -c50 -m10) and the upstream (or the function process) on CPU 1.
# ROUNDS (default 3) alternate nginx and the gateway; the medians are printed with one ratio
# line per figure. Environment: WORKERS=2 runs both servers with two workers, unpinned, and the
# load generator with two threads (a report, no target); GATEWAY_BIN compares another build.
# `function` needs python3 with venv: the first run installs `fdk` from PyPI into
# target/bench-functions. `cargo bench -p gateway-benches --bench function_roundtrip` measures
# the same call against the bare socket, without nginx.
#
# Run on a quiet machine: a build or a test run on the other core makes the figures meaningless.
# Needs wrk, h2load and nginx (Debian: wrk nghttp2-client nginx-light).
set -euo pipefail
cd "$(dirname "$0")/../.."

mode="${1:?usage: compare.sh stock|proxy|function|h2 [ROUNDS] [SECONDS]}"
rounds="${2:-3}"
duration="${3:-10}"
workers="${WORKERS:-1}"
connections=50

# shellcheck source=lib.sh
source benches/load/lib.sh
begin
chmod 755 "$work"   # nginx workers run as an unprivileged user and must read the body
require wrk h2load nginx python3 taskset

if [ "$workers" = 1 ]; then
    server_cpu=(taskset -c 0)
    client_cpu=(taskset -c 1)
else
    server_cpu=()
    client_cpu=()
fi
body='{"message":"hello"}'

# start_nginx NAME WORKERS HTTP_BLOCKS [MAIN_DIRECTIVES]: an nginx with its own prefix in
# $work/NAME.
start_nginx() {
    local name="$1" count="$2" cpu=()
    [ "$name" = upstream ] && cpu=("${client_cpu[@]}") || cpu=("${server_cpu[@]}")
    mkdir -p "$work/$name"
    cat > "$work/$name/nginx.conf" <<CONF
${4:-}
worker_processes $count;
daemon off;
pid $work/$name/nginx.pid;
error_log $work/$name/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/$name;
    proxy_temp_path $work/$name;
    fastcgi_temp_path $work/$name;
    uwsgi_temp_path $work/$name;
    scgi_temp_path $work/$name;
    keepalive_requests 1000000;
    $3
}
CONF
    "${cpu[@]}" nginx -c "$work/$name/nginx.conf" -p "$work/$name" &
    pids+=($!)
}

descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }

nginx_port="$(free_port)"
case "$mode" in
    stock|h2)
        listen="listen 127.0.0.1:$nginx_port"
        [ "$mode" = h2 ] && listen="$listen http2"
        start_nginx anchor "$workers" "server { $listen;
            location /bench/hello { default_type application/json; return 200 '$body'; } }"
        cat > "$work/spec.json" <<JSON
{ "routes": [ { "path": "/hello", "methods": ["GET"],
  "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200,
    "headers": [ { "name": "Content-Type", "value": "application/json" } ],
    "body": "{\"message\":\"hello\"}" } } ] }
JSON
        path=/bench/hello
        ;;
    proxy)
        upstream_port="$(free_port)"
        python3 -c 'print("x" * 1024, end="")' > "$work/body.txt"
        start_nginx upstream 1 "server { listen 127.0.0.1:$upstream_port;
            location / { root $work; try_files /body.txt =404; } }"
        start_nginx anchor "$workers" "upstream backend { server 127.0.0.1:$upstream_port; keepalive 64; }
            server { listen 127.0.0.1:$nginx_port; location / { proxy_pass http://backend;
                proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
        cat > "$work/spec.json" <<JSON
{ "routes": [ { "path": "/{rest*}", "methods": ["GET"],
  "backend": { "type": "HTTP_BACKEND", "url": "http://127.0.0.1:$upstream_port/\${request.path[rest]}" } } ] }
JSON
        path=/bench/x
        ;;
    function)
        connections=1
        function_config echo ocid1.fnfunc.oc1..echo "$PWD/tests/functions/echo" GET /echo \
            "max_concurrency = 1
min_idle = 1
idle_timeout = 3600"
        ;;
    *) echo "unknown mode $mode: stock, proxy, function or h2" >&2; exit 2 ;;
esac
if [ "$mode" = function ]; then
    gateway_threads="$workers" gateway_wrap="${server_cpu[*]}" start_gateway --config "$work/gateway.toml"
    # The gateway's one warm process: moved to the load generator's CPU, and its socket is
    # nginx's upstream.
    fn_pid="" socket=""
    for _ in $(seq 100); do
        for p in $(descendants "$gateway_pid"); do
            listener="$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | sed -n 's/^FN_LISTENER=unix://p')"
            if [ -n "$listener" ]; then fn_pid="$p" socket="$listener"; fi
        done
        [ -n "$fn_pid" ] && break
        sleep 0.1
    done
    [ -n "$fn_pid" ] || { echo "the function process did not start" >&2; exit 1; }
    [ "$workers" = 1 ] && taskset -a -p -c 1 "$fn_pid" >/dev/null
    # nginx's workers must reach the socket, which only the gateway's user may.
    start_nginx anchor "$workers" "upstream fn { server unix:$socket; keepalive 8; }
        server { listen 127.0.0.1:$nginx_port; location /bench/echo {
            proxy_pass http://fn/call; proxy_method POST; proxy_http_version 1.1;
            proxy_set_header Connection \"\"; proxy_set_header Fn-Call-Id \$request_id;
            proxy_set_header Fn-Deadline 2099-01-01T00:00:00.000Z;
            proxy_set_header Fn-Intent httprequest; proxy_set_header Fn-Invoke-Type sync;
            proxy_set_header Fn-Http-Method \$request_method;
            proxy_set_header Fn-Http-Request-Url \$request_uri;
            proxy_set_header Content-Type application/octet-stream; } }" "user root;"
    path=/bench/echo
else
    gateway_threads="$workers" gateway_wrap="${server_cpu[*]}" start_gateway "$work/spec.json" --path-prefix /bench
fi

# measure NAME ADDR: one run; prints "rps p50_us p99_us".
measure() {
    local out
    if [ "$mode" = h2 ]; then
        out="$("${client_cpu[@]}" h2load -c"$connections" -m10 -t"$workers" -D"$duration" "http://$2$path" 2>&1)"
        python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
rps = re.search(r"finished in [^,]+, ([\d.]+) req/s", out).group(1)
# h2load reports the mean and spread of request times, not percentiles.
mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out).group(1)
def us(v):
    n, u = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 1, "ms": 1000, "s": 1e6}[u]
print(rps, us(mean), us(mean))
PY
    else
        out="$("${client_cpu[@]}" wrk -t"$workers" -c"$connections" -d"${duration}s" --latency "http://$2$path")"
        # Throughput of errors means nothing: every answer must be a 2xx.
        if grep -q "Non-2xx" <<<"$out"; then echo "$1 answered errors: $out" >&2; exit 1; fi
        python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
def us(p):
    n, u = re.search(rf"\s{p}%\s+([\d.]+)(\w+)", out).groups()
    return float(n) * {"us": 1, "ms": 1000, "s": 1e6}[u]
print(rps, us("50"), us("99"))
PY
    fi
}

echo "$mode: $rounds rounds of ${duration}s, $workers worker(s), $connections connections, $(nproc) cores" >&2
results="$work/results"
for round in $(seq "$rounds"); do
    for who in nginx gateway; do
        addr="127.0.0.1:$nginx_port"
        [ "$who" = gateway ] && addr="$gateway_addr"
        line="$(measure "$who" "$addr")"
        echo "round $round $who: $line (req/s, p50 µs, p99 µs; h2: mean twice)" >&2
        echo "$who $line" >> "$results"
    done
done
python3 - "$results" "$mode" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {who: [statistics.median(float(r[i]) for r in rows if r[0] == who) for i in (1, 2, 3)]
       for who in ("nginx", "gateway")}
(nr, n50, n99), (gr, g50, g99) = med["nginx"], med["gateway"]
mode = sys.argv[2]
if mode == "h2":
    # h2load reports the mean time per request, not percentiles.
    print(f"h2: nginx {nr:.0f} req/s mean {n50:.0f} µs; gateway {gr:.0f} req/s mean {g50:.0f} µs")
    print(f"h2: gateway / nginx req/s {gr / nr:.2f}x, mean latency {g50 / n50:.2f}x")
else:
    print(f"{mode}: nginx {nr:.0f} req/s p50 {n50:.0f} µs p99 {n99:.0f} µs; "
          f"gateway {gr:.0f} req/s p50 {g50:.0f} µs p99 {g99:.0f} µs")
    print(f"{mode}: gateway / nginx req/s {gr / nr:.2f}x, p99 {g99 / n99:.2f}x")
    if mode == "function":
        print(f"function: p50 added by the gateway over nginx {g50 - n50:+.0f} µs")
PY
