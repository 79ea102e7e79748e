#!/usr/bin/env bash
# A long run of the chaos setup without faults: every answer must be 200 with the expected body,
# and the gateway's RSS and open file descriptors must stay flat.
#
#   benches/chaos/soak.sh [SECONDS]        (default 600, at least 60)
#
# Same setup and traffic mix as chaos.sh (see lib.sh, harness.py). After a 20 s warm-up,
# harness.py samples every 10 s: requests and errors so far, the gateway's RSS and open fds
# (/proc/PID/fd), its function processes. At the end traffic stops, the gateway gets SIGTERM
# and must exit 0, and the report compares the mean of the last third of the samples with the
# first third: RSS may grow by at most the larger of 2 MB and 10%, open fds by at most 5 beyond
# the 4 that each function process holds (the pool grows and shrinks with the load).
# Exit status 1 on any error or growth beyond that.
set -euo pipefail
name=soak
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

seconds="${1:-600}"
[ "$seconds" -ge 60 ] || { echo "SECONDS must be at least 60" >&2; exit 2; }

setup
start_traffic 10
echo "warm-up 20 s, then ${seconds} s of traffic" >&2
sleep 20
event soak_start
sleep "$seconds"
event soak_end
stop_traffic
stop_gateway
rc=0
python3 "$harness" report soak --dir "$run" --rss-tolerance-mb 2 --fd-tolerance 5 || rc=$?
exit "$rc"
