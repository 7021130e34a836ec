"""Where a check from scratch spends its time, stage by stage (run in a fresh process).

    python benchmarks/_startup_stages.py specs/resnet.arch resnet152

The stages in the order ``archlang check --no-cache`` runs them, each timed with
``time.perf_counter``, with the cyclic garbage collector paused after ``archlang.cli`` as the
command pauses it (``cli.one_shot``). ``floor libraries`` is what the floor process imports;
``pydantic model machinery`` is what any pydantic model class needs beyond ``import
pydantic``, which is lazy. Prints one JSON object: milliseconds per stage.
"""

import gc
import json
import sys
import time

STAGES: dict[str, float] = {}
_last = [time.perf_counter()]


def mark(name: str) -> None:
    """The time since the last mark, as stage ``name``."""
    now = time.perf_counter()
    STAGES[name] = (now - _last[0]) * 1e3
    _last[0] = now


def main() -> None:
    path, network = sys.argv[1], sys.argv[2]
    import click  # noqa: F401
    import lark  # noqa: F401
    import pydantic  # noqa: F401

    mark("floor libraries (lark, pydantic, click)")
    import archlang.cli  # noqa: F401

    mark("archlang.cli and its click options")
    gc.disable()
    from pydantic import BaseModel, Field  # noqa: F401

    mark("pydantic model machinery")
    from archlang import api

    mark("archlang's modules")
    from archlang.limits import Limits

    limits = Limits()
    mark("first validator (Limits): pydantic's plugin loader")
    from archlang.syntax import parse as P

    P._cached(limits.max_depth)
    mark("load the cached Lark parser")
    from archlang.program import read_spec
    from archlang.syntax.lower import lower

    source, _, _ = read_spec(path, limits)
    tree, _ = P.parse(source, limits.max_depth)
    mark("parse")
    lower(tree, source)
    mark("lower")
    from archlang.graph.state import Options, Run

    state = Run(path, Options(network, {}, {}), limits)
    api.PASSES[0](state)  # the load pass again, for the passes' state: not a stage
    _last[0] = time.perf_counter()
    api.PASSES[1](state)
    mark("expand")
    for step in api.PASSES[2:]:
        step(state)
    from archlang.analysis.report import totals

    totals(state.graph)
    mark("solve, verify, inits, totals")
    print(json.dumps(STAGES))


if __name__ == "__main__":
    main()
