import pytest

# The tests that a plain `pytest` leaves out (`-m 'not slow'` in pyproject.toml's addopts;
# `pytest -m ''` runs them). Keys are test ids: a module (`tests/test_x.py`), a test with all
# its parameters (`tests/test_x.py::test_y`) or one parametrised case
# (`tests/test_x.py::test_y[z]`); values say why. Every kind of check keeps a fast case: what
# is slow is the same check on more or bigger networks, whole scripts, several processes and
# long fuzzing. docs/testing.md explains the split; tests/test_slow_marks.py checks that every
# key names a test.
SLOW = {
    "tests/test_benchmarks.py::test_gpu_script_cpu_quick":
        "runs the benchmark script end to end; tests/test_benchmarks.py's other tests stay",
    "tests/test_distributed.py":
        "DDP and FSDP training, each in two spawned processes",
    "tests/test_hardening.py::test_mutation_fuzz_2000_cases":
        "long fuzzing; test_arbitrary_text stays as the fast fuzz",
    "tests/test_hardening.py::test_grammar_fuzz":
        "long fuzzing; test_arbitrary_text stays as the fast fuzz",
    **{f"tests/test_zoo_twins.py::test_twin_outputs_equal[{name}]":
       "torchvision equivalence of one more zoo network; resnet18 stays, and googlenet and "
       "resnet50 in tests/test_pytorch.py"
       for name in ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
                    "vgg16_bn", "vgg19_bn", "resnet34", "resnet50", "resnet101", "resnet152",
                    "googlenet")},
    **{f"tests/test_zoo_goldens.py::test_forward_matches_static[{name}]":
       "a forward pass of one more big network at its full input size; nin_cifar10 stays"
       for name in ("alexnet_caffe", "vgg_a_lrn", "vgg_c", "googlenet_caffe", "resnet50_v1",
                    "resnet101_v1", "resnet152_v1")},
    "tests/test_pytorch.py::test_torch_compile_fullgraph[resnet50]":
        "torch.compile of one more network; googlenet stays",
    "tests/test_pytorch.py::test_torch_export[resnet50]":
        "torch.export of one more network; googlenet stays",
    "tests/test_generative.py::test_vae_digits_torch_compile_fullgraph":
        "torch.compile of one more network; googlenet stays in tests/test_pytorch.py",
    "tests/test_generative.py::test_train_vae_digits_example":
        "trains one more example; tests/test_examples.py's train_digits stays",
}

SLOW_SEEN = pytest.StashKey[set]()   # SLOW keys that matched a collected test
COLLECTED = pytest.StashKey[list]()  # every collected test id, before any deselection


def slow_key(nodeid: str) -> str | None:
    """The SLOW key that marks this test, if any."""
    base = nodeid.split("[", 1)[0]
    for key in (nodeid, base, base.split("::", 1)[0]):
        if key in SLOW:
            return key
    return None


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite golden files from the current output")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    seen = config.stash.setdefault(SLOW_SEEN, set())
    config.stash[COLLECTED] = [item.nodeid for item in items]
    for item in items:
        key = slow_key(item.nodeid)
        if key is not None:
            item.add_marker(pytest.mark.slow)
            seen.add(key)


@pytest.fixture
def update_goldens(request) -> bool:
    return bool(request.config.getoption("--update-goldens"))
