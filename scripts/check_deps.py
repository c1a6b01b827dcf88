#!/usr/bin/env python3
"""Fails when a workspace crate depends on another against the one-way direction of
docs/architecture.md: collector uses none of the others, store uses collector, analyzer
uses store and collector, exporters use collector. Reads `cargo metadata`, so it sees
every kind of dependency (normal, build, dev) as Cargo resolves them."""
import json
import subprocess
import sys

ALLOWED = {
    "plumb-collector": set(),
    "plumb-store": {"plumb-collector"},
    "plumb-analyzer": {"plumb-collector", "plumb-store"},
    "plumb-exporters": {"plumb-collector"},
    # The binary wires them all together.
    "plumb": {"plumb-collector", "plumb-store", "plumb-analyzer", "plumb-exporters"},
}


def main() -> int:
    meta = json.loads(
        subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"])
    )
    members = {p["name"] for p in meta["packages"]}
    bad = []
    for pkg in meta["packages"]:
        name = pkg["name"]
        if name not in ALLOWED:
            bad.append(f"{name}: a workspace crate the direction check does not know; add it to {sys.argv[0]}")
            continue
        for dep in pkg["dependencies"]:
            if dep["name"] in members and dep["name"] not in ALLOWED[name]:
                kind = dep["kind"] or "normal"
                bad.append(f"{name} depends on {dep['name']} ({kind}), against the direction")
    for line in bad:
        print(f"dependency direction: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
