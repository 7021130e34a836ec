"""Generative networks: DCGAN (specs/dcgan.arch) and VAEs (specs/vae.arch).

The DCGAN networks are checked against PyTorch's DCGAN tutorial, rebuilt here from
``torch.nn`` by hand: the same state_dict keys (strict loading), parameter counts, outputs
and MACs (torch's FLOP counter / 2). The VAEs: static shapes and counts equal the compiled
module's, eval mode is deterministic (z = mu), training mode samples, torch.compile works,
and the example trainer learns. Goldens (summary, generated code, DOT) live in
tests/goldens/dcgan/ and tests/goldens/vae/; ``pytest --update-goldens`` rewrites them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import golden_path

import archlang
from archlang.backends.graphviz import Diagram
from archlang.cli import main as cli_main

torch = pytest.importorskip("torch")
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
DCGAN = "specs/dcgan.arch"
VAE = "specs/vae.arch"

#: (spec, network) of every generative network
NETWORKS = [(DCGAN, "dcgan_generator"), (DCGAN, "dcgan_discriminator"), (VAE, "vae"),
            (VAE, "vae_digits"), (VAE, "vae_digits_decoder")]


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


# ---- the DCGAN tutorial, by hand ----------------------------------------------------------
# https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html (nz=100, ngf=ndf=64, nc=3)

def tutorial_generator(nz: int = 100, ngf: int = 64, nc: int = 3) -> nn.Module:
    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 8),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 4),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
                nn.Tanh(),
            )

        def forward(self, x):
            return self.main(x)

    return Generator()


def tutorial_discriminator(ndf: int = 64, nc: int = 3) -> nn.Module:
    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 4),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 8),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
                nn.Sigmoid(),
            )

        def forward(self, x):
            return self.main(x)

    return Discriminator()


def weights_init(m: nn.Module) -> None:
    """The tutorial's initialisation (Radford et al., section 4)."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


TUTORIAL = {
    "dcgan_generator": (tutorial_generator, (100, 1, 1), (3, 64, 64)),
    "dcgan_discriminator": (tutorial_discriminator, (3, 64, 64), (1,)),
}

#: Published sizes of the tutorial's networks.
PARAMS = {"dcgan_generator": 3_576_704, "dcgan_discriminator": 2_765_568}


def numel(tensors) -> int:
    return sum(t.numel() for t in tensors)


def flops(module: nn.Module, x: torch.Tensor) -> int:
    module.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    return counter.get_total_flops()


@pytest.fixture(scope="module")
def dcgan_pairs():
    """(archlang model, tutorial model) per network, sharing the tutorial's weights."""
    torch.manual_seed(0)
    out = {}
    for name, (make, _, _) in TUTORIAL.items():
        theirs = make()
        theirs.apply(weights_init)
        ours = archlang.load(ROOT / DCGAN, name)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        out[name] = (ours, theirs)
    return out


@pytest.mark.parametrize("name", list(TUTORIAL))
def test_dcgan_parameter_counts(dcgan_pairs, name):
    ours, theirs = dcgan_pairs[name]
    static = archlang.check(DCGAN, name)
    assert static.params == numel(ours.parameters()) == numel(theirs.parameters()) == PARAMS[name]
    assert static.totals.buffers == numel(ours.buffers()) == numel(theirs.buffers())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _, shape_in, shape_out = TUTORIAL[name]
    assert tuple(static.graph.nodes[next(iter(static.graph.inputs.values()))].shape) == shape_in
    assert tuple(next(iter(static.outputs.values()))) == shape_out


@pytest.mark.parametrize("name", list(TUTORIAL))
def test_dcgan_outputs_equal_the_tutorial(dcgan_pairs, name):
    ours, theirs = dcgan_pairs[name]
    _, shape_in, _ = TUTORIAL[name]
    x = torch.randn(4, *shape_in)
    # a few training steps' worth of batch statistics first, so eval mode is not trivial
    ours.train()
    theirs.train()
    with torch.no_grad():
        for _ in range(3):
            xb = torch.randn(8, *shape_in)
            ours(xb)
            theirs(xb)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    torch.testing.assert_close(a, b.reshape(a.shape), rtol=1e-5, atol=1e-5)
    ours.train()
    theirs.train()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x).reshape(a.shape), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(TUTORIAL))
