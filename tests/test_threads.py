"""check, load and load_class from eight threads at once: the same answers as one thread,
one class per spec, network and parameters, no half-built module visible."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import archlang

SPECS = [("specs/googlenet.arch", "googlenet"), ("specs/resnet.arch", "resnet18"),
         ("specs/nin.arch", None), ("specs/alexnet.arch", "alexnet")]


def test_check_in_eight_threads():
    expected = {spec: archlang.check(*spec).params for spec in SPECS}
    barrier = threading.Barrier(8)

    def work(k: int):
        barrier.wait()
        return [(spec, archlang.check(*spec).params) for spec in SPECS * 5]

    with ThreadPoolExecutor(8) as pool:
        for results in pool.map(work, range(8)):
            for spec, params in results:
                assert params == expected[spec]


def test_load_class_in_eight_threads(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)  # a fresh memo key: nothing is built before the threads
    spec = tmp_path / "net.arch"
    spec.write_text("network threads_net(width=8) {\n    input x: [3, 8, 8]\n"
                    "    conv2d(width, 3, padding=1)\n    relu\n    flatten\n"
                    "    linear(4)\n    output y\n}\n")
    barrier = threading.Barrier(8)

    def work(k: int):
        barrier.wait()
        return [archlang.load_class(str(spec), width=8 + k % 2) for _ in range(3)]

    with ThreadPoolExecutor(8) as pool:
        classes = [c for results in pool.map(work, range(8)) for c in results]
    assert len({c for c in classes}) == 2  # one class per parameter set
    for cls in set(classes):
        model = cls()
        assert sum(p.numel() for p in model.parameters()) in (
            8 * 27 + 8 + 8 * 64 * 4 + 4, 9 * 27 + 9 + 9 * 64 * 4 + 4)


# --- different specs at once: check, generate and load, with and without errors ---------

#: (spec, network, parameters): checked and generated in every thread
CHECKED = [("specs/resnet.arch", "resnet50", {}),
           ("specs/resnet.arch", "resnet18", {"num_classes": 10}),
           ("specs/vgg.arch", "vgg11", {"num_classes": 7}),
           ("specs/alexnet.arch", "alexnet_caffe", {}), ("specs/nin.arch", None, {}),
           ("specs/dcgan.arch", "dcgan_generator", {"ngf": 16})]

#: small networks also loaded and run: (spec, network, parameters, input shape)
LOADED = [("specs/nin.arch", None, {"num_classes": 4}, (1, 3, 32, 32)),
          ("specs/dcgan.arch", "dcgan_discriminator", {"ndf": 4}, (1, 3, 64, 64)),
          ("specs/dcgan.arch", "dcgan_generator", {"ngf": 4, "nz": 6}, (2, 6, 1, 1)),
          ("specs/vae.arch", "vae_digits", {"width": 4}, (2, 1, 8, 8))]


def _broken() -> list[str]:
    """Spec texts with one syntax error each, at different lines and of different kinds
    (the parse errors depend on the post-lexer's state: open brackets, the last tokens)."""
    from pathlib import Path

    texts = []
    for name in ("resnet.arch", "googlenet.arch", "vgg.arch", "alexnet.arch"):
        lines = (Path("specs") / name).read_text(encoding="utf-8").splitlines(keepends=True)
        code = [i for i, line in enumerate(lines)
                if line.strip() and not line.lstrip().startswith("#")]
        for k, i in enumerate(code[3::len(code) // 5][:4]):
            line = lines[i]
            mutated = [
                line.replace(")", "", 1) if ")" in line else line.rstrip("\n") + " (\n",
                line.replace("(", "((", 1) if "(" in line else line.rstrip("\n") + " ]\n",
                line.rstrip("\n") + " relu relu\n",
                line.rstrip("\n") + " 3x\n",
            ][k % 4]
            texts.append("".join(lines[:i] + [mutated] + lines[i + 1:]))
    texts += ["network n {\n input x: [3]\n" + "linear(" * 70 + "4" + ")" * 70 + "\n}\n",
              "network n {\n input x: [3]\n for: linear(4)\n output y\n}\n",
              "network n {\n input x: [3, 8]\n linear(4))\n output y\n}\n",
              "network n {\n input x: [3]\n linear(4\n output y\n}\n",
              "network n {\n input x: [3]\n linear(4) @ relu\n}\n",
              "network n {\n input x: [3]\n linear(4)\n    -> relu\n output y\n"]
    return texts


def _checked(spec, network, params) -> tuple:
    from archlang.diagnostics import render_all
    from archlang.loader import compile_source

    result = archlang.check(spec, network, **params)
    return (result.params, render_all(result.diagnostics),
            compile_source(spec, network, **params))


def _failed(text: str) -> str:
    try:
        archlang.check(text)
    except archlang.ArchError as err:
        return err.render()
    raise AssertionError("the broken spec checked:\n" + text)


def _shapes(value):
    if isinstance(value, tuple):
        return tuple(_shapes(v) for v in value)
    return tuple(value.shape)


def _ran(spec, network, params, shape) -> tuple:
    import torch

    cls = archlang.load_class(spec, network, **params)
    model = cls().eval()
    with torch.no_grad():
        out = model(torch.zeros(shape))
    return sum(p.numel() for p in model.parameters()), _shapes(out)


def test_different_specs_and_errors_in_eight_threads():
    """Eight threads at once, each working through its own rotation of different specs,
    networks and parameter sets (check and generate), broken specs (the parse errors), and
    small networks to load and run: every answer equals the one-thread answer."""
    pytest.importorskip("torch")
    jobs = [("checked", job) for job in CHECKED] + [("failed", (t,)) for t in _broken()] \
        + [("ran", job) for job in LOADED]
    run = {"checked": _checked, "failed": _failed, "ran": _ran}
    expected = [run[kind](*job) for kind, job in jobs]
    errors = {e for (kind, _), e in zip(jobs, expected) if kind == "failed"}
    # syntax errors of every kind, each at its own line
    assert len({e for e in errors if e.startswith(
        ("error[E00", "error[E018]", "error[E051]"))}) >= 15
    barrier = threading.Barrier(8)

    def work(k: int):
        barrier.wait()
        order = [(i + 5 * k) % len(jobs) for i in range(len(jobs))]
        return [(i, run[jobs[i][0]](*jobs[i][1])) for i in order]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-3)  # threads take turns 5 times as often: more interleavings
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = [r for results in pool.map(work, range(8)) for r in results]
    finally:
        sys.setswitchinterval(interval)
    for i, answer in answers:
        assert answer == expected[i], jobs[i]


def test_import_and_check_leave_the_environment_alone():
    """Importing archlang and archlang.cli, checking a spec, and the CLI's command run
    in-process change no environment variable (only the console entry point, cli.run, turns
    pydantic's plugins off for its own process)."""
    import os
    import subprocess

    probe = (
        "import os, sys\n"
        "before = dict(os.environ)\n"
        "import archlang, archlang.cli\n"
        "archlang.check('specs/nin.arch')\n"
        "try:\n"
        "    archlang.cli.main(['check', 'specs/nin.arch'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "changed = sorted(k for k in set(before) | set(os.environ)\n"
        "                 if before.get(k) != os.environ.get(k))\n"
        "print('CHANGED', changed)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=False,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "CHANGED []" in proc.stdout, proc.stdout + proc.stderr


# --- generated modules: bounded, and there for every live class -------------------------

BOUNDED = ("network bounded_net(width=8) {\n    input x: [3, 8, 8]\n"
           "    conv2d(width, 3, padding=1)\n    relu\n    flatten\n    linear(4)\n"
           "    output y\n}\n")


def _generated(prefix: str = "bounded_net") -> tuple[list, list]:
    import linecache

    return ([k for k in sys.modules if k.startswith(f"archlang_generated.{prefix}_")],
            [k for k in linecache.cache if k.startswith(f"<archlang {prefix} ")])


def _params(width: int) -> int:
    return width * 27 + width + width * 64 * 4 + 4


def test_generated_modules_leave_with_their_classes(monkeypatch):
    """A process that loads many specs keeps the modules (and linecache's lines) of the
    memoised classes and of classes still alive, no more; a class alive after leaving the
    memo still pickles, deep-copies and shows its source."""
    import copy
    import gc
    import inspect
    import pickle

    torch = pytest.importorskip("torch")
    from archlang import loader

    monkeypatch.setattr(loader, "_MAX_CLASSES", 2)
    model = archlang.load(BOUNDED, width=3)
    cls = type(model)
    for width in range(4, 14):
        archlang.load_class(BOUNDED, width=width)
    gc.collect()
    modules, lines = _generated()
    assert len(modules) == 3 and len(lines) == 3  # the memo's two and the live model's
    assert cls.__module__ in modules
    x = torch.randn(2, 3, 8, 8)
    clone = pickle.loads(pickle.dumps(model))
    assert type(clone) is cls and torch.equal(clone(x), model(x))
    assert type(copy.deepcopy(model)) is cls
    assert "def forward(self, x: torch.Tensor)" in inspect.getsource(cls)
    assert archlang.load_class(BOUNDED, width=3) is cls  # back in the memo: the same class
    del model, clone, cls
    for width in range(20, 23):
        archlang.load_class(BOUNDED, width=width)
    gc.collect()
    modules, lines = _generated()
    assert len(modules) == 2 and len(lines) == 2


def test_load_under_memo_pressure_in_eight_threads(monkeypatch):
    """Eight threads load, build and pickle models of six parameter sets through a memo of
    three, with garbage collections in between: classes leave the memo and die while other
    threads load the same source again; every live model stays picklable."""
    import gc
    import pickle

    pytest.importorskip("torch")
    from archlang import loader

    monkeypatch.setattr(loader, "_MAX_CLASSES", 3)
    barrier = threading.Barrier(8)

    def work(k: int):
        barrier.wait()
        out = []
        for i in range(8):
            width = 30 + (k + i) % 6
            model = archlang.load(BOUNDED, width=width)
            clone = pickle.loads(pickle.dumps(model))
            out.append((width, sum(p.numel() for p in clone.parameters())))
            if i % 4 == k % 4:
                gc.collect()
        return out

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        with ThreadPoolExecutor(8) as pool:
            results = [r for rs in pool.map(work, range(8)) for r in rs]
    finally:
        sys.setswitchinterval(interval)
    assert all(n == _params(w) for w, n in results)
    gc.collect()
    modules, lines = _generated()
    assert len(modules) <= 3 and len(lines) <= 3
