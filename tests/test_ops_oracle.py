"""PyTorch as the oracle for every op in the registry.

For each op a hypothesis strategy draws an input shape and attribute values over the op's
attribute space (valid and invalid), builds a spec from them, and builds the same layer with
``torch.nn`` directly (never through archlang). Then:

* archlang rejects the spec  ->  PyTorch must reject the configuration too (construction or
  a forward pass raises), unless the rejection is one of archlang's own documented rules
  (the reference raises :class:`ArchRule` for those: dims exclude the batch, ``add`` does
  not broadcast, ``linear`` wants a flat input, BN momentum in [0, 1]; see each strategy);
* archlang accepts it  ->  PyTorch must accept it, and the compiled module (``archlang.load``),
  the independent torch reference and the static answer agree on the output shape (batch 2,
  train and eval mode), the parameter count, the buffer count and the MACs (FLOPs from
  ``torch.utils.flop_counter`` / 2; only conv2d and linear have MACs).

A third of the draws declare the spatial sizes symbolically (``input x: [3, S17, S23]``):
the symbolic check must agree with the concrete one (shapes evaluated at the values; the
constraints it reports hold exactly when the concrete check passes). Rejections with E025
(a size must be concrete) are a documented archlang rule, and so are E020/E021 for merged
sizes that agree only at finitely many sizes (see check_symbolic).

Also: the registry's completeness (doc, family, label, an emitter that parses and runs) and
the ceil-mode corner cases of /work/shared/reference/numbers.md section 5.

An op from a plugin brings its own cases (``Op.oracle_examples``, docs/plugins.md), checked by
the same oracle in ``test_op_own_examples``; tests/test_plugins.py runs this module with the
test plugin installed.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")

import torch.nn.functional as F
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archlang
from archlang.analysis import dims as D
from archlang.diagnostics import ArchError
from archlang.ops.registry import ALIASES, OPS, layer_ops

#: the ops a spec calls (the input op is declared, never called)
LAYERS = sorted(op.name for op in layer_ops())

#: Cases that ops bring themselves (``Op.oracle_examples``): plugins' ops, whose attributes
#: the strategies below do not know. archlang's own ops have strategies instead.
OWN_EXAMPLES = {op.name: op.oracle_examples() for op in layer_ops() if op.oracle_examples()}

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

#: Examples per op: 10 in a plain `pytest` (~15 s on 2 cores), 25 in `scripts/test.sh` and
#: CI (which set ARCHLANG_ORACLE_EXAMPLES); ARCHLANG_ORACLE_EXAMPLES=500 digs deeper.
EXAMPLES = int(os.environ.get("ARCHLANG_ORACLE_EXAMPLES", "10"))


# ---- the oracle's vocabulary ---------------------------------------------------------------


class ArchRule(Exception):
    """Raised by a torch reference where PyTorch accepts what archlang rejects by design."""

    def __init__(self, reason: str, codes: set[str]):
        super().__init__(reason)
        self.reason, self.codes = reason, codes


class Fn(nn.Module):
    """A torch reference built from a function and the modules it uses."""

    def __init__(self, fn: Callable, *mods: nn.Module):
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleList(mods)

    def forward(self, *xs):
        return self.fn(*xs)


@dataclass
class Case:
    """One drawn spec: inputs, statements, and a builder of the torch reference."""

    op: str
    inputs: list[tuple[str, tuple[int, ...]]]
    body: list[str]
    make_ref: Callable[[], nn.Module] = field(repr=False)
    symbolic: bool = False
    #: the op whose node ends the network, when it is not ``op`` (a held tensor is read by
    #: a merge: the output is the merge's)
    merged: str | None = None

    def dim(self, shape: tuple[int, ...], axis: int) -> str:
        sym = self.symbolic and (axis > 0 or len(shape) == 1)
        return f"S{shape[axis]}" if sym else str(shape[axis])

    def text(self) -> str:
        lines = ["network n {"]
        for name, shape in self.inputs:
            dims = ", ".join(self.dim(shape, i) for i in range(len(shape)))
            lines.append(f"    input {name}: [{dims}]")
        lines += [f"    {b}" for b in self.body]
        lines += ["    output y", "}"]
        return "\n".join(lines)

    def values(self) -> dict[str, int]:
        out = {}
        for _, shape in self.inputs:
            for i in range(len(shape)):
                if self.dim(shape, i).startswith("S"):
                    out[f"S{shape[i]}"] = shape[i]
        return out

    def __repr__(self) -> str:
        vals = f"  (values {self.values()})" if self.symbolic else ""
        return f"\n{self.text()}{vals}\n"


def tdim(d: int) -> int:
    """A per-sample dim as a torch dim (the batch is dim 0), written without archlang."""
    return d + 1 if d >= 0 else d


def batch_dim(d: int, rank: int) -> bool:
    """``d`` names the batch dim in torch's eyes, but is out of range per sample."""
    return d == -(rank + 1)


