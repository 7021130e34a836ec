"""One scanner for every parser state of Lark's contextual lexer, with the same tokens.

Lark's contextual lexer keeps one lexer per LALR state (80 distinct ones for archlang's
grammar), each matching only the terminals that state accepts, and compiles each one's
regular expression (and one more for its keywords) the first time that state lexes a token:
on the first parse in a process, about 40 compilations for a spec like ``resnet.arch``, more
time than lexing it.

:func:`share_root_scanner` makes every state lexer first try the root lexer's scanner (all
terminals, one regular expression, compiled once), and keep its answer when it is provably
the answer of the state's own scanner:

- a scanner's regular expression is the alternation of its terminals' patterns in one fixed
  order (priority, width, length, name), and the first alternative that matches wins; a
  state's alternatives are a subset of the root's, in the same order, plus the keyword
  strings that the root folds into ``NAME`` but the state, having no ``NAME``, lists itself;
- so when the root's match is a terminal of the state, and none of those extra strings comes
  earlier in the order and matches here, the state's scanner matches the same terminal with
  the same text;
- a keyword's type is then decided as Lark does (the state's own keywords, by exact text).

Otherwise (a terminal the state does not accept, an extra string that could win, no match
at all) the state's own scanner answers, built as Lark builds it. Tokens, errors and
positions are Lark's own: the tests compare them against Lark's contextual lexer on every
spec in the repository and on mutated ones (tests/test_parse.py).
"""

from __future__ import annotations

import re
from typing import Any

from lark import Lark
from lark.lexer import BasicLexer, ContextualLexer, PatternRE, PatternStr, UnlessCallback


class _Keywords:
    """Lark's keyword callback (``UnlessCallback``) for plain strings, without a regex: a
    ``NAME`` whose whole text is one of the state's keywords becomes that keyword."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def __call__(self, tok):
        name = self.names.get(tok.value)
        if name is not None:
            tok.type = name
        return tok


class SharedScanLexer(BasicLexer):
    """A state lexer that asks the root scanner first (see the module's docstring)."""

    _root: Any  # the root lexer's Scanner
    _mine: frozenset  # the terminals of this state's own alternation
    _extras: tuple  # (order, string): this state's alternatives that the root lacks
    _order: dict  # terminal name -> place in the alternation order
    _alternatives: tuple  # this state's alternation: (name, string or None, regexp), in order

    def match(self, text, pos):
        res = self._root.match(text, pos)
        if res is not None and res[1] in self._mine and not (
                self._extras and self._extra_wins(text, pos, res[1])):
            return res
        # what this state's own alternation would match: its alternatives one by one, in
        # its order (the first that matches wins, as in the alternation)
        raw = getattr(text, "text", text)
        end = getattr(text, "end", len(raw))
        for name, string, regexp in self._alternatives:
            if string is not None:
                if raw.startswith(string, pos, end):
                    return string, name
            else:
                m = re.compile(regexp).match(raw, pos, end)
                if m:
                    return m.group(0), name
        return None  # no token here: BasicLexer reports it from the state's own scanner

    def _extra_wins(self, text, pos, kind) -> bool:
        raw = getattr(text, "text", text)
        end = getattr(text, "end", len(raw))
        rank = self._order[kind]
        return any(order < rank and raw.startswith(s, pos, end) for order, s in self._extras)


def _plain(terminals) -> bool:
    return all(not t.pattern.flags and isinstance(t.pattern, (PatternStr, PatternRE))
               for t in terminals)


def share_root_scanner(parser: Lark) -> bool:
    """Install :class:`SharedScanLexer` in ``parser``'s contextual lexer.

    Returns False, changing nothing, for any set-up it was not written for (another lexer,
    flags on terminals or on the regular expressions, bytes, user callbacks, an unknown
    Lark layout): the parser then lexes exactly as Lark built it.
    """
    try:
        ctx = parser.parser.lexer
        ctx = getattr(ctx, "lexer", ctx)  # behind the post-lexer's connector
        if type(ctx) is not ContextualLexer:
            return False
        root = ctx.root_lexer
        states = {id(lx): lx for lx in ctx.lexers.values()}
        lexers = [root, *states.values()]
        if any(type(lx) is not BasicLexer or lx.user_callbacks or lx.g_regex_flags
               or lx.use_bytes or lx.re is not re or not _plain(lx.terminals)
               for lx in lexers):
            return False
        order = {t.name: i for i, t in enumerate(root.terminals)}
        root_scanner = root.scanner
        in_root = {t.name for t in root_scanner.terminals}
        # the keyword strings each regular-expression terminal takes as its own text, as
        # the root lexer found them (Lark's _create_unless over all terminals)
        unless = {}
        for name, cb in root.callback.items():
            if type(cb) is not UnlessCallback:
                return False
            unless[name] = list(cb.scanner.terminals)
        prepared = []
        for lx in states.values():
            names = {t.name for t in lx.terminals}
            callback, embedded = {}, set()
            for t in lx.terminals:
                if t.name in unless:
                    mine = [s for s in unless[t.name] if s.name in names]
                    if mine:
                        words: dict[str, str] = {}
                        for s in mine:
                            words.setdefault(s.pattern.value, s.name)
                            embedded.add(s.name)
                        callback[t.name] = _Keywords(words)
            alternation = names - embedded
            extras = tuple(sorted((order[n], lx.terminals_by_name[n].pattern.value)
                                  for n in alternation - in_root))
            if any(not isinstance(lx.terminals_by_name[n].pattern, PatternStr)
                   for n in alternation - in_root):
                return False
            alternatives = tuple(
                (n, p.value if isinstance(p, PatternStr) else None,
                 None if isinstance(p, PatternStr) else p.to_regexp())
                for n, p in sorted(((n, lx.terminals_by_name[n].pattern) for n in alternation),
                                   key=lambda item: order[item[0]]))
            prepared.append((lx, frozenset(alternation), extras, callback, alternatives))
    except Exception:  # noqa: BLE001 - an unknown Lark layout: keep Lark's own lexers
        return False
    for lx, alternation, extras, callback, alternatives in prepared:
        if lx._scanner is not None:  # already built: keep it
            continue
        lx.__class__ = SharedScanLexer
        lx._root, lx._mine, lx._extras, lx._order = root_scanner, alternation, extras, order
        lx._alternatives = alternatives
        lx.callback = callback
    return True
