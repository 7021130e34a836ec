"""The dense-prediction networks of the zoo under torch.compile(fullgraph=True).

specs/segmentation.arch and specs/detection.arch call blocks with several outputs (a
backbone that returns its stages' maps, a pyramid that returns five levels), blocks with
several inputs (LR-ASPP's head reads the low and the high features), training outputs and
`interpolate(x, like)`, which resizes to another tensor's size when the module runs. Their
generated modules compile to one graph (no graph break) and compute what eager mode
computes: in eval mode, at an input size that no stride divides, and in training mode with
the training output; and, captured once with dynamic shapes, at three input sizes. The
backend is aot_eager (dynamo's tracing and AOT autograd without a compiler), as in
tests/test_ports.py and tests/test_pytorch.py, but for the dynamic shapes, where a backend
that counts dynamo's graphs runs them as captured; the inputs are small, so each case takes
seconds. tests/test_dense_twins.py checks the same networks against torchvision.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archlang

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
SEGMENTATION = str(ROOT / "specs" / "segmentation.arch")
DETECTION = str(ROOT / "specs" / "detection.arch")

NETWORKS = {
    "lraspp_mobilenet_v3_large": SEGMENTATION,
    "deeplabv3_mobilenet_v3_large": SEGMENTATION,
    "resnet_fpn_backbone": DETECTION,
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster than a pool that waits on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def compiled(model, **kw):
    torch._dynamo.reset()
    return torch.compile(model, fullgraph=True, backend="aot_eager", **kw)


def assert_same(mine, other):
    """One tensor, or the named tuple of a network with several outputs."""
    if isinstance(other, torch.Tensor):
        torch.testing.assert_close(mine, other)
        return
    assert type(mine) is type(other) and mine._fields == other._fields
    for a, b in zip(mine, other):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_eval_mode_compiles_to_one_graph(name):
    torch.manual_seed(0)
    model = archlang.load(NETWORKS[name], name).eval()
    # 65 x 71: every stride floors it somewhere, so the resized maps are not simple multiples
    x = torch.randn(1, 3, 65, 71)
    with torch.no_grad():
        eager = model(x)
        assert_same(compiled(model)(x), eager)
    if name == "resnet_fpn_backbone":
        assert eager._fields == ("p2", "p3", "p4", "p5", "pool")
        assert [tuple(t.shape[-2:]) for t in eager] == [(17, 18), (9, 9), (5, 5), (3, 3), (2, 2)]
    else:
        assert eager.shape == (1, 21, 65, 71)


def test_training_output_compiles_to_one_graph():
    """In training mode DeepLabV3 also returns its auxiliary classifier's output. Its dropouts
    are set to p=0 so that eager and compiled runs compute the same (batch norm then normalises
    by the batch's statistics, which both runs see alike)."""
    name = "deeplabv3_mobilenet_v3_large"
    torch.manual_seed(0)
    model = archlang.load(NETWORKS[name], name).train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    x = torch.randn(2, 3, 48, 40)
    with torch.no_grad():  # the forward graph alone: AOT autograd then traces no backward
        eager = model(x)
        assert eager._fields == ("out", "aux")
        assert [tuple(t.shape) for t in eager] == [(2, 21, 48, 40)] * 2
        assert_same(compiled(model)(x), eager)


def test_dynamic_shapes_follow_the_input():
    """The spec's input size is symbolic, and `interpolate(logits, image)` reads the size
    when the module runs: dynamo captures one graph with dynamic shapes, and that graph,
    run as captured, serves three input sizes. (The backend here only counts the graphs
    and runs them; aot_eager at dynamic shapes takes several times longer to compile.)"""
    name = "lraspp_mobilenet_v3_large"
    torch.manual_seed(0)
    model = archlang.load(NETWORKS[name], name).eval()
    graphs = []

    def capture(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    torch._dynamo.reset()
    fast = torch.compile(model, fullgraph=True, backend=capture, dynamic=True)
    with torch.no_grad():
        # sizes that differ in height and width, so that no two dims share a symbol
        for size in ((64, 48), (57, 83), (100, 40)):
            x = torch.randn(1, 3, *size)
            out = fast(x)
            assert out.shape == (1, 21, *size)
            torch.testing.assert_close(out, model(x))
    assert len(graphs) == 1
