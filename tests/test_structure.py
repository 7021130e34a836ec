"""The code's shape, as docs/design.md promises it: each op owns its facts (no pass or backend
names an op), passes stay small, and the pipeline is one tuple of passes."""

from __future__ import annotations

import ast
from pathlib import Path

from archlang import api
from archlang.ops.registry import ALIASES, OPS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "archlang"

#: Modules that write spec text (the language's words, which include op names), or whose
#: strings are other vocabularies that happen to share a word with an op. Each entry says
#: which strings and why; anything else named like an op is a pass deciding by op name.
ALLOWED = {
    "soundness.py": "writes spec text for the property test (op calls are its vocabulary)",
    "fuzz.py": "writes spec text for the fuzzer",
    "fmt.py": "writes spec text (the formatter): the `concat { }` keyword",
    "plugins.py": "documents the oracle's spec template",
    "syntax/parse.py": "the language's reserved words (`input`, `concat`) for syntax errors",
    "syntax/ast.py": "the keyword of each construct (`concat { }`), by which ops are found",
    "graph/values.py": "torch.nn.init's `nonlinearity` choices (relu, linear, tanh...)",
}


def _py_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not rel.startswith("ops/"):
            yield rel, path


def test_no_pass_or_backend_names_an_op():
    names = set(OPS) | set(ALIASES)
    found = []
    for rel, path in _py_files():
        if rel in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"archlang/{rel}:{node.lineno}: {node.value!r}")
    assert not found, "op names used as string literals outside archlang/ops " \
        "(give the op a property instead):\n" + "\n".join(found)


def test_the_scan_would_see_an_op_name(tmp_path):
    """The scan above looks at string constants: an `n.op == "add"` is one."""
    tree = ast.parse('if n.op == "add":\n    pass\n')
    assert any(isinstance(x, ast.Constant) and x.value in OPS for x in ast.walk(tree))


def test_allowed_modules_exist():
    for rel in ALLOWED:
        assert (PACKAGE / rel).exists(), rel


def test_functions_in_graph_and_backends_are_short():
    long = []
    for folder in ("graph", "backends"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    size = node.end_lineno - node.lineno + 1
                    if size > 60:
                        long.append(f"archlang/{folder}/{path.name}:{node.lineno} "
                                    f"{node.name}: {size} lines")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)


def test_expander_stays_small():
    lines = (PACKAGE / "graph" / "expand.py").read_text().count("\n")
    assert lines < 500, f"graph/expand.py has {lines} lines"


def test_pipeline_is_one_tuple_of_module_entry_points():
    modules = [p.__module__ for p in api.PASSES]
    assert len(set(modules)) == len(modules), "one pass per module"
    assert [p.__name__ for p in api.PASSES] == ["load", "expand", "solve", "verify",
                                                  "apply_inits"]


def test_no_op_is_handed_the_expander():
    """Shape rules take (attrs, input shapes) only: constraints come back as data."""
    import inspect

    for op in OPS.values():
        params = list(inspect.signature(op.shape).parameters)
        assert params == ["a", "ins"], f"{op.name}.shape{params}"
