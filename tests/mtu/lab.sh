#!/usr/bin/env bash
# MTU problems made with the real kernel, for `tests/e2e_mtu.rs` (and for anyone who wants
# to see one): network namespaces joined by veth pairs, a kernel VXLAN tunnel with the DF
# bit set on its outer packets, traffic from iperf3 and ping, and a tcpdump capture of the
# sender's underlay link.
#
#   lab.sh SCENARIO OUT_DIR
#
# l2-drop            vDS at 1600 on a 1500 physical switch: the sender's veth end has MTU
#                    1600, the receiver's 1500, VXLAN MTU 1500 on top. Outer packets of 1550
#                    bytes leave the sender and die silently at the receiver.
# l2-control         the same links with VXLAN MTU 1450 on both ends: nothing oversize.
# blackhole          sender -1500- router -1400- receiver, VXLAN MTU 1450; the router's ICMP
#                    frag-needed is dropped by an nftables rule in its output hook.
# blackhole-control  the same path without the drop rule: the ICMP reaches the sender.
#
# Writes OUT_DIR/capture.pcap and OUT_DIR/traffic.log. With PLUMB_LIVE=/path/to/plumb,
# `plumb collect --interface` also captures the same link into the store OUT_DIR/live,
# started before the traffic and stopped with SIGTERM after it. Exits 3 with "SKIP: why" on stdout
# when the lab cannot be made here (not root, no namespaces, a tool missing). Everything it
# starts is stopped by PID and every namespace removed on exit.
set -euo pipefail

scenario=${1:?scenario}
out=${2:?output folder}
mkdir -p "$out"
id="pm$$"
namespaces=()
pids=()

skip() {
  echo "SKIP: $*"
  exit 3
}

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "network namespaces need root"
for tool in ip tcpdump iperf3 ping timeout; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
case "$scenario" in blackhole) command -v nft >/dev/null || skip "nft (nftables) is not installed" ;; esac

ns() {
  ip netns add "$1" 2>/dev/null || skip "cannot create network namespaces"
  namespaces+=("$1")
  ip -n "$1" link set lo up
}

# veth NS_A IF_A MTU_A NS_B IF_B MTU_B
veth() {
  ip link add "$2" netns "$1" mtu "$3" type veth peer name "$5" netns "$4" mtu "$6"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

# vxlan NS LOCAL REMOTE MTU OVERLAY_ADDR
vxlan() {
  ip -n "$1" link add vx0 type vxlan id 42 local "$2" remote "$3" dstport 4789 df set \
    || skip "the kernel cannot make a vxlan device"
  ip -n "$1" link set vx0 mtu "$4" up
  ip -n "$1" addr add "$5" dev vx0
}

s="${id}s" r="${id}r" d="${id}d"
case "$scenario" in
  l2-drop | l2-control)
    ns "$s"
    ns "$d"
    veth "$s" "${id}a" 1600 "$d" "${id}b" 1500
    ip -n "$s" addr add 192.168.77.1/24 dev "${id}a"
    ip -n "$d" addr add 192.168.77.2/24 dev "${id}b"
    mtu=1500
    [ "$scenario" = l2-control ] && mtu=1450
    vxlan "$s" 192.168.77.1 192.168.77.2 "$mtu" 10.77.0.1/24
    vxlan "$d" 192.168.77.2 192.168.77.1 "$mtu" 10.77.0.2/24
    # Without this, veth hands GSO super-packets past the receiver's MTU check whole.
    ip -n "$s" link set vx0 gso_max_segs 1
    peer=10.77.0.2
    ;;
  blackhole | blackhole-control)
    ns "$s"
    ns "$r"
    ns "$d"
    veth "$s" "${id}a" 1500 "$r" "${id}b" 1500
    veth "$r" "${id}c" 1400 "$d" "${id}d" 1400
    ip -n "$s" addr add 192.168.81.1/24 dev "${id}a"
    ip -n "$r" addr add 192.168.81.254/24 dev "${id}b"
    ip -n "$r" addr add 192.168.82.254/24 dev "${id}c"
    ip -n "$d" addr add 192.168.82.2/24 dev "${id}d"
    ip -n "$s" route add default via 192.168.81.254
    ip -n "$d" route add default via 192.168.82.254
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    vxlan "$s" 192.168.81.1 192.168.82.2 1450 10.81.0.1/24
    vxlan "$d" 192.168.82.2 192.168.81.1 1450 10.81.0.2/24
    if [ "$scenario" = blackhole ]; then
      ip netns exec "$r" nft -f - <<'NFT' || skip "nftables cannot load a rule here"
table ip plumb_lab {
  chain out {
    type filter hook output priority 0;
    icmp type destination-unreachable icmp code frag-needed drop
  }
}
NFT
    fi
    peer=10.81.0.2
    ;;
  *)
    echo "unknown scenario $scenario (l2-drop, l2-control, blackhole, blackhole-control)" >&2
    exit 2
    ;;
esac

# Capture the sender's underlay link; --immediate-mode, or the tail of the capture is lost.
# Headers are enough (lengths come from the IP header), and a large buffer keeps the kernel
# from dropping packets of a fast transfer before tcpdump writes them.
ip netns exec "$s" tcpdump -i "${id}a" -s 256 -B 32768 -U --immediate-mode -w "$out/capture.pcap" \
  2>"$out/tcpdump.log" &
pids+=($!)
for _ in $(seq 50); do
  grep -q "listening on" "$out/tcpdump.log" 2>/dev/null && break
  sleep 0.1
done

if [ -n "${PLUMB_LIVE:-}" ]; then
  # Its own metrics port and no UDP listener: only the capture is under test.
  ip netns exec "$s" "$PLUMB_LIVE" collect --interface "${id}a" --data "$out/live" \
    --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:9464 --flush-interval 1 >"$out/live.log" 2>&1 &
  live_pid=$!
  pids+=("$live_pid")
  for _ in $(seq 100); do
    grep -q "listening on" "$out/live.log" 2>/dev/null && break
    kill -0 "$live_pid" 2>/dev/null || { cat "$out/live.log" >&2; exit 1; }
    sleep 0.1
  done
fi

log="$out/traffic.log"
: >"$log"
{
  echo "== small DF ping"
  ip netns exec "$s" ping -c 3 -i 0.2 -W 1 -M do -s 1000 "$peer" || true
  echo "== large DF ping"
  ip netns exec "$s" ping -c 3 -i 0.2 -W 1 -M do -s 1422 "$peer" || true
} >>"$log" 2>&1

ip netns exec "$d" iperf3 -s -1 >>"$log" 2>&1 &
pids+=($!)
sleep 0.5
echo "== iperf3" >>"$log"
ip netns exec "$s" timeout 8 iperf3 -c "$peer" -n 4M -b 100M --connect-timeout 3000 >>"$log" 2>&1 \
  && echo "iperf3: completed" >>"$log" || echo "iperf3: did not complete" >>"$log"
sleep 0.5
if [ -n "${PLUMB_LIVE:-}" ]; then
  kill -TERM "$live_pid"
  wait "$live_pid" || { cat "$out/live.log" >&2; exit 1; }
fi
