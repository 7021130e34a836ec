"""TorchScript and pickling of generated modules, each checked in a fresh process (where no
``archlang_generated`` module exists)."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import concrete_shape

import archlang

ZOO = archlang.list_models()


def fresh(code: str, cwd) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def script(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still works
        try:
            return torch.jit.script(model)
        except RuntimeError as e:
            # After dozens of networks scripted in one process, TorchScript once refused
            # torch's own Conv2d ("builtin cannot be used as a value:
            # self._reversed_padding_repeated_twice", in torch/nn/modules/conv.py) for a
            # network that scripts in a fresh process; its caches are keyed by object ids.
            # Scripting again from cleared class state is the same check.
            if "builtin cannot be used as a value" not in str(e):
                raise
            gc.collect()
            torch.jit._state._clear_class_state()
            return torch.jit.script(model)


@pytest.mark.parametrize("name", ZOO)
def test_torchscript_every_zoo_network(name):
    model = archlang.load(f"zoo:{name}")
    scripted = script(model)  # training outputs included: both branches define them
    graph = archlang.check(f"zoo:{name}").graph
    if any(o.training for o in graph.outputs):
        shape = graph.nodes[next(iter(graph.inputs.values()))].shape
        x = torch.randn(2, *concrete_shape(graph, shape))
        torch.manual_seed(0)
        want = model.train()(x)
        torch.manual_seed(0)
        got = scripted.train()(x)
        assert len(got) == len(want)


@pytest.mark.parametrize("inference", [False, True])
def test_pickle_and_torchscript_round_trip_in_a_fresh_process(tmp_path, inference):
    model = archlang.load("zoo:googlenet", inference=inference).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        y = model(x)
    torch.save(model, tmp_path / "model.pt")
    script(model).save(str(tmp_path / "model.ts"))
    torch.save({"x": x, "y": y}, tmp_path / "io.pt")
    out = fresh("""
import sys, warnings, torch
warnings.simplefilter("ignore")
io = torch.load("io.pt")
model = torch.load("model.pt", weights_only=False)
with torch.no_grad():
    print(type(model).__name__, model.training, torch.equal(model(io["x"]), io["y"]))
    print(torch.allclose(torch.jit.load("model.ts")(io["x"]), io["y"], atol=1e-6))
print("archlang_generated" in "".join(sys.modules) and "loaded again")
""", tmp_path)
    assert out.split() == ["Googlenet", "False", "True", "True", "loaded", "again"]


def test_pickle_of_a_spec_file_by_path(tmp_path):
    spec = tmp_path / "tiny.arch"
    spec.write_text("network tiny {\n    input x: [4]\n    linear(3)\n    output y\n}\n")
    model = archlang.load(str(spec))
    torch.save(model, tmp_path / "tiny.pt")
    out = fresh("""
import torch
m = torch.load("tiny.pt", weights_only=False)
print(type(m).__name__, m(torch.ones(1, 4)).shape[1])
""", tmp_path)
    assert out.split() == ["Tiny", "3"]
