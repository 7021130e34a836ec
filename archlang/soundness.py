"""The soundness property, tested on generated specs.

Every spec that ``check`` accepts compiles (valid Python that passes ``ruff check``), loads,
runs eval forward and training forward + backward at its smallest input with the checked
output shapes and parameter count, and computes exactly what the all-out-of-place build of
the same network computes: outputs, parameter gradients and batch-norm statistics, without
changing its inputs.

:class:`SpecGen` writes random VALID specs from the grammar (not mutations): groups, named
values, merges (``add``, ``concat``, ``mean``, ``concat { }``, ``average { }``), views
(flatten, narrow, reshape, identity), residual blocks with and without shortcuts, loops,
conditionals, lists of modules whose items interleave (``convs.{i}: ...``, reopened), layers
that take no number (``_: relu``), user blocks with parameters and defaults (called by name
or with ``use``), blocks that declare two inputs and several outputs (given by position, by
name or from the chain, unpacked into names, inlined with ``use``; an input resized to
another with ``interpolate``), loops that carry a value from one iteration to the next and
collect each in a list of values (grown by appending or prepending, read as a whole by
``concat``/``add``/``mean``, by index, or by a loop over it in reverse), several outputs and
training-only outputs, values used several times (what in-place ops must respect), odd but
legal names and symbolic input sizes. Shapes stay tiny, so a case takes milliseconds.

    python -m archlang.fuzz --soundness --seconds 600 [--seed 1]

runs it as long as asked and writes each failing spec to a file. Needs torch, and ruff for
the lint step (skipped when ruff is missing). ``tests/test_property.py`` runs a bounded
number of cases.
"""

from __future__ import annotations

import keyword
import linecache
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# -- names -----------------------------------------------------------------------------------

#: layer labels: plain, Python builtins, op names, nn.Module-like but legal names
LABELS = ["conv", "fc", "head", "stem", "body", "layer", "features", "classifier", "proj",
          "list", "dict", "sum", "min", "max", "len", "int", "float", "abs", "print",
          "id", "object", "str", "map", "iter", "next", "vars", "super_", "self_", "out",
          "out_2", "y", "z", "weight", "bias", "module", "modules_", "Sequential", "Module",
          "Linear", "relu", "linear", "identity", "flatten", "match", "case", "Group", "Net",
          "N", "forward_", "training_", "add_module_", "x_", "Tensor_", "nn_", "F_", "torch_"]
#: bound value names
VALUES = ["a", "b", "h", "t", "u", "v", "out", "out_2", "x", "x_2", "y", "self_", "sum", "len",
          "_", "max", "abs", "int", "input_", "F_", "nn_", "Group", "N", "NOutputs", "NetOutputs",
          "NEvalOutputs", "Tensor_", "relu_", "weight", "features", "conv", "mu", "logvar"]
INPUTS = ["x", "image", "out", "y", "self_", "NOutputs", "NetOutputs", "F_", "z", "inp",
          "Group", "Net", "N", "out_2", "features", "weight", "x_2"]
OUTPUTS = ["logits", "y", "out", "aux", "features", "z", "self_", "out_2", "x_2", "NOutputs",
           "Net", "h", "score", "recon", "mu_", "weight", "Group", "sum", "len"]
NETWORKS = ["n", "net", "None", "true", "self_", "model", "Net", "x", "torch_", "NamedTuple",
            "Tensor", "OrderedDict", "Sequential", "Module", "N", "out", "Group", "n_outputs"]
BLOCKS = ["Block", "conv_bn", "Tensor", "torch_", "F_", "Group", "NOutputs", "Net", "Unit",
          "unit", "Sequential", "Module", "x", "self_", "Outputs_", "stage", "N", "Linear"]
PARAMS = ["width", "c", "k", "flag", "depth", "p", "w", "size_", "num_classes", "act"]
#: the names of a block's declared inputs
PORTS = ["skip", "low", "high", "feat", "coarse", "a_", "b_", "fine", "lateral_", "x"]
ACTS = ["relu", "relu", "relu", "leaky_relu", "leaky_relu(0.2)", "leaky_relu(-0.5)", "elu",
        "gelu", "silu", "sigmoid", "tanh", "identity", "dropout", "dropout(0.0)",
        "dropout(0.3)", "swish", "leaky_relu(negative_slope=1.0)", "elu(alpha=0.5)"]


def _legal(names: list[str]) -> list[str]:
    """The names check accepts as labels (the pools above mean to test legal names)."""
    from archlang.names import MODULE_ATTRS, RESERVED

    return [n for n in names if n not in MODULE_ATTRS and n not in RESERVED
            and not keyword.iskeyword(n)]


LABELS = _legal(LABELS)


@dataclass
class Val:
    """A value of the network being written: its shape and, if it has one, its name.

    Dims are ints or, for symbolic input sizes, strings that name the expression (equal
    strings are equal sizes)."""

    shape: tuple
    name: str | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def concrete(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)


@dataclass
class Ctx:
    """Where statements are written: one naming scope (labels) and the readable values."""

    indent: str
    labels: set[str]
    env: dict[str, Val]
    top: bool = False  # the network's own body (values may stay for outputs)
    loop: bool = False  # inside `for`: layers stay unnamed
    params: dict[str, object] = field(default_factory=dict)  # block/network parameters
    depth: int = 0

    def child(self, *, scope: bool = False, loop: bool = False, env: dict | None = None) -> Ctx:
        return Ctx(self.indent + "    ", set() if scope else self.labels,
                   dict(self.env) if env is None else env, False, self.loop or loop,
                   self.params, self.depth + 1)


