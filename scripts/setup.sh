#!/usr/bin/env bash
# Set up a fresh machine for archlang development: a virtual environment in .venv with
# archlang (editable), torch/torchvision, the test and benchmark tools, and Graphviz's `dot`.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# torch and torchvision: the package accepts any torch >= 2.3; development pins the pair
# that is tested together (a CUDA build; it runs on the CPU too).
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
    "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
fi
"${PIP[@]}" -e ".[test,bench]"

# Graphviz renders SVG/PNG/PDF diagrams (DOT output needs nothing).
if ! command -v dot >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null && apt-get install -y -qq graphviz >/dev/null
    else
        echo "note: Graphviz's dot is not installed; rendered-diagram tests will be skipped" >&2
    fi
fi

# The VS Code extension's packages (editors/vscode/package-lock.json): the TextMate grammar's
# test runs under node with vscode-textmate (tests/test_highlight.py skips it without them).
if command -v npm >/dev/null 2>&1 && [ ! -d editors/vscode/node_modules/vscode-textmate ]; then
    (cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
        || echo "note: npm ci in editors/vscode failed; the TextMate grammar test will be skipped" >&2
fi