def fmt(v) -> str:
    """A value in spec syntax."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt(x) for x in v) + ")"
    return repr(v)


# ---- strategy building blocks ---------------------------------------------------------------

def int_or_pair(lo: int, hi: int):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def floats(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 3))


@st.composite
def call(draw, op: str, attrs: dict) -> str:
    """``op(...)`` with the given attributes, a random prefix of them positional, the op
    spelt by its name or an alias, and a bare name when there is nothing to pass."""
    spelling = draw(st.sampled_from([op, *OPS[op].aliases]))
    positional = OPS[op].positional
    k = 0
    while k < len(positional) and positional[k] in attrs:
        k += 1
    npos = draw(st.integers(0, k))
    pos = [fmt(attrs[n]) for n in positional[:npos]]
    kw = [f"{n}={fmt(v)}" for n, v in attrs.items() if n not in positional[:npos]]
    if not pos and not kw and draw(st.booleans()):
        return spelling
    return f"{spelling}({', '.join(pos + kw)})"


@st.composite
def optional(draw, attrs: dict, name: str, strategy) -> None:
    """Give attribute ``name`` a drawn value, or leave it at its default (absent)."""
    if draw(st.booleans()):
        attrs[name] = draw(strategy)


def image(cmax: int = 16, smax: int = 24):
    return st.tuples(st.integers(1, cmax), st.integers(1, smax), st.integers(1, smax))


def shape_of_rank(rank: int, cmax: int = 8, smax: int = 8):
    return st.tuples(st.integers(1, cmax), *[st.integers(1, smax)] * (rank - 1))


def any_shape(ranks=(1, 2, 3), cmax: int = 8, smax: int = 8):
    return st.sampled_from(ranks).flatmap(lambda r: shape_of_rank(r, cmax, smax))


@st.composite
def single(draw, op: str, shape: tuple[int, ...], attrs: dict, make_ref) -> Case:
    return Case(op, [("x", shape)], [draw(call(op, attrs))], make_ref, draw(symbolic()))


def symbolic():
    return st.sampled_from([False, False, True])


# ---- one strategy per op ----------------------------------------------------------------------


@st.composite
def conv2d_case(draw):
    shape = draw(image())
    c = shape[0]
    divisors = [g for g in range(1, c + 1) if c % g == 0]
    groups = draw(st.one_of(st.just(1), st.sampled_from(divisors), st.integers(1, 4)))
    out = draw(st.one_of(st.integers(1, 4).map(lambda m: m * groups), st.integers(1, 16)))
    a = {"out_channels": out, "kernel_size": draw(int_or_pair(1, 5))}
    draw(optional(a, "stride", int_or_pair(1, 3)))
    draw(optional(a, "padding", st.one_of(int_or_pair(0, 3), st.sampled_from(["same", "valid"]))))
    draw(optional(a, "dilation", int_or_pair(1, 3)))
    if draw(st.booleans()):
        a["groups"] = groups
    draw(optional(a, "bias", st.booleans()))

    def ref():
        return nn.Conv2d(c, a["out_channels"], a["kernel_size"], stride=a.get("stride", 1),
                         padding=a.get("padding", 0), dilation=a.get("dilation", 1),
                         groups=a.get("groups", 1), bias=a.get("bias", True))

    return draw(single("conv2d", shape, a, image_only(ref)))


@st.composite
def maxpool2d_case(draw):
    shape = draw(image(cmax=8))
    a = {"kernel_size": draw(int_or_pair(1, 5))}
    draw(optional(a, "stride", int_or_pair(1, 4)))
    draw(optional(a, "padding", int_or_pair(0, 3)))
    draw(optional(a, "dilation", int_or_pair(1, 3)))
    draw(optional(a, "ceil_mode", st.booleans()))

    def ref():
        return nn.MaxPool2d(a["kernel_size"], stride=a.get("stride"), padding=a.get("padding", 0),
                            dilation=a.get("dilation", 1), ceil_mode=a.get("ceil_mode", False))

    return draw(single("maxpool2d", shape, a, image_only(ref)))


@st.composite
def avgpool2d_case(draw):
    shape = draw(image(cmax=8))
    a = {"kernel_size": draw(int_or_pair(1, 5))}
    draw(optional(a, "stride", int_or_pair(1, 4)))
    draw(optional(a, "padding", int_or_pair(0, 3)))
    draw(optional(a, "ceil_mode", st.booleans()))
    draw(optional(a, "count_include_pad", st.booleans()))

    def ref():
        return nn.AvgPool2d(a["kernel_size"], stride=a.get("stride"), padding=a.get("padding", 0),
                            ceil_mode=a.get("ceil_mode", False),
                            count_include_pad=a.get("count_include_pad", True))

    return draw(single("avgpool2d", shape, a, image_only(ref)))


def adaptive_case(op: str, cls: type[nn.Module]):
    @st.composite
    def strategy(draw):
        shape = draw(image(cmax=8, smax=12))
        a = {"output_size": draw(int_or_pair(1, 8))}
        return draw(single(op, shape, a, image_only(lambda: cls(a["output_size"]))))

    return strategy


@st.composite
def global_avgpool_case(draw):
    shape = draw(image(cmax=8, smax=12))
    return draw(single("global_avgpool", shape, {},
                       image_only(lambda: nn.AdaptiveAvgPool2d((1, 1)))))


@st.composite
def linear_case(draw):
    shape = draw(st.sampled_from([1, 1, 2, 3]).flatmap(lambda r: shape_of_rank(r, 64, 6)))
    a = {"out_features": draw(st.integers(1, 16))}
    draw(optional(a, "bias", st.booleans()))
    return draw(single("linear", shape, a, linear_ref(shape, a)))


def linear_ref(shape: tuple[int, ...], a: dict) -> Callable[[], nn.Module]:
    def ref():  # torch applies it to the last dim of any rank
        return nn.Linear(shape[-1], a["out_features"], bias=a.get("bias", True))

    return ref


@st.composite
def layernorm_case(draw):
    shape = draw(any_shape(cmax=8, smax=5))
    a = {"dims": draw(st.integers(1, len(shape)))}
    draw(optional(a, "eps", st.sampled_from([1e-5, 1e-6, 0.1])))
    draw(optional(a, "elementwise_affine", st.booleans()))
    draw(optional(a, "bias", st.booleans()))

    def ref():
        return nn.LayerNorm(shape[len(shape) - a["dims"]:], eps=a.get("eps", 1e-5),
                            elementwise_affine=a.get("elementwise_affine", True),
                            bias=a.get("bias", True))

    return draw(single("layernorm", shape, a, ref))


@st.composite
def layernorm2d_case(draw):
    shape = draw(image(8, 6))
    a = {}
    draw(optional(a, "eps", st.sampled_from([1e-5, 1e-6, 0.1])))
    draw(optional(a, "elementwise_affine", st.booleans()))
    draw(optional(a, "bias", st.booleans()))

    def ref():  # written here from torch alone, as torchvision's LayerNorm2d does it
        norm = nn.LayerNorm(shape[0], eps=a.get("eps", 1e-5),
                            elementwise_affine=a.get("elementwise_affine", True),
                            bias=a.get("bias", True))
        return Fn(lambda x: norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), norm)

    return draw(single("layernorm2d", shape, a, ref))


@st.composite
def stochastic_depth_case(draw):
    from torchvision.ops import StochasticDepth

    shape = draw(any_shape())
    a = {"p": draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 1.5, -0.1]))}
    draw(optional(a, "mode", st.sampled_from(["row", "batch", "col"])))
    return draw(single("stochastic_depth", shape, a,
                       lambda: StochasticDepth(a["p"], a.get("mode", "row"))))


@st.composite
def permute_case(draw):
    shape = draw(any_shape())
    rank = draw(st.sampled_from([len(shape)] * 4 + [1, 2, 3]))
    dims = tuple(draw(st.permutations(range(rank))))
    if draw(st.integers(0, 9)) == 0:
        dims = (*dims[:-1], dims[-1] + 1)  # not a permutation: torch refuses it too

    def ref():
        return Fn(lambda x: x.permute(0, *(d + 1 for d in dims)))

    return draw(single("permute", shape, {"dims": list(dims)}, ref))


@st.composite
def channel_shuffle_case(draw):
    shape = draw(image(12, 6))
    a = {"groups": draw(st.integers(1, 4))}
    return draw(single("channel_shuffle", shape, a,
                       image_only(lambda: nn.ChannelShuffle(a["groups"]))))


@st.composite
def batchnorm_case(draw):
    shape = draw(any_shape(cmax=16, smax=6))
    a = {}
    draw(optional(a, "eps", st.sampled_from([1e-5, 1e-3, 0.1, 1.0, 0.0, -0.001])))
    draw(optional(a, "momentum", st.one_of(floats(0, 1), st.sampled_from([1.5, -0.1]))))
    draw(optional(a, "affine", st.booleans()))
    draw(optional(a, "track_running_stats", st.booleans()))

    def ref():
        m = a.get("momentum", 0.1)
        cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        bn = cls(shape[0], eps=a.get("eps", 1e-5), momentum=m, affine=a.get("affine", True),
                 track_running_stats=a.get("track_running_stats", True))
        if not 0 <= m <= 1:
            return rule_after(bn, "archlang requires BN momentum in [0, 1]; torch does not "
                              "check", {"E016"})
        return bn

    return draw(single("batchnorm", shape, a, ref))


@st.composite
def lrn_case(draw):
    shape = draw(any_shape(cmax=12, smax=6))
    a = {"size": draw(st.one_of(st.integers(1, 7), st.integers(1, 7), st.just(0)))}
    draw(optional(a, "alpha", floats(1e-4, 1)))
    draw(optional(a, "beta", floats(0.1, 1)))
    draw(optional(a, "k", floats(0.5, 3)))

    def ref():
        return nn.LocalResponseNorm(a["size"], alpha=a.get("alpha", 1e-4),
                                    beta=a.get("beta", 0.75), k=a.get("k", 1.0))

    return draw(single("lrn", shape, a, ref))


@st.composite
def dropout_case(draw):
    shape = draw(any_shape())
    a = {}
    draw(optional(a, "p", st.one_of(floats(0, 1), st.sampled_from([0.0, 1.0, 1.5, -0.25]))))
    return draw(single("dropout", shape, a, lambda: nn.Dropout(a.get("p", 0.5))))


def activation_case(op: str, make: Callable[[dict], nn.Module], attrs: dict | None = None):
    @st.composite
    def strategy(draw):
        shape = draw(any_shape())
        a = {}
        for name, strat in (attrs or {}).items():
            draw(optional(a, name, strat))
        return draw(single(op, shape, a, lambda: make(a)))

    return strategy


def softmax_case(op: str, cls: type[nn.Module]):
    @st.composite
    def strategy(draw):
        shape = draw(any_shape())
        rank = len(shape)
        a = {}
        draw(optional(a, "dim", st.integers(-rank - 2, rank)))

        def ref():
            d = a.get("dim", 0)
            if batch_dim(d, rank):
                return rule_after(cls(dim=tdim(d)), "dims exclude the batch", {"E016"})
            return cls(dim=tdim(d))

        return draw(single(op, shape, a, ref))

    return strategy


@st.composite
def flatten_case(draw):
    shape = draw(any_shape())
    rank = len(shape)
    a = {}
    draw(optional(a, "start_dim", st.integers(-rank - 2, rank)))
    draw(optional(a, "end_dim", st.integers(-rank - 2, rank)))

    def ref():
        s, e = a.get("start_dim", 0), a.get("end_dim", -1)
        if batch_dim(s, rank) or batch_dim(e, rank):
            return rule_after(nn.Flatten(tdim(s), tdim(e)), "dims exclude the batch", {"E016"})
        return nn.Flatten(tdim(s), tdim(e))

    return draw(single("flatten", shape, a, ref))


@st.composite
def branch(draw, c: int) -> tuple[dict, str, Callable[[], nn.Module]]:
    """A conv2d or maxpool2d branch on a [c, H, W] image: (attrs, op, torch builder)."""
    if draw(st.booleans()):
        a = {"out_channels": draw(st.integers(1, 8)), "kernel_size": draw(st.integers(1, 3))}
        draw(optional(a, "stride", st.integers(1, 2)))
        draw(optional(a, "padding", st.integers(0, 2)))
        return a, "conv2d", lambda: nn.Conv2d(c, a["out_channels"], a["kernel_size"],
                                              stride=a.get("stride", 1),
                                              padding=a.get("padding", 0))
    a = {"kernel_size": draw(st.integers(1, 3)), "stride": 1}
    draw(optional(a, "stride", st.integers(1, 2)))
    draw(optional(a, "padding", st.integers(0, a["kernel_size"] // 2)))
    return a, "maxpool2d", lambda: nn.MaxPool2d(a["kernel_size"], stride=a["stride"],
                                                padding=a.get("padding", 0))


def rule_after(module: nn.Module, reason: str, codes: set[str]) -> nn.Module:
    """A reference that runs ``module`` and then raises :class:`ArchRule`: where torch itself
    rejects the input, that rejection comes first."""

    def forward(*xs):
        module(*xs)
        raise ArchRule(reason, codes)

    return Fn(forward, module)


def image_only(make: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """A reference for an op on [C, H, W] images: where torch accepts an input of another
    rank (reading (N, F) as one unbatched image), archlang's rank rule applies."""

    def ref():
        m = make()

        def forward(x):
            out = m(x)
            if x.dim() != 4:
                raise ArchRule(f"works on [C, H, W] images; torch reads {tuple(x.shape)} as "
                               "one unbatched input", {"E023"})
            return out

        return Fn(forward, m)

    return ref


