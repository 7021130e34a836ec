"""The lowerer builds AST nodes without running their validators (``Node.build``); these
tests prove that every node it builds is one the validators accept.

For every spec in the repository (the zoo, specs/, examples/, tests/cases/) and a few
hundred mutated ones, every node of the lowered AST is validated again through its pydantic
class (``model_validate`` of its fields, each child checked by class and then validated in
turn), and must come back equal, with the same set fields. A second check builds the
same files with the validating constructors and compares the two trees.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from archlang.fuzz import cases
from archlang.source import Source
from archlang.syntax import ast as A
from archlang.syntax.lower import lower, lower_expr
from archlang.syntax.parse import parse

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted({*ROOT.joinpath("archlang", "zoo").glob("*.arch"),
                *ROOT.joinpath("specs").glob("*.arch"),
                *ROOT.joinpath("examples").rglob("*.arch"),
                *ROOT.joinpath("tests", "cases").rglob("*.arch")})


def lowered(name: str | Source, text: str = "") -> A.File | None:
    source = name if isinstance(name, Source) else Source(name, text)
    tree, _ = parse(source)
    if tree is None:
        return None
    file, _ = lower(tree, source)
    return file


def revalidate(root: A.Node) -> int:
    """Validate every node under ``root`` through its class; the number of nodes."""
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        cls = type(node)
        again = cls.model_validate({k: node.__dict__[k] for k in node.model_fields_set})
        assert again == node, (cls.__name__, node.span)
        assert again.__dict__ == node.__dict__
        assert list(again.__dict__) == list(node.__dict__)
        assert again.model_fields_set == node.model_fields_set
        count += 1
        for value in node.__dict__.values():
            items = value if isinstance(value, list) else [value]
            stack.extend(v for v in items if isinstance(v, A.Node))
    return count


def test_the_repository_has_specs():
    assert len(SPECS) > 50
    assert any(p.name == "resnet.arch" for p in SPECS)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_lowered_node_of_every_spec_validates(path):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # an error case: a file that is not UTF-8
        assert "errors" in path.parts
        return
    file = lowered(str(path), text)
    if file is None:  # an error case with a syntax error: no AST to check
        assert "errors" in path.parts
        return
    assert revalidate(file) > 1


def test_mutated_specs_lower_to_valid_nodes():
    checked = 0
    for text, _ in itertools.islice(cases(ROOT, seed=11), 300):
        file = lowered("m.arch", text)
        if file is not None:
            checked += revalidate(file)
    assert checked > 1000


@pytest.mark.parametrize("text", ["1", "-2.5e3", "'a'", "true", "x if a and not b else y",
                                  "[1, (2, 3), f(4, k=5)[0]]", "in.channels ** 2 // 3 % 4",
                                  "(1,)", "a < b", "x - -y"])
def test_lowered_expressions_validate(text):
    source = Source("e", text)
    tree, diags = parse(source, start="expr")
    assert tree is not None, diags
    expr, diags = lower_expr(tree, source)
    assert expr is not None, diags
    assert revalidate(expr) >= 1


def test_build_equals_validating_construction(monkeypatch):
    """The same files built through the validating constructors give equal trees."""
    paths = [p for p in SPECS if "errors" not in p.parts]
    assert len(paths) > 15
    sources = [Source(str(p), p.read_text(encoding="utf-8")) for p in paths]  # spans compare
    fast = [lowered(s) for s in sources]  # their sources by identity
    monkeypatch.setattr(A.Node, "build", classmethod(lambda cls, **values: cls(**values)))
    slow = [lowered(s) for s in sources]
    assert all(f is not None for f in fast)
    for p, f, s in zip(paths, fast, slow):
        assert f == s, p
        assert f.model_dump() == s.model_dump(), p


def test_build_rejects_missing_and_unknown_fields():
    sp = Source("t.arch", "x").span(0, 1)
    with pytest.raises(TypeError, match="needs `value`"):
        A.IntLit.build(span=sp)
    with pytest.raises(TypeError, match="unknown fields"):
        A.Arg.build(span=sp, name=None, value=A.IntLit.build(span=sp, value=1), extra=1)
    arg = A.Arg.build(span=sp, name=None, value=A.IntLit.build(span=sp, value=1))
    assert arg == A.Arg(span=sp, name=None, value=A.IntLit(span=sp, value=1))
    assert arg.name_span is None and arg.model_fields_set == {"span", "name", "value"}
