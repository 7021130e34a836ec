"""Receptive fields: which input pixels each unit of each layer can see, exactly.

Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks"
(Distill 2019). Along one spatial axis, a layer whose units read the window ``(k, s, p, d)``
of its input (:class:`archlang.ops.base.Window`, given by each op's ``window``) maps its
input's field ``(r, j, start)`` to::

    r'     = r + d*(k-1) * j     the field's size, in input pixels
    j'     = j * s               the effective stride: input pixels between neighbour units
    start' = start - p * j       the first input pixel unit 0 sees (negative: padding)

Unit ``u`` of a layer sees input pixels ``start + u*j`` to ``start + u*j + r - 1``, centred
on ``start + u*j + (r-1)/2`` (the centre offset is that centre for ``u = 0``). A layer with
several inputs (``add``, ``concat``, ``average``) sees the union of its paths' fields: the
smallest start and the largest end (the maximum over paths; when the paths' strides differ,
which a shape rule rarely lets through, this is the union for unit 0 and the larger stride).

A unit that may read its whole input (global pooling, ``linear``, ``flatten``, adaptive
pooling whose output size does not divide its input size, a strided ``conv_transpose2d``,
an input broadcast over the output) sees the whole input: its field is ``None``, shown as
``all``. Layers on flat features from a flat input have no spatial axis: ``()``.

Fields depend on the windows only, never on the input size: a symbolic input has the same,
concrete, fields (only adaptive pooling needs a concrete size). With several network inputs,
each field is in the coordinates of whichever input reaches it.

>>> from archlang import check
>>> r = check("network n {\\n input x: [3, 32, 32]\\n conv2d(8, 3, padding=1)\\n"
...           " maxpool2d(2)\\n conv2d(8, 3, dilation=2)\\n output y\\n}")
>>> [str(f[0]) for f in fields(r.graph).values()][1:]   # size /stride @centre
['3 /1 @0', '4 /2 @0.5', '12 /2 @4.5']
"""

from __future__ import annotations

from dataclasses import dataclass

from archlang.graph.model import Graph


@dataclass(frozen=True)
class Axis:
    """The field along one spatial axis: ``size`` pixels, ``stride`` pixels between
    neighbour units, unit 0 starting at pixel ``start``."""

    size: int
    stride: int
    start: int

    @property
    def centre(self) -> float:
        """The input coordinate of unit 0's centre (a half pixel when ``size`` is even)."""
        return self.start + (self.size - 1) / 2

    def end(self) -> int:
        return self.start + self.size - 1

    def seen(self, u: int, n: int) -> tuple[int, int]:
        """The pixels unit ``u`` sees in an input of ``n`` pixels (clipped to it)."""
        lo = self.start + u * self.stride
        return max(lo, 0), min(lo + self.size - 1, n - 1)

    def __str__(self) -> str:
        return f"{self.size} /{self.stride} @{number(self.centre)}"


#: A layer's field: one :class:`Axis` per spatial axis, or ``None`` (the whole input).
Field = tuple[Axis, ...] | None


def number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def fields(g: Graph) -> dict[int, Field]:
    """The receptive field of every node's output, by node id, in one walk in node order."""
    out: dict[int, Field] = {}
    for n in g.nodes:
        if n.shape is None:
            out[n.id] = None
        elif n.is_input:
            out[n.id] = tuple(Axis(1, 1, 0) for _ in spatial(n.shape))
        else:
            ins = [g.nodes[i].shape for i in n.inputs]
            windows = n.impl.window(n.attrs, ins)
            paths = [through(out[i], windows, g.nodes[i].shape, n.shape) for i in n.inputs]
            out[n.id] = union(paths)
    return out


def spatial(shape: tuple) -> tuple:
    return tuple(shape[1:]) if len(shape) >= 2 else ()


def through(f: Field, windows, in_shape: tuple, out_shape: tuple) -> Field:
    """An input's field seen through the op's windows (``None`` when any is unknown)."""
    if f is None or windows is None or not len(windows) == len(f) == len(spatial(out_shape)):
        return None
    if any(a == 1 and b != 1 for a, b in zip(spatial(in_shape), spatial(out_shape))):
        return None  # broadcast: every output unit reads the same input unit
    return tuple(Axis(ax.size + w.dilation * (w.kernel - 1) * ax.stride, ax.stride * w.stride,
                      ax.start - w.padding * ax.stride) for ax, w in zip(f, windows))


def union(paths: list[Field]) -> Field:
    if not paths or any(p is None for p in paths) or len({len(p) for p in paths}) != 1:
        return None
    first = paths[0]
    axes = []
    for k in range(len(first)):
        start = min(p[k].start for p in paths)
        end = max(p[k].end() for p in paths)
        axes.append(Axis(end - start + 1, max(p[k].stride for p in paths), start))
    return tuple(axes)


def describe(f: Field) -> dict | str | None:
    """A field for JSON: sizes, strides and centres per axis; "all"; or None (no axes)."""
    if f is None:
        return "all"
    if not f:
        return None
    return {"size": [a.size for a in f], "stride": [a.stride for a in f],
            "centre": [a.centre for a in f]}
