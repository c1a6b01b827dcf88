#!/usr/bin/env python3
"""pcap ingest rate: `plumb ingest` of a VXLAN capture against `softflowd -r` and `nfpcapd -r`.

The capture is generated here (a reproducible seed): TCP conversations between pods on
several nodes, inside VXLAN (VNI per tenant) between the nodes' VTEPs, mostly full-size
segments with their ACKs, as a node's uplink sees them. Each tool reads the same file as a
whole process, --runs times, alternating; the table gives the median wall time, MB/s and
packets/s, and CPU seconds (all single-threaded, so per core).

  plumb:     decapsulation, flow aggregation and the Parquet write all included
  softflowd: `softflowd -r FILE -n 127.0.0.1:9 -d -c none` (outer headers only, export to UDP)
  nfpcapd:   `nfpcapd -r FILE -w DIR` (outer headers only, nfcapd files)

    python3 benches/pcap_ingest.py --mb 200        # work folder: target/bench-pcap
"""

import argparse
import os
import random
import shutil
import statistics
import struct
import subprocess
import tempfile
import sys
import time
from pathlib import Path


def csum(hdr: bytes) -> int:
    s = sum(struct.unpack("!%dH" % (len(hdr) // 2), hdr))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: bytes, dst: bytes, proto: int, payload_len: int, ident: int) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def generate(path: Path, target_bytes: int, seed: int) -> int:
    rnd = random.Random(seed)
    nodes = [bytes([192, 168, 10, n]) for n in range(1, 9)]
    macs = [bytes([2, 0, 0, 0, 0, n]) for n in range(1, 9)]
    flows = []
    for i in range(20000):
        a, b = rnd.sample(range(8), 2)
        vni = 4096 + rnd.randrange(16)
        pa = bytes([10, 244, a, 2 + rnd.randrange(200)])
        pb = bytes([10, 244, b, 2 + rnd.randrange(200)])
        flows.append([a, b, vni, pa, pb, 32768 + rnd.randrange(28000), rnd.choice([80, 443, 5432, 6379, 8080]), rnd.randrange(1 << 32)])
    payload = bytes(1448)
    written = 0
    packets = 0
    ts = 1_700_000_000.0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while written < target_bytes:
            fl = flows[rnd.randrange(len(flows))]
            a, b, vni, pa, pb, sport, dport, seq = fl
            for forward, size in ((True, 1448), (True, 1448), (False, 0)):
                s, d = (a, b) if forward else (b, a)
                ips, ipd = (pa, pb) if forward else (pb, pa)
                ps, pd = (sport, dport) if forward else (dport, sport)
                tcp = struct.pack("!HHIIBBHHH", ps, pd, seq if forward else 1, 1, 0x50, 0x10, 512, 0, 0) + payload[:size]
                if forward:
                    seq = (seq + size) & 0xFFFFFFFF
                inner = ipv4(ips, ipd, 6, len(tcp), packets) + tcp
                inner_eth = macs[d] + macs[s] + b"\x08\x00" + inner
                vx = struct.pack("!BBHI", 0x08, 0, 0, vni << 8) + inner_eth
                udp = struct.pack("!HHHH", 49152 + (sport % 16384), 4789, 8 + len(vx), 0) + vx
                outer = ipv4(nodes[s], nodes[d], 17, len(udp), packets) + udp
                frame = macs[d] + macs[s] + b"\x08\x00" + outer
                ts += 0.00002
                sec = int(ts)
                f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
                f.write(frame)
                written += 16 + len(frame)
                packets += 1
            fl[7] = seq
    return packets


def run_timed(cmd):
    """Wall seconds, CPU seconds and peak RSS MiB of one run; the tool's own output is
    discarded. None if it did not exit within 20 s."""
    with tempfile.NamedTemporaryFile("r") as stats:
        t0 = time.time()
        try:
            r = subprocess.run(["/usr/bin/time", "-o", stats.name, "-f", "%U %S %M"] + cmd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        except subprocess.TimeoutExpired:
            # A run that hangs is left out, and said so (the table marks it).
            subprocess.run(["pkill", "-x", os.path.basename(cmd[0])])
            return None
        wall = time.time() - t0
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed with {r.returncode}")
        user, sys_, rss = stats.read().strip().splitlines()[-1].split()
    return wall, float(user) + float(sys_), int(rss) // 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200, help="capture size in MB (default 200)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("target/bench-pcap"))
    ap.add_argument("--plumb", default=str(Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "release/plumb"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    # softflowd stalls on relative paths (it changes directory): everything absolute.
    a.work = a.work.resolve()
    cap = a.work / f"vxlan-{a.mb}mb.pcap"
    if not cap.exists():
        n = generate(cap.with_suffix(".tmp"), a.mb * 1_000_000, seed=7)
        cap.with_suffix(".tmp").rename(cap)
        print(f"generated {cap}: {n} packets", file=sys.stderr)
    size = cap.stat().st_size
    tools = {
        "plumb": lambda out: [a.plumb, "ingest", "--quiet", "--data", str(out), str(cap)],
        # `-c none`: with a control socket, softflowd 1.1 in -r mode sometimes blocks in
        # accept() on it before reading the file (strace: listen(), then accept() with no
        # poll() between), depending on the socket's path; without one it always runs.
        "softflowd -r": lambda out: ["softflowd", "-r", str(cap), "-n", "127.0.0.1:9", "-d", "-c", "none",
                                     "-p", str(out / "softflowd.pid")],
        "nfpcapd -r": lambda out: ["nfpcapd", "-r", str(cap), "-w", str(out)],
    }
    results = {k: [] for k in tools}
    for i in range(a.runs):
        for name, cmd in tools.items():
            out = a.work / f"out-{name.split()[0]}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            results[name].append(run_timed(cmd(out)))
            last = results[name][-1]
            print(f"run {i + 1} {name}: " + (f"{last[0]:.2f} s" if last else "hung"), file=sys.stderr)
            if name == "plumb" and i == 0:
                q = subprocess.run([a.plumb, "query", "--data", str(out), "--format", "csv",
                                    "SELECT count(*), sum(packets) FROM flows WHERE source_kind = 'pcap'"],
                                   capture_output=True, text=True, check=True).stdout.splitlines()[1].split(",")
                rows, packets = int(q[0]), int(q[1])
    print(f"{cap.name}: {size / 1e6:.0f} MB, {packets:,} packets (VXLAN, 20,000 inner TCP flows); plumb wrote {rows:,} flows")
    print(f"median of {a.runs} runs, each a whole process on one core\n")
    print("| tool | wall s | MB/s | packets/s | CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, rs in results.items():
        hung = sum(r is None for r in rs)
        rs = [r for r in rs if r is not None]
        if not rs:
            print(f"| {name} | did not exit within 20 s in any run | | | | |")
            continue
        if hung:
            name = f"{name} ({hung} of {a.runs} runs hung, left out)"
        wall = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        rss = max(r[2] for r in rs)
        print(f"| {name} | {wall:.2f} | {size / 1e6 / wall:.0f} | {packets / wall / 1e6:.2f} M | {cpu:.2f} | {rss} |")


if __name__ == "__main__":
    main()