def check_no_broadcast(ys):
    shapes = [tuple(y.shape) for y in ys]
    if len(set(shapes)) > 1:
        try:
            torch.broadcast_shapes(*shapes)
        except RuntimeError:
            return  # torch rejects as well
        raise ArchRule("average needs equal shapes; it does not broadcast",
                       {"E020", "E021", "E023"})


def check_equal_ranks(ys):
    """add and mul broadcast sizes of 1 as torch does, between inputs of one rank only."""
    if len({y.dim() for y in ys}) > 1:
        try:
            torch.broadcast_shapes(*(tuple(y.shape) for y in ys))
        except RuntimeError:
            return  # torch rejects as well
        raise ArchRule("inputs of different ranks would align a batch with a per-sample dim",
                       {"E023"})


@st.composite
def multi_inputs(draw, min_n: int, op: str):
    """Several network inputs that agree except along ``dim`` (and now and then not)."""
    n = draw(st.integers(min_n, 4))
    rank = draw(st.sampled_from([1, 2, 3]))
    base = list(draw(shape_of_rank(rank, 8, 8)))
    dim = draw(st.integers(-rank - 2, rank)) if op == "concat" else None
    axis = (dim % rank) if dim is not None and -rank <= dim < rank else None
    shapes = []
    for _ in range(n):
        s = list(base)
        if axis is not None:
            s[axis] = draw(st.integers(1, 8))
        shapes.append(s)
    flaw = draw(st.sampled_from(["none"] * 4 + ["size", "rank"]))
    if flaw == "size":
        i, ax = draw(st.integers(0, n - 1)), draw(st.integers(0, rank - 1))
        shapes[i][ax] = draw(st.integers(1, 8))
    elif flaw == "rank":
        i = draw(st.integers(0, n - 1))
        shapes[i] = list(draw(shape_of_rank(draw(st.sampled_from([1, 2, 3])), 8, 8)))
    return [(f"x{i}", tuple(s)) for i, s in enumerate(shapes)], dim


@st.composite
def concat_case(draw):
    if draw(st.booleans()):
        # network inputs of different channel counts (or sizes along another dim)
        inputs, dim = draw(multi_inputs(1, "concat"))
        rank = len(inputs[0][1])
        a = {} if dim == 0 and draw(st.booleans()) else {"dim": dim}
        args = ", ".join(name for name, _ in inputs)
        kw = "".join(f", dim={fmt(v)}" for v in a.values())
        spelling = draw(st.sampled_from(["concat", *OPS["concat"].aliases]))

        def ref():
            cat = Fn(lambda *xs: torch.cat(xs, tdim(dim)))
            if batch_dim(dim, rank):
                return rule_after(cat, "dims exclude the batch", {"E016"})
            return cat

        return Case("concat", inputs, [f"{spelling}({args}{kw})"], ref, draw(symbolic()))
    # branches of conv2d / maxpool2d on one image: named values or a concat block
    shape = draw(image(8, 12))
    branches = draw(st.lists(branch(shape[0]), min_size=1, max_size=4))
    lines = [draw(call(op, a)) for a, op, _ in branches]
    if draw(st.booleans()):
        body = ["concat {", *[f"    {line}" for line in lines], "}"]
        dim = 0
    else:
        dim = draw(st.sampled_from([0, 0, 1, 2, -1]))
        body = [f"b{i} = x -> {line}" for i, line in enumerate(lines)]
        body.append(f"concat({', '.join(f'b{i}' for i in range(len(lines)))}, dim={dim})")

    def ref():
        mods = [make() for _, _, make in branches]
        return Fn(lambda x: torch.cat([m(x) for m in mods], tdim(dim)), *mods)

    return Case("concat", [("x", shape)], body, ref, draw(symbolic()))


def merge_case(op: str, combine):
    """Strategy for an element-wise merge (add, mul): named inputs or branches of an image."""

    @st.composite
    def case(draw):
        if draw(st.booleans()):
            inputs, _ = draw(multi_inputs(2, "add"))

            def ref():
                def forward(*xs):
                    check_equal_ranks(xs)
                    return combine(xs)
                return Fn(forward)

            body = [f"{op}({', '.join(name for name, _ in inputs)})"]
            return Case(op, inputs, body, ref, draw(symbolic()))
        # a residual-like merge of branches, the image itself possibly among them
        shape = draw(image(8, 12))
        branches = draw(st.lists(branch(shape[0]), min_size=1, max_size=3))
        with_x = draw(st.booleans()) or len(branches) == 1
        body = [f"b{i} = x -> {draw(call(o, a))}" for i, (a, o, _) in enumerate(branches)]
        names = (["x"] if with_x else []) + [f"b{i}" for i in range(len(branches))]
        body.append(f"{op}({', '.join(names)})")

        def ref():
            mods = [make() for _, _, make in branches]

            def forward(x):
                ys = ([x] if with_x else []) + [m(x) for m in mods]
                check_equal_ranks(ys)
                return combine(ys)

            return Fn(forward, *mods)

        return Case(op, [("x", shape)], body, ref, draw(symbolic()))

    return case


