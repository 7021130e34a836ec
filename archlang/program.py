"""Load a spec and its imports: files → parsed, lowered ASTs with block and network tables.

Imports resolve relative to the importing file and must stay under the root directory of
the top-level spec (after resolving symlinks). Absolute paths, escapes, cycles, missing
files and files that are not specs are located errors; a file that is not a spec is never
echoed.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archlang.diagnostics import Diagnostic, Reporter, did_you_mean
from archlang.limits import Limits
from archlang.ops.registry import lookup
from archlang.source import Source, Span
from archlang.syntax import ast as A
from archlang.syntax.lower import lower
from archlang.syntax.parse import parse

ZOO = Path(__file__).resolve().parent / "zoo"


@dataclass
class Program:
    main: Source
    files: list[tuple[Source, A.File]] = field(default_factory=list)
    blocks: dict[str, A.BlockDef] = field(default_factory=dict)
    networks: dict[str, A.NetworkDef] = field(default_factory=dict)  # checkable: this file's
    members: dict[str, A.NetworkDef] = field(default_factory=dict)  # usable as layers: all
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: every file read, as (path as reached, resolved path, sha256 of its bytes): enough to
    #: tell later whether re-reading the spec would give the same program
    deps: list[tuple[str, str, str]] = field(default_factory=list)
    #: the file each imported source was read from, by the source's name
    imported: dict[str, Path] = field(default_factory=dict)
    #: bytes of every file read so far (the spec and its imports share --max-bytes)
    bytes_read: int = 0
    #: how each file's text becomes its AST: :func:`parse_file`, or a parser with the same
    #: answers that reuses earlier work (the language server's, which re-reads only the
    #: definitions an edit changed)
    parser: Callable[[Source, Limits], tuple[A.File | None, list[Diagnostic]]] | None = None

    def calls(self, name: str) -> bool:
        """Whether a bare ``name`` calls something: an op or a block (a spec's blocks come
        before installed plugins' ops, which are looked up last)."""
        return lookup(name, installed=False) is not None or name in self.blocks or \
            lookup(name) is not None


def read_spec(path_or_text: str | os.PathLike, limits: Limits) -> tuple[Source | None, Path | None,
                                                                           list[Diagnostic]]:
    """A path (``*.arch`` or any existing file) or the spec text itself."""
    rep = Reporter()
    text_like = isinstance(path_or_text, str) and (
        "\n" in path_or_text or "\x00" in path_or_text or not path_or_text.strip()
        or len(path_or_text) > 4096
        or ("{" in path_or_text and not os.path.isfile(path_or_text)))
    if text_like:
        text = str(path_or_text)
        if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
            rep.error("E053", f"spec is larger than {limits.max_bytes} bytes", None,
                      help=["raise the limit with --max-bytes"])
            return None, Path.cwd(), rep.diagnostics
        return Source("<string>", text), None, []
    path = Path(path_or_text)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            rep.error("E040", f"cannot read `{path}`: it is {what}", None,
                      help=["give the path of an .arch file"])
            return None, None, rep.diagnostics
        if path.suffix != ".arch":
            # a file that is not a spec is never read, so its content is never echoed
            rep.error("E043", f"`{path}` is not an .arch spec", None,
                      help=["archlang reads spec files whose names end in .arch"])
            return None, None, rep.diagnostics
        size = info.st_size
        if size > limits.max_bytes:
            rep.error("E053", f"{path.name} is {size} bytes, more than the limit of "
                      f"{limits.max_bytes}", None, help=["raise the limit with --max-bytes"])
            return None, None, rep.diagnostics
        data = path.read_bytes()
    except OSError as exc:
        rep.error("E040", f"cannot read `{path}`: {exc.strerror or exc}", None,
                  help=["check the path"])
        return None, None, rep.diagnostics
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        rep.error("E043", f"`{path.name}` is not UTF-8 text", None,
                  help=["archlang specs are UTF-8 text files"])
        return None, None, rep.diagnostics
    real = path.resolve()
    # a zoo file reached through zoo:NAME is named as the package names it, not by where
    # the package happens to be installed (diagnostics and generated docstrings stay stable)
    name = f"archlang/zoo/{path.name}" if path.is_absolute() and real.parent == ZOO else str(path)
    return Source(name, text), real, []


def load(run) -> None:
    """The load pass: the spec and its imports as ``run.prog`` (no later pass runs when
    they have errors)."""
    run.prog = load_program(run.spec, run.limits)
    run.rep.diagnostics += run.prog.diagnostics
    run.done = run.rep.failed


def load_program(path_or_text, limits: Limits) -> Program:
    source, real, diags = read_spec(path_or_text, limits)
    prog = Program(main=source or Source("<none>", ""))
    prog.diagnostics.extend(diags)
    if source is None:
        return prog
    rep = Reporter()
    prog.bytes_read = len(source.text.encode("utf-8", "surrogatepass"))
    if real is not None:
        prog.deps.append((os.path.abspath(path_or_text), str(real), _digest(source.text)))
    root = real.parent if real is not None else Path.cwd().resolve()
    stack = (real,) if real is not None else ()
    _load_file(prog, source, root, root, stack, {}, rep, limits, None)
    prog.diagnostics.extend(rep.diagnostics)
    return prog


def _load_file(prog: Program, source: Source, directory: Path, root: Path,
               stack: tuple[Path, ...], seen: dict, rep: Reporter, limits: Limits,
               via: Span | None) -> None:
    file, diags = (prog.parser or parse_file)(source, limits)
    rep.diagnostics.extend(diags)
    if file is None:
        return
    prog.files.append((source, file))
    for imp in file.imports:
        _import(prog, imp, directory, root, stack, seen, rep, limits)
    for definition in (*file.blocks, *file.networks):
        seen_params: dict[str, Span] = {}
        for p in definition.params:
            if p.name in seen_params:
                rep.error("E013", f"parameter `{p.name}` is declared twice", p.span,
                          "second declaration", notes=[f"first declared at {seen_params[p.name]}"])
            seen_params.setdefault(p.name, p.span)
    for b in file.blocks:
        if lookup(b.name, installed=False) is not None:
            rep.error("E013", f"block `{b.name}` has the name of a built-in op", b.name_span,
                      "shadows the op", help=["rename the block, e.g. with a capital letter"])
        elif b.name in prog.blocks:
            rep.error("E013", f"block `{b.name}` is defined twice", b.name_span, "second definition",
                      notes=[f"first defined at {prog.blocks[b.name].name_span}"])
        else:
            prog.blocks[b.name] = b
    for n in file.networks:
        if n.name in prog.members:
            rep.error("E013", f"network `{n.name}` is defined twice", n.name_span,
                      "second definition", notes=[f"first defined at {prog.members[n.name].name_span}"])
        elif n.name in prog.blocks or lookup(n.name, installed=False) is not None:
            rep.error("E013", f"network `{n.name}` has the name of a block or op", n.name_span,
                      "name already taken", help=["rename the network"])
        else:
            prog.members[n.name] = n
            if via is None:  # only the top-level file's networks can be checked
                prog.networks[n.name] = n


def _import_name(importer: str, raw: str, real: Path) -> str:
    """How messages and generated code name an imported file: by the importing file's name
    and the import's path (``archlang/zoo/resnet.arch`` for ``import "resnet.arch"`` in
    ``archlang/zoo/ensembles.arch``), so the name, and the source generated from it, do not
    depend on the working directory (a pickled model loads elsewhere). A spec given as text
    names its imports relative to the working directory."""
    if importer.startswith("<"):
        return os.path.relpath(real, Path.cwd()) if real.is_relative_to(Path.cwd()) \
            else real.name
    return posixpath.normpath(posixpath.join(posixpath.dirname(importer), raw))


def parse_file(source: Source, limits: Limits) -> tuple[A.File | None, list[Diagnostic]]:
    """One file's text, parsed and lowered: its AST (``None`` if it has errors) and its
    diagnostics."""
    tree, diags = parse(source, limits.max_depth)
    if tree is None:
        return None, diags
    return lower(tree, source)


def _too_large(raw: str, size: int, limits: Limits, span: Span, rep: Reporter) -> None:
    if size > limits.max_bytes:
        rep.error("E053", f"`{raw}` is larger than {limits.max_bytes} bytes", span, "too large",
                  help=["raise the limit with --max-bytes"])
    else:
        rep.error("E053", f"with `{raw}`, the spec and its imports are larger than "
                  f"{limits.max_bytes} bytes", span, "too large together",
                  help=[("the limit holds for a spec and all its imports together; raise it "
                         "with --max-bytes")])


def _import(prog, imp: A.Import, directory: Path, root: Path, stack, seen, rep, limits) -> None:
    raw = imp.path
    if not raw or "\x00" in raw:
        rep.error("E040", "empty import path", imp.span, "nothing to import")
        return
    if os.path.isabs(raw) or raw.startswith("~") or (len(raw) > 1 and raw[1] == ":"):
        rep.error("E041", "imports must be relative paths", imp.span, "absolute path",
                  help=["write the path relative to this file, inside the spec's directory"])
        return
    target = (directory / raw)
    try:
        real = target.resolve(strict=False)
        real.is_file()  # a name too long for the file system raises here, not later
    except (OSError, RuntimeError, ValueError):
        rep.error("E040", f"cannot resolve import `{raw}`", imp.span, "unresolvable path")
        return
    if not real.is_relative_to(root):
        rep.error("E041", f"import `{raw}` leaves the spec's root directory", imp.span,
                  "outside the root", notes=[("imports may not reach outside the directory of "
                                              "the spec being checked (symlinks included)")],
                  help=["copy the library next to the spec, or check from a higher directory"])
        return
    if real in stack:
        rep.error("E042", f"import cycle through `{raw}`", imp.span, "imports a file that imports "
                  "this one", help=["move the shared blocks into a third file that both import"])
        return
    if real in seen:
        return  # already loaded (diamond imports are fine)
    if len(stack) >= limits.max_depth:
        rep.error("E051", "imports nested too deep", imp.span, "too deep")
        return
    if real.is_dir():
        rep.error("E040", f"`{raw}` is a directory", imp.span, "not a file",
                  help=["import a .arch file inside it"])
        return
    if not real.is_file():
        candidates = _nearby_specs(directory, real.parent)
        rep.error("E040", f"cannot find `{raw}`", imp.span, "no such file",
                  help=did_you_mean(raw, candidates))
        return
    if real.suffix != ".arch":
        rep.error("E043", f"`{raw}` is not an .arch spec", imp.span, "not a spec file",
                  help=["only .arch files can be imported"])
        return
    left = limits.max_bytes - prog.bytes_read  # the limit holds for a spec and its imports
    try:
        size = real.stat().st_size
        if size > left:  # never read a file too large to check
            _too_large(raw, size, limits, imp.span, rep)
            return
        with open(real, "rb") as f:
            data = f.read(left + 1)
    except OSError:
        rep.error("E040", f"cannot read `{raw}`", imp.span, "unreadable")
        return
    if len(data) > left:
        _too_large(raw, len(data), limits, imp.span, rep)
        return
    prog.bytes_read += len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        rep.error("E043", f"`{raw}` is not UTF-8 text", imp.span, "not a spec file")
        return
    source = Source(_import_name(imp.span.source.name, raw, real), text)
    prog.imported[source.name] = real
    seen[real] = source
    prog.deps.append((str(target), str(real), _digest(text)))
    _load_file(prog, source, real.parent, root, (*stack, real), seen, rep, limits, imp.span)


@contextlib.contextmanager
def no_cyclic_gc():
    """Pause the cyclic garbage collector while a spec is parsed, lowered and expanded
    (``archlang.api.run`` wraps both steps in it).

    These build large, long-lived trees and graphs, and the collector would traverse them
    again and again as they grow, finding nothing to free: 40 % of the parse + lower time
    and 65 % of the expansion time of a 10,000-line spec. Nests; re-enables the collector
    only if it was enabled on entry.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def unchanged(deps: list[tuple[str, str, str]]) -> bool:
    """Whether every file in ``deps`` still resolves to the same file with the same bytes."""
    for target, real, digest in deps:
        try:
            if os.path.realpath(target) != real:
                return False
            with open(real, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != digest:
                    return False
        except OSError:
            return False
    return True


def _nearby_specs(directory: Path, parent: Path, cap: int = 200) -> list[str]:
    """.arch files near a missing import (its directory and one level below), relative."""
    found: list[str] = []
    places = [directory, parent]
    try:
        places += [d for d in sorted(directory.iterdir())[:cap]
                   if d.is_dir() and not d.name.startswith(".")]
    except OSError:
        pass
    for place in places:
        try:
            for p in sorted(place.glob("*.arch"))[:cap]:
                rel = os.path.relpath(p, directory).replace(os.sep, "/")
                if rel not in found:
                    found.append(rel)
        except OSError:
            continue
    return found
