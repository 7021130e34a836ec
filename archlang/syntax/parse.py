"""Parse: spec text → Lark tree, or one located syntax diagnostic.

LALR(1); the grammar is proved free of conflicts and terminal collisions by building it with
Lark's ``strict=True`` in the tests (tests/test_parse.py). Lark's own exceptions never
leave this module: they become E001–E004 diagnostics pointing into the user's text (E018 for
a reserved word where a layer's or value's name should be, E051 for brackets nested too
deep).

>>> from archlang.source import Source
>>> tree, diags = parse(Source("m.arch", "network n {\\n input x: [3]\\n}"))
>>> tree.data, diags
('start', [])
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from archlang.diagnostics import Diagnostic, Reporter
from archlang.source import Source
from archlang.syntax.lexer import share_root_scanner
from archlang.syntax.positions import offsets_only

OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = {v: k for k, v in OPENERS.items()}
SYMBOL = {"LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "LBRACE": "{", "RBRACE": "}"}


#: Words that only the grammar may use where a statement or a layer starts: they cannot name a
#: layer or a value (``for: conv2d(...)`` is an error that says so). ``block``, ``network`` and
#: ``import`` start a definition only at the top of a file, so inside a body they are names.
RESERVED_WORDS = ("input", "output", "training", "let", "for", "in", "if", "else", "init",
                  "use", "concat", "average", "residual", "shortcut", "true", "false", "and",
                  "or", "not")

#: tokens after which a statement or a chain link starts
_LINK_STARTS = frozenset({"_NL", "SEMICOLON", "LBRACE", "LSQB", "COMMA", "_ARROW"})


def _arrow_follows(text: str, pos: int) -> bool:
    """Whether the next token after ``pos``, past blanks, comments and line breaks, is ``->``
    (a chain continued on the next line)."""
    end = len(text)
    while pos < end:
        c = text[pos]
        if c in " \t\f\r\n":
            pos += 1
        elif c == "#":
            pos = text.find("\n", pos)
            if pos < 0:
                return False
        elif c == "\\" and text.startswith(("\n", "\r\n"), pos + 1):
            pos += 2
        else:
            break
    return text.startswith("->", pos)


class ParseState:
    """What the post-lexer learnt in one parse: the brackets still open, the last two tokens
    passed on, and the bracket that nested too deep or closed nothing. One per call of
    :func:`parse`, read by its error report."""

    __slots__ = ("before_previous", "previous", "seen", "stack", "text", "too_deep", "unmatched")

    def __init__(self, text: str = "", seen: list[Token] | None = None) -> None:
        self.text = text  # read to see a line starting with ``->`` beyond a newline
        self.seen = seen  # when a list: every token the lexer gives, newlines included
        self.stack: list[Token] = []
        self.previous: Token | None = None
        self.before_previous: Token | None = None
        self.too_deep: Token | None = None
        self.unmatched: Token | None = None


#: the state of the parse running in this thread (or asyncio task): set by :func:`parse`
#: around Lark's call, read once by the post-lexer when Lark starts it
_CURRENT: contextvars.ContextVar[ParseState | None] = contextvars.ContextVar(
    "archlang_parse_state", default=None)


class Newlines:
    """Post-lexer: drops newlines inside ``(...)`` and ``[...]``, after ``->`` and before a
    line that starts with ``->`` (no statement starts with ``->``, so such a line can only
    continue the chain above it); tracks open brackets.

    Brackets nested deeper than ``max_depth`` stop the parse with E051 before any tree
    is built, so no later pass can overflow the stack.

    One instance serves every parse of the cached parser, in every thread, so it holds no
    state of a parse: each :func:`parse` makes its own :class:`ParseState` and hands it over
    through a context variable (Lark gives a post-lexer nothing but the token stream). A
    parse run directly through Lark, outside :func:`parse`, gets a fresh state without the
    text.
    """

    always_accept = ("_NL",)

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def process(self, stream):
        state = _CURRENT.get()
        if state is None:
            state = ParseState()
        text = state.text
        stack = state.stack
        max_depth = self.max_depth
        seen = state.seen
        previous = None
        for tok in stream:
            if seen is not None:
                seen.append(tok)
            kind = tok.type
            if kind in OPENERS:
                stack.append(tok)
                if len(stack) > max_depth:
                    state.too_deep = tok
                    return
            elif kind in CLOSERS:
                if stack and stack[-1].type == CLOSERS[kind]:
                    stack.pop()
                elif state.unmatched is None:
                    state.unmatched = tok
            elif kind == "_NL" and (
                    (stack and stack[-1].type in ("LPAR", "LSQB"))
                    or (previous is not None and previous.type == "_ARROW")
                    or _arrow_follows(text, tok.end_pos)):
                continue
            yield tok
            # the parser took ``tok``: an error on the next token is reported with these
            state.before_previous = previous
            state.previous = previous = tok


@functools.cache
def _grammar() -> str:
    # next to the package's modules; importlib.resources (slower to import) only for an
    # installation that has no such file, such as a zip archive
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "grammar.lark")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        from importlib import resources

        return resources.files("archlang").joinpath("grammar.lark").read_text(encoding="utf-8")


def _cache_path() -> str | bool:
    """A private cache file for the built parser, or False when none can be trusted.

    Lark's cache is a pickle, so it lives only in archlang's cache directory, which this user
    owns and no one else can write (:mod:`archlang.cache`), named by the grammar's and
    Lark's hash.
    """
    import hashlib

    import lark

    from archlang import cache

    directory = cache.directory()
    if directory is None:
        return False
    key = hashlib.sha256((_grammar() + lark.__version__).encode()).hexdigest()[:16]
    path = directory / f"grammar-{key}.lark-cache"
    if path.exists() and not cache.trusted(path):
        return False
    return str(path)


def _parser(max_depth: int) -> tuple[Lark, Newlines]:
    # Not strict=True here: Lark's strict mode needs the optional `interegular` package to
    # look for colliding terminals, and a plain install has no such package. The grammar is
    # fixed, so strictness is a property of the grammar, proved once by the test suite
    # (tests/test_parse.py builds it with strict=True: no LALR conflict, no collision).
    post = Newlines(max_depth)
    options = grammar_options(post)
    cache = _cache_path()
    parser = None
    if cache:
        with contextlib.suppress(Exception):  # a broken or unwritable cache file: build without it
            parser = Lark(_grammar(), cache=cache, **options)
    if parser is None:
        parser = Lark(_grammar(), **options)
    share_root_scanner(parser)  # same tokens, far fewer regular expressions to compile
    offsets_only(parser)  # the same start and end offsets, without lines and columns
    return parser, post


def grammar_options(post: Newlines) -> dict:
    """The options every archlang parser is built with."""
    return {"parser": "lalr", "lexer": "contextual", "propagate_positions": True,
            "maybe_placeholders": True, "postlex": post, "start": ["start", "expr"]}


@functools.lru_cache(maxsize=4)
def _cached(max_depth: int) -> tuple[Lark, Newlines]:
    return _parser(max_depth)


PRETTY = {
    "_NL": "a newline", "SEMICOLON": "`;`", "NAME": "a name", "INT": "an integer",
    "FLOAT": "a number", "STRING": "a string", "COMPARE": "a comparison", "ADDOP": "`+` or `-`",
    "MULOP": "`*` or `/`", "POW": "`**`", "$END": "end of file", "TRAINING": "`training`",
}


def _describe(parser: Lark, name: str) -> str:
    if name in PRETTY:
        return PRETTY[name]
    try:
        term = parser.get_terminal(name)
    except KeyError:
        return name
    if term.pattern.type == "str":
        return f"`{term.pattern.value}`"
    return name.lower()


def _token_text(tok: Token) -> str:
    if tok.type == "_NL":
        return "newline"
    if tok.type == "$END":
        return "end of file"
    text = str(tok)
    return f"`{text}`" if len(text) <= 30 else f"`{text[:27]}...`"


def parse(source: Source, max_depth: int = 64, start: str = "start",
          seen: list[Token] | None = None) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse one file (or, with ``start="expr"``, one expression).

    Returns ``(tree, [])`` or ``(None, [one diagnostic])``. When ``seen`` is a list, every
    token the lexer produced is appended to it, the newlines that the post-lexer drops
    included (the formatter's token stream; comments, blanks and ``\\`` line breaks are the
    text between these tokens).
    """
    parser, _ = _cached(max_depth)
    state = ParseState(source.text, seen)
    token = _CURRENT.set(state)
    try:
        tree = parser.parse(source.text, start=start)
    except UnexpectedInput as exc:
        rep = Reporter()
        _report(source, parser, state, max_depth, exc, rep)
        return None, rep.diagnostics
    finally:
        _CURRENT.reset(token)
    return tree, []


