#!/usr/bin/env bash
# A throwaway PostgreSQL + PostGIS cluster on a spare port, for tests and benchmarks.
#   scripts/pgcluster.sh start DIR   -> prints the database URL (postgresql://…/ecoredline)
#   scripts/pgcluster.sh stop DIR    -> stops the cluster and removes DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$PGBIN/initdb" -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D "$dir/data" >"$dir/initdb.log" 2>&1 \
      || as_pg "$PGBIN/initdb" -A trust -U postgres -E UTF8 --locale=C -D "$dir/data" >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=512MB -c work_mem=64MB -c max_connections=200" >/dev/null
    "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres ecoredline
    "$PGBIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d ecoredline -c 'CREATE EXTENSION postgis' >/dev/null
    echo "$port" >"$dir/port"
    echo "postgresql://postgres@127.0.0.1:$port/ecoredline"
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
