#!/usr/bin/env python3
"""Query speed over a generated day: `plumb query` against DuckDB, both as whole processes.

A day of N flows (default 100 M) is generated, fed through a running `plumb collect` over
UDP, and compacted. DuckDB (the Python package) then writes its own copy in the layout
that suits it (addresses as text, sorted by flow end, zstd, hive-partitioned by date/hour
of flow end). Each question runs as a process, once to warm the cache and then --runs
times: plumb over its store, DuckDB over (a) its copy and (b) plumb's files. The runs go
round-robin across the three, so a host whose speed drifts (shared VMs: up to 30 % within
minutes) slows them alike instead of whichever ran during the slow minute. Answers are
compared after normalising addresses, numbers and times. Prints a Markdown table.

    pip install duckdb            # once
    python3 benches/query_day.py --flows 100000000          # work folder: target/bench-day

Steps whose output exists are skipped (delete the folder to start over).
Needs about 6 GB of disk per 100 M flows for the capture and as much for the stores.
"""

import argparse
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DAY = "2025-03-03"
HOUR = ("2025-03-03T12:00:00Z", "2025-03-03T13:00:00Z")
V4_MAPPED = bytes(10) + b"\xff\xff"


def questions(duck_a: str, duck_b: str, duck_b_1m: str):
    """(name, plumb SQL, DuckDB SQL over (a), DuckDB SQL over (b))."""
    a = f"read_parquet('{duck_a}/**/*.parquet', hive_partitioning=true)"
    b = f"read_parquet('{duck_b}/**/*.parquet', hive_partitioning=true)"
    b1m = f"read_parquet('{duck_b_1m}/**/*.parquet', hive_partitioning=true)"
    lo, hi = HOUR
    v4 = lambda s: "from_hex('00000000000000000000ffff" + s + "')"
    return [
        (
            "Q1 top 10 sources by bytes, day",
            "SELECT src_addr, sum(bytes) AS b FROM flows GROUP BY src_addr ORDER BY b DESC LIMIT 10",
            f"SELECT src_addr, sum(bytes) AS b FROM {a} GROUP BY src_addr ORDER BY b DESC LIMIT 10",
            f"SELECT src_addr, sum(bytes) AS b FROM {b} GROUP BY src_addr ORDER BY b DESC LIMIT 10",
        ),
        (
            "Q2 top 10 conversations, 12-13 h",
            "SELECT src_addr, dst_addr, protocol, sum(bytes) AS b FROM flows "
            f"WHERE flow_end >= '{lo}' AND flow_end < '{hi}' GROUP BY src_addr, dst_addr, protocol ORDER BY b DESC LIMIT 10",
            f"SELECT src_addr, dst_addr, protocol, sum(bytes) AS b FROM {a} "
            f"WHERE flow_end >= TIMESTAMPTZ '{lo}' AND flow_end < TIMESTAMPTZ '{hi}' GROUP BY ALL ORDER BY b DESC LIMIT 10",
            f"SELECT src_addr, dst_addr, protocol, sum(bytes) AS b FROM {b} "
            f"WHERE flow_end >= TIMESTAMPTZ '{lo}' AND flow_end < TIMESTAMPTZ '{hi}' GROUP BY ALL ORDER BY b DESC LIMIT 10",
        ),
        (
            "Q3 TCP destination ports, top 20",
            "SELECT dst_port, count(*) AS flows, sum(bytes) AS b FROM flows WHERE protocol = 6 "
            "GROUP BY dst_port ORDER BY b DESC LIMIT 20",
            f"SELECT dst_port, count(*) AS flows, sum(bytes) AS b FROM {a} WHERE protocol = 6 "
            "GROUP BY dst_port ORDER BY b DESC LIMIT 20",
            f"SELECT dst_port, count(*) AS flows, sum(bytes) AS b FROM {b} WHERE protocol = 6 "
            "GROUP BY dst_port ORDER BY b DESC LIMIT 20",
        ),
        (
            "Q4a sources in 10.0.0.0/8",
            "SELECT count(*), sum(bytes) FROM flows WHERE cidr_contains('10.0.0.0/8', src_addr)",
            f"SELECT count(*), sum(bytes) FROM {a} WHERE src_addr LIKE '10.%'",
            f"SELECT count(*), sum(bytes) FROM {b} WHERE src_addr BETWEEN {v4('0a000000')} AND {v4('0affffff')}",
        ),
        (
            "Q4b sources in 10.1.0.0/16",
            "SELECT count(*), sum(bytes) FROM flows WHERE cidr_contains('10.1.0.0/16', src_addr)",
            f"SELECT count(*), sum(bytes) FROM {a} WHERE src_addr LIKE '10.1.%'",
            f"SELECT count(*), sum(bytes) FROM {b} WHERE src_addr BETWEEN {v4('0a010000')} AND {v4('0a01ffff')}",
        ),
        (
            "Q5 flows per 5 minutes, day",
            "SELECT date_bin(INTERVAL '5 minutes', minute) AS t, sum(flows) AS flows FROM flows_1m GROUP BY t ORDER BY t",
            f"SELECT time_bucket(INTERVAL '5 minutes', flow_end) AS t, count(*) AS flows FROM {a} GROUP BY t ORDER BY t",
            f"SELECT time_bucket(INTERVAL '5 minutes', minute) AS t, sum(flows) AS flows FROM {b1m} GROUP BY t ORDER BY t",
        ),
    ]


