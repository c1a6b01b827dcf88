#!/usr/bin/env bash
# End-to-end UDP ingest benchmark: the highest datagram rate at which `plumb collect` on
# its defaults stores every record of a real exporter's stream, in the same run as
# nfcapd (nfdump) storing the same stream.
#
# The stream: softflowd exporting IPFIX for a generated pcap of many short flows (about
# 29 records per 1.4 kB datagram, templates every 16 datagrams), recorded once with
# tcpdump; with STREAM=sflow, pmacct's sfprobe sampling every packet of the same pcap
# (sFlow v5 flow samples with 128-byte headers), against sfcapd (nfdump's sFlow collector)
# instead of nfcapd. Each step replays it with `plumb replay --rate R --duration D`, the sender
# pinned to CPU 0 and the collector to CPU 1, then stops the collector with SIGTERM and
# counts what it stored. Loss = 1 - stored / sent.
#
# usage: benches/udp_ingest.sh [RATES...]   (datagrams/s; default 40000 80000 120000 160000)
#   DURATION=60  seconds per step     NFCAPD_BUF=67108864  nfcapd's -B
#   KEEP=1       keep the work folder (the recorded stream) at exit
#   PLUMB_ARGS="--config F"  extra arguments to `plumb collect` (default: none, its defaults)
#   THREADS=1    also print plumb's CPU time per thread over the step, in ns per record sent
#   STREAM=sflow the sFlow stream and sfcapd (default STREAM=ipfix: IPFIX and nfcapd)
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=("${@:-40000 80000 120000 160000}")
read -r -a RATES <<<"${RATES[*]}"
DURATION="${DURATION:-60}"
NFCAPD_BUF="${NFCAPD_BUF:-67108864}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/plumb/target}"
STREAM="${STREAM:-ipfix}"
case "$STREAM" in
  ipfix) other=nfcapd ;;
  sflow) other=sfcapd ;;
  *) echo "STREAM must be ipfix or sflow" >&2; exit 2 ;;
esac
scripts/deps.sh softflowd nfdump nfdump-sflow pmacct tcpdump python3 curl
cargo build --release --locked --bin plumb
PLUMB="$CARGO_TARGET_DIR/release/plumb"
work=$(mktemp -d /tmp/plumb-bench.XXXXXX)
pids=()
# Each step stores tens of millions of rows (gigabytes): steps delete their stores once
# counted, and the work folder goes at exit unless KEEP=1.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "# work files kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# nfcapd needs a large buffer; plumb asks for its own 32 MiB (SO_RCVBUFFORCE as root).
sysctl -qw net.core.rmem_max="$NFCAPD_BUF" || echo "warning: cannot raise net.core.rmem_max" >&2

echo "# recording the $STREAM stream" >&2
python3 fixtures/gen_traffic.py "$work/traffic.pcap" 400000 20
tcpdump -i lo -U -s 0 -w "$work/stream.pcap" udp port 40999 2>/dev/null & tpid=$!
pids+=("$tpid")
sleep 1
if [ "$STREAM" = ipfix ]; then
  softflowd -r "$work/traffic.pcap" -n 127.0.0.1:40999 -v 10 -c none -p "$work/softflowd.pid" -m 65536 >/dev/null 2>&1
else
  printf 'daemonize: false\npcap_savefile: %s\nplugins: sfprobe\nsfprobe_receiver: 127.0.0.1:40999\nsfprobe_agentip: 127.0.0.1\nsampling_rate: 1\n' \
    "$work/traffic.pcap" >"$work/sfprobe.conf"
  pmacctd -f "$work/sfprobe.conf" >/dev/null 2>&1
fi
sleep 1
kill "$tpid"; wait "$tpid" 2>/dev/null || true
"$PLUMB" replay "$work/stream.pcap" --to 127.0.0.1:9 --port 40999 --rate 1 --duration 0.001 | sed 's/^/# stream: /' >&2

# CPU time of each thread of PID over its whole run, per record sent (ns), from
# /proc/PID/task/*/stat: steadier than a window of the run.
thread_cpu() {
  for t in /proc/"$1"/task/*; do echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done |
    awk -v r="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" '$2 > 0 {printf "# rate %s: thread %s %.0f ns/record\n", r, $1, $2 * 1e9 / hz / n}' >&2
}

rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

printf '| collector | rate (datagrams/s) | records sent | records stored | loss %% | peak RSS (MiB) |\n|---|---|---|---|---|---|\n'
for rate in "${RATES[@]}"; do
  # plumb on its defaults (store, flush, buffers), one listener.
  data="$work/plumb-$rate"
  # shellcheck disable=SC2086
  taskset -c 1 "$PLUMB" collect ${PLUMB_ARGS:-} --data "$data" --listen 127.0.0.1:41000 --metrics-listen 127.0.0.1:41001 2>"$work/plumb-$rate.log" & cpid=$!
  pids+=("$cpid")
  until curl -sf http://127.0.0.1:41001/healthz >/dev/null; do sleep 0.1; done
  sent=$("$PLUMB" replay "$work/stream.pcap" --port 40999 --to 127.0.0.1:41000 --rate "$rate" --loop 0 --duration "$DURATION" --cpu 0)
  sent_records=$(sed -E 's/.*\(([0-9]+) flow records.*/\1/' <<<"$sent")
  rss=$(rss_kib "$cpid")
  if [ "${THREADS:-0}" = 1 ]; then thread_cpu "$cpid" "$rate" "$sent_records"; fi
  kill -TERM "$cpid"; wait "$cpid" || true
  stored=$("$PLUMB" query --data "$data" --format csv "SELECT count(*) FROM flows" | tail -1)
  rm -rf "$data"
  loss=$(python3 -c "print(f'{100*(1-$stored/$sent_records):.3f}')")
  printf '| plumb | %s | %s | %s | %s | %s |\n' "$rate" "$sent_records" "$stored" "$loss" "$((rss / 1024))"

  # nfcapd (sfcapd for sFlow) with its buffer raised, same stream.
  ndir="$work/$other-$rate"; mkdir -p "$ndir"
  taskset -c 1 "$other" -w "$ndir" -p 41002 -b 127.0.0.1 -B "$NFCAPD_BUF" -t 3600 >/dev/null 2>&1 & npid=$!
  pids+=("$npid")
  sleep 1
  nsent=$("$PLUMB" replay "$work/stream.pcap" --port 40999 --to 127.0.0.1:41002 --rate "$rate" --loop 0 --duration "$DURATION" --cpu 0)
  nsent_records=$(sed -E 's/.*\(([0-9]+) flow records.*/\1/' <<<"$nsent")
  rss=$(rss_kib "$npid")
  kill -TERM "$npid"; wait "$npid" || true
  nstored=$(nfdump -R "$ndir" -q -o 'fmt:%pr' 2>/dev/null | wc -l)
  rm -rf "$ndir"
  loss=$(python3 -c "print(f'{100*(1-$nstored/$nsent_records):.3f}')")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$other" "$rate" "$nsent_records" "$nstored" "$loss" "$((rss / 1024))"
done
