"""The generated forward names its locals as the spec binds them, in the scope that binds
them, and never takes a name the code needs (a builtin, an import, a live value)."""

from __future__ import annotations

import pytest

import archlang

torch = pytest.importorskip("torch")


def forward_of(source: str, cls: str) -> str:
    """The ``forward`` method of class ``cls`` in generated ``source``."""
    body = source[source.index(f"class {cls}("):]
    body = body[body.index("    def forward("):]
    return body.split("\n\n")[0]


SPEC = """
block Down(c) {
    feat = conv: conv2d(c, 3, padding=1)
    relu
    maxpool2d(2)
}

network net {
    input x: [3, 16, 16]
    d1 = x -> Down(8)
    d2 = d1 -> Down(16)
    skip = d1 -> conv2d(16, 1, stride=2)
    add(d2, skip) -> global_avgpool -> flatten -> fc: linear(4)
    output logits
}
"""


def test_bound_names_are_the_locals_of_the_scope_that_binds_them():
    source = archlang.compile_source(SPEC)
    net = forward_of(source, "Net")
    assert 'd1 = getattr(self, "0")(x)' in net
    assert 'd2 = getattr(self, "1")(d1)' in net
    assert 'skip = getattr(self, "2")(d1)' in net
    assert "out = d2 + skip" in net
    # inside the block, its own name for its value; the caller's `d1` stays out of it
    down = forward_of(source, "Down")
    assert "feat = self.conv(x)" in down and "d1" not in down


def test_a_name_taken_by_a_live_value_gets_a_number():
    spec = """network net {
    input x: [4, 8, 8]
    p = x -> conv2d(4, 1)
    kept = [p]
    p = p -> conv2d(4, 1)
    output a = add(p, kept[0])
}"""
    net = forward_of(archlang.compile_source(spec), "Net")
    assert 'p = getattr(self, "0")(x)' in net
    assert 'p_2 = getattr(self, "1")(p)' in net  # the first `p` is read again below
    assert "p_2 += p" in net


@pytest.mark.parametrize("name", ["sum", "len", "max", "torch", "F", "nn", "self", "super",
                                  "NetOutputs", "Tensor"])
def test_a_name_the_code_needs_is_not_taken(name):
    """A spec may bind any identifier; the generated code keeps its own meaning for builtins,
    imports, ``self``, the argument and the outputs class, and the module still runs."""
    spec = f"""network net {{
    input image: [4, 8, 8]
    {name} = image -> conv2d(4, 1)
    y = {name} -> relu
    output a = add({name}, y)
    output b = y
}}"""
    source = archlang.compile_source(spec)
    assert f"    {name} = " not in forward_of(source, "Net")
    model = archlang.load(spec)
    a, b = model(torch.randn(2, 4, 8, 8))
    assert a.shape == b.shape == (2, 4, 8, 8)


def test_the_builtins_table_covers_this_interpreter():
    """names.BUILTINS is a fixed table (the generated code must not depend on what ``site``
    or a shell adds, such as ``help``); it holds every builtin of the running Python."""
    import builtins

    from archlang.names import BUILTINS

    added_by_site = {"help", "exit", "quit", "license", "credits", "copyright"}
    assert {n for n in dir(builtins) if not n.startswith("_")} - added_by_site <= BUILTINS
    assert not added_by_site & BUILTINS


def test_a_value_named_underscore_is_never_the_unpack_placeholder():
    """`_` is the name an unpack writes for an output it does not keep: a spec value named
    `_` must not be overwritten by it (it was, and the sum read the wrong tensor)."""
    spec = """block B {
    input a, b
    c = add(a, b)
    output p = c -> conv2d(4, 1)
    output q = b
}
network n {
    input x: [4, 8, 8]
    _ = x -> conv2d(4, 1)
    w = x -> conv2d(4, 1)
    p, q = B(w, w)
    output z = add(p, _, q)
}"""
    model = archlang.load(spec).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        first, second, block = (getattr(model, k) for k in ("0", "1", "2"))
        u, w = first(x), second(x)
        want = next(iter(block.children()))(w + w) + u + w
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)
    assert "    _ = " not in forward_of(archlang.compile_source(spec), "N")


LONG = {
    "sum": """network n {
    input x: [4, 8, 8]
    first_feature_map_of_the_stem = x -> conv2d(4, 1)
    second_feature_map_of_the_stem = x -> conv2d(4, 1)
    third_feature_map_of_the_stem_ = x -> conv2d(4, 1)
    output y = add(first_feature_map_of_the_stem, second_feature_map_of_the_stem,
                   third_feature_map_of_the_stem_)
    output z = first_feature_map_of_the_stem
}""",
    "concat": """network n {
    input x: [4, 8, 8]
    branch_one_a = x -> conv2d(4, 1)
    branch_two_b = x -> conv2d(4, 1)
    branch_three = x -> conv2d(4, 1)
    branch_four_ = x -> conv2d(4, 1)
    branch_five_ = x -> conv2d(4, 1)
    branch_six__ = x -> conv2d(4, 1)
    output y = concat(branch_one_a, branch_two_b, branch_three, branch_four_, branch_five_,
                      branch_six__, x)
}""",
    "sample": """network n {
    input x: [8]
    h = x -> linear(8)
    mmmmmmmmmmmmmmmmmmmm = h -> narrow(0, 0, 4)
    vvvvvvvvvvvvvvvvvvvv = h -> narrow(0, 4, 4)
    z = sample(mmmmmmmmmmmmmmmmmmmm, vvvvvvvvvvvvvvvvvvvv)
    output r = z -> linear(8)
    output mmmmmmmmmmmmmmmmmmmm
    output vvvvvvvvvvvvvvvvvvvv
}""",
}


def test_long_names_stay_formatted(tmp_path):
    """Long spec names make long lines: a sum, a concatenation's list and a conditional are
    split as `ruff format` splits them (the generated code is already formatted)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    for name, spec in LONG.items():
        (tmp_path / f"{name}.py").write_text(archlang.compile_source(spec))
        archlang.load(spec)  # and it loads
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    fmt = subprocess.run([exe, "format", "--check", "--isolated", "."], cwd=tmp_path,
                         capture_output=True, text=True, env=env, check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
