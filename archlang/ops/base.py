"""The op protocol: each op is one object with attributes, shape rule, counts and emitters.

Shapes exclude the batch dimension: ``(C, H, W)`` for images, ``(F,)`` for features. Sizes
are ``int`` or symbolic (:mod:`archlang.analysis.dims`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict

from archlang.analysis import dims as D
from archlang.analysis.dims import Count, Dim
from archlang.diagnostics import SpecError

Shape = tuple[Dim, ...]


#: What an op's rule raises: the one error type (``label=`` the underline's text, ``arg=`` the
#: argument to underline, ``help=`` lines of advice).
OpError = SpecError


@dataclass(frozen=True)
class Agree:
    """Two symbolic sizes a shape rule needs equal (``H/2`` and ``(H+1)//2`` agree for even
    ``H``): a constraint on the input size, returned as data and solved, with every other
    one, by :mod:`archlang.graph.solve`, which raises ``error`` if no input size satisfies
    it."""

    x: Dim
    y: Dim
    error: SpecError


class Shaped(NamedTuple):
    """A shape rule's result when it needs symbolic sizes to agree (see :class:`Agree`)."""

    shape: Shape
    agree: tuple[Agree, ...] = ()


class Window(NamedTuple):
    """One spatial axis of a sliding window, as the receptive-field recurrence needs it
    (Araujo, Norris, Sim: "Computing Receptive Fields of Convolutional Neural Networks",
    Distill 2019): output unit ``u`` reads input units ``u*stride - padding + t*dilation``
    for ``t`` in ``0 .. kernel-1``. Element-wise ops have the unit window ``Window()``."""

    kernel: int = 1
    stride: int = 1
    padding: int = 0  # on the left (top); negative: the window starts inside the input
    dilation: int = 1


class Extra(NamedTuple):
    """A tensor that autograd saves for an op's backward besides the op's inputs and output:
    ``kind`` says its element type, which :mod:`archlang.analysis.memory` turns into bytes:
    ``"activation"`` (the activations' dtype), ``"index"`` (int64), ``"mask"`` (dropout's
    mask: the dtype on the CPU, one byte on CUDA) or ``"stats"`` (per-channel statistics,
    float32 at least). ``per_sample``: it grows with the batch."""

    elements: Count
    kind: str = "activation"
    per_sample: bool = True


class Saved(NamedTuple):
    """What autograd keeps for an op's backward in training (parameters excluded): the
    inputs it saves (by position), whether it saves its output, and further tensors."""

    inputs: tuple[int, ...] = ()
    output: bool = False
    extra: tuple[Extra, ...] = ()


