"""The two positions of a tree node that archlang reads, set as Lark sets them, and only those.

With ``propagate_positions=True``, Lark wraps each grammar rule's tree builder in a
``PropagatePositions``: when a rule is reduced, it finds the first and the last child that
has a position (a token, or a subtree with one; the tokens the tree leaves out, such as
brackets and keywords, included) and gives the new node their start and end: line, column and
offset of each, and each again as the *container* extent, which an inlined rule (``?rule``,
``"(" expr ")"``) passes on to its parent without changing the node it returns. archlang
reads two of these, ``meta.start_pos`` and ``meta.end_pos`` (the lowerer's spans, the
formatter's labels). Lark's propagation, a dozen attribute lookups and assignments per
reduction, took 5.5 of the 14.2 ms of parsing ``resnet.arch``; :class:`Offsets` take 2.7.

:func:`offsets_only` puts :class:`Offsets` in place of each ``PropagatePositions`` of a
parser: the same rule, the same children, the same start and end offsets (and
``meta.empty``), without lines and columns. ``tests/test_parse.py`` compares every node's
offsets with Lark's on every spec of the repository and on mutated ones.
"""

from __future__ import annotations

from lark import Lark, Token, Tree
from lark.parse_tree_builder import PropagatePositions


class Offsets:
    """A rule's tree builder, then the node's start and end offsets (see the module's
    docstring): Lark's ``PropagatePositions`` for ``start_pos`` and ``end_pos`` alone."""

    __slots__ = ("node_builder",)

    def __init__(self, node_builder) -> None:
        self.node_builder = node_builder

    def __call__(self, children):
        node = self.node_builder(children)
        if not isinstance(node, Tree):
            return node
        # the first child with a position: a token, or a subtree that has one (a subtree
        # always has both container offsets once it has a position)
        for c in children:
            if isinstance(c, Token):
                start = c.start_pos
                break
            if isinstance(c, Tree) and not c.meta.empty:
                start = c.meta.container_start_pos
                break
        else:
            return node
        for c in reversed(children):
            if isinstance(c, Token):
                end = c.end_pos
                break
            if isinstance(c, Tree) and not c.meta.empty:
                end = c.meta.container_end_pos
                break
        meta = node.meta
        if meta.empty:  # a node this rule made (an inlined rule's node keeps its own)
            meta.start_pos, meta.end_pos, meta.empty = start, end, False
        meta.container_start_pos, meta.container_end_pos = start, end
        return node


def offsets_only(parser: Lark) -> bool:
    """Put :class:`Offsets` in place of every ``PropagatePositions`` of ``parser``'s rules.

    Returns False, changing nothing, when the parser is not laid out as this was written for
    (no position propagation, a filter on it, another Lark): it then builds its trees exactly
    as Lark made it.
    """
    try:
        callbacks = parser._callbacks
        replaced = {rule: Offsets(cb.node_builder) for rule, cb in callbacks.items()
                    if type(cb) is PropagatePositions and cb.node_filter is None}
    except Exception:  # noqa: BLE001 - an unknown Lark layout: keep Lark's own
        return False
    if not replaced:
        return False
    callbacks.update(replaced)  # the dict the LALR parser reduces with
    return True
