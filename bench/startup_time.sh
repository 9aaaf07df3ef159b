#!/bin/bash
# Seconds from spawning `pitchrec serve` (one worker, an existing snapshot) to its first
# /readyz 200, for the code under a source directory (compare two trees without
# reinstalling). Readiness ignores Redis here, so a Redis that hangs or refuses can be timed.
#
#   bench/startup_time.sh <src dir> <snapshot dir> <redis url>
#   e.g. bench/startup_time.sh src /tmp/snap redis://127.0.0.1:6379/13
set -euo pipefail
SRC=$1 SNAPSHOT=$2 REDIS=$3
HERE=$(cd "$(dirname "$0")/.." && pwd)
PORT=$("$HERE/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
PYTHONPATH=$SRC PITCHREC_READY_REQUIRES_REDIS=false PITCHREC_REFRESH_SECONDS=0 \
    "$HERE/.venv/bin/python" -c "from pitchrec.entry import main; main()" serve \
    --snapshot "$SNAPSHOT" --redis-url "$REDIS" --host 127.0.0.1 --port "$PORT" --workers 1 \
    >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz"; do sleep 0.01; done
end=$(date +%s.%N)
"$HERE/.venv/bin/python" -c "print(round($end - $start, 3))"
