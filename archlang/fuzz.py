"""Fuzzing archlang: every input ends in a result or in located diagnostics.

    python -m archlang.fuzz --seconds 600 [--seed 1]
    python -m archlang.fuzz --soundness --seconds 600 [--seed 1]

Mutates the real specs (deleting, duplicating and swapping tokens and characters, changing
numbers to 0, negatives, huge values and floats) and checks the invariants of
:func:`check_one` on each result. The test suite runs a bounded number of cases
(``tests/test_hardening.py``); this entry point runs as long as asked.

``--soundness`` instead writes valid specs from the grammar and checks that every one
``check`` accepts compiles, passes ruff, loads, trains and computes what its all-out-of-place
build computes (:mod:`archlang.soundness`; needs torch).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from archlang.api import run
from archlang.codecheck import unsafe_code
from archlang.diagnostics import CODES, COMMAND_CODES
from archlang.limits import Limits

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:e-?\d+)?|\"[^\"\n]*\"|->|\*\*|//|"
                   r"[<>=!]=|\S")
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
NUMBERS = ["0", "-1", "-7", "1", "2", "3", "1.5", "0.0", "1e-9", "65536", "999999999",
           "10**9", "9223372036854775807", "10**30", "2**62"]
SNIPPETS = ["(", ")", "{", "}", "[", "]", ",", ";", "\n", "->", ":", "=", "\"", "'", "#", "\\",
            "in.channels", "true", "for", "if", "concat", "residual", "training output o =",
            "conv2d(", "__import__", "class", "self", "x", "output", "input q: [3, H, W]"]

def corpus_dirs(root: Path | None = None) -> list[Path]:
    """The directories whose specs seed the fuzzer: the zoo inside the installed package,
    and ``examples/`` under ``root`` (a clone of archlang) when there is one."""
    from archlang.models import zoo_dir

    dirs = [zoo_dir()]
    if root is not None and (root / "examples").is_dir():
        dirs.append(root / "examples")
    return dirs


def corpus(root: Path | None) -> list[tuple[str, str | None]]:
    """(spec text, network name) pairs from the zoo and the examples."""
    from archlang.program import load_program

    out = []
    for path in sorted(p for d in corpus_dirs(root) for p in d.glob("*.arch")):
        text = path.read_text()
        nets = list(load_program(text, Limits()).networks) or [None]
        for net in nets[:3]:
            out.append((text, net))
    return out


def mutate(text: str, rng: random.Random) -> str:
    """One random mutation of a spec's text."""
    kind = rng.randrange(9)
    if kind <= 3:
        tokens = [m for m in TOKEN.finditer(text)]
        if not tokens:
            return text
        t = rng.choice(tokens)
        s, e = t.span()
        if kind == 0:  # delete a token
            return text[:s] + text[e:]
        if kind == 1:  # duplicate a token
            return text[:e] + " " + t.group() + text[e:]
        if kind == 2:  # swap two tokens
            u = rng.choice(tokens)
            a, b = sorted([t, u], key=lambda m: m.start())
            if a.end() > b.start():
                return text
            return (text[:a.start()] + b.group() + text[a.end():b.start()] + a.group()
                    + text[b.end():])
        return text[:s] + rng.choice(SNIPPETS) + text[e:]  # replace a token
    if kind == 4:  # change a number
        nums = list(NUMBER.finditer(text))
        if not nums:
            return text
        m = rng.choice(nums)
        return text[:m.start()] + rng.choice(NUMBERS) + text[m.end():]
    if kind == 5:  # delete a character
        i = rng.randrange(max(len(text), 1))
        return text[:i] + text[i + 1:]
    if kind == 6:  # insert a character
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice("(){}[],;:=->\"'#\\\n\t\x00é×0129_aZ") + text[i:]
    if kind == 7:  # duplicate a line
        lines = text.splitlines(keepends=True)
        if not lines:
            return text
        i = rng.randrange(len(lines))
        return "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])
    lines = text.splitlines(keepends=True)  # delete a line
    if not lines:
        return text
    i = rng.randrange(len(lines))
    return "".join(lines[:i] + lines[i + 1:])


def check_one(text: str, network: str | None = None) -> str | None:
    """None when the invariants hold, else a description of the violation."""
    limits = Limits(max_nodes=20_000, max_params=10_000_000_000)
    try:
        graph, diags = run(text, network, limits=limits)
    except Exception as exc:  # noqa: BLE001 - that is exactly what we look for
        return f"exception {type(exc).__name__}: {exc}"
    errors = [d for d in diags if d.severity == "error"]
    for d in diags:
        if d.code not in CODES:
            return f"unknown code {d.code}"
        if d.span is None:
            if d.code not in COMMAND_CODES:  # only these may lack a location
                return f"{d.code} without a location: {d.message}"
            continue
        src = d.span.source
        if not 0 <= d.span.start <= d.span.end <= len(src.text):
            return f"{d.code} span {d.span.start}..{d.span.end} outside the file"
        line, col = src.location(d.span.start)
        if not 1 <= line <= src.line_count or col > len(src.line_text(line)) + 2:
            return f"{d.code} at {line}:{col} outside the text"
        try:
            d.render()
        except Exception as exc:  # noqa: BLE001
            return f"rendering {d.code} failed: {exc!r}"
    if errors:
        return None
    if graph is None:
        return "no graph and no error"
    try:
        from archlang.backends.pytorch import generate

        source = generate(graph)
    except Exception as exc:  # noqa: BLE001
        return f"code generation failed: {type(exc).__name__}: {exc}"
    problem = unsafe_code(source)
    return f"generated code: {problem}" if problem else None


def cases(root: Path | None, seed: int) -> Iterator[tuple[str, str | None]]:
    rng = random.Random(seed)
    base = corpus(root)
    # small specs more often: more cases per second, every spec still visited
    weights = [1.0 / max(len(text), 200) ** 0.5 for text, _ in base]
    while True:
        text, net = rng.choices(base, weights)[0]
        for _ in range(rng.choice((1, 1, 2, 3))):
            text = mutate(text, rng)
        yield text, net


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archlang.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="a clone of archlang: its examples/ join the zoo as seeds "
                             "(default: the current directory, when it has examples/)")
    parser.add_argument("--soundness", action="store_true",
                        help="generate valid specs and test the soundness property instead "
                             "(archlang.soundness; needs torch)")
    args = parser.parse_args(argv)
    if args.soundness:
        from archlang import soundness

        return soundness.main(args.seconds, args.seed)
    deadline = time.monotonic() + args.seconds
    count = failures = 0
    for text, net in cases(args.root, args.seed):
        if time.monotonic() > deadline:
            break
        problem = check_one(text, net)
        count += 1
        if problem:
            failures += 1
            out = Path(f"fuzz-failure-{args.seed}-{count}.arch")
            out.write_text(text)
            print(f"FAIL {out}: {problem}", file=sys.stderr)
    print(f"{count} cases, {failures} failures (seed {args.seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
