from __future__ import annotations

import difflib
import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

#: RegNets past the two smallest (the fast run keeps those), and those over 35M parameters
#: (regnet_y_128gf has no twin test: see tests/test_zoo_twins.py)
REGNETS_SLOW = tuple(f"regnet_{kind}_{size}" for kind in "xy"
                     for size in ("800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"))
REGNETS_BIG = tuple(f"regnet_{kind}_{size}" for kind in "xy"
                    for size in ("8gf", "16gf", "32gf"))

# The tests that a plain `pytest` leaves out (`-m 'not slow'` in pyproject.toml's addopts;
# `pytest -m ''` runs them). Keys are test ids: a module (`tests/test_x.py`), a test with all
# its parameters (`tests/test_x.py::test_y`) or one parametrised case
# (`tests/test_x.py::test_y[z]`); values say why. Every kind of check keeps a fast case: what
# is slow is the same check on more or bigger networks, whole scripts, several processes and
# long fuzzing. docs/testing.md explains the split; tests/test_slow_marks.py checks that every
# key names a test.
#: the zoo's dense-prediction networks, 3M to 61M parameters at any input size
DENSE = ("resnet_fpn_backbone", "fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50",
         "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
SLOW = {
    "tests/test_benchmarks.py::test_gpu_script_cpu_quick":
        "runs the benchmark script end to end; tests/test_benchmarks.py's other tests stay",
    "tests/test_deploy_benchmarks.py":
        "runs gpu.py's dry run (every model and row, minutes) and bench_inference.py end to "
        "end; test_benchmarks.py's quick smoke run stays in CI",
    "tests/test_deploy_zoo.py":
        "builds, pickles and scripts every zoo network (training and inference build) and "
        "loads them all again in another process; test_pickle.py's GoogLeNet round trip "
        "stays",
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
                    "googlenet", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
                    "wide_resnet50_2", "wide_resnet101_2")},
    **{f"tests/test_zoo_twins.py::test_twin_outputs_equal[{name}]":
       "torchvision equivalence of one more zoo network; squeezenet1_1, mobilenet_v2 and "
       "mnasnet0_5 stay"
       for name in ("squeezenet1_0", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "densenet121",
                    "densenet161", "densenet169", "densenet201",
                    *(f"efficientnet_b{i}" for i in range(2, 8)), "shufflenet_v2_x1_5",
                    "shufflenet_v2_x2_0", "inception_v3",
                    *(f"efficientnet_v2_{size}" for size in "sml"), "convnext_small",
                    "convnext_base", "convnext_large", *REGNETS_SLOW)},
    "tests/test_zoo_twins.py::test_inception_v3_smallest_input":
        "builds one more Inception v3 pair (24M parameters each); its static counts stay in "
        "tests/test_zoo_static.py",
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
    "tests/test_plugins.py::test_oracle_checks_plugin_ops":
        "runs the op oracle's module in pytest in another process with the test plugin installed",
    "tests/test_plugins.py::test_explicit_plugin_all_commands":
        "every command once more through --plugin; test_explicit_plugin_option (check) and "
        "test_installed_plugin_through_entry_points (every command) stay",
    "tests/test_receptive.py::test_receptive_field_matches_gradient":
        "the gradient of every zoo network up to 60M params; "
        "test_receptive_field_of_small_networks stays",
    "tests/test_memory.py::test_saved_activations_match_torch":
        "the saved tensors of every zoo network up to 60M params; "
        "test_saved_activations_of_small_networks stays",
    **{f"tests/test_export.py::test_zoo_network_exports_and_runs[{name}]":
       "ONNX export (dynamo) and ONNX Runtime of one more zoo network, seconds each; "
       "resnet18, vae_digits and the symbolic fcn stay"
       for name in ("alexnet", "alexnet_caffe", "alexnet_x2", "dcgan_discriminator",
                    "dcgan_generator", "googlenet", "googlenet_caffe", "nin_cifar10",
                    "resnet101", "resnet101_v1", "resnet152", "resnet152_v1", "resnet18_34",
                    "resnet34", "resnet50", "resnet50_v1", "resnext101_32x8d",
                    "resnext101_64x4d", "resnext50_32x4d", "vae", "vae_digits_decoder",
                    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
                    "vgg19_bn", "vgg_a_lrn", "vgg_c", "wide_resnet101_2", "wide_resnet50_2",
                    "densenet121", "densenet161", "densenet169", "densenet201", "mnasnet0_5",
                    "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "mobilenet_v2",
                    "squeezenet1_0", "squeezenet1_1", "mobilenet_v3_small",
                    "mobilenet_v3_large", *(f"efficientnet_b{i}" for i in range(8)),
                    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                    "shufflenet_v2_x2_0", "inception_v3",
                    *(f"efficientnet_v2_{size}" for size in "sml"),
                    *(f"convnext_{size}" for size in ("tiny", "small", "base", "large")),
                    "regnet_x_400mf", "regnet_y_400mf", *REGNETS_SLOW, "regnet_y_128gf")},
    **{f"tests/test_inference.py::test_inference_build_equals_eval_mode[{name}]":
       "the inference build of one more big network; resnet18, googlenet, vgg11_bn and the "
       "small ones stay"
       for name in ("resnet50", "resnet50_v1", "resnet101", "resnet101_v1", "resnet152",
                    "resnet152_v1", "resnet18_34", "resnext50_32x4d", "resnext101_32x8d",
                    "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "vgg13",
                    "vgg16", "vgg19", "vgg13_bn", "vgg16_bn", "vgg19_bn", "vgg_a_lrn",
                    "vgg_c", "densenet161", "densenet201", "inception_v3",
                    *(f"efficientnet_v2_{size}" for size in "sml"), "convnext_small",
                    "convnext_base", "convnext_large", *REGNETS_SLOW, "regnet_y_128gf")},
    **{f"tests/test_pickle.py::test_torchscript_every_zoo_network[{name}]":
       "torch.jit.script of one more big network; googlenet_caffe (training outputs) stays"
       for name in ("googlenet", "resnet152", "resnet152_v1", "resnext101_64x4d",
                    "wide_resnet101_2", "inception_v3", "convnext_small", "convnext_base",
                    "convnext_large", *REGNETS_BIG, "regnet_y_128gf")},
    # the dense-prediction networks (specs/segmentation.arch, specs/detection.arch)
    **{f"tests/test_export.py::test_zoo_network_exports_and_runs[{name}]":
       "ONNX export and ONNX Runtime of one more dense-prediction network, half a minute or "
       "more each; the symbolic fcn stays"
       for name in DENSE},
    **{f"tests/test_inference.py::test_inference_build_equals_eval_mode[{name}]":
       "the inference build of one more dense-prediction network; the classifiers' stay"
       for name in DENSE},
    **{f"tests/test_pickle.py::test_torchscript_every_zoo_network[{name}]":
       "torch.jit.script of one more dense-prediction network; lraspp_mobilenet_v3_large "
       "stays"
       for name in DENSE if name != "lraspp_mobilenet_v3_large"},
    **{f"tests/test_export.py::test_zoo_network_exports_and_runs[{name}]":
       "ONNX export and ONNX Runtime of U-Net; its own tests/test_unet.py stays"
       for name in ("unet", "unet_padded")},
    **{f"tests/test_export.py::test_zoo_network_exports_and_runs[{name}]":
       "ONNX export and ONNX Runtime of one more ResNet-sized network (Res2Net, 12-20 s); "
       "resnet18 stays" for name in (
           "res2net50_26w_4s", "res2net50_48w_2s", "res2net50_26w_6s", "res2net50_26w_8s",
           "res2net50_14w_8s", "res2net101_26w_4s")},
    "tests/test_res2net.py::test_torch_compile_fullgraph":
        "torch.compile of a 50-layer network; tests/test_lists.py's small network stays",
    "tests/test_pickle.py::test_pickle_and_torchscript_round_trip_in_a_fresh_process[False]":
        "one more fresh-process round trip (the training build); the inference build's stays",
}

