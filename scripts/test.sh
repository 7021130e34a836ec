#!/usr/bin/env bash
# Set up, then run the whole test suite, slow tests included (what CI runs).
#   bash scripts/test.sh            # everything: pytest -m ''
#   bash scripts/test.sh --fast     # only the tests not marked slow, as a plain `pytest` runs
#   bash scripts/test.sh --all      # the same as no option
# Other arguments go to pytest (a later `-m EXPR` replaces the selection).
set -euo pipefail
cd "$(dirname "$0")/.."
select=(-m "")
args=()
for arg in "$@"; do
    case "$arg" in
        --all) select=(-m "") ;;
        --fast) select=() ;;
        *) args+=("$arg") ;;
    esac
done
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q ${select[@]+"${select[@]}"} ${args[@]+"${args[@]}"}
