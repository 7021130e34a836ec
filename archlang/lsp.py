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
  names in scope), document symbols, and formatting through :mod:`archlang.fmt`.

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
from archlang.program import Program, _load_file, no_cyclic_gc
from archlang.source import Source, Span
from archlang.syntax import ast as A
from archlang.syntax.parse import RESERVED_WORDS

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

    def path_of(self, source: Source) -> Path | None:
        """The file a source in this program was read from."""
        if source is self.source:
            return self.path
        if self.prog is not None:
            cwd = Path.cwd()
            for _, real, _ in self.prog.deps:
                p = Path(real)
                name = os.path.relpath(p, cwd) if p.is_relative_to(cwd) else p.name
                if name == source.name:
                    return p
        return None


def analyse(text: str, path: str | Path | None = None, settings: Settings | None = None,
            limits: Limits | None = None) -> Analysis:
    """Check ``text`` as the content of the file at ``path`` (``None``: an unsaved buffer;
    imports then resolve in the current directory)."""
    settings = settings or Settings()
    limits = limits or Limits()
    path = Path(path) if path is not None else None
    source = Source(_display_name(path), text)
    state = Run(str(path) if path else text, Options(), limits)
    chosen: list[str] = []

    def load(run: Run) -> None:
        run.prog = _load_buffer(source, path, run.limits)
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


def _load_buffer(source: Source, path: Path | None, limits: Limits) -> Program:
    """``program.load_program`` for text that is (or will be) the file at ``path``."""
    prog = Program(main=source)
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


# ---- positions ------------------------------------------------------------------------


class Lines:
    """Offsets in a text (code points) and LSP positions (lines and UTF-16 code units)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        self.starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")

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
    lines = Lines(a.source.text)
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


def _shape(g: Graph, s: Scope) -> tuple | None:
    return g.nodes[s.output].shape if s.output is not None else None


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
        shapes = _distinct([n.shape for n in p.nodes])
        counts = []
    if not shapes:
        return None
    text = " | ".join(D.fmt_shape(s) for s in shapes[:_MAX_SHAPES])
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
    lines = Lines(a.source.text)
    lo, hi = (lines.offset(rng.start), lines.offset(rng.end)) if rng else (0, len(lines.text))
    totals = scope_totals(a.graph)
    out = []
    for p in places(a):
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

    for p in d.params:
        out.append((p.name, p.span.start, p.span.start + len(p.name), "parameter"))
    for n in walk(d.body):
        if isinstance(n, A.LetStmt):
            named(n.name, n.span.start + 3, "let")
        elif isinstance(n, A.ForStmt):
            named(n.var, n.span.start + 3, "loop variable")
        elif isinstance(n, A.InputStmt):
            named(n.name, n.span.start + 5, "input value")
        elif isinstance(n, (A.BindStmt, A.OutputStmt)) and n.name_span is not None:
            out.append((n.name, n.name_span.start, n.name_span.end,
                        "output" if isinstance(n, A.OutputStmt) else "value"))
        elif isinstance(n, A.Link) and n.label is not None and n.label_span is not None:
            out.append((n.label, n.label_span.start, n.label_span.end, "layer"))
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
        totals = scope_totals(g)
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
        rows = [(f"`{'.'.join(s.path)}`", _shape_text(_shape(g, s)), f"{totals[s.id][0]:,}",
                 D.fmt_count(totals[s.id][1])) for s in p.scopes]
        return text + "\n\n" + _table(rows, ("instance", "output", "params", "MACs"))
    first = p.nodes[0]
    op = OPS[first.op]
    text = f"**{op.name}**" + (f" — {op.doc}" if op.doc else "")
    attrs = _attrs(first.attrs)
    if attrs:
        text += f"\n\n`{first.name}`: {attrs}"
    rows = [(f"`{n.name}`", _shape_text(n.shape), f"{n.params:,}", D.fmt_count(n.macs))
            for n in p.nodes]
    return text + "\n\n" + _table(rows, ("layer", "output", "params", "MACs"))


def hover(a: Analysis, offset: int) -> str | None:
    """Markdown for what is under ``offset``."""
    text = a.source.text
    word = word_at(text, offset)
    inner = [p for p in places(a) if p.start <= offset <= p.end]
    if inner:
        p = min(inner, key=lambda p: p.end - p.start)
        # an argument naming an op or block (an initialiser, a network as a member) is
        # itself; otherwise the innermost call under the cursor
        if word is None or word[1] == p.start or not _names_something(a, word[0]):
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
            if kind == "network" and a.graph is not None and a.graph.network == name:
                from archlang.analysis.report import totals
                from archlang.api import CheckResult

                out += "\n\n" + CheckResult(a.graph, totals(a.graph)).verdict()
            return out
    doc = op_doc(name)
    if doc is not None:
        return doc
    if a.graph is not None:
        named = [n for n in a.graph.nodes if n.value_name == name and n.shape is not None]
        if named:
            return f"`{name}`: " + " | ".join(_distinct([D.fmt_shape(n.shape) for n in named]))
    return None


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


# ---- outline, formatting ----------------------------------------------------------------


def symbols(a: Analysis) -> list[T.DocumentSymbol]:
    """Blocks and networks, each with the names it defines."""
    file = a.file
    if file is None:
        return []
    lines = Lines(a.source.text)
    kinds = {"parameter": T.SymbolKind.TypeParameter, "layer": T.SymbolKind.Field,
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

    def analysis(self, uri: str) -> Analysis:
        text = self.workspace.get_text_document(uri).source
        held = self.analyses.get(uri)
        if held is not None and held[0] == text:
            return held[1]
        path = to_fs_path(uri) if uri.startswith("file:") else None
        a = analyse(text, path, self.settings)
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
        text = hover(a, Lines(a.source.text).offset(params.position))
        if text is None:
            return None
        return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, text))

    @ls.feature(T.TEXT_DOCUMENT_DEFINITION)
    @guarded(list)
    def on_definition(ls: ArchServer, params: T.DefinitionParams):
        a = ls.analysis(params.text_document.uri)
        found = definition(a, Lines(a.source.text).offset(params.position))
        return [loc for loc in (_location(a, *f) for f in found) if loc is not None]

    @ls.feature(T.TEXT_DOCUMENT_REFERENCES)
    @guarded(list)
    def on_references(ls: ArchServer, params: T.ReferenceParams):
        a = ls.analysis(params.text_document.uri)
        found = references(a, Lines(a.source.text).offset(params.position))
        return [loc for loc in (_location(a, *f) for f in found) if loc is not None]

    @ls.feature(T.TEXT_DOCUMENT_COMPLETION,
                T.CompletionOptions(trigger_characters=["(", ",", " ", ">"]))
    @guarded(list)
    def on_completion(ls: ArchServer, params: T.CompletionParams):
        uri = params.text_document.uri
        a = ls.analysis(uri)
        offset = Lines(a.source.text).offset(params.position)
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
