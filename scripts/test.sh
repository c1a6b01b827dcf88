#!/usr/bin/env bash
# Runs every test of plumb: unit tests, the corpus and golden tests, SQL cases, and the
# end-to-end tests against real exporters and servers (softflowd, Open vSwitch, promtool),
# which it installs first when they are missing. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "plumb: cargo is missing; install Rust 1.94 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
scripts/deps.sh build-essential pkg-config softflowd nfdump prometheus openvswitch-switch \
  iproute2 iputils-ping ethtool tcpdump tshark iperf3
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/plumb/target}"
# The shared fixtures live beside the repository.
export PLUMB_SHARED="${PLUMB_SHARED:-$(cd .. && pwd)/shared}"
if [ ! -d "$PLUMB_SHARED/fixtures" ]; then
  echo "plumb: no fixtures at $PLUMB_SHARED (set PLUMB_SHARED to the shared folder)" >&2
  exit 1
fi
cargo test --workspace --locked --no-fail-fast "$@"