def test_dcgan_macs_equal_flop_counter(dcgan_pairs, name):
    ours, theirs = dcgan_pairs[name]
    _, shape_in, _ = TUTORIAL[name]
    x = torch.randn(1, *shape_in)
    theirs_flops, ours_flops = flops(theirs, x), flops(ours, x)
    static = archlang.check(DCGAN, name)
    assert static.macs == theirs_flops // 2 == ours_flops // 2
    expected = {"dcgan_generator": 104_628_224, "dcgan_discriminator": 103_817_216}
    assert static.macs == expected[name]


def test_dcgan_init_follows_the_paper():
    torch.manual_seed(0)
    for name in TUTORIAL:
        model = archlang.load(ROOT / DCGAN, name)
        convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert len(convs) == 5 and len(bns) in (3, 4)
        weights = torch.cat([m.weight.flatten() for m in convs])
        assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3
        gammas = torch.cat([m.weight for m in bns])
        assert abs(gammas.mean().item() - 1) < 5e-3 and abs(gammas.std().item() - 0.02) < 5e-3
        assert all(torch.all(m.bias == 0) for m in bns)


def test_dcgan_generator_feeds_the_discriminator(dcgan_pairs):
    gen, _ = dcgan_pairs["dcgan_generator"]
    disc, _ = dcgan_pairs["dcgan_discriminator"]
    gen.eval()
    disc.eval()
    with torch.no_grad():
        p = disc(gen(torch.randn(2, 100, 1, 1)))
    assert p.shape == (2, 1) and torch.all((p > 0) & (p < 1))


# ---- VAEs ----------------------------------------------------------------------------------

VAES = ["vae", "vae_digits"]


@pytest.mark.parametrize("name", VAES)
def test_vae_static_analysis_matches_the_module(name):
    res = archlang.check(VAE, name)
    model = archlang.load(ROOT / VAE, name)
    assert res.params == numel(model.parameters())
    assert res.totals.buffers == numel(model.buffers())
    shape_in = res.graph.nodes[res.graph.inputs["image"]].shape
    latent = {"vae": 20, "vae_digits": 8}[name]
    assert res.outputs == {"reconstruction": shape_in, "mu": (latent,), "logvar": (latent,)}
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            out = model(torch.rand(3, *shape_in))
        assert out._fields == ("reconstruction", "mu", "logvar")
        for field, value in zip(out._fields, out):
            assert tuple(value.shape) == (3, *res.outputs[field])
        assert torch.all((out.reconstruction >= 0) & (out.reconstruction <= 1))
    x = torch.rand(1, *shape_in)
    assert res.macs == flops(model, x) // 2


@pytest.mark.parametrize("name", VAES)
def test_vae_eval_is_deterministic_and_training_samples(name):
    torch.manual_seed(0)
    model = archlang.load(ROOT / VAE, name)
    graph = archlang.check(VAE, name).graph
    shape_in = graph.nodes[graph.inputs["image"]].shape
    x = torch.rand(4, *shape_in)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
        # z == mu in eval mode: the reconstruction is the decoder applied to mu
        torch.testing.assert_close(a.reconstruction, model.decoder(a.mu))
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    model.train()
    with torch.no_grad():
        c, d = model(x), model(x)
    assert torch.equal(c.mu, d.mu) and torch.equal(c.logvar, d.logvar)
    assert not torch.equal(c.reconstruction, d.reconstruction)
    torch.testing.assert_close(c.mu, a.mu)
    # the same noise gives the same sample: z = mu + exp(logvar / 2) * eps
    with torch.no_grad():
        torch.manual_seed(5)
        e = model(x)
        torch.manual_seed(5)
        eps = torch.randn_like(a.mu)
        z = a.mu + torch.exp(a.logvar / 2) * eps
        torch.testing.assert_close(e.reconstruction, model.decoder(z))


