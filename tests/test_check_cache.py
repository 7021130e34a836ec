"""``archlang check`` and ``summary`` print an unchanged clean result again without checking
(archlang/cache.py).

Each command runs in a fresh process with its own cache directory, as a user's would; the
process reports whether it imported the parser, so a replay is told apart from a check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archlang import cache

REPO = Path(__file__).resolve().parent.parent

DRIVER = """\
import sys
from archlang.cli import run
try:
    run()
finally:
    sys.stderr.write("\\nPARSED=%s\\n" % ("lark" in sys.modules))
"""

SPEC = """\
import "blocks.arch"

network small(classes=10) {
    input x: [3, 32, 32]
    stem: Stem(16)
    global_avgpool
    flatten
    fc: linear(classes)
    output logits
}
"""

BLOCKS = """\
block Stem(width) {
    conv: conv2d(width, 3, padding=1)
    relu
}
"""


def archlang(args: list[str], cache_home: Path, cwd: Path, **env: str):
    """Run ``archlang ARGS``: (exit code, stdout, whether the spec was parsed)."""
    environ = {k: v for k, v in os.environ.items() if k != "ARCHLANG_NO_CACHE"}
    environ.update(XDG_CACHE_HOME=str(cache_home), PYTHONPATH=str(REPO), **env)
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=cwd, env=environ,
                          check=False, capture_output=True, text=True, timeout=120)
    err, _, flag = proc.stderr.rpartition("PARSED=")
    return proc.returncode, proc.stdout, flag.strip() == "True", err.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    where = tmp_path / "project"
    where.mkdir()
    (where / "net.arch").write_text(SPEC)
    (where / "blocks.arch").write_text(BLOCKS)
    return where


def entries(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "archlang" / "results").glob("check-*.json"))


def test_an_unchanged_spec_is_replayed_without_parsing(project, tmp_path):
    home = tmp_path / "cache"
    code, first, parsed, _ = archlang(["check", "net.arch"], home, project)
    assert (code, parsed) == (0, True)
    assert first.startswith("ok: small: ")
    assert len(entries(home)) == 1
    code, again, parsed, err = archlang(["check", "net.arch"], home, project)
    assert (code, again, parsed, err) == (0, first, False, "")


def test_json_verdicts_are_replayed_byte_for_byte(project, tmp_path):
    home = tmp_path / "cache"
    first = archlang(["check", "net.arch", "--format", "json"], home, project)
    again = archlang(["check", "net.arch", "--format", "json"], home, project)
    assert json.loads(first[1])["verdict"].startswith("ok: small")
    assert (again[1], again[2]) == (first[1], False)


@pytest.mark.parametrize("edit", ["net.arch", "blocks.arch"])
def test_editing_the_spec_or_an_import_checks_again(project, tmp_path, edit):
    home = tmp_path / "cache"
    _, before, _, _ = archlang(["check", "net.arch"], home, project)
    path = project / edit
    if edit == "net.arch":
        path.write_text(SPEC.replace("classes=10", "classes=20"))
    else:
        path.write_text(BLOCKS.replace("relu", "relu\n    conv2: conv2d(width, 1)"))
    code, after, parsed, _ = archlang(["check", "net.arch"], home, project)
    assert (code, parsed) == (0, True)
    assert after != before
    # and the new result is what is replayed next
    assert archlang(["check", "net.arch"], home, project)[1:3] == (after, False)


def test_options_and_directory_are_part_of_the_key(project, tmp_path):
    home = tmp_path / "cache"
    archlang(["check", "net.arch"], home, project)
    code, out, parsed, _ = archlang(["check", "net.arch", "--set", "classes=3"], home, project)
    assert (code, parsed) == (0, True) and "logits: 3" in out
    code, out, parsed, _ = archlang(["check", "project/net.arch"], home, project.parent)
    assert (code, parsed) == (0, True) and "logits: 10" in out
    assert len(entries(home)) == 3


def test_errors_are_never_recorded(project, tmp_path):
    home = tmp_path / "cache"
    (project / "bad.arch").write_text(SPEC.replace("linear(classes)", "linear(clases)"))
    for _ in range(2):
        code, _, parsed, err = archlang(["check", "bad.arch"], home, project)
        assert (code, parsed) == (1, True) and "E012" in err
    assert entries(home) == []


@pytest.mark.parametrize("how", ["--no-cache", "ARCHLANG_NO_CACHE"])
def test_the_cache_can_be_turned_off(project, tmp_path, how):
    home = tmp_path / "cache"
    args, env = (["check", "net.arch", "--no-cache"], {}) if how == "--no-cache" else \
        (["check", "net.arch"], {"ARCHLANG_NO_CACHE": "1"})
    results = [archlang(args, home, project, **env) for _ in range(2)]
    assert [r[2] for r in results] == [True, True]
    assert results[0][1] == results[1][1]
    assert entries(home) == []


def test_plugins_are_never_replayed(project, tmp_path):
    home = tmp_path / "cache"
    args = ["check", "net.arch", "--plugin", "json"]  # any importable module will do
    for _ in range(2):
        code, _, parsed, _ = archlang(args, home, project)
        assert (code, parsed) == (0, True)
    assert entries(home) == []


def test_a_broken_or_foreign_entry_is_a_miss(project, tmp_path):
    home = tmp_path / "cache"
    _, first, _, _ = archlang(["check", "net.arch"], home, project)
    [entry] = entries(home)
    entry.write_text("{not json")
    code, out, parsed, _ = archlang(["check", "net.arch"], home, project)
    assert (code, out, parsed) == (0, first, True)
    # rewritten by that check, then made writable by others: not trusted
    assert json.loads(entry.read_text())["stdout"] == first
    entry.chmod(0o666)
    assert archlang(["check", "net.arch"], home, project)[2] is True


def test_an_unusable_cache_directory_is_no_error(project, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for _ in range(2):
        code, out, parsed, _ = archlang(["check", "net.arch"], blocker, project)
        assert (code, parsed) == (0, True) and out.startswith("ok: small")


def test_a_changed_module_invalidates_the_entry(tmp_path, monkeypatch):
    """Any file of code the check ran (archlang's, a library's, a plugin's) is stamped."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ARCHLANG_NO_CACHE", raising=False)
    module = tmp_path / "archlang_cache_probe.py"
    module.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "x.arch"
    spec.write_text("network n { input x: [3]\n output y }\n")
    try:
        import archlang_cache_probe  # noqa: F401 - now a module this process ran

        cache.record("check-probe.json", "ok\n", [str(spec)])
    finally:
        sys.modules.pop("archlang_cache_probe", None)
    assert cache.replay("check-probe.json") == "ok\n"
    module.write_text("VALUE = 22\n")  # another size
    assert cache.replay("check-probe.json") is None


def test_keys_differ_by_command_options_and_environment(monkeypatch):
    a = cache.key("check", {"spec": "a.arch"})
    assert a == cache.key("check", {"spec": "a.arch"})
    assert a != cache.key("check", {"spec": "b.arch"})
    assert a != cache.key("summary", {"spec": "a.arch"})
    monkeypatch.setenv("ARCHLANG_DEBUG", "1")
    assert a != cache.key("check", {"spec": "a.arch"})


def test_the_replay_imports_neither_pydantic_nor_the_checker(project, tmp_path):
    home = tmp_path / "cache"
    archlang(["check", "net.arch"], home, project)
    probe = textwrap.dedent("""\
        import sys
        from archlang.cli import run
        try:
            run()
        except SystemExit:
            pass
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "lark", "torch")
                       or m in ("archlang.api", "archlang.graph", "archlang.syntax"))
        print("HEAVY", heavy)
        """)
    env = dict(os.environ, XDG_CACHE_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("ARCHLANG_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", probe, "check", "net.arch"], cwd=project,
                         check=False, env=env, capture_output=True, text=True, timeout=120).stdout
    assert "HEAVY []" in out, out


@pytest.mark.parametrize("extra", [[], ["--format", "csv"], ["--inference"]],
                         ids=["table", "csv", "inference"])
def test_summaries_are_replayed_and_follow_edits(project, tmp_path, extra):
    home = tmp_path / "cache"
    args = ["summary", "net.arch", *extra]
    code, first, parsed, _ = archlang(args, home, project)
    assert (code, parsed) == (0, True)
    assert archlang(args, home, project)[1:3] == (first, False)
    assert archlang([*args, "--width", "90"], home, project)[2] is True
    (project / "net.arch").write_text(SPEC.replace("Stem(16)", "Stem(24)"))
    code, after, parsed, _ = archlang(args, home, project)
    assert (code, parsed) == (0, True) and after != first


def test_a_symlink_pointed_elsewhere_is_a_change(project, tmp_path):
    home = tmp_path / "cache"
    other = project / "other"  # imports must stay under the spec's directory
    other.mkdir()
    (other / "blocks.arch").write_text(BLOCKS.replace("relu", "relu\n    conv2: conv2d(8, 1)"))
    (project / "real").mkdir()
    (project / "real" / "blocks.arch").write_text(BLOCKS)
    (project / "blocks.arch").unlink()
    (project / "blocks.arch").symlink_to(project / "real" / "blocks.arch")
    _, before, _, _ = archlang(["check", "net.arch"], home, project)
    (project / "blocks.arch").unlink()
    (project / "blocks.arch").symlink_to(other / "blocks.arch")
    code, after, parsed, _ = archlang(["check", "net.arch"], home, project)
    assert (code, parsed) == (0, True) and after != before
