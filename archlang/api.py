"""The API edge: run the pipeline, turn error diagnostics into :class:`ArchError`.

Never imports torch (``archlang.load`` lives in :mod:`archlang.loader`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from archlang.analysis import dims as D
from archlang.analysis.report import Totals, totals
from archlang.diagnostics import ArchError, Diagnostic
from archlang.graph.expand import expand
from archlang.graph.inits import apply_inits
from archlang.graph.model import Graph
from archlang.graph.solve import solve
from archlang.graph.state import Options, Run
from archlang.graph.verify import verify
from archlang.limits import Limits
from archlang.program import load, no_cyclic_gc


@dataclass
class CheckResult:
    """A checked network: its graph (per-node shapes, params, MACs) and the totals."""

    graph: Graph
    totals: Totals
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def network(self) -> str:
        return self.graph.network

    @property
    def params(self) -> int:
        return self.totals.params

    @property
    def macs(self):
        return self.totals.macs

    @property
    def outputs(self) -> dict[str, tuple]:
        return self.totals.outputs

    def shape(self, layer: str) -> tuple:
        """Output shape of a layer by its dotted module path (e.g. ``"layer1.0.conv1"``).

        An unknown name raises :class:`UnknownLayer` (a ``KeyError``) that suggests near names.
        """
        names: list[str] = []
        for n in self.graph.nodes:
            if n.name == layer:
                return n.shape
            names.append(n.name)
        for s in self.graph.scopes[1:]:
            path = ".".join(s.path)
            if path == layer and s.output is not None:
                return self.graph.nodes[s.output].shape
            names.append(path)
        raise UnknownLayer(layer, self.network, names)

    def __repr__(self) -> str:
        t = self.totals
        lines = [f"<CheckResult network={self.network!r}",
                 f"  params={t.params:,} MACs={D.fmt_count(t.macs)}"]
        for k, v in t.outputs.items():
            lines.append(f"  output {k}: {D.fmt_shape(v)}"
                         + (" (training)" if k in t.training_outputs else ""))
        return "\n".join(lines) + ">"

    def verdict(self) -> str:
        t = self.totals
        outs = ", ".join(f"{k}: {D.fmt_shape(v)}" + (" (training)" if k in t.training_outputs
                                                     else "") for k, v in t.outputs.items())
        text = f"ok: {self.network}: {t.params:,} params, {D.fmt_count(t.macs)} MACs; {outs}"
        if t.constraints:
            text += "; input: " + ", ".join(t.constraints.values())
        return text

    def summary(self, depth: int = 2, format: str = "table") -> str:
        from archlang.backends.summary import render

        return render(self, depth=depth, format=format)

    def receptive_fields(self) -> dict:
        """Each layer's receptive field by name: a tuple of per-axis fields (size, stride,
        start, centre), or ``None`` for the whole input (archlang/analysis/receptive.py)."""
        from archlang.analysis.receptive import fields

        f = fields(self.graph)
        return {n.name: f[n.id] for n in self.graph.nodes if not n.is_input}

    def training_memory(self, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
                        device: str = "cuda"):
        """Bytes of parameters, gradients, optimizer state and the activations autograd saves
        for backward, at this batch size and dtype (archlang/analysis/memory.py)."""
        from archlang.analysis.memory import Training, training_memory

        return training_memory(self.graph, Training(batch, dtype, optimizer, device))

    def diagram(self, depth: int | None = None, direction: str = "TB"):
        from archlang.backends.graphviz import Diagram

        return Diagram(self.graph, depth=depth, direction=direction)


class UnknownLayer(KeyError):
    """``CheckResult.shape`` of a name that is no layer of the network."""

    def __init__(self, layer: str, network: str, names: list[str]):
        from archlang.diagnostics import did_you_mean

        hint = did_you_mean(layer, names)
        self.message = (f"network `{network}` has no layer `{layer}`"
                        + (f"; {hint[0]}" if hint else "; layer names are dotted module "
                           "paths such as `layer1.0.conv1`"))
        super().__init__(layer)

    def __str__(self) -> str:
        return self.message


#: The pipeline: each pass is one module's entry function, taking the shared
#: :class:`~archlang.graph.state.Run`; a pass may end the run (``run.done``).
PASSES = (load, expand, solve, verify, apply_inits)


def run(path_or_text: str | os.PathLike, network: str | None = None, *,
        inputs: dict[str, tuple[int, ...]] | tuple[int, ...] | None = None,
        limits: Limits | None = None, params: dict[str, Any] | None = None
        ) -> tuple[Graph | None, list[Diagnostic]]:
    """Parse, load imports, expand and verify: the graph (possibly partial) and all
    diagnostics."""
    check_argument_types(path_or_text, network, inputs, limits)
    limits = limits or Limits()
    if isinstance(path_or_text, str) and path_or_text.startswith("zoo:"):
        from archlang.models import is_zoo, resolve  # the zoo's module: only for zoo:NAME

        if is_zoo(path_or_text):
            try:
                path_or_text, network = resolve(path_or_text, network)
            except ArchError as e:
                return None, e.diagnostics
    if isinstance(inputs, (tuple, list)):
        inputs = {"": tuple(inputs)}
    option_errors = validate_options(params or {}, inputs or {}, limits)
    if option_errors:
        return None, option_errors
    state = Run(path_or_text, Options(network, params, inputs), limits)
    with no_cyclic_gc():
        run_passes(state)
    return state.graph, state.rep.diagnostics


def run_passes(state: Run, passes=PASSES) -> Run:
    """Run ``passes`` in order on ``state`` until one ends the run (``state.done``);
    ``PASSES[1:]`` runs the checker on a program already loaded into ``state.prog``."""
    for step in passes:
        step(state)
        if state.done:
            break
    return state


def check_argument_types(spec, network, inputs, limits) -> None:
    """Python-side arguments of the wrong type are a TypeError that says what is expected."""
    if not isinstance(spec, (str, os.PathLike)) or isinstance(os.fspath(spec), bytes):
        raise TypeError("the spec must be a path (str or os.PathLike) or the spec text, "
                        f"got {type(spec).__name__}")
    if network is not None and not isinstance(network, str):
        raise TypeError(f"network must be a network's name (str) or None, got "
                        f"{type(network).__name__}")
    if inputs is not None and not isinstance(inputs, (dict, tuple, list)):
        raise TypeError("inputs must be a shape such as (3, 224, 224), or a dict of shapes by "
                        f"input name, got {type(inputs).__name__}")
    if isinstance(inputs, dict) and not all(isinstance(k, str) for k in inputs):
        raise TypeError("the keys of inputs must be input names (str)")
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(f"limits must be an archlang.Limits, got {type(limits).__name__}")


def validate_options(params: dict[str, Any], inputs: dict[str, tuple], limits: Limits
                     ) -> list[Diagnostic]:
    """Python-side arguments obey the same rules as spec values (types, 64-bit sizes)."""
    from archlang.diagnostics import Reporter, SpecError
    from archlang.graph.values import Evaluator

    rep = Reporter()
    ev = Evaluator(limits.max_repeat)

    def ok(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return len(value) <= limits.max_repeat and all(ok(v) for v in value)
        if isinstance(value, (bool, str)):
            return True
        if isinstance(value, (int, float)):
            try:
                ev.check_int(value, None)
            except SpecError:
                return False
            return True
        return False

    for name, value in params.items():
        if not ok(value):
            rep.error("E061", f"invalid value for `{name}`: {value!r}", None,
                      help=[("values are ints (64-bit), floats, bools, strings, and lists or "
                             "tuples of them")])
    for name, shape in inputs.items():
        if not (isinstance(shape, tuple) and shape and all(
                isinstance(d, int) and not isinstance(d, bool) and 0 < d < 1 << 31
                for d in shape)):
            where = f" for `{name}`" if name else ""
            rep.error("E061", f"invalid input shape{where}: {shape!r}", None,
                      help=["give positive sizes without the batch, e.g. (3, 224, 224)"])
    return rep.diagnostics


def check(path_or_text: str | os.PathLike, network: str | None = None, *,
          inputs: dict[str, tuple[int, ...]] | tuple[int, ...] | None = None,
          limits: Limits | None = None, **params: Any) -> CheckResult:
    """Check a spec (a path or the text itself) statically; no forward pass, no torch.

    Keyword arguments set the network's parameters (``num_classes=10``) or give symbolic
    input sizes a value (``H=224``). Raises :class:`ArchError` with every diagnostic.
    """
    graph, diags = run(path_or_text, network, inputs=inputs, limits=limits, params=params)
    if graph is None or any(d.severity == "error" for d in diags):
        err = ArchError(diags)
        err.graph = graph
        raise err
    return CheckResult(graph, totals(graph), diags)
