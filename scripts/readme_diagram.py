"""Regenerate docs/googlenet.svg, the diagram the README shows.

    python scripts/readme_diagram.py          # rewrite docs/googlenet.svg (needs Graphviz)
    python scripts/readme_diagram.py --check  # exit 1 if the committed SVG is stale

GoogLeNet at depth 2, top to bottom: every Inception module is a cluster of its four
branches and the concat, and the auxiliary classifiers (training only) are dashed. The SVG
starts with a comment holding the SHA-256 of the DOT text it was rendered from, so a test
can tell whether it is current without Graphviz (tests/test_diagram.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SPEC = "specs/googlenet.arch"  # relative to ROOT, so tooltips show a relative location
NETWORK = "googlenet"
DEPTH = 2
DIRECTION = "TB"
OUTPUT = ROOT / "docs" / "googlenet.svg"
MARK = "archlang-dot-sha256:"


def diagram():
    """The README's Diagram (checked with the repository root as working directory)."""
    from archlang.api import check
    from archlang.backends.graphviz import Diagram

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        graph = check(SPEC, NETWORK).graph
    finally:
        os.chdir(cwd)
    return Diagram(graph, depth=DEPTH, direction=DIRECTION)


def digest(dot_source: str) -> str:
    return hashlib.sha256(dot_source.encode("utf-8")).hexdigest()


def recorded_digest(svg: str) -> str | None:
    """The DOT digest an SVG written by this script records (None if it has none)."""
    start = svg.find(MARK)
    if start < 0:
        return None
    return svg[start + len(MARK):].split(maxsplit=1)[0]


def build() -> bytes:
    """The SVG bytes: ``dot``'s output with the DOT digest comment after the XML prolog."""
    d = diagram()
    svg = d.pipe("svg").decode("utf-8")
    comment = (f"<!-- {MARK} {digest(d.source)} (regenerate: python "
               f"scripts/readme_diagram.py) -->\n")
    head, sep, rest = svg.partition("?>\n")
    svg = head + sep + comment + rest if sep else comment + svg
    return svg.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if docs/googlenet.svg is not current")
    args = parser.parse_args(argv)
    if args.check:
        current = digest(diagram().source)
        committed = recorded_digest(OUTPUT.read_text(encoding="utf-8")) \
            if OUTPUT.exists() else None
        if committed != current:
            print(f"{OUTPUT.relative_to(ROOT)} is stale; run python scripts/readme_diagram.py",
                  file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is current")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(build())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
