"""Import time of a command, by the package that caused it (from ``python -X importtime``).

    python benchmarks/_import_breakdown.py -m archlang summary specs/googlenet.arch -n googlenet

Every module's own import time goes to its top-level package; a standard-library module goes
to the nearest non-standard-library package above it in the import tree (``email`` pulled
in by ``importlib.metadata`` for pydantic's plugins counts as pydantic's), or to ``python``
when nothing above it is third-party. Prints one JSON object: seconds per owner.
"""

from __future__ import annotations

import json
import subprocess
import sys

STDLIB = set(sys.stdlib_module_names) | {"_frozen_importlib", "_frozen_importlib_external"}


def breakdown(argv: list[str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, check=False)
    rows = []  # (indent, module, self seconds)
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line.split("|")
        self_us = int(parts[0].split(":")[1])
        raw = parts[2]
        name = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        rows.append((indent, name, self_us / 1e6))
    # parent of row i: the first later row with a smaller indent
    parent = [None] * len(rows)
    stack: list[int] = []  # rows still waiting for a parent, by increasing position
    for i, (ind, _, _) in enumerate(rows):
        while stack and rows[stack[-1]][0] > ind:
            parent[stack.pop()] = i
        stack.append(i)

    def owner(i: int) -> str:
        while i is not None:
            top = rows[i][1].split(".")[0]
            if top not in STDLIB and not top.startswith("_"):
                return top
            i = parent[i]
        return "python"

    out: dict[str, float] = {}
    for i, (_, _, secs) in enumerate(rows):
        k = owner(i)
        out[k] = out.get(k, 0.0) + secs
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    print(json.dumps(breakdown(sys.argv[1:])))
