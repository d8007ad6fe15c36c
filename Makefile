# Two commands: `make run` (or `make demo`) sets up and runs the app; `make test` sets up and
# runs every test. Both install what is missing first and are quick when nothing is.

SHELL := /bin/bash
ARGS ?=
# The only Leptos variable read at compile time; set for every cargo call so `cargo test`
# and `cargo leptos build` share one build.
export LEPTOS_OUTPUT_NAME := livepro
export LP_SITE_ROOT ?= $(CURDIR)/target/site

.PHONY: run demo demo-cluster setup-cluster bench-cluster test build setup-run setup-test lint unit e2e fuzz fuzz-ingest faults fmt bench bench-metrics bench-group bench-db bench-replay bench-retention bench-web bench-clip

run: build
	target/debug/server run $(ARGS)

# The demo serves Prometheus metrics and listens for SRT too (both printed in its block).
demo: build
	LP_METRICS_LISTEN=$${LP_METRICS_LISTEN:-127.0.0.1:9464} LP_SRT_LISTEN=$${LP_SRT_LISTEN:-0.0.0.0:9000} \
	  target/debug/server demo $(ARGS)

# `--split`: the routes of `app::pages::lazy` become wasm chunks the browser loads when a route
# is first shown (the main module is what every page downloads).
build: setup-run
	cargo leptos build --split

# Two nodes on a real PostgreSQL and a real S3-compatible server, behind nginx.
demo-cluster: setup-cluster
	cargo leptos build --split
	scripts/demo-cluster.sh

setup-cluster:
	@scripts/setup.sh cluster

setup-run:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

# The workspace's lints (clippy, with unwrap_used denied and every warning an error) are
# checked while the test build compiles: clippy-driver wraps rustc for the workspace's own
# crates, so linting costs no second compilation of the dependencies.
LINTED = RUSTC_WORKSPACE_WRAPPER="$$(rustup which clippy-driver)" \
	CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

test: setup-test
	cargo fmt --all --check
	$(LINTED) cargo leptos build --split
	$(MAKE) --no-print-directory unit e2e fuzz

# Every Rust test; nextest runs the test binaries' tests side by side (most of them wait on
# real-time publishers, not on the CPU).
# Then the database-heavy suites again on PostgreSQL (a server of their own, started once by
# scripts/test-postgres.sh and stopped after). The object-storage and cluster suites use a
# real S3-compatible server (s3rver, started once by scripts/test-s3.sh and stopped after).
PG_SUITES = --test api --test authz --test retention --test quota --test replay --test hostile_http --test delivery
unit:
	$(LINTED) cargo nextest run -p rtmp-ingest -p app -p server --test-threads 3 --no-fail-fast
	LP_TEST_DATABASE=postgres $(LINTED) cargo nextest run -p server $(PG_SUITES) --test-threads 3 --no-fail-fast
	scripts/test-postgres.sh stop
	scripts/test-s3.sh stop

# Clippy over every target, the benchmarks included (make test lints the rest as it builds).
lint:
	cargo clippy -p rtmp-ingest -p app -p server --all-targets --features server/testing -- -D warnings

e2e:
	cd end2end && npm test

# Schema-driven fuzzing of the REST API (schemathesis, bounded: FUZZ_EXAMPLES per operation).
fuzz:
	scripts/fuzz-api.sh

# Fuzzes the whole RTMP ingest path from raw bytes (handshake, chunks, AMF0, media, FLV), then
# the SRT ingest's MPEG-TS demuxer, with cargo-fuzz for FUZZ_SECONDS each; a crash stops it
# and leaves the input under server/rtmp/fuzz/artifacts/. Needs a nightly toolchain (installed if missing).
FUZZ_SECONDS ?= 300
fuzz-ingest:
	@scripts/setup.sh fuzz
	cd server/rtmp/fuzz && cargo +nightly fuzz run ingest -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -print_final_stats=1
	cd server/rtmp/fuzz && cargo +nightly fuzz run mpegts -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -print_final_stats=1

# The fault suite at full counts (make test runs a bounded subset): kills of ffmpeg and of
# the server, hangs, database and disk errors, a full disk, stops with work in flight,
# publish cycles, reconnects, a second server on the folder. Prints `faults: R<n> …` lines.
faults: setup-test
	FAULTS=full cargo test -p server --test faults -- --nocapture --test-threads=1

fmt:
	cargo fmt --all


# Benchmark: N real 1080p30 publishers over RTMP against a release build, CPU from /proc,
# compared in the same run with the naive design and nginx-rtmp. Takes about 15 minutes.
bench: setup-test
	cargo build --release -p server --bin server --example bench --features testing
	target/release/examples/bench

# Benchmark: the cost of metrics on the hot path: the same trial with metrics off and on (scraped every
# second), three rounds each (~7 minutes); BENCH_STREAMS sets the stream count (default 8).
bench-metrics: setup-test
	cargo build --release -p server --bin server --example bench --features testing
	BENCH_MODE=metrics target/release/examples/bench

# Benchmark: a 3-profile group (1080p + 720p + 360p), the transcode alone against every process on
# every profile, three rounds each (~6 minutes); prints how many clips the group shared.
bench-group: setup-test
	cargo build --release -p server --bin server --example bench --features testing
	BENCH_MODE=group target/release/examples/bench

# Benchmark: instant clip creation, MP4 export by stream copy against re-encoding, and the
# share page under 100 concurrent viewers, on a real published stream. Takes ~2 minutes.
bench-replay: setup-test
	cargo build --release -p server --example replay_bench --features testing
	target/release/examples/replay_bench

# Benchmark: PostgreSQL against SQLite for the dashboard's busiest read (the Live Processing
# tab on 4 streams with 10,000 assets), p50/p99 of 300 calls each. About a minute.
bench-db: setup-test
	cargo build --release -p server --example db_bench --features testing
	target/release/examples/db_bench

# Benchmark: the dashboard and the media server on the release build: server-side render of the
# Live Processing tab (4 streams, 10,000 assets) p50/p99, the hydrate wasm's gzip size, and
# requests/s wrk reaches on a replay segment, the playlist and the latest thumbnail. ~3 minutes
# after the build.
bench-web: setup-test
	@scripts/setup.sh bench
	cargo leptos build --release --split
	cargo build --release -p server --example web_bench --features testing
	target/release/examples/web_bench

# Benchmark: the CPU of one motion clip of 1080p30, with each lever that cuts it shown apart.
bench-clip: setup-test
	scripts/bench-clip.sh

# Benchmark: the time and I/O of one retention run over 100,000 assets (99,000 due).
bench-retention: setup-test
	cargo build --release -p server --example retention_bench --features testing
	target/release/examples/retention_bench

# Benchmark: the cluster mode (two nodes on PostgreSQL and an S3-compatible server behind nginx)
# against one node on the embedded defaults, with the same publishers; upload lag; failover time.
bench-cluster: setup-test
	cargo build --release -p server --bin server
	scripts/bench-cluster.sh
