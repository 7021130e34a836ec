"""What a command imports: ``check``, ``summary --format json/csv``, ``compile`` and
``diagram`` never import rich (only a summary drawn as a table does) nor torch.

Each command runs in a fresh interpreter; an ``atexit`` hook prints the names of the
top-level packages in ``sys.modules`` once the command has finished. No timings here:
``benchmarks/bench_startup.py`` measures how long start-up takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = "specs/resnet.arch"

#: runs the CLI as ``archlang ARGS`` and reports the imported top-level packages at exit
PROBE = """
import atexit, json, sys

def _report():
    names = sorted(sys.modules)
    sys.__stderr__.write("\\nMODULES " + json.dumps(names) + "\\n")
    sys.__stderr__.flush()

atexit.register(_report)
sys.argv = ["archlang", *sys.argv[1:]]
from archlang.cli import main
main(prog_name="archlang")
"""


def imported(*args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if k not in ("ARCHLANG_DEBUG",)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES ")]
    assert lines, proc.stderr
    return {m.split(".")[0] for m in modules(proc)}, proc


def modules(proc: subprocess.CompletedProcess) -> set[str]:
    """Every module (full dotted names) imported by the probed command."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES ")]
    return set(json.loads(lines[-1][len("MODULES "):]))


@pytest.mark.parametrize("args", [
    ["check", SPEC, "--network", "resnet152"],
    ["check", "specs/googlenet.arch", "--network", "googlenet", "--format", "json"],
    ["summary", SPEC, "--network", "resnet152", "--format", "json"],
    ["summary", SPEC, "--network", "resnet152", "--format", "csv"],
    ["compile", SPEC, "--network", "resnet50"],
    ["diagram", SPEC, "--network", "resnet50"],
], ids=["check", "check-json", "summary-json", "summary-csv", "compile", "diagram"])
def test_no_rich_no_torch(args):
    mods, proc = imported(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout
    assert "rich" not in mods
    assert "torch" not in mods
    assert "torchinfo" not in mods


def test_check_with_errors_imports_no_rich():
    mods, proc = imported("check", "tests/cases/errors/arity_given_twice.arch")
    assert proc.returncode == 1, proc.stderr
    assert "error[" in proc.stderr
    assert "rich" not in mods
    assert "torch" not in mods


def test_summary_table_imports_rich():
    # the one command that draws a table; it still needs no torch
    mods, proc = imported("summary", SPEC, "--network", "resnet152")
    assert proc.returncode == 0, proc.stderr
    assert "rich" in mods
    assert "torch" not in mods


#: runs a command through the console entry point (``cli.run``) or the in-process ``main``,
#: then reports, after every other exit handler, the garbage collector's state
EXIT_PROBE = """
import atexit, gc, sys

atexit.register(lambda: sys.__stderr__.write(
    "\\nGC %d %s\\n" % (gc.get_freeze_count(), gc.isenabled())))
sys.argv = ["archlang", *sys.argv[1:]]
from archlang.cli import main, run
"""
ENTRIES = {"run": "run()", "main": "main(sys.argv[1:], standalone_mode=False)"}


@pytest.mark.parametrize("entry, args, paused", [
    ("run", ["check", "specs/nin.arch"], True),
    ("run", ["summary", "specs/nin.arch", "--format", "csv"], True),
    ("run", ["fmt", "--check", "specs/nin.arch"], False),
    ("main", ["check", "specs/nin.arch"], False),
], ids=["check", "summary", "fmt", "in-process"])
def test_the_command_process_spares_its_collector(entry, args, paused):
    # the command's process ends right after it: its objects are kept out of the interpreter's
    # final garbage collection, and a command that checks once runs with the collector
    # paused; one that goes on (fmt, sweep, lsp) keeps it, and so does a program that calls
    # archlang in-process
    proc = subprocess.run([sys.executable, "-c", EXIT_PROBE + ENTRIES[entry], *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    frozen, enabled = proc.stderr.rsplit("GC ", 1)[1].split()
    assert (int(frozen) > 0, enabled == "True") == (entry == "run", not paused), proc.stderr
