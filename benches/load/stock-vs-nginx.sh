#!/usr/bin/env bash
# Throughput and tail latency of a gateway stock route against nginx's `return 200`, on this
# machine, in one run, one worker each (nginx: worker_processes 1; gateway: one tokio worker).
#
#   benches/load/stock-vs-nginx.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx-light). Everything listens on
# 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration="${1:-10}"
connections="${2:-50}"
body='{"message":"hello"}'

for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y wrk nginx-light" >&2; exit 2; }
done

cargo build --release -q -p gateway-bin
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx, one worker, `return 200` with the same body and content type.
nginx_port="$(free_port)"
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        location /bench/hello {
            default_type application/json;
            return 200 '$body';
        }
    }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

# The gateway, one tokio worker, the same answer as a stock response.
cat > "$work/spec.json" <<JSON
{ "routes": [ { "path": "/hello", "methods": ["GET"],
  "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200,
    "headers": [ { "name": "Content-Type", "value": "application/json" } ],
    "body": "{\"message\":\"hello\"}" } } ] }
JSON
TOKIO_WORKER_THREADS=1 RUST_LOG=warn target/release/gateway serve "$work/spec.json" \
    --path-prefix /bench --listen 127.0.0.1:0 > "$work/gateway.out" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/gateway.out" 2>/dev/null && break; sleep 0.1; done
gateway_addr="$(sed -n 's/^listening on http:\/\///p' "$work/gateway.out")"
sleep 0.5

run() { # name url
    local out
    out="$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$2")"
    local rps p50 p99
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    printf '%-8s %12s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99" >&2
    echo "$rps"
}

echo "wrk -t1 -c$connections -d${duration}s, $(nproc) cores, loopback" >&2
curl -fsS "http://127.0.0.1:$nginx_port/bench/hello" >/dev/null
curl -fsS "http://$gateway_addr/bench/hello" >/dev/null
nginx_rps="$(run nginx "http://127.0.0.1:$nginx_port/bench/hello")"
gateway_rps="$(run gateway "http://$gateway_addr/bench/hello")"
python3 -c "print(f'gateway / nginx throughput: {float(\"$gateway_rps\")/float(\"$nginx_rps\"):.2f}')"
