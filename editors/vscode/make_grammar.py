"""Writes syntaxes/arch.tmLanguage.json, the TextMate grammar of .arch files, with the op
names of archlang's registry (built-in ops only). Run it after adding an op:

    python editors/vscode/make_grammar.py

tests/test_highlight.py fails while the file differs from what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "syntaxes" / "arch.tmLanguage.json"


def grammar() -> dict:
    from archlang.highlight import KEYWORDS
    from archlang.ops import registry

    # built-in ops only (plugins are not known here); the registry without installed plugins
    builtin = {n for n, op in registry.OPS.items() if n not in registry.ORIGINS and not op.source}
    ops = sorted(builtin | {a for a, n in registry.ALIASES.items() if n in builtin})
    keywords = [w for w in KEYWORDS if w not in ("block", "network", "import")]
    name = "[A-Za-z_][A-Za-z0-9_]*"
    digits = "[0-9](?:_?[0-9])*"
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "archlang",
        "scopeName": "source.arch",
        "fileTypes": ["arch"],
        "patterns": [
            {"name": "comment.line.number-sign.arch", "match": "#.*$"},
            {"name": "string.quoted.double.arch", "match": r'"(?:[^"\\]|\\.)*"'},
            {"name": "string.quoted.single.arch", "match": r"'(?:[^'\\]|\\.)*'"},
            {"match": rf"\b(block|network)\s+({name})",
             "captures": {"1": {"name": "storage.type.arch"},
                          "2": {"name": "entity.name.type.arch"}}},
            {"name": "keyword.control.import.arch", "match": r"\bimport\b"},
            {"name": "constant.language.boolean.arch", "match": r"\b(?:true|false)\b"},
            {"name": "keyword.control.arch", "match": rf"\b(?:{'|'.join(keywords)})\b"},
            {"name": "constant.numeric.float.arch",
             "match": rf"(?<![A-Za-z0-9_.])(?:(?:{digits})?\.{digits}(?:[eE][+-]?[0-9]+)?"
                      rf"|{digits}[eE][+-]?[0-9]+|{digits}\.(?![A-Za-z_]))"},
            {"name": "constant.numeric.integer.arch", "match": rf"\b{digits}\b"},
            {"match": rf"\b({name})\s*(:)(?!:)",
             "captures": {"1": {"name": "entity.name.tag.layer.arch"},
                          "2": {"name": "punctuation.separator.arch"}}},
            # the list of a list item's label: `convs` in `convs.{i}:` and `convs.0:`
            {"match": rf"\b({name})(\.)(?=\{{|{digits}\s*:)",
             "captures": {"1": {"name": "entity.name.tag.layer.arch"},
                          "2": {"name": "punctuation.separator.arch"}}},
            {"name": "support.function.op.arch", "match": rf"\b(?:{'|'.join(ops)})\b"},
            {"name": "keyword.operator.arch", "match": r"->|\*\*|//|==|!=|<=|>=|[<>+\-*/%=]"},
            {"name": "variable.other.arch", "match": name},
        ],
    }


def text() -> str:
    return json.dumps(grammar(), indent=2) + "\n"


if __name__ == "__main__":
    TARGET.write_text(text(), encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET}\n")