def _product(xs):
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


add_case = merge_case("add", lambda xs: sum(xs[1:], xs[0]))
mul_case = merge_case("mul", _product)


class HeldRef(nn.Module):
    """A learnable tensor merged with the input, as a spec's `parameter` then `mul`/`add`."""

    def __init__(self, shape: tuple[int, ...], fill: float, merge: str, first: bool):
        super().__init__()
        self.p = nn.Parameter(torch.full(shape, fill))
        self.merge, self.first = merge, first

    def forward(self, x):
        check_equal_ranks([x[0], self.p])  # ranks are equal per sample
        a, b = (self.p, x) if self.first else (x, self.p)
        return a * b if self.merge == "mul" else a + b


@st.composite
def parameter_case(draw):
    """`p: parameter([dims], fill=f)` read by `mul` or `add` with the input: each dim the
    input's or 1 (broadcast), sometimes of another rank (which archlang refuses)."""
    shape = draw(any_shape())
    rank_off = draw(st.sampled_from([0, 0, 0, 1]))
    dims = tuple(draw(st.sampled_from([d, 1])) for d in shape)
    if rank_off:
        dims = dims[1:] or (1, *dims)
    fill = draw(st.sampled_from([0.0, 1.0, 1e-6, -0.5]))
    merge, first = draw(st.sampled_from(["mul", "add"])), draw(st.booleans())
    args = "p, x" if first else "x, p"
    body = [f"p: parameter({list(dims)}, fill={fmt(fill)})", f"{merge}({args})"]
    return Case("parameter", [("x", shape)], body,
                lambda: HeldRef(dims, fill, merge, first), draw(symbolic()), merged=merge)


@st.composite
def mean_case(draw):
    if draw(st.booleans()):
        inputs, _ = draw(multi_inputs(2, "add"))
        names = [name for name, _ in inputs]
        body = ["average {", *[f"    {n} -> identity" for n in names], "}"]

        def ref():
            def forward(*xs):
                check_no_broadcast(xs)
                return sum(xs[1:], xs[0]) / len(xs)
            return Fn(forward)

        return Case("mean", inputs, body, ref, draw(symbolic()))
    # an ensemble of branches on one image
    shape = draw(image(8, 12))
    branches = draw(st.lists(branch(shape[0]), min_size=2, max_size=3))
    body = ["average {", *[f"    {draw(call(op, a))}" for a, op, _ in branches], "}"]

    def ref():
        mods = [make() for _, _, make in branches]

        def forward(x):
            ys = [m(x) for m in mods]
            check_no_broadcast(ys)
            return sum(ys[1:], ys[0]) / len(ys)

        return Fn(forward, *mods)

    return Case("mean", [("x", shape)], body, ref, draw(symbolic()))


@st.composite
def identity_case(draw):
    return draw(single("identity", draw(any_shape()), {}, nn.Identity))


@st.composite
def conv_transpose2d_case(draw):
    shape = draw(image(cmax=12, smax=10))
    c = shape[0]
    divisors = [g for g in range(1, c + 1) if c % g == 0]
    groups = draw(st.one_of(st.just(1), st.sampled_from(divisors), st.integers(1, 4)))
    out = draw(st.one_of(st.integers(1, 4).map(lambda m: m * groups), st.integers(1, 12)))
    a = {"out_channels": out, "kernel_size": draw(int_or_pair(1, 5))}
    draw(optional(a, "stride", int_or_pair(1, 3)))
    draw(optional(a, "padding", int_or_pair(0, 3)))
    draw(optional(a, "output_padding", int_or_pair(0, 2)))
    draw(optional(a, "dilation", int_or_pair(1, 3)))
    if draw(st.booleans()):
        a["groups"] = groups
    draw(optional(a, "bias", st.booleans()))

    def ref():
        return nn.ConvTranspose2d(c, a["out_channels"], a["kernel_size"],
                                  stride=a.get("stride", 1), padding=a.get("padding", 0),
                                  output_padding=a.get("output_padding", 0),
                                  groups=a.get("groups", 1), bias=a.get("bias", True),
                                  dilation=a.get("dilation", 1))

    def checked_ref():
        m = ref()

        def forward(x):
            y = m(x)
            if 0 in y.shape:  # torch gives an empty output for some configurations
                raise ArchRule("sizes are positive (E022)", {"E022"})
            return y

        return Fn(forward, m)

    return draw(single("conv_transpose2d", shape, a, image_only(checked_ref)))


@st.composite
def upsample_case(draw):
    shape = draw(st.one_of(image(cmax=4, smax=10), any_shape(cmax=4, smax=6)))
    scale = st.one_of(st.integers(1, 3), floats(0.05, 3.0))
    a = {}
    how = draw(st.sampled_from(["scale", "scale", "size", "both", "neither"]))
    if how in ("scale", "both"):
        a["scale_factor"] = draw(st.one_of(scale, st.tuples(scale, scale)))
    if how in ("size", "both"):
        a["size"] = draw(int_or_pair(1, 12))
    draw(optional(a, "mode", st.sampled_from(["nearest", "bilinear", "bicubic"])))
    draw(optional(a, "align_corners", st.booleans()))

    def ref():
        up = nn.Upsample(size=a.get("size"), scale_factor=a.get("scale_factor"),
                         mode=a.get("mode", "nearest"), align_corners=a.get("align_corners"))
        if a.get("mode") == "bicubic":
            return rule_after(up, "archlang's upsample has modes nearest and bilinear", {"E016"})
        return up

    return draw(single("upsample", shape, a, image_only(ref)))


@st.composite
def reshape_case(draw):
    shape = draw(any_shape(cmax=8, smax=6))
    numel = 1
    for d in shape:
        numel *= d
    if draw(st.integers(0, 4)):
        # a factorisation of the element count, maybe with one dim inferred
        dims, rest = [], numel
        for _ in range(draw(st.integers(0, 3))):
            d = draw(st.sampled_from([k for k in range(1, rest + 1) if rest % k == 0]))
            dims.append(d)
            rest //= d
        dims.append(rest)
        dims = draw(st.permutations(dims))
        if draw(st.booleans()):
            dims[draw(st.integers(0, len(dims) - 1))] = -1
    else:
        dims = draw(st.lists(st.integers(-2, 12), min_size=1, max_size=4))
    target = dims[0] if len(dims) == 1 and draw(st.booleans()) else tuple(dims)
    sizes = (target,) if isinstance(target, int) else target

    def ref():
        return Fn(lambda x: x.reshape(x.shape[0], *sizes))

    return draw(single("reshape", shape, {"shape": target}, ref))


@st.composite
def narrow_case(draw):
    shape = draw(any_shape())
    rank = len(shape)
    d = draw(st.integers(-rank - 1, rank))
    size = shape[d % rank] if -rank <= d < rank else 4
    a = {"dim": d, "start": draw(st.integers(-size - 1, size)),
         "length": draw(st.integers(0, size + 1))}

    def ref():
        m = Fn(lambda x: x.narrow(tdim(d), a["start"], a["length"]))
        if batch_dim(d, rank):
            return rule_after(m, "dims exclude the batch", {"E016"})
        if a["length"] == 0:
            return rule_after(m, "archlang's narrow keeps at least one entry", {"E016"})
        return m

    return draw(single("narrow", shape, a, ref))


