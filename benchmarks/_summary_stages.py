"""Where the time of one ``archlang summary`` process goes (run in a fresh process).

    python benchmarks/_summary_stages.py specs/resnet.arch resnet152

Prints one JSON object: seconds per stage, in the order the CLI runs them. ``startup`` is
the interpreter's own start (from the process start time to the first line here).
"""

import itertools
import json
import os
import sys
import time

T0 = time.perf_counter()
_start = time.time()


def _expand(prog, limits, network=None):
    """The checker's passes after loading (archlang.api.PASSES[1:]) on a loaded program."""
    from archlang.api import PASSES, run_passes
    from archlang.graph.state import Options, Run

    state = run_passes(Run(prog.main.name, Options(network), limits, prog=prog), PASSES[1:])
    return state.graph, state.rep.diagnostics


def _process_age() -> float:
    """Seconds since this process started (from /proc), for the interpreter's startup."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


STARTUP = _process_age()
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as archlang/cli.py does
marks = [("t0", time.perf_counter())]


def mark(name: str) -> None:
    marks.append((name, time.perf_counter()))


def main() -> None:
    path, network = sys.argv[1], sys.argv[2]
    import click  # noqa: F401 - the CLI's own import

    mark("import click")
    import archlang  # noqa: F401 - pydantic, lark, the checker's modules

    mark("import archlang")
    from archlang.limits import Limits
    from archlang.syntax.parse import _cached

    limits = Limits()
    _cached(limits.max_depth)
    mark("build the Lark parser (cache file or grammar)")
    from archlang.program import load_program

    prog = load_program(path, limits)
    mark("parse + lower (first: pydantic builds the AST schemas)")
    load_program(path, limits)
    mark("parse + lower again (schemas built)")

    graph, diags = _expand(prog, limits, network)
    mark("expand + shape check")
    from archlang.analysis.report import totals
    from archlang.api import CheckResult

    result = CheckResult(graph, totals(graph), diags)
    mark("totals")
    from archlang.backends import summary

    mark("import the summary backend")
    text = summary.render(result, depth=2, format="table", width=120)
    mark("render the table (imports rich, then renders)")
    with open(os.devnull, "w") as f:
        f.write(text)
    # what-if (not archlang's code): the same rows laid out with plain f-strings
    t0 = time.perf_counter()
    from archlang.analysis import dims as D

    plain = []
    for r in summary.rows(result, 2):
        name = "  " * (r.depth - 1) + f"{r.label} ({r.kind})"
        shape = D.fmt_shape(r.shape) if r.shape is not None else "?"
        macs = f"{r.macs:,}" if isinstance(r.macs, int) else str(r.macs)
        plain.append(f"{name:<40} {shape:>18} {r.params:>14,} {macs:>16}")
    plain_s = time.perf_counter() - t0
    stages = {b: t1 - t0 for (_, t0), (b, t1) in itertools.pairwise(marks)}
    # the CLI does not parse twice: report the second parse separately
    again = stages.pop("parse + lower again (schemas built)")
    out = {"startup": STARTUP, **stages, "total": STARTUP + sum(stages.values()),
           "info: parse + lower with schemas built": again,
           "info: the same rows with plain f-strings (not archlang's code)": plain_s}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
