#!/usr/bin/env bash
# `make bench-cluster`: what the cluster mode costs and how it fails over, on this machine.
#
#   1. One node, embedded defaults (SQLite, data folder only): N real publishers for D seconds.
#   2. Two nodes on a real PostgreSQL and a real S3-compatible server (s3rver) behind nginx,
#      the same N publishers through the load balancer (so about N/2 per node).
#   3. Failover: SIGKILL of the node holding the first stream; its publisher reconnects through
#      the load balancer; time from the kill to the other node's first new segment.
#
# Both runs use the release build, the same test pattern (1280x720 at 30 fps, 1 s GOPs) and
# the same processing (thumbnails every 10 s, motion clips of 3 s every 10 s, recording,
# replay). CPU is read from /proc for each server and its ffmpeg children. A figure counts only
# if the work was done: thumbnails and motion clips made against due are printed per run.
# Upload lag (a finished file or segment to its row or playlist in the store) is read from each
# node's /metrics. On one 2-core machine two nodes share the same cores, so the comparison is
# per-stream CPU, not streams held.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
server=${BENCH_SERVER:-$repo/target/release/server}
n=${BENCH_STREAMS:-4}
seconds=${BENCH_SECONDS:-60}
work=$(mktemp -d "${TMPDIR:-/tmp}/livepro-bench-cluster-XXXXXX")
# PostgreSQL runs as the `postgres` user, which must be able to enter the folder.
chmod 755 "$work"
pg_dir="$work/postgres"
s3_dir="$work/s3"
pids=()
publishers=()

cleanup() {
  for p in "${publishers[@]}" "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  LP_TEST_PG_DIR="$pg_dir" "$repo/scripts/test-postgres.sh" stop >/dev/null 2>&1 || true
  LP_TEST_S3_DIR="$s3_dir" "$repo/scripts/test-s3.sh" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# CPU seconds of a process and every descendant (live ones from their stat, finished ones
# through the parent's cutime/cstime).
cpu_of() {
  python3 - "$@" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return int(rest[1]), [int(x) for x in rest[11:15]]
children = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        st = stat(p)
        if st:
            children.setdefault(st[0], []).append(int(p))
total = 0
for root in sys.argv[1:]:
    todo = [int(root)]
    while todo:
        pid = todo.pop()
        st = stat(pid)
        if not st:
            continue
        total += sum(st[1])
        todo += children.get(pid, [])
print(f"{total / tick:.2f}")
PY
}

# A stream group per publisher, through the REST API.
make_streams() { # base_url api_key count -> prints one stream key a line
  python3 - "$@" <<'PY'
import json, sys, urllib.request
base, key, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
on = lambda interval=None, duration=None: {"enabled": True, "interval": interval, "duration": duration}
for i in range(count):
    g = call("POST", "/api/v1/stream-groups", {
        "name": f"Bench {i}", "profiles": [],
        "processing": [[on(10), on(10, {"seconds": 3}), on(None, {"seconds": 300}), on(None, {"seconds": 120})]]})
    print(g["publish"]["stream_key"])
PY
}

publish() { # url -> pid (reconnects until killed, as an encoder does)
  (
    while true; do
      ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -c:v libx264 -preset ultrafast \
        -tune zerolatency -g 30 -pix_fmt yuv420p -c:a aac -b:a 64k -f flv "$1" 2>/dev/null || true
      sleep 0.5
    done
  ) &
  publishers+=($!)
  disown "$!"
}

stop_publishers() {
  for p in "${publishers[@]}"; do pkill -9 -P "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  publishers=()
}

start_node() { # name command data_dir http rtmp metrics extra... -> pid
  local name=$1 command=$2 dir=$3 http=$4 rtmp=$5 metrics=$6
  shift 6
  "$server" $command --listen "127.0.0.1:$http" --rtmp-listen "127.0.0.1:$rtmp" --data-dir "$dir" \
    --metrics-listen "127.0.0.1:$metrics" --node-url "http://127.0.0.1:$http" \
    --site-root "$repo/target/site" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 300); do grep -qE '^(RTMP|Publish):' "$work/$name.out" 2>/dev/null && return; sleep 0.1; done
  echo "node $name did not start" >&2; tail "$work/$name.log" >&2; exit 1
}

api_key() { # data_dir [database_url] -> an owner key of the demo organisation (seeded by
  # `server demo` on the first node)
  "$server" --data-dir "$1" ${2:+--database-url "$2"} org create-api-key demo bench --role owner 2>/dev/null
}