#: The slow tests CI leaves out too (`bash scripts/test.sh --all` runs them): the same checks
#: as slow ones, on the biggest networks or on every zoo network, minutes each on two cores.
#: Each check keeps cases in the CI run; these are also marked slow.
EXHAUSTIVE = {
    "tests/test_deploy_zoo.py::test_every_zoo_network_round_trips_in_a_fresh_process[rest]":
        "the round trip of the zoo networks after the first two of each zoo file (about 60 "
        "networks, a minute); CI keeps the first two of each file ([sample])",
    **{f"tests/test_export.py::test_zoo_network_exports_and_runs[{name}]":
       "ONNX export of one more Res2Net (12-20 s each); CI keeps res2net50_48w_2s"
       for name in ("res2net50_26w_4s", "res2net50_26w_6s", "res2net50_26w_8s",
                    "res2net50_14w_8s", "res2net101_26w_4s")},
    **{f"tests/test_zoo_twins.py::test_twin_outputs_equal[{name}]":
       "the torchvision twin of one more VGG depth (133M+ parameters to initialise); CI keeps "
       "vgg11, vgg16, vgg11_bn and vgg16_bn"
       for name in ("vgg13", "vgg19", "vgg13_bn", "vgg19_bn")},
    "tests/test_deploy_benchmarks.py":
        "gpu.py's dry run takes minutes on two cores; the benchmark scripts' own quick run "
        "(tests/test_benchmarks.py) stays in CI",
    **{f"tests/test_export.py::test_zoo_network_exports_and_runs[{name}]":
       "ONNX export of a big network (up to minutes each); CI keeps resnet18, vae_digits, "
       "googlenet, squeezenet1_1, mobilenet_v2 and the symbolic fcn"
       for name in ("alexnet", "alexnet_caffe", "alexnet_x2", "dcgan_discriminator",
                    "dcgan_generator", "googlenet_caffe", "nin_cifar10",
                    "resnet101", "resnet101_v1", "resnet152", "resnet152_v1", "resnet18_34",
                    "resnet34", "resnet50", "resnet50_v1", "resnext101_32x8d",
                    "resnext101_64x4d", "resnext50_32x4d", "vae", "vae_digits_decoder",
                    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
                    "vgg19_bn", "vgg_a_lrn", "vgg_c", "wide_resnet101_2", "wide_resnet50_2",
                    "densenet121", "densenet161", "densenet169", "densenet201", "mnasnet0_5",
                    "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "squeezenet1_0",
                    "mobilenet_v3_small", "mobilenet_v3_large",
                    *(f"efficientnet_b{i}" for i in range(8)), "shufflenet_v2_x0_5",
                    "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
                    "inception_v3", *(f"efficientnet_v2_{size}" for size in "sml"),
                    "convnext_small", "convnext_base", "convnext_large", "regnet_x_400mf",
                    "regnet_y_400mf", *REGNETS_SLOW, "regnet_y_128gf")},
    **{f"tests/test_inference.py::test_inference_build_equals_eval_mode[{name}]":
       "the inference build of a big network; CI keeps resnet50 and the smaller ones"
       for name in ("resnet50_v1", "resnet101", "resnet101_v1", "resnet152", "resnet152_v1",
                    "resnet18_34", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
                    "wide_resnet101_2", "vgg13", "vgg16", "vgg19", "vgg13_bn", "vgg16_bn",
                    "vgg19_bn", "vgg_a_lrn", "vgg_c", "densenet161", "densenet201",
                    "inception_v3", "efficientnet_v2_m", "efficientnet_v2_l",
                    "convnext_base", "convnext_large", *REGNETS_BIG, "regnet_y_128gf")},
    **{f"tests/test_pickle.py::test_torchscript_every_zoo_network[{name}]":
       "torch.jit.script of a big network; CI keeps googlenet and the smaller ones"
       for name in ("resnet152", "resnet152_v1", "resnext101_64x4d", "wide_resnet101_2",
                    "inception_v3", "convnext_base", "convnext_large", *REGNETS_BIG,
                    "regnet_y_128gf")},
    **{f"tests/test_zoo_twins.py::test_twin_outputs_equal[{name}]":
       "torchvision equivalence of a network over 40M parameters or 100 layers deep; CI "
       "keeps resnext50_32x4d, densenet121 and every smaller twin"
       for name in ("resnet101", "resnet152", "resnext101_32x8d", "resnext101_64x4d",
                    "wide_resnet50_2", "wide_resnet101_2", "densenet161", "densenet169",
                    "densenet201", "mnasnet1_0", "mnasnet1_3",
                    *(f"efficientnet_b{i}" for i in range(2, 8)), "efficientnet_v2_m",
                    "efficientnet_v2_l", "convnext_base", "convnext_large", *REGNETS_BIG)},
    "tests/test_zoo_twins.py::test_inception_v3_smallest_input":
        "inception_v3 once more, at 75 x 75 without its aux head; the 299 x 299 twin stays "
        "in CI",
    **{f"tests/{test}[{name}]": "a dense-prediction network over 40M parameters; CI keeps "
       "the smaller ones"
       for name in ("fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101")
       for test in ("test_export.py::test_zoo_network_exports_and_runs",
                    "test_inference.py::test_inference_build_equals_eval_mode",
                    "test_pickle.py::test_torchscript_every_zoo_network")},
    "tests/test_hardening.py::test_mutation_fuzz_2000_cases":
        "2,000 mutated specs; test_grammar_fuzz and the fast fuzz stay in CI",
    "tests/test_receptive.py::test_receptive_field_matches_gradient":
        "float64 gradients of every zoo network up to 60M params; CI keeps "
        "test_receptive_field_of_small_networks",
    "tests/test_memory.py::test_saved_activations_match_torch":
        "the saved tensors of every zoo network up to 60M params; CI keeps "
        "test_saved_activations_of_small_networks",
}
SLOW.update(EXHAUSTIVE)

