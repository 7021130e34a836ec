"""Every entry of SLOW in tests/conftest.py names a test, and the marker really deselects."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import COLLECTED, SLOW, slow_key

ROOT = Path(__file__).resolve().parent.parent


def test_every_slow_key_names_a_test(request):
    collected = request.config.stash.get(COLLECTED, [])
    for key in SLOW:
        path, _, rest = key.partition("::")
        assert (ROOT / path).is_file(), f"SLOW: {key}: no file {path}"
        if not rest:
            continue
        func, _, param = rest.partition("[")
        assert re.search(rf"^def {re.escape(func)}\(", (ROOT / path).read_text(), re.MULTILINE), \
            f"SLOW: {key}: no test {func} in {path}"
        ran = [n for n in collected if n.split("[", 1)[0] == f"{path}::{func}"]
        if param and ran:  # the test was collected in this session: its case must be too
            assert key in ran, f"SLOW: {key}: no such case; collected: {ran}"


def test_slow_keys_match_ids():
    assert slow_key("tests/test_distributed.py::test_replicas_stay_identical[ddp]") \
        == "tests/test_distributed.py"
    assert slow_key("tests/test_zoo_twins.py::test_twin_outputs_equal[vgg16]") is not None
    assert slow_key("tests/test_zoo_twins.py::test_twin_outputs_equal[resnet18]") is None
    assert slow_key("tests/test_hardening.py::test_arbitrary_text") is None


def test_slow_tests_are_deselected_by_default(request):
    markexpr = request.config.getoption("markexpr")
    if markexpr == "not slow":
        assert not any(slow_key(item.nodeid) for item in request.session.items)


def test_every_fast_sample_names_collected_cases(request):
    """Each case that FAST_SAMPLE keeps in the fast run exists (a renamed network or spec
    would silently leave the check with no fast case)."""
    from conftest import FAST_SAMPLE

    collected = request.config.stash.get(COLLECTED, [])
    for base, sample in FAST_SAMPLE.items():
        path = base.partition("::")[0]
        assert (ROOT / path).is_file(), f"FAST_SAMPLE: no file {path}"
        ran = [n for n in collected if n.split("[", 1)[0] == base]
        if ran:
            missing = [case for case in sample if f"{base}[{case}]" not in ran]
            assert not missing, f"FAST_SAMPLE: {base} has no case {missing}"
            assert len(ran) > len(sample)
    assert slow_key("tests/test_pickle.py::test_torchscript_every_zoo_network[resnet18]") is None
    assert slow_key("tests/test_pickle.py::test_torchscript_every_zoo_network[vgg11]") \
        == "tests/test_pickle.py::test_torchscript_every_zoo_network"
