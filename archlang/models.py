"""The model zoo that ships inside archlang: list its networks, find their specs.

The zoo's ``.arch`` files live in the package (``archlang/zoo/``; a clone also shows them as
``specs/``). Any command or API function that takes a spec accepts ``zoo:NAME`` in its place:
the zoo file that defines network ``NAME``, with that network chosen.

>>> "resnet50" in list_models()
True
>>> spec_path("resnet50").name
'resnet.arch'
>>> resolve("zoo:resnet50", None)[1]
'resnet50'
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from archlang.diagnostics import ArchError, Diagnostic, did_you_mean

PREFIX = "zoo:"

# A network definition at the start of a line; the zoo's own test proves that this finds
# exactly the networks the parser finds, so listing the zoo costs no parse.
_NETWORK = re.compile(r"^network\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def zoo_dir() -> Path:
    """The directory of the zoo's ``.arch`` files inside the installed package."""
    from archlang.program import ZOO

    return ZOO


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(zoo_dir().glob("*.arch")):
        for name in _NETWORK.findall(path.read_text(encoding="utf-8")):
            index.setdefault(name, path)
    return index


def list_models() -> list[str]:
    """Names of the zoo's networks, sorted (like ``torchvision.models.list_models()``)."""
    return sorted(_index())


def spec_path(name: str) -> Path:
    """The zoo file that defines network ``name``; :class:`ArchError` (E060) if none does."""
    index = _index()
    if name not in index:
        raise ArchError([unknown(name)])
    return index[name]


def spec_text(name: str) -> str:
    """The text of the zoo file that defines network ``name`` (a start for your own spec)."""
    return spec_path(name).read_text(encoding="utf-8")


def unknown(name: str) -> Diagnostic:
    return Diagnostic("E060", f"no network `{name}` in archlang's zoo", None,
                      help=[*did_you_mean(name, _index()),
                            "`archlang zoo list` lists the zoo's networks"])


def is_zoo(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX) and "\n" not in spec


def resolve(spec: str | os.PathLike, network: str | None) -> tuple[str | os.PathLike, str | None]:
    """``zoo:NAME`` → (path of its zoo file, ``NAME``); anything else is returned as it is.

    ``network`` may repeat the name; a different one is an error (E060).
    """
    if not is_zoo(spec):
        return spec, network
    name = spec[len(PREFIX):].strip()
    path = spec_path(name)
    if network is not None and network != name:
        raise ArchError([Diagnostic(
            "E060", f"`{spec}` names network `{name}`, but the network chosen is `{network}`",
            None, help=[f"drop --network, or use `zoo:{network}`"])])
    return str(path), name


__all__ = ["PREFIX", "list_models", "resolve", "spec_path", "spec_text", "zoo_dir"]
