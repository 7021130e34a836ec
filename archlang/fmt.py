"""The formatter: one canonical layout for ``.arch`` text, comments kept, meaning unchanged.

It works on the parser's own token stream (:func:`archlang.syntax.parse.parse` with
``seen``: every token the lexer produced, the newlines that the post-lexer drops included);
comments and ``\\`` line breaks are the text between those tokens. Only the layout between
tokens changes, plus ``;`` between statements, which becomes a line break. The rules
(docs/editors.md shows them to people):

- 4 spaces per level of ``{ }``; a statement that continues on the next line (after or
  before ``->``, or after ``\\``) is indented 4 more;
- one statement per line: ``;`` between statements becomes a line break, a ``{`` whose body
  spans lines ends its line and the ``}`` starts one; a body written on one line with one
  statement stays there (``if zero_init { init bn2.weight: zeros }``), and an empty body is
  ``{}``;
- otherwise line breaks stay where they are: at most one blank line in a row, none at the
  start of a body or before its ``}``, none at the start of the file, one newline at its end;
- inside ``( )`` and ``[ ]``: a line after an opener that ends its line is indented 4 more
  than the opener's line (and the closer on its own line goes back to it); after an opener
  followed by more text, lines align with the text after the opener;
- spaces: one after ``,`` and ``:`` and around binary operators (but ``2**n``), ``->``,
  ``{`` and ``}``;
  around ``=`` at statement level (``let s = 1``, ``mu = encoder``) but not inside brackets
  (``conv2d(64, 3, stride=2)``); none inside brackets, before ``(`` or ``[`` of a call or an
  index, around ``.``, after a unary ``-``, before ``,`` ``:`` ``)`` ``]``;
- a comment keeps its text (trailing blanks removed); a comment on its own line takes the
  line's indentation; a comment after code keeps its column (moved with its line's
  indentation), at least two spaces after the code, so aligned comments stay aligned.

:func:`format_text` parses the result again and refuses to return it unless the parse tree
and the comments are the same as the input's (:class:`FormatterBug` otherwise).

>>> format_text("network n{input x:[3]; output x}")[0]
'network n {\\n    input x: [3]\\n    output x\\n}\\n'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archlang.diagnostics import Diagnostic
from archlang.source import Source
from archlang.syntax.parse import parse

INDENT = 4
_GAP = re.compile(r"[ \t\f]+|\\\r?\n|#[^\n]*|\r")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_OPENERS.values())
#: tokens that end an operand, so that a following ``-`` or ``+`` is binary
_OPERAND_TYPES = frozenset({"NAME", "INT", "FLOAT", "STRING"})
_OPERAND_TEXT = frozenset({")", "]", "true", "false"})
_BINARY = frozenset({"ADDOP", "MULOP", "POW", "COMPARE"})
_WORD_OPS = frozenset({"and", "or", "not", "if", "else", "in"})


class FormatterBug(AssertionError):
    """The formatted text would not mean what the input meant: a bug in archlang."""


@dataclass
class _Item:
    kind: str  # "code", "comment" or "cont" (a ``\\`` line break)
    text: str
    type: str  # the token's type for code; the kind otherwise
    start: int
    newlines: int  # line breaks between the previous item and this one
    top: bool = False  # a `{`, `}` or `;` of a body outside every ( ) and [ ]
    index: int = 0  # its place in the item list
    after: _Item | None = None  # the code item written before this one
    one_line: bool = False  # a top `{` or `}` whose body stays on one line
    label: bool = False  # a `{` or `}` of a computed layer name (denselayer{i + 1})


def format_text(text: str, name: str = "<text>") -> tuple[str | None, list[Diagnostic]]:
    """``(formatted text, [])``, or ``(None, diagnostics)`` when ``text`` does not parse."""
    items, tree, diags = _scan(text, name)
    if tree is None:
        return None, diags
    out = _Layout(text, items).render()
    _check_same(text, tree, items, out, name)
    return out, []


def _scan(text: str, name: str):
    seen: list = []
    tree, diags = parse(Source(name, text), seen=seen)
    if tree is None:
        return [], None, diags
    items: list[_Item] = []
    pos, newlines = 0, 0

    def gap(end: int) -> None:
        nonlocal newlines
        for m in _GAP.finditer(text, pos, end):
            piece = m.group(0)
            if piece.startswith("#"):
                items.append(_Item("comment", piece.rstrip(), "comment", m.start(), newlines))
                newlines = 0
            elif piece.startswith("\\"):
                items.append(_Item("cont", "\\", "cont", m.start(), newlines))
                newlines = 0

    for tok in seen:
        gap(tok.start_pos)
        pos = tok.end_pos
        if tok.type == "_NL":
            newlines += tok.value.count("\n")
            continue
        items.append(_Item("code", tok.value, tok.type, tok.start_pos, newlines))
        newlines = 0
    gap(len(text))
    labels = [(t.meta.start_pos, t.meta.end_pos) for t in tree.iter_subtrees()
              if t.data in ("computed_label", "list_label")]
    # a computed label is written without spaces (`block{s}-{j}`), except inside its values
    depth = 0
    for item in items:
        if not any(a < item.start < b for a, b in labels):
            continue
        if item.text == "{":
            item.label, depth = depth == 0, depth + 1
        elif item.text == "}":
            depth -= 1
            item.label = depth == 0
        elif depth == 0:
            item.label = True
    _mark_bodies(items)
    return items, tree, []


def _mark_bodies(items: list[_Item]) -> None:
    """Mark the ``{``, ``}`` and ``;`` of bodies outside brackets, and the bodies that stay
    on one line: written on one line without ``;`` (and without comments), or empty."""
    stack: list[int] = []  # the open brackets and bodies, by item index
    breaks = [0]  # breaks[i]: line breaks, comments and top-level `;` before item i
    filled: set[int] = set()  # the open bodies with something in them but `;`
    for i, item in enumerate(items):
        item.index = i
        bump = item.newlines > 0 or item.kind != "code"
        if stack and not (item.kind == "code" and item.text in (";", "}")):
            filled.add(stack[-1])
        if item.kind == "code":
            inside = any(not items[j].top for j in stack)
            if item.text in _OPENERS:
                item.top = item.text == "{" and not inside and not item.label
                stack.append(i)
            elif item.text in _CLOSERS and stack:
                j = stack.pop()
                if items[j].top:
                    item.top = True
                    # breaks inside the body: from after `{` up to and with `}`
                    one = j not in filled or breaks[i] + (item.newlines > 0) - breaks[j + 1] == 0
                    items[j].one_line = item.one_line = one
            elif item.text == ";" and not inside:
                item.top = True
                bump = True
        breaks.append(breaks[-1] + (1 if bump else 0))


class _Frame:
    __slots__ = ("body", "close_indent", "inner")

    def __init__(self, body: bool, inner: int, close_indent: int) -> None:
        self.body = body  # a top-level body (statements), not a bracket
        self.inner = inner  # indentation of the lines inside
        self.close_indent = close_indent  # indentation of a closer that starts a line


class _Layout:
    def __init__(self, text: str, items: list[_Item]) -> None:
        self.text = text
        self.items = items
        self.lines: list[str] = []
        self.cur = ""  # the line being built ("" before its first item)
        self.indent = 0  # that line's indentation
        self.stmt_indent = 0  # the indentation of the current statement's first line
        self.wrapped = False  # the line being built starts inside ( ) or [ ]
        self.frames = [_Frame(True, 0, 0)]
        self.continuing = False  # the statement goes on to the next line
        self.opened = False  # the last line's last code item opened a bracket or body
        self.opens = False  # the same, for the line being built
        self.prev: _Item | None = None  # the last code item written
        self.ended = False  # the last item was a comment or a `\\`: the line is over

    def render(self) -> str:
        force = False  # a line break is due: after a top `;` or a multi-line body's `{`
        for item in self.items:
            code = item.kind == "code"
            if code and item.top and item.text == ";":
                force = True
                continue
            # a comment after code stays there (not after a `\\`, which ends its line); so
            # does the `}` of an empty body
            trailing = item.newlines == 0 and item.kind == "comment" and \
                not self.cur.endswith("\\") or item.one_line
            if self.cur and not trailing and (
                    item.newlines or force or self.ended
                    or (code and item.top and item.text == "}" and not item.one_line)):
                self.end_line()
            blank = item.newlines > 1 and not trailing
            force = False
            if not self.cur:
                self.start_line(item, blank)
            self.put(item)
            self.ended = not code
            if code and item.top and item.text == "{" and not item.one_line:
                force = True
        self.end_line()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def end_line(self) -> None:
        if self.cur:
            self.lines.append(self.cur.rstrip())
            self.opened = self.opens
        self.cur = ""

    def start_line(self, item: _Item, blank: bool) -> None:
        frame = self.frames[-1]
        if item.kind == "code" and item.text in _CLOSERS:
            indent = frame.close_indent
            if frame.body:
                self.stmt_indent = indent
        elif frame.body:
            nxt = item if item.kind == "code" else self._next_code(item.index)
            arrow = nxt is not None and nxt.text == "->"
            indent = frame.inner + (INDENT if self.continuing or arrow else 0)
            if not (self.continuing or arrow):
                self.stmt_indent = indent
        else:
            indent = frame.inner
        closing = item.kind == "code" and item.text in _CLOSERS
        self.wrapped = not frame.body and not (closing and self.frames[-2].body)
        self.opens = False
        if blank and self.lines and self.lines[-1] and not self.opened and not closing:
            self.lines.append("")
        self.indent = indent

    def _next_code(self, k: int) -> _Item | None:
        for item in self.items[k + 1:]:
            if item.kind == "code":
                return item
        return None

    def put(self, item: _Item) -> None:
        if item.kind == "comment" and self.lines and self.lines[-1].endswith("\\") \
                and not self.cur:
            self.continuing = False  # the newline after this comment ends the statement
        if item.kind == "comment":
            if not self.cur:
                self.cur = " " * self.indent + item.text
            else:
                code = self.cur.rstrip()
                column = self._column(item.start) + self.indent - self._old_indent(item.start)
                self.cur = code + " " * max(2, column - len(code)) + item.text
            return
        if item.kind == "cont":
            # a `\\` on a line without code, or after another, joins nothing: it goes
            if self.cur and not self.cur.endswith("\\"):
                self.cur = self.cur.rstrip() + " \\"
                self.continuing = True
            return
        item.after = self.prev
        if not self.cur:
            self.cur = " " * self.indent + item.text
        else:
            self.cur += (" " if self._space(self.prev, item) else "") + item.text
        self.prev = item
        self.continuing = item.text == "->"
        self.opens = item.text in _OPENERS
        if item.text in _OPENERS:
            k = item.index
            nxt = self.items[k + 1] if k + 1 < len(self.items) else None
            if item.top:
                # on a line that goes on a bracket (`block B(a,\n b) {`), the body and its `}`
                # line up with the statement's first line; otherwise with this line
                base = self.stmt_indent if self.wrapped else self.indent
                self.frames.append(_Frame(True, base + INDENT, base))
            else:
                hanging = nxt is None or nxt.kind != "code" or nxt.newlines > 0
                inner = self.indent + INDENT if hanging else len(self.cur) + (
                    1 if item.text == "{" else 0)
                self.frames.append(_Frame(False, inner, self.indent))
        elif item.text in _CLOSERS and len(self.frames) > 1:
            self.frames.pop()

    def _column(self, pos: int) -> int:
        return pos - (self.text.rfind("\n", 0, pos) + 1)

    def _old_indent(self, pos: int) -> int:
        start = self.text.rfind("\n", 0, pos) + 1
        line = self.text[start:pos]
        return len(line) - len(line.lstrip(" \t\f"))

    def _space(self, prev: _Item | None, item: _Item) -> bool:
        if prev is None:
            return False
        p, c = prev.text, item.text
        inside = not self.frames[-1].body
        if item.label or (prev.label and p == "{") or (prev.label and item.type == "NAME"):
            return False  # denselayer{i + 1}_out
        if p == "{" or c == "}":
            return not (p == "{" and c == "}")
        if c in (",", ")", "]", ":", ";", ".") or p in ("(", "[", "."):
            return False
        if c == "=" or p == "=":
            return not inside
        if c in ("(", "["):
            return not (prev.type in _OPERAND_TYPES and p not in _WORD_OPS
                        or p in (")", "]") or p == "concat")
        if prev.type == "POW" or item.type == "POW":
            return False
        return not (prev.type == "ADDOP" and self._unary(prev))

    @staticmethod
    def _unary(item: _Item) -> bool:
        before = item.after
        return before is None or not (before.type in _OPERAND_TYPES and before.text not in
                                      _WORD_OPS or before.text in _OPERAND_TEXT)


def _comments(items: list[_Item]) -> list[str]:
    return [i.text for i in items if i.kind == "comment"]


def _check_same(text: str, tree, items: list[_Item], out: str, name: str) -> None:
    again, tree2, diags = _scan(out, name)
    if tree2 is None:
        raise FormatterBug(f"formatting {name} made text that does not parse: "
                           + "; ".join(d.message for d in diags))
    if tree2 != tree:
        raise FormatterBug(f"formatting {name} changed its parse tree")
    if _comments(again) != _comments(items):
        raise FormatterBug(f"formatting {name} changed its comments")


def _paths(names: tuple[str, ...]) -> list[Path]:
    """FILE arguments: files as given, directories as every ``.arch`` file below them."""
    out: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.arch") if p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(name)
    return out


def run(names: tuple[str, ...], check: bool, diff: bool, echo: Callable[..., None],
        stdin: str | None = None) -> int:
    """``archlang fmt``: format files in place, or with ``check``/``diff`` change nothing.

    ``-`` reads standard input (``stdin``) and writes the formatted text to standard output.
    ``echo(text, err=False)`` prints. Returns the exit code: 1 when a file does not parse or,
    with ``check``, would change; otherwise 0.
    """
    from archlang.diagnostics import render_all

    status = 0
    changed: list[str] = []
    if stdin is not None:
        new, diags = format_text(stdin, "<stdin>")
        if new is None:
            echo(render_all(diags), err=True)
            return 1
        if diff:
            echo(_diff(stdin, new, "<stdin>"), nl=False)
        elif not check:
            echo(new, nl=False)
        return 1 if check and new != stdin else 0
    for path in _paths(names):
        old = path.read_text(encoding="utf-8")
        new, diags = format_text(old, str(path))
        if new is None:
            echo(render_all(diags), err=True)
            status = 1
            continue
        if new == old:
            continue
        changed.append(str(path))
        if diff:
            echo(_diff(old, new, str(path)), nl=False)
        if check:
            echo(f"would reformat {path}", err=True)
        elif not diff:
            path.write_text(new, encoding="utf-8")
            echo(f"reformatted {path}", err=True)
    if check and changed:
        status = 1
    return status


def _diff(old: str, new: str, name: str) -> str:
    import difflib

    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 name, name)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)
