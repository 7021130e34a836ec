"""Train a spec on scikit-learn's bundled 8x8 digits, on the CPU.

    python examples/train_digits.py [--epochs 20] [--spec examples/digits.arch]

The network is built by ``archlang.load`` from examples/digits.arch; the data ships with
scikit-learn, so nothing is downloaded. Prints the test accuracy at the end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import archlang

HERE = Path(__file__).resolve().parent


def data(seed: int):
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y)
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(spec: Path, epochs: int, batch_size: int = 64, seed: int = 0,
          quiet: bool = False) -> float:
    torch.manual_seed(seed)
    x_train, x_test, y_train, y_test = data(seed)
    model = archlang.load(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(x_train) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=quiet)
    for _ in bar:
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(x_train), batch_size):
            idx = order[i:i + batch_size]
            xb = x_train[idx]
            # light augmentation: random one-pixel shifts
            shift = tuple(torch.randint(-1, 2, (2,)).tolist())
            xb = torch.roll(xb, shifts=shift, dims=(2, 3))
            loss = loss_fn(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", test_acc=f"{evaluate(model, x_test, y_test):.3f}")
    return evaluate(model, x_test, y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=HERE / "digits.arch")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(archlang.check(args.spec).verdict())
    start = time.perf_counter()
    acc = train(args.spec, args.epochs, seed=args.seed)
    print(f"test accuracy: {acc:.4f} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
