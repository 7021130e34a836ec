#!/usr/bin/env bash
# The main job: set up, then check, summarise, compile and draw GoogLeNet into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
A=.venv/bin/archlang
set -x
$A check specs/googlenet.arch --network googlenet
$A summary specs/googlenet.arch --network googlenet --depth 1
$A compile specs/googlenet.arch --network googlenet -o out/googlenet.py
$A diagram specs/googlenet.arch --network googlenet --depth 1 -o out/googlenet.svg
.venv/bin/python -c "import archlang, torch; m = archlang.load('specs/googlenet.arch', 'googlenet').eval(); print('forward:', tuple(m(torch.randn(1, 3, 224, 224)).shape))"
