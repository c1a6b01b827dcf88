#!/usr/bin/env bash
# Installs what plumb's build and tests need on Debian, when it is missing. Idempotent.
# Real components for end-to-end tests: softflowd (exporter), pmacct (sfprobe: an sFlow agent), nfdump (nfcapd, for the
# benchmark), Prometheus (promtool), Open vSwitch (userspace datapath), tshark (reference
# decoder), iperf3 (traffic), hyperfine (benchmarks).
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "$@"; do have "$p" || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "plumb: installing ${need[*]}" >&2
# Package scripts must not try to start services: there may be no init system here, and
# tests start the daemons they need themselves.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
# An `if`, not `&&`: the trap's last status becomes the script's, and a policy that was
# already there (Docker's Debian images ship one) must not fail the install.
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
