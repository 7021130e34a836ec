"""Source text and spans: byte offsets in a file, mapped to line/column and snippets.

>>> src = Source("a.arch", "x\\nconv2d(3)\\n")
>>> src.location(2)
(2, 1)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True, repr=False)
class Span:
    """A half-open range of character offsets ``[start, end)`` in one source."""

    source: Source
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.source.location(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.location(self.start)[1]

    @property
    def text(self) -> str:
        """The source text it covers, as the user wrote it."""
        return self.source.text[self.start:self.end]

    def __str__(self) -> str:
        line, col = self.source.location(self.start)
        return f"{self.source.name}:{line}:{col}"

    def __repr__(self) -> str:
        return f"Span({self}, {self.start}..{self.end})"

    def to(self, other: Span) -> Span:
        """The span covering ``self`` and ``other`` (same source)."""
        return Span(self.source, min(self.start, other.start), max(self.end, other.end))


@dataclass(frozen=True, eq=False, repr=False)
class Source:
    """One file of spec text. ``name`` is what diagnostics print (a relative path)."""

    name: str
    text: str
    _line_starts: list[int] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        self._line_starts.extend(starts)

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:  # never the whole text: spans and diagnostics print small
        return f"Source({self.name!r}, {len(self.text)} characters)"

    def location(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset, clamped into the text."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def span(self, start: int, end: int | None = None) -> Span:
        start = max(0, min(start, len(self.text)))
        end = start if end is None else max(start, min(end, len(self.text)))
        return Span(self, start, end)

    def end_span(self) -> Span:
        """A zero-width span at the last non-blank character (for 'unexpected end')."""
        stripped = self.text.rstrip()
        return self.span(len(stripped), len(stripped))