class SampleRef(nn.Module):
    """mu + exp(logvar / 2) * eps, written without archlang."""

    def __init__(self, always: bool):
        super().__init__()
        self.always = always

    def forward(self, mu, logvar):
        if mu.shape != logvar.shape:
            torch.broadcast_shapes(mu.shape, logvar.shape)  # raises where torch would
            raise ArchRule("sample needs mu and logvar of one shape; it does not broadcast",
                           {"E020", "E021", "E023"})
        if self.training or self.always:
            return mu + torch.exp(logvar / 2) * torch.randn_like(mu)
        return mu


@st.composite
def sample_case(draw):
    always = draw(st.booleans())
    kw = ", always=true" if always else draw(st.sampled_from(["", ", always=false"]))
    spelling = draw(st.sampled_from(["sample", *OPS["sample"].aliases]))
    if draw(st.booleans()):
        # one tensor split in two halves with narrow, as a VAE's encoder output is
        shape = draw(shape_of_rank(draw(st.sampled_from([1, 2, 3])), 8, 6))
        k = shape[0]
        full = (2 * k, *shape[1:])
        body = [f"mu = x -> narrow(0, 0, {k})", f"logvar = x -> narrow(0, {k}, {k})",
                f"{spelling}(mu, logvar{kw})"]

        def ref():
            inner = SampleRef(always)
            return Fn(lambda x: inner(x.narrow(1, 0, k), x.narrow(1, k, k)), inner)

        return Case("sample", [("x", full)], body, ref, draw(symbolic()))
    inputs, _ = draw(multi_inputs(2, "add"))
    inputs = inputs[:2]
    if len(inputs) < 2:
        inputs = [*inputs, ("x1", inputs[0][1])]
    body = [f"{spelling}({inputs[0][0]}, {inputs[1][0]}{kw})"]
    return Case("sample", inputs, body, lambda: SampleRef(always), draw(symbolic()))


@st.composite
def interpolate_case(draw):
    """An image resized to another's height and width (both of any rank, now and then)."""
    ranks = st.sampled_from([3, 3, 3, 1, 2])
    x = draw(shape_of_rank(draw(ranks), 6, 9))
    like = draw(shape_of_rank(draw(ranks), 6, 9))
    a = {}
    draw(optional(a, "mode", st.sampled_from(["nearest", "bilinear"])))
    draw(optional(a, "align_corners", st.booleans()))
    kw = "".join(f", {k}={fmt(v)}" for k, v in a.items())

    def forward(xs, ref):
        out = F.interpolate(xs, size=ref.shape[-2:], mode=a.get("mode", "nearest"),
                            align_corners=a.get("align_corners"))
        if xs.dim() != 4 or ref.dim() != 4:
            raise ArchRule("interpolate works on [C, H, W] images; torch takes other ranks "
                           "and sizes", {"E023"})
        return out

    return Case("interpolate", [("x", x), ("like", like)], [f"interpolate(x, like{kw})"],
                lambda: Fn(forward), draw(symbolic()))


@st.composite
def frozen_batchnorm_case(draw):
    from torchvision.ops import FrozenBatchNorm2d

    shape = draw(any_shape(cmax=16, smax=6))
    a = {}
    draw(optional(a, "eps", st.sampled_from([1e-5, 1e-3, 0.1, 1.0, 0.0, -0.001])))

    def ref():
        eps = a.get("eps", 1e-5)
        norm = FrozenBatchNorm2d(shape[0], eps=eps)
        with torch.no_grad():  # statistics and affine of a trained layer, not the identity
            for buffer in norm.buffers():
                buffer.copy_(torch.rand_like(buffer) + 0.5)
        if not eps > 0:
            return rule_after(norm, "archlang requires a positive eps", {"E016"})
        return image_only(lambda: norm)()

    return draw(single("frozen_batchnorm", shape, a, ref))


@st.composite
def crop_case(draw):
    """An image cut to another's height and width at its centre (now and then a larger one,
    or not an image)."""
    ranks = st.sampled_from([3, 3, 3, 3, 1, 2])
    x = draw(shape_of_rank(draw(ranks), 6, 12))
    like = draw(shape_of_rank(draw(ranks), 6, 12))

    def forward(xs, ref):
        h, w = ref.shape[-2:]
        top, left = (xs.shape[-2] - h) // 2, (xs.shape[-1] - w) // 2
        out = xs[..., top:top + h, left:left + w]  # torch slices whatever the ranks
        if xs.dim() != 4 or ref.dim() != 4:
            raise ArchRule("crop works on [C, H, W] images", {"E023"})
        if h > xs.shape[-2] or w > xs.shape[-1]:
            raise ArchRule("crop refuses a larger size (a slice would be short)", {"E021"})
        return out

    return Case("crop", [("x", x), ("like", like)], ["crop(x, like)"], lambda: Fn(forward),
                draw(symbolic()))


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "crop": crop_case,
    "frozen_batchnorm": frozen_batchnorm_case,
    "interpolate": interpolate_case,
    "conv2d": conv2d_case,
    "conv_transpose2d": conv_transpose2d_case,
    "upsample": upsample_case,
    "reshape": reshape_case,
    "narrow": narrow_case,
    "sample": sample_case,
    "maxpool2d": maxpool2d_case,
    "avgpool2d": avgpool2d_case,
    "adaptive_avgpool2d": adaptive_case("adaptive_avgpool2d", nn.AdaptiveAvgPool2d),
    "adaptive_maxpool2d": adaptive_case("adaptive_maxpool2d", nn.AdaptiveMaxPool2d),
    "global_avgpool": global_avgpool_case,
    "linear": linear_case,
    "batchnorm": batchnorm_case,
    "lrn": lrn_case,
    "dropout": dropout_case,
    "relu": activation_case("relu", lambda a: nn.ReLU()),
    "leaky_relu": activation_case(
        "leaky_relu", lambda a: nn.LeakyReLU(a.get("negative_slope", 0.01)),
        {"negative_slope": floats(-2, 2)}),
    "elu": activation_case("elu", lambda a: nn.ELU(a.get("alpha", 1.0)), {"alpha": floats(-2, 2)}),
    "gelu": activation_case(
        "gelu", lambda a: nn.GELU(approximate=a.get("approximate", "none")),
        {"approximate": st.sampled_from(["none", "tanh", "exact"])}),
    "silu": activation_case("silu", lambda a: nn.SiLU()),
    "relu6": activation_case("relu6", lambda a: nn.ReLU6()),
    # min_val >= max_val is drawn too: torch's Hardtanh refuses it, and so must archlang
    "hardtanh": activation_case(
        "hardtanh", lambda a: nn.Hardtanh(a.get("min_val", -1.0), a.get("max_val", 1.0)),
        {"min_val": floats(-3, 3), "max_val": floats(-3, 3)}),
    "hardswish": activation_case("hardswish", lambda a: nn.Hardswish()),
    "hardsigmoid": activation_case("hardsigmoid", lambda a: nn.Hardsigmoid()),
    "mish": activation_case("mish", lambda a: nn.Mish()),
    "sigmoid": activation_case("sigmoid", lambda a: nn.Sigmoid()),
    "tanh": activation_case("tanh", lambda a: nn.Tanh()),
    "softmax": softmax_case("softmax", nn.Softmax),
    "log_softmax": softmax_case("log_softmax", nn.LogSoftmax),
    "flatten": flatten_case,
    "concat": concat_case,
    "add": add_case,
    "mul": mul_case,
    "layernorm": layernorm_case,
    "layernorm2d": layernorm2d_case,
    "stochastic_depth": stochastic_depth_case,
    "permute": permute_case,
    "channel_shuffle": channel_shuffle_case,
    "mean": mean_case,
    "identity": identity_case,
    "parameter": parameter_case,
}


# ---- the oracle ---------------------------------------------------------------------------------

#: One FlopCounterMode, re-entered: a fresh one costs ~15 ms per use, re-entering ~0.3 ms.
_FLOPS = FlopCounterMode(display=False)


