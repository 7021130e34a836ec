"""The soundness property on generated specs: every spec `check` accepts compiles (valid
Python that passes ruff), loads, runs eval forward and training forward + backward at its
smallest input with the checked output shapes and parameter count, and computes exactly what
the all-out-of-place build of the same network computes (outputs, parameter and input
gradients, batch-norm statistics), without changing its inputs.

The specs come from :class:`archlang.soundness.SpecGen`, a generator of valid specs (groups,
named values, merges, views, residuals, loops, blocks, several and training-only outputs,
odd names, symbolic sizes), one per seed, so every case is reproducible:
``archlang.soundness.generate(seed)``. `python -m archlang.fuzz --soundness --seconds N` runs
the same property for as long as asked.
"""

from __future__ import annotations

import re

import pytest

from archlang import soundness

torch = pytest.importorskip("torch")


def failures_of(seeds) -> tuple[str, int, int]:
    failures, count, accepted = soundness.run_cases(seeds)
    report = "\n\n".join(f"seed case {k}: {o.problem}\n{o.text}"
                         for k, o in enumerate(failures[:5]))
    return report, count, accepted


def test_property_fast_sample():
    """200 generated specs (most accepted by check: the generator writes valid specs)."""
    report, count, accepted = failures_of(range(200))
    assert not report, report
    assert count == 200 and accepted >= 160, accepted


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(10))
def test_property_2000_cases(chunk):
    start = 100_000 + 200 * chunk
    report, _, accepted = failures_of(range(start, start + 200))
    assert not report, report
    assert accepted >= 160, accepted


def test_symbolic_specs_run_at_their_smallest_input():
    report, _, accepted = failures_of_symbolic(range(40))
    assert not report, report
    assert accepted >= 30, accepted


def failures_of_symbolic(seeds):
    import random

    out = []
    accepted = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors, as run_cases runs them: a pool only waits
    try:
        for seed in seeds:
            text, net = soundness.SpecGen(random.Random(seed), symbolic=True).generate()
            o = soundness.check_property(text, net)
            accepted += o.accepted
            if o.problem:
                out.append(f"{o.problem}\n{text}")
    finally:
        torch.set_num_threads(threads)
    return "\n\n".join(out[:5]), len(list(seeds)), accepted


def test_generation_is_deterministic():
    assert soundness.generate(7) == soundness.generate(7)
    assert soundness.generate(7) != soundness.generate(8)


# Findings of the generator, each once accepted by check and then failing the property.
FINDINGS = {
    # an unlabelled identity whose value kept its name gave `x = x` (ruff PLW0127)
    "identity_self_assignment": """network n {
    input x: [4]
    identity
    linear(3)
    output y
}""",
    # ... and a training output that is an identity left an empty `if self.training:`
    "training_identity": """network n {
    input x: [4]
    h = x -> linear(4)
    training output t = h -> identity
    output y = h -> linear(2)
}""",
    # an in-place add of three values rounded as a + (b + c), not (a + b) + c
    "add_of_three_in_place": """network n {
    input x: [6]
    a = x -> linear(6)
    b = x -> linear(6)
    c = x -> linear(6)
    output s = add(a, b, c)
}""",
    # the reparameterisation's exp overflows alike in both builds: NaN gradients are equal
    "nan_gradients_alike": """network n {
    input x: [1, 3, 3]
    mu = x -> conv2d(5, 1)
    logvar = x -> conv2d(5, 1) -> linear_like: conv2d(5, 1, bias=false)
    big = logvar -> reshape([-1]) -> linear(45) -> reshape([5, 3, 3])
    z = sample(mu, big)
    output z
}""",
    # a value named like the network was sized as a recursive call of it (E055)
    "value_named_like_the_network": """network n {
    input x: [2, 4, 4]
    n = conv2d(2, 1)
    y = n -> relu
    output y
}""",
    # an output of a block unpacked into the name of the network's named tuple shadowed it
    "unpacked_name_of_the_outputs_class": """block Two {
    input a
    output p = a -> relu
    output q = a -> sigmoid
}

network n {
    input x: [4]
    NOutputs, y = Two(x)
    output NOutputs
    output y
}""",
}


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_findings(name):
    o = soundness.check_property(FINDINGS[name])
    assert o.accepted and o.problem is None, o.problem
    assert soundness.lint([o.source]) == {}


def test_generator_writes_blocks_with_several_inputs_and_outputs():
    """Some specs of the fast sample declare block inputs and unpack several outputs, in
    each form a call can take."""
    texts = [soundness.generate(seed)[0] for seed in range(200)]
    ports = [t for t in texts if "\n    input " in t.split("\nnetwork ")[0]]
    assert len(ports) >= 30
    calls = "\n".join(ports)
    assert "interpolate(" in calls and "use " in calls
    assert re.search(r"^    \w+(, \w+)+ = \w+ -> \w+\(", calls, re.MULTILINE)  # chain: first input
    assert re.search(r"^    \w+(, \w+)+ = \w+\(.*\w+=\w+\)$", calls, re.MULTILINE)  # by name


def test_lint_reports_ruff_problems():
    if soundness.ruff_exe() is None:
        pytest.skip("ruff is not installed")
    found = soundness.lint(["import os\n", "x = 1\n"])
    assert list(found) == [0] and "F401" in found[0]


def test_property_catches_a_wrong_build(monkeypatch):
    """The harness sees an in-place build that differs from the out-of-place one."""
    from archlang.ops.registry import OPS

    relu = type(OPS["relu"])
    right = relu.torch_call
    monkeypatch.setattr(relu, "torch_call", lambda self, a, args, ins, inplace: (
        f"F.relu(torch.mul({args[0]}, 2))" if inplace else right(self, a, args, ins,
                                                                          inplace)))
    o = soundness.check_property("network n {\n input x: [4]\n linear(4)\n relu\n output y\n}")
    assert o.accepted and "differs from the out-of-place build" in o.problem