def test_vae_trains_by_gradient_through_the_sample():
    torch.manual_seed(0)
    model = archlang.load(ROOT / VAE, "vae_digits").train()
    out = model(torch.rand(2, 1, 8, 8))
    out.reconstruction.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.encoder[5].weight.grad.abs().sum() > 0  # through mu and logvar


def test_vae_digits_torch_compile_fullgraph():
    torch.manual_seed(0)
    model = archlang.load(ROOT / VAE, "vae_digits")
    x = torch.rand(3, 1, 8, 8)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    model.eval()
    with torch.no_grad():
        for u, v in zip(compiled(x), model(x)):
            torch.testing.assert_close(u, v)
    model.train()
    with torch.no_grad():
        torch.manual_seed(3)
        got = compiled(x)
        torch.manual_seed(3)
        want = model(x)
    assert not torch.equal(got.reconstruction, compiled(x).reconstruction)
    torch.testing.assert_close(got.mu, want.mu)
    torch.testing.assert_close(got.reconstruction, want.reconstruction)


def test_vae_digits_decoder_shares_the_decoder_names():
    vae = archlang.load(ROOT / VAE, "vae_digits").eval()
    decoder = archlang.load(ROOT / VAE, "vae_digits_decoder").eval()
    weights = {k: v for k, v in vae.state_dict().items() if k.startswith("decoder.")}
    assert set(weights) == set(decoder.state_dict())
    decoder.load_state_dict(weights, strict=True)
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        out = vae(x)
        torch.testing.assert_close(decoder(out.mu), out.reconstruction)


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_vae_digits_example(tmp_path):
    pytest.importorskip("sklearn")
    PIL = pytest.importorskip("PIL.Image")
    example = _example("train_vae_digits")
    out = tmp_path / "vae.png"
    res = example.train(epochs=4, seconds=None, out=out, quiet=True)
    assert res["epochs"] == 4
    losses = res["losses"]
    assert losses[-1] < 0.8 * losses[0], losses
    assert res["test_loss"] < losses[0]
    assert out.exists()
    with PIL.open(out) as img:
        assert img.format == "PNG" and img.width > 12 * 32 and img.height > 5 * 32


# ---- goldens -------------------------------------------------------------------------------

FORMATS = {"table": "summary.txt", "json": "summary.json", "csv": "summary.csv"}  # fmt -> kind


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return {golden_path(spec, network, kind) for spec, network in NETWORKS
            for kind in (*FORMATS.values(), "py", "dot")}


@pytest.mark.parametrize("spec,network", NETWORKS, ids=[n for _, n in NETWORKS])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_summary_golden(spec, network, fmt, golden):
    result = CliRunner().invoke(cli_main, ["summary", spec, "--network", network, "--format",
                                           fmt, "--depth", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["params"] == archlang.check(spec, network).params
    golden(spec, network, FORMATS[fmt], result.stdout)


@pytest.mark.parametrize("spec,network", NETWORKS, ids=[n for _, n in NETWORKS])
def test_generated_source_golden(spec, network, golden):
    golden(spec, network, "py", archlang.compile_source(spec, network))


@pytest.mark.parametrize("spec,network", NETWORKS, ids=[n for _, n in NETWORKS])
def test_diagram_golden(spec, network, golden):
    golden(spec, network, "dot", Diagram(archlang.check(spec, network).graph).source)


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed")
    return [exe]


def test_generated_sources_pass_ruff_and_the_allow_list(tmp_path):
    from archlang.codecheck import unsafe_code

    for spec, network in NETWORKS:
        source = archlang.compile_source(spec, network)
        assert unsafe_code(source) is None, network
        (tmp_path / f"{network}.py").write_text(source)
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    check = subprocess.run([*_ruff(), "check", "--no-cache", "--isolated", "."], cwd=tmp_path,
                           capture_output=True, text=True, env=env, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([*_ruff(), "format", "--check", "--isolated", "."], cwd=tmp_path,
                         capture_output=True, text=True, env=env, check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
