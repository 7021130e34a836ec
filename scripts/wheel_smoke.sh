#!/usr/bin/env bash
# What a user gets from `pip install archlang`: build the wheel, install it without extras
# into a new virtual environment (no torch), with a new empty HOME and cache directory, and
# use it from a directory that is not a clone: check, summary, compile, diagram, the zoo and
# the Python API. Fails on any error, on a build deprecation warning, or if torch is present.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== building the wheel"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/dist" . \
    > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
if grep -i "deprecat" "$WORK/build.log"; then
    echo "the wheel build printed a deprecation warning" >&2
    exit 1
fi
WHEEL=$(ls "$WORK"/dist/archlang-*.whl)
# Read the wheel with Python: `unzip -l | grep -q` under pipefail fails when grep stops
# early and unzip dies of SIGPIPE, and unzip need not be installed.
"$PYTHON" -c 'import sys, zipfile; sys.exit("archlang/zoo/resnet.arch" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$WHEEL" \
    || { echo "no zoo in the wheel" >&2; exit 1; }

echo "== installing $(basename "$WHEEL") without extras into a new venv"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$WHEEL"

export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/home/.cache"
mkdir -p "$HOME" "$WORK/user"
unset PYTHONPATH ARCHLANG_NO_CACHE
cd "$WORK/user"
PATH="$WORK/venv/bin:$PATH"
if python -c "import torch" 2>/dev/null; then
    echo "torch is installed in the plain venv; it must not be" >&2
    exit 1
fi

set -x
for pass in cold warm; do  # the first run builds the parser cache, the second reads it
    archlang check zoo:resnet152 --no-cache
done
# a clean verdict is kept and printed again while nothing changed (archlang/cache.py)
archlang check zoo:resnet152 > first.txt
archlang check zoo:resnet152 > again.txt
cmp first.txt again.txt
ls "$XDG_CACHE_HOME"/archlang/results/check-*.json > /dev/null
archlang zoo list > zoo.txt
grep -q "^resnet50 " zoo.txt
archlang zoo list | head -2   # a reader that stops early is no error
archlang zoo show googlenet > mine.arch
archlang check mine.arch --network googlenet
archlang summary zoo:googlenet --format json > summary.json
python -c "import json; d = json.load(open('summary.json')); assert d['params'] == 13004888, d['params']"
archlang summary zoo:resnet18 --depth 1 > summary.txt
archlang compile zoo:nin_cifar10 -o nin.py
python -c "import ast; ast.parse(open('nin.py').read())"
archlang diagram zoo:alexnet -o alexnet.dot
grep -q "digraph" alexnet.dot
python -m archlang.fuzz --seconds 2 --seed 1
set +x
# usage errors exit 2, never 3
code=0; archlang check missing.arch 2> err.txt || code=$?
[ "$code" = 2 ] || { echo "missing file: exit $code" >&2; cat err.txt; exit 1; }
python - <<'EOF'
import archlang

result = archlang.check("zoo:resnet50")
assert result.params == 25_557_032, result
print(result)
assert "resnet50" in archlang.models.list_models()
try:
    archlang.load("zoo:resnet50")
except ModuleNotFoundError as exc:
    assert "archlang[torch]" in str(exc), exc
    print("load without torch:", exc)
else:
    raise SystemExit("archlang.load worked without torch?")
EOF
ls "$XDG_CACHE_HOME/archlang" >/dev/null  # the parser cache went to the new cache directory
echo "== the plain install works"
