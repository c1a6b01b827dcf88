#!/usr/bin/env bash
# Builds the fuzzer's seed corpus from the repository's fixtures/, in the target's framing
# (exporter byte, 2-byte length, datagram): each corpus group's raw files in template
# order, and the UDP payloads of every capture, OVS ones included (tshark). Output: corpus/decode_datagrams/.
# For dissect_packets, every capture's frames (link-type byte, 2-byte length, frame): corpus/dissect_packets/.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../../fixtures
out=corpus/decode_datagrams
mkdir -p "$out"
python3 - "$fixtures" "$out" <<'PY'
import csv, os, struct, subprocess, sys
fixtures, out = sys.argv[1], sys.argv[2]
def frame(chunks):
    return b"".join(b"\x00" + struct.pack(">H", len(c)) + c for c in chunks if len(c) < 65536)
groups = {}
with open("../../tests/corpus/netflow_expected.tsv") as f:
    for row in list(csv.reader(f, delimiter="\t"))[1:]:
        if row:
            groups.setdefault(row[0], []).append((int(row[1]), row[2]))
n = 0
for name, files in groups.items():
    chunks = []
    for _, rel in sorted(files):
        path = os.path.join(fixtures, "public", rel)
        data = open(path, "rb").read()
        if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a"):
            hexes = subprocess.run(["tshark", "-r", path, "-Y", "udp", "-T", "fields", "-e", "udp.payload"],
                                   capture_output=True, text=True).stdout.split()
            chunks += [bytes.fromhex(h.replace(":", "")) for h in hexes]
        else:
            chunks.append(data)
    if chunks:
        open(os.path.join(out, f"seed-{n:03}"), "wb").write(frame(chunks)[:1 << 20])
        n += 1
ovs = os.path.join(fixtures, "ovs")
for name in sorted(os.listdir(ovs)) if os.path.isdir(ovs) else []:
    if name.endswith((".pcap", ".pcapng")):
        hexes = subprocess.run(["tshark", "-r", os.path.join(ovs, name), "-Y", "udp", "-T", "fields", "-e", "udp.payload"],
                               capture_output=True, text=True).stdout.split()
        chunks = [bytes.fromhex(h.replace(":", "")) for h in hexes]
        if chunks:
            open(os.path.join(out, f"seed-{n:03}"), "wb").write(frame(chunks)[:1 << 20])
            n += 1
print(f"{n} seeds in {out}")
PY

python3 - "$fixtures" corpus/dissect_packets <<'PY'
import os, struct, sys
fixtures, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
LINKTYPES = {1: 0, 101: 1, 113: 2, 276: 3, 0: 4, 108: 5, 228: 6, 229: 7}
def frames(path):
    data = open(path, "rb").read()
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"):
        return  # pcapng: the classic captures give enough seeds
    e = "<" if magic == b"\xd4\xc3\xb2\xa1" else ">"
    link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    at = 24
    while at + 16 <= len(data):
        caplen = struct.unpack(e + "I", data[at + 8:at + 12])[0]
        yield LINKTYPES.get(link, 0), data[at + 16:at + 16 + caplen]
        at += 16 + caplen
n = 0
for root, _, names in os.walk(fixtures):
    for name in sorted(names):
        if name.endswith(".pcap"):
            seed = b"".join(bytes([lt]) + struct.pack(">H", len(f)) + f for lt, f in frames(os.path.join(root, name)) if len(f) < 65536)
            if seed:
                open(os.path.join(out, f"seed-{n:03}"), "wb").write(seed[:1 << 20])
                n += 1
print(f"{n} seeds in {out}")
PY

# For read_captures, the capture files themselves (the fuzzer's default -max_len keeps
# their first 4 KiB; pass -max_len=65536 to go further).
mkdir -p corpus/read_captures
find "$fixtures" -name '*.pcap' -o -name '*.pcapng' | sort | while read -r f; do
  head -c 65536 "$f" > "corpus/read_captures/$(basename "$f")"
done
echo "$(ls corpus/read_captures | wc -l) seeds in corpus/read_captures"

# For decode_sflow, each sFlow datagram of the corpus on its own: the raw files, and the
# UDP payloads on port 6343 of every capture (tshark).
mkdir -p corpus/decode_sflow
find "$fixtures" \( -path '*sflow*' -name '*.bin' -o -path '*sflow*' -name '*.dat' \) | sort | while read -r f; do
  if [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = 00000005 ]; then cp "$f" "corpus/decode_sflow/$(basename "$(dirname "$f")")-$(basename "$f")"; fi
done
find "$fixtures" -name '*.pcap' | sort | while read -r f; do
  n=0
  tshark -r "$f" -Y 'udp.port == 6343' -T fields -e udp.payload 2>/dev/null | while read -r hex; do
    n=$((n + 1))
    [ -n "$hex" ] && echo "$hex" | tr -d ':' | xxd -r -p > "corpus/decode_sflow/$(basename "$f" .pcap)-$n"
  done
done
echo "$(ls corpus/decode_sflow | wc -l) seeds in corpus/decode_sflow"