def per_sample_flops(module: nn.Module, shapes: list[tuple[int, ...]], batch: int) -> int:
    module.eval()
    xs = [torch.randn(batch, *s) for s in shapes]
    with torch.no_grad(), _FLOPS:
        module(*xs)
    total = _FLOPS.get_total_flops()
    assert total % batch == 0
    return total // batch


def numel(tensors) -> int:
    return sum(t.numel() for t in tensors)


def run_both_modes(module: nn.Module, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    module.train()
    with torch.no_grad():
        train = module(*xs)
        module.eval()
        evald = module(*xs)
    return train, evald


def satisfied(c, x: int) -> bool:
    return x >= c.lower and x % c.period in c.residues


def check_symbolic(text: str, values: dict[str, int]) -> None:
    """The symbolic check agrees with the concrete one at ``values``."""
    try:
        sym, sym_err = archlang.check(text), None
    except ArchError as e:
        sym, sym_err = None, e
    try:
        conc, conc_err = archlang.check(text, **values), None
    except ArchError as e:
        conc, conc_err = None, e
    if sym is None:
        # E025 (a size must be concrete) is archlang's rule. Any other symbolic rejection
        # holds for every size, so the concrete check must reject too -- except that merged
        # sizes (E020/E021) must agree for all sizes, or a periodic set of them: sizes that
        # agree at finitely many points (S vs (S+5)//2 at S = 4, 5) are rejected. Then they
        # must disagree further out.
        codes = set(sym_err.codes) - {"E025"}
        if codes and conc_err is None:
            assert codes <= {"E020", "E021"}, (f"symbolic check rejects with {sym_err}, but "
                                               f"the concrete check at {values} accepts")
            far = {k: v + 120 for k, v in values.items()}
            with pytest.raises(ArchError) as exc:
                archlang.check(text, **far)
            assert set(exc.value.codes) & codes, (sym_err, exc.value)
        return
    ok = all(satisfied(c, values[c.symbol]) for c in sym.graph.constraints.values())
    if conc is None:
        assert not ok, (f"symbolic check accepts (constraints {sym.totals.constraints}), "
                        f"but the concrete check at {values} rejects: {conc_err}")
        return
    assert ok, (f"concrete check at {values} accepts, but the symbolic constraints "
                f"{sym.totals.constraints} do not hold")
    assert len(sym.graph.nodes) == len(conc.graph.nodes)
    for ns, nc in zip(sym.graph.nodes, conc.graph.nodes):
        assert tuple(D.evaluate(d, values) for d in ns.shape) == nc.shape, (ns.name, ns.shape)
        assert ns.params == nc.params and ns.buffers == nc.buffers, ns.name
        assert D.count_at(ns.macs, values) == nc.macs, (ns.name, ns.macs, nc.macs)


def check_case(case: Case) -> str:
    """Run the oracle on one case; the outcome, for hypothesis's statistics."""
    text, values = case.text(), case.values()
    if case.symbolic:
        check_symbolic(text, values)
    torch.manual_seed(0)
    shapes = [s for _, s in case.inputs]
    xs = [torch.randn(2, *s) for s in shapes]
    try:
        res = archlang.check(text, **values)
    except ArchError as e:
        try:
            ref = case.make_ref()
            out, _ = run_both_modes(ref, xs)
        except ArchRule as rule:
            assert set(e.codes) <= rule.codes, (
                f"archlang rejects with {e.codes} ({e}); the documented rule ({rule.reason}) "
                f"gives {sorted(rule.codes)}")
            return f"rejected by archlang's rule: {rule.reason}"
        except Exception:  # noqa: BLE001 -- torch rejects with all sorts of exceptions
            return f"both reject ({'/'.join(sorted(set(e.codes)))})"
        pytest.fail(f"archlang rejects what torch accepts:\n{text}\narchlang: {e}\n"
                    f"torch output: {tuple(out.shape)}")

    static = res.outputs["y"]
    try:
        ref = case.make_ref()
        ref_train, ref_eval = run_both_modes(ref, xs)
    except Exception as exc:  # noqa: BLE001 -- any torch rejection is a discrepancy here
        pytest.fail(f"archlang accepts what torch rejects:\n{text}\nstatic shape: "
                    f"{static}\ntorch: {type(exc).__name__}: {exc}")
    model = archlang.load(text, **values)
    out_train, out_eval = run_both_modes(model, xs)
    want = (2, *static)
    assert tuple(ref_train.shape) == want and tuple(ref_eval.shape) == want, (
        f"static shape {static}, torch reference gives {tuple(ref_train.shape)}")
    assert tuple(out_train.shape) == want and tuple(out_eval.shape) == want, (
        f"static shape {static}, compiled module gives {tuple(out_train.shape)}")

    # parameters and buffers: static, compiled, reference
    assert res.totals.params == numel(model.parameters()) == numel(ref.parameters()), (
        res.totals.params, numel(model.parameters()), numel(ref.parameters()))
    assert res.totals.buffers == numel(model.buffers()) == numel(ref.buffers()), (
        res.totals.buffers, numel(model.buffers()), numel(ref.buffers()))

    # the same values: give the compiled module the reference's state, compare in eval mode
    ours = [*model.parameters(), *model.buffers()]
    theirs = [*ref.parameters(), *ref.buffers()]
    assert [t.shape for t in ours] == [t.shape for t in theirs]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(b)
        model.eval()
        ref.eval()
        torch.manual_seed(1)  # the same draws for both where eval mode draws (sample)
        ours_eval = model(*xs)
        torch.manual_seed(1)
        torch.testing.assert_close(ours_eval, ref(*xs), equal_nan=True)

    # the op's own node: last in the graph, its output is the network's (or the merge's
    # that reads it)
    node = res.graph.nodes[-1]
    assert node.op == (case.merged or case.op) and node.shape == static
    if case.merged:
        (node,) = [n for n in res.graph.nodes if n.op == case.op]

    # MACs: conv/linear FLOPs are 2 x MACs; every other op has none
    batch = 2 if case.op == "batchnorm" else 1  # BN1d on [F] needs 2 values per channel
    ref_macs = per_sample_flops(ref, shapes, batch)
    assert ref_macs % 2 == 0
    ref_macs //= 2
    assert per_sample_flops(model, shapes, batch) // 2 == ref_macs
    assert res.totals.macs == ref_macs, (res.totals.macs, ref_macs)
    if case.op in ("conv2d", "conv_transpose2d", "linear") or case.op in OWN_EXAMPLES:
        assert node.macs == ref_macs
    else:
        assert node.macs == 0
    return "accepted"


def test_every_op_has_a_strategy():
    assert sorted(set(LAYERS) - set(STRATEGIES) - set(OWN_EXAMPLES)) == [], \
        "ops without a strategy or examples of their own"
    assert sorted(set(STRATEGIES) - set(LAYERS)) == [], "strategies for ops not in the registry"


@pytest.mark.parametrize("op", [op for op in LAYERS if op not in OWN_EXAMPLES])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_op_against_torch(op, data):
    assert op in STRATEGIES, f"no strategy for `{op}`"
    case = data.draw(STRATEGIES[op](), label="case")
    assert case.op == op
    event(check_case(case) + (" (symbolic)" if case.symbolic else ""))


#: Each op's own cases, through the same oracle.
OWN_CASES = {f"{op}-{k}": Case(op, list(ex.inputs), [ex.call], ex.reference)
             for op, examples in OWN_EXAMPLES.items() for k, ex in enumerate(examples)}


_NO_OWN_CASES = pytest.param(None, id="none", marks=pytest.mark.skip(
    reason="no op brings its own cases here; tests/test_plugins.py installs one that does"))


@pytest.mark.parametrize("case", [pytest.param(c, id=k) for k, c in OWN_CASES.items()]
                         or [_NO_OWN_CASES])
def test_op_own_examples(case):
    check_case(case)


# ---- explicit cases ---------------------------------------------------------------------------

def _case(op, shape, stmt, make_ref) -> Case:
    return Case(op, [("x", shape)], [stmt], make_ref)


#: Inputs of the wrong rank for ops on images ([F], [C, L]) and for linear ([C, L], [C, H, W]).
WRONG_RANK = {
    f"{op}-{len(shape)}d": _case(op, shape, stmt, image_only(make))
    for op, stmt, make in [
        ("conv2d", "conv2d(4, 3)", lambda: nn.Conv2d(3, 4, 3)),
        ("maxpool2d", "maxpool2d(2)", lambda: nn.MaxPool2d(2)),
        ("avgpool2d", "avgpool2d(2)", lambda: nn.AvgPool2d(2)),
        ("adaptive_avgpool2d", "adaptive_avgpool2d(2)", lambda: nn.AdaptiveAvgPool2d(2)),
        ("adaptive_maxpool2d", "adaptive_maxpool2d(2)", lambda: nn.AdaptiveMaxPool2d(2)),
        ("global_avgpool", "global_avgpool", lambda: nn.AdaptiveAvgPool2d((1, 1))),
    ]
    for shape in [(3,), (3, 12)]
}


@pytest.mark.parametrize("case", WRONG_RANK.values(), ids=WRONG_RANK.keys())
def test_wrong_rank(case):
    assert check_case(case) != "accepted"


#: Hand-picked configurations (regressions and corners), through the same oracle.
EXPLICIT = {
    # torch checks pad <= kernel_size // 2 whatever the dilation, and separately
    # pad <= effective kernel // 2 (aten/src/ATen/native/Pool.h pool2d_shape_check)
    "maxpool2d-k3-d2-p2": _case("maxpool2d", (1, 5, 5), "maxpool2d(3, padding=2, dilation=2)",
                                image_only(lambda: nn.MaxPool2d(3, padding=2, dilation=2))),
    "maxpool2d-k2-d2-p1": _case("maxpool2d", (1, 5, 5), "maxpool2d(2, padding=1, dilation=2)",
                                image_only(lambda: nn.MaxPool2d(2, padding=1, dilation=2))),
    "maxpool2d-k3-d1-p2": _case("maxpool2d", (1, 5, 5), "maxpool2d(3, padding=2)",
                                image_only(lambda: nn.MaxPool2d(3, padding=2))),
    "conv2d-same-even": _case("conv2d", (3, 7, 9),
                              'conv2d(4, (2, 4), padding="same", dilation=(3, 2))',
                              lambda: nn.Conv2d(3, 4, (2, 4), padding="same", dilation=(3, 2))),
    "conv2d-same-stride": _case("conv2d", (3, 7, 9), 'conv2d(4, 3, stride=2, padding="same")',
                                lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same")),
    "conv2d-groups-out": _case("conv2d", (4, 7, 9), "conv2d(6, 3, groups=4)",
                               lambda: nn.Conv2d(4, 6, 3, groups=4)),
    "avgpool2d-ceil-exclude-pad": _case(
        "avgpool2d", (2, 6, 6), "avgpool2d(3, stride=2, padding=1, ceil_mode=true, "
        "count_include_pad=false)",
        lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    "maxpool2d-ceil-googlenet": _case("maxpool2d", (1, 112, 112),
                                      "maxpool2d(3, stride=2, ceil_mode=true)",
                                      lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True)),
    # the DCGAN generator's first and upsampling layers (specs/dcgan.arch)
    "conv_transpose2d-dcgan-first": _case(
        "conv_transpose2d", (100, 1, 1),
        "conv_transpose2d(512, 4, stride=1, padding=0, bias=false)",
        lambda: nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False)),
    "conv_transpose2d-dcgan-up": _case(
        "conv_transpose2d", (64, 8, 8),
        "conv_transpose2d(32, 4, stride=2, padding=1, bias=false)",
        lambda: nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False)),
    # output_padding may reach the stride when it stays below the dilation
    "conv_transpose2d-output-padding-dilation": _case(
        "conv_transpose2d", (3, 5, 5), "conv_transpose2d(4, 3, output_padding=1, dilation=2)",
        lambda: nn.ConvTranspose2d(3, 4, 3, output_padding=1, dilation=2)),
    "upsample-bilinear-size": _case(
        "upsample", (2, 5, 7), 'upsample(size=(8, 3), mode="bilinear", align_corners=true)',
        lambda: nn.Upsample(size=(8, 3), mode="bilinear", align_corners=True)),
    "upsample-fraction": _case("upsample", (2, 10, 7), "upsample(0.3)",
                               lambda: nn.Upsample(scale_factor=0.3)),
    "reshape-unflatten": _case("reshape", (4096,), "reshape([256, 4, 4])",
                               lambda: nn.Unflatten(1, (256, 4, 4))),
    "narrow-negative-start": _case("narrow", (10,), "narrow(0, -3, 2)",
                                   lambda: Fn(lambda x: x.narrow(1, -3, 2))),
    # integer bounds are floats, as in torch; hardtanh(0, 6) is relu6
    "hardtanh-relu6": _case("hardtanh", (3, 5, 5), "hardtanh(0, 6)", lambda: nn.ReLU6()),
    "hardtanh-empty-range": _case("hardtanh", (3,), "hardtanh(1, 1)", lambda: nn.Hardtanh(1, 1)),
    "relu6-vector": _case("relu6", (7,), "relu6", lambda: nn.ReLU6()),
}


