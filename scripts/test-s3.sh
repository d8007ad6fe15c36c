#!/usr/bin/env bash
# Starts, once, the S3-compatible server the tests share, and prints its endpoint URL.
# s3rver (npm, installed with end2end/'s packages) keeps objects on disk in a folder of its
# own under /tmp, listens on a free loopback port, checks request signatures (access key and
# secret are both S3RVER) and starts with the bucket `media`. Concurrent callers wait on a lock
# and get the same server; `test-s3.sh stop` stops it. (The server must not inherit the lock.)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${LP_TEST_S3_DIR:-${TMPDIR:-/tmp}/livepro-test-s3-$(printf '%s' "$repo" | sha256sum | cut -c1-12)}
bin="$repo/end2end/node_modules/.bin/s3rver"
if [ ! -x "$bin" ]; then
  echo "test-s3: s3rver is not installed (make setup-test installs end2end/'s npm packages)" >&2
  exit 1
fi
mkdir -p "$dir"
exec 9>"$dir/lock"
flock 9

stop() {
  if [ -f "$dir/pid" ]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  rm -f "$dir/port"
}
if [ "${1:-}" = stop ]; then
  stop
  exit 0
fi

answers() { python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

if [ -f "$dir/port" ] && [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null \
  && answers "$(cat "$dir/port")"; then
  echo "http://127.0.0.1:$(cat "$dir/port")"
  exit 0
fi
stop

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/data"
nohup "$bin" -d "$dir/data" -a 127.0.0.1 -p "$port" -s --configure-bucket media \
  >"$dir/server.log" 2>&1 9>&- &
echo $! >"$dir/pid"
for _ in $(seq 1 100); do
  if answers "$port"; then
    echo "$port" >"$dir/port"
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.1
done
echo "test-s3: s3rver did not start:" >&2
tail -20 "$dir/server.log" >&2
stop
exit 1
