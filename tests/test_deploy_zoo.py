"""Every zoo network round-trips through a file into a fresh process (where no
``archlang_generated`` module exists): ``torch.save`` of the training build and of the
inference build, and ``torch.jit.script(...).save`` of the inference build, each loaded
again with the same parameters and the same output shapes.

The models are built on the meta device: a round trip is about the generated classes (a
pickle names them by reference to the spec, docs/deploy.md; TorchScript stores their code),
and meta tensors carry the shapes without gigabytes of weights to write. tests/test_pickle.py
checks the values on GoogLeNet, and scripts every zoo network's training build.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import concrete_shape

import archlang
from archlang.models import spec_path

CHILD = """
import json, sys, warnings, torch
warnings.simplefilter("ignore")
expected = json.load(open("expected.json"))
assert not any(m.startswith("archlang") for m in sys.modules)
for file, want in expected.items():
    if file.endswith(".ts"):
        model = torch.jit.load(file).eval()
        name = model.original_name
    else:
        model = torch.load(file, weights_only=False).eval()
        name = type(model).__name__
    out = model(*[torch.empty(2, *shape, device="meta") for shape in want["inputs"]])
    out = list(out) if isinstance(out, (tuple, list)) else [out]
    got = {"class": name, "inputs": want["inputs"],
           "state": [[k, list(v.shape)] for k, v in model.state_dict().items()],
           "outputs": [list(o.shape) for o in out]}
    print("ok" if got == want else "differs", file)
"""


def described(model: torch.nn.Module, inputs: list[tuple[int, ...]]) -> dict:
    out = model.eval()(*[torch.empty(2, *shape, device="meta") for shape in inputs])
    out = list(out) if isinstance(out, tuple) else [out]
    return {"class": type(model).__name__, "inputs": [list(s) for s in inputs],
            "state": [[k, list(v.shape)] for k, v in model.state_dict().items()],
            "outputs": [list(o.shape) for o in out]}


def zoo_part(part: str) -> list[str]:
    """``sample``: the first two networks of each zoo file (every kind of spec, in CI);
    ``rest``: the others (exhaustive). Together: the whole zoo."""
    seen: dict[str, int] = {}
    names = {"sample": [], "rest": []}
    for name in archlang.list_models():
        file = spec_path(name).name
        seen[file] = seen.get(file, 0) + 1
        names["sample" if seen[file] <= 2 else "rest"].append(name)
    return names[part]


@pytest.mark.parametrize("part", ["sample", "rest"])
def test_every_zoo_network_round_trips_in_a_fresh_process(tmp_path, monkeypatch, part):
    monkeypatch.chdir(tmp_path)  # the fresh process's directory: see the next test
    expected = {}
    for name in zoo_part(part):
        graph = archlang.check(f"zoo:{name}").graph
        # a symbolic size (the dense-prediction networks, U-Net): the first it admits
        inputs = [concrete_shape(graph, graph.nodes[i].shape) for i in graph.inputs.values()]
        for build in ("training", "inference"):
            with torch.device("meta"):
                model = archlang.load(f"zoo:{name}", inference=build == "inference")
            torch.save(model, tmp_path / f"{name}.{build}.pt")
            expected[f"{name}.{build}.pt"] = described(model, inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
            torch.jit.script(model).save(str(tmp_path / f"{name}.inference.ts"))
        expected[f"{name}.inference.ts"] = expected[f"{name}.inference.pt"]
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          cwd=tmp_path, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [word for file in expected for word in ("ok", file)]


def test_pickle_of_a_spec_with_imports_loads_in_another_directory(tmp_path):
    """zoo:resnet18_34 imports resnet.arch: pickled here, in the repository, and loaded in
    another directory, where the import is named ``resnet.arch``, not
    ``archlang/zoo/resnet.arch``."""
    with torch.device("meta"):
        model = archlang.load("zoo:resnet18_34")
    torch.save(model, tmp_path / "model.pt")
    code = "import torch\nprint(type(torch.load('model.pt', weights_only=False)).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=False)
    assert done.stdout.split() == ["Resnet1834"], done.stderr[-2000:]