def _report(source: Source, parser: Lark, post: ParseState, max_depth: int,
            exc: UnexpectedInput, rep: Reporter) -> None:
    if post.too_deep is not None:
        tok = post.too_deep
        rep.error("E051", f"brackets nested more than {max_depth} deep",
                  source.span(tok.start_pos, tok.end_pos), "too deep",
                  help=["split the expression or the block into named parts"])
        return
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = source.text[pos] if pos < len(source.text) else ""
        span = source.span(pos, pos + 1)
        if ch in "\"'":
            rep.error("E004", "unterminated string", source.span(pos, source.text.find(
                "\n", pos) if "\n" in source.text[pos:] else len(source.text)),
                "this string is never closed", help=[f"add the closing {ch} on the same line"])
        elif ch.isdigit() or (ch == "." and source.text[pos + 1:pos + 2].isdigit()):
            end = pos
            while end < len(source.text) and (source.text[end].isalnum() or source.text[end] in "._"):
                end += 1
            rep.error("E004", f"invalid number `{source.text[pos:end]}`", source.span(pos, end),
                      "not a number", help=[("write integers like 64 or 1_000 and floats like "
                                             "0.001 or 1e-5")])
        else:
            shown = repr(ch)[1:-1] if ch and not ch.isprintable() else ch
            rep.error("E001", f"unexpected character `{shown}`", span, "not valid here",
                      help=["comments start with `#`; strings are quoted with \" or '"])
        return
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        tok = exc.token
        expected = sorted(exc.expected - {"$END"}) if exc.expected else []
        prev = post.previous
        mismatched = tok.type in CLOSERS and (not post.stack or
                                             post.stack[-1].type != CLOSERS[tok.type])
        if mismatched or (post.unmatched is not None
                          and post.unmatched.start_pos == tok.start_pos):
            opener = post.stack[-1] if post.stack else None
            help_ = [(f"the `{SYMBOL[opener.type]}` at {source.span(opener.start_pos)} is still "
                      "open")] if opener is not None else ["remove it, or add the opening bracket"]
            rep.error("E002", f"unmatched {_token_text(tok)}", source.span(tok.start_pos, tok.end_pos),
                      "no opening bracket for this", help=help_)
            return
        if tok.type in ("COLON", "EQUAL") and prev is not None and prev is not tok \
                and str(prev) in RESERVED_WORDS and prev.type != "NAME" \
                and (post.before_previous is None or post.before_previous.type in _LINK_STARTS):
            word = str(prev)
            what = "a layer" if tok.type == "COLON" else "a value"
            rep.error("E018", f"`{word}` cannot name {what}: it is a reserved word",
                      source.span(prev.start_pos, prev.end_pos), "reserved word",
                      help=[f"rename it, e.g. `{word}_`"],
                      notes=["reserved words: " + ", ".join(RESERVED_WORDS)])
            return
        if prev is not None and prev.type in ("INT", "FLOAT") and prev.end_pos == tok.start_pos \
                and tok.type == "NAME":
            text = source.text[prev.start_pos:tok.end_pos]
            rep.error("E004", f"invalid number `{text}`", source.span(prev.start_pos, tok.end_pos),
                      "not a number", help=[("write integers like 64 or 1_000 and floats like "
                                             "0.001 or 1e-5")])
            return
        if _python_list_idiom(source, post, tok, rep):
            return
        if prev is not None and str(prev) == "." and "INT" in expected and tok.type == "NAME":
            name = source.text[:prev.start_pos].rstrip().rsplit(None, 1)[-1]
            rep.error("E002", f"unexpected {_token_text(tok)}: an item of a list is named by "
                      "its index", source.span(tok.start_pos, tok.end_pos),
                      "expected a number or `{index}`",
                      help=[f"`{name}.0: ...`, or `{name}.{{i}}: ...` in a loop"])
            return
        names = [_describe(parser, e) for e in expected]
        statement_context = not post.stack or post.stack[-1].type == "LBRACE"
        starts_statement = tok.type in ("NAME", "TRAINING") or (
            tok.type.isupper() and str(tok).isalpha() and tok.type not in ("INT", "FLOAT"))
        same_line = prev is not None and "\n" not in source.text[prev.end_pos:tok.start_pos]
        if ("_NL" in expected or "SEMICOLON" in expected) and prev is not None \
                and prev is not tok and prev.type not in ("_NL", "SEMICOLON", "LBRACE") \
                and statement_context and starts_statement and same_line:
            rep.error("E002", f"expected a newline or `;` before {_token_text(tok)}",
                      source.span(prev.end_pos, prev.end_pos + 1) if prev.end_pos < len(source.text)
                      else source.span(prev.end_pos), "statement should end here",
                      notes=[f"found {_token_text(tok)} at {source.span(tok.start_pos)}"],
                      help=["put each statement on its own line or separate them with `;`"])
            return
        names = [n for n in names if n != "a newline"] or names
        label = "expected " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") \
            if names else "not valid here"
        help_ = []
        if post.stack:
            opener = post.stack[-1]
            help_.append(f"the {SYMBOL[opener.type]} at {source.span(opener.start_pos)} is still open")
        end = tok.end_pos if tok.type != "_NL" else tok.start_pos + 1
        rep.error("E002", f"unexpected {_token_text(tok)}", source.span(tok.start_pos, end), label,
                  help=help_)
        return
    # end of input
    help_ = []
    if post.stack:
        opener = post.stack[-1]
        closer = {"LPAR": ")", "LSQB": "]", "LBRACE": "}"}[opener.type]
        help_.append(f"add `{closer}` to close the `{SYMBOL[opener.type]}` opened at "
                     f"{source.span(opener.start_pos)}")
    expected = getattr(exc, "expected", None) or []
    names = [_describe(parser, e) for e in sorted(set(expected) - {"$END", "_NL"})]
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    span = source.end_span()
    rep.error("E003", "unexpected end of file", span,
              ("expected " + shown) if names else "the file ends here", help=help_)


