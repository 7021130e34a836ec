"""Peak memory of one step in a fresh process (Linux): the rise of resident memory above
what the process holds just before the step (model, optimizer-free, input).

    MALLOC_MMAP_THRESHOLD_=65536 python benchmarks/_runtime_memory.py resnet50 archlang train 8

glibc then serves every block of 64 KiB or more with mmap and returns it on free, so resident
memory follows live tensors. After ``warmup`` steps (one-time allocations), for each measured
step: free the gradients, trim the heap, reset the peak (``/proc/self/clear_refs`` 5),
read VmRSS, run the step, read VmHWM. Prints one JSON object with the median of the steps.
"""

from __future__ import annotations

import ctypes
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from models import build, loss_fn


def vm() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main() -> None:
    name, impl, mode, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = build(name, impl)
    x = torch.randn(batch, 3, 224, 224)
    y = torch.randint(0, 1000, (batch,))
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = lambda: libc.malloc_trim(0)
    except OSError:  # pragma: no cover
        trim = lambda: None

    if mode == "train":
        model.train()

        def step():
            loss_fn(name, model(x), y).backward()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)

    step()  # warm-up: thread pools, oneDNN primitives
    deltas, resettable = [], True
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        trim()
        resettable = reset_peak() and resettable
        before = vm()
        step()
        after = vm()
        deltas.append(after["VmHWM"] - before["VmRSS"])
    print(json.dumps({"model": name, "impl": impl, "mode": mode, "batch": batch,
                      "peak_delta_bytes": statistics.median(deltas), "deltas": deltas,
                      "peak_reset_worked": resettable}))


if __name__ == "__main__":
    main()