#: Checks repeated over the zoo, the spec files or the networks, whose fast run keeps only
#: these cases (one network per family of layers); every other case is slow. The cases are
#: the parameters of the test id (``test_x[resnet18]`` → ``resnet18``).
FAST_SAMPLE = {
    "tests/test_pickle.py::test_torchscript_every_zoo_network":
        ("googlenet_caffe", "resnet18", "mobilenet_v3_small", "vae", "lraspp_mobilenet_v3_large"),
    "tests/test_inference.py::test_inference_build_equals_eval_mode":
        ("resnet18", "googlenet", "mobilenet_v3_small"),
    "tests/test_zoo_twins.py::test_twin_outputs_equal":
        ("resnet18", "mobilenet_v3_small"),
    "tests/test_dense_twins.py::test_dense_twin": ("lraspp_mobilenet_v3_large",),
    "tests/test_diagram.py::test_svg_renders_every_network":
        ("specs/googlenet.arch-googlenet", "specs/resnet.arch-resnet18",
         "specs/unet.arch-unet", "specs/ensembles.arch-resnet18_34"),
    "tests/test_fmt.py::test_scrambled_spec_formats_back_and_means_the_same":
        ("archlang/zoo/googlenet.arch", "archlang/zoo/inception.arch",
         "archlang/zoo/convnext.arch", "archlang/zoo/mobilenet.arch", "archlang/zoo/unet.arch",
         "archlang/zoo/detection.arch", "examples/pyramid.arch", "examples/symbolic.arch",
         "examples/ensemble.arch", "examples/tour/efficientnet.arch"),
    "tests/test_check_cache.py::test_summaries_are_replayed_and_follow_edits": ("table",),
}
SLOW.update({
    "tests/test_examples.py::test_train_digits_learns":
        "trains the digits example for real (20 s); tests/test_generative.py's VAE stays",
    "tests/test_models.py::test_cli_zoo_list_and_show":
        "`zoo list` checks all 90-odd zoo networks, twice; `zoo show` keeps its fast tests",
    "tests/test_parse.py::test_shared_scanner_lexes_as_larks_contextual_lexer":
        "lexes every spec file with both lexers; the fmt and parse tests stay",
    "tests/test_parse.py::test_offsets_are_larks":
        "parses every spec file and 600 mutated ones with both position propagations; "
        "test_offsets_are_larks_on_the_zoo stays",
    "tests/test_threads.py::test_load_under_memo_pressure_in_eight_threads":
        "eight threads loading networks; the other thread tests stay",
    "tests/test_threads.py::test_different_specs_and_errors_in_eight_threads":
        "eight threads checking different specs; test_check_in_eight_threads stays",
    "tests/test_export.py::test_zoo_network_exports_and_runs[resnet18]":
        "ONNX export of a second network; vae_digits and the symbolic fcn stay",
    "tests/test_dense_compile.py":
        "torch.compile of the dense-prediction networks; tests/test_pytorch.py's "
        "test_torch_compile_fullgraph[googlenet] and tests/test_ports.py's pyramid stay",
    "tests/test_ast_schema.py::test_mutated_specs_lower_to_valid_nodes":
        "lowers 100-odd mutated specs; the zoo's specs validate node by node in the fast run",
    **{f"tests/test_check_cache.py::{name}": "more fresh processes for the check cache; "
       "replay, edits, errors, module stamps and keys stay"
       for name in ("test_json_verdicts_are_replayed_byte_for_byte",
                    "test_options_and_directory_are_part_of_the_key",
                    "test_the_cache_can_be_turned_off", "test_plugins_are_never_replayed",
                    "test_a_broken_or_foreign_entry_is_a_miss",
                    "test_an_unusable_cache_directory_is_no_error")},
})

