"""Hostile and broken input: located diagnostics, bounded work, confined imports, safe code."""

from __future__ import annotations

import functools
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archlang
from archlang.api import run
from archlang.codecheck import unsafe_code
from archlang.diagnostics import ArchError
from archlang.fuzz import cases, check_one
from archlang.limits import Limits

ROOT = Path(__file__).resolve().parent.parent


def codes_of(text: str, **kw) -> list[str]:
    with pytest.raises(ArchError) as info:
        archlang.check(text, **kw)
    return info.value.codes


# -- fuzzing ----------------------------------------------------------------------------


def test_mutation_fuzz_2000_cases():
    """2,000 mutated zoo specs and examples: never a crash, always located diagnostics."""
    failures = []
    for k, (text, net) in enumerate(cases(ROOT, seed=20261126)):
        if k == 2000:
            break
        problem = check_one(text, net)
        if problem:
            failures.append((problem, text))
    assert not failures, failures[0][0] + "\n" + failures[0][1]


@functools.lru_cache(maxsize=1)
def _grammar_strategy():
    from hypothesis.extra.lark import from_lark
    from lark import Lark

    from archlang.syntax.parse import _grammar

    grammar = Lark(_grammar(), parser="lalr", lexer="contextual", start="start")
    names = st.sampled_from(["x", "y", "conv2d", "relu", "B", "net", "out", "in_", "k",
                             "maxpool2d", "linear", "flatten", "H", "concat", "add"])
    explicit = {
        "NAME": names,
        "_NL": st.just("\n"),
        "COMMENT": st.just("# c"),
        "WS": st.just(" "),
        "LINE_CONT": st.just(" "),
        "INT": st.sampled_from(["0", "1", "3", "64", "1_000"]),
        "FLOAT": st.sampled_from(["0.5", "1e-5", "2."]),
        "STRING": st.sampled_from(['"same"', "'valid'", '"fan_out"']),
    }
    return from_lark(grammar, start="start", explicit=explicit)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_grammar_fuzz(data):
    """Strings generated from the grammar itself parse or give a located diagnostic."""
    text = data.draw(_grammar_strategy())
    problem = check_one(text)
    assert problem is None, f"{problem}\n{text}"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_text(text):
    assert check_one(text) is None


# -- limits before work -----------------------------------------------------------------

BOMB = """block A{let r=range(99999);for i in r{for j in r{for k in r{relu}}}}
block B{let r=range(99999);for i in r{for j in r{for k in r{A}}}}
network n{input x:[3];B;output y}"""  # 99999**6 ~ 10**30 layers


def test_expansion_bomb_rejected_with_bounded_time_and_memory():
    assert len(BOMB) <= 200
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
        import archlang
        try:
            archlang.check({BOMB!r})
        except archlang.ArchError as e:
            print(" ".join(e.codes))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["E050"]


def test_huge_parameter_counts_are_rejected_everywhere(tmp_path):
    spec = "network n {\n input x: [8]\n fc: linear(10**12)\n output y\n}\n"
    assert codes_of(spec) == ["E054"]
    path = tmp_path / "huge.arch"
    path.write_text(spec)
    for command in ("check", "summary", "compile"):
        proc = subprocess.run([sys.executable, "-m", "archlang", command, str(path)],
                              capture_output=True, text=True, cwd=ROOT, check=False)
        assert proc.returncode == 1 and "E054" in proc.stderr, (command, proc.stderr)
    with pytest.raises(ArchError) as info:
        archlang.load(spec)  # before any tensor is allocated
    assert info.value.codes == ["E054"]
    raised = archlang.check(spec, limits=Limits(max_params=10**14))
    assert raised.params == 9 * 10**12


@pytest.mark.parametrize("text,code", [
    ("network n {\n input x: [3]\n let v = " + "(" * 5000 + "1" + ")" * 5000 + "\n}", "E051"),
    ("network n " + "{" * 5000 + "}" * 5000, "E051"),
    ("network n {\n input x: [3]\n let v = " + "+".join(["1"] * 20000) + "\n output y\n}",
     "E051"),
    ("network n {\n input x: [3]\n let v = " + "-" * 5000 + "1\n output y\n}", "E051"),
])
def test_deep_nesting_is_an_error_not_a_crash(text, code):
    _graph, diags = run(text)
    assert code in [d.code for d in diags]
    assert all(d.span is not None for d in diags)


def test_deep_block_chains_stop_at_the_depth_limit():
    blocks = "\n".join(f"block B{i} {{ B{i + 1} }}" for i in range(200))
    text = blocks + "\nblock B200 { relu }\nnetwork n {\n input x: [3]\n B0\n output y\n}\n"
    assert "E051" in codes_of(text)


