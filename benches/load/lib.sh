# Shared by the load scripts in this directory: sourced, not run. `run` expects `duration` and
# `connections` to be set by the caller.

# begin: builds the release gateway and makes the scratch directory `work`; on exit, every
# process in `pids` is stopped and `work` removed.
begin() {
    cargo build --release -q -p gateway-bin
    work="$(mktemp -d)"
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
}

# require TOOL...: exits with a hint unless every tool is on PATH.
require() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y wrk nginx-light python3" >&2; exit 2; }
    done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The gateway binary the scripts run: the release build, or GATEWAY_BIN (another build, e.g. of an
# older commit, to compare with).
gateway_bin="${GATEWAY_BIN:-target/release/gateway}"

# start_gateway SERVE_ARGS...: runs the gateway (`gateway serve SERVE_ARGS`, e.g. a spec file and
# flags, or `--config FILE`) with `gateway_threads` serving workers (default 1) and one thread
# for everything else, under the command in `gateway_wrap` if set (e.g. `taskset -c 0`), and
# sets gateway_addr and gateway_pid once it listens.
start_gateway() {
    # shellcheck disable=SC2086 # gateway_wrap is a command with its arguments
    TOKIO_WORKER_THREADS=1 RUST_LOG=warn ${gateway_wrap:-} "$gateway_bin" serve "$@" \
        --workers "${gateway_threads:-1}" --listen 127.0.0.1:0 > "$work/gateway.out" 2> "$work/gateway.err" &
    gateway_pid=$!
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$work/gateway.out" 2>/dev/null && break; sleep 0.1; done
    gateway_addr="$(sed -n 's/^listening on http:\/\///p' "$work/gateway.out")"
    [ -n "$gateway_addr" ] || { echo "the gateway did not start:" >&2; cat "$work/gateway.err" >&2; exit 1; }
    sleep 0.5
}

# run NAME URL: one wrk run; prints its line to stderr and the requests per second to stdout.
run() {
    local out rps p50 p99
    out="$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$2")"
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    printf '%-8s %12s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99" >&2
    echo "$rps"
}

# compare NGINX_RPS GATEWAY_RPS: the throughput ratio.
compare() {
    python3 -c "print(f'gateway / nginx throughput: {float(\"$2\")/float(\"$1\"):.2f}')"
}

# function_config NAME ID SOURCE METHOD PATH [SETTINGS]: writes $work/spec.json (one METHOD
# route at PATH to function ID) and $work/gateway.toml (deployment /bench, the function NAME
# from SOURCE with SETTINGS appended to its section), then prepares the function (a venv, once,
# in target/bench-functions) so that the gateway starts at once.
function_config() {
    cat > "$work/spec.json" <<JSON
{ "routes": [ { "path": "$5", "methods": ["$4"],
  "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "$2" } } ] }
JSON
    cat > "$work/gateway.toml" <<TOML
[gateway]
cache_dir = "$PWD/target/bench-functions"

[[deployment]]
name = "bench"
path_prefix = "/bench"
specification = "spec.json"

[[application]]
name = "bench"

[[application.function]]
name = "$1"
id = "$2"
source = "$3"
${6:-}
TOML
    "$gateway_bin" invoke --config "$work/gateway.toml" "$2" --data warm >/dev/null
}