class Attrs(BaseModel):
    """Base of every op's attribute model: strict types, no unknown fields.

    Schemas are built when an op is first used, so a check pays only for the ops it uses.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class NoAttrs(Attrs):
    pass


IntPair = int | tuple[int, int]


def pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def check_positive(name: str, v: IntPair | None, allow_zero: bool = False) -> None:
    if v is None:
        return
    for x in pair(v) if not isinstance(v, bool) else ():
        if x < 0 or (x == 0 and not allow_zero):
            what = "non-negative" if allow_zero else "positive"
            raise ValueError(f"`{name}` must be {what}, got {x}")


def window_out(size: Dim, kernel: int, stride: int, pad_total: int, dilation: int,
               ceil_mode: bool, pad_left: int, what: str, axis: str) -> Dim:
    """Output size of a sliding window along one axis, exactly as PyTorch computes it.

    Floor mode: ``(in + pads - dil*(k-1) - 1) // stride + 1``. Ceil mode adds ``stride-1``
    before dividing, then drops a last window that would start in the right padding
    (aten/src/ATen/native/Pool.h ``pooling_output_shape_pad_lr``).
    """
    span = dilation * (kernel - 1) + 1
    numer = D.add(size, pad_total - span)
    if not ceil_mode:
        if isinstance(size, int) and size + pad_total < span:
            raise OpError("E022", f"{what} window ({span}) is larger than the padded {axis} "
                          f"({size} + {pad_total})", label="input too small here",
                          help=["use a larger input, a smaller kernel, or more padding"])
        return D.add(D.floordiv(numer, stride), 1)
    out = D.add(D.ceildiv(numer, stride), 1)
    if isinstance(size, int):
        if (out - 1) * stride >= size + pad_left:
            out -= 1
        if out <= 0:
            raise OpError("E022", f"{what} output {axis} would be {out} (input {size}, window "
                          f"{span}, stride {stride})", label="input too small here",
                          help=["use a larger input or a smaller window"])
        return out
    # The correction can only apply when a window may start past the input's end.
    if stride + pad_left <= span:
        return out
    raise OpError("E025", f"ceil_mode with stride {stride} and padding {pad_left} needs a "
                  f"concrete {axis}", label="size is symbolic here",
                  help=["give a concrete input size with --input, or use ceil_mode=false"])


class Op:
    """One operation. Subclasses set the class attributes and override the rules."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    attrs: ClassVar[type[Attrs]] = NoAttrs
    positional: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = "other"
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)
    #: True when the torch module holds parameters or buffers (always emitted as a module).
    stateful: ClassVar[bool] = False
    #: False when the op has no ``nn`` module (``torch_module`` raises): it is always emitted
    #: as its functional call, and never inside an ``nn.Sequential``.
    has_module: ClassVar[bool] = True
    doc: ClassVar[str] = ""
    #: True for the op of the network's inputs: it makes a value from nothing, and a spec
    #: never calls it (``input x: [...]`` declares it).
    source: ClassVar[bool] = False
    #: True for a tensor the module holds (an ``nn.Parameter`` named by the layer's label),
    #: read as ``self.NAME`` rather than called. It has no batch dimension, so only an op
    #: with :attr:`broadcasts` may read it (graph/verify.py).
    held: ClassVar[bool] = False
    #: The op broadcasts its inputs against each other as torch does (``add``, ``mul``): it
    #: may read a held tensor.
    broadcasts: ClassVar[bool] = False
    #: How a diagram draws it: "box" (a labelled box), "glyph" (a small circle holding
    #: :attr:`glyph`), "funnel" (a narrow merge trapezium) or "source" (an input's house).
    diagram_shape: ClassVar[str] = "box"
    glyph: ClassVar[str] = ""
    #: The language construct that makes this op implicitly (``concat``, ``average``,
    #: ``residual``), if any: the expander asks the registry for the op of a construct.
    construct: ClassVar[str | None] = None
    #: In-place form of the op, ``a <operator> b`` for each further input (``"+="`` for add):
    #: the generated forward uses it when the first input's tensor may be overwritten.
    inplace_operator: ClassVar[str | None] = None
    #: ``torch.nn`` classes of its module, for ``init <op>.<param>`` rules emitted as a loop
    #: over ``self.modules()`` (empty: such rules are emitted layer by layer).
    torch_classes: ClassVar[tuple[str, ...]] = ()
    #: Parameters that some attribute values remove (conv2d's ``bias=false``): an ``init`` loop
    #: guards them with ``is not None``.
    optional_params: ClassVar[tuple[str, ...]] = ()
    #: The inference build (archlang/inference.py): a norm that eval mode turns into a fixed
    #: per-channel affine from its running statistics (BatchNorm), folded into the layer
    #: before it; a layer that can absorb one (its ``weight``'s first dimension is the output
    #: channel, and a ``bias`` attribute adds a bias); an op that is the identity in eval mode.
    foldable_norm: ClassVar[bool] = False
    absorbs_norm: ClassVar[bool] = False
    eval_identity: ClassVar[bool] = False

    def channel_axis(self, out: Shape) -> int:
        """The per-sample dim of the output that the first dim of the op's ``weight`` indexes
        (conv2d: 0, channels; linear: the last). A norm over channels (dim 0) folds into a
        layer only where the two agree."""
        return 0

    # -- static analysis --------------------------------------------------------------
    def shape(self, a: Any, ins: list[Shape]) -> Shape | Shaped:
        """The output shape, or :class:`Shaped` with the size equalities it assumes."""
        return ins[0]

    def params(self, a: Any, ins: list[Shape], out: Shape) -> int:
        return 0

    def buffers(self, a: Any, ins: list[Shape], out: Shape) -> int:
        return 0

    def macs(self, a: Any, ins: list[Shape], out: Shape) -> Count:
        return 0

    def window(self, a: Any, ins: list[Shape]) -> tuple[Window, ...] | None:
        """The window each output unit reads from every input, one :class:`Window` per
        spatial axis of ``[C, H, W]`` (or ``[C, L]``); ``None`` when a unit may read the
        whole input (global pooling, linear, flatten, and any op that does not say).
        Element-wise ops return ``unit_windows(ins)``. Receptive fields are composed from
        these by :mod:`archlang.analysis.receptive`."""
        return None

    def saved(self, a: Any, ins: list[Shape], out: Shape, inplace: bool) -> Saved:
        """The tensors autograd saves for this op's backward in training (``inplace``: the
        generated module runs it in place). By default every input, which is what most
        ops with parameters keep; summed by :mod:`archlang.analysis.memory`."""
        return Saved(inputs=tuple(range(len(ins))))

    #: The output is a view of the first input (shares its storage): flatten, reshape,
    #: narrow, identity. Memory counts a saved storage once.
    view: ClassVar[bool] = False

    def init_params(self, a: Any) -> tuple[str, ...]:
        """The parameters an ``init`` statement may set on this layer (``("weight",
        "bias")``; without ``bias`` when ``bias=false``)."""
        return ()

    # -- backends -------------------------------------------------------------------
    def torch_module(self, a: Any, ins: list[Shape]) -> str:
        """Python source constructing the ``nn`` module, e.g. ``nn.ReLU(inplace=True)``."""
        raise NotImplementedError

    def torch_call(self, a: Any, args: list[str], ins: list[Shape], inplace: bool) -> str | None:
        """Python source of a functional call for stateless ops (``None``: use the module)."""
        return None

    #: Ops whose output may be overwritten in place by a following ReLU (their backward
    #: does not need their own output).
    inplace_safe_producer: ClassVar[bool] = False
    #: The op can run in place on a dead input (ReLU-like).
    can_inplace: ClassVar[bool] = False

    def inplace_allowed(self, a: Any) -> bool:
        """Whether these attributes allow running in place (autograd may refuse some)."""
        return self.can_inplace

    def label(self, a: Any, ins: list[Shape]) -> str:
        return self.name

    def torch_helpers(self, a: Any) -> dict[str, str]:
        """Module-level definitions the generated file needs for this op (a helper class or
        function its ``torch_module``/``torch_call`` names), by name: ``{"LayerNorm2d":
        "class LayerNorm2d(nn.Module):\\n    ..."}``. Each is written once, after the imports
        (``torch``, ``nn`` and ``F`` are in scope), before the network's classes. A name must
        be the one the source defines; two ops giving the same name must give the same text.
        """
        return {}

    # -- testing ----------------------------------------------------------------------
    def oracle_examples(self) -> list[Any]:
        """Cases for archlang's op oracle (tests/test_ops_oracle.py) from an op defined
        outside archlang, whose attributes the oracle's own strategies do not know: a list
        of :class:`archlang.plugins.OracleExample` (the inputs, the statement calling the op,
        a builder of the same layer in plain torch). Built-in ops have strategies in the
        test file instead: ``[]``. See docs/plugins.md.
        """
        return []

    # -- diagnostics ------------------------------------------------------------------
    def positional_help(self, pos: list[tuple[Any, str]], kw: dict[str, str],
                        ins: Shape | None) -> list[str]:
        """Help lines for a call with more positional arguments than :attr:`positional`.

        ``pos`` holds each positional argument as (value, source text), ``kw`` the source
        text of each keyword argument (``bias=false``) by name, and ``ins`` the input shape
        when it is known. ``[]`` keeps the generic help, which lists :attr:`positional`.
        """
        return []


