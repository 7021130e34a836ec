"""A Pygments lexer for ``.arch`` files (``pygmentize -l arch``; Sphinx and MkDocs code
blocks marked ``arch``), registered through the ``pygments.lexers`` entry point.

Keywords, numbers, strings, comments and operators follow archlang/grammar.lark; a name is
an op (``Name.Builtin``) when the op registry knows it, asked on first use, so ops from
plugins are highlighted too and no list of op names is kept here. Pygments is in the
``editor`` extra; nothing on the ``check`` path imports this module.

>>> from pygments import lex
>>> [(str(t), v) for t, v in lex("relu  # x", ArchLexer()) if v.strip()]
[('Token.Name.Builtin', 'relu'), ('Token.Comment.Single', '# x')]
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from archlang.syntax.parse import RESERVED_WORDS

#: the grammar's words: reserved ones and those that start a definition at the top of a file
KEYWORDS = tuple(w for w in RESERVED_WORDS if w not in ("true", "false")) + (
    "import", "block", "network")
_DIGITS = r"[0-9](?:_?[0-9])*"
_FLOAT = (rf"(?:{_DIGITS})?\.{_DIGITS}(?:[eE][+-]?[0-9]+)?|{_DIGITS}[eE][+-]?[0-9]+"
          rf"|{_DIGITS}\.(?:[eE][+-]?[0-9]+)?")


class ArchLexer(RegexLexer):
    """archlang's ``.arch`` specs."""

    name = "archlang"
    aliases = ("arch", "archlang")
    filenames = ("*.arch",)
    mimetypes = ("text/x-archlang",)
    url = "https://github.com/archlang/archlang"

    tokens = {  # noqa: RUF012 - the form Pygments reads
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"\\\r?\n", Text),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\[nt\'"\\])*"', String.Double),
            (r"'(?:[^'\\\n]|\\[nt'\"\\])*'", String.Single),
            (r"(block|network)([ \t\f]+)([A-Za-z_][A-Za-z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (_FLOAT, Number.Float),
            (_DIGITS, Number.Integer),
            (r"([A-Za-z_][A-Za-z0-9_]*)([ \t\f]*)(:)",  # a layer's or an input's name
             bygroups(Name.Label, Whitespace, Punctuation)),
            (rf"([A-Za-z_][A-Za-z0-9_]*)(\.)(?={{|{_DIGITS}[ \t\f]*:)",  # a list: convs.{{i}}:
             bygroups(Name.Label, Punctuation)),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"->|\*\*|//|==|!=|<=|>=|[<>+\-*/%=]", Operator),
            (r"[()\[\]{},:;.]", Punctuation),
        ],
    }

    def get_tokens_unprocessed(self, text, stack=("root",)):
        ops = _op_names()
        for index, token, value in super().get_tokens_unprocessed(text, stack):
            if token is Name and value in ops:
                token = Name.Builtin
            yield index, token, value


def _op_names() -> frozenset[str]:
    """The op registry's names (built-in ops and installed plugins); none when the registry
    cannot be read, so highlighting never fails."""
    try:
        from archlang.ops import registry

        return frozenset(registry.all_names())
    except Exception:  # noqa: BLE001 - a broken plugin must not break highlighting
        return frozenset()
