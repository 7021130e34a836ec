"""Usage and environment mistakes exit 2 with one line saying what to do (never 1, never 3).

Exit 1 is kept for diagnostics in a spec, 3 for bugs. Each case's whole output (standard
error and output, and the exit code) is compared with a golden in ``tests/goldens/cli/``;
``pytest --update-goldens`` rewrites them.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import golden_path

from archlang.cli import main

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "missing_file": "check nosuch.arch",
    "missing_file_summary": "summary nosuch.arch --format json",
    "not_a_spec": "check README.md",
    "not_a_regular_file": "check /dev/null",
    "directory_spec": "check specs",
    "several_networks": "check specs/resnet.arch",
    "unknown_network": "check specs/resnet.arch --network resnet51",
    "bad_set": "check specs/resnet.arch -n resnet18 --set num_classes",
    "bad_set_name": "check specs/resnet.arch -n resnet18 --set nope=1",
    "bad_input": "check specs/resnet.arch -n resnet18 --input 3xq",
    "diagram_bad_suffix": "diagram specs/alexnet.arch -n alexnet -o x.jpg",
    "diagram_missing_dir": "diagram specs/alexnet.arch -n alexnet -o nodir/x.svg",
    "compile_missing_dir": "compile specs/alexnet.arch -n alexnet -o nodir/x.py",
    "compile_to_directory": "compile specs/alexnet.arch -n alexnet -o docs",
    "diagram_no_dot": "diagram zoo:alexnet -o {tmp}/alexnet.svg",
    "zoo_unknown": "check zoo:resnt50",
    "zoo_conflicting_network": "check zoo:resnet50 --network resnet18",
    "zoo_show_unknown": "zoo show vgg17",
    "bad_option": "check specs/nin.arch --depth 2",
    "spec_text_is_a_path": "check network{input}",
    "bad_limit": "check specs/nin.arch --max-nodes 0",
}


def run(command: str, tmp: Path) -> tuple[int, str]:
    args = [a.replace("{tmp}", str(tmp)) for a in command.split()]
    result = CliRunner().invoke(main, args, prog_name="archlang", catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_usage_error(name, tmp_path, monkeypatch, golden):
    monkeypatch.chdir(ROOT)
    if name == "diagram_no_dot":
        monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    code, output = run(CASES[name], tmp_path)
    assert code == 2, output
    assert "internal error" not in output and "Traceback" not in output
    text = f"$ archlang {CASES[name]}\n{output.replace(str(tmp_path), '{tmp}')}[exit {code}]\n"
    golden("cli", name, "txt", text)


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return {golden_path("cli", name, "txt") for name in CASES}


def test_spec_errors_still_exit_1(tmp_path, monkeypatch):
    """A mistake in the spec's text is exit 1 with the rendered diagnostic."""
    spec = tmp_path / "bad.arch"
    spec.write_text("network n {\n  input x: [3, 8, 8]\n  con2d(4, 3)\n  output y\n}\n")
    code, output = run(f"check {spec}", tmp_path)
    assert code == 1 and "error[E010]" in output and "con2d(4, 3)" in output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read and write anything")
def test_unreadable_and_unwritable(tmp_path):
    spec = tmp_path / "secret.arch"
    spec.write_text("network n {\n  input x: [3]\n  relu\n  output y\n}\n")
    spec.chmod(0)
    code, output = run(f"check {spec}", tmp_path)
    assert code == 2 and "cannot read" in output
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, output = run(f"compile zoo:alexnet -o {locked}/a.py", tmp_path)
    assert code == 2 and "permission denied" in output


def test_help_has_examples_and_describes_every_option():
    """Each command's --help: a description, every option described, examples."""
    runner = CliRunner()
    top = runner.invoke(main, ["--help"], prog_name="archlang").output
    assert "Examples:" in top and "_ARCHLANG_COMPLETE" in top
    for command in ("check", "summary", "compile", "diagram"):
        assert f"  {command} " in top
        text = runner.invoke(main, [command, "--help"], prog_name="archlang").output
        assert "Examples:" in text and f"archlang {command} " in text
        params = main.commands[command].params
        undescribed = [p.name for p in params
                       if isinstance(p, click.Option) and not p.help]
        assert undescribed == [], f"{command}: options without a description: {undescribed}"
    commands = top.split("Commands:")[1].split("\n\n")[0].splitlines()
    assert len(commands) >= 5
    for line in commands:
        assert not line.rstrip().endswith("..."), f"truncated: {line}"


def test_fifo_spec_is_refused_before_it_is_opened(tmp_path):
    """Opening a FIFO would wait for a writer forever: it is refused from its file type."""
    fifo = tmp_path / "pipe.arch"
    os.mkfifo(fifo)
    code, output = run(f"check {fifo}", tmp_path)
    assert code == 2 and "not a regular file" in output
