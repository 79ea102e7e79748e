#!/usr/bin/env bash
# Memory under function uploads: CLIENTS (default 400) chunked POSTs of BYTES (default 5.9 MiB,
# just under the 6 MiB function body limit) at once, each on its own connection, to a route
# backed by a local Python FDK function (benches/load/functions/upload-echo, which answers with
# the body's size and digest). Samples the VmRSS of the release gateway and, separately, of its
# function processes every 100 ms during the load and for IDLE_SECONDS after it, and prints the
# statuses, the peaks and the idle figures.
#
#   benches/load/upload-memory.sh [CLIENTS] [BYTES] [IDLE_SECONDS]
#
# The function pool has the defaults (8 processes, a queue of 64): most uploads are refused
# with 503, which is the point. GATEWAY_BIN=path runs another build of the gateway (e.g. one of
# an older commit) to compare with. Needs python3 with venv; the first run installs `fdk` from PyPI
# into target/bench-functions. Everything listens on 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

clients="${1:-400}"
bytes="${2:-6186598}"
idle="${3:-10}"

# shellcheck source=lib.sh
source benches/load/lib.sh
begin
require python3
ulimit -n 4096 2>/dev/null || true

function_config upload-echo ocid1.fnfunc.oc1..upload "$PWD/benches/load/functions/upload-echo" \
    POST /upload
# Every core: the figure that matters is memory, not one worker's throughput.
gateway_threads="$(nproc)" start_gateway --config "$work/gateway.toml"

echo "$(nproc) cores, loopback, $gateway_bin pid $gateway_pid" >&2
python3 benches/load/upload-memory.py --addr "$gateway_addr" --path /bench/upload \
    --pid "$gateway_pid" --clients "$clients" --bytes "$bytes" --idle "$idle"
