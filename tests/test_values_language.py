"""Values as data: a named value's shape (`x.channels`), bindings that survive `if`, and
n-ary merges summing in torch's left-to-right order."""

from __future__ import annotations

import pytest

import archlang
from archlang.diagnostics import ArchError


def codes(spec: str) -> list[str]:
    with pytest.raises(ArchError) as e:
        archlang.check(spec)
    return [d.code for d in e.value.diagnostics]


def test_a_named_values_shape():
    result = archlang.check("""network n {
    input x: [8, 6, 6]
    a = x -> conv2d(16, 3)
    b = x -> conv2d(a.channels * 2, 1) -> adaptive_avgpool2d((a.height, a.width))
    output y = concat(a, b)
}""")
    assert result.outputs["y"] == (48, 4, 4)
    assert result.shape("2") == (32, 4, 4)


def test_shape_reads_of_symbolic_and_flat_values():
    result = archlang.check("""network n {
    input x: [3, H, W]
    f = x -> global_avgpool -> flatten
    output y = f -> linear(f.features + x.rank)
}""")
    assert result.outputs["y"] == (6,)


@pytest.mark.parametrize("expr, code", [
    ("a.colour", "E012"),     # no such attribute (did you mean?)
    ("k.channels", "E015"),   # a number has no shape
    ("f.height", "E023"),     # a vector has no height
])
def test_shape_read_errors(expr, code):
    assert codes(f"""network n {{
    input x: [3, 8, 8]
    let k = 4
    a = x -> conv2d(8, 3)
    f = a -> flatten
    output y = a -> conv2d({expr}, 1)
}}""")[0] == code


def test_what_an_if_binds_is_visible_after_it():
    spec = """network n(deep=true) {
    input x: [8, 6, 6]
    if deep {
        y = x -> conv2d(8, 3, padding=1)
        let width = 8
    } else {
        y = x -> identity
        let width = 4
    }
    output z = add(x, y) -> conv2d(width, 1)
}"""
    assert archlang.check(spec).params == 8 * 8 * 9 + 8 + 8 * 8 + 8
    assert archlang.check(spec, deep=False).params == 8 * 4 + 4


def test_nary_add_sums_left_to_right():
    torch = pytest.importorskip("torch")
    spec = """network n {
    input x: [4, 5, 5]
    a = x -> conv2d(4, 1)
    b = x -> conv2d(4, 3, padding=1)
    c = x -> conv2d(4, 1, bias=false)
    output y = add(a, b, c)
}"""
    model = archlang.load(spec)
    x = torch.randn(2, 4, 5, 5) * 1e4
    mods = dict(model.named_children())
    with torch.no_grad():
        a, b, c = mods["0"](x), mods["1"](x), mods["2"](x)
        assert torch.equal(model(x), a + b + c)  # bit-equal: (a + b) + c


def test_in_inside_a_residual_is_the_current_value_and_the_block_input_has_a_name():
    """Inside `residual { }`, `in` follows the chain (docs/language.md); a block that needs
    its own input names it with `input x`. The second conv gives 8 channels only when `in`
    is the current 16-channel value: with the block's input (8) it would give 4, and the
    residual's add would fail."""
    result = archlang.check("""block B {
    input x
    residual {
        wide: conv2d(2 * x.channels, 1)
        narrow: conv2d(in.channels // 2, 1)
    }
}

network n {
    input image: [8, 4, 4]
    b: B
    output y
}
""")
    assert result.shape("b.wide") == (16, 4, 4)
    assert result.shape("b.narrow") == (8, 4, 4)
    assert result.outputs["y"] == (8, 4, 4)
