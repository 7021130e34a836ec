"""Diagnostics: a stable code, a short message, a span, a label, notes and help.

Every stage returns diagnostics next to what it built; only the API edge
(:func:`archlang.check`, the CLI) turns errors into :class:`ArchError` or an exit code.

>>> from archlang.source import Source
>>> src = Source("m.arch", "network n {\\n  con2d(3)\\n}\\n")
>>> d = Diagnostic("E010", "unknown layer `con2d`", src.span(14, 19), "not an op or block",
...                help=["did you mean `conv2d`?"])
>>> print(d.render())
error[E010]: unknown layer `con2d`
 --> m.arch:2:3
  |
2 |   con2d(3)
  |   ^^^^^ not an op or block
  |
  = help: did you mean `conv2d`?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from archlang.source import Span

# The catalogue of codes. docs/diagnostics.md documents each one with an example and a
# test fails if a code here has no golden error case.
CODES: dict[str, str] = {
    "E001": "syntax error: unexpected character",
    "E002": "syntax error: unexpected token",
    "E003": "syntax error: unexpected end of file",
    "E004": "invalid literal",
    "E010": "unknown op or block",
    "E011": "unknown argument",
    "E012": "unknown name",
    "E013": "duplicate name",
    "E014": "wrong number of arguments",
    "E015": "type error",
    "E016": "invalid attribute value",
    "E017": "misplaced statement",
    "E018": "invalid layer name",
    "E020": "channel mismatch",
    "E021": "spatial size mismatch",
    "E022": "size reaches zero",
    "E023": "rank mismatch",
    "E024": "groups do not divide channels",
    "E025": "size must be concrete",
    "E030": "no output",
    "E031": "duplicate output",
    "E032": "unused value",
    "E040": "import not found",
    "E041": "import outside the spec root",
    "E042": "import cycle",
    "E043": "imported file is not a spec",
    "E050": "too many layers",
    "E051": "nesting too deep",
    "E052": "repeat count too large",
    "E053": "file too large",
    "E054": "too many parameters",
    "E055": "recursive block",
    "E056": "number too large",
    "E060": "no such network",
    "E061": "invalid option",
}


#: Codes about how archlang was called (a path, an option, a network name), not about a
#: spec's text: the only diagnostics that may come without a location, and, so located,
#: usage errors (exit 2) on the command line.
COMMAND_CODES = frozenset({"E040", "E043", "E053", "E060", "E061"})


@dataclass(frozen=True)
class Frame:
    """One block instance on the call chain that produced a diagnostic."""

    block: str
    instance: str
    span: Span

    def describe(self) -> str:
        return f"in {self.block} `{self.instance}` at {self.span}"


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    label: str = ""
    notes: list[str] = field(default_factory=list)
    help: list[str] = field(default_factory=list)
    chain: tuple[Frame, ...] = ()
    severity: str = "error"

    def render(self, color: bool = False) -> str:
        return render_text(self, color=color)

    def to_json(self) -> dict:
        out: dict = {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "label": self.label,
            "notes": [*self.notes, *(f.describe() for f in self.chain)],
            "help": list(self.help),
        }
        if self.span is not None:
            line, col = self.span.source.location(self.span.start)
            end_line, end_col = self.span.source.location(self.span.end)
            out["file"] = self.span.source.name
            out["line"], out["column"] = line, col
            out["end_line"], out["end_column"] = end_line, end_col
        return out


class ArchError(Exception):
    """Raised at the API edge; carries every diagnostic of the run."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        summary = f"error[{first.code}]: {first.message}" if first else "error"
        if first is not None and first.span is not None:
            summary = f"{first.span}: {summary}"
        more = len(self.diagnostics) - 1
        super().__init__(summary + (f" (and {more} more)" if more > 0 else ""))

    def render(self, color: bool = False) -> str:
        return render_all(self.diagnostics, color=color)

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]


def did_you_mean(name: str, candidates: Iterable[str]) -> list[str]:
    """Near-miss suggestions as help lines (empty when nothing is close)."""
    import difflib  # only when a name is not found

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return []
    return ["did you mean " + " or ".join(f"`{c}`" for c in close) + "?"]


