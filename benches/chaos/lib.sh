# Shared by chaos.sh and soak.sh: sourced, not run. The caller sets `name` (the run's name)
# and `set -euo pipefail` first.
#
# Starts, on 127.0.0.1 and free ports: Redis, an nginx upstream answering a fixed body, and the
# release gateway with the deployment of harness.py (stock, HTTP, function and authenticated
# routes; rate limits in Redis, failing open; the admin listener). Every process started here is
# remembered by PID and stopped on exit, also on failure or Ctrl-C. Everything a run leaves
# (configs, logs, samples, the report) stays in `$run`, under target/chaos/.

for tool in redis-server nginx python3 curl cargo; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y redis-server nginx-light python3 python3-venv curl)" >&2; exit 2; }
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
harness="$repo/benches/chaos/harness.py"
gateway_bin="$repo/target/release/gateway"
# Prepared functions (venvs with fdk) outlive runs: only the first run installs them.
function_cache="$repo/target/chaos/functions"
mkdir -p "$repo/target/chaos"
run="$(mktemp -d "$repo/target/chaos/$name-$(date +%Y%m%d-%H%M%S)-XXXX")"
chmod 755 "$run"

redis_pid="" upstream_pid="" gateway_pid="" client_pid="" inflight_pid=""
gateway_addr="" admin_addr=""

# event NAME [DETAIL...]: one timestamped line in $run/events, which the report reads.
event() { echo "$(date +%s.%N) $*" >> "$run/events"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
    [ -n "$state" ] && [ "$state" != Z ]
}

# stop_pid PID [SIGNAL] [SECONDS]: signal a child of this script and reap it; SIGKILL when it
# outlives SECONDS (default 10). Prints nothing; returns its exit status.
stop_pid() {
    local pid="$1" sig="${2:-TERM}" patience="${3:-10}" rc=0
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    if [ "$sig" != KILL ]; then
        for _ in $(seq $((patience * 10))); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    { wait "$pid"; } 2>/dev/null || rc=$?
    return "$rc"
}

wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

start_redis() {
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$run" --logfile "$run/redis.log" &
    redis_pid=$!
    wait_port "$redis_port"
}

# The upstream: one nginx process (no master) answering GET /body with UPSTREAM_BODY.
start_upstream() {
    mkdir -p "$run/nginx"
    cat > "$run/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $run/nginx/nginx.pid;
error_log $run/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    $(for t in client_body proxy fastcgi uwsgi scgi; do printf '%s_temp_path %s; ' "$t" "$run/nginx"; done)
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$upstream_port;
        location = /body { default_type text/plain; return 200 "upstream ok\n"; }
    }
}
CONF
    nginx -e "$run/nginx/error.log" -c "$run/nginx/nginx.conf" -p "$run/nginx" &
    upstream_pid=$!
    wait_port "$upstream_port"
}

# write_spec VERSION: the deployment spec with the stock body "stock vVERSION", replaced in one
# rename so that a reload never reads half a file.
write_spec() {
    sed "s/@VERSION@/$1/" "$run/spec.template" > "$run/spec.json.new"
    mv "$run/spec.json.new" "$run/spec.json"
}

start_gateway() {
    # Reloads, function and Redis events at info; the per-request backend lines only when they
    # are warnings.
    NO_COLOR=1 RUST_LOG="${RUST_LOG:-info,gateway_core::backend=warn}" "$gateway_bin" serve --config "$run/gateway.toml" \
        --listen 127.0.0.1:0 > "$run/gateway.out" 2> "$run/gateway.log" &
    gateway_pid=$!
    for _ in $(seq 600); do
        grep -q '^listening on' "$run/gateway.out" && break
        alive "$gateway_pid" || { echo "the gateway exited at start; see $run/gateway.log" >&2; exit 1; }
        sleep 0.1
    done
    gateway_addr="$(sed -n 's/^listening on http:\/\///p' "$run/gateway.out")"
    admin_addr="$(sed -n 's/^admin listening on http:\/\///p' "$run/gateway.out")"
    [ -n "$gateway_addr" ] && [ -n "$admin_addr" ] || { echo "the gateway did not announce its listeners" >&2; exit 1; }
}

