"""``archlang lsp``: a Language Server Protocol server on stdio, the checker in process.

Every open buffer is checked on open and on each change by the passes of ``archlang check``
(:data:`archlang.api.PASSES`), in this process: the buffer's text stands in for the file's,
so its imports resolve next to the file on disk, as ``archlang check FILE`` resolves them.
What the check leaves (the graph with its spans, shapes, params and MACs; the program's
blocks and networks; every diagnostic) answers the requests:

- diagnostics with their codes, the block-instance chain as related locations, and a code
  action for each concrete fix a diagnostic's help names (``did you mean `conv2d`?``);
- inlay hints: the output shape after each layer, and after a block call its instances'
  shapes and parameter counts (symbolic sizes as their expressions);
- hover (a layer's op, attributes, shape, params and MACs; a block's signature and comment;
  an op's documentation), go to definition and references (blocks, networks, named values,
  imported files), completion (ops, keyword arguments of the call being written, blocks,
  names in scope), document symbols, semantic tokens (names coloured by what the AST says
  they are), and formatting through :mod:`archlang.fmt`.

After an edit, only the top-level definitions whose text changed are parsed again
(:class:`Reparser`); the rest of the check runs as ``archlang check`` runs it.

A file with several networks shows the first one, or the one the client's setting
``archlang.network`` names; ``archlang.set`` gives network parameters as ``--set`` does.

No request can stop the server: each handler catches what it raises, logs it to the
client's log and answers an empty result.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import os
import re
import sys
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from archlang.analysis import dims as D
from archlang.api import PASSES, run_passes, validate_options
from archlang.diagnostics import Diagnostic, Reporter
from archlang.graph.model import Graph, Node, Scope
from archlang.graph.state import Options, Run
from archlang.limits import Limits
from archlang.ops.registry import OPS, lookup
from archlang.program import Program, _load_file, no_cyclic_gc, parse_file
from archlang.source import Source, Span
from archlang.syntax import ast as A
from archlang.syntax.lower import lower
from archlang.syntax.parse import RESERVED_WORDS, parse

log = logging.getLogger("archlang.lsp")

_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_MEAN = re.compile(r"did you mean ((?:`[^`]+`(?: or |, )?)+)\?")
_WRITE = re.compile(r"write `([A-Za-z_][A-Za-z_0-9]*\(.*\))`")
_MAX_SHAPES = 3  # distinct shapes an inlay hint lists before it says how many there are
_MAX_ROWS = 12  # instances a hover's table lists


# ---- the check ------------------------------------------------------------------------


@dataclass
class Settings:
    """The client's ``archlang.*`` settings."""

    network: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> Settings:
        """From ``{"network": ..., "set": {...}}`` (or that under an ``archlang`` key);
        anything malformed is ignored."""
        if isinstance(raw, dict) and isinstance(raw.get("archlang"), dict):
            raw = raw["archlang"]
        if not isinstance(raw, dict):
            return cls()
        network = raw.get("network")
        params = raw.get("set")
        return cls(network if isinstance(network, str) and network else None,
                   dict(params) if isinstance(params, dict) else {})


@dataclass
class Analysis:
    """One buffer's text, checked: the program, the graph of its chosen network, and every
    diagnostic."""

    source: Source
    path: Path | None
    prog: Program | None
    graph: Graph | None
    diagnostics: list[Diagnostic]
    network: str | None = None
    #: the traceback of an internal error the check raised, if it did (logged, never shown
    #: as a diagnostic of the user's spec)
    crash: str | None = None

    @property
    def file(self) -> A.File | None:
        """The buffer's AST (``None`` when it does not parse)."""
        if self.prog is None:
            return None
        for src, f in self.prog.files:
            if src is self.source:
                return f
        return None

    @functools.cached_property
    def lines(self) -> Lines:
        """LSP positions in the buffer."""
        return Lines(self.source.text)

    @functools.cached_property
    def places(self) -> list[Place]:
        """What each call of the buffer made (made when a request first needs it)."""
        return places(self)

    @functools.cached_property
    def totals(self) -> dict[int, tuple[int, Any]]:
        """Params and MACs of each scope of the graph."""
        return scope_totals(self.graph) if self.graph is not None else {}

    def path_of(self, source: Source) -> Path | None:
        """The file a source in this program was read from."""
        if source is self.source:
            return self.path
        if self.prog is not None:
            return self.prog.imported.get(source.name)
        return None


def analyse(text: str, path: str | Path | None = None, settings: Settings | None = None,
            limits: Limits | None = None, parser: Reparser | None = None) -> Analysis:
    """Check ``text`` as the content of the file at ``path`` (``None``: an unsaved buffer;
    imports then resolve in the current directory). A :class:`Reparser` kept between calls
    reads again only the definitions that changed since its earlier calls."""
    settings = settings or Settings()
    limits = limits or Limits()
    path = Path(path) if path is not None else None
    source = Source(_display_name(path), text)
    state = Run(str(path) if path else text, Options(), limits)
    chosen: list[str] = []

    def load(run: Run) -> None:
        run.prog = _load_buffer(source, path, run.limits, parser)
        run.rep.diagnostics += run.prog.diagnostics
        run.done = run.rep.failed or not run.prog.networks  # a library of blocks: done
        if run.done:
            return
        names = list(run.prog.networks)
        name = settings.network if settings.network in names else names[0]
        chosen.append(name)
        declared = {p.name for p in run.prog.networks[name].params}
        params = {k: v for k, v in settings.params.items() if k in declared}
        errors = validate_options(params, {}, run.limits)
        if errors:
            run.rep.diagnostics += [_at(d, run.prog.networks[name].name_span) for d in errors]
            run.done = True
            return
        run.options = Options(name, params or None, None)

    try:
        with no_cyclic_gc():
            run_passes(state, (load, *PASSES[1:]))
    except Exception:  # noqa: BLE001 - a checker bug: logged; the buffer keeps its answers
        return Analysis(source, path, state.prog, None, [], None, traceback.format_exc())
    return Analysis(source, path, state.prog, state.graph, state.rep.diagnostics,
                    chosen[0] if chosen else None)


def _display_name(path: Path | None) -> str:
    if path is None:
        return "<buffer>"
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


def _load_buffer(source: Source, path: Path | None, limits: Limits,
                 parser: Reparser | None = None) -> Program:
    """``program.load_program`` for text that is (or will be) the file at ``path``."""
    prog = Program(main=source, parser=parser)
    rep = Reporter()
    prog.bytes_read = len(source.text.encode("utf-8", "surrogatepass"))
    if prog.bytes_read > limits.max_bytes:
        rep.error("E053", f"spec is larger than {limits.max_bytes} bytes", source.span(0, 0),
                  "too large", help=["raise the limit with --max-bytes"])
        prog.diagnostics.extend(rep.diagnostics)
        return prog
    real = path.resolve() if path is not None else None
    root = real.parent if real is not None else Path.cwd().resolve()
    _load_file(prog, source, root, root, (real,) if real else (), {}, rep, limits, None)
    prog.diagnostics.extend(rep.diagnostics)
    return prog


def _at(d: Diagnostic, span: Span) -> Diagnostic:
    if d.span is None:
        d.span = span
    return d


# ---- reading a file again after an edit -------------------------------------------------


