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


# shellcheck source=lib.sh
source benches/load/lib.sh
begin
require wrk nginx python3


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
start_gateway "$work/spec.json" --path-prefix /bench


echo "wrk -t1 -c$connections -d${duration}s, $(nproc) cores, loopback" >&2
curl -fsS "http://127.0.0.1:$nginx_port/bench/hello" >/dev/null
curl -fsS "http://$gateway_addr/bench/hello" >/dev/null
nginx_rps="$(run nginx "http://127.0.0.1:$nginx_port/bench/hello")"
gateway_rps="$(run gateway "http://$gateway_addr/bench/hello")"
compare "$nginx_rps" "$gateway_rps"