DUCK_RUNNER = r"""
import datetime, decimal, json, sys
import duckdb
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
rows = con.sql(sys.argv[1]).fetchall()
def conv(v):
    if isinstance(v, (bytes, bytearray)): return {"hex": v.hex()}
    if isinstance(v, datetime.datetime): return v.isoformat()
    if isinstance(v, decimal.Decimal): return int(v)
    return str(v)
print(json.dumps(rows, default=conv))
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$", " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + " ") or l.startswith(name + "{"))


def feed(plumb, pcap, data, rate):
    """Sends the capture through a running collector; returns (rows stored, seconds)."""
    port, mport = free_port(), free_port()
    cfg = data.parent / "collect.toml"
    # Compaction waits for `plumb compact` below, so the feed measures ingest alone.
    cfg.write_text("[store.compaction]\nenabled = false\n")
    logf = open(data.parent / "collect.log", "w")
    c = subprocess.Popen(
        [plumb, "collect", "--data", data, "--config", cfg, "--listen", f"127.0.0.1:{port}",
         "--metrics-listen", f"127.0.0.1:{mport}"],
        stdout=logf, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if metric(mport, "plumb_store_rows_written_total") is not None:
                break
            time.sleep(0.1)
        t0 = time.time()
        run([plumb, "replay", pcap, "--to", f"127.0.0.1:{port}", "--rate", str(rate)], stdout=subprocess.DEVNULL)
        secs = time.time() - t0
    finally:
        c.send_signal(signal.SIGTERM)
        c.wait(timeout=600)
    return secs


def timed(cmd):
    """(seconds, peak RSS MiB, stdout) of one process."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {p.stderr[-2000:]}")
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return secs, rss_kb / 1024, p.stdout


def norm_cell(v):
    if isinstance(v, dict) and "hex" in v:
        b = bytes.fromhex(v["hex"])
        if len(b) == 16:
            return str(ipaddress.IPv4Address(b[12:]) if b[:12] == V4_MAPPED else ipaddress.IPv6Address(b))
        return v["hex"]
    s = str(v)
    for parse in (lambda x: str(ipaddress.ip_address(x)),
                  lambda x: str(int(x)),
                  lambda x: str(int(dt.datetime.fromisoformat(x.replace(" ", "T")).timestamp()))):
        try:
            return parse(s)
        except ValueError:
            pass
    return s


def plumb_rows(out):
    lines = [l for l in out.splitlines() if l]
    return [[norm_cell(c) for c in l.split(",")] for l in lines[1:]]


def duck_rows(out):
    return [[norm_cell(c) for c in row] for row in json.loads(out.strip().splitlines()[-1])]


