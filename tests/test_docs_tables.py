"""Tables in the docs that list ops by family agree with the op registry."""

from __future__ import annotations

import re
from pathlib import Path

from archlang.ops.registry import ORIGINS, layer_ops

ROOT = Path(__file__).resolve().parent.parent


def test_diagram_colour_table_lists_every_op_of_each_family():
    text = (ROOT / "docs" / "diagrams.md").read_text()
    families: dict[str, list[str]] = {}
    for op in (op for op in layer_ops() if op.name not in ORIGINS):  # built-in ops only
        families.setdefault(op.family, []).append(op.name)
    shown = {}
    for line in text.splitlines():
        m = re.match(r"\| (\w+) \| (.*?) \| .*`#[0-9a-f]{6}`", line)
        if m and m.group(1) in families:
            shown[m.group(1)] = sorted(re.findall(r"`(\w+)`", m.group(2)))
    assert shown == {family: sorted(names) for family, names in families.items()}
