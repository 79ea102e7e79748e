#!/usr/bin/env bash
# Fault injection under steady traffic: the gateway must answer 200, or a documented 502/503/504
# while a fault touches the route, stay up until SIGTERM, exit 0 after draining, and give back
# the memory the faults cost.
#
#   benches/chaos/chaos.sh [SECONDS]        (default 120, at least 60)
#
# Setup (lib.sh): Redis, an nginx upstream, the release gateway serving one deployment with a
# stock route, an HTTP_BACKEND route, a function route (tests/functions/echo) and a route
# behind CUSTOM_AUTHENTICATION (tests/functions/authorizer); rate limits in Redis, failing open.
# harness.py sends a steady mix to the four routes (CHAOS_RATE requests/s, default 200) and
# records every answer. Timeline:
#   warm-up 10 s; traffic paused 3 s: baseline RSS
#   faults until SECONDS-31 s, repeating every 40 s: kill -9 the echo processes (t+0), Redis
#     SIGKILLed (t+8) and restarted on its port (t+12), the upstream SIGKILLed (t+16) and
#     restarted (t+20), kill -9 the authorizer processes (t+24), kill -9 every function process
#     (t+30); and every second the spec is rewritten (a new stock body) and the gateway SIGHUPed
#   calm 10 s (the rate limiter must count in Redis again; the last stock body is served)
#   traffic paused 5 s: RSS after
#   traffic resumed with 4 slow function calls in flight; SIGTERM; the gateway must exit 0
# The report (stdout and report.txt in the run directory; every failed request in failures.txt)
# judges what README.md "Chaos and soak" lists; the exit status is 1 on any FAILURE.
set -euo pipefail
name=chaos
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

seconds="${1:-120}"
[ "$seconds" -ge 60 ] || { echo "SECONDS must be at least 60" >&2; exit 2; }
fault_seconds=$((seconds - 31))

# check_gateway: stop the schedule at once if the gateway died on its own.
check_gateway() {
    alive "$gateway_pid" && return 0
    local rc=0
    wait "$gateway_pid" || rc=$?
    event gateway_exit "$rc"
    echo "the gateway died during the faults (exit status $rc); see $run/gateway.log" >&2
    gateway_pid=""
    return 1
}

kill_functions() { # echo|authorizer|all
    local pids
    pids="$(function_pids "$1" | tr '\n' ' ')"
    event kill_functions "$1" $pids
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

redis_down() { event redis_down; stop_pid "$redis_pid" KILL || true; redis_pid=""; }
redis_up() { start_redis; event redis_up; }
upstream_down() { event upstream_down; stop_pid "$upstream_pid" KILL || true; upstream_pid=""; }
upstream_up() { start_upstream; event upstream_up; }

setup
start_traffic 0.25
echo "warm-up" >&2
sleep 10
kill -USR1 "$client_pid"; event pause; sleep 3
event baseline $(gateway_figures)
kill -USR2 "$client_pid"; event resume

echo "faults for ${fault_seconds} s" >&2
version=1
tick=0
gateway_ok=1
while :; do
    # Outages end before the schedule does: stop only with Redis and the upstream up.
    if [ "$tick" -ge "$fault_seconds" ] && [ -n "$redis_pid" ] && [ -n "$upstream_pid" ]; then break; fi
    case $((tick % 40)) in
        0) kill_functions echo ;;
        8) redis_down ;;
        12) redis_up ;;
        16) upstream_down ;;
        20) upstream_up ;;
        24) kill_functions authorizer ;;
        30) kill_functions all ;;
    esac
    version=$((version + 1))
    write_spec "$version"
    event reload "$version"
    kill -HUP "$gateway_pid"
    sleep 1
    tick=$((tick + 1))
    check_gateway || { gateway_ok=0; break; }
done
event faults_end

if [ "$gateway_ok" = 1 ]; then
    echo "calm" >&2
    sleep 3
    event metrics_calm_start $(rate_limit_metrics)
    sleep 7
    event metrics_calm_end $(rate_limit_metrics)
    kill -USR1 "$client_pid"; event pause; sleep 5
    event after $(gateway_figures)
    kill -USR2 "$client_pid"; event resume
    echo "SIGTERM with requests in flight" >&2
    python3 "$harness" inflight --addr "$gateway_addr" --count 4 --sleep 2 --out "$run/inflight.json" &
    inflight_pid=$!
    sleep 0.7
    stop_gateway
    wait "$inflight_pid" || true
    inflight_pid=""
fi
stop_traffic
rc=0
python3 "$harness" report chaos --dir "$run" || rc=$?
exit "$rc"
