"""The language server's Reparser reads again only the definitions an edit changed; its AST
and diagnostics must be those of parsing the whole file (archlang.program.parse_file), on
every spec in the repository, after edits that move definitions around, and on mutated
(mostly broken) specs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="archlang lsp needs pygls (pip install 'archlang[editor]')")

from archlang.fuzz import mutate
from archlang.limits import Limits
from archlang.lsp import Reparser, Settings, analyse
from archlang.program import parse_file
from archlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted({*ROOT.joinpath("archlang", "zoo").glob("*.arch"),
                *ROOT.joinpath("examples").rglob("*.arch"),
                *ROOT.joinpath("tests", "cases").rglob("*.arch"),
                *ROOT.joinpath("tests", "plugins").glob("*.arch")})


def shown(diags) -> list[tuple]:
    return [(d.code, d.message, d.span and (d.span.start, d.span.end), d.label, d.notes, d.help)
            for d in diags]


def same_as_whole(parser: Reparser, text: str, limits: Limits | None = None) -> bool:
    """Whether ``parser`` reads ``text`` as the whole-file parse does; True when it read the
    text piece by piece (rather than handing it to the whole-file parse)."""
    limits = limits or Limits()
    source = Source("t.arch", text)
    whole, whole_diags = parse_file(source, limits)
    pieces = parser.assemble(source, limits)
    file, diags = parser(source, limits)
    assert file == whole
    assert shown(diags) == shown(whole_diags)
    if pieces is not None:
        assert pieces == whole and not whole_diags
    return pieces is not None


def test_every_spec_reads_the_same_piece_by_piece():
    parser = Reparser()
    by_pieces = [p for p in SPECS if same_as_whole(parser, p.read_text(encoding="utf-8",
                                                                        errors="replace"))]
    # every spec that parses is read piece by piece; the rest are syntax error cases
    others = {p.name for p in SPECS} - {p.name for p in by_pieces}
    assert len(by_pieces) > 200
    assert all(name.startswith(("syntax_", "limit_", "name_reserved", "broken"))
               for name in others), others


def test_edits_reuse_unchanged_definitions_at_their_new_place():
    text = (ROOT / "specs" / "resnet.arch").read_text()
    parser = Reparser()
    assert same_as_whole(parser, text)
    kept = dict(parser.pieces)
    edits = [
        text.replace("conv1: conv2d(64, 7,", "conv1: conv2d(65, 7,"),  # in a block
        "# a new first line\n" + text,  # every definition moves
        text.replace("network resnet34", "network resnet34b"),  # a header
        text.replace("block Stage(", "block Stage (", 1) + "\nnetwork extra {\n    input x: "
        "[3, 8, 8]\n    output x\n}\n",  # one more definition; a separator; blanks
        text.replace("\n\nnetwork resnet50(", "; network resnet50("),  # `;` separates too
        text.replace("}\n\nnetwork resnet101", "}\n\n\n  # between\n\nnetwork resnet101"),
    ]
    for edited in edits:
        assert same_as_whole(parser, edited)
    # the unchanged definitions were not parsed again: their cached ASTs are the same objects
    assert all(parser.pieces[k] is v for k, v in kept.items() if k in parser.pieces)
    assert len([k for k in kept if k in parser.pieces]) >= len(kept) - 1


def test_what_does_not_parse_alone_is_read_whole():
    parser = Reparser()
    block = "block A(c) {\n    conv2d(c, 3)\n}\n"
    for text in [
        block + "block B {} block C {}\n",  # two definitions with no separator between
        block + "-> relu\n",  # a chain continued at the top level
        block + "block D(c) {\n    conv2d(c, 3\n}\n",  # brackets that do not balance
        block + "block E {\n    x = \"a # not a comment {\"\n}\n",  # brackets in a string
        block + "block F {\n    relu # { not a bracket\n}\n",
        block + "block G\n{\n    relu\n}\n",  # a newline before the body
        block + "block H {\n    relu\n} \\\nblock I {}\n",  # a line continuation
        block + "\r",  # a lone carriage return
        "# only a comment\n",
        "",
        block + "'unterminated\n",
    ]:
        same_as_whole(parser, text)
    assert same_as_whole(parser, block + "block E {\n    relu\n}\n")


def test_the_bracket_limit_is_the_callers():
    text = "network n {\n    input x: [3, 8, 8]\n    " + "[" * 10 + "relu" + "]" * 10 + \
        "\n    output y\n}\n"
    parser = Reparser()
    assert same_as_whole(parser, text)
    assert not same_as_whole(parser, text, Limits(max_depth=8))  # E051 from the parser


@pytest.mark.parametrize("seed", range(4))
def test_mutated_specs_read_the_same(seed):
    rng = random.Random(seed)
    seeds = [p.read_text(encoding="utf-8") for p in SPECS
             if "errors" not in p.parts and p.stat().st_size < 4000]
    parser = Reparser()
    for _ in range(40):
        text = rng.choice(seeds)
        for _ in range(rng.randrange(1, 3)):
            text = mutate(text, rng)
        same_as_whole(parser, text)


def test_analyses_with_and_without_reuse_agree():
    """The whole check on the Reparser's AST: the same graph and diagnostics, including the
    program's own checks (a block defined twice) and errors in imported files."""
    parser = Reparser()
    for path in [ROOT / "specs" / "resnet.arch", ROOT / "specs" / "googlenet.arch",
                 *sorted((ROOT / "tests" / "cases" / "errors").glob("name_duplicate_*.arch")),
                 *sorted((ROOT / "tests" / "cases" / "errors").glob("import_*.arch"))]:
        text = path.read_text(encoding="utf-8", errors="replace")
        for _ in range(2):  # the second time from the cache
            a = analyse(text, path, Settings(), parser=parser)
            b = analyse(text, path, Settings())
            assert shown(a.diagnostics) == shown(b.diagnostics), path
            assert (a.graph is None) == (b.graph is None)
            if a.graph is not None:
                assert [(n.name, n.shape, n.params, n.span.start) for n in a.graph.nodes] == \
                    [(n.name, n.shape, n.params, n.span.start) for n in b.graph.nodes]


def test_the_benchmarks_edits_check_clean_and_read_the_same():
    """benchmarks/bench_lsp.py's edits keep resnet.arch valid, as the benchmark asserts."""
    import importlib.util
    import os
    import sys

    environ = dict(os.environ)  # benchmarks/common.py sets the benchmarks' environment
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("bench_lsp", ROOT / "benchmarks" /
                                                      "bench_lsp.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        sys.modules.pop("common", None)
        os.environ.clear()
        os.environ.update(environ)
    text = bench.SPEC.read_text()
    parser = Reparser()
    for edit in bench.EDITS.values():
        for i in (1, 2):
            edited = edit(text, i)
            assert edited != text and same_as_whole(parser, edited)
            a = analyse(edited, bench.SPEC, Settings("resnet152"), parser=parser)
            assert a.graph is not None and not a.diagnostics
