"""Training memory at a batch size and dtype: parameters, gradients, optimizer state, and the
activations autograd saves for the backward pass.

What each op's backward keeps is a fact about the op (``Op.saved``: conv keeps its input,
ReLU its output, batchnorm its input and per-channel statistics, max pooling its input and
the argmax indices, dropout its mask, add and concat nothing). Tensors are counted once per
storage, as PyTorch holds them: a view (``flatten``, ``narrow``, ``Op.view``) shares its
input's storage, and so does an op that the generated module runs in place (the rule the
generated code follows too: :mod:`archlang.graph.inplace`). So ``conv -> relu_ -> conv``
keeps one tensor: the ReLU's result, which the next conv keeps as its input too. Every
layer runs, training-only ones included, because the module is training.

The figure is the bytes of the tensors themselves: no allocator rounding, no CUDA context or
convolution workspace, no gradient buffers of activations during the backward pass.
Parameters, gradients and optimizer state are all in ``dtype`` (pure, not mixed, precision).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archlang.analysis import dims as D
from archlang.analysis.dims import Count
from archlang.graph.inplace import InPlace
from archlang.graph.model import Graph

#: bytes per element, by dtype (torch's names)
DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
#: other spellings people use
DTYPE_ALIASES = {"fp32": "float32", "f32": "float32", "float": "float32", "fp16": "float16",
                 "f16": "float16", "half": "float16", "bf16": "bfloat16", "fp64": "float64",
                 "f64": "float64", "double": "float64"}
#: state tensors of the parameters' size an optimizer keeps: momentum buffer; Adam's two
#: moments (exp_avg, exp_avg_sq)
OPTIMIZERS = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}
DEVICES = ("cuda", "cpu")


@dataclass(frozen=True)
class Training:
    """The training setup memory is counted for."""

    batch: int = 1
    dtype: str = "float32"
    optimizer: str = "sgd"
    #: dropout keeps its mask as a 1-byte tensor on CUDA (native_dropout) and in the dtype on
    #: the CPU (a composite of bernoulli_ and mul)
    device: str = "cuda"

    def __post_init__(self):
        object.__setattr__(self, "dtype", dtype_name(self.dtype))
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"batch must be a positive int, got {self.batch!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of "
                             f"{', '.join(OPTIMIZERS)}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; use one of {', '.join(DEVICES)}")

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype]

    def bytes_of(self, kind: str) -> int:
        """Bytes per element of a saved tensor of this kind (see ``ops.base.Extra``)."""
        if kind == "index":
            return 8
        if kind == "mask":
            return 1 if self.device == "cuda" else self.itemsize
        if kind == "stats":
            return max(4, self.itemsize)
        return self.itemsize


def dtype_name(name: str) -> str:
    name = DTYPE_ALIASES.get(name, name)
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)} (or "
                         f"{', '.join(DTYPE_ALIASES)})")
    return name


@dataclass
class TrainingMemory:
    """Bytes of one training step's tensors. ``saved`` is by node name: the storages that
    node's backward is first to keep."""

    setup: Training
    params: int
    buffers: int
    grads: int
    optimizer_state: int
    activations: Count
    saved: dict[str, Count] = field(default_factory=dict)

    @property
    def total(self) -> Count:
        fixed = self.params + self.buffers + self.grads + self.optimizer_state
        return D.plus(self.activations, fixed)

    def to_dict(self) -> dict:
        def num(c: Count):
            return c if isinstance(c, int) else str(c)

        s = self.setup
        return {"batch": s.batch, "dtype": s.dtype, "optimizer": s.optimizer,
                "device": s.device, "params_bytes": self.params,
                "buffers_bytes": self.buffers, "grads_bytes": self.grads,
                "optimizer_bytes": self.optimizer_state,
                "saved_activations_bytes": num(self.activations), "total_bytes": num(self.total)}


def training_memory(g: Graph, setup: Training | None = None) -> TrainingMemory:
    setup = setup or Training()
    size = setup.itemsize
    params = sum(n.params for n in g.nodes)
    buffers = sum(n.buffers for n in g.nodes)
    saved = saved_bytes(g, setup)
    total: Count = 0
    for c in saved.values():
        total = D.plus(total, c)
    return TrainingMemory(setup, params * size, buffers * size, params * size,
                          OPTIMIZERS[setup.optimizer] * params * size, total, saved)


def saved_bytes(g: Graph, setup: Training) -> dict[str, Count]:
    """Bytes each node's backward keeps that no earlier node kept (by node name)."""
    inplace = inplace_nodes(g)
    root: dict[int, int] = {}  # node id -> the node whose tensor's storage it uses
    kept: set[int] = set()
    out: dict[str, Count] = {}
    for n in g.nodes:
        if n.shape is None:
            continue
        op = n.impl
        root[n.id] = root[n.inputs[0]] if n.inputs and (op.view or n.id in inplace) else n.id
        if n.is_input:
            continue
        ins = [g.nodes[i].shape for i in n.inputs]
        s = op.saved(n.attrs, ins, n.shape, n.id in inplace)
        tensors = [n.inputs[i] for i in s.inputs] + ([n.id] if s.output else [])
        mine: Count = 0
        for t in tensors:
            r = root[t]
            if r not in kept:
                kept.add(r)
                elements = D.product(g.nodes[r].shape)
                mine = D.plus(mine, D.times(elements, setup.batch * setup.itemsize))
        for e in s.extra:
            scale = setup.bytes_of(e.kind) * (setup.batch if e.per_sample else 1)
            mine = D.plus(mine, D.times(e.elements, scale))
        if mine != 0:
            out[n.name] = mine
    return out


def inplace_nodes(g: Graph) -> set[int]:
    """The nodes the generated module runs in place on their input (ReLU-like ops), by the
    rule the generated code follows. In-place merges (``+=``) are left out: the tensor they
    overwrite is never one a backward keeps, so they change no count."""
    flow = InPlace(g)
    return {n.id for n in g.nodes
            if n.shape is not None and n.impl.can_inplace
            and flow.relu_inplace(n, g.scopes[n.scope])}
