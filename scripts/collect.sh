#!/usr/bin/env bash
# Builds plumb (release) and runs the collector on its embedded defaults: UDP 2055, 4739
# and 6343, store in ./data, metrics on http://127.0.0.1:9464/metrics. Extra arguments go
# to `plumb collect` (see `plumb collect --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "plumb: cargo is missing; install Rust 1.94 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
scripts/deps.sh build-essential pkg-config libpcap-dev
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/plumb/target}"
cargo build --release --locked --bin plumb
exec "$CARGO_TARGET_DIR/release/plumb" collect "$@"