class Reparser:
    """Parses and lowers a file as :func:`archlang.program.parse_file` does, with the same
    AST and diagnostics, but reads again only the top-level definitions whose text changed
    since its earlier calls.

    The text is cut at the separators (newlines and ``;``) outside brackets, strings and
    comments: every piece is then one ``import`` or definition, parsed as a file of its own
    and lowered with its positions counted from its first character. A piece read before is
    not parsed again: its AST is copied with its spans moved onto the new text and to the
    piece's new place (:func:`relocate`). The grammar's top level is a sequence of these
    separated by separators, so the pieces' ASTs together are the file's AST; whenever a
    piece does not parse alone into exactly one definition without any diagnostic (the file
    has an error, or the cut went wrong), the whole text is parsed as a file, and the
    diagnostics are the parser's own. tests/test_lsp_reparse.py compares both ways on every
    spec in the repository and on mutated ones.
    """

    def __init__(self, max_chars: int = 400_000) -> None:
        #: (bracket depth limit, a piece's text) -> its AST as a file of its own (``None``:
        #: it does not parse alone), least recently used first
        self.pieces: OrderedDict[tuple[int, str], A.File | None] = OrderedDict()
        self.max_chars = max_chars  # the pieces' text kept, at most
        self.chars = 0
        self.scanner = _scanner()
        self.lexer: re.Pattern | None = None  # for semantic tokens, built when first asked

    def __call__(self, source: Source, limits: Limits) -> tuple[A.File | None, list[Diagnostic]]:
        file = self.assemble(source, limits)
        return (file, []) if file is not None else parse_file(source, limits)

    def cut(self, text: str) -> tuple[list[tuple[int, int]], tuple[int, int]] | None:
        """Where each top-level piece of ``text`` starts and ends, and where its first token
        starts and its last one ends (separators included: the file's span, as the parser
        gives it). ``None``: brackets that do not balance."""
        out: list[tuple[int, int]] = []
        depth = 0
        start = -1  # of the piece being read
        first = last = -1  # the tokens'
        pos = 0
        blank = self.scanner.blank
        for m in self.scanner.top.finditer(text):
            at = m.start()
            if at > pos and not blank.fullmatch(text, pos, at):  # other tokens
                if start < 0:
                    start = pos
                if first < 0:
                    first = pos + len(text[pos:at]) - len(text[pos:at].lstrip(" \t\f"))
                last = pos + len(text[pos:at].rstrip(" \t\f"))
            kind = m.lastgroup
            pos = m.end()
            if kind == "skip":
                continue
            if first < 0:
                first = at
            last = pos
            if kind == "sep":
                if depth == 0 and start >= 0:
                    out.append((start, at))
                    start = -1
                continue
            if start < 0:
                start = at
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
                if depth < 0:
                    return None
        if pos < len(text) and not blank.fullmatch(text, pos):
            if start < 0:
                start = pos
            if first < 0:
                first = pos + len(text[pos:]) - len(text[pos:].lstrip(" \t\f"))
            last = len(text[pos:].rstrip(" \t\f")) + pos
        if depth:
            return None
        if start >= 0:
            out.append((start, len(text)))
        return out, (max(first, 0), max(last, 0))

    def piece(self, text: str, max_depth: int) -> A.File | None:
        """The AST of one piece as a file of its own, positions counted from its start."""
        key = (max_depth, text)
        if key in self.pieces:
            self.pieces.move_to_end(key)
            return self.pieces[key]
        own = Source("<piece>", text)
        tree, diags = parse(own, max_depth)
        file = None
        if tree is not None:
            file, diags = lower(tree, own)
        if diags or file is None or sum(len(v) for k, v in file.__dict__.items()
                                        if isinstance(v, list)) != 1:
            file = None
        self.pieces[key] = file
        self.chars += len(text)
        while self.chars > self.max_chars and len(self.pieces) > 1:
            (_, old), _ = self.pieces.popitem(last=False)
            self.chars -= len(old)
        return file

    def assemble(self, source: Source, limits: Limits) -> A.File | None:
        """The file's AST from its pieces, or ``None`` where the whole text must be parsed."""
        found = self.cut(source.text)
        if found is None:
            return None
        cuts, (first, last) = found
        if not cuts:
            return None  # nothing but blanks and comments: the parser says what that is
        files = []
        for start, end in cuts:  # every piece first: one that does not parse ends it
            file = self.piece(source.text[start:end], limits.max_depth)
            if file is None:
                return None
            files.append((start, file))
        fields: dict[str, list] = {}
        for start, file in files:
            for k, v in file.__dict__.items():
                if k == "span":
                    continue
                if not isinstance(v, list):
                    return None  # a file field that is not a list: not a sum of pieces
                try:
                    fields.setdefault(k, []).extend(relocate(x, source, start) for x in v)
                except RecursionError:  # deeper than the default limits allow
                    return None
        return A.File.build(span=source.span(first, last), **fields)


@dataclass(frozen=True)
class _Scanner:
    top: re.Pattern  # strings, comments, separators and brackets, by group name
    blank: re.Pattern  # what the grammar skips between tokens


def _scanner() -> _Scanner:
    """The scanner of :meth:`Reparser.cut`, built from the grammar's own terminals."""
    from archlang.syntax.parse import _cached

    parser = _cached(Limits().max_depth)[0]

    def terminal(name: str) -> str:
        return f"(?:{parser.get_terminal(name).pattern.to_regexp()})"

    top = (f"(?P<string>{terminal('STRING')})"
           f"|(?P<skip>{terminal('COMMENT')}|{terminal('LINE_CONT')})"
           r"|(?P<sep>\r?\n|;)|(?P<open>[(\[{])|(?P<close>[)\]}])")
    return _Scanner(re.compile(top), re.compile(f"{terminal('WS')}?"))


_new = object.__new__
_set = object.__setattr__
_PLAIN = (str, int, float, bool, str | None, list[str])


@functools.cache
def _movable(cls: type[A.Node]) -> tuple[str, ...]:
    """The fields of a node class that may hold spans or nodes (all but plain values)."""
    return tuple(k for k, f in cls.__pydantic_fields__.items() if f.annotation not in _PLAIN)


def relocate(node: A.Node, source: Source, shift: int) -> A.Node:
    """A copy of ``node`` whose spans are in ``source``, ``shift`` characters further on.

    Recursive: the AST is as deep as the definition's brackets and expressions, which the
    parser and the lowering bound (``Limits.max_depth``, 100; :meth:`Reparser.assemble`
    reads the whole text instead if a larger bracket limit lets it go too deep).
    """

    def span(v: Span) -> Span:
        out = _new(Span)
        _set(out, "__dict__", {"source": source, "start": v.start + shift, "end": v.end + shift})
        return out

    def copy(n: A.Node) -> A.Node:
        d = n.__dict__.copy()
        for k in _movable(type(n)):
            v = d[k]
            if v is None:
                continue
            t = type(v)
            if t is Span:
                d[k] = span(v)
            elif t is list or t is tuple:
                items = [span(x) if type(x) is Span else copy(x) if isinstance(x, A.Node) else x
                         for x in v]
                d[k] = items if t is list else tuple(items)
            elif isinstance(v, A.Node):
                d[k] = copy(v)
        out = _new(type(n))
        _set(out, "__dict__", d)
        _set(out, "__pydantic_fields_set__", n.__pydantic_fields_set__)
        _set(out, "__pydantic_extra__", None)
        _set(out, "__pydantic_private__", None)
        return out

    return copy(node)


# ---- positions ------------------------------------------------------------------------


