"""The traced baseline: ``torchinfo.summary`` of a torchvision model (one fresh process).

    python benchmarks/_torchinfo_summary.py resnet152
"""

import sys

import torchinfo
import torchvision

BUILDERS = {
    "resnet50": lambda: torchvision.models.resnet50(),
    "resnet152": lambda: torchvision.models.resnet152(),
    "vgg16": lambda: torchvision.models.vgg16(),
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=True, init_weights=True),
}

if __name__ == "__main__":
    torchinfo.summary(BUILDERS[sys.argv[1]](), (1, 3, 224, 224))
