"""Training memory: the activations autograd saves for backward, against PyTorch itself.

The oracle runs the module archlang generates (in-place ReLUs and all) in training mode on
the CPU under ``torch.autograd.graph.saved_tensors_hooks`` and sums the bytes of every saved
tensor's storage, each storage once, parameters and buffers left out. archlang's static
figure must equal it within 2 % (it is exact for the whole zoo today) for every zoo network
of at most 60M parameters, at batch 2.
"""

from __future__ import annotations

import pytest
from conftest import concrete_shape, zoo_results

import archlang
from archlang.analysis.memory import Training, training_memory
from tests.test_startup import imported

torch = pytest.importorskip("torch")

SMALL = [name for name, r in zoo_results().items() if r.params <= 60e6]


def saved_storage_bytes(model, x) -> int:
    """Bytes of the storages autograd keeps for backward, each once, parameters excluded."""
    skip = {t.untyped_storage().data_ptr()
            for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


#: the cases a plain `pytest` runs; every network runs with `pytest -m ''` (SLOW)
FAST = ("nin_cifar10", "dcgan_discriminator", "dcgan_generator", "vae", "vae_digits",
        "vae_digits_decoder", "resnet18", "googlenet_caffe")


@pytest.mark.parametrize("name", FAST)
def test_saved_activations_of_small_networks(name):
    test_saved_activations_match_torch(name)


@pytest.mark.parametrize("name", SMALL)
def test_saved_activations_match_torch(name):
    result = archlang.check(f"zoo:{name}")
    (node,) = result.graph.inputs.values()
    shape = result.graph.nodes[node].shape
    if not all(isinstance(d, int) for d in shape):  # symbolic: counted from 64 x 64
        shape = concrete_shape(result.graph, shape)
        result = archlang.check(f"zoo:{name}", inputs=shape)
    model = archlang.load(f"zoo:{name}").train()
    torch.manual_seed(0)
    got = saved_storage_bytes(model, torch.rand(2, *shape))
    want = training_memory(result.graph, Training(batch=2, device="cpu")).activations
    assert abs(want - got) <= 0.02 * got, (name, want, got)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@CUDA
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", SMALL)
def test_saved_activations_match_torch_on_cuda(name, dtype):
    """On a GPU, in the dtype itself (pure precision): cuDNN's kernels save what the CPU's do,
    dropout keeps a one-byte mask and batch norm its statistics in float32."""
    result = archlang.check(f"zoo:{name}")
    (node,) = result.graph.inputs.values()
    shape = result.graph.nodes[node].shape
    if not all(isinstance(d, int) for d in shape):
        shape = concrete_shape(result.graph, shape)
        result = archlang.check(f"zoo:{name}", inputs=shape)
    dt = getattr(torch, dtype)
    model = archlang.load(f"zoo:{name}").to("cuda", dt).train()
    torch.manual_seed(0)
    got = saved_storage_bytes(model, torch.rand(2, *shape, device="cuda", dtype=dt))
    want = training_memory(result.graph, Training(batch=2, dtype=dtype, device="cuda"))
    assert abs(want.activations - got) <= 0.02 * got, (name, dtype, want.activations, got)


def test_zoo_networks_under_60m_are_tested():
    assert {"resnet18", "resnet101", "googlenet", "googlenet_caffe", "nin_cifar10",
            "dcgan_generator", "vae"} <= set(SMALL)
    assert "resnet152" not in SMALL  # 60.2M


def test_totals_follow_the_setup():
    r = archlang.check("zoo:resnet50")
    sgd = r.training_memory(batch=1)
    adamw = r.training_memory(batch=64, dtype="bf16", optimizer="adamw")
    assert sgd.params == sgd.grads == 4 * r.params and sgd.optimizer_state == 0
    assert adamw.params == 2 * r.params and adamw.optimizer_state == 2 * adamw.params
    assert r.training_memory(optimizer="sgd-momentum").optimizer_state == 4 * r.params
    # activations grow with the batch, except batchnorm's per-channel statistics
    one = r.training_memory(batch=1, dtype="bf16").activations
    bn_stats = sum(2 * n.shape[0] for n in r.graph.nodes if n.op == "batchnorm") * 4
    assert adamw.activations - bn_stats == 64 * (one - bn_stats)
    assert adamw.total == adamw.params + adamw.buffers + adamw.grads \
        + adamw.optimizer_state + adamw.activations


def test_dropout_mask_is_a_byte_on_cuda():
    r = archlang.check("zoo:googlenet")
    cpu, cuda = (r.training_memory(device=d) for d in ("cpu", "cuda"))
    dropped = sum(n.shape[0] for n in r.graph.nodes if n.op == "dropout")
    assert cpu.activations - cuda.activations == 3 * dropped


def test_bad_setup_is_a_clear_error():
    r = archlang.check("zoo:resnet18")
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        r.training_memory(dtype="int8")
    with pytest.raises(ValueError, match="unknown optimizer"):
        r.training_memory(optimizer="lion")
    with pytest.raises(ValueError, match="batch must be a positive int"):
        r.training_memory(batch=0)


def test_symbolic_input_gives_a_polynomial():
    spec = "network n {\n input x: [3, H, W]\n conv2d(8, 3, padding=1)\n relu\n" \
           " conv2d(8, 3, padding=1)\n global_avgpool\n output y\n}"
    m = archlang.check(spec).training_memory(batch=2)
    # the input (3 channels) and the ReLU's result, which the second conv keeps too (8)
    assert str(m.activations) == "88*H*W"  # (3 + 8) * 2 samples * 4 bytes


def test_summary_with_memory_and_columns_imports_no_torch():
    mods, proc = imported("summary", "specs/resnet.arch", "--network", "resnet50",
                          "--columns", "+rf,stride,centre,saved", "--batch", "64", "--dtype",
                          "bf16", "--optimizer", "adamw")
    assert proc.returncode == 0, proc.stderr
    assert "Training memory (batch 64, bfloat16, AdamW)" in proc.stdout
    assert "torch" not in mods