@pytest.mark.parametrize("case", EXPLICIT.values(), ids=EXPLICIT.keys())
def test_explicit(case):
    check_case(case)


# ---- the registry's completeness ------------------------------------------------------------

#: A valid configuration per op: (inputs, statement).
VALID: dict[str, tuple[list[tuple[str, tuple[int, ...]]], str]] = {
    "conv2d": ([("x", (4, 9, 9))], "conv2d(6, 3, stride=2, padding=1, groups=2)"),
    "conv_transpose2d": ([("x", (4, 5, 5))],
                         "conv_transpose2d(6, 4, stride=2, padding=1, output_padding=1, groups=2)"),
    "upsample": ([("x", (3, 5, 7))], 'upsample(scale_factor=(2, 1.5), mode="bilinear")'),
    "reshape": ([("x", (48,))], "reshape([3, -1, 4])"),
    "narrow": ([("x", (6, 4, 4))], "narrow(0, 2, 3)"),
    "sample": ([("mu", (8,)), ("logvar", (8,))], "sample(mu, logvar)"),
    "crop": ([("x", (3, 9, 7)), ("like", (2, 5, 6))], "crop(x, like)"),
    "interpolate": ([("x", (3, 4, 5)), ("like", (2, 9, 7))],
                    'interpolate(x, like, mode="bilinear", align_corners=false)'),
    "maxpool2d": ([("x", (3, 9, 9))], "maxpool2d(3, stride=2, padding=1, ceil_mode=true)"),
    "avgpool2d": ([("x", (3, 9, 9))], "avgpool2d(3, stride=2, count_include_pad=false)"),
    "adaptive_avgpool2d": ([("x", (3, 9, 9))], "adaptive_avgpool2d((2, 3))"),
    "adaptive_maxpool2d": ([("x", (3, 9, 9))], "adaptive_maxpool2d(4)"),
    "global_avgpool": ([("x", (3, 9, 9))], "global_avgpool"),
    "linear": ([("x", (12,))], "linear(5, bias=false)"),
    "batchnorm": ([("x", (3, 4, 4))], "batchnorm(eps=0.001)"),
    "frozen_batchnorm": ([("x", (3, 4, 4))], "frozen_batchnorm(eps=0.001)"),
    "lrn": ([("x", (6, 4, 4))], "lrn(5, alpha=0.0001, beta=0.75)"),
    "dropout": ([("x", (3, 4, 4))], "dropout(0.25)"),
    "relu": ([("x", (3, 4, 4))], "relu"),
    "leaky_relu": ([("x", (3, 4, 4))], "leaky_relu(0.2)"),
    "elu": ([("x", (3, 4, 4))], "elu(alpha=0.5)"),
    "gelu": ([("x", (3, 4, 4))], 'gelu(approximate="tanh")'),
    "silu": ([("x", (3, 4, 4))], "silu"),
    "relu6": ([("x", (3, 4, 4))], "relu6"),
    "hardtanh": ([("x", (3, 4, 4))], "hardtanh(-2, max_val=2.5)"),
    "hardswish": ([("x", (3, 4, 4))], "hardswish"),
    "hardsigmoid": ([("x", (3, 4, 4))], "hardsigmoid"),
    "mish": ([("x", (3, 4, 4))], "mish"),
    "sigmoid": ([("x", (3, 4, 4))], "sigmoid"),
    "tanh": ([("x", (3, 4, 4))], "tanh"),
    "softmax": ([("x", (3, 4, 4))], "softmax(dim=-1)"),
    "log_softmax": ([("x", (10,))], "log_softmax"),
    "flatten": ([("x", (3, 4, 4))], "flatten(1)"),
    "concat": ([("a", (2, 4, 4)), ("b", (3, 4, 4))], "concat(a, b)"),
    "add": ([("a", (3, 4, 4)), ("b", (3, 4, 4))], "add(a, b)"),
    "mul": ([("a", (3, 4, 4)), ("b", (3, 1, 1))], "mul(a, b)"),
    "layernorm": ([("x", (5, 8))], "layernorm(eps=1e-06)"),
    "layernorm2d": ([("x", (8, 4, 4))], "layernorm2d(eps=1e-06)"),
    "stochastic_depth": ([("x", (8, 4, 4))], "stochastic_depth(0.2)"),
    "permute": ([("x", (8, 4, 5))], "permute([1, 2, 0])"),
    "channel_shuffle": ([("x", (8, 4, 4))], "channel_shuffle(2)"),
    "mean": ([("a", (3, 4, 4)), ("b", (3, 4, 4))], "average { a -> identity; b -> identity }"),
    "identity": ([("x", (3, 4, 4))], "identity"),
    "parameter": ([("x", (3, 4, 4))], "p: parameter([3, 1, 1], fill=0.5); mul(p, x)"),
}