class SpecGen:
    """Random valid specs. ``generate()`` returns ``(text, network)``."""

    def __init__(self, rng: random.Random, symbolic: bool | None = None):
        self.rng = rng
        self.symbolic = rng.random() < 0.2 if symbolic is None else symbolic
        self.lines: list[str] = []
        self.blocks: list[str] = []  # block definitions, text
        self.block_names: set[str] = set()
        self.block_cache: dict[tuple, tuple[str, list, tuple]] = {}
        self.values: set[str] = set()
        self.counter = 0
        self.outputs: list[tuple[str, bool]] = []
        self.out_names: set[str] = set()
        self.block_has_labels: dict[str, bool] = {}

    # -- small helpers ------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, xs):
        return self.rng.choice(xs)

    def fresh_value(self, ctx: Ctx) -> str:
        for _ in range(4):
            name = self.pick(VALUES)
            if name not in self.values and name not in ctx.env and name not in ctx.labels \
                    and name not in self.block_names and name not in ctx.params:
                self.values.add(name)
                return name
        self.counter += 1
        name = f"v{self.counter}"
        self.values.add(name)
        return name

    def label(self, ctx: Ctx, p: float = 0.35) -> str | None:
        """A layer label for this scope, or None (always None inside loops)."""
        if ctx.loop or not self.chance(p):
            return None
        for _ in range(4):
            name = self.pick(LABELS)
            if name not in ctx.labels and name not in self.values and name not in ctx.env \
                    and name not in self.block_names and name not in ctx.params:
                ctx.labels.add(name)
                self.values.add(name)  # labels are values too: keep them apart
                return name
        return None

    def emit(self, ctx: Ctx, text: str) -> None:
        self.lines.append(ctx.indent + text)

    def num(self, ctx: Ctx, value: int) -> str:
        """``value`` as a literal or, sometimes, an expression over the parameters."""
        ints = {k: v for k, v in ctx.params.items()
                if isinstance(v, int) and not isinstance(v, bool)}
        if ints and self.chance(0.3):
            k, v = self.rng.choice(sorted(ints.items()))
            if v == value:
                return k
            if v and value % v == 0 and value // v > 1:
                return f"{k} * {value // v}"
            if value > v:
                return f"{k} + {value - v}"
        return str(value)

    # -- ops on one value --------------------------------------------------------------------
    def proj(self, ctx: Ctx, v: Val, width: int) -> tuple[str, tuple]:
        """An op giving ``width`` channels (features) and keeping the other dims."""
        if v.rank == 1:
            return f"linear({self.num(ctx, width)}{', bias=false' if self.chance(0.2) else ''})", \
                (width,)
        if v.rank == 3:
            k = self.pick([1, 1, 3])
            opts = []
            if self.chance(0.2):
                opts.append("bias=false")
            c = v.shape[0]
            if k == 3 and self.chance(0.3):
                opts.append("padding=1" if self.chance(0.7) else 'padding="same"')
            elif k == 3:
                opts.append("padding=3 // 2")
            if c % 2 == 0 and width % 2 == 0 and self.chance(0.2):
                opts.append("groups=2")
            if self.chance(0.15) and k == 3 and opts and opts[-1] != "groups=2":
                opts = [o for o in opts if not o.startswith("padding")] + ["padding=2",
                                                                          "dilation=2"]
            if self.chance(0.15) and v.concrete:
                k3 = self.pick([1, 3])
                return f"conv_transpose2d({width}, {k3}, padding={k3 // 2})", \
                    (width, *v.shape[1:])
            return f"conv2d({', '.join([self.num(ctx, width), str(k), *opts])})", \
                (width, *v.shape[1:])
        # rank 2 [C, L]: reshape to channels-only views is awkward; go through conv1x1-like
        return None, None

    def keep_op(self, ctx: Ctx, v: Val) -> str:
        """An op that keeps the shape."""
        r = self.rng.random()
        if r < 0.45:
            return self.pick(ACTS)
        if r < 0.6 and v.rank in (1, 2, 3):
            return self.pick(["batchnorm", "bn", "batchnorm(eps=0.001)",
                              "batchnorm(momentum=0.5, affine=false)",
                              "batchnorm(track_running_stats=false)"])
        if r < 0.7:
            return self.pick(["identity", "dropout(0.2)", f"softmax({self.rng.randrange(v.rank)})",
                              f"log_softmax(dim={-1 if v.rank else 0})"])
        if v.rank == 3 and r < 0.8:
            return self.pick(["maxpool2d(3, stride=1, padding=1)", "avgpool2d(3, stride=1, padding=1)",
                              "avgpool2d(3, stride=1, padding=1, count_include_pad=false)",
                              "lrn(2)", "conv2d(in.channels, 1)",
                              "conv2d(in.channels, 3, padding=1, bias=false)"])
        if v.rank == 1 and r < 0.8:
            return self.pick(["linear(in.shape[0])", f"linear({v.shape[0]})"])
        if v.rank == 3 and isinstance(v.shape[0], int):
            return f"conv2d({self.num(ctx, v.shape[0])}, 1)"
        return self.pick(ACTS)

    def change_op(self, ctx: Ctx, v: Val) -> tuple[str, tuple] | None:
        """An op that changes the shape, with the new shape."""
        s = v.shape
        rng = self.rng
        if v.rank == 1:
            f = s[0]
            choices = ["linear", "linear", "narrow"]
            if f >= 4:
                choices += ["reshape"]
            kind = self.pick(choices)
            if kind == "linear":
                w = rng.randint(2, 7)
                return self.proj(ctx, v, w)
            if kind == "narrow" and f >= 2:
                length = rng.randint(1, f - 1)
                start = rng.randint(0, f - length)
                if self.chance(0.3):
                    return f"narrow(0, {start - f}, {length})", (length,)
                return f"narrow(0, {start}, {length})", (length,)
            if kind == "reshape":
                for c in (2, 3, 4, 1):
                    if f % c == 0:
                        rest = f // c
                        for h in (2, 3, 1):
                            if rest % h == 0 and rest // h >= 1:
                                w = rest // h
                                if self.chance(0.5):
                                    return f"reshape([{c}, {h}, {w}])", (c, h, w)
                                return f"reshape([{c}, -1, {w}])", (c, h, w)
                        return f"reshape([{c}, -1])", (c, rest)
            return None
        if v.rank == 2:
            c, length = s
            kind = self.pick(["flatten", "narrow", "reshape", "bn"])
            if kind == "flatten":
                return "flatten", (c * length,)
            if kind == "narrow" and length >= 2:
                return f"narrow(1, 1, {length - 1})", (c, length - 1)
            if kind == "reshape":
                return "reshape([-1])" if self.chance(0.5) else f"reshape({c * length})", \
                    (c * length,)
            return None
        c, h, w = s
        sym = not (isinstance(h, int) and isinstance(w, int))
        kinds = ["proj", "proj", "pool", "gap", "stride"]
        if not sym and h * w * c <= 150:
            kinds += ["flatten", "flatten1"]
        if not sym:
            kinds += ["narrow", "valid", "up"]
        else:
            kinds += ["up"]
        kind = self.pick(kinds)
        if kind == "proj":
            return self.proj(ctx, v, rng.randint(2, 6))
        if kind == "pool":
            if sym:
                return self.pick(["maxpool2d(2)", "avgpool2d(2)", "maxpool(2, stride=2)"]), \
                    (c, f"{h}/2", f"{w}/2")
            if h >= 2 and w >= 2:
                op = self.pick(["maxpool2d(2)", "avgpool2d(2)", "maxpool2d(2, ceil_mode=true)",
                                "avgpool2d(2, ceil_mode=true)"])
                if "ceil" in op:
                    return op, (c, -(-h // 2), -(-w // 2))
                return op, (c, h // 2, w // 2)
            return None
        if kind == "gap":
            if self.chance(0.5):
                return self.pick(["global_avgpool", "gap"]), (c, 1, 1)
            n = rng.randint(1, 3)
            return self.pick([f"adaptive_avgpool2d({n})", f"adaptive_maxpool2d(({n}, {n}))",
                              f"adaptive_avgpool({n})"]), (c, n, n)
        if kind == "stride":
            width = rng.randint(2, 5)
            if sym:
                return f"conv2d({width}, 3, stride=2, padding=1)", (width, f"{h}/2c", f"{w}/2c")
            return f"conv2d({width}, 3, stride=2, padding=1)", (width, (h + 1) // 2, (w + 1) // 2)
        if kind == "flatten":
            return self.pick(["flatten", "flatten()", "flatten(0, -1)", "reshape([-1])"]), \
                (c * h * w,)
        if kind == "flatten1":
            return self.pick(["flatten(1)", f"reshape([{c}, -1])"]), (c, h * w)
        if kind == "narrow":
            d = rng.randrange(3)
            size = s[d]
            if size < 2:
                return None
            length = rng.randint(1, size - 1)
            return f"narrow({d}, {rng.randint(0, size - length)}, {length})", \
                tuple(length if i == d else x for i, x in enumerate(s))
        if kind == "valid":
            if h >= 4 and w >= 4:
                width = rng.randint(2, 5)
                return f"conv2d({width}, 3)", (width, h - 2, w - 2)
            return None
        if kind == "up":
            if sym:
                return "upsample(2)", (c, f"{h}*2", f"{w}*2")
            if h <= 4 and w <= 4:
                if self.chance(0.5):
                    width = rng.randint(2, 4)
                    return f"conv_transpose2d({width}, 2, stride=2)", (width, h * 2, w * 2)
                return self.pick(["upsample(2)", "upsample(scale_factor=2)",
                                  'upsample(2, mode="bilinear")']), (c, h * 2, w * 2)
            return None
        return None

    def chain_ops(self, ctx: Ctx, v: Val, n: int, keep: bool = False) -> tuple[list[str], Val]:
        """``n`` ops from ``v`` (shape-keeping only when ``keep``)."""
        ops = []
        for _ in range(n):
            if not keep and self.chance(0.5):
                got = self.change_op(ctx, v)
                if got is not None and got[0] is not None:
                    ops.append(got[0])
                    v = Val(got[1])
                    continue
            ops.append(self.keep_op(ctx, v))
        return ops, v

    def link(self, ctx: Ctx, op: str) -> str:
        lab = self.label(ctx, 0.25)
        if lab is None and self.chance(0.08) and _functional(op):
            return f"_: {op}"  # no name and no number: applied as a function
        return f"{lab}: {op}" if lab else op

    def module_op(self, ctx: Ctx, v: Val) -> str:
        """A shape-keeping op that is a module of its scope (so it may be a list's item)."""
        for _ in range(6):
            op = self.keep_op(ctx, v)
            if _module(op):
                return op
        return "identity"

    # -- statements --------------------------------------------------------------------------
    def statements(self, ctx: Ctx, cur: Val, count: int) -> Val:
        for _ in range(count):
            cur = self.statement(ctx, cur)
        return cur

    def statement(self, ctx: Ctx, cur: Val) -> Val:
        deep = ctx.depth < 3
        kinds = ["op", "op", "op", "fork", "fork", "relu_after", "view_alias"]
        if deep:
            kinds += ["group", "seq", "concat", "residual", "loop", "block", "if", "average",
                      "carry", "lists"]
        if ctx.top:
            kinds += ["side_output", "training_output", "reuse", "ports", "ports"]
        kind = self.pick(kinds)
        got = getattr(self, f"s_{kind}")(ctx, cur)
        return cur if got is None else got

    def bind_or_plain(self, ctx: Ctx, text: str, val: Val, p: float = 0.4) -> Val:
        """A statement for a chain; bound to a new name with probability p."""
        if self.chance(p):
            name = self.fresh_value(ctx)
            self.emit(ctx, f"{name} = {text}")
            ctx.env[name] = Val(val.shape, name)
            return ctx.env[name]
        self.emit(ctx, text)
        return Val(val.shape)

    def named(self, ctx: Ctx, cur: Val) -> Val:
        """``cur`` with a name, binding it through a shape-keeping op when it has none."""
        if cur.name is not None and ctx.env.get(cur.name) is cur:
            return cur
        name = self.fresh_value(ctx)
        self.emit(ctx, f"{name} = {self.link(ctx, self.keep_op(ctx, cur))}")
        v = Val(cur.shape, name)
        ctx.env[name] = v
        return v

    def s_op(self, ctx: Ctx, cur: Val):
        ops, out = self.chain_ops(ctx, cur, self.rng.randint(1, 3))
        text = " -> ".join(self.link(ctx, o) for o in ops)
        return self.bind_or_plain(ctx, text, out)

    def s_fork(self, ctx: Ctx, cur: Val):
        """Two paths from one value, merged by add, concat or mean."""
        a0 = self.named(ctx, cur)
        merge = self.pick(["add", "add", "concat", "mean", "add3", "concat_dim", "sample"])
        if cur.rank == 2:
            merge = self.pick(["add", "mean", "concat_dim"])
        width = self.rng.randint(2, 5)
        branches = []
        for j in range(3 if merge == "add3" else 2):
            same = merge in ("add", "mean", "add3", "sample")
            if same and j > 0:
                target = branches[0][1].shape
                src = self.pick([a0, a0, branches[0][1]])
                if src.shape == target and self.chance(0.4):
                    ops, out = self.chain_ops(ctx, src, self.rng.randint(0, 2), keep=True)
                elif src.rank == 1:
                    ops, out = [f"linear({target[0]})"], Val(target)
                elif src.rank == 3 and src.shape[1:] == target[1:]:
                    op, shape = self.proj(ctx, src, target[0])
                    ops, out = [op], Val(shape)
                else:
                    src = a0
                    if src.rank == 3 and src.shape[1:] == target[1:]:
                        op, shape = self.proj(ctx, src, target[0])
                        ops, out = [op], Val(shape)
                    else:
                        ops, out = list(branches[0][2]), Val(target)
            else:
                src = a0
                if cur.rank in (1, 3) and (merge == "concat" or self.chance(0.6)):
                    op, shape = self.proj(ctx, src, width if same else self.rng.randint(2, 5))
                    ops, out = [op], Val(shape)
                    more, out = self.chain_ops(ctx, out, self.rng.randint(0, 2), keep=True)
                    ops += more
                else:
                    ops, out = self.chain_ops(ctx, src, self.rng.randint(0, 2), keep=True)
            if not ops:
                out = Val(src.shape, src.name)
                branches.append((src.name, out, []))
                continue
            name = self.fresh_value(ctx)
            text = " -> ".join([src.name, *(self.link(ctx, o) for o in ops)])
            self.emit(ctx, f"{name} = {text}")
            out = Val(out.shape, name)
            ctx.env[name] = out
            branches.append((name, out, ops))
        names = [b[0] for b in branches]
        if merge == "sample" and len(set(names)) == 2:
            call = f"sample({names[0]}, {names[1]}{', always=true' if self.chance(0.5) else ''})"
            shape = branches[0][1].shape
        elif merge in ("add", "add3", "sample"):
            call = f"add({', '.join(names)})"
            shape = branches[0][1].shape
        elif merge == "mean":
            call = f"mean({', '.join(names)})"
            shape = branches[0][1].shape
        else:
            shapes = [b[1].shape for b in branches]
            dims = [d for d in range(len(shapes[0]))
                    if all(len(s) == len(shapes[0]) and all(
                        s[i] == shapes[0][i] for i in range(len(s)) if i != d) for s in shapes)
                    and all(isinstance(s[d], int) for s in shapes)]
            if not dims:
                call = f"add({', '.join(names)})" if all(
                    s == shapes[0] for s in shapes) else None
                shape = shapes[0]
                if call is None:
                    return self.use_up(ctx, branches, cur)
            else:
                d = self.pick(dims) if merge == "concat_dim" else dims[0]
                total = sum(s[d] for s in shapes)
                shape = tuple(total if i == d else x for i, x in enumerate(shapes[0]))
                kw = "" if d == 0 and self.chance(0.7) else f", dim={d - len(shape) if self.chance(0.3) else d}"
                call = f"{self.pick(['concat', 'cat'])}({', '.join(names)}{kw})"
        return self.bind_or_plain(ctx, self.link(ctx, call), Val(shape), p=0.6)

    def use_up(self, ctx: Ctx, branches, cur: Val) -> Val:
        """Branches that cannot merge: at the top they become outputs; else keep one."""
        for name, v, _ in branches[1:]:
            if name is not None and name != cur.name:
                self.add_output(ctx, v, training=False)
        return branches[0][1]

    def s_relu_after(self, ctx: Ctx, cur: Val):
        """An activation of a named value that is also used by something else."""
        a = self.named(ctx, cur)
        r = self.fresh_value(ctx)
        act = self.pick(["relu", "relu", "leaky_relu(0.1)", "leaky_relu(-0.2)", "silu", "elu",
                         "dropout(0.5)", "sigmoid"])
        self.emit(ctx, f"{r} = {a.name} -> {self.link(ctx, act)}")
        ctx.env[r] = Val(a.shape, r)
        other = self.pick(["add", "add_rev", "concat", "out"])
        if other == "out" and ctx.top:
            self.add_output(ctx, ctx.env[r], training=self.chance(0.3))
            return a
        if other == "concat" and a.rank in (1, 3) and isinstance(a.shape[0], int):
            return self.bind_or_plain(ctx, f"concat({a.name}, {r})",
                                      Val((a.shape[0] * 2, *a.shape[1:])), p=0.6)
        args = f"{a.name}, {r}" if other == "add" else f"{r}, {a.name}"
        return self.bind_or_plain(ctx, f"add({args})", Val(a.shape), p=0.6)

    def s_view_alias(self, ctx: Ctx, cur: Val):
        """A view of a value (flatten, narrow, identity, reshape) that lives on while the
        value is used by an add."""
        a = self.named(ctx, cur)
        if not a.concrete:
            views = ["identity", "dropout(0.0)"]
        elif a.rank == 3:
            views = ["flatten", "identity", f"narrow(0, 0, {a.shape[0]})", "reshape([-1])",
                     f"narrow(1, 0, {a.shape[1]})", "flatten(1)"]
        else:
            views = ["identity", f"narrow(0, 0, {a.shape[0]})", "flatten", "reshape([-1])",
                     "dropout(0.0)"]
        view = self.pick(views)
        vname = self.fresh_value(ctx)
        self.emit(ctx, f"{vname} = {a.name} -> {view}")
        vshape = a.shape
        if view in ("flatten", "reshape([-1])") and a.rank > 1:
            vshape = (_prod(a.shape),)
        elif view == "flatten(1)":
            vshape = (a.shape[0], a.shape[1] * a.shape[2])
        vv = Val(vshape, vname)
        ctx.env[vname] = vv
        p = self.fresh_value(ctx)
        op = self.proj(ctx, a, a.shape[0])[0] if a.rank in (1, 3) else self.keep_op(ctx, a)
        src = self.pick([a.name, a.name, vname if vshape == a.shape else a.name])
        if src == vname:
            op = self.keep_op(ctx, a)
        self.emit(ctx, f"{p} = {src} -> {op}")
        ctx.env[p] = Val(a.shape, p)
        s = self.fresh_value(ctx)
        order = [a.name, p] if self.chance(0.7) else [p, a.name]
        self.emit(ctx, f"{s} = add({', '.join(order)})")
        ctx.env[s] = Val(a.shape, s)
        if ctx.top and self.chance(0.6):
            self.add_output(ctx, vv, training=self.chance(0.3))
            return ctx.env[s]
        # consume the view: back to the value's shape and add it
        if vshape == a.shape:
            return self.bind_or_plain(ctx, f"add({s}, {vname})", Val(a.shape), p=0.6)
        if a.rank == 3:
            back = f"reshape([{', '.join(map(str, a.shape))}])"
            w = self.fresh_value(ctx)
            self.emit(ctx, f"{w} = {vname} -> {back}")
            ctx.env[w] = Val(a.shape, w)
            return self.bind_or_plain(ctx, f"add({s}, {w})", Val(a.shape), p=0.6)
        return self.bind_or_plain(ctx, f"add({s}, {vname})", Val(a.shape), p=0.6)

    def s_lists(self, ctx: Ctx, cur: Val):
        """One or two lists whose items interleave where they are applied (``convs.{i}: ...``
        and ``bns.{i}: ...``, Res2Net's layout): in a loop or written out, sometimes an item
        that is a group, reopened after the loop, with ``_: relu`` between the items."""
        if ctx.loop:
            return None
        names = [name for name in (self.label(ctx, 1.0) for _ in range(self.rng.randint(1, 2)))
                 if name is not None]
        if not names:
            return None

        def item(name: str, index: str, indent: Ctx) -> str:
            if self.chance(0.15):
                inner = ctx.child(scope=True, env={})
                ops = [self.module_op(inner, cur) for _ in range(self.rng.randint(1, 2))]
                return f"{name}.{index}: [{', '.join(self.link(inner, o) for o in ops)}]"
            return f"{name}.{index}: {self.module_op(indent, cur)}"

        n = self.rng.randint(1, 3)
        if self.chance(0.6):
            inner = ctx.child(loop=True)
            self.emit(ctx, f"for i in range({n}) {{")
            for name in names:
                self.emit(inner, item(name, "{i}", inner))
                if self.chance(0.3):
                    self.emit(inner, f"_: {self.pick(['relu', 'tanh', 'identity', 'gelu'])}")
            self.emit(ctx, "}")
        else:
            for k in range(n):  # written out; a chain may hold items of both lists
                self.emit(ctx, " -> ".join(item(name, str(k), ctx) for name in names))
        if self.chance(0.4):
            self.emit(ctx, item(names[-1], "{" + f"{n - 1} + 1" + "}" if self.chance(0.5)
                                else str(n), ctx))
        return Val(cur.shape)

    def s_group(self, ctx: Ctx, cur: Val):
        lab = self.label(ctx, 0.8)
        env = {cur.name: cur} if cur.name and self.chance(0.5) else {}
        inner = ctx.child(scope=True, env=env)
        head = f"{lab}: {{" if lab else "{"
        bind = self.fresh_value(ctx) if self.chance(0.4) else None
        self.emit(ctx, (f"{bind} = " if bind else "") + head)
        out = self.statements(inner, Val(cur.shape, cur.name if env else None),
                              self.rng.randint(1, 3))
        self.emit(ctx, "}")
        if bind:
            ctx.env[bind] = Val(out.shape, bind)
            return ctx.env[bind]
        if lab and not ctx.loop:
            ctx.env[lab] = Val(out.shape, lab)
            return ctx.env[lab]
        return Val(out.shape)

    def s_seq(self, ctx: Ctx, cur: Val):
        lab = self.label(ctx, 0.6)
        inner = ctx.child(scope=True, env={})
        ops, out = self.chain_ops(inner, cur, self.rng.randint(1, 4))
        items = ", ".join(self.link(inner, o) for o in ops)
        text = f"{lab}: [{items}]" if lab else f"[{items}]"
        if lab:
            self.emit(ctx, text)
            ctx.env[lab] = Val(out.shape, lab)
            return ctx.env[lab]
        return self.bind_or_plain(ctx, text, out)

    def branch_shapes(self, ctx: Ctx, cur: Val, n: int, same: bool):
        """Branch texts from ``cur``: same shapes (average) or same but channels (concat)."""
        width = self.rng.randint(2, 4)
        out = []
        for _ in range(n):
            w = width if same else self.rng.randint(1, 4)
            if cur.rank == 1 or (cur.rank == 3):
                op, shape = self.proj(ctx, cur, w)
                ops = [op]
                more, v = self.chain_ops(ctx, Val(shape), self.rng.randint(0, 2), keep=True)
                ops += more
            else:
                ops, v = self.chain_ops(ctx, cur, 1, keep=True)
                shape = v.shape
            out.append((ops, Val(shape)))
        return out

    def branch_text(self, ctx: Ctx, ops: list[str]) -> str:
        lab = self.label(ctx, 0.5)
        if len(ops) == 1 and self.chance(0.5):
            return f"{lab}: {ops[0]}" if lab else ops[0]
        if lab:
            inner = ctx.child(scope=True, env={})
            return f"{lab}: [{', '.join(self.link(inner, o) for o in ops)}]"
        return " -> ".join(self.link(ctx, o) for o in ops)

    def s_concat(self, ctx: Ctx, cur: Val):
        if cur.rank not in (1, 3):
            return None
        n = self.rng.randint(1, 3)
        branches = self.branch_shapes(ctx, cur, n, same=False)
        inner = ctx.child(env=dict(ctx.env))
        lab = self.label(ctx, 0.3)
        bind = self.fresh_value(ctx) if self.chance(0.4) else None
        self.emit(ctx, (f"{bind} = " if bind else "") + (f"{lab}: " if lab else "") + "concat {")
        if n == 2 and self.chance(0.3) and not ctx.loop:
            # a loop of branches
            ops = branches[0][0]
            self.emit(inner, "for i in range(2) {")
            self.emit(inner.child(loop=True), " -> ".join(ops))
            self.emit(inner, "}")
            branches = [branches[0], branches[0]]
        else:
            for ops, _ in branches:
                self.emit(inner, self.branch_text(inner, ops))
        self.emit(ctx, "}")
        shape = (sum(v.shape[0] for _, v in branches), *branches[0][1].shape[1:])
        name = bind or (lab if lab and not ctx.loop else None)
        v = Val(shape, name)
        if name:
            ctx.env[name] = v
        return v

    def s_average(self, ctx: Ctx, cur: Val):
        n = self.rng.randint(2, 3)
        branches = self.branch_shapes(ctx, cur, n, same=True)
        inner = ctx.child()
        bind = self.fresh_value(ctx) if self.chance(0.3) else None
        self.emit(ctx, (f"{bind} = " if bind else "") + "average {")
        for ops, _ in branches:
            self.emit(inner, self.branch_text(inner, ops))
        self.emit(ctx, "}")
        v = Val(branches[0][1].shape, bind)
        if bind:
            ctx.env[bind] = v
        return v

    def s_residual(self, ctx: Ctx, cur: Val):
        inner = ctx.child()
        shortcut = self.chance(0.5) and cur.rank in (1, 3)
        if shortcut:
            w = self.rng.randint(2, 5)
            op, shape = self.proj(ctx, cur, w)
            body_first = op
        else:
            shape = cur.shape
            body_first = self.keep_op(ctx, cur)
        bind = self.fresh_value(ctx) if self.chance(0.3) else None
        self.emit(ctx, (f"{bind} = " if bind else "") + "residual {")
        self.emit(inner, self.link(inner, body_first))
        self.statements(inner, Val(shape), 0)
        for _ in range(self.rng.randint(0, 2)):
            self.emit(inner, self.link(inner, self.keep_op(inner, Val(shape))))
        if shortcut:
            sname = self.label(ctx, 0.5)
            cond = ""
            if cur.rank == 3 and self.chance(0.5):
                cond = f" if in.channels != {w}"
            elif self.chance(0.3):
                cond = " if true"
            if cur.shape[0] == w and not cond:
                cond = ""
            self.emit(ctx, "} shortcut" + (f" {sname}" if sname else "") + cond + " {")
            sc = ctx.child(scope=True, env={})
            op2, _ = self.proj(sc, cur, w)
            self.emit(sc, self.link(sc, op2))
            if self.chance(0.5):
                self.emit(sc, self.link(sc, self.keep_op(sc, Val(shape))))
        self.emit(ctx, "}")
        v = Val(shape, bind)
        if bind:
            ctx.env[bind] = v
        return v

    def s_loop(self, ctx: Ctx, cur: Val):
        inner = ctx.child(loop=True)
        n = self.rng.randint(1, 3)
        kind = self.pick(["range", "list", "keep"])
        if kind == "list" and cur.rank in (1, 3):
            widths = [self.rng.randint(2, 5) for _ in range(n)]
            self.emit(ctx, f"for w in {widths} {{")
            v = cur
            for w in widths:
                v = Val(self.proj(ctx, v, w)[1])
            op = self.proj(ctx, cur, 7)[0].replace("7", "w", 1)
            self.emit(inner, op)
            if self.chance(0.5):
                self.emit(inner, self.pick(["relu", "bn", "tanh", "identity"]))
            self.emit(ctx, "}")
            return Val(v.shape)
        self.emit(ctx, f"for i in range({n}) {{")
        self.statements(inner, Val(cur.shape), 0)
        if self.chance(0.4):
            # a loop body that names values (one name per repetition's environment)
            a = self.fresh_value(inner)
            op = self.keep_op(inner, cur)
            self.emit(inner, f"{a} = {op}")
            if self.chance(0.5):
                r = self.fresh_value(inner)
                self.emit(inner, f"{r} = {a} -> relu")
                self.emit(inner, f"add({a}, {r})")
            else:
                self.emit(inner, f"{a} -> relu")
        else:
            for _ in range(self.rng.randint(1, 3)):
                self.emit(inner, self.keep_op(inner, cur))
        self.emit(ctx, "}")
        return Val(cur.shape)

    def s_carry(self, ctx: Ctx, cur: Val):
        """A loop that carries a value from one iteration to the next and collects each in a
        list (docs/language.md, "Loops that carry values"); the list is then read as a whole
        (``concat(feats)``, ``add(feats)``), by index, or by a loop over it in reverse that
        merges each element into the coarser sum, as a feature pyramid does."""
        if ctx.loop or cur.rank not in (1, 3):
            return None
        a = self.named(ctx, cur)
        h, feats = self.fresh_value(ctx), self.fresh_value(ctx)
        var = next((v for v in ("i", "j", "k", "level") if v not in ctx.env and v not in
                    ctx.params and v not in self.values), None)
        if var is None:
            self.counter += 1
            var = f"i{self.counter}"
        n, w = self.rng.randint(1, 3), self.rng.randint(2, 4)
        body = self.pick(["proj", "keep", "residual"])
        first = self.chance(0.4)
        self.emit(ctx, f"{h} = {a.name}")
        self.emit(ctx, f"{feats} = [{a.name}]" if first else f"{feats} = []")
        made = [(w + i, *a.shape[1:]) if body == "proj" else a.shape for i in range(n)]
        inner = ctx.child(loop=True)
        self.emit(ctx, f"for {var} in range({n}) {{")
        if body == "proj":
            op = f"conv2d({w} + {var}, 1)" if a.rank == 3 else f"linear({w} + {var})"
            more = [self.pick(["relu", "bn", "tanh", "identity"])] if self.chance(0.5) else []
            self.emit(inner, f"{h} = {' -> '.join([h, op, *more])}")
        elif body == "keep":
            ops = [self.keep_op(inner, Val(a.shape)) for _ in range(self.rng.randint(1, 2))]
            self.emit(inner, f"{h} = {' -> '.join([h, *ops])}")
        else:
            t = self.fresh_value(inner)
            self.emit(inner, f"{t} = {h} -> {self.keep_op(inner, Val(a.shape))}")
            self.emit(inner, f"{h} = add({h}, {t})")
        grow = self.pick(["append", "let", "prepend"])
        self.emit(inner, {"append": f"{feats} = {feats} + [{h}]",
                          "let": f"let {feats} = {feats} + [{h}]",
                          "prepend": f"{feats} = [{h}] + {feats}"}[grow])
        self.emit(ctx, "}")
        start = [a.shape] if first else []
        shapes = made[::-1] + start if grow == "prepend" else start + made
        ctx.env[h] = Val(made[-1], h)
        return self.read_list(ctx, feats, shapes, var)

    def read_list(self, ctx: Ctx, feats: str, shapes: list[tuple], var: str) -> Val:
        """Reads every element of a list of values (so none goes unused): the whole list
        merged, the last element with others, or a loop over the list in reverse."""
        same = all(s == shapes[0] for s in shapes)
        kinds = ["concat", "reverse"] + (["add", "mean", "index"] if same and
                                          len(shapes) > 1 else [])
        kind = self.pick(kinds)
        if kind in ("add", "mean"):
            return self.bind_or_plain(ctx, f"{kind}({feats})", Val(shapes[0]), p=0.6)
        if kind == "index":
            k = self.rng.randrange(len(shapes))
            k = self.pick([k, k - len(shapes)])
            return self.bind_or_plain(ctx, f"add({feats}[{k}], {feats}[-1], {feats}[0])",
                                      Val(shapes[0]), p=0.6)
        if kind == "concat":
            total = sum(s[0] for s in shapes)
            return self.bind_or_plain(ctx, f"concat({feats})", Val((total, *shapes[0][1:])),
                                      p=0.6)
        # a top-down loop: each element projected to a common width and added to the sum
        width = self.rng.randint(2, 4)
        proj = f"conv2d({width}, 1)" if len(shapes[0]) == 3 else f"linear({width})"
        top = self.fresh_value(ctx)
        self.emit(ctx, f"{top} = {feats}[-1] -> {proj}")
        inner = ctx.child(loop=True)
        # a value may be named `len` (as in Python, it hides the built-in): count instead
        count = f"len({feats})" if "len" not in self.values else str(len(shapes))
        self.emit(ctx, f"for {var} in range({count} - 2, -1, -1) {{")
        p = self.fresh_value(inner)
        self.emit(inner, f"{p} = {feats}[{var}] -> {proj}")
        self.emit(inner, f"{top} = add({p}, {top})")
        self.emit(ctx, "}")
        ctx.env[top] = Val((width, *shapes[0][1:]), top)
        return ctx.env[top]

    def s_if(self, ctx: Ctx, cur: Val):
        cond = self.pick(["true", "false", "in.rank == 3", "1 < 2", "in.shape[0] > 3"])
        inner = ctx.child()
        self.emit(ctx, f"if {cond} {{")
        ops_t = [self.keep_op(ctx, cur) for _ in range(self.rng.randint(1, 2))]
        for o in ops_t:
            self.emit(inner, self.link(inner, o))
        if self.chance(0.5):
            self.emit(ctx, "} else {")
            for o in [self.keep_op(ctx, cur)]:
                self.emit(inner, self.link(inner, o))
        self.emit(ctx, "}")
        return Val(cur.shape)

    def s_block(self, ctx: Ctx, cur: Val):
        key = (cur.shape,)
        cached = self.block_cache.get(key)
        if cached is None or self.chance(0.3):
            cached = self.define_block(cur)
            if cached is None:
                return None
            self.block_cache[key] = cached
        name, params, out_shape = cached
        args = []
        for pname, value, has_default in params:
            if has_default and self.chance(0.5):
                continue
            text = _lit(value)
            if not args and not any(a.startswith(f"{p}=") for p, *_ in params for a in args) \
                    and self.chance(0.5) and not has_default:
                args.append(text)
            else:
                args.append(f"{pname}={text}")
        # positional arguments first
        args.sort(key=lambda a: "=" in a)
        call = f"{name}({', '.join(args)})" if args or self.chance(0.5) else name
        if ctx.loop and self.chance(0.3) or self.chance(0.15) and not self.block_labels(name):
            if not args and call == name:
                call = f"{name}()"
            self.emit(ctx, f"use {call}")
            return Val(out_shape)
        lab = self.label(ctx, 0.7)
        text = f"{lab}: {call}" if lab else call
        v = self.bind_or_plain(ctx, text, Val(out_shape), p=0.3)
        if lab and v.name is None and not ctx.loop:
            ctx.env[lab] = Val(out_shape, lab)
            return ctx.env[lab]
        return v

    def s_ports(self, ctx: Ctx, cur: Val):
        """A block that declares two inputs and one to three outputs (docs/language.md):
        called with both inputs, with the chain's value as the first, by name, or with `use`;
        its outputs unpacked into names."""
        if ctx.loop or cur.rank not in (1, 3):
            return None
        a = self.named(ctx, cur)
        others = [v for v in ctx.env.values() if v.name and v.rank == a.rank and v is not a]
        b = self.pick(others) if others and self.chance(0.7) else a
        name, param, (first, second), outs, labelled = self.define_ports(a, b)
        given = [] if not param or param == "c=2" and self.chance(0.5) else ["2"]
        form = self.pick(["all", "chain", "names", "use" if not labelled else "all"])
        kw = [f"c={v}" for v in given]
        if form == "all":
            call = f"{name}({', '.join([a.name, b.name, *given])})"
        elif form == "chain":
            call = f"{a.name} -> {name}({', '.join([b.name, *kw])})"
        elif form == "names":
            call = f"{name}({', '.join([*given, f'{second}={b.name}', f'{first}={a.name}'])})"
        else:
            self.emit(ctx, f"use {name}({', '.join([a.name, b.name, *kw])})")
            for oname, shape in outs:
                ctx.env[oname] = Val(shape, oname)
            return ctx.env[outs[0][0]] if len(outs) == 1 else Val(outs[-1][1])
        lab = self.label(ctx, 0.5)
        if lab and not call.startswith(f"{a.name} ->"):
            call = f"{lab}: {call}"
        names = [self.fresh_value(ctx) for _ in outs]
        self.emit(ctx, f"{', '.join(names)} = {call}")
        for n, (_, shape) in zip(names, outs):
            ctx.env[n] = Val(shape, n)
        return ctx.env[names[-1]]

    def block_name(self) -> str:
        """A new block's name: a common one not taken yet, else a numbered one."""
        name = None
        for _ in range(5):
            cand = self.pick(BLOCKS)
            if cand not in self.block_names and cand not in self.values:
                name = cand
                break
        if name is None:
            self.counter += 1
            name = f"Block{self.counter}"
        self.block_names.add(name)
        self.values.add(name)
        return name

    def define_ports(self, a: Val, b: Val):
        """A block taking values shaped like ``a`` and ``b``: (its name, its parameter, its
        inputs' names, its outputs as (name, shape), whether it names layers)."""
        name = self.block_name()
        first, second = self.rng.sample(PORTS, 2)
        param = self.pick(["", "c", "c=2"])
        values = {"c": 2} if param else {}
        ctx = Ctx("    ", set(), {first: Val(a.shape, first), second: Val(b.shape, second)},
                  params=values, depth=1)
        saved, self.lines = self.lines, []
        if self.chance(0.5):
            self.emit(ctx, f"input {first}, {second}")
        else:
            self.emit(ctx, f"input {first}")
            self.emit(ctx, f"input {second}")
        h = self.statements(ctx, ctx.env[first], self.rng.randint(1, 2))
        h = self.named(ctx, h)
        outs = [(self.fresh_value(ctx), h.shape)]
        if h.rank == 3 and b.rank == 3:  # the second input, resized and projected, added
            side = second
            if b.shape[1:] != h.shape[1:]:
                side = self.fresh_value(ctx)
                self.emit(ctx, f"{side} = interpolate({second}, {h.name})")
            proj = self.fresh_value(ctx)
            self.emit(ctx, f"{proj} = {side} -> conv2d({h.shape[0]}, 1)")
            self.emit(ctx, f"output {outs[0][0]} = add({h.name}, {proj})")
        elif h.rank == 1 and h.concrete and b.concrete:
            proj = self.fresh_value(ctx)
            flat = " -> flatten" if b.rank != 1 else ""
            self.emit(ctx, f"{proj} = {second}{flat} -> linear({h.shape[0]})")
            self.emit(ctx, f"output {outs[0][0]} = add({h.name}, {proj})")
        else:  # the second input is given back, through a layer
            self.emit(ctx, f"output {outs[0][0]} = {h.name}")
            outs.append((self.fresh_value(ctx), b.shape))
            self.emit(ctx, f"output {outs[-1][0]} = {second} -> {self.keep_op(ctx, b)}")
        if self.chance(0.5):
            outs.append((self.fresh_value(ctx), a.shape))
            self.emit(ctx, f"output {outs[-1][0]} = {first} -> {self.keep_op(ctx, a)}")
        if self.chance(0.3):
            outs.append((self.fresh_value(ctx), b.shape))
            self.emit(ctx, f"output {outs[-1][0]} = {second}")  # an input given back
        body, self.lines = self.lines, saved
        head = f"block {name}({param})" if param or self.chance(0.5) else f"block {name}"
        self.blocks.append("\n".join([head + " {", *body, "}"]))
        return name, param, (first, second), outs, bool(ctx.labels)

    def block_labels(self, name: str) -> bool:
        return self.block_has_labels.get(name, True)

    def define_block(self, cur: Val):
        name = self.block_name()
        params = []
        pnames = self.rng.sample(PARAMS, self.rng.randint(0, 3))
        values = {}
        for pn in pnames:
            value = self.pick([2, 3, 4, True, False]) if pn in ("flag", "act") else \
                self.rng.randint(2, 5)
            values[pn] = value
            params.append((pn, value, self.chance(0.5)))
        # parameters with defaults come last
        params.sort(key=lambda p: p[2])
        saved = self.lines
        self.lines = []
        ctx = Ctx("    ", set(), {}, params=values, depth=1)
        n_labels = len(self.values)
        out = self.statements(ctx, Val(cur.shape), self.rng.randint(1, 3))
        for pn, value in values.items():
            if isinstance(value, bool):
                self.emit(ctx, f"if {pn} {{ {self.keep_op(ctx, out)} }}")
        self.block_has_labels[name] = bool(ctx.labels) or len(self.values) != n_labels
        body = self.lines
        self.lines = saved
        sig = ", ".join(pn + (f"={_lit(v)}" if d else "") for pn, v, d in params)
        head = f"block {name}({sig})" if params or self.chance(0.5) else f"block {name}"
        self.blocks.append("\n".join([head + " {", *body, "}"]))
        return name, params, out.shape

    def s_side_output(self, ctx: Ctx, cur: Val):
        v = self.named(ctx, cur)
        ops, out = self.chain_ops(ctx, v, self.rng.randint(1, 2))
        self.add_output(ctx, Val(out.shape), training=False,
                        chain=" -> ".join([v.name, *(self.link(ctx, o) for o in ops)]))
        return v

    def s_training_output(self, ctx: Ctx, cur: Val):
        v = self.named(ctx, cur)
        ops, out = self.chain_ops(ctx, v, self.rng.randint(0, 2))
        if not ops:
            self.add_output(ctx, v, training=True)
            return v
        lab = self.label(ctx, 0.3)
        if lab:
            chain = f"{v.name} -> {lab}: [{', '.join(ops)}]"
        else:
            chain = " -> ".join([v.name, *(self.link(ctx, o) for o in ops)])
        self.add_output(ctx, Val(out.shape), training=True, chain=chain)
        return v

    def s_reuse(self, ctx: Ctx, cur: Val):
        """A merge of the current value with an earlier value of the same shape."""
        same = [v for v in ctx.env.values() if v.shape == cur.shape and v.name]
        if not same:
            return None
        a = self.named(ctx, cur)
        b = self.pick(same)
        return self.bind_or_plain(ctx, f"{self.pick(['add', 'mean'])}({a.name}, {b.name})",
                                  Val(cur.shape), p=0.5)

    def add_output(self, ctx: Ctx, v: Val, training: bool, chain: str | None = None) -> None:
        name = None
        for _ in range(5):
            cand = self.pick(OUTPUTS)
            if cand not in self.out_names and cand not in self.values and cand not in ctx.env \
                    and cand not in self.block_names:
                name = cand
                break
        if name is None:
            self.counter += 1
            name = f"o{self.counter}"
        self.out_names.add(name)
        self.values.add(name)
        prefix = "training output" if training else "output"
        if chain is None:
            if v.name is None:
                return
            if self.chance(0.5) and not training:
                # `output NAME` of an existing value: the name must be the value's
                self.emit(ctx, f"output {v.name}")
                self.outputs.append((v.name, training))
                self.out_names.add(v.name)
                return
            chain = f"{v.name} -> identity" if self.chance(0.3) else v.name
        self.emit(ctx, f"{prefix} {name} = {chain}")
        self.outputs.append((name, training))

    # -- the whole spec ------------------------------------------------------------------------
    def generate(self) -> tuple[str, str]:
        rng = self.rng
        net = self.pick(NETWORKS)
        self.block_names.add(net)
        nparams = {}
        if self.chance(0.4):
            for pn in rng.sample(PARAMS, rng.randint(1, 2)):
                nparams[pn] = rng.randint(2, 5)
        ctx = Ctx("    ", set(), {}, top=True, params=nparams)
        self.values |= set(nparams)
        n_inputs = 1 if self.chance(0.75) else 2
        inputs = []
        for _ in range(n_inputs):
            for _ in range(5):
                name = self.pick(INPUTS)
                if name not in self.values:
                    break
            else:
                self.counter += 1
                name = f"in{self.counter}"
            self.values.add(name)
            if self.symbolic:
                shape = (rng.randint(2, 4), "H", "W" if self.chance(0.6) else "H")
                dims = f"[{shape[0]}, {shape[1]}, {shape[2]}]"
            else:
                shape = self.pick([(3, 6, 6), (2, 5, 5), (4, 4, 4), (3, 4, 6), (5,), (6,),
                                   (4,), (3, 8), (1, 3, 3), (2, 7, 7)])
                dims = "[" + ", ".join(str(d) for d in shape) + "]"
            self.emit(ctx, f"input {name}: {dims}")
            v = Val(shape, name)
            ctx.env[name] = v
            inputs.append(v)
        cur = self.statements(ctx, inputs[0], rng.randint(2, 7))
        if n_inputs == 2:
            other = inputs[1]
            ops, out = self.chain_ops(ctx, other, rng.randint(1, 2))
            self.add_output(ctx, out, training=False,
                            chain=" -> ".join([other.name, *(self.link(ctx, o) for o in ops)]))
        # the current value is the main output
        if cur.name and self.chance(0.4):
            self.emit(ctx, f"output {cur.name}")
            self.outputs.append((cur.name, False))
        else:
            name = None
            for _ in range(5):
                cand = self.pick(OUTPUTS)
                if cand not in self.out_names and cand not in self.values and \
                        cand not in ctx.env and cand not in self.block_names:
                    name = cand
                    break
            if name is None:
                name = "final_"
            self.emit(ctx, f"output {name}")
            self.outputs.append((name, False))
        # named values nothing reads become outputs (an unused value is an error)
        text_so_far = "\n".join(self.lines)
        for vname, v in list(ctx.env.items()):
            if v.name and _uses(text_so_far, vname) <= 1 and vname not in \
                    {o for o, _ in self.outputs} and vname not in (i.name for i in inputs):
                self.emit(ctx, f"output {vname}")
                self.outputs.append((vname, False))
        names = [o for o, _ in self.outputs]
        if len(names) > 1 and self.chance(0.3) and len(set(names)) == len(names):
            order = names[:]
            rng.shuffle(order)
            self.emit(ctx, f"output {', '.join(order)}")
        sig = ", ".join(f"{k}={v}" for k, v in nparams.items())
        head = f"network {net}({sig})" if nparams or self.chance(0.3) else f"network {net}"
        body = "\n".join([head + " {", *self.lines, "}"])
        return "\n\n".join([*self.blocks, body]) + "\n", net


def _op_of(text: str):
    from archlang.ops.registry import lookup

    return lookup(text.partition("(")[0].strip())


def _functional(text: str) -> bool:
    """Whether the op written in ``text`` may take no name (``_: relu``): it holds nothing."""
    op = _op_of(text)
    return op is not None and not (op.stateful or op.held)


def _module(text: str) -> bool:
    """Whether the op written in ``text`` is a module of its scope (a list may hold it)."""
    from archlang.graph.layers import registered

    op = _op_of(text)
    return op is not None and registered(op)


def _lit(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _uses(text: str, name: str) -> int:
    import re

    return len(re.findall(rf"(?<![\w.]){re.escape(name)}(?![\w])", text))


def generate(seed: int, symbolic: bool | None = None) -> tuple[str, str]:
    """The spec of one seed: ``(text, network name)``."""
    return SpecGen(random.Random(seed), symbolic).generate()


# -- the property ------------------------------------------------------------------------------

@dataclass
class Outcome:
    """One spec through the property: ``accepted`` by check, ``problem`` if it failed."""

    text: str
    network: str | None
    accepted: bool = False
    problem: str | None = None
    source: str | None = None  # the generated source (in-place build), for the lint step
    codes: list[str] = field(default_factory=list)  # check's error codes when rejected


def _load(source: str, class_name: str):
    """The class of a generated source, in a throwaway module (nothing cached)."""
    import types

    filename = f"<archlang soundness {id(source)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType("archlang_soundness_case")
    module.__file__ = filename
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - generated
    finally:
        linecache.cache.pop(filename, None)
    return getattr(module, class_name)


def _same(p, q) -> bool:
    """Bit-equal, NaN where the other is NaN (both builds overflow alike: `exp` in `sample`)."""
    import torch

    return torch.equal(p.isnan(), q.isnan()) and torch.equal(torch.nan_to_num(p),
                                                             torch.nan_to_num(q))


def check_property(text: str, network: str | None = None, batch: int = 2) -> Outcome:
    """Runs one spec through the property (everything but the lint step)."""
    import torch

    import archlang
    from archlang.analysis import dims as D
    from archlang.backends.pytorch import Generator
    from archlang.codecheck import unsafe_code

    out = Outcome(text, network)
    try:
        result = archlang.check(text, network)
    except archlang.ArchError as e:
        out.codes = e.codes
        return out
    except Exception as e:  # noqa: BLE001 - a crash of check is a finding too
        out.problem = f"check raised {type(e).__name__}: {e}"
        return out
    out.accepted = True
    graph = result.graph
    env = dict(result.totals.smallest_input)
    missing = [s for s in graph.constraints if s not in env]
    if missing:
        out.problem = f"check accepted a network no input size satisfies ({missing})"
        return out

    def concrete(shape):
        return tuple(D.evaluate(d, env) if not isinstance(d, int) else d for d in shape)

    step = "generate"
    try:
        fast_gen = Generator(graph, True)
        source = fast_gen.generate()
        out.source = source
        ref_gen = Generator(graph, False, spec_names=False)  # nothing in place, own names
        ref_source = ref_gen.generate()
        step = "validate"
        problem = unsafe_code(source)
        if problem:
            out.problem = f"generated code: {problem}"
            return out
        step = "load"
        Fast = _load(source, fast_gen.class_name)
        Ref = _load(ref_source, ref_gen.class_name)
        torch.manual_seed(0)
        fast = Fast()
        ref = Ref()
        ref.load_state_dict(fast.state_dict())
        n_params = sum(p.numel() for p in fast.parameters())
        if n_params != result.params:
            out.problem = f"{n_params} parameters, check counted {result.params}"
            return out
        shapes = [concrete(graph.nodes[i].shape) for i in graph.inputs.values()]
        gen = torch.Generator().manual_seed(2)
        xs = [torch.randn(batch, *s, generator=gen) for s in shapes]
        expect = {o.name: concrete(result.outputs[o.name]) for o in graph.outputs}
        for mode in ("eval", "train"):
            step = f"{mode} forward"
            training = mode == "train"
            fast.train(training)
            ref.train(training)
            names = [o.name for o in graph.outputs if training or not o.training]
            ins = [x.clone().requires_grad_(training) for x in xs]
            ref_ins = [x.clone().requires_grad_(training) for x in xs]
            torch.manual_seed(1)
            a = fast(*ins)
            for x, x0 in zip(ins, xs):
                if not torch.equal(x, x0):
                    out.problem = f"{mode} forward changed its input"
                    return out
            torch.manual_seed(1)
            b = ref(*ref_ins)
            for got, what in ((a, "build"), (b, "out-of-place build")):
                if len(names) == 1:
                    if not isinstance(got, torch.Tensor):
                        out.problem = f"{mode}: the {what} returned {type(got).__name__}, " \
                                      "not a tensor"
                        return out
                elif not (isinstance(got, tuple) and list(getattr(got, "_fields", ())) == names):
                    out.problem = f"{mode}: the {what} returned " \
                                  f"{getattr(got, '_fields', type(got).__name__)}, not {names}"
                    return out
            a_list = [a] if len(names) == 1 else list(a)
            b_list = [b] if len(names) == 1 else list(b)
            for name, p, q in zip(names, a_list, b_list):
                want = (batch, *expect[name])
                if tuple(p.shape) != want:
                    out.problem = f"{mode}: output {name} has shape {tuple(p.shape)}, check " \
                                  f"says {want}"
                    return out
                if not _same(p, q):
                    diff = (p - q).abs().max().item()
                    out.problem = f"{mode}: output {name} differs from the out-of-place " \
                                  f"build (max abs diff {diff:g})"
                    return out
            if training:
                step = "backward"
                sum(t.float().square().sum() for t in a_list).backward()
                sum(t.float().square().sum() for t in b_list).backward()
                for (pname, p), q in zip(fast.named_parameters(), ref.parameters()):
                    if (p.grad is None) != (q.grad is None) or (
                            p.grad is not None and not _same(p.grad, q.grad)):
                        out.problem = f"gradient of {pname} differs from the out-of-place build"
                        return out
                for name, p, q in zip(graph.inputs, ins, ref_ins):
                    if (p.grad is None) != (q.grad is None) or (
                            p.grad is not None and not _same(p.grad, q.grad)):
                        out.problem = f"gradient of input {name} differs from the out-of-place " \
                                      "build"
                        return out
                for (bname, p), q in zip(fast.named_buffers(), ref.buffers()):
                    if not _same(p, q):
                        out.problem = f"buffer {bname} differs from the out-of-place build"
                        return out
    except Exception as e:  # noqa: BLE001 - that is what we look for
        msg = str(e).strip().splitlines()
        out.problem = f"{step} failed: {type(e).__name__}: {msg[0][:300] if msg else ''}"
    return out


def ruff_exe() -> list[str] | None:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    return [exe] if Path(exe).exists() else None


def lint(sources: list[str]) -> dict[int, str]:
    """``ruff check`` over several generated sources at once: index → ruff's complaint."""
    exe = ruff_exe()
    if exe is None or not sources:
        return {}
    bad: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, src in enumerate(sources):
            Path(tmp, f"case_{k}.py").write_text(src)
        proc = subprocess.run([*exe, "check", "--no-cache", "--isolated",
                               "--output-format", "concise", "."], cwd=tmp, capture_output=True,
                              text=True, check=False)
        for line in proc.stdout.splitlines():
            head = line.split(":", 1)[0].removeprefix("./")
            if head.startswith("case_") and head.endswith(".py"):
                k = int(head[5:-3])
                bad.setdefault(k, f"ruff check: {line.split(':', 3)[-1].strip()}")
    return bad


def run_cases(seeds, lint_every: int = 200, deadline: float | None = None,
              on_failure=None) -> tuple[list[Outcome], int, int]:
    """Generated specs of these seeds through the property, until ``deadline`` (a
    ``time.monotonic()`` value) if given: (failures, cases run, cases check accepted).
    ``on_failure(outcome)`` is called for each failure as it is found."""
    import torch

    failures: list[Outcome] = []
    pending: list[Outcome] = []
    count = accepted = 0

    def fail(o: Outcome) -> None:
        failures.append(o)
        if on_failure is not None:
            on_failure(o)

    def flush():
        found = lint([o.source for o in pending])
        for k, problem in sorted(found.items()):
            pending[k].problem = problem
            fail(pending[k])
        pending.clear()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    try:
        for seed in seeds:
            if deadline is not None and time.monotonic() > deadline:
                break
            text, net = generate(seed)
            o = check_property(text, net)
            count += 1
            accepted += o.accepted
            if o.problem:
                fail(o)
            elif o.source is not None:
                pending.append(o)
                if len(pending) >= lint_every:
                    flush()
        flush()
    finally:
        torch.set_num_threads(threads)
    return failures, count, accepted


def main(seconds: float, seed: int, out_dir: Path = Path(".")) -> int:
    """``python -m archlang.fuzz --soundness``: generated specs through the property for
    ``seconds``; each failing spec is written to ``soundness-failure-SEED-K.arch``."""
    import itertools

    start = time.monotonic()
    written = []
    if ruff_exe() is None:
        print("ruff not found: the lint step is skipped", file=sys.stderr)

    def report(o: Outcome) -> None:
        path = out_dir / f"soundness-failure-{seed}-{len(written) + 1}.arch"
        written.append(path)
        path.write_text("".join(f"# {line}\n" for line in o.problem.splitlines()) + o.text)
        print(f"FAIL {path}: {o.problem}", file=sys.stderr)

    failures, count, accepted = run_cases(itertools.count(seed * 1_000_000),
                                          deadline=start + seconds, on_failure=report)
    took = time.monotonic() - start
    print(f"{count} cases ({accepted} accepted by check), {len(failures)} failures, "
          f"{took:.0f} s (seed {seed})")
    return 1 if failures else 0