class Lines:
    """Offsets in a text (code points) and LSP positions (lines and UTF-16 code units)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        i = text.find("\n")
        while i >= 0:
            self.starts.append(i + 1)
            i = text.find("\n", i + 1)

    def position(self, offset: int) -> T.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        before = self.text[self.starts[line]:offset]
        return T.Position(line, len(before.encode("utf-16-le")) // 2)

    def offset(self, pos: T.Position) -> int:
        if pos.line < 0:
            return 0
        if pos.line >= len(self.starts):
            return len(self.text)
        start = self.starts[pos.line]
        end = self.starts[pos.line + 1] - 1 if pos.line + 1 < len(self.starts) else len(self.text)
        units = 0
        for i in range(start, end):
            if units >= pos.character:
                return i
            units += 2 if ord(self.text[i]) > 0xFFFF else 1
        return end

    def range(self, start: int, end: int) -> T.Range:
        return T.Range(self.position(start), self.position(end))


def _lines(a: Analysis, source: Source, cache: dict) -> Lines:
    if source is a.source:
        return a.lines
    if id(source) not in cache:
        cache[id(source)] = Lines(source.text)
    return cache[id(source)]


# ---- diagnostics and fixes ------------------------------------------------------------


def lsp_diagnostics(a: Analysis) -> list[T.Diagnostic]:
    """Every diagnostic, located in the buffer. One found in an imported file is shown at
    the buffer's outermost block call that led there, its own place a related location."""
    cache: dict = {}
    lines = _lines(a, a.source, cache)
    out = []
    for d in a.diagnostics:
        related = []
        span = d.span
        if span is not None and span.source is not a.source:
            related.append(_related(a, span, d.label or "here", cache))
            outer = [f.span for f in d.chain if f.span.source is a.source]
            span = outer[0] if outer else None
        related += [_related(a, f.span, f.describe(), cache) for f in d.chain]
        text = d.message
        text += "".join(f"\nnote: {n}" for n in d.notes)
        text += "".join(f"\nhelp: {h}" for h in d.help)
        rng = lines.range(span.start, max(span.end, span.start)) if span else lines.range(0, 0)
        out.append(T.Diagnostic(
            rng, text, severity=T.DiagnosticSeverity.Error if d.severity == "error"
            else T.DiagnosticSeverity.Warning, code=d.code, source="archlang",
            related_information=[r for r in related if r is not None] or None))
    return out


def _related(a: Analysis, span: Span, message: str, cache: dict
             ) -> T.DiagnosticRelatedInformation | None:
    path = a.path_of(span.source)
    if path is None and span.source is not a.source:
        return None
    uri = from_fs_path(str(path)) if path is not None else "untitled:buffer"
    lines = _lines(a, span.source, cache)
    return T.DiagnosticRelatedInformation(T.Location(uri, lines.range(span.start, span.end)),
                                          message)


def fixes(a: Analysis, d: Diagnostic) -> list[tuple[str, int, int, str]]:
    """The concrete replacements a diagnostic's help names: (title, start, end, new text).

    ``did you mean `x`?`` under a name replaces the name; ``write `op(...)``` under part of
    a call of ``op`` replaces the call.
    """
    span = d.span
    if span is None or span.source is not a.source:
        return []
    text = a.source.text
    written = text[span.start:span.end]
    out = []
    for h in d.help:
        m = _MEAN.search(h)
        if m and _WORD.fullmatch(written):
            for name in re.findall(r"`([^`]+)`", m.group(1)):
                if _WORD.fullmatch(name):
                    out.append((f"replace `{written}` with `{name}`", span.start, span.end, name))
        m = _WRITE.search(h)
        if m and a.file is not None:
            call = _enclosing_call(a.file, span, m.group(1).split("(")[0])
            if call is not None:
                out.append((f"write `{m.group(1)}`", call.span.start, call.span.end, m.group(1)))
    return out


def _enclosing_call(file: A.File, span: Span, name: str) -> A.Call | None:
    best = None
    for n in walk(file):
        if (isinstance(n, A.Call) and n.name == name and n.span.start <= span.start
                and span.end <= n.span.end
                and (best is None or n.span.end - n.span.start < best.span.end - best.span.start)):
            best = n
    return best


def code_actions(a: Analysis, uri: str, rng: T.Range) -> list[T.CodeAction]:
    lines = a.lines
    start, end = lines.offset(rng.start), lines.offset(rng.end)
    published = lsp_diagnostics(a)
    out = []
    for d, shown in zip(a.diagnostics, published):
        if d.span is None or d.span.source is not a.source:
            continue
        if d.span.end < start or d.span.start > end:
            continue
        found = fixes(a, d)
        for title, s, e, new in found:
            edit = T.TextEdit(lines.range(s, e), new)
            out.append(T.CodeAction(title, kind=T.CodeActionKind.QuickFix, diagnostics=[shown],
                                    is_preferred=len(found) == 1,
                                    edit=T.WorkspaceEdit(changes={uri: [edit]})))
    return out


# ---- the graph, by place in the buffer --------------------------------------------------


@dataclass
class Place:
    """What the checked network made from one call written in the buffer: its nodes (a
    layer) or its block instances (a block call), one per expansion."""

    start: int
    end: int
    nodes: list[Node] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)


def places(a: Analysis) -> list[Place]:
    """Every call of the buffer the chosen network expanded, in text order."""
    g = a.graph
    if g is None:
        return []
    by: dict[tuple[int, int], Place] = {}
    for n in g.nodes:
        if n.span.source is a.source and not n.is_input:
            key = (n.span.start, n.span.end)
            by.setdefault(key, Place(*key)).nodes.append(n)
    for s in g.scopes:
        if s.kind == "block" and s.span.source is a.source:
            key = (s.span.start, s.span.end)
            by.setdefault(key, Place(*key)).scopes.append(s)
    return sorted(by.values(), key=lambda p: (p.start, p.end))


def scope_totals(g: Graph) -> dict[int, tuple[int, Any]]:
    """Params and MACs of each scope, its sub-scopes included."""
    acc: dict[int, list] = {s.id: [0, 0] for s in g.scopes}
    for n in g.nodes:
        for s in g.lineage(n.scope):
            acc[s][0] += n.params
            acc[s][1] = acc[s][1] + n.macs
    return {k: (v[0], v[1]) for k, v in acc.items()}


def _shape(g: Graph, s: Scope) -> str | None:
    """A block instance's output shape, or its outputs' (``c2: 8 x 16 x 16, c3: ...``)."""
    shapes = g.out_shapes(s)
    if not shapes or any(shape is None for _, shape in shapes):
        return None
    return ", ".join((f"{name}: " if name else "") + D.fmt_shape(shape)
                     for name, shape in shapes)


def _distinct(values: list) -> list:
    out: list = []
    for v in values:
        if v is not None and v not in out:
            out.append(v)
    return out


def hint_label(a: Analysis, p: Place, totals: dict) -> str | None:
    g = a.graph
    assert g is not None
    if p.scopes:
        shapes = _distinct([_shape(g, s) for s in p.scopes])
        counts = _distinct([totals[s.id][0] for s in p.scopes])
    else:
        shapes = _distinct([D.fmt_shape(n.shape) if n.shape is not None else None
                            for n in p.nodes])
        counts = []
    if not shapes:
        return None
    text = " | ".join(shapes[:_MAX_SHAPES])
    if len(shapes) > _MAX_SHAPES:
        text += f" | … ({len(shapes)} shapes)"
    label = f"-> {text}"
    if counts and max(counts) > 0:
        label += (f" · {counts[0]:,} params" if len(counts) == 1
                  else f" · {min(counts):,}–{max(counts):,} params")
    return label


