#!/usr/bin/env bash
# Reverse-proxy throughput and tail latency: wrk through the gateway (an HTTP_BACKEND route,
# no policies) against wrk through nginx `proxy_pass` with a keep-alive upstream, to the same
# upstream (nginx serving a 1 KiB body), on this machine, in one run, one worker each.
#
#   benches/load/proxy-vs-nginx.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx-light). Everything listens on
# 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration="${1:-10}"
connections="${2:-50}"


# shellcheck source=lib.sh
source benches/load/lib.sh
begin
chmod 755 "$work"   # nginx workers run as an unprivileged user and must read the body
require wrk nginx python3

upstream_port="$(free_port)"
proxy_port="$(free_port)"
python3 -c 'print("x" * 1024, end="")' > "$work/body.txt"

# One nginx process serves the upstream (one worker) and another proxies to it (one worker).
start_nginx() { # name conf
    mkdir -p "$work/$1"
    cat > "$work/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/$1;
    proxy_temp_path $work/$1;
    fastcgi_temp_path $work/$1;
    uwsgi_temp_path $work/$1;
    scgi_temp_path $work/$1;
    keepalive_requests 1000000;
    $2
}
CONF
    nginx -c "$work/$1/nginx.conf" -p "$work/$1" &
    pids+=($!)
}
start_nginx upstream "server { listen 127.0.0.1:$upstream_port; location / { root $work; try_files /body.txt =404; } }"
start_nginx proxy "upstream backend { server 127.0.0.1:$upstream_port; keepalive 64; }
    server { listen 127.0.0.1:$proxy_port; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

cat > "$work/spec.json" <<JSON
{ "routes": [ { "path": "/{rest*}", "methods": ["GET"],
  "backend": { "type": "HTTP_BACKEND", "url": "http://127.0.0.1:$upstream_port/\${request.path[rest]}" } } ] }
JSON
start_gateway "$work/spec.json"


echo "wrk -t1 -c$connections -d${duration}s, $(nproc) cores, loopback, 1 KiB body" >&2
curl -fsS "http://127.0.0.1:$proxy_port/x" >/dev/null
curl -fsS "http://$gateway_addr/x" >/dev/null
nginx_rps="$(run nginx "http://127.0.0.1:$proxy_port/x")"
gateway_rps="$(run gateway "http://$gateway_addr/x")"
compare "$nginx_rps" "$gateway_rps"