def test_every_op_has_a_valid_example():
    # an op with its own cases: its first one (which must be accepted)
    assert sorted((set(LAYERS) - set(OWN_EXAMPLES)) ^ set(VALID)) == []


def test_aliases_name_ops():
    for alias, name in ALIASES.items():
        assert name in OPS and alias in OPS[name].aliases and alias not in OPS


@pytest.mark.parametrize("op", LAYERS)
def test_registry_entry_is_complete(op):
    impl = OPS[op]
    assert impl.name == op
    assert isinstance(impl.doc, str) and impl.doc.strip(), f"`{op}` has no doc string"
    assert isinstance(impl.family, str) and impl.family.strip(), f"`{op}` has no family"
    assert set(impl.positional) <= set(impl.attrs.model_fields), impl.positional
    assert op in VALID or op in OWN_EXAMPLES, f"no valid example for `{op}`"
    inputs, stmt = VALID[op] if op in VALID else OWN_EXAMPLES[op][0][:2]
    case = Case(op, inputs, [stmt], lambda: None)
    res = archlang.check(case.text())
    node = res.graph.nodes[-1]
    if impl.held:  # read by the merge that ends the example
        (node,) = [n for n in res.graph.nodes if n.op == op]
    assert node.op == op
    ins = [res.graph.nodes[i].shape for i in node.inputs]
    label = impl.label(node.attrs, ins)
    assert isinstance(label, str) and label.strip(), f"`{op}` has an empty label"
    if impl.held:  # an nn.Parameter of the node's shape, the node's parameters
        tensor = eval(impl.torch_module(node.attrs, ins), {"nn": nn, "torch": torch})
        assert isinstance(tensor, nn.Parameter) and tuple(tensor.shape) == node.shape
        assert tensor.numel() == node.params
        return

    try:
        module_src = impl.torch_module(node.attrs, ins)
    except NotImplementedError:
        module_src = None
    args = [f"x{i}" for i in range(len(ins))]
    call_srcs = [impl.torch_call(node.attrs, args, ins, inplace) for inplace in (False, True)]
    assert module_src is not None or call_srcs[0] is not None, f"`{op}` has no torch emitter"

    torch.manual_seed(0)
    xs = [torch.randn(2, *s) for s in ins]
    want = (2, *node.shape)
    if module_src is not None:
        assert isinstance(module_src, str)
        ast.parse(module_src, mode="eval")
        scope = {"nn": nn, "torch": torch, "F": F}
        for helper in impl.torch_helpers(node.attrs).values():
            exec(helper, scope)  # noqa: S102 - the definitions the generated file would hold
        module = eval(module_src, scope)
        assert isinstance(module, nn.Module)
        assert tuple(module(*xs).shape) == want, module_src
        assert numel(module.parameters()) == node.params, module_src
        assert numel(module.buffers()) == node.buffers, module_src
    else:
        assert not impl.stateful, f"`{op}` holds state but has no module emitter"
    for src in call_srcs:
        if src is None:
            continue
        assert isinstance(src, str)
        ast.parse(src, mode="eval")
        env = {"torch": torch, "F": F, "nn": nn, "self": SimpleNamespace(training=False),
               **{a: x.clone() for a, x in zip(args, xs)}}
        assert tuple(eval(src, env).shape) == want, src


# ---- ceil-mode corner cases (numbers.md section 5) ---------------------------------------------

CEIL_CASES = [
    # (H, kernel, stride, padding, expected) -- numbers.md section 5, "Verified examples"
    (5, 2, 2, 1, 3),  # naive ceil gives 4; the last window would start in the right padding
    (112, 3, 2, 0, 56),  # floor gives 55 (GoogLeNet's maxpool1)
    (14, 2, 2, 0, 7),
    (5, 1, 3, 0, 2),  # the Caffe-vs-PyTorch note: PyTorch gives 2 (Caffe's formula 3)
]


@pytest.mark.parametrize("pool", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("h,k,s,p,expected", CEIL_CASES)
def test_ceil_mode_corner_cases(pool, h, k, s, p, expected):
    text = (f"network n {{ input x: [1, {h}, {h}]; {pool}({k}, stride={s}, padding={p}, "
            f"ceil_mode=true); output y }}")
    assert archlang.check(text).outputs["y"] == (1, expected, expected)
    cls = nn.MaxPool2d if pool == "maxpool2d" else nn.AvgPool2d
    x = torch.randn(2, 1, h, h)
    assert tuple(cls(k, stride=s, padding=p, ceil_mode=True)(x).shape) == (2, 1, expected, expected)
    assert tuple(archlang.load(text)(x).shape) == (2, 1, expected, expected)
    # and symbolically: the same answer once the size is known
    sym = text.replace(f"[1, {h}, {h}]", "[1, H, H]")
    assert archlang.check(sym, H=h).outputs["y"] == (1, expected, expected)


def _drawn(op: str, n: int = 30) -> list[Case]:
    cases = []

    @settings(max_examples=n, deadline=None, database=None)
    @given(STRATEGIES[op]())
    def collect(case):
        cases.append(case)

    collect()
    return cases


@pytest.mark.parametrize("op", ["concat", "add"])
def test_strategies_draw_several_inputs_and_named_values(op):
    """The merge strategies do draw network inputs and named conv/pool branches."""
    cases = _drawn(op)
    assert any(len(c.inputs) > 1 for c in cases)
    assert any(any(" = x -> " in b for b in c.body) for c in cases)
