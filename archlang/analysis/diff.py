"""What differs between two checked networks: layers aligned by name and by structure.

>>> from archlang.api import check
>>> a = check("network n {\\n input x: [3, 8, 8]\\n c: conv2d(4, 3)\\n relu\\n output y\\n}")
>>> b = check("network n {\\n input x: [3, 8, 8]\\n c: conv2d(8, 3)\\n relu\\n output y\\n}")
>>> d = diff(a, b)
>>> [(e.name, e.status, [c.what for c in e.changes]) for e in d.layers() if e.status != "same"]
[('c', 'changed', ['out_channels', 'out']), ('1', 'changed', ['out'])]

Alignment
---------
Both networks are scope trees (the network, block instances, groups) whose items are layers
and scopes in execution order. Two scopes that correspond are aligned item by item, and the
aligned scopes recursively:

1. A written name (``conv1``, ``layer2``, ``downsample``) is the strongest evidence: items of
   the same name correspond, so for named layers the alignment is by module path.
2. Unnamed items (numbered like ``torch.nn.Sequential``: ``features.3``) correspond by
   structure: a longest-matching-blocks alignment (:class:`difflib.SequenceMatcher`) of the
   two item sequences, first by op (or block) *and* attributes, then, in the stretches left
   over, by op alone (a changed conv still pairs with a conv), then unnamed scopes with
   unnamed scopes whatever their block (``[BasicConv(...), ...]`` and ``[ConvRelu(...),
   ...]``). So inserting a batch norm after
   every conv of VGG renumbers the later layers without making them "changed" beyond their
   new names.
3. A named item whose name appears on the other side out of order is paired with it anyway
   (it moved). Everything left is removed (only in A) or added (only in B).

A pair of layers that differs only in its name is *renamed* (its parameters keep their
values but move in a checkpoint); otherwise a pair differs in its op, attributes, output shape (or input shape, when the
output shape is the same), parameters, MACs, name or training-only flag. A scope differs
when its block or name differs or any layer below it differs; a block instance called with
other arguments whose layers all came out the same is the same (the arguments show on
scopes that are shown anyway).

Each entry carries the totals of its subtree on both sides (parameters, MACs, and activation
elements: what each layer outputs, as ``archlang.analysis.report`` counts them), so deltas
per block and in total are differences of sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from archlang.analysis import dims as D
from archlang.analysis.dims import Count
from archlang.graph.model import Graph
from archlang.graph.values import show

SAME, CHANGED, RENAMED, ADDED, REMOVED = "same", "changed", "renamed", "added", "removed"
STATUSES = (CHANGED, RENAMED, ADDED, REMOVED, SAME)


@dataclass(frozen=True)
class Change:
    """One difference of a pair: ``what`` (an attribute's or argument's name, or ``op``,
    ``block``, ``out`` and ``in`` (output and input shapes), ``name``, ``training``), its value in A and in B."""

    what: str
    a: Any
    b: Any

    def text(self) -> str:
        if self.what in ("name", "op", "block"):
            return f"{self.what}: {self.a} → {self.b}"
        return f"{self.what}: {_show(self.a)} → {_show(self.b)}"


@dataclass
class Entry:
    """A layer (``kind == "node"``) or scope present in A, B or both (ids, else ``None``)."""

    kind: str
    a: int | None
    b: int | None
    status: str = SAME
    changes: list[Change] = field(default_factory=list)
    children: list[Entry] = field(default_factory=list)
    moved: bool = False
    depth: int = 0
    #: subtree totals in A and B: params, MACs, activation elements
    params: tuple[int, int] = (0, 0)
    macs: tuple[Count, Count] = (0, 0)
    activations: tuple[Count, Count] = (0, 0)
    name: str = ""  # the dotted path (B's, or A's for a removed entry)
    a_name: str = ""
    b_name: str = ""

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class Diff:
    a: Graph
    b: Graph
    root: Entry  # the two network scopes

    def layers(self) -> list[Entry]:
        """Every aligned layer, in tree order."""
        return [e for e in self.root.walk() if e.kind == "node"]

    def scopes(self) -> list[Entry]:
        return [e for e in self.root.walk() if e.kind == "scope" and e is not self.root]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for e in self.layers():
            out[e.status] += 1
        return out


def diff(a, b) -> Diff:
    """Align two networks (:class:`~archlang.api.CheckResult` or :class:`Graph`)."""
    ga = getattr(a, "graph", a)
    gb = getattr(b, "graph", b)
    return Diff(ga, gb, _Aligner(ga, gb).scope_pair(0, 0, 0))


# ---- alignment ------------------------------------------------------------------------------


def _written(part: str) -> str | None:
    return None if part.isdigit() else part


def _attrs(attrs) -> dict[str, Any]:
    return attrs.model_dump() if attrs is not None else {}


class _Aligner:
    def __init__(self, a: Graph, b: Graph):
        self.g = (a, b)

    # -- keys of an item (side 0 is A, 1 is B) -----------------------------------------------
    def _info(self, side: int, item: tuple[str, int]) -> tuple:
        """(written name, kind, op or block, attributes as text)."""
        g = self.g[side]
        kind, i = item
        if kind == "node":
            n = g.nodes[i]
            return (_written(n.path[-1]) if n.path else None, kind, n.op,
                    repr(sorted(_attrs(n.attrs).items())))
        s = g.scopes[i]
        return (_written(s.path[-1]), kind, s.name if s.kind == "block" else s.kind,
                repr(sorted((k, show(v)) for k, v in s.args.items())))

    def align(self, items_a: list, items_b: list) -> list[tuple]:
        info_a = [self._info(0, x) for x in items_a]
        info_b = [self._info(1, x) for x in items_b]
        tiers = (lambda inf, k, s: inf, lambda inf, k, s: inf[:3], _loose_key)
        pairs = self._tiered(list(range(len(items_a))), list(range(len(items_b))),
                             info_a, info_b, tiers)
        # a written name on both sides, out of order: the same item, moved
        lone_a = {info_a[i][0]: k for k, (i, j) in enumerate(pairs)
                  if j is None and info_a[i][0] is not None}
        moved: set[int] = set()
        for k, (i, j) in enumerate(pairs):
            if i is None and j is not None and info_b[j][0] in lone_a:
                ka = lone_a.pop(info_b[j][0])
                pairs[k] = (pairs[ka][0], j)
                moved.add(k)
                pairs[ka] = (None, None)
        return [(items_a[i] if i is not None else None, items_b[j] if j is not None else None,
                 k in moved) for k, (i, j) in enumerate(pairs) if (i, j) != (None, None)]

    def _tiered(self, ia: list[int], ib: list[int], info_a, info_b, tiers) -> list[tuple]:
        if not ia or not ib or not tiers:
            return [(i, None) for i in ia] + [(None, j) for j in ib]
        key = tiers[0]
        sm = SequenceMatcher(None, [key(info_a[i], i, "a") for i in ia],
                             [key(info_b[j], j, "b") for j in ib], autojunk=False)
        out: list[tuple] = []
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                out.extend(zip(ia[i1:i2], ib[j1:j2]))
            else:
                out.extend(self._tiered(ia[i1:i2], ib[j1:j2], info_a, info_b, tiers[1:]))
        return out

    # -- entries ----------------------------------------------------------------------------
    def item(self, a: tuple | None, b: tuple | None, depth: int, moved: bool) -> Entry:
        kind = (a or b)[0]
        ia, ib = (a[1] if a else None), (b[1] if b else None)
        if a is None or b is None:
            e = self.one_side(kind, ia, ib, depth)
        elif kind == "node":
            e = self.node_pair(ia, ib, depth)
        else:
            e = self.scope_pair(ia, ib, depth)
        if moved:
            e.moved = True
            if e.status == SAME:
                e.status = CHANGED
        return e

    def node_pair(self, ia: int, ib: int, depth: int) -> Entry:
        (ga, gb) = self.g
        na, nb = ga.nodes[ia], gb.nodes[ib]
        changes: list[Change] = []
        if na.op != nb.op:
            changes.append(Change("op", na.op, nb.op))
        else:
            da, db = _attrs(na.attrs), _attrs(nb.attrs)
            changes.extend(Change(k, da.get(k), db.get(k)) for k in {**da, **db}
                           if da.get(k) != db.get(k))
        if na.shape != nb.shape:
            changes.append(Change("out", na.shape, nb.shape))
        else:
            ins_a = [ga.nodes[i].shape for i in na.inputs]
            ins_b = [gb.nodes[i].shape for i in nb.inputs]
            if ins_a != ins_b:
                changes.append(Change("in", _one(ins_a), _one(ins_b)))
        if na.training_only != nb.training_only:
            changes.append(Change("training", na.training_only, nb.training_only))
        if na.path != nb.path:
            changes.append(Change("name", na.name, nb.name))
        differs = changes or na.params != nb.params or na.buffers != nb.buffers \
            or str(na.macs) != str(nb.macs)
        status = SAME if not differs else RENAMED if [c.what for c in changes] == ["name"] \
            and na.params == nb.params and str(na.macs) == str(nb.macs) else CHANGED
        e = Entry("node", ia, ib, status, changes, depth=depth)
        return self._totals(e)

    def scope_pair(self, ia: int, ib: int, depth: int) -> Entry:
        (ga, gb) = self.g
        sa, sb = ga.scopes[ia], gb.scopes[ib]
        e = Entry("scope", ia, ib, depth=depth)
        for x, y, moved in self.align(sa.items, sb.items):
            if x is not None and y is not None and x[0] != y[0]:  # a layer and a scope
                e.children.append(self.item(x, None, depth + 1, False))
                e.children.append(self.item(None, y, depth + 1, False))
            else:
                e.children.append(self.item(x, y, depth + 1, moved))
        if sa.name != sb.name and depth > 0:
            e.changes.append(Change("block", sa.name, sb.name))
        if sa.path != sb.path:
            e.changes.append(Change("name", ".".join(sa.path), ".".join(sb.path)))
        structural = bool(e.changes) or any(c.status != SAME for c in e.children)
        for k in {**sa.args, **sb.args}:
            va, vb = sa.args.get(k), sb.args.get(k)
            if k not in sa.args or k not in sb.args or show(va) != show(vb):
                e.changes.append(Change(k, va, vb))
        e.status = CHANGED if structural else SAME
        return self._totals(e)

    def one_side(self, kind: str, ia: int | None, ib: int | None, depth: int) -> Entry:
        """A layer or scope only in A (removed) or only in B (added)."""
        side = 0 if ia is not None else 1
        i = ia if ia is not None else ib
        e = Entry(kind, ia, ib, REMOVED if side == 0 else ADDED, depth=depth)
        if kind == "scope":
            for k, i2 in self.g[side].scopes[i].items:
                e.children.append(self.one_side(k, i2 if side == 0 else None,
                                                i2 if side == 1 else None, depth + 1))
        return self._totals(e)

    def _totals(self, e: Entry) -> Entry:
        (ga, gb) = self.g
        sides = []
        for g, i in ((ga, e.a), (gb, e.b)):
            p, m, act, name = 0, 0, 0, ""
            if i is not None and e.kind == "node":
                n = g.nodes[i]
                p, m = n.params, n.macs
                act = 0 if n.is_input else D.product(n.shape or ())
                name = n.name
            elif i is not None:
                name = ".".join(g.scopes[i].path)
                side = 0 if g is ga else 1
                for c in e.children:
                    p += c.params[side]
                    m = D.plus(m, c.macs[side])
                    act = D.plus(act, c.activations[side])
            sides.append((p, m, act, name))
        (pa, ma, aa, na), (pb, mb, ab, nb) = sides
        e.params, e.macs, e.activations = (pa, pb), (ma, mb), (aa, ab)
        e.a_name, e.b_name = na, nb
        e.name = nb if e.b is not None else na
        return e


def _loose_key(info: tuple, index: int, side: str):
    """The last tier: a written name, or for unnamed items any scope matches any scope
    (``[BasicConv(...), ...]`` against ``[ConvRelu(...), ...]``) and layers match nothing."""
    if info[0] is not None:
        return info[0]
    return ("scope",) if info[1] == "scope" else (side, index)


def _one(shapes: list):
    return shapes[0] if len(shapes) == 1 else tuple(shapes)


def delta(a: Count, b: Count) -> Count:
    """``b - a`` (symbolic when either is)."""
    return D.plus(b, D.times(a, -1))


def _show(v: Any) -> str:
    if isinstance(v, tuple) and v and all(isinstance(d, (int, D.Sym)) for d in v) \
            and not isinstance(v[0], bool):
        return "x".join(str(d) for d in v)
    if v is None:
        return "-"
    return show(readable(v))


def readable(v: Any) -> Any:
    """Floats to 12 significant digits, for people: a width computed as ``0.1 * 0.75``
    shows as 0.075, not 0.07500000000000001 (no two values a spec could mean apart look
    alike at that precision)."""
    if isinstance(v, float):
        return float(f"{v:.12g}")
    if type(v) in (list, tuple):
        return type(v)(readable(x) for x in v)
    return v
