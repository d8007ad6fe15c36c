#!/usr/bin/env bash
# `make demo-cluster`: the cluster on one machine. A real PostgreSQL (Debian's, in a folder of
# its own), a real S3-compatible server (s3rver, from npm), two nodes sharing them, and nginx in
# front (TCP for RTMP, HTTP for the dashboard). Node A seeds the demo; a test publisher streams
# through the load balancer (and reconnects through it, as an encoder does). Prints the usual
# block with the load balancer's addresses and one line per node; Ctrl-C stops everything.
# Everything lives under $CLUSTER_DIR (./data-cluster by default) and survives a restart.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mkdir -p "${CLUSTER_DIR:-$repo/data-cluster}" && cd "${CLUSTER_DIR:-$repo/data-cluster}" && pwd)
server="$repo/target/debug/server"
pids=()
publisher=""
# PostgreSQL runs as the `postgres` user, which may not enter the checkout: its folder is under
# /tmp (one per checkout), like the tests'.
pg_dir=${TMPDIR:-/tmp}/livepro-demo-cluster-postgres-$(printf '%s' "$repo" | sha256sum | cut -c1-12)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stop_all() {
  trap - INT TERM EXIT
  # The publisher loop is a background subshell (which ignores SIGINT): TERM it and its ffmpeg.
  if [ -n "$publisher" ]; then
    pkill -TERM -P "$publisher" 2>/dev/null || true
    kill -TERM "$publisher" 2>/dev/null || true
    wait "$publisher" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  LP_TEST_PG_DIR="$pg_dir" "$repo/scripts/test-postgres.sh" stop || true
  LP_TEST_S3_DIR="$dir/s3" "$repo/scripts/test-s3.sh" stop || true
}
trap stop_all INT TERM EXIT

database=$(LP_TEST_PG_DIR="$pg_dir" "$repo/scripts/test-postgres.sh")
endpoint=$(LP_TEST_S3_DIR="$dir/s3" "$repo/scripts/test-s3.sh")
export LP_DATABASE_URL="$database" LP_STORAGE="s3://media/demo" LP_S3_ENDPOINT="$endpoint" \
  LP_S3_ACCESS_KEY_ID=S3RVER LP_S3_SECRET_ACCESS_KEY=S3RVER LP_TRUSTED_PROXIES=127.0.0.1

lb_http=${LB_HTTP_PORT:-3300}
lb_rtmp=${LB_RTMP_PORT:-19360}
a_http=$(free_port); a_rtmp=$(free_port); b_http=$(free_port); b_rtmp=$(free_port)
public="--rtmp-public-url rtmp://127.0.0.1:$lb_rtmp/live"

# Node A seeds the demo and prints its block (the password is read from it).
"$server" demo --no-publisher --listen "127.0.0.1:$a_http" --rtmp-listen "127.0.0.1:$a_rtmp" \
  --data-dir "$dir/a" --node-url "http://127.0.0.1:$a_http" $public >"$dir/a.out" 2>"$dir/a.log" &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^Publish:' "$dir/a.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^Publish:' "$dir/a.out" || { echo "node A did not start:" >&2; tail -20 "$dir/a.log" >&2; exit 1; }
"$server" run --cluster --listen "127.0.0.1:$b_http" --rtmp-listen "127.0.0.1:$b_rtmp" \
  --data-dir "$dir/b" --node-url "http://127.0.0.1:$b_http" $public >"$dir/b.out" 2>"$dir/b.log" &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^RTMP:' "$dir/b.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^RTMP:' "$dir/b.out" || { echo "node B did not start:" >&2; tail -20 "$dir/b.log" >&2; exit 1; }

mkdir -p "$dir/nginx"
cat >"$dir/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; master_process off; worker_processes 1; pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 1024; }
stream {
  upstream rtmp { server 127.0.0.1:$a_rtmp max_fails=1 fail_timeout=10s; server 127.0.0.1:$b_rtmp max_fails=1 fail_timeout=10s; }
  server { listen 127.0.0.1:$lb_rtmp; proxy_pass rtmp; proxy_connect_timeout 1s; }
}
http {
  access_log off; client_body_temp_path $dir/nginx/body; proxy_temp_path $dir/nginx/proxy;
  upstream dashboard { server 127.0.0.1:$a_http max_fails=1 fail_timeout=10s; server 127.0.0.1:$b_http max_fails=1 fail_timeout=10s; }
  server {
    listen 127.0.0.1:$lb_http;
    location / {
      proxy_pass http://dashboard; proxy_http_version 1.1;
      proxy_set_header Host \$http_host; proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_connect_timeout 1s; proxy_next_upstream error timeout http_503;
    }
  }
}
EOF
nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" 2>>"$dir/nginx/error.log" &
pids+=($!)

key=$(sed -n 's|^Publish: *rtmp://[^/]*/live/||p' "$dir/a.out")
echo "Dashboard: http://127.0.0.1:$lb_http"
grep -E '^(Login|Password):' "$dir/a.out"
echo "Publish:   rtmp://127.0.0.1:$lb_rtmp/live/$key"
echo "Node: http://127.0.0.1:$a_http rtmp://127.0.0.1:$a_rtmp/live"
echo "Node: http://127.0.0.1:$b_http rtmp://127.0.0.1:$b_rtmp/live"
echo "A test publisher streams through the load balancer (NO_PUBLISHER=1 to use your own)."
echo "Kill a node (kill -9 its pid: $(printf '%s ' "${pids[@]:0:2}")) to see the other take its stream over."

if [ -z "${NO_PUBLISHER:-}" ]; then
  (
    while true; do
      ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -c:v libx264 -preset ultrafast \
        -tune zerolatency -g 30 -pix_fmt yuv420p -c:a aac -b:a 64k -f flv \
        "rtmp://127.0.0.1:$lb_rtmp/live/$key" 2>>"$dir/publisher.log" || true
      sleep 1
    done
  ) &
  publisher=$!
fi
wait "${pids[0]}" || true
