#!/usr/bin/env bash
# Installs whatever is missing to run the app (`setup.sh run`) or every test (`setup.sh test`).
# Quick when everything is there: each step checks first and does nothing if satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
leptos_version=0.3.11
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=()
need_apt() { dpkg -s "$1" >/dev/null 2>&1 || apt_packages+=("$1"); }

# Rust toolchain with the wasm target (rust-toolchain.toml pins it).
if ! command -v rustup >/dev/null; then
  say "installing rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain none
  . "$HOME/.cargo/env"
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1 \
   || ! rustup target list --toolchain "$toolchain" --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  say "installing Rust $toolchain with wasm32-unknown-unknown"
  rustup toolchain install "$toolchain" --profile minimal -c rustfmt,clippy -t wasm32-unknown-unknown
fi

# Build tools are compiled for build speed, not run speed: no optimisation, no LTO, many
# codegen units, no debug info. They only drive cargo, wasm-bindgen and a small CSS file;
# on 2 cores this builds cargo-leptos in about 6 minutes (25 with the release profile, 9 at
# opt-level 1).
quick_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false \
  CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo +"$toolchain" install "$@"
}

# Fuzzing needs a nightly toolchain (sanitizer flags) and cargo-fuzz; nothing else does.
if [ "$mode" = fuzz ]; then
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "installing the nightly toolchain (for cargo-fuzz)"
    rustup toolchain install nightly --profile minimal
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz"
    quick_install --locked cargo-fuzz
  fi
  say "ready (fuzz)"
  exit 0
fi

# System packages: ffmpeg for the pipeline, binaryen (wasm-opt) for release builds.
need_apt ffmpeg
need_apt binaryen
if [ "$mode" = test ]; then
  need_apt chromium
  need_apt libnginx-mod-rtmp
  # The SRT tests' second publisher: GStreamer's srtsink (plugins-bad), x264enc (ugly), AAC
  # from libav.
  need_apt gstreamer1.0-tools
  need_apt gstreamer1.0-plugins-base
  need_apt gstreamer1.0-plugins-bad
  need_apt gstreamer1.0-plugins-ugly
  need_apt gstreamer1.0-libav
  # The SRT loss test drops 1 % of datagrams with nftables in a network namespace of its own.
  need_apt nftables
fi
# `make bench-web` loads the media server with wrk.
if [ "$mode" = bench ]; then
  need_apt wrk
fi
# The repositories' tests run on PostgreSQL too (scripts/test-postgres.sh starts it); the
# cluster test and `make demo-cluster` put nginx (its TCP stream module) in front of two nodes.
if [ "$mode" = test ] || [ "$mode" = cluster ]; then
  need_apt nginx
  need_apt libnginx-mod-stream
  need_apt postgresql
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  say "installing ${apt_packages[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# cargo-leptos (builds on the pinned toolchain; once per machine).
if ! cargo leptos --version 2>/dev/null | grep -q "$leptos_version"; then
  say "installing cargo-leptos $leptos_version (about 6 minutes, once)"
  quick_install --locked cargo-leptos --version "$leptos_version"
fi

# The wasm-bindgen CLI must equal the wasm-bindgen crate in Cargo.lock, or cargo-leptos
# tries to download one.
if ! wasm-bindgen --version 2>/dev/null | grep -q "$wasm_bindgen_version"; then
  say "installing wasm-bindgen-cli $wasm_bindgen_version"
  quick_install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# cargo-nextest runs the Rust tests (machines of this kind have it; install it where not).
if [ "$mode" = test ] && ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  quick_install --locked cargo-nextest
fi

# Browser-side dependencies: hls.js for the player (copied into public/vendor), and
# playwright-core for the end-to-end tests.
if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing npm packages (end2end/)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi
# hls.js for the replay player, served by the app itself (public/ is copied into the site).
hls_dist=end2end/node_modules/hls.js/dist/hls.light.min.js
if [ ! -f public/vendor/hls/hls.light.min.js ] || [ "$hls_dist" -nt public/vendor/hls/hls.light.min.js ]; then
  say "copying hls.js into public/vendor/hls"
  mkdir -p public/vendor/hls
  cp "$hls_dist" public/vendor/hls/hls.light.min.js
  cp end2end/node_modules/hls.js/LICENSE public/vendor/hls/LICENSE
fi
say "ready ($mode)"