def test_recursion_is_an_error():
    text = "block A { B }\nblock B { A }\nnetwork n {\n input x: [3]\n A\n output y\n}\n"
    assert codes_of(text) == ["E055"]


def test_loops_without_layers_are_bounded():
    text = ("network n {\n input x: [3]\n for i in range(100000) {\n"
            "  for j in range(100000) { let z = i }\n }\n relu\n output y\n}\n")
    assert codes_of(text) == ["E050"]


# -- imports stay inside the root -----------------------------------------------------------

@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "blocks.arch").write_text("block Two { relu; relu }\n")
    (tmp_path / "outside.arch").write_text("block Out { relu }\n")
    (tmp_path / "secret.txt").write_text("SECRET-TOKEN-123\n")
    (root / "notes.txt").write_text("SECRET-TOKEN-456 is not a spec\n")
    return root


def spec_with_import(root: Path, target: str) -> Path:
    path = root / "main.arch"
    path.write_text(f'import "{target}"\nnetwork n {{\n input x: [3]\n relu\n output y\n}}\n')
    return path


@pytest.mark.parametrize("target,code", [
    ("lib/missing.arch", "E040"),
    ("/etc/passwd", "E041"),
    ("../outside.arch", "E041"),
    ("lib/../../outside.arch", "E041"),
    ("../secret.txt", "E041"),
    ("notes.txt", "E043"),
    ("lib", "E040"),
])
def test_import_confinement(project, target, code):
    path = spec_with_import(project, target)
    _graph, diags = run(path)
    assert [d.code for d in diags] == [code]
    d = diags[0]
    assert d.span is not None and d.span.line == 1
    assert "SECRET" not in d.render()


def test_symlinks_may_not_leave_the_root(project):
    (project / "lib" / "link.arch").symlink_to(project.parent / "outside.arch")
    _graph, diags = run(spec_with_import(project, "lib/link.arch"))
    assert [d.code for d in diags] == ["E041"]


def test_import_cycles_and_diamonds(project):
    (project / "a.arch").write_text('import "b.arch"\nblock A { relu }\n')
    (project / "b.arch").write_text('import "a.arch"\nblock Bb { relu }\n')
    _graph, diags = run(spec_with_import(project, "a.arch"))
    assert [d.code for d in diags] == ["E042"]
    (project / "c.arch").write_text('import "lib/blocks.arch"\nblock C { Two }\n')
    (project / "d.arch").write_text('import "lib/blocks.arch"\nblock D { Two }\n')
    main = project / "main.arch"
    main.write_text('import "c.arch"\nimport "d.arch"\n'
                    'network n {\n input x: [3]\n C\n D\n output y\n}\n')
    assert archlang.check(main).network == "n"


def test_binary_file_is_never_echoed(project):
    (project / "blob.arch").write_bytes(b"\xff\xfeSECRET\x00\x01")
    _graph, diags = run(spec_with_import(project, "blob.arch"))
    assert [d.code for d in diags] == ["E043"]
    assert "SECRET" not in diags[0].render()


# -- code generation cannot be injected ------------------------------------------------------

INJECTIONS = [
    # names that are Python keywords, dunders or nn.Module attributes
    "network n {\n input x: [3, 8, 8]\n class: conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n __class__: conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n __import__: conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n forward: conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n eval: conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n conv2d(4, 3)\n output class\n}",
    "network n {\n input import: [3, 8, 8]\n conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n conv2d(4, 3)\n output _secret\n}",
    # strings with quotes, newlines and backslashes in values that reach docstrings
    ('block B(s="a\\"\\"\\"; import os; os.system(\'x\') #") { relu }\n'
     "network n {\n input x: [3, 8, 8]\n b: B\n output y\n}"),
    "block B(s='\\\\') { relu }\nnetwork n {\n input x: [3, 8, 8]\n b: B\n output y\n}",
    "block B(s=\"x\\ny\") { relu }\nnetwork n {\n input x: [3, 8, 8]\n b: B\n output y\n}",
    # strings where only fixed choices are allowed
    'network n {\n input x: [3, 8, 8]\n conv2d(4, 3, padding="__import__(\'os\')")\n output y\n}',
    'network n {\n input x: [3, 8, 8]\n gelu("none\'); import os; (\'")\n output y\n}',
    ('network n {\n input x: [3, 8, 8]\n conv2d(4, 3)\n output y\n'
     ' init conv2d.weight: kaiming_normal(mode="fan_in\\"); import os #")\n}'),
    # names that shadow what the generated file imports
    "block F { relu }\nnetwork n {\n input x: [3, 8, 8]\n f: F\n output y\n}",
    ("block NamedTuple { relu }\nblock Outputs { relu }\nnetwork n {\n input x: [3, 8, 8]\n"
     " a: NamedTuple\n b = x -> Outputs\n output y = a\n output z = b\n}"),
    "block torch { relu }\nnetwork nn {\n input x: [3, 8, 8]\n t: torch\n output y\n}",
    "network OrderedDict {\n input x: [3, 8, 8]\n conv2d(4, 3)\n output y\n}",
    # non-ASCII look-alikes (Greek omicron, Cyrillic a)
    "network n {\n input x: [3, 8, 8]\n c\u03bfnv: conv2d(4, 3)\n output y\n}",
    "network n {\n input x: [3, 8, 8]\n conv2d(4, 3)\n output \u0430\n}",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_is_rejected_or_harmless(text):
    _graph, diags = run(text)
    if any(d.severity == "error" for d in diags):
        assert all(d.span is not None for d in diags)
        return
    source = archlang.compile_source(text)
    assert unsafe_code(source) is None
    torch = pytest.importorskip("torch")
    model = archlang.load(text).eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 8))