SLOW_SEEN = pytest.StashKey[set]()   # SLOW keys that matched a collected test
COLLECTED = pytest.StashKey[list]()  # every collected test id, before any deselection


def slow_key(nodeid: str) -> str | None:
    """The SLOW key that marks this test, if any."""
    base = nodeid.split("[", 1)[0]
    for key in (nodeid, base, base.split("::", 1)[0]):
        if key in SLOW:
            return key
    if base in FAST_SAMPLE and nodeid[len(base) + 1:-1] not in FAST_SAMPLE[base]:
        return base
    return None


def pytest_configure(config):
    # archlang's cache directory (the built parser, replayed checks: archlang/cache.py) is
    # the session's own, so no test reads or writes the one in the user's home
    os.environ["XDG_CACHE_HOME"] = where = tempfile.mkdtemp(prefix="archlang-test-cache-")
    config.add_cleanup(lambda: shutil.rmtree(where, ignore_errors=True))


@pytest.fixture(autouse=True)
def _check_afresh(request, monkeypatch):
    """A command run in the test's own process always checks afresh: a test that changes
    archlang's behaviour (monkeypatch) must see its change. Commands in subprocesses use
    the session's cache; tests/test_check_cache.py tests it."""
    if request.module.__name__.rpartition(".")[2] == "test_check_cache":
        return
    from archlang import cache

    monkeypatch.setattr(cache, "replay", lambda name: None)
    monkeypatch.setattr(cache, "record", lambda name, stdout, specs: None)


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
            if key in EXHAUSTIVE:
                item.add_marker(pytest.mark.exhaustive)
            seen.add(key)


