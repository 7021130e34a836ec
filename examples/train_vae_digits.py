"""Train the `vae_digits` VAE of specs/vae.arch on scikit-learn's 8x8 digits, on the CPU.

    python examples/train_vae_digits.py [--seconds 60] [--epochs N] [--out out/vae_digits.png]

(docs/vae_digits.png was made with ``--out docs/vae_digits.png``.)

The VAE is built by ``archlang.load``; the data ships with scikit-learn, so nothing is
downloaded. Training stops after ``--epochs`` epochs or ``--seconds`` seconds, whichever
comes first. The loss is the negative ELBO per image: binary cross-entropy of the
reconstruction plus the KL divergence of q(z | x) from N(0, 1). At the end a PNG grid shows
test digits, their reconstructions, and new digits decoded from z ~ N(0, 1) by
`vae_digits_decoder`, a network of the same spec whose layers carry the VAE decoder's
names, so it loads the trained `decoder.*` weights as they are.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import archlang

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "vae.arch"


def data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test images, [N, 1, 8, 8] in [0, 1]."""
    x = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16.0
    x_train, x_test = train_test_split(x, test_size=0.1, random_state=seed)
    return x_train, x_test


def vae_loss(out, x: torch.Tensor) -> torch.Tensor:
    """Negative ELBO per image: BCE reconstruction + KL(q(z | x) || N(0, 1))."""
    bce = F.binary_cross_entropy(out.reconstruction, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + out.logvar - out.mu.pow(2) - out.logvar.exp())
    return (bce + kl) / len(x)


def evaluate(model: torch.nn.Module, x: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return vae_loss(model(x), x).item()


def train(spec: Path = SPEC, epochs: int | None = None, seconds: float | None = 60.0,
          out: Path | None = ROOT / "out" / "vae_digits.png", batch_size: int = 64,
          seed: int = 0, quiet: bool = False) -> dict:
    """Train until ``epochs`` or ``seconds`` run out; the per-epoch losses and the figure."""
    torch.manual_seed(seed)
    x_train, x_test = data(seed)
    model = archlang.load(spec, "vae_digits")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(total=epochs, desc="training", unit="epoch", disable=quiet)
    while epochs is None or len(losses) < epochs:
        model.train()
        order = torch.randperm(len(x_train))
        total = 0.0
        for i in range(0, len(x_train), batch_size):
            xb = x_train[order[i:i + batch_size]]
            loss = vae_loss(model(xb), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x_train))
        bar.update()
        bar.set_postfix(loss=f"{losses[-1]:.2f}", test=f"{evaluate(model, x_test):.2f}")
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    bar.close()
    result = {"epochs": len(losses), "losses": losses, "test_loss": evaluate(model, x_test),
              "seconds": time.perf_counter() - start, "png": None}
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        figure(model, x_test, spec, seed).save(out)
        result["png"] = Path(out)
    return result


def figure(model: torch.nn.Module, x_test: torch.Tensor, spec: Path, seed: int,
           cols: int = 12, sample_rows: int = 3) -> Image.Image:
    """Rows: test digits, their reconstructions (eval mode: z = mu), and samples."""
    decoder = archlang.load(spec, "vae_digits_decoder")
    decoder.load_state_dict({k: v for k, v in model.state_dict().items()
                             if k.startswith("decoder.")}, strict=True)
    model.eval()
    decoder.eval()
    gen = torch.Generator().manual_seed(seed)
    latent = decoder.decoder[0].in_features
    with torch.no_grad():
        originals = x_test[:cols]
        recon = model(originals).reconstruction
        samples = decoder(torch.randn(cols * sample_rows, latent, generator=gen))
    rows = [("test digits", originals), ("reconstructions", recon)]
    rows += [("samples z ~ N(0, 1)" if k == 0 else "", samples[k * cols:(k + 1) * cols])
             for k in range(sample_rows)]
    return grid(rows)


def grid(rows: list[tuple[str, torch.Tensor]], scale: int = 4, gap: int = 2,
         label_width: int = 120) -> Image.Image:
    """Rows of [N, 1, H, W] images in [0, 1], white on black, each row labelled."""
    h, w = rows[0][1].shape[-2:]
    cols = max(len(images) for _, images in rows)
    cell_h, cell_w = h * scale + gap, w * scale + gap
    img = Image.new("L", (label_width + cols * cell_w + gap, len(rows) * cell_h + gap), 255)
    draw = ImageDraw.Draw(img)
    for r, (label, images) in enumerate(rows):
        top = gap + r * cell_h
        draw.text((4, top + cell_h // 2 - 6), label, fill=0)
        for c, im in enumerate(images):
            pixels = (im[0].clamp(0, 1) * 255).round().to(torch.uint8)
            tile = Image.fromarray(pixels.numpy()).resize(
                (w * scale, h * scale), Image.Resampling.NEAREST)
            img.paste(tile, (label_width + gap + c * cell_w, top))
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--epochs", type=int, default=None, help="at most this many epochs")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="at most about this long (default 60; 0: no time limit)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "vae_digits.png",
                        help="where to write the figure (default: out/vae_digits.png)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(archlang.check(args.spec, "vae_digits").verdict())
    seconds = args.seconds if args.seconds > 0 else None
    if args.epochs is None and seconds is None:
        parser.error("give --epochs or a positive --seconds")
    res = train(args.spec, args.epochs, seconds, args.out, seed=args.seed)
    first, last = res["losses"][0], res["losses"][-1]
    print(f"{res['epochs']} epochs in {res['seconds']:.1f} s: train loss {first:.2f} -> "
          f"{last:.2f} (nats per image), test loss {res['test_loss']:.2f}")
    if not math.isfinite(last):
        raise SystemExit("training diverged")
    print(f"wrote {res['png']}")


if __name__ == "__main__":
    main()