def inlay_hints(a: Analysis, rng: T.Range | None = None) -> list[T.InlayHint]:
    """The output shape after each layer of the chosen network written in the buffer."""
    if a.graph is None:
        return []
    lines = a.lines
    lo, hi = (lines.offset(rng.start), lines.offset(rng.end)) if rng else (0, len(lines.text))
    totals = a.totals
    out = []
    for p in a.places:
        if not lo <= p.end <= hi:
            continue
        label = hint_label(a, p, totals)
        if label is not None:
            out.append(T.InlayHint(lines.position(p.end), label, kind=T.InlayHintKind.Type,
                                   padding_left=True))
    return out


# ---- the AST --------------------------------------------------------------------------


def walk(node: A.Node):
    """Every AST node under ``node`` (itself included)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for v in n.__dict__.values():
            if isinstance(v, A.Node):
                stack.append(v)
            elif isinstance(v, list):
                stack.extend(x for x in v if isinstance(x, A.Node))


def word_at(text: str, offset: int) -> tuple[str, int, int] | None:
    """The identifier under (or just before) ``offset``: (name, start, end)."""
    for m in _WORD.finditer(text, max(0, offset - 200), min(len(text), offset + 200)):
        if m.start() <= offset <= m.end():
            return m.group(0), m.start(), m.end()
    return None


def enclosing_def(file: A.File, offset: int) -> A.BlockDef | A.NetworkDef | None:
    for d in (*file.blocks, *file.networks):
        if d.span.start <= offset <= d.span.end:
            return d
    return None


def local_defs(d: A.BlockDef | A.NetworkDef, text: str) -> list[tuple[str, int, int, str]]:
    """The names a block or network defines: (name, start, end, kind) in text order."""
    out = []

    def named(name: str, after: int, kind: str) -> None:
        i = text.find(name, after)
        if i >= 0:
            out.append((name, i, i + len(name), kind))

    param = "block parameter" if isinstance(d, A.BlockDef) else "network parameter"
    for p in d.params:
        out.append((p.name, p.span.start, p.span.start + len(p.name), param))
    for n in walk(d.body):
        if isinstance(n, A.LetStmt):
            named(n.name, n.span.start + 3, "let")
        elif isinstance(n, A.ForStmt):
            named(n.var, n.span.start + 3, "loop variable")
        elif isinstance(n, A.InputStmt):
            named(n.name, n.span.start + 5, "input value")
        elif isinstance(n, (A.BlockInput, A.UnpackStmt)):
            kind = "input value" if isinstance(n, A.BlockInput) else "value"
            out += [(name, sp.start, sp.end, kind) for name, sp in zip(n.names, n.name_spans)]
        elif isinstance(n, (A.BindStmt, A.OutputStmt)) and n.name_span is not None:
            out.append((n.name, n.name_span.start, n.name_span.end,
                        "output" if isinstance(n, A.OutputStmt) else "value"))
        elif isinstance(n, A.Link) and n.label is not None and n.label_span is not None:
            end = n.label_span.end
            if n.index is not None and not n.label_exprs:  # `convs.{i}`: the list's name
                end = n.label_span.start + len(n.label)
            out.append((n.label, n.label_span.start, end,
                        "layer" if n.index is None else "list"))
    return sorted(out, key=lambda t: t[1])


def signature(d: A.BlockDef | A.NetworkDef, text: str) -> str:
    head = text[d.span.start:d.body.span.start].strip()
    return " ".join(head.split())


def leading_comment(d: A.BlockDef | A.NetworkDef, source: Source) -> str:
    """The comment lines written right above a definition."""
    line = source.location(d.span.start)[0] - 1
    out: list[str] = []
    while line >= 1:
        t = source.line_text(line).strip()
        if not t.startswith("#"):
            break
        out.append(t.lstrip("#").strip())
        line -= 1
    return "\n".join(reversed(out))


# ---- hover ----------------------------------------------------------------------------


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    if v is None:
        return "none"
    return str(v)


def _attrs(attrs: Any) -> str:
    try:
        values = attrs.model_dump() if hasattr(attrs, "model_dump") else dict(attrs)
    except Exception:  # noqa: BLE001 - a plugin op's attributes that do not dump
        return ""
    return ", ".join(f"{k}={_lit(v)}" for k, v in values.items())


def op_doc(name: str) -> str | None:
    op = lookup(name)
    if op is None:
        return None
    fields = []
    for k, f in op.attrs.model_fields.items():
        fields.append(f"`{k}`" + ("" if f.is_required() else f"={_lit(f.default)}"))
    text = f"**{op.name}** (op)"
    if op.doc:
        text += f"\n\n{op.doc}"
    if fields:
        text += "\n\narguments: " + ", ".join(fields)
    return text


def _table(rows: list[tuple[str, ...]], head: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows[:_MAX_ROWS]]
    if len(rows) > _MAX_ROWS:
        lines.append(f"| … and {len(rows) - _MAX_ROWS} more |" + " |" * (len(head) - 1))
    return "\n".join(lines)


def _shape_text(shape) -> str:
    return D.fmt_shape(shape) if shape is not None else "(not known)"


def hover_place(a: Analysis, p: Place) -> str:
    g = a.graph
    assert g is not None
    if p.scopes:
        first = p.scopes[0]
        block = a.prog.blocks.get(first.name) if a.prog else None
        text = f"**{first.name}** (block)"
        if block is not None:
            src = block.span.source
            text += f"\n\n```arch\n{signature(block, src.text)}\n```"
            doc = leading_comment(block, src)
            if doc:
                text += f"\n\n{doc}"
        args = ", ".join(f"{k}={_lit(v)}" for k, v in first.args.items())
        text += f"\n\n`{'.'.join(first.path) or a.network}`: {args}" if args else ""
        rows = [_scope_row(a, s) for s in p.scopes]
        return text + "\n\n" + _table(rows, ("instance", "output", "params", "MACs"))
    first = p.nodes[0]
    op = OPS[first.op]
    text = f"**{op.name}**" + (f" — {op.doc}" if op.doc else "")
    attrs = _attrs(first.attrs)
    if attrs:
        text += f"\n\n`{first.name}`: {attrs}"
    rows = [_node_row(n) for n in p.nodes]
    return text + "\n\n" + _table(rows, ("layer", "output", "params", "MACs"))


def _node_row(n: Node) -> tuple[str, ...]:
    return f"`{n.name}`", _shape_text(n.shape), f"{n.params:,}", D.fmt_count(n.macs)


def _scope_row(a: Analysis, s: Scope) -> tuple[str, ...]:
    """An instance of a block or group: its path, output, params and MACs (its layers')."""
    params, macs = a.totals[s.id]
    return f"`{'.'.join(s.path)}`", _shape(a.graph, s) or "(not known)", f"{params:,}", \
        D.fmt_count(macs)


def hover(a: Analysis, offset: int) -> str | None:
    """Markdown for what is under ``offset``."""
    text = a.source.text
    word = word_at(text, offset)
    labelled = _label_hover(a, offset)
    if labelled is not None:  # `conv1:`, `convs.{i}:`, `shortcut downsample`: what it names
        return labelled
    inner = [p for p in a.places if p.start <= offset <= p.end]
    if inner:
        p = min(inner, key=lambda p: p.end - p.start)
        # an argument naming an op or block (an initialiser, a network as a member) or a
        # value is itself; otherwise the innermost call under the cursor
        if word is None or word[1] == p.start or not (
                _names_something(a, word[0]) or _value_hover(a, word[0]) is not None):
            return hover_place(a, p)
    if word is None:
        return None
    name = word[0]
    if a.prog is not None:
        d = a.prog.blocks.get(name) or a.prog.members.get(name)
        if d is not None:
            src = d.span.source
            kind = "block" if isinstance(d, A.BlockDef) else "network"
            out = f"**{name}** ({kind})\n\n```arch\n{signature(d, src.text)}\n```"
            doc = leading_comment(d, src)
            if doc:
                out += f"\n\n{doc}"
            if kind == "network" and a.graph is not None and a.graph.network == name \
                    and not any(x.severity == "error" for x in a.diagnostics):  # a whole graph
                from archlang.analysis.report import totals
                from archlang.api import CheckResult

                out += "\n\n" + CheckResult(a.graph, totals(a.graph)).verdict()
            return out
    doc = op_doc(name)
    if doc is not None:
        return doc
    return _value_hover(a, name)


def _value_hover(a: Analysis, name: str) -> str | None:
    """A value's shapes (``x: 64 x 56 x 56``), or a list's (``feats: list of 4: [...]``),
    one per distinct binding."""
    g = a.graph
    if g is None:
        return None
    shown = []
    for ids in g.value_lists.get(name, []):
        items = [D.fmt_shape(g.nodes[i].shape) if g.nodes[i].shape is not None
                 else "(not known)" for i in ids[:_MAX_ROWS]]
        if len(ids) > _MAX_ROWS:
            items.append("…")
        shown.append(f"list of {len(ids)}: [" + ", ".join(items) + "]")
    shown += [D.fmt_shape(n.shape) for n in g.nodes if n.value_name == name
              and n.shape is not None]
    shown = _distinct(shown)
    if not shown:
        return None
    more = f" | … ({len(shown)} in all)" if len(shown) > _MAX_ROWS else ""
    return f"`{name}`: " + " | ".join(shown[:_MAX_ROWS]) + more


def _label_hover(a: Analysis, offset: int) -> str | None:
    """What a label under ``offset`` names: a layer (``conv1``, every item of ``convs.{i}``),
    a block instance, a group (``layer1: [...]``, ``features: { ... }``) or a residual's
    shortcut (``shortcut downsample``)."""
    file = a.file
    d = enclosing_def(file, offset) if file is not None else None
    if d is None or a.graph is None:
        return None
    for n in walk(d.body):
        if (isinstance(n, A.Link) and n.label_span is not None
                and n.label_span.start <= offset <= n.label_span.end):
            item = n.item.span
            exact = [p for p in a.places if (p.start, p.end) == (item.start, item.end)]
            if exact:  # a layer or a block call
                return hover_place(a, exact[0])
            groups = [s for s in a.graph.scopes if s.span is not None and s.kind != "block"
                      and s.span.source is a.source
                      and (s.span.start, s.span.end) == (item.start, item.end)]
            return _scopes_hover(a, f"**{n.label}** (group)", groups) if groups else None
        if (isinstance(n, A.Shortcut) and n.name_span is not None
                and n.name_span.start <= offset <= n.name_span.end):
            body = n.body.span
            inside = [p for p in a.places if body.start <= p.start and p.end <= body.end]
            # its layers, and the instances of the blocks it calls
            rows = [_node_row(x) for x in sorted((x for p in inside for x in p.nodes),
                                                 key=lambda x: x.id)]
            rows += [_scope_row(a, s) for s in sorted((s for p in inside for s in p.scopes),
                                                      key=lambda s: s.id)]
            text = f"**{n.name}** (shortcut: the residual's other path)"
            return text + ("\n\n" + _table(rows, ("layer", "output", "params", "MACs"))
                           if rows else "\n\nnot taken in this network: the identity")
    return None


def _scopes_hover(a: Analysis, head: str, scopes: list[Scope]) -> str:
    """A heading and a row per instance of a group or block: output, params, MACs."""
    rows = [_scope_row(a, s) for s in scopes]
    return head + "\n\n" + _table(rows, ("instance", "output", "params", "MACs"))


def _names_something(a: Analysis, name: str) -> bool:
    return lookup(name) is not None or (a.prog is not None and (
        name in a.prog.blocks or name in a.prog.members))


# ---- definition, references -------------------------------------------------------------


def definition(a: Analysis, offset: int) -> list[tuple[Source | Path, int, int]]:
    """Where the name under ``offset`` is defined: (source or file, start, end)."""
    file = a.file
    if file is None:
        return []
    for imp in file.imports:
        if imp.span.start <= offset <= imp.span.end:
            base = a.path.parent if a.path is not None else Path.cwd()
            target = (base / imp.path).resolve()
            return [(target, 0, 0)] if target.is_file() else []
    word = word_at(a.source.text, offset)
    if word is None:
        return []
    name = word[0]
    d = enclosing_def(file, offset)
    if d is not None:
        mine = [t for t in local_defs(d, a.source.text) if t[0] == name]
        before = [t for t in mine if t[1] <= offset]
        chosen = (before or mine)[-1:] if not before else before[-1:]
        if chosen and chosen[0][3] == "list":  # a list is made where its first item is
            chosen = [t for t in mine if t[3] == "list"][:1]
        if chosen and not _is_call_name(file, word[1], name):
            return [(a.source, chosen[0][1], chosen[0][2])]
    if a.prog is not None:
        target = a.prog.blocks.get(name) or a.prog.members.get(name)
        if target is not None:
            return [(target.name_span.source, target.name_span.start, target.name_span.end)]
    return []


def _is_call_name(file: A.File, start: int, name: str) -> bool:
    """Whether the name at ``start`` is written as a layer call (an op or block)."""
    for n in walk(file):
        if isinstance(n, (A.Call, A.UseStmt)) and n.name_span.start == start:
            return True
    return False


def references(a: Analysis, offset: int) -> list[tuple[Source, int, int]]:
    """Every place the name under ``offset`` is written: a block or network in every file
    of the program, a named value in its block or network."""
    file = a.file
    word = word_at(a.source.text, offset)
    if file is None or word is None or a.prog is None:
        return []
    name = word[0]
    out: list[tuple[Source, int, int]] = []
    if name in a.prog.blocks or name in a.prog.members:
        for src, f in a.prog.files:
            for n in walk(f):
                if isinstance(n, (A.Call, A.UseStmt, A.BlockDef, A.NetworkDef)) and n.name == name:
                    out.append((src, n.name_span.start, n.name_span.end))
                elif isinstance(n, A.Bare) and n.name == name:
                    out.append((src, n.span.start, n.span.end))
        return sorted(set(out), key=lambda t: (t[0].name, t[1]))
    d = enclosing_def(file, offset)
    if d is None:
        return []
    out = [(a.source, s, e) for n, s, e, _ in local_defs(d, a.source.text) if n == name]
    for n in walk(d.body):
        if isinstance(n, A.Name) and n.id == name or isinstance(n, A.Bare) and n.name == name:
            out.append((a.source, n.span.start, n.span.end))
        elif isinstance(n, A.OrderStmt):
            out += [(a.source, s.start, s.end) for nm, s in zip(n.names, n.name_spans)
                    if nm == name]
    return sorted(set(out), key=lambda t: t[1])


# ---- completion -------------------------------------------------------------------------


def _open_call(text: str, offset: int) -> tuple[str, str] | None:
    """The call whose parentheses hold ``offset``: (callee, text written inside so far)."""
    depth = 0
    i = offset - 1
    lo = max(0, offset - 4000)
    while i >= lo:
        ch = text[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                if ch == "[":
                    return None
                m = re.search(r"([A-Za-z_][A-Za-z_0-9]*)\s*$", text[max(0, i - 100):i])
                return (m.group(1), text[i + 1:offset]) if m else None
            depth -= 1
        elif ch in "{}" and depth == 0:
            return None
        i -= 1
    return None


def completion(a: Analysis, offset: int, last_good: Analysis | None = None
               ) -> list[T.CompletionItem]:
    """Ops, blocks, networks, keywords and names in scope; inside a call of an op or block,
    its keyword arguments first."""
    text = a.source.text
    known = a if a.prog is not None and a.file is not None else (last_good or a)
    items: list[T.CompletionItem] = []
    call = _open_call(text, offset)
    given: set[str] = set(re.findall(r"([A-Za-z_][A-Za-z_0-9]*)\s*=", call[1])) if call else set()
    if call is not None:
        op = lookup(call[0])
        block = known.prog.blocks.get(call[0]) if known.prog else None
        if op is not None:
            for k, f in op.attrs.model_fields.items():
                if k not in given:
                    items.append(T.CompletionItem(
                        k, kind=T.CompletionItemKind.Property, insert_text=f"{k}=",
                        detail=f"{op.name} argument" + (
                            "" if f.is_required() else f" (default {_lit(f.default)})"),
                        sort_text=f"0{k}"))
        elif block is not None:
            for p in block.params:
                if p.name not in given:
                    items.append(T.CompletionItem(
                        p.name, kind=T.CompletionItemKind.Property, insert_text=f"{p.name}=",
                        detail=f"{block.name} parameter", sort_text=f"0{p.name}"))
    file = known.file
    if file is not None:
        d = enclosing_def(file, min(offset, len(known.source.text)))
        if d is not None:
            seen = set()
            for name, _, _, kind in local_defs(d, known.source.text):
                if name not in seen:
                    seen.add(name)
                    items.append(T.CompletionItem(name, kind=T.CompletionItemKind.Variable,
                                                  detail=kind, sort_text=f"1{name}"))
    if call is None:
        for name in sorted(OPS):
            op = OPS[name]
            if op.source or op.construct:
                continue
            items.append(T.CompletionItem(name, kind=T.CompletionItemKind.Function,
                                          detail=op.doc or "op", sort_text=f"2{name}"))
        if known.prog is not None:
            for name, b in known.prog.blocks.items():
                items.append(T.CompletionItem(
                    name, kind=T.CompletionItemKind.Class,
                    detail=signature(b, b.span.source.text), sort_text=f"2{name}"))
            for name, n in known.prog.members.items():
                items.append(T.CompletionItem(
                    name, kind=T.CompletionItemKind.Module,
                    detail=signature(n, n.span.source.text), sort_text=f"2{name}"))
        items += [T.CompletionItem(k, kind=T.CompletionItemKind.Keyword, sort_text=f"3{k}")
                  for k in sorted(RESERVED_WORDS)]
    return items


# ---- semantic tokens --------------------------------------------------------------------

#: the kinds of token the server tells the editor, in the legend's order
TOKEN_TYPES = (T.SemanticTokenTypes.Keyword, T.SemanticTokenTypes.Function,
               T.SemanticTokenTypes.Class, T.SemanticTokenTypes.Variable,
               T.SemanticTokenTypes.Parameter, T.SemanticTokenTypes.Property,
               T.SemanticTokenTypes.Number, T.SemanticTokenTypes.String,
               T.SemanticTokenTypes.Comment, T.SemanticTokenTypes.Operator)
#: ``declaration``: where a name is defined; ``defaultLibrary``: a built-in op
TOKEN_MODIFIERS = (T.SemanticTokenModifiers.Declaration, T.SemanticTokenModifiers.DefaultLibrary)
LEGEND = T.SemanticTokensLegend([t.value for t in TOKEN_TYPES],
                                [m.value for m in TOKEN_MODIFIERS])
_KIND = {t: i for i, t in enumerate(TOKEN_TYPES)}
_DECLARATION, _LIBRARY = 1, 2
_DEFINITION_LINE = re.compile(r"^(?:block|network|import)\b", re.MULTILINE)


def _lexer() -> re.Pattern:
    """Comments, strings, numbers, names and operators, by the grammar's own terminals."""
    from archlang.syntax.parse import _cached

    parser = _cached(Limits().max_depth)[0]

    def terminal(name: str) -> str:
        return parser.get_terminal(name).pattern.to_regexp()

    return re.compile(
        f"(?P<comment>{terminal('COMMENT')})|(?P<string>{terminal('STRING')})"
        f"|(?P<number>{terminal('FLOAT')}|{terminal('INT')})|(?P<name>{terminal('NAME')})"
        r"|(?P<operator>->|\*\*|//|[=!<>]=|[-+*/%<>=])")


def semantic_tokens(a: Analysis, rng: T.Range | None = None, parser: Reparser | None = None,
                    known: Analysis | None = None) -> list[int]:
    """The buffer's tokens, delta-encoded as LSP wants them (line, start, length, type,
    modifiers, each position relative to the token before).

    Comments, strings, numbers, operators and keywords are read from the text (so a buffer
    that does not parse is still coloured); names by what the AST says they are: ops,
    blocks and networks, parameters, named values, layer labels. A buffer that does not
    parse has no AST: its definitions that parse alone stand in (``parser``), and the
    blocks of its last analysis that parsed (``known``).
    """
    text = a.source.text
    defs, blocks = _definitions(a, parser, known)
    names = _name_kinds(defs, blocks, text)
    lo, hi = 0, len(text)
    if rng is not None:  # from the start of the range's first line: no token is cut
        lo = a.lines.offset(T.Position(rng.start.line, 0))
        hi = a.lines.offset(rng.end)
    found: list[tuple[int, int, int, int]] = []
    for m in _lexer_of(parser).finditer(text, lo):
        start, end = m.span()
        if start >= hi:
            break
        kind = m.lastgroup
        if kind != "name":
            found.append((start, end, _KIND[T.SemanticTokenTypes(kind)], 0))
            continue
        word = m.group()
        if start in names:
            found.append((start, end, *names[start]))
        elif word in RESERVED_WORDS or (word in ("block", "network", "import")
                                        and start in defs.starts):
            found.append((start, end, _KIND[T.SemanticTokenTypes.Keyword], 0))
        elif lookup(word) is not None:  # an op named outside a call: `init conv2d.weight`
            found.append((start, end, _KIND[T.SemanticTokenTypes.Function], _op_modifiers(word)))
    return _encode(a, found)


def _lexer_of(parser: Reparser | None) -> re.Pattern:
    if parser is None:
        return _lexer()
    if parser.lexer is None:
        parser.lexer = _lexer()
    return parser.lexer


@dataclass
class _Definitions:
    items: list[A.Node]  # imports, blocks and networks
    starts: set[int]  # where each begins (its keyword)


def _definitions(a: Analysis, parser: Reparser | None, known: Analysis | None
                 ) -> tuple[_Definitions, set[str]]:
    """The buffer's top-level definitions, and the names of every block and network it can
    call."""
    if a.file is not None:
        f = a.file
        items = [*f.imports, *f.blocks, *f.networks]
    else:  # each definition that parses alone, cut where a line starts one
        text = a.source.text
        cuts = [m.start() for m in _DEFINITION_LINE.finditer(text)]
        items = []
        for start, end in zip(cuts, [*cuts[1:], len(text)]):
            piece = text[start:end].rstrip()
            own = parser.piece(piece, Limits().max_depth) if parser else _parse_piece(piece)
            if own is not None:
                items += [relocate(x, a.source, start) for v in own.__dict__.values()
                          if isinstance(v, list) for x in v]
    blocks = {d.name for d in items if isinstance(d, (A.BlockDef, A.NetworkDef))}
    prog = a.prog if a.file is not None else (known.prog if known is not None else None)
    if prog is not None:
        blocks |= set(prog.blocks) | set(prog.members)
    starts = {d.span.start for d in items}
    starts.update(m.start() for m in _DEFINITION_LINE.finditer(a.source.text))
    return _Definitions(items, starts), blocks


def _parse_piece(text: str) -> A.File | None:
    own = Source("<piece>", text)
    file, diags = parse_file(own, Limits())
    return file if not diags else None


def _op_modifiers(name: str) -> int:
    return _LIBRARY if lookup(name, installed=False) is not None else 0


def _name_kinds(defs: _Definitions, blocks: set[str], text: str) -> dict[int, tuple[int, int]]:
    """(type, modifiers) of each name the AST places, by its offset."""
    K = T.SemanticTokenTypes
    out: dict[int, tuple[int, int]] = {}

    def put(start: int, kind: T.SemanticTokenTypes, mods: int = 0) -> None:
        out[start] = (_KIND[kind], mods)

    def callee(start: int, name: str) -> None:
        if lookup(name) is not None and name not in blocks:
            put(start, K.Function, _op_modifiers(name))
        elif name in blocks:
            put(start, K.Class)

    for d in defs.items:
        if not isinstance(d, (A.BlockDef, A.NetworkDef)):
            continue
        put(d.name_span.start, K.Class, _DECLARATION)
        params = {p.name for p in d.params}
        local = set()
        for name, start, _, kind in local_defs(d, text):
            local.add(name)
            put(start, K.Parameter if kind in ("block parameter", "network parameter") else
                K.Property if kind in ("layer", "list") else K.Variable, _DECLARATION)
        for p in d.params:  # defaults may read the parameters before them
            if p.default is not None:
                for n in walk(p.default):
                    if isinstance(n, A.Name):
                        put(n.span.start, K.Parameter if n.id in params else K.Variable)
        for n in walk(d.body):
            if isinstance(n, A.Call):
                callee(n.name_span.start, n.name)
            elif isinstance(n, A.UseStmt):
                put(n.name_span.start, K.Class)
            elif isinstance(n, A.Bare):
                if n.name in local:
                    put(n.span.start, K.Parameter if n.name in params else K.Variable)
                else:
                    callee(n.span.start, n.name)
            elif isinstance(n, A.FCall) and isinstance(n.func, A.Name):
                put(n.func.span.start, K.Function, _LIBRARY)
            elif isinstance(n, A.Name) and n.span.start not in out:
                put(n.span.start, K.Parameter if n.id in params else K.Variable)
            elif isinstance(n, A.Arg) and n.name_span is not None:
                put(n.name_span.start, K.Parameter)
            elif isinstance(n, (A.Attr, A.InAttr)):
                put(n.span.end - len(n.attr), K.Property)
            elif isinstance(n, A.Shortcut) and n.name_span is not None:
                put(n.name_span.start, K.Property, _DECLARATION)
            elif isinstance(n, A.OrderStmt):
                for s in n.name_spans:
                    put(s.start, K.Variable)
            elif isinstance(n, A.InitStmt):
                _init_kinds(n, text, put)
    return out


def _init_kinds(n: A.InitStmt, text: str, put) -> None:
    """``init layer4.conv2d.weight: zeros``: the path's layers and op types, the tensor, and
    the initialiser."""
    K = T.SemanticTokenTypes
    at = n.span.start + len("init")
    for i, segment in enumerate(n.target):
        at = text.find(segment, at, n.value.span.start)
        if at < 0:
            return
        last = i == len(n.target) - 1
        if not last and lookup(segment) is not None:
            put(at, K.Function, _op_modifiers(segment))
        elif not segment.isdigit():
            put(at, K.Property)
        at += len(segment)
    if isinstance(n.value, A.Name):  # an initialiser without arguments
        put(n.value.span.start, K.Function, _LIBRARY)


def _encode(a: Analysis, found: list[tuple[int, int, int, int]]) -> list[int]:
    text = a.source.text
    starts = a.lines.starts
    ascii = text.isascii()  # then a code point is one UTF-16 unit
    data: list[int] = []
    line = char = 0
    for start, end, kind, mods in sorted(found):
        at = bisect.bisect_right(starts, start) - 1
        if ascii:
            col, length = start - starts[at], end - start
        else:
            col = len(text[starts[at]:start].encode("utf-16-le")) // 2
            length = len(text[start:end].encode("utf-16-le")) // 2
        if at != line:
            char = 0
        data += [at - line, col - char, length, kind, mods]
        line, char = at, col
    return data


# ---- outline, formatting ----------------------------------------------------------------


def symbols(a: Analysis) -> list[T.DocumentSymbol]:
    """Blocks and networks, each with the names it defines."""
    file = a.file
    if file is None:
        return []
    lines = a.lines
    kinds = {"block parameter": T.SymbolKind.TypeParameter,
             "network parameter": T.SymbolKind.TypeParameter, "layer": T.SymbolKind.Field,
             "list": T.SymbolKind.Array,
             "input value": T.SymbolKind.Variable, "output": T.SymbolKind.Variable,
             "value": T.SymbolKind.Variable, "let": T.SymbolKind.Constant,
             "loop variable": T.SymbolKind.Variable}
    out = []
    for d in sorted((*file.blocks, *file.networks), key=lambda d: d.span.start):
        children = [T.DocumentSymbol(name, kinds[kind], lines.range(s, e), lines.range(s, e),
                                     detail=kind)
                    for name, s, e, kind in local_defs(d, a.source.text)]
        kind = T.SymbolKind.Class if isinstance(d, A.BlockDef) else T.SymbolKind.Module
        out.append(T.DocumentSymbol(
            d.name, kind, lines.range(d.span.start, d.span.end),
            lines.range(d.name_span.start, d.name_span.end),
            detail=signature(d, a.source.text), children=children))
    return out


def formatting(text: str, name: str) -> list[T.TextEdit]:
    """One edit replacing the buffer with ``archlang fmt``'s layout (none when it does not
    parse or is already formatted)."""
    from archlang.fmt import format_text

    out, _ = format_text(text, name)
    if out is None or out == text:
        return []
    lines = Lines(text)
    return [T.TextEdit(lines.range(0, len(text)), out)]


# ---- the server -------------------------------------------------------------------------


class Protocol(LanguageServerProtocol):
    """pygls's protocol, with two holes of pygls 1.x closed: a request whose parameters do
    not fit its method is answered with an error (pygls answers nothing, and the client
    waits forever), and a message whose body is no JSON object (a JSON-RPC batch, a bare
    number) is dropped (pygls keeps it in its buffer and answers nothing after it)."""

    def _deserialize_message(self, data: Any) -> Any:
        try:
            return super()._deserialize_message(data)
        except JsonRpcException as e:
            if isinstance(data, dict) and "id" in data and "method" in data:
                self._send_response(data["id"], error=e.to_response_error())
            raise

    def data_received(self, data: bytes) -> None:
        _, sep, body = data.partition(b"\r\n\r\n")
        if sep and not body.lstrip().startswith(b"{"):
            log.warning("dropped a message whose body is not a JSON object")
            self._message_buf = []
            return
        super().data_received(data)


class ArchServer(LanguageServer):
    """The open buffers' analyses and the client's settings."""

    def __init__(self) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("archlang")
        except PackageNotFoundError:
            v = "0"
        super().__init__("archlang", v, protocol_cls=Protocol)
        self.settings = Settings()
        self.analyses: dict[str, tuple[str, Analysis]] = {}  # uri -> (text, analysis)
        self.good: dict[str, Analysis] = {}  # uri -> its last analysis that parsed
        self.parser = Reparser()  # the definitions read so far, in every file

    def analysis(self, uri: str) -> Analysis:
        text = self.workspace.get_text_document(uri).source
        held = self.analyses.get(uri)
        if held is not None and held[0] == text:
            return held[1]
        path = to_fs_path(uri) if uri.startswith("file:") else None
        a = analyse(text, path, self.settings, parser=self.parser)
        if a.crash:
            log.error("checking %s failed:\n%s", uri, a.crash)
            self.show_message_log(f"archlang: checking {uri} failed:\n{a.crash}",
                                  T.MessageType.Error)
        self.analyses[uri] = (text, a)
        if a.file is not None:
            self.good[uri] = a
        return a

    def publish(self, uri: str) -> None:
        a = self.analysis(uri)
        if a.crash is None:
            self.publish_diagnostics(uri, lsp_diagnostics(a))


def guarded(empty: Any = None):
    """A handler that logs what it raises and answers ``empty``: no request, however
    malformed, stops the server."""

    def wrap(f):
        @functools.wraps(f)
        def run(ls: ArchServer, params):
            try:
                return f(ls, params)
            except Exception:  # no request may stop the server
                log.exception("%s failed", f.__name__)
                with contextlib.suppress(Exception):  # the client may be gone
                    ls.show_message_log(f"archlang: {f.__name__} failed:\n"
                                        f"{traceback.format_exc()}", T.MessageType.Error)
                return empty() if callable(empty) else empty
        return run
    return wrap


def _location(a: Analysis, where: Source | Path, start: int, end: int) -> T.Location | None:
    if isinstance(where, Path):
        return T.Location(from_fs_path(str(where)), T.Range(T.Position(0, 0), T.Position(0, 0)))
    path = a.path_of(where)
    if path is None:
        return None
    lines = Lines(where.text)
    return T.Location(from_fs_path(str(path)), lines.range(start, end))


def server() -> ArchServer:
    ls = ArchServer()

    @ls.feature(T.INITIALIZE)
    @guarded()
    def initialize(ls: ArchServer, params: T.InitializeParams) -> None:
        ls.settings = Settings.parse(params.initialization_options)

    @ls.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)
    @guarded()
    def did_change_configuration(ls: ArchServer, params: T.DidChangeConfigurationParams):
        ls.settings = Settings.parse(params.settings)
        ls.analyses.clear()
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_OPEN)
    @guarded()
    def did_open(ls: ArchServer, params: T.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    @guarded()
    def did_change(ls: ArchServer, params: T.DidChangeTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_SAVE)
    @guarded()
    def did_save(ls: ArchServer, params: T.DidSaveTextDocumentParams) -> None:
        ls.analyses.clear()  # an imported file may have changed on disk
        ls.publish(params.text_document.uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    @guarded()
    def did_close(ls: ArchServer, params: T.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.pop(uri, None)
        ls.good.pop(uri, None)
        ls.publish_diagnostics(uri, [])

    @ls.feature(T.TEXT_DOCUMENT_INLAY_HINT)
    @guarded(list)
    def inlay_hint(ls: ArchServer, params: T.InlayHintParams):
        return inlay_hints(ls.analysis(params.text_document.uri), params.range)

    @ls.feature(T.TEXT_DOCUMENT_HOVER)
    @guarded()
    def on_hover(ls: ArchServer, params: T.HoverParams):
        a = ls.analysis(params.text_document.uri)
        text = hover(a, a.lines.offset(params.position))
        if text is None:
            return None
        return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, text))

    @ls.feature(T.TEXT_DOCUMENT_DEFINITION)
    @guarded(list)
    def on_definition(ls: ArchServer, params: T.DefinitionParams):
        a = ls.analysis(params.text_document.uri)
        found = definition(a, a.lines.offset(params.position))
        return [loc for loc in (_location(a, *f) for f in found) if loc is not None]

    @ls.feature(T.TEXT_DOCUMENT_REFERENCES)
    @guarded(list)
    def on_references(ls: ArchServer, params: T.ReferenceParams):
        a = ls.analysis(params.text_document.uri)
        found = references(a, a.lines.offset(params.position))
        return [loc for loc in (_location(a, *f) for f in found) if loc is not None]

    @ls.feature(T.TEXT_DOCUMENT_COMPLETION,
                T.CompletionOptions(trigger_characters=["(", ",", " ", ">"]))
    @guarded(list)
    def on_completion(ls: ArchServer, params: T.CompletionParams):
        uri = params.text_document.uri
        a = ls.analysis(uri)
        offset = a.lines.offset(params.position)
        return T.CompletionList(is_incomplete=False,
                                items=completion(a, offset, ls.good.get(uri)))

    @ls.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded(list)
    def on_symbols(ls: ArchServer, params: T.DocumentSymbolParams):
        return symbols(ls.analysis(params.text_document.uri))

    @ls.feature(T.TEXT_DOCUMENT_FORMATTING)
    @guarded(list)
    def on_formatting(ls: ArchServer, params: T.DocumentFormattingParams):
        doc = ls.workspace.get_text_document(params.text_document.uri)
        return formatting(doc.source, Path(doc.path).name if doc.path else "<buffer>")

    @ls.feature(T.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
    @guarded(lambda: T.SemanticTokens(data=[]))
    def on_semantic_tokens(ls: ArchServer, params: T.SemanticTokensParams):
        uri = params.text_document.uri
        a = ls.analysis(uri)
        return T.SemanticTokens(data=semantic_tokens(a, None, ls.parser, ls.good.get(uri)))

    @ls.feature(T.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, LEGEND)
    @guarded(lambda: T.SemanticTokens(data=[]))
    def on_semantic_tokens_range(ls: ArchServer, params: T.SemanticTokensRangeParams):
        uri = params.text_document.uri
        a = ls.analysis(uri)
        return T.SemanticTokens(data=semantic_tokens(a, params.range, ls.parser,
                                                     ls.good.get(uri)))

    @ls.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
    @guarded(list)
    def on_code_action(ls: ArchServer, params: T.CodeActionParams):
        uri = params.text_document.uri
        return code_actions(ls.analysis(uri), uri, params.range)

    return ls


def serve() -> None:
    """Serve one client on standard input and output until it exits."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="archlang lsp: %(levelname)s: %(message)s")
    server().start_io()
