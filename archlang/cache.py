"""archlang's private cache directory, and the replay of ``archlang check`` for unchanged inputs.

A check of a spec that nothing has changed since its last check prints the same line: like
``ruff check`` and ``mypy`` with their caches, ``archlang check`` records what it printed
for a clean spec, with everything the verdict was computed from, and prints it again as
long as all of that is unchanged, without importing its parser or checker:

* the command's own inputs (the spec as named on the command line, every option), the
  working directory, the Python interpreter and ``sys.path`` (so another installation or a
  ``PYTHONPATH`` never sees this one's entries), archlang's version and every
  ``ARCHLANG_*`` environment variable: the **key**, a file name;
* the content (SHA-256) of every spec file read, the spec and its imports: checked again on
  every replay;
* every Python module the check ran (archlang's own, lark's, pydantic's, a plugin's, the
  standard library's) and archlang's grammar, by size and modification time: checked again
  on every replay, so editing archlang, upgrading a library or installing a new version of
  a plugin that was used invalidates the entry.

Only a clean result is recorded (exit 0, nothing printed to standard error, no
``--plugin``): errors are always computed afresh, and installing a plugin cannot change a
clean result, since a spec's names are resolved by archlang's ops and its own blocks before
installed plugins are looked at. ``--no-cache`` or ``ARCHLANG_NO_CACHE=1`` turns the cache
off (the built parser's cache too, :mod:`archlang.syntax.parse`). An entry that cannot be
read, parsed or verified is a miss, never an error.

The directory is ``$XDG_CACHE_HOME/archlang`` (``~/.cache/archlang``), created owner-only;
one that another user owns or others can write is not used (the parser cache is a pickle).
This module imports nothing from archlang, so a replay stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

#: bumped whenever what an entry holds, or what a key is made of, changes
FORMAT = 1


def enabled() -> bool:
    return not os.environ.get("ARCHLANG_NO_CACHE")


def directory() -> Path | None:
    """The cache directory, created if missing; None when it cannot be trusted or made."""
    if not enabled():
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "archlang"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return path


def trusted(path: Path) -> bool:
    """A file in the cache directory that this user owns and no one else can write."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def key(command: str, options: dict) -> str:
    """The name of the entry for ``command`` run with ``options`` (JSON-able) here."""
    from archlang import __version__

    material = {
        "format": FORMAT, "archlang": __version__, "command": command, "options": options,
        "cwd": os.getcwd(), "python": [sys.executable, sys.version], "path": sys.path,
        "env": sorted((k, v) for k, v in os.environ.items() if k.startswith("ARCHLANG_")),
    }
    text = json.dumps(material, sort_keys=True, default=repr)
    return f"{command}-{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _entry_path(name: str) -> Path | None:
    where = directory()
    return None if where is None else where / "results" / name


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _stamp(path: str) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size]


def code_files() -> list[str]:
    """Every file of Python code this process has run, and archlang's grammar."""
    files = {m.__file__ for m in list(sys.modules.values())
             if isinstance(getattr(m, "__file__", None), str)}
    files.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), "grammar.lark"))
    return sorted(files)


def replay(name: str) -> str | None:
    """What the command printed when the entry was recorded, if every input is unchanged."""
    path = _entry_path(name)
    if path is None or not trusted(path):
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("format") != FORMAT:
            return None
        for spec, digest in entry["specs"]:
            if _sha256(spec) != digest:
                return None
        for file, stamp in entry["code"]:
            if _stamp(file) != stamp:
                return None
        out = entry["stdout"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return out if isinstance(out, str) else None


def record(name: str, stdout: str, specs: Iterable[str]) -> None:
    """Keep ``stdout`` under ``name`` with the spec files it came from (absolute paths, as
    reached: through symbolic links).

    The modules are stamped after the run, so an entry never outlives a change to code that
    produced it. Any failure to write is silent: the cache only ever saves time.
    """
    path = _entry_path(name)
    if path is None:
        return
    specs = sorted(set(specs))
    entry = {"format": FORMAT, "stdout": stdout,
             "specs": [[s, _sha256(s)] for s in specs],
             "code": [[f, _stamp(f)] for f in code_files()]}
    if any(d is None for _, d in entry["specs"]):
        return
    entry["code"] = [c for c in entry["code"] if c[1] is not None]
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f)
        os.replace(tmp, path)
    except OSError:
        pass