def lit(v) -> str:
    """A Python literal as ruff formats it (double-quoted strings)."""
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        inner = ", ".join(lit(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    return lit(str(v))  # a value with no literal (a symbolic size, an initialiser): its text


def join_args(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def and_list(names: list[str] | tuple[str, ...]) -> str:
    """The names quoted and joined, as in "`a`, `b` and `c`"."""
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def respell(op: Op, texts: list[str], kw: dict[str, str], order: tuple[str, ...]) -> str | None:
    """``op``'s call with the positional ``texts`` bound to the names in ``order`` (PyTorch's
    parameter order), those past :attr:`Op.positional` written as keywords, then ``kw``.

    ``None`` when that binding cannot be a valid call: more texts than names, a name the op
    does not take, or one also given by keyword.
    """
    if len(texts) > len(order):
        return None
    names = order[:len(texts)]
    if any(n not in op.attrs.model_fields or n in kw for n in names):
        return None
    npos = len(op.positional)
    parts = [*texts[:npos], *(f"{n}={t}" for n, t in zip(names[npos:], texts[npos:])),
             *kw.values()]
    return f"{op.name}({', '.join(parts)})"


def require_rank(ins: list[Shape], ranks: tuple[int, ...], what: str, hint: str = "") -> None:
    rank = len(ins[0])
    if rank not in ranks:
        want = str(ranks[0]) if len(ranks) == 1 else \
            ", ".join(str(r) for r in ranks[:-1]) + f" or {ranks[-1]}"
        help_ = [hint] if hint else []
        raise OpError("E023", f"{what} expects an input of rank {want} (without batch), got rank "
                      f"{rank} ({D.fmt_shape(ins[0])})", label=f"input is {D.fmt_shape(ins[0])}",
                      help=help_)


def require_concrete(d: Dim, what: str) -> int:
    if not isinstance(d, int):
        raise OpError("E025", f"{what} depends on the input size ({d})", label="size is symbolic here",
                      help=[("add global or adaptive pooling before it, or give a concrete "
                             "input with --input")])
    return d


def unit_windows(ins: list[Shape]) -> tuple[Window, ...]:
    """An element-wise op's windows: the unit window on each spatial axis of its input."""
    return (Window(),) * max(len(ins[0]) - 1, 0)


def numel(shape: Shape) -> Count:
    """Elements of one sample of a tensor of this shape."""
    return D.product(shape)
