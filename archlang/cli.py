"""The ``archlang`` command: check, summary, compile, diagram.

Exit codes: 0 success, 1 diagnostics (errors in the spec), 2 usage errors, 3 internal
errors (a bug in archlang: please report it). No input produces a Python traceback;
``ARCHLANG_DEBUG=1`` shows one for internal errors.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

# archlang's own models have no use for third-party pydantic plugins, and finding them (through
# importlib.metadata) costs ~25 ms, 5 % of a summary; a user's setting still wins
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from archlang.diagnostics import ArchError, Diagnostic, Reporter, render_all
from archlang.limits import Limits

EXIT_DIAGNOSTICS = 1
EXIT_INTERNAL = 3


def parse_set(items: tuple[str, ...]) -> dict[str, Any]:
    """``--set NAME=VALUE``: VALUE is an archlang expression (``10``, ``[3, 4, 6, 3]``,
    ``false``, ``"fan_out"``); a bare word is taken as a string."""
    from archlang.graph.values import Env, EvalError, Evaluator
    from archlang.source import Source
    from archlang.syntax import ast as A
    from archlang.syntax.lower import lower_expr
    from archlang.syntax.parse import parse

    rep = Reporter()
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            rep.error("E061", f"--set expects NAME=VALUE, got `{item}`", None,
                      help=["e.g. --set num_classes=10"])
            continue
        source = Source(f"--set {name}", text)
        tree, diags = parse(source, start="expr")
        expr = None
        if tree is not None:
            expr, diags = lower_expr(tree, source)
        if expr is None:
            rep.diagnostics.extend(diags)
            continue
        if isinstance(expr, A.Name) and expr.id not in ("range",):
            out[name] = expr.id
            continue
        try:
            out[name] = Evaluator(Limits().max_repeat).eval(expr, Env(), None)
        except EvalError as e:
            rep.error(e.code, e.message, e.span, e.label, help=e.help)
    if rep.failed:
        raise ArchError(rep.diagnostics)
    return out


def parse_inputs(items: tuple[str, ...]) -> dict[str, tuple[int, ...]] | None:
    """``--input 3x224x224`` (the only input) or ``--input image=3x224x224``."""
    if not items:
        return None
    rep = Reporter()
    out: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=") if "=" in item else ("", "", item)
        parts = dims.lower().replace(",", "x").split("x")
        if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            rep.error("E061", f"--input expects sizes like 3x224x224, got `{item}`", None,
                      help=["the batch dimension is implicit; name the input with "
                            "--input image=3x224x224 when there are several"])
            continue
        out[name.strip()] = tuple(int(p) for p in parts)
    if rep.failed:
        raise ArchError(rep.diagnostics)
    return out


def _limits(kw: dict) -> Limits:
    values = {k: kw.pop(k) for k in list(kw) if k.startswith("max_")}
    return Limits(**{k: v for k, v in values.items() if v is not None})


def spec_options(f):
    """Options shared by every command that reads a spec."""
    options = [
        click.argument("spec", type=click.Path(dir_okay=False, path_type=str)),
        click.option("--network", "-n", help="Network to use (needed when a file has several)."),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Set a network parameter or a symbolic input size (repeatable)."),
        click.option("--input", "inputs", multiple=True, metavar="[NAME=]CxHxW",
                     help="Concrete input shape without the batch, e.g. 3x224x224."),
        click.option("--max-nodes", type=int, help="Limit on expanded layers."),
        click.option("--max-depth", type=int, help="Limit on nesting depth."),
        click.option("--max-repeat", type=int, help="Limit on one loop's repetitions."),
        click.option("--max-bytes", type=int, help="Limit on a spec file's size."),
        click.option("--max-params", type=int, help="Limit on a network's parameters."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def guarded(f):
    """Print diagnostics or internal errors instead of tracebacks; set the exit code."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        diag_format = kwargs.get("diagnostics_format") or "text"
        try:
            return f(*args, **kwargs)
        except ArchError as e:
            emit_diagnostics(e.diagnostics, diag_format)
            sys.exit(EXIT_DIAGNOSTICS)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo("this is a bug in archlang, please report it with the spec that "
                       "caused it", err=True)
            if os.environ.get("ARCHLANG_DEBUG"):
                traceback.print_exc()
            sys.exit(EXIT_INTERNAL)

    return wrapper


def emit_diagnostics(diags: list[Diagnostic], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({"diagnostics": [d.to_json() for d in diags]}, indent=2))
        return
    color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    click.echo(render_all(diags, color=color), err=True)


def checked(spec, network, sets, inputs, kwargs):
    from archlang.api import CheckResult, run
    from archlang.analysis.report import totals

    limits = _limits(kwargs)
    params = parse_set(sets)
    shapes = parse_inputs(inputs)
    graph, diags = run(spec, network, inputs=shapes, limits=limits, params=params)
    if graph is None or any(d.severity == "error" for d in diags):
        err = ArchError(diags)
        err.graph = graph
        raise err
    return CheckResult(graph, totals(graph), diags)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archlang")
def main() -> None:
    """archlang: write a network once as a .arch file; check it, compile it, draw it."""


@main.command()
@spec_options
@click.option("--format", "diagnostics_format", type=click.Choice(["text", "json"]),
              default="text", help="How to print diagnostics (json for editors).")
@guarded
def check(spec, network, sets, inputs, diagnostics_format, **kwargs):
    """Check a spec statically: shapes, parameters, MACs. Exit 1 on errors."""
    result = checked(spec, network, sets, inputs, kwargs)
    if diagnostics_format == "json":
        click.echo(json.dumps({"diagnostics": [], "verdict": result.verdict()}, indent=2))
    else:
        click.echo(result.verdict())


@main.command()
@spec_options
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True,
              help="Fold the layer tree below this depth.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--width", type=click.IntRange(min=60), default=120, show_default=True,
              help="Table width in characters.")
@guarded
def summary(spec, network, sets, inputs, depth, fmt, width, **kwargs):
    """Print a torchinfo-style summary table, computed without a forward pass."""
    from archlang.backends.summary import render

    result = checked(spec, network, sets, inputs, kwargs)
    click.echo(render(result, depth=depth, format=fmt, width=width), nl=False)


@main.command("compile")
@spec_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="Write the Python file here (default: standard output).")
@guarded
def compile_(spec, network, sets, inputs, output, **kwargs):
    """Compile a network to a standalone PyTorch module (Python source)."""
    from archlang.backends.pytorch import generate

    result = checked(spec, network, sets, inputs, kwargs)
    source = generate(result.graph)
    if output:
        Path(output).write_text(source, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(source, nl=False)


@main.command()
@spec_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="out.svg, out.png, out.pdf or out.dot (default: DOT on standard output).")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="Fold blocks below this depth into single nodes.")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True)
@guarded
def diagram(spec, network, sets, inputs, output, depth, direction, **kwargs):
    """Draw a network with Graphviz. A spec with errors draws up to its failing layer."""
    from archlang.backends.graphviz import Diagram, DotNotFound

    try:
        result = checked(spec, network, sets, inputs, kwargs)
        graph, diags = result.graph, []
    except ArchError as e:
        graph, diags = getattr(e, "graph", None), e.diagnostics
        if graph is None or not graph.nodes:
            raise
    d = Diagram(graph, depth=depth, direction=direction, diagnostics=diags)
    if output:
        try:
            d.render(output)
        except DotNotFound as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DIAGNOSTICS)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(d.source, nl=False)
    if diags:
        emit_diagnostics(diags, "text")
        sys.exit(EXIT_DIAGNOSTICS)


if __name__ == "__main__":  # pragma: no cover
    main()