def _python_list_idiom(source: Source, post: ParseState, tok: Token, rep: Reporter) -> bool:
    """Python's ways with lists and values, where archlang has its own: ``feats.append(y)``
    and ``feats += [y]`` (a list of values grows by ``feats = feats + [y]``), and a chain as
    a call's argument (``add(a, b -> relu)``: arguments are values). Reported, if it is one."""
    prev, before = post.previous, post.before_previous
    at_statement = prev is not None and prev.type == "NAME" and prev is not tok and \
        (before is None or before.type in ("_NL", "SEMICOLON", "LBRACE"))
    rest = source.text[tok.end_pos:tok.end_pos + 12]
    # `feats.` may start a list's item (`convs.0: ...`): the parser stops at the method's name
    line = source.text[source.text.rfind("\n", 0, tok.start_pos) + 1:tok.start_pos]
    method = re.fullmatch(r"[ \t;]*([A-Za-z_][A-Za-z0-9_]*)\.", line)
    if method and str(tok) in ("append", "extend", "insert") and rest.startswith("("):
        name = method.group(1)
        rep.error("E002", f"unexpected `.`: `{name}` has no methods",
                  source.span(tok.start_pos - 1, tok.end_pos), "lists have no methods",
                  help=[f"a list of values grows by joining lists: `{name} = {name} + [y]`"])
        return True
    if at_statement and tok.type in ("ADDOP", "MULOP") and rest.startswith("="):
        name, op = str(prev), str(tok)
        rep.error("E002", f"unexpected `{op}=`", source.span(tok.start_pos, tok.end_pos + 1),
                  "no augmented assignment",
                  help=[f"write it out: `{name} = {name} {op} ...`" + (
                      f" (a list of values: `{name} = {name} + [y]`)" if op == "+" else "")])
        return True
    arrow = str(tok) == ">" and prev is not None and str(prev) == "-" and \
        prev.end_pos == tok.start_pos
    if arrow and post.stack and post.stack[-1].type == "LPAR":
        rep.error("E002", "unexpected `->` in a call's arguments",
                  source.span(prev.start_pos, tok.end_pos), "a chain in an argument",
                  help=[("arguments are values: bind the chain to a name first "
                         "(`t = b -> relu`), then give the name (`add(a, t)`)")])
        return True
    return False


__all__ = ["UnexpectedEOF", "parse"]
