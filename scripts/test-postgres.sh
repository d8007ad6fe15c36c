#!/usr/bin/env bash
# Starts, once, the PostgreSQL server the tests share, and prints its URL. Debian's server
# runs from a folder of its own (under /tmp by default) on a free loopback port,
# as the `postgres` user when we are root (PostgreSQL refuses to run as root), with fsync
# off: test data need not survive a power cut. Concurrent callers wait on a lock and get the
# same server; `test-postgres.sh stop` stops it. (The server must not inherit the lock.)
set -euo pipefail

# Under /tmp by default, not target/: the server runs as `postgres`, which may not be allowed
# into the checkout (a clone under /root, say). One folder per checkout.
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${LP_TEST_PG_DIR:-${TMPDIR:-/tmp}/livepro-test-postgres-$(printf '%s' "$repo" | sha256sum | cut -c1-12)}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
  echo "test-postgres: PostgreSQL is not installed (make setup-test installs it)" >&2
  exit 1
fi

mkdir -p "$dir"
cd "$dir" # PostgreSQL's tools complain from a working directory they cannot read
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

exec 9>"$dir/lock"
flock 9

if [ "${1:-}" = stop ]; then
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -f "$dir/port"
  exit 0
fi

url() { echo "postgres://livepro@127.0.0.1:$1/postgres"; }

if [ -f "$dir/port" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")"; then
  url "$(cat "$dir/port")"
  exit 0
fi

if [ ! -f "$dir/data/PG_VERSION" ]; then
  rm -rf "$dir/data"
  mkdir -p "$dir/data"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/data" "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U livepro --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
fi
# A server left over from an earlier run (its port file gone or its port taken) goes first.
if [ -f "$dir/data/postmaster.pid" ]; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null 9>&- || { tail -20 "$dir/server.log" >&2; exit 1; }
echo "$port" >"$dir/port"
url "$port"
