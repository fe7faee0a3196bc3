#!/usr/bin/env bash
# Start PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) if they are not running.
# Needs the Debian packages (postgresql, redis-server) and root, as on the project's CI machines.
set -u
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
ok=0
command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 || ok=1
command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || ok=1
exit $ok
