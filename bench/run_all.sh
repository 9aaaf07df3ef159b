#!/usr/bin/env bash
# Runs every benchmark of bench/RESULTS.md and leaves their JSON in var/bench/.
# Needs: a seeded scale-1 world (make run seeds var/pitchrec-demo.db), wrk, Redis on
# 127.0.0.1:6379 (database 14 is flushed), optionally a scale-20 world in var/world-s20.db
# (.venv/bin/pitchrec seed --database-url sqlite:///var/world-s20.db --scale 20).
set -euo pipefail
cd "$(dirname "$0")/.."
out=var/bench
mkdir -p "$out"
py=.venv/bin/python
s1=sqlite:///var/pitchrec-demo.db

$py bench/feed_latency.py --database-url "$s1" --requests 2000 > "$out/feed_s1.json"
$py bench/explain_cost.py --database-url "$s1" --requests 1000 > "$out/explain_s1.json"
if [ -f var/world-s20.db ]; then
  $py bench/feed_latency.py --database-url sqlite:///var/world-s20.db --requests 1000 > "$out/feed_s20.json"
fi
.venv/bin/pitchrec build --database-url "$s1" --out "$out/snapshot" 2> /dev/null
$py bench/tracking_bench.py --snapshot "$out/snapshot" --redis-url redis://127.0.0.1:6379/14 \
  > "$out/tracking.json"
$py bench/http_load.py --database-url "$s1" --workers 2 --duration 20 > "$out/http_no_redis.json"
$py bench/http_load.py --database-url "$s1" --workers 2 --duration 20 \
  --redis-url redis://127.0.0.1:6379/14 > "$out/http_redis.json"
ls -l "$out"