# setup: everything up to a gateway serving the deployment, its functions prepared.
setup() {
    [ -x "$gateway_bin" ] || { echo "building the release gateway" >&2; (cd "$repo" && cargo build --release -q -p gateway-bin); }
    redis_port="$(free_port)"
    upstream_port="$(free_port)"
    start_redis
    start_upstream
    python3 "$harness" config --redis-port "$redis_port" --cache-dir "$function_cache" \
        --functions "$repo/tests/functions" > "$run/gateway.toml"
    python3 "$harness" spec --version @VERSION@ --upstream "127.0.0.1:$upstream_port" > "$run/spec.template"
    write_spec 1
    # `gateway invoke` prepares a function without serve's start timeout (the first time
    # installs fdk from PyPI into the cache).
    echo "preparing the functions (the first run installs fdk from PyPI)" >&2
    { "$gateway_bin" invoke --config "$run/gateway.toml" chaos-app/echo --data x &&
        "$gateway_bin" invoke --config "$run/gateway.toml" chaos-app/authorizer \
            --data '{"type":"TOKEN","token":"inactive"}'; } > "$run/prepare.log" 2>&1 ||
        { echo "the functions could not be prepared; see $run/prepare.log" >&2; exit 1; }
    start_gateway
    echo "gateway pid $gateway_pid on $gateway_addr (admin $admin_addr); redis :$redis_port; upstream :$upstream_port; run directory $run" >&2
}

# start_traffic SAMPLE_SECONDS: the harness's steady mix (CHAOS_RATE requests/s, default 200).
start_traffic() {
    python3 "$harness" traffic --addr "$gateway_addr" --gateway-pid "$gateway_pid" --out "$run" \
        --rate "${CHAOS_RATE:-200}" --sample-every "$1" > "$run/traffic.log" 2>&1 &
    client_pid=$!
}

# gateway_figures: "RSS_KB OPEN_FDS FUNCTION_PROCESSES" of the gateway now.
gateway_figures() {
    local rss fds kids
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$gateway_pid/status")"
    fds="$(find "/proc/$gateway_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
    kids="$(pgrep -c -P "$gateway_pid" || true)"
    echo "$rss $fds $kids"
}

# function_pids echo|authorizer|all: the gateway's function processes.
function_pids() {
    local pid cmd
    for pid in $(pgrep -P "$gateway_pid" || true); do
        cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
        case "$1:$cmd" in
            all:*|echo:*functions/echo/*|authorizer:*functions/authorizer/*) echo "$pid" ;;
        esac
    done
}

# rate_limit_metrics: "PERMITTED STORE_UNAVAILABLE" from the admin listener's /metrics.
rate_limit_metrics() {
    curl -fsS "http://$admin_addr/metrics" | awk '
        /^oci_apigateway_RateLimitingRequests/ && /outcome="permitted"/ { p += $NF }
        /^oci_apigateway_RateLimitingRequests/ && /outcome="storeUnavailable"/ { u += $NF }
        END { printf "%d %d\n", p, u }'
}

# stop_gateway: SIGTERM, wait for the exit (SIGKILL after 40 s), record its status and any
# function process that outlived it.
stop_gateway() {
    local rc=0 survivors="" pid
    event sigterm
    stop_pid "$gateway_pid" TERM 40 || rc=$?
    event gateway_exit "$rc"
    gateway_pid=""
    sleep 1
    for pid in $(cat "$run/function-pids" 2>/dev/null); do
        alive "$pid" && grep -qa "$function_cache" "/proc/$pid/cmdline" 2>/dev/null && survivors="$survivors $pid"
    done
    event function_survivors $survivors
}

# stop_traffic: the harness writes traffic.json when it stops.
stop_traffic() {
    stop_pid "$client_pid" TERM 60 || true
    client_pid=""
}

cleanup() {
    local pid
    stop_traffic
    stop_pid "$inflight_pid" TERM 5 || true
    if [ -n "$gateway_pid" ]; then
        alive "$gateway_pid" && event gateway_killed_by_cleanup
        stop_pid "$gateway_pid" TERM 15 || true
    fi
    stop_pid "$redis_pid" KILL || true
    stop_pid "$upstream_pid" KILL || true
    # The gateway stops its function processes; any that did not are reported, then killed.
    for pid in $(cat "$run/function-pids" 2>/dev/null); do
        alive "$pid" && grep -qa "$function_cache" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    echo "run directory: $run" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