made() { # base key kind -> count of assets of that kind (one format: thumbnails JPEG, clips MP4)
  python3 - "$@" <<'PY'
import json, sys, urllib.request
base, key, kind = sys.argv[1:4]
fmt = {"thumbnail": "jpeg", "motion_clip": "mp4"}[kind]
n, cursor = 0, None
while True:
    url = f"{base}/api/v1/assets?kind={kind}&limit=100" + (f"&cursor={cursor}" if cursor else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    page = json.loads(urllib.request.urlopen(req).read())
    n += sum(1 for a in page["items"] if a["format"] == fmt)
    cursor = page.get("next_cursor")
    if not cursor:
        print(n); break
PY
}

lateness() { # base key since_epoch -> "p50 max" seconds from a motion clip's moment (the end
  # of its 3 s of media) to its row, over the clips of the sessions started since then
  python3 - "$@" <<'PY'
import datetime, json, sys, urllib.request
base, key, since = sys.argv[1], sys.argv[2], float(sys.argv[3])
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    return json.loads(urllib.request.urlopen(req).read())
parse = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
starts = {it["id"]: parse(it["started_at"]) for it in get("/api/v1/sessions?limit=100")["items"]
          if parse(it["started_at"]) >= since}
made, cursor = {}, None
while True:
    page = get("/api/v1/assets?kind=motion_clip&limit=100" + (f"&cursor={cursor}" if cursor else ""))
    for a in page["items"]:
        if a["format"] == "mp4" and a.get("session_id") in starts:
            made.setdefault(a["session_id"], []).append(parse(a["created_at"]))
    cursor = page.get("next_cursor")
    if not cursor:
        break
late = []
for sid, times in made.items():
    for k, t in enumerate(sorted(times)):
        late.append(t - (starts[sid] + 1.0 + 3.0 + 10.0 * k))
    # Each session's clips as seconds after its start, for a reader checking the figure.
    print(f"  session {sid}: clips at " + " ".join(f"{t - starts[sid]:.1f}" for t in sorted(times)), file=sys.stderr)
late.sort()
print(f"{late[len(late) // 2]:.2f} {late[-1]:.2f}" if late else "- -")
PY
}

quantiles() { # metrics_url... -> "p50 p99" of the upload lag (seconds, worst node)
  python3 - "$@" <<'PY'
import sys, urllib.request
p50 = p99 = 0.0
for url in sys.argv[1:]:
    for line in urllib.request.urlopen(url).read().decode().splitlines():
        if line.startswith("livepro_upload_lag_seconds{") and 'quantile="0.5"' in line:
            p50 = max(p50, float(line.split()[-1]))
        if line.startswith("livepro_upload_lag_seconds{") and 'quantile="0.99"' in line:
            p99 = max(p99, float(line.split()[-1]))
print(f"{p50:.3f} {p99:.3f}")
PY
}

due() { # base key since_epoch -> "thumbnails_due clips_due" over the sessions started since
  # then, from each session's media length (ended, or still live): thumbnails are due at 0, 10,
  # 20 … s of media and motion clips (3 s) end at 3, 13, 23 … s (server/src/runner/schedule.rs);
  # the segment being written at the end (1 s) does not count. In a live session a file is
  # due once its interval (10 s) has passed after its moment: the next one is then due, so
  # one still being made is late only if it is still missing then.
  python3 - "$@" <<'PY'
import datetime, json, sys, urllib.request
base, key, since = sys.argv[1], sys.argv[2], float(sys.argv[3])
req = urllib.request.Request(f"{base}/api/v1/sessions?limit=100", headers={"Authorization": f"Bearer {key}"})
items = json.loads(urllib.request.urlopen(req).read())["items"]
parse = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
thumbs = clips = 0
for it in items:
    start = parse(it["started_at"])
    if start < since:
        continue
    media = (parse(it["ended_at"]) if it.get("ended_at") else now - 10.0) - start - 1.0
    if media >= 0:
        thumbs += int(media // 10) + 1
    if media >= 3:
        clips += int((media - 3) // 10) + 1
print(thumbs, clips)
PY
}

echo "bench-cluster: $n publishers at 1280x720/30, $seconds s per run, $server"

# ---------------------------------------------------------------- 1. one node, embedded
one="$work/one"; h=$(free_port); r=$(free_port); m=$(free_port)
start_node one "demo --no-publisher" "$one" "$h" "$r" "$m"
key=$(api_key "$one")
mapfile -t keys < <(make_streams "http://127.0.0.1:$h" "$key" "$n")
before=$(cpu_of "${pids[-1]}")
since=$(date +%s)
for k in "${keys[@]}"; do publish "rtmp://127.0.0.1:$r/live/$k"; done
sleep "$seconds"
after=$(cpu_of "${pids[-1]}")
stop_publishers
sleep 5
thumbs=$(made "http://127.0.0.1:$h" "$key" thumbnail)
clips=$(made "http://127.0.0.1:$h" "$key" motion_clip)
read -r thumbs_due clips_due < <(due "http://127.0.0.1:$h" "$key" "$since")
read -r late50 latemax < <(lateness "http://127.0.0.1:$h" "$key" "$since")
per=$(python3 -c "print(f'{($after-$before)/($n*$seconds/60):.2f}')")
one_per=$per; one_work="thumbnails=$thumbs/$thumbs_due motion_clips=$clips/$clips_due clip_lateness_p50/max_s=$late50/$latemax"
echo "one node:  cpu_s_per_stream_min=$per $one_work"
kill -INT "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; pids=()

# ---------------------------------------------------------------- 2. two nodes, PG + S3
database=$(LP_TEST_PG_DIR="$pg_dir" "$repo/scripts/test-postgres.sh")
endpoint=$(LP_TEST_S3_DIR="$s3_dir" "$repo/scripts/test-s3.sh")
export LP_STORAGE=s3://media/bench LP_S3_ENDPOINT="$endpoint" LP_S3_ACCESS_KEY_ID=S3RVER \
  LP_S3_SECRET_ACCESS_KEY=S3RVER LP_DATABASE_URL="$database"
ah=$(free_port); ar=$(free_port); am=$(free_port); bh=$(free_port); br=$(free_port); bm=$(free_port)
start_node a "demo --no-publisher" "$work/a" "$ah" "$ar" "$am"
key=$(api_key "$work/a" "$database")
start_node b run "$work/b" "$bh" "$br" "$bm" --cluster
lb=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; master_process off; worker_processes 1; pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
stream {
  upstream rtmp { server 127.0.0.1:$ar max_fails=1 fail_timeout=30s; server 127.0.0.1:$br max_fails=1 fail_timeout=30s; }
  server { listen 127.0.0.1:$lb; proxy_pass rtmp; proxy_connect_timeout 1s; }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
sleep 0.5
mapfile -t keys < <(make_streams "http://127.0.0.1:$ah" "$key" "$n")
# The engines the cluster adds (PostgreSQL, the S3 server, nginx) are measured too.
engines=("$(head -1 "$pg_dir/data/postmaster.pid")" "$(cat "$s3_dir/pid")" "$nginx_pid")
a_before=$(cpu_of "${pids[0]}"); b_before=$(cpu_of "${pids[1]}"); e_before=$(cpu_of "${engines[@]}")
since=$(date +%s)
for k in "${keys[@]}"; do publish "rtmp://127.0.0.1:$lb/live/$k"; done
sleep "$seconds"
a_after=$(cpu_of "${pids[0]}"); b_after=$(cpu_of "${pids[1]}"); e_after=$(cpu_of "${engines[@]}")
read -r p50 p99 < <(quantiles "http://127.0.0.1:$am/metrics" "http://127.0.0.1:$bm/metrics")
# Made and due at the same moment (the publishers go on, for the failover).
read -r thumbs_due clips_due < <(due "http://127.0.0.1:$bh" "$key" "$since")
thumbs=$(made "http://127.0.0.1:$bh" "$key" thumbnail)
clips=$(made "http://127.0.0.1:$bh" "$key" motion_clip)
read -r late50 latemax < <(lateness "http://127.0.0.1:$bh" "$key" "$since")
per=$(python3 -c "print(f'{($a_after-$a_before+$b_after-$b_before)/($n*$seconds/60):.2f}')")
engines_per=$(python3 -c "print(f'{($e_after-$e_before)/($n*$seconds/60):.2f}')")
two_per=$per; lag="$p50/$p99"; two_work="thumbnails=$thumbs/$thumbs_due motion_clips=$clips/$clips_due clip_lateness_p50/max_s=$late50/$latemax"
echo "two nodes: cpu_s_per_stream_min=$per (+$engines_per for PostgreSQL, S3, nginx; node A $(python3 -c "print(f'{$a_after-$a_before:.1f}')") s, node B $(python3 -c "print(f'{$b_after-$b_before:.1f}')") s) $two_work upload_lag_p50=${p50}s p99=${p99}s"

# ---------------------------------------------------------------- 3. failover
victim=0; survivor_dir="$work/b"
if ! ls -d "$work/a/media"/o*/g*/s* >/dev/null 2>&1; then victim=1; survivor_dir="$work/a"; fi
killed=$(date +%s.%N)
disown "${pids[$victim]}" 2>/dev/null || true
kill -9 "${pids[$victim]}"
first=""
for _ in $(seq 1 300); do
  first=$(find "$survivor_dir/media" -path '*e2/*' -name 'seg_*.m4s' 2>/dev/null | head -1)
  [ -n "$first" ] && break
  sleep 0.1
done
if [ -n "$first" ]; then
  took=$(python3 -c "import os,sys; print(f'{os.path.getmtime(sys.argv[1]) - float(sys.argv[2]):.2f}')" "$first" "$killed")
  echo "failover:  first segment on the surviving node ${took}s after SIGKILL (lease 6 s, default)"
else
  took=none
  echo "failover:  no segment on the surviving node within 30 s"
fi
stop_publishers
kill "$nginx_pid" 2>/dev/null || true
echo "bench-cluster: streams=$n cpu_s_per_stream_min one_node=$one_per two_nodes=$two_per engines=$engines_per made_one=${one_work// /,} made_two=${two_work// /,} upload_lag_p50/p99_s=$lag failover_s=$took"