def test_generated_code_validator_catches_injections():
    assert unsafe_code("import os\n") is not None
    assert unsafe_code("x = __import__('os')\n") is not None
    assert unsafe_code("class A:\n    def f(self):\n        return eval('1')\n") is not None
    assert unsafe_code("class A:\n    def f(self):\n        return self.__class__\n") is not None
    # getattr reads a child module by a constant name, never a private attribute
    assert unsafe_code("class A:\n    def f(self):\n        return getattr(self, '_modules')(1)\n") \
        is not None
    assert unsafe_code("class A:\n    def f(self, x):\n        return getattr(self, 'a-1')[0](x)\n") \
        is None


# -- determinism --------------------------------------------------------------------------

def _outputs(seed: str) -> str:
    code = textwrap.dedent("""
        import json
        from click.testing import CliRunner
        from archlang.cli import main
        out = {}
        for name, args in {
            "compile": ["compile", "specs/googlenet.arch", "-n", "googlenet"],
            "dot": ["diagram", "specs/googlenet.arch", "-n", "googlenet", "--depth", "2"],
            "json": ["summary", "specs/resnet.arch", "-n", "resnet50", "--format", "json",
                     "--depth", "3"],
            "symbolic": ["summary", "examples/symbolic.arch", "--format", "json"],
        }.items():
            r = CliRunner().invoke(main, args)
            assert r.exit_code == 0, r.output
            out[name] = r.stdout
        print(json.dumps(out))
    """)
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_outputs_are_identical_across_hash_seeds():
    first = _outputs("1")
    second = _outputs("987654")
    assert first == second
    assert len(json.loads(first)["compile"]) > 1000


def test_random_mutations_are_reproducible():
    a = [t for t, _ in zip(cases(ROOT, seed=5), range(20))]
    b = [t for t, _ in zip(cases(ROOT, seed=5), range(20))]
    assert a == b
    assert random.Random(1).random() == random.Random(1).random()


def test_ast_nodes_are_validated_with_their_children_checked_by_class():
    """Every AST node is validated by pydantic; a child is checked to be a node of an allowed
    class (it was validated itself when the lowerer built it, bottom-up)."""
    import pydantic

    from archlang.source import Source
    from archlang.syntax import ast as A

    sp = Source("t.arch", "x").span(0, 1)
    one = A.IntLit(span=sp, value=1)
    assert A.BinOp(span=sp, op="+", left=one, right=one).right is one
    with pytest.raises(pydantic.ValidationError, match=re.escape("instance of IntLit | FloatLit")):
        A.BinOp(span=sp, op="+", left=one, right=A.Body(span=sp, stmts=[]))
    with pytest.raises(pydantic.ValidationError, match="stmts.0"):
        A.Body(span=sp, stmts=[one])
    with pytest.raises(pydantic.ValidationError, match="value"):
        A.IntLit(span=sp, value="1")
    with pytest.raises(pydantic.ValidationError):
        A.Link(span=sp, label=None, label_span=None, item=one)
    assert A.Shortcut(span=sp, name=None, name_span=None, cond=None,
                      body=A.Body(span=sp, stmts=[])).cond is None


def test_the_cyclic_gc_is_restored_after_a_check():
    import gc

    text = "network n {\n  input x: [3, 8, 8]\n  conv2d(4, 3)\n  output y\n}\n"
    assert gc.isenabled()
    archlang.check(text)
    assert gc.isenabled()
    with pytest.raises(ArchError):
        archlang.check(text.replace("conv2d(4, 3)", "conv2d(4, 30)"))
    assert gc.isenabled()
    gc.disable()
    try:
        archlang.check(text)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
