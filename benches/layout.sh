#!/usr/bin/env bash
# Storage layout alternatives for compacted files: one generated day ingested once, then
# compacted with each variant of [store.compaction] and queried by `plumb query` as whole
# processes (hyperfine, warm cache). Prints size on disk and seconds per question.
#
#   FLOWS=20000000 benches/layout.sh [WORKDIR]
#
# Variants are lines of VARIANTS below: name, then the TOML of [store.compaction].
set -euo pipefail

FLOWS=${FLOWS:-20000000}
WORK=${1:-target/bench-layout}
PLUMB=${PLUMB:-${CARGO_TARGET_DIR:-target}/release/plumb}
RUNS=${RUNS:-5}
mkdir -p "$WORK"

VARIANTS=(
  'src-zstd-1M|sort = ["src_addr", "flow_end"]
codec = "zstd:1"
row_group_rows = 1048576'
  'time-zstd-1M|sort = ["flow_end"]
codec = "zstd:1"
row_group_rows = 1048576'
  'src-zstd-128k|sort = ["src_addr", "flow_end"]
codec = "zstd:1"
row_group_rows = 131072'
  'src-lz4-1M|sort = ["src_addr", "flow_end"]
codec = "lz4"
row_group_rows = 1048576'
)

QUESTIONS=(
  "Q1|SELECT src_addr, sum(bytes) AS b FROM flows GROUP BY src_addr ORDER BY b DESC LIMIT 10"
  "Q2|SELECT src_addr, dst_addr, protocol, sum(bytes) AS b FROM flows WHERE flow_end >= '2025-03-03T12:00:00Z' AND flow_end < '2025-03-03T13:00:00Z' GROUP BY src_addr, dst_addr, protocol ORDER BY b DESC LIMIT 10"
  "Q3|SELECT dst_port, count(*) AS flows, sum(bytes) AS b FROM flows WHERE protocol = 6 GROUP BY dst_port ORDER BY b DESC LIMIT 20"
  "Q4a|SELECT count(*), sum(bytes) FROM flows WHERE cidr_contains('10.0.0.0/8', src_addr)"
  "Q4b|SELECT count(*), sum(bytes) FROM flows WHERE cidr_contains('10.1.0.0/16', src_addr)"
  "host|SELECT count(*), sum(bytes) FROM flows WHERE src_addr = '10.1.0.5'"
  "dst|SELECT count(*), sum(bytes) FROM flows WHERE dst_addr = '172.17.0.9'"
)

if [ ! -d "$WORK/base" ]; then
  "$PLUMB" generate --out "$WORK/day.pcap" --flows "$FLOWS" --seed 42 --exporters 4 --quiet
  "$PLUMB" ingest --quiet --data "$WORK/base" "$WORK/day.pcap"
  rm -f "$WORK/day.pcap"
fi

printf '| variant | compact s | flows MB |'
for q in "${QUESTIONS[@]}"; do printf ' %s s |' "${q%%|*}"; done
printf '\n|---|---|---|'
for _ in "${QUESTIONS[@]}"; do printf -- '---|'; done
printf '\n'
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  dir="$WORK/$name"
  printf '[store.compaction]\n%s\n' "${v#*|}" > "$WORK/$name.toml"
  rm -rf "$dir"
  cp -a "$WORK/base" "$dir"
  start=$(date +%s.%N)
  "$PLUMB" compact --quiet --data "$dir" --config "$WORK/$name.toml"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  mb=$(du -sm "$dir/flows" | cut -f1)
  printf '| %s | %.0f | %s |' "$name" "$secs" "$mb"
  for q in "${QUESTIONS[@]}"; do
    sql=${q#*|}
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/q.json" \
      "$PLUMB query --data $dir --format csv \"$sql\"" > /dev/null 2>&1
    med=$(python3 -c "import json,statistics;r=json.load(open('$WORK/q.json'))['results'][0]['times'];print(f'{statistics.median(r):.3f}')")
    printf ' %s |' "$med"
  done
  printf '\n'
  rm -rf "$dir"
done
