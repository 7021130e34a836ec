"""check, load and load_class from eight threads at once: the same answers as one thread,
one class per spec, network and parameters, no half-built module visible."""

from __future__ import annotations

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
