"""Static checks of the model-zoo specs against published and recomputed reference numbers.

Every constant comes from /work/shared/reference/numbers.md (torchvision weight metadata,
counts recomputed from the Caffe prototxts and the papers' configs), unless a comment says
otherwise. MACs are conv + linear multiply-accumulates without bias, the convention of
torchvision's `_ops`. No torch needed: these run in milliseconds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from archlang.api import CheckResult, check

SPECS = Path(__file__).resolve().parent.parent / "specs"


@cache
def _check(spec: str, network: str, params: tuple = ()) -> CheckResult:
    return check(SPECS / f"{spec}.arch", network, **dict(params))


# (spec file, network, network parameters, params, params_inference, MACs)
# params_inference is None where the network has no training-only layers (it must then
# equal params).
CASES = [
    # torchvision AlexNet ("one weird trick" widths) and Caffe's bvlc_alexnet at 227.
    ("alexnet", "alexnet", {}, 61_100_840, None, 714_188_480),
    ("alexnet", "alexnet_caffe", {}, 60_965_224, None, 724_406_816),
    # torchvision VGG; _bn adds BN parameters but no MACs.
    ("vgg", "vgg11", {}, 132_863_336, None, 7_609_090_048),
    ("vgg", "vgg13", {}, 133_047_848, None, 11_308_466_176),
    ("vgg", "vgg16", {}, 138_357_544, None, 15_470_264_320),
    ("vgg", "vgg19", {}, 143_667_240, None, 19_632_062_464),
    ("vgg", "vgg11_bn", {}, 132_868_840, None, 7_609_090_048),
    # vgg13_bn / vgg19_bn params: not in numbers.md; they are the plain counts plus 2 per conv
    # channel (2 * 2,944 and 2 * 5,504), equal to torchvision 0.29.1's models built locally.
    ("vgg", "vgg13_bn", {}, 133_053_736, None, 11_308_466_176),
    ("vgg", "vgg16_bn", {}, 138_365_992, None, 15_470_264_320),
    ("vgg", "vgg19_bn", {}, 143_678_248, None, 19_632_062_464),
    # paper-only VGG configs (numbers.md 3.3)
    ("vgg", "vgg_a_lrn", {}, 132_863_336, None, 7_609_090_048),
    ("vgg", "vgg_c", {}, 133_638_952, None, 11_770_888_192),
    # Network in Network, CIFAR-10 (numbers.md 3.4)
    ("nin", "nin_cifar10", {}, 966_986, None, 222_486_528),
    # GoogLeNet: torchvision (aux heads are training-only) and Caffe's bvlc_googlenet.
    ("googlenet", "googlenet", {}, 13_004_888, 6_624_904, 1_498_376_192),
    ("googlenet", "googlenet", {"aux_logits": False}, 6_624_904, None, 1_498_376_192),
    ("googlenet", "googlenet_caffe", {}, 13_378_280, 6_998_552, 1_582_671_872),
    ("googlenet", "googlenet_caffe", {"aux_logits": False}, 6_998_552, None, 1_582_671_872),
    # ResNet: torchvision's v1.5, and the paper's v1 (same params, fewer MACs).
    ("resnet", "resnet18", {}, 11_689_512, None, 1_814_073_344),
    ("resnet", "resnet34", {}, 21_797_672, None, 3_663_761_408),
    ("resnet", "resnet50", {}, 25_557_032, None, 4_089_184_256),
    ("resnet", "resnet101", {}, 44_549_160, None, 7_801_405_440),
    ("resnet", "resnet152", {}, 60_192_808, None, 11_513_626_624),
    ("resnet", "resnet50_v1", {}, 25_557_032, None, 3_857_973_248),
    ("resnet", "resnet101_v1", {}, 44_549_160, None, 7_570_194_432),
    ("resnet", "resnet152_v1", {}, 60_192_808, None, 11_282_415_616),
    # ResNeXt and Wide ResNet. From here on, the exact MACs are recomputed with forward hooks
    # on torchvision 0.29.1's models at 224 (numbers.md section 0's method); the parameter
    # counts are its weights' `num_params` (TORCHVISION_META below).
    ("resnet", "resnext50_32x4d", {}, 25_028_904, None, 4_230_479_872),
    ("resnet", "resnext101_32x8d", {}, 88_791_336, None, 16_414_015_488),
    ("resnet", "resnext101_64x4d", {}, 83_455_272, None, 15_460_270_080),
    ("resnet", "wide_resnet50_2", {}, 68_883_240, None, 11_398_021_120),
    ("resnet", "wide_resnet101_2", {}, 126_886_696, None, 22_753_050_624),
    ("squeezenet", "squeezenet1_0", {}, 1_248_424, None, 818_924_576),
    ("squeezenet", "squeezenet1_1", {}, 1_235_496, None, 349_151_936),
    ("mobilenet", "mobilenet_v2", {}, 3_504_872, None, 300_774_272),
    # other width multipliers exercise _make_divisible's rounding: torchvision's
    # mobilenet_v2(width_mult=...) counted the same way (no weights are published for them)
    ("mobilenet", "mobilenet_v2", {"width_mult": 0.75}, 2_636_424, None, 209_069_792),
    ("mobilenet", "mobilenet_v2", {"width_mult": 1.4}, 6_108_776, None, 582_195_824),
    ("mobilenet", "mobilenet_v3_large", {}, 5_483_032, None, 216_589_760),
    ("mobilenet", "mobilenet_v3_small", {}, 2_542_856, None, 56_510_400),
    # MobileNetV3's knobs, against torchvision's builders given the same keywords
    ("mobilenet", "mobilenet_v3_large", {"width_mult": 0.75}, 3_377_576, None, 140_033_816),
    ("mobilenet", "mobilenet_v3_large", {"width_mult": 1.25}, 8_164_744, None, 343_461_000),
    ("mobilenet", "mobilenet_v3_large", {"reduced_tail": True}, 2_569_352, None, 182_302_720),
    ("mobilenet", "mobilenet_v3_large", {"dilated": True}, 5_483_032, None, 354_816_800),
    ("mobilenet", "mobilenet_v3_small", {"width_mult": 0.75}, 1_653_920, None, 39_115_576),
    ("mobilenet", "mobilenet_v3_small", {"reduced_tail": True}, 1_099_672, None, 43_763_584),
    ("mobilenet", "mobilenet_v3_small", {"dilated": True}, 2_542_856, None, 106_509_216),
    # EfficientNet B0..B7 at their crop sizes (224, 240, 288, 300, 380, 456, 528, 600)
    ("efficientnet", "efficientnet_b0", {}, 5_288_548, None, 385_814_752),
    ("efficientnet", "efficientnet_b1", {}, 7_794_184, None, 686_802_832),
    ("efficientnet", "efficientnet_b2", {}, 9_109_994, None, 1_087_529_456),
    ("efficientnet", "efficientnet_b3", {}, 12_233_232, None, 1_827_141_392),
    ("efficientnet", "efficientnet_b4", {}, 19_341_616, None, 4_393_771_024),
    ("efficientnet", "efficientnet_b5", {}, 30_389_784, None, 10_266_384_752),
    ("efficientnet", "efficientnet_b6", {}, 43_040_704, None, 19_067_593_536),
    ("efficientnet", "efficientnet_b7", {}, 66_347_960, None, 37_745_884_192),
    # EfficientNetV2 at 384 (S) and 480 (M, L)
    ("efficientnet", "efficientnet_v2_s", {}, 21_458_488, None, 8_365_617_152),
    ("efficientnet", "efficientnet_v2_m", {}, 54_139_356, None, 24_582_460_384),
    ("efficientnet", "efficientnet_v2_l", {}, 118_515_272, None, 56_079_699_008),
    ("shufflenet", "shufflenet_v2_x0_5", {}, 1_366_792, None, 40_476_448),
    ("shufflenet", "shufflenet_v2_x1_0", {}, 2_278_604, None, 144_907_992),
    ("shufflenet", "shufflenet_v2_x1_5", {}, 3_503_624, None, 295_759_392),
    ("shufflenet", "shufflenet_v2_x2_0", {}, 7_393_996, None, 583_253_464),
    # Inception v3 at 299: the auxiliary head is training-only
    ("inception", "inception_v3", {}, 27_161_264, 23_834_568, 5_713_216_096),
    ("inception", "inception_v3", {"aux_logits": False}, 23_834_568, None, 5_713_216_096),
    ("mnasnet", "mnasnet0_5", {}, 2_218_512, None, 104_455_968),
    ("mnasnet", "mnasnet0_75", {}, 3_170_208, None, 215_493_104),
    ("mnasnet", "mnasnet1_0", {}, 4_383_312, None, 314_415_872),
    ("mnasnet", "mnasnet1_3", {}, 6_282_256, None, 526_362_432),
    ("densenet", "densenet121", {}, 7_978_856, None, 2_834_161_664),
    ("densenet", "densenet161", {}, 28_681_000, None, 7_727_907_072),
    ("densenet", "densenet169", {}, 14_149_480, None, 3_359_843_328),
    ("densenet", "densenet201", {}, 20_013_928, None, 4_291_365_888),
]


def _id(case) -> str:
    _spec, net, kw = case[:3]
    return net + "".join(f"-{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("spec, network, kw, params, params_inference, macs", CASES,
                         ids=[_id(c) for c in CASES])
def test_zoo_totals(spec, network, kw, params, params_inference, macs):
    t = _check(spec, network, tuple(sorted(kw.items()))).totals
    assert t.params == params
    assert t.params_inference == (params if params_inference is None else params_inference)
    assert t.macs == macs


# torchvision 0.29.1's weight metadata of each twin added after the classics: network ->
# (spec, `num_params`, `_ops`). `_ops` is GMACs (conv + linear, eval mode, at the crop size)
# rounded to 3 decimals, as torchvision's docs table prints it.
TORCHVISION_META = {
    "resnext50_32x4d": ("resnet", 25_028_904, 4.23),
    "resnext101_32x8d": ("resnet", 88_791_336, 16.414),
    "resnext101_64x4d": ("resnet", 83_455_272, 15.46),
    "wide_resnet50_2": ("resnet", 68_883_240, 11.398),
    "wide_resnet101_2": ("resnet", 126_886_696, 22.753),
    "squeezenet1_0": ("squeezenet", 1_248_424, 0.819),
    "squeezenet1_1": ("squeezenet", 1_235_496, 0.349),
    "mobilenet_v2": ("mobilenet", 3_504_872, 0.301),
    "mobilenet_v3_large": ("mobilenet", 5_483_032, 0.217),
    "mobilenet_v3_small": ("mobilenet", 2_542_856, 0.057),
    "efficientnet_b0": ("efficientnet", 5_288_548, 0.386),
    "efficientnet_b1": ("efficientnet", 7_794_184, 0.687),
    "efficientnet_b2": ("efficientnet", 9_109_994, 1.088),
    "efficientnet_b3": ("efficientnet", 12_233_232, 1.827),
    "efficientnet_b4": ("efficientnet", 19_341_616, 4.394),
    "efficientnet_b5": ("efficientnet", 30_389_784, 10.266),
    "efficientnet_b6": ("efficientnet", 43_040_704, 19.068),
    "efficientnet_b7": ("efficientnet", 66_347_960, 37.746),
    "efficientnet_v2_s": ("efficientnet", 21_458_488, 8.366),
    "efficientnet_v2_m": ("efficientnet", 54_139_356, 24.582),
    "efficientnet_v2_l": ("efficientnet", 118_515_272, 56.08),
    "shufflenet_v2_x0_5": ("shufflenet", 1_366_792, 0.04),
    "shufflenet_v2_x1_0": ("shufflenet", 2_278_604, 0.145),
    "shufflenet_v2_x1_5": ("shufflenet", 3_503_624, 0.296),
    "shufflenet_v2_x2_0": ("shufflenet", 7_393_996, 0.583),
    "inception_v3": ("inception", 27_161_264, 5.713),
    "mnasnet0_5": ("mnasnet", 2_218_512, 0.104),
    "mnasnet0_75": ("mnasnet", 3_170_208, 0.215),
    "mnasnet1_0": ("mnasnet", 4_383_312, 0.314),
    "mnasnet1_3": ("mnasnet", 6_282_256, 0.526),
    "densenet121": ("densenet", 7_978_856, 2.834),
    "densenet161": ("densenet", 28_681_000, 7.728),
    "densenet169": ("densenet", 14_149_480, 3.36),
    "densenet201": ("densenet", 20_013_928, 4.291),
    "convnext_tiny": ("convnext", 28_589_128, 4.456),
    "convnext_small": ("convnext", 50_223_688, 8.684),
    "convnext_base": ("convnext", 88_591_464, 15.355),
    "convnext_large": ("convnext", 197_767_336, 34.361),
    "regnet_x_400mf": ("regnet", 5_495_976, 0.414),
    "regnet_x_800mf": ("regnet", 7_259_656, 0.8),
    "regnet_x_1_6gf": ("regnet", 9_190_136, 1.603),
    "regnet_x_3_2gf": ("regnet", 15_296_552, 3.177),
    "regnet_x_8gf": ("regnet", 39_572_648, 7.995),
    "regnet_x_16gf": ("regnet", 54_278_536, 15.941),
    "regnet_x_32gf": ("regnet", 107_811_560, 31.736),
    "regnet_y_400mf": ("regnet", 4_344_144, 0.402),
    "regnet_y_800mf": ("regnet", 6_432_512, 0.834),
    "regnet_y_1_6gf": ("regnet", 11_202_430, 1.612),
    "regnet_y_3_2gf": ("regnet", 19_436_338, 3.176),
    "regnet_y_8gf": ("regnet", 39_381_472, 8.473),
    "regnet_y_16gf": ("regnet", 83_590_140, 15.912),
    "regnet_y_32gf": ("regnet", 145_046_770, 32.28),
    # the DEFAULT weights (SWAG, end to end) run at 384 x 384 (374.57 GMACs, checked below);
    # these are IMAGENET1K_SWAG_LINEAR_V1's, at 224
    "regnet_y_128gf": ("regnet", 644_812_894, 127.518),
}


def test_regnet_y_128gf_at_its_default_weights_size():
    t = _check("regnet", "regnet_y_128gf", (("inputs", (3, 384, 384)),)).totals
    assert round(t.macs / 1e9, 3) == 374.57


@pytest.mark.parametrize("network", list(TORCHVISION_META))
def test_zoo_torchvision_metadata(network):
    spec, num_params, ops = TORCHVISION_META[network]
    t = _check(spec, network).totals
    assert t.params == num_params
    assert round(t.macs / 1e9, 3) == ops


# The dense-prediction twins (specs/segmentation.arch) at torchvision's evaluation size, 520 x
# 520 (their weights' transforms resize to 520): (`num_params`, `_ops`). torchvision computes
# the auxiliary classifier in eval mode too, so its `_ops` are archlang's training MACs.
DENSE_META = {
    "fcn_resnet50": (35_322_218, 152.717),
    "fcn_resnet101": (54_314_346, 232.738),
    "deeplabv3_resnet50": (42_004_074, 178.722),
    "deeplabv3_resnet101": (60_996_202, 258.743),
    "deeplabv3_mobilenet_v3_large": (11_029_328, 10.452),
    "lraspp_mobilenet_v3_large": (3_221_538, 2.086),
}


@pytest.mark.parametrize("network", list(DENSE_META))
def test_dense_torchvision_metadata(network):
    num_params, ops = DENSE_META[network]
    t = _check("segmentation", network, (("H", 520), ("W", 520))).totals
    assert t.params == num_params
    assert round(t.macs_train / 1e9, 3) == ops
    assert t.outputs["out"] == (21, 520, 520)


def test_resnet_fpn_backbone():
    """torchvision's resnet_fpn_backbone("resnet50"): its parameter count (frozen norms hold
    none) and its five levels at 224, 256 channels each."""
    t = _check("detection", "resnet_fpn_backbone", (("H", 224), ("W", 224))).totals
    assert t.params == 26_799_296
    assert t.outputs == {"p2": (256, 56, 56), "p3": (256, 28, 28), "p4": (256, 14, 14),
                         "p5": (256, 7, 7), "pool": (256, 4, 4)}


# Training-mode MACs include the auxiliary heads.
@pytest.mark.parametrize("spec, network, macs_train", [
    ("googlenet", "googlenet", 1_506_748_416),  # numbers.md 1.1
    # 1,582,671,872 + aux1 (512*128*16 + 2048*1024 + 1024*1000 = 4,169,728)
    #               + aux2 (528*128*16 + 2048*1024 + 1024*1000 = 4,202,496), by hand
    ("googlenet", "googlenet_caffe", 1_591_044_096),
])
def test_zoo_macs_train(spec, network, macs_train):
    assert _check(spec, network).totals.macs_train == macs_train


# Intermediate shapes (batch excluded) by dotted module path.
SHAPES = [
    # AlexNet at 224: 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 13 -> 6, avgpool the identity.
    ("alexnet", "alexnet", "features.0", (64, 55, 55)),
    ("alexnet", "alexnet", "features.2", (64, 27, 27)),
    ("alexnet", "alexnet", "features.5", (192, 13, 13)),
    ("alexnet", "alexnet", "features.12", (256, 6, 6)),
    ("alexnet", "alexnet", "avgpool", (256, 6, 6)),
    ("alexnet", "alexnet", "classifier.1", (4096,)),
    # Res2Net's groups at 56, then strided by the first 3x3s of layer2 (timm's names: the
    # items of the block's lists `convs` and `bns`; tests/test_res2net.py has the twin)
    ("res2net", "res2net50_26w_4s", "layer1.0.convs.0", (26, 56, 56)),
    ("res2net", "res2net50_26w_4s", "layer2.0.bns.2", (52, 28, 28)),
    ("res2net", "res2net50_26w_4s", "layer2.0.pool", (52, 28, 28)),
    # bvlc_alexnet at 227 (numbers.md 3.1 table).
    ("alexnet", "alexnet_caffe", "conv1", (96, 55, 55)),
    ("alexnet", "alexnet_caffe", "conv2", (256, 27, 27)),
    ("alexnet", "alexnet_caffe", "conv3", (384, 13, 13)),
    ("alexnet", "alexnet_caffe", "conv4", (384, 13, 13)),
    ("alexnet", "alexnet_caffe", "conv5", (256, 13, 13)),
    ("alexnet", "alexnet_caffe", "pool5", (256, 6, 6)),
    ("alexnet", "alexnet_caffe", "fc6", (4096,)),
    # VGG: five 2x2 pools take 224 to 7.
    ("vgg", "vgg16", "features.4", (64, 112, 112)),
    ("vgg", "vgg16", "features.30", (512, 7, 7)),
    ("vgg", "vgg16_bn", "features.6", (64, 112, 112)),
    ("vgg", "vgg16_bn", "features.43", (512, 7, 7)),
    ("vgg", "vgg11_bn", "features.28", (512, 7, 7)),
    ("vgg", "vgg_c", "features.14", (256, 56, 56)),
    ("vgg", "vgg16", "classifier.0", (4096,)),
    # NIN on CIFAR-10: 32 -> 16 -> 8 -> 1.
    ("nin", "nin_cifar10", "mlpconv1", (96, 32, 32)),
    ("nin", "nin_cifar10", "pool1", (96, 16, 16)),
    ("nin", "nin_cifar10", "pool2", (192, 8, 8)),
    ("nin", "nin_cifar10", "mlpconv3", (10, 8, 8)),
    ("nin", "nin_cifar10", "pool3", (10, 1, 1)),
    # GoogLeNet: ceil pooling makes maxpool1 56, not 55.
    ("googlenet", "googlenet", "maxpool1", (64, 56, 56)),
    ("googlenet", "googlenet", "inception3a", (256, 28, 28)),
    ("googlenet", "googlenet_caffe", "maxpool1", (64, 56, 56)),
    ("googlenet", "googlenet_caffe", "inception3b", (480, 28, 28)),
    ("googlenet", "googlenet_caffe", "inception4a", (512, 14, 14)),
    ("googlenet", "googlenet_caffe", "aux1.avgpool", (512, 4, 4)),
    ("googlenet", "googlenet_caffe", "maxpool4", (832, 7, 7)),
    ("googlenet", "googlenet_caffe", "inception5b", (1024, 7, 7)),
    ("googlenet", "googlenet_caffe", "avgpool", (1024, 1, 1)),
    # ResNet stems and stages (numbers.md 2.5).
    ("resnet", "resnet50", "conv1", (64, 112, 112)),
    ("resnet", "resnet50", "maxpool", (64, 56, 56)),
    ("resnet", "resnet50", "layer1", (256, 56, 56)),
    ("resnet", "resnet50", "layer2", (512, 28, 28)),
    ("resnet", "resnet50", "layer3", (1024, 14, 14)),
    ("resnet", "resnet50", "layer4", (2048, 7, 7)),
    ("resnet", "resnet18", "layer1", (64, 56, 56)),
    ("resnet", "resnet18", "layer4", (512, 7, 7)),
]


@pytest.mark.parametrize("spec, network, layer, shape", SHAPES,
                         ids=[f"{n}:{layer}" for _, n, layer, _ in SHAPES])
def test_zoo_shapes(spec, network, layer, shape):
    assert _check(spec, network).shape(layer) == shape


# The module indices inside torchvision's Sequentials fix the state_dict keys
# (numbers.md 2.1 and the table in 2.2).
INDICES = [
    ("alexnet", "alexnet", "conv2d", "features", [0, 3, 6, 8, 10]),
    ("alexnet", "alexnet", "linear", "classifier", [1, 4, 6]),
    ("alexnet", "alexnet", "maxpool2d", "features", [2, 5, 12]),
    ("vgg", "vgg11", "conv2d", "features", [0, 3, 6, 8, 11, 13, 16, 18]),
    ("vgg", "vgg11", "maxpool2d", "features", [2, 5, 10, 15, 20]),
    ("vgg", "vgg13", "conv2d", "features", [0, 2, 5, 7, 10, 12, 15, 17, 20, 22]),
    ("vgg", "vgg13", "maxpool2d", "features", [4, 9, 14, 19, 24]),
    ("vgg", "vgg16", "conv2d", "features", [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]),
    ("vgg", "vgg16", "maxpool2d", "features", [4, 9, 16, 23, 30]),
    ("vgg", "vgg19", "conv2d", "features",
     [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]),
    ("vgg", "vgg19", "maxpool2d", "features", [4, 9, 18, 27, 36]),
    ("vgg", "vgg11_bn", "conv2d", "features", [0, 4, 8, 11, 15, 18, 22, 25]),
    ("vgg", "vgg11_bn", "batchnorm", "features", [1, 5, 9, 12, 16, 19, 23, 26]),
    ("vgg", "vgg11_bn", "maxpool2d", "features", [3, 7, 14, 21, 28]),
    ("vgg", "vgg16_bn", "conv2d", "features",
     [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]),
    ("vgg", "vgg16_bn", "maxpool2d", "features", [6, 13, 23, 33, 43]),
    ("vgg", "vgg16", "linear", "classifier", [0, 3, 6]),
]


@pytest.mark.parametrize("spec, network, op, group, indices", INDICES,
                         ids=[f"{n}:{op}" for _, n, op, _, _ in INDICES])
def test_zoo_sequential_indices(spec, network, op, group, indices):
    nodes = [n for n in _check(spec, network).graph.nodes if n.op == op]
    assert [n.path for n in nodes] == [(group, str(i)) for i in indices]


def test_zoo_outputs():
    # training outputs come after the inference output, in the declared order
    t = _check("googlenet", "googlenet_caffe").totals
    assert list(t.outputs) == ["logits", "aux1", "aux2"]
    assert t.training_outputs == ["aux1", "aux2"]
    assert _check("googlenet", "googlenet").totals.training_outputs == ["aux2", "aux1"]
    assert _check("nin", "nin_cifar10").totals.outputs == {"logits": (10,)}
