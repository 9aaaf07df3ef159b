#!/usr/bin/env bash
# Start MariaDB and Redis for the integration tests when they are down and installed.
# Never fails: tests that need a missing server skip with a reason, or fail when
# PITCHREC_REQUIRE_SERVERS=1 (as .ci/run sets).
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=0

if ! port_open 6379 && command -v redis-server >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null && started=1
fi

if ! port_open 3306; then
  mariadbd=$(command -v mariadbd || true)
  [ -z "$mariadbd" ] && [ -x /usr/sbin/mariadbd ] && mariadbd=/usr/sbin/mariadbd
  if [ -n "$mariadbd" ] && command -v start-stop-daemon >/dev/null 2>&1; then
    echo "starting mariadbd on 127.0.0.1:3306" >&2
    start-stop-daemon --start --oknodo --background --exec "$mariadbd" && started=1
  fi
fi

[ "$started" = 1 ] || exit 0
for _ in $(seq 1 30); do
  port_open 3306 && port_open 6379 && exit 0
  sleep 1
done
exit 0
