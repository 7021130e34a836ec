"""ONNX export (archlang/export.py): ONNX Runtime computes what the PyTorch module computes,
with the spec's input and output names and its symbolic sizes as dynamic axes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from conftest import concrete_shape
from test_inference import small_inputs  # zoo networks at small sizes where they allow

import archlang
from archlang.cli import main

ZOO = archlang.list_models()

FCN = """
network fcn(num_classes=10) {
    input x: [3, H, W]
    conv2d(16, 3, padding=1)
    batchnorm
    relu
    maxpool2d(2)
    conv2d(32, 3, padding=1)
    batchnorm
    relu
    global_avgpool
    flatten
    dropout(0.3)
    linear(num_classes)
    output logits
}
"""


def run_onnx(path, feeds: dict[str, torch.Tensor]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in feeds.items()})


def assert_close(got: np.ndarray, want: torch.Tensor) -> None:
    want = want.detach().numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.mark.parametrize("name", ZOO)
def test_zoo_network_exports_and_runs(name, tmp_path):
    path = tmp_path / f"{name}.onnx"
    small = small_inputs(name)
    model = archlang.load(f"zoo:{name}", **small).eval()
    outputs = archlang.export_onnx(f"zoo:{name}", path, state_dict=model.state_dict(),
                                   **small)
    graph = archlang.check(f"zoo:{name}", **small).graph
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(graph.inputs)
    assert [o.name for o in session.get_outputs()] == outputs
    assert outputs == [o.name for o in graph.outputs if not o.training]
    assert all(i.shape[0] == "batch" for i in session.get_inputs())
    torch.manual_seed(0)
    # a symbolic size runs from 67, not at the traced size
    feeds = {name_: torch.randn(2, *concrete_shape(graph, graph.nodes[i].shape, at=67))
             for name_, i in graph.inputs.items()}
    with torch.no_grad():
        want = model(*feeds.values())
    wants = list(want) if isinstance(want, tuple) else [want]
    for got, w in zip(run_onnx(path, feeds), wants):
        assert_close(got, w)


def test_symbolic_sizes_are_named_dynamic_axes(tmp_path):
    path = tmp_path / "fcn.onnx"
    model = archlang.load(FCN).eval()
    assert archlang.export_onnx(FCN, path, state_dict=model.state_dict()) == ["logits"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 3, "H", "W"]
    assert session.get_outputs()[0].shape == ["batch", 10]
    for shape in ((1, 3, 32, 48), (3, 3, 57, 40)):  # two sizes, neither the traced one
        x = torch.randn(*shape)
        with torch.no_grad():
            want = model(x)
        assert_close(run_onnx(path, {"x": x})[0], want)


def test_opset_is_configurable(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "fcn.onnx"
    archlang.export_onnx(FCN, path, opset=20)
    opsets = {o.domain: o.version for o in onnx.load(str(path)).opset_import}
    assert opsets[""] == 20
    # torch.onnx converts down from 18 and keeps 18 where it cannot: never silently
    from archlang.export import ExportError

    with pytest.raises(ExportError, match="could not convert `fcn` to opset 17"):
        archlang.export_onnx(FCN, tmp_path / "old.onnx", opset=17)
    assert not (tmp_path / "old.onnx").exists()


def test_cli_export(tmp_path):
    from click.testing import CliRunner

    spec = tmp_path / "fcn.arch"
    spec.write_text(FCN)
    out = tmp_path / "fcn.onnx"
    model = archlang.load(FCN).eval()
    torch.save(model.state_dict(), tmp_path / "fcn.pt")
    result = CliRunner().invoke(main, ["export", str(spec), "-o", str(out),
                                       "--weights", str(tmp_path / "fcn.pt")])
    assert result.exit_code == 0, result.output
    assert out.exists() and f"wrote {out}" in result.stderr
    x = torch.randn(1, 3, 20, 24)
    with torch.no_grad():
        assert_close(run_onnx(out, {"x": x})[0], model(x))
    bad = CliRunner().invoke(main, ["export", str(spec), "-o", str(tmp_path / "fcn.pt")])
    assert bad.exit_code == 2 and "give -o a name ending in .onnx" in bad.stderr