@pytest.fixture
def update_goldens(request) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@functools.cache
def zoo_results() -> dict:
    """Every zoo network checked (name → ``archlang.CheckResult``), each zoo file parsed once:
    for test modules that choose their cases by checking the whole zoo at collection."""
    from archlang import models
    from archlang.analysis.report import totals
    from archlang.api import PASSES, CheckResult, run_passes
    from archlang.graph.state import Options, Run
    from archlang.limits import Limits
    from archlang.program import load_program

    limits, programs, out = Limits(), {}, {}
    for name in models.list_models():
        path, network = models.resolve(f"zoo:{name}", None)
        if path not in programs:
            programs[path] = load_program(path, limits)
        state = Run(path, Options(network), limits)
        state.prog = programs[path]
        state.rep.diagnostics += state.prog.diagnostics
        run_passes(state, PASSES[1:])
        assert not state.rep.failed, (name, state.rep.diagnostics)
        out[name] = CheckResult(state.graph, totals(state.graph), state.rep.diagnostics)
    return out


def concrete_shape(graph, shape: tuple, at: int = 64) -> tuple:
    """An input's shape with each symbolic size (the dense-prediction networks, U-Net) the
    first size from ``at`` that the checker admits (``graph.constraints``)."""
    out = []
    for d in shape:
        if not isinstance(d, int):
            c = graph.constraints.get(d.name)
            d = next(x for x in range(at, at + 10_000) if c is None or c.admits(x))
        out.append(d)
    return tuple(out)


# ---- golden files ---------------------------------------------------------------------------
# tests/goldens/README.md describes the layout: tests/goldens/<spec>/<network>.<kind>.

GOLDENS = Path(__file__).resolve().parent / "goldens"


def golden_path(spec: str | Path, name: str, kind: str, root: Path = GOLDENS) -> Path:
    """Where the golden of ``name``'s ``kind`` made from ``spec`` lives:
    ``<root>/<spec's stem>/<name>.<kind>``. ``spec`` is a spec file's path (``specs/vgg.arch``
    gives the folder ``vgg``) or, for goldens made from no spec file, a folder's name
    (``broken``, ``cli``)."""
    return root / Path(spec).stem / f"{name}.{kind}"


class Golden:
    """Compares text with a golden file; with ``update``, rewrites the file instead.

    ``golden(spec, name, kind, text)`` checks ``text`` against ``golden_path(spec, name,
    kind)``. A missing golden fails, and so does a difference (with a unified diff)."""

    def __init__(self, update: bool = False, root: Path = GOLDENS):
        self.update = update
        self.root = root

    def path(self, spec: str | Path, name: str, kind: str) -> Path:
        return golden_path(spec, name, kind, self.root)

    def __call__(self, spec: str | Path, name: str, kind: str, text: str) -> None:
        path = self.path(spec, name, kind)
        shown = path.relative_to(self.root.parent.parent) if self.root == GOLDENS else path
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"missing golden {shown}; run pytest --update-goldens")
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(list(difflib.unified_diff(
                expected.splitlines(True), text.splitlines(True), "golden", "now"))[:80])
            pytest.fail(f"{shown} differs (pytest --update-goldens rewrites it; review the "
                        f"diff):\n{diff}")


@pytest.fixture
def golden(update_goldens) -> Golden:
    """The one golden comparator: ``golden(spec, name, kind, text)``; see ``Golden``."""
    return Golden(update_goldens)