def duckdb_copy(plumb_flows, out):
    """Layout (a): DuckDB writes the same flows with text addresses, sorted by flow end."""
    import duckdb

    def text(col):
        h = f"hex({col})"
        octet = lambda i: f"('0x' || substr({h}, {25 + 2 * i}, 2))::INTEGER"
        v4 = "concat_ws('.', " + ", ".join(octet(i) for i in range(4)) + ")"
        v6 = f"lower(concat_ws(':', " + ", ".join(f"substr({h}, {1 + 4 * i}, 4)" for i in range(8)) + "))"
        return f"CASE WHEN {col} IS NULL THEN NULL WHEN substr({h}, 1, 24) = '00000000000000000000FFFF' THEN {v4} ELSE {v6} END AS {col}"

    con = duckdb.connect()
    src = f"read_parquet('{plumb_flows}/**/*.parquet', hive_partitioning=true)"
    cols = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    addrs = {"exporter", "src_addr", "dst_addr", "next_hop", "tunnel_src", "tunnel_dst", "inner_src_addr", "inner_dst_addr"}
    select = ", ".join(text(c) if c in addrs else c for c in cols)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    con.sql(f"COPY (SELECT {select} FROM {src} ORDER BY flow_end) TO '{tmp}' "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000, PARTITION_BY (date, hour))")
    tmp.rename(out)


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", type=int, default=100_000_000)
    ap.add_argument("--work", type=Path, default=Path("target/bench-day"), help="work folder (default: target/bench-day)")
    ap.add_argument("--plumb", default=str(Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "release/plumb"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=16000, help="datagrams/s of the feed")
    ap.add_argument("--only", default="", help="comma-separated question prefixes, e.g. Q1,Q4")
    ap.add_argument("--keep-uncompacted", type=Path, help="copy the store here before compacting (layout experiments)")
    a = ap.parse_args()
    plumb = a.plumb
    a.work.mkdir(parents=True, exist_ok=True)
    pcap, store, duck = a.work / "day.pcap", a.work / "plumb", a.work / "duck"
    facts = {}

    if not pcap.exists():
        run([plumb, "generate", "--out", str(pcap) + ".tmp", "--flows", str(a.flows), "--date", DAY,
             "--seed", "42", "--exporters", "4", "--quiet"])
        os.rename(str(pcap) + ".tmp", pcap)
    if not (store / "flows").exists():
        facts["feed seconds"] = round(feed(plumb, pcap, store, a.rate), 1)
    if any((store / "flows").rglob("flush-*.parquet")):
        if a.keep_uncompacted and not a.keep_uncompacted.exists():
            run(["cp", "-a", str(store), str(a.keep_uncompacted)])
        secs, rss, _ = timed([plumb, "compact", "--quiet", "--data", str(store)])
        facts["compact seconds"], facts["compact peak RSS MiB"] = round(secs, 1), round(rss)
    stored = int(subprocess.run([plumb, "query", "--data", store, "--format", "csv", "SELECT count(*) FROM flows"],
                                capture_output=True, text=True, check=True).stdout.split()[-1])
    facts["flows generated"], facts["flows stored"] = a.flows, stored
    if not duck.exists():
        t0 = time.time()
        duckdb_copy(store / "flows", duck)
        facts["duckdb copy seconds"] = round(time.time() - t0, 1)
    facts["plumb flows MB"] = round(du(store / "flows") / 1e6)
    facts["plumb flows_1m MB"] = round(du(store / "flows_1m") / 1e6, 1)
    facts["duckdb (a) MB"] = round(du(duck) / 1e6)
    log(json.dumps(facts, indent=1))

    engines = [
        ("plumb", lambda sql: [plumb, "query", "--data", str(store), "--format", "csv", sql], plumb_rows),
        ("duckdb (a)", lambda sql: [sys.executable, "-c", DUCK_RUNNER, sql], duck_rows),
        ("duckdb (b)", lambda sql: [sys.executable, "-c", DUCK_RUNNER, sql], duck_rows),
    ]
    qs = questions(str(duck), str(store / "flows"), str(store / "flows_1m"))
    only = [p for p in a.only.split(",") if p]
    print(f"\n{stored:,} flows; {a.runs} warm runs per cell; seconds min / median, peak RSS MiB\n")
    print("| question | plumb | DuckDB (a) | DuckDB (b) | speed-up vs (a), median | answers |")
    print("|---|---|---|---|---|---|")
    for name, *sqls in qs:
        if only and not any(name.startswith(p) for p in only):
            continue
        cells, answers, medians = [], [], []
        cmds = [cmd(sql) for (_, cmd, _), sql in zip(engines, sqls)]
        for c in cmds:
            timed(c)  # warm
        rounds = [[timed(c) for c in cmds] for _ in range(a.runs)]
        for i, (engine, cmd, parse) in enumerate(engines):
            runs = [r[i] for r in rounds]
            secs = [r[0] for r in runs]
            medians.append(statistics.median(secs))
            cells.append(f"{min(secs):.3f} / {statistics.median(secs):.3f}, {max(r[1] for r in runs):.0f}")
            answers.append(parse(runs[-1][2]))
        same = all(x == answers[0] for x in answers[1:])
        if not same:
            log(name, "answers differ:", json.dumps(answers, indent=0)[:3000])
        print(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {medians[1] / medians[0]:.1f}x | "
              f"{'identical' if same else 'DIFFER'} |", flush=True)
    print()
    for k, v in facts.items():
        print(f"- {k}: {v}")


if __name__ == "__main__":
    main()
