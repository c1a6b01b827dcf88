#!/usr/bin/env bash
# Runs every test of plumb: unit tests, the corpus and golden tests, SQL cases, and the
# end-to-end tests against real exporters and servers (softflowd, pmacct, Open vSwitch, promtool),
# which it installs first when they are missing. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "plumb: cargo is missing; install Rust 1.94 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
scripts/deps.sh build-essential pkg-config libpcap-dev softflowd nfdump prometheus openvswitch-switch \
  iproute2 iputils-ping ethtool tcpdump tshark iperf3 nftables pmacct
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/plumb/target}"
# Tests that cannot run their real part here (no network namespaces, a tool missing) append
# "test-name: reason" to this file (tests/common/skip.rs); it is summed up at the end. With
# PLUMB_REQUIRE_ALL=1 (CI) such a test fails instead.
PLUMB_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/plumb-skips.XXXXXX")
export PLUMB_SKIP_LOG
trap 'rm -f "$PLUMB_SKIP_LOG"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
skipped=$(($(wc -l <"$PLUMB_SKIP_LOG")))
echo "skipped: $skipped"
if [ "$skipped" -gt 0 ]; then
  echo "=================================================================================="
  echo "plumb: $skipped test(s) did NOT run their real part on this machine:"
  sed 's/^/  SKIPPED /' "$PLUMB_SKIP_LOG"
  echo "=================================================================================="
fi
exit "$status"