def _style(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def render_text(d: Diagnostic, color: bool = False) -> str:
    head_color = "1;31" if d.severity == "error" else "1;33"
    lines = [_style(f"{d.severity}[{d.code}]", head_color, color) + f": {d.message}"]
    if d.span is None:
        for note in [*d.notes, *(f.describe() for f in d.chain)]:
            lines.append(f"  = note: {note}")
        for h in d.help:
            lines.append(f"  = help: {h}")
        return "\n".join(lines)
    src = d.span.source
    line, col = src.location(d.span.start)
    end_line, end_col = src.location(d.span.end)
    gutter = " " * len(str(line))
    lines.append(f"{gutter}--> {src.name}:{line}:{col}")
    lines.append(f"{gutter} |")
    text = src.line_text(line) if line <= src.line_count else ""
    shown = text.expandtabs(4) if "\t" in text else text
    lines.append(f"{line} | {shown}")
    width = (end_col - col) if end_line == line else max(1, len(text) - col + 1)
    width = max(1, width)
    prefix = text[: col - 1].expandtabs(4) if "\t" in text else text[: col - 1]
    carets = _style("^" * width, head_color, color)
    lines.append(f"{gutter} | {' ' * len(prefix)}{carets}" + (f" {d.label}" if d.label else ""))
    extra = [*d.notes, *(f.describe() for f in d.chain)]
    if extra or d.help:
        lines.append(f"{gutter} |")
    for note in extra:
        lines.append(f"{gutter} = note: {note}")
    for h in d.help:
        lines.append(f"{gutter} = help: {h}")
    return "\n".join(lines)


MAX_SHOWN = 50


def render_all(diags: list[Diagnostic], color: bool = False) -> str:
    shown = [render_text(d, color) for d in diags[:MAX_SHOWN]]
    if len(diags) > MAX_SHOWN:
        shown.append(f"... and {len(diags) - MAX_SHOWN} more")
    errors = sum(1 for d in diags if d.severity == "error")
    if errors:
        shown.append(f"{errors} error{'s' if errors != 1 else ''} found")
    return "\n\n".join(shown[:-1]) + ("\n\n" if len(shown) > 1 else "") + shown[-1] if shown else ""


class SpecError(Exception):
    """The one error type of the passes: a diagnostic not yet reported.

    Raised where a problem is found; the pass that catches it reports it with
    :meth:`Reporter.add`. An op's rule knows no spans: it leaves ``span`` empty and may name
    the argument to underline in ``arg``, and the expander locates it.
    """

    def __init__(self, code: str, message: str, span: Span | None = None, label: str = "",
                 help: list[str] | None = None, notes: list[str] | None = None,
                 arg: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.label = code, message, span, label
        self.help, self.notes, self.arg = list(help or ()), list(notes or ()), arg

    def __reduce__(self):
        # copy and pickle rebuild it from all its fields (a graph holds some, in the size
        # equalities its shape rules assume), not from the message alone
        return (SpecError, (self.code, self.message, self.span, self.label, self.help,
                            self.notes, self.arg))


class Reporter:
    """Collects diagnostics for one stage; ``error`` returns the diagnostic it adds."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self._said: set[tuple] = set()

    def error(self, code: str, message: str, span: Span | None, label: str = "", *,
              notes: Iterable[str] = (), help: Iterable[str] = (),
              chain: tuple[Frame, ...] = ()) -> Diagnostic:
        assert code in CODES, code
        d = Diagnostic(code, message, span, label, list(notes), list(help), chain)
        # a loop repeating one mistake says it once
        key = (code, message, span and (span.source.name, span.start, span.end), label)
        if key not in self._said:
            self._said.add(key)
            self.diagnostics.append(d)
        return d

    def add(self, e: SpecError, chain: tuple[Frame, ...] = (), span: Span | None = None
            ) -> Diagnostic:
        """Report a raised :class:`SpecError` (at ``span`` when it carries none)."""
        return self.error(e.code, e.message, e.span or span, e.label, notes=e.notes,
                          help=e.help, chain=chain)

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)
