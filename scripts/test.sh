#!/usr/bin/env bash
# Set up, then run the test suite (what CI runs): every test but the exhaustive ones.
#   bash scripts/test.sh            # fast and slow tests: pytest -m 'not exhaustive'
#   bash scripts/test.sh --fast     # only the tests not marked slow, as a plain `pytest` runs
#   bash scripts/test.sh --all      # everything, the exhaustive tests too: pytest -m ''
# Other arguments go to pytest (a later `-m EXPR` replaces the selection).
set -euo pipefail
cd "$(dirname "$0")/.."
select=(-m "not exhaustive")
args=()
oracle=25  # examples per op in tests/test_ops_oracle.py (a plain `pytest` tries 10)
for arg in "$@"; do
    case "$arg" in
        --all) select=(-m "") ;;
        --fast) select=(); oracle=10 ;;
        *) args+=("$arg") ;;
    esac
done
export ARCHLANG_ORACLE_EXAMPLES="${ARCHLANG_ORACLE_EXAMPLES:-$oracle}"
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q ${select[@]+"${select[@]}"} ${args[@]+"${args[@]}"}
