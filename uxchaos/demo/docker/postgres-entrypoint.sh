#!/bin/sh
# The demo database as a Swarm task: a cluster in the volume on first start, then PostgreSQL on
# 127.0.0.1:$PGPORT only (host networking). Trust auth: it is reachable from loopback alone.
set -e
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
data=/var/lib/postgresql/data/pgdata
if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" --auth=trust -U postgres --encoding=utf8 --no-sync >/dev/null
fi
exec "$bin/postgres" -D "$data" -h 127.0.0.1 -p "${PGPORT:-5432}" -k /tmp \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200
