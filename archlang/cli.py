"""The ``archlang`` command: check, summary, compile, diagram.

Exit codes: 0 success, 1 diagnostics (errors in the spec), 2 usage errors, 3 internal
errors (a bug in archlang: please report it). No input produces a Python traceback;
``ARCHLANG_DEBUG=1`` shows one for internal errors.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import click

from archlang.diagnostics import COMMAND_CODES, ArchError, Diagnostic, Reporter, render_all

EXIT_DIAGNOSTICS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3



class UsageError(Exception):
    """A usage or environment problem: one line saying what is wrong and what to do."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint

    def line(self) -> str:
        return f"error: {self.message}" + (f"; {self.hint}" if self.hint else "")


def is_usage(diags: list[Diagnostic]) -> bool:
    errors = [d for d in diags if d.severity == "error"]
    return bool(errors) and all(d.span is None and d.code in COMMAND_CODES for d in errors)


def usage_line(d: Diagnostic) -> str:
    hint = "; ".join(h.rstrip(".") for h in d.help)
    return f"error[{d.code}]: {d.message}" + (f"; {hint}" if hint else "")


def parse_set(items: tuple[str, ...]) -> dict[str, Any]:
    """``--set NAME=VALUE``: VALUE is an archlang expression (``10``, ``[3, 4, 6, 3]``,
    ``false``, ``"fan_out"``); a bare word is taken as a string."""
    from archlang.diagnostics import SpecError
    from archlang.graph.values import Env, Evaluator
    from archlang.limits import Limits
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
        except SpecError as e:
            rep.add(e)
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
        name, _sep, dims = item.rpartition("=") if "=" in item else ("", "", item)
        parts = dims.lower().replace(",", "x").split("x")
        if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            rep.error("E061", f"--input expects sizes like 3x224x224, got `{item}`", None,
                      help=[("the batch dimension is implicit; name the input with "
                             "--input image=3x224x224 when there are several")])
            continue
        out[name.strip()] = tuple(int(p) for p in parts)
    if rep.failed:
        raise ArchError(rep.diagnostics)
    return out


def _limits(kw: dict):
    from archlang.limits import Limits

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
        click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
                     help="Import this Python module first; it registers more ops "
                          "(repeatable; see docs/plugins.md)."),
        click.option("--max-nodes", type=click.IntRange(min=1), help="Limit on expanded layers."),
        click.option("--max-depth", type=click.IntRange(min=1), help="Limit on nesting depth."),
        click.option("--max-repeat", type=click.IntRange(min=1), help="Limit on one loop's repetitions."),
        click.option("--max-bytes", type=click.IntRange(min=1), help="Limit on a spec file's size."),
        click.option("--max-params", type=click.IntRange(min=1), help="Limit on a network's parameters and buffers (default 10**9)."),
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
            if is_usage(e.diagnostics) and diag_format != "json":
                for d in e.diagnostics:
                    click.echo(usage_line(d), err=True)
                sys.exit(EXIT_USAGE)
            emit_diagnostics(e.diagnostics, diag_format)
            sys.exit(EXIT_USAGE if is_usage(e.diagnostics) else EXIT_DIAGNOSTICS)
        except UsageError as e:
            click.echo(e.line(), err=True)
            sys.exit(EXIT_USAGE)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            # the reader went away (`archlang zoo list | head -3`): nothing is wrong, and the
            # output left unwritten must not raise again when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo("this is a bug in archlang, please report it with the spec that "
                       "caused it", err=True)
            if os.environ.get("ARCHLANG_DEBUG"):
                traceback.print_exc()
            sys.exit(EXIT_INTERNAL)

    return wrapper


class Process:
    """``ctx.obj`` of the ``archlang`` command (:func:`run`): the process ends when the command
    does. A program that calls :func:`main` itself gives none."""


def one_shot(f):
    """A command that checks a spec (or two), writes its answer and is done.

    In the ``archlang`` process (:func:`run`), the cyclic garbage collector stays paused from
    the start of such a command to the exit: the checker's modules, the AST and the graph live
    until then anyway, and the collections that importing and checking set off (4-7 ms of a
    check of resnet152) would find next to nothing to free before the process gives all its
    memory back. Commands that run many checks (``sweep``, ``zoo list``), a server (``lsp``)
    and ``export`` (torch) keep the collector; so does a program that calls :func:`main`.
    """

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        if isinstance(click.get_current_context().find_root().obj, Process):
            gc.disable()
        return f(*args, **kwargs)

    return wrapper


def emit_diagnostics(diags: list[Diagnostic], fmt: str) -> None:
    if fmt == "json":
        import json

        click.echo(json.dumps({"diagnostics": [d.to_json() for d in diags]}, indent=2))
        return
    color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    click.echo(render_all(diags, color=color), err=True)


def use_plugins(modules: tuple[str, ...]) -> None:
    """``--plugin MODULE``: import each plugin module, which registers its ops. The user
    named it, so a module that cannot be used is a usage error (exit 2)."""
    if not modules:
        return
    from archlang.plugins import PluginError, use_plugin

    for module in modules:
        try:
            use_plugin(module)
        except PluginError as e:
            raise UsageError(f"--plugin {module}: {e}") from None


#: how many warnings this process has printed (a result printed with one is not cached)
_WARNINGS_SHOWN = [0]


@contextlib.contextmanager
def plugin_warnings_as_lines():
    """Print a skipped installed plugin (:class:`archlang.plugins.PluginWarning`) as one
    ``warning:`` line on standard error, instead of Python's warning with its source line."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_plugin_warning(message, category, filename, lineno, file=None, line=None):
            from archlang.plugins import PluginWarning

            _WARNINGS_SHOWN[0] += 1
            if issubclass(category, PluginWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_plugin_warning
        yield


def checked(spec, network, sets, inputs, kwargs):
    from archlang.analysis.report import totals
    from archlang.api import CheckResult, run

    use_plugins(kwargs.pop("plugins", ()))
    limits = _limits(kwargs)
    params = parse_set(sets)
    shapes = parse_inputs(inputs)
    # SPEC on the command line is a path (or zoo:NAME), never spec text, whatever it holds
    where = spec if spec.startswith("zoo:") else Path(spec)
    graph, diags = run(where, network, inputs=shapes, limits=limits, params=params)
    if graph is None or any(d.severity == "error" for d in diags):
        err = ArchError(diags)
        err.graph = graph
        raise err
    return CheckResult(graph, totals(graph), diags)


NO_CACHE = click.option(
    "--no-cache", is_flag=True,
    help="Work afresh, even if nothing has changed since the last clean run with these "
         "options (whose output is otherwise printed again; README: Commands).")


class Replay:
    """What a command printed for a clean spec, printed again while nothing it was computed
    from has changed (:mod:`archlang.cache`): the spec and its imports, the options, the
    environment, archlang's code. ``--plugin`` runs, and runs that warned, are not kept."""

    def __init__(self, command: str, options: dict[str, Any], no_cache: bool):
        from archlang import cache

        self.cache, self.name, self.warned = cache, None, _WARNINGS_SHOWN[0]
        if not no_cache and not options.get("plugins") and cache.enabled():
            self.name = cache.key(command, options)

    def replayed(self) -> bool:
        """Print the recorded output, if there is one still valid; whether it was printed."""
        out = None if self.name is None else self.cache.replay(self.name)
        if out is not None:
            click.echo(out, nl=False)
        return out is not None

    def emit(self, out: str, result) -> None:
        """Print ``out``, the output for ``result`` (whose graph names the files read)."""
        click.echo(out, nl=False)
        # the paths as reached, not resolved: a symlink pointed elsewhere is a change
        specs = [reached for reached, _, _ in result.graph.deps]
        if self.name is not None and specs and _WARNINGS_SHOWN[0] == self.warned:
            self.cache.record(self.name, out, specs)


def output_path(output: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """Validate ``-o`` before any work: a known suffix, an existing writable directory."""
    path = Path(output)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UsageError(f"cannot write `{output}`: unknown file type `{path.suffix or '(none)'}`",
                         f"give -o a name ending in {', '.join(suffixes)}")
    parent = path.parent
    if path.is_dir():
        raise UsageError(f"cannot write `{output}`: it is a directory",
                         "give -o a file name")
    if not parent.is_dir():
        raise UsageError(f"cannot write `{output}`: directory `{parent}` does not exist",
                         f"create it first (mkdir -p {parent}) or choose another -o")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write `{output}`: permission denied",
                         "choose a -o path you can write")
    return path


def write_output(path: Path, data: str | bytes) -> None:
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write `{path}`: {exc.strerror or exc}",
                         "choose another -o path") from None
    click.echo(f"wrote {path}", err=True)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, epilog="""\b
Examples:
  archlang zoo list
  archlang check zoo:resnet50
  archlang summary my_net.arch --depth 1
  archlang compile zoo:googlenet -o googlenet.py
  archlang diagram zoo:vgg16 -o vgg16.svg

\b
SPEC is an .arch file, or zoo:NAME for a network of archlang's zoo.
Exit codes: 0 ok, 1 errors in the spec, 2 usage errors (a bad path or
option), 3 internal errors (a bug: please report it).

\b
Shell completion: add to ~/.bashrc (zsh, fish: see the README)
  eval "$(_ARCHLANG_COMPLETE=bash_source archlang)"
""")
@click.version_option(package_name="archlang")
@click.pass_context
def main(ctx: click.Context) -> None:
    """archlang: write a network once as a .arch file; check it, compile it, draw it."""
    ctx.with_resource(plugin_warnings_as_lines())


@main.command(short_help="Check a spec: shapes, parameters, MACs.", epilog="""\b
Examples:
  archlang check my_net.arch
  archlang check zoo:resnet50 --input 3x160x160
  archlang check specs/resnet.arch --network resnet18 --set num_classes=10
  archlang check my_net.arch --format json     # for editors and scripts
""")
@spec_options
@click.option("--format", "diagnostics_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True,
              help="text: a one-line verdict or rendered diagnostics; json: the diagnostics "
                   "and the verdict as a JSON object.")
@NO_CACHE
@guarded
@one_shot
def check(spec, network, sets, inputs, diagnostics_format, no_cache, **kwargs):
    """Check a spec statically, without running it: every shape, the parameter count and the
    MACs. Prints a one-line verdict, or every error (exit 1)."""
    replay = Replay("check", dict(spec=spec, network=network, sets=sets, inputs=inputs,
                                  format=diagnostics_format, **kwargs), no_cache)
    if replay.replayed():
        return
    result = checked(spec, network, sets, inputs, kwargs)
    if diagnostics_format == "json":
        import json

        out = json.dumps({"diagnostics": [], "verdict": result.verdict()}, indent=2) + "\n"
    else:
        out = result.verdict() + "\n"
    replay.emit(out, result)


@main.command(short_help="Print a summary table (shapes, params, MACs, memory).", epilog="""\b
Examples:
  archlang summary zoo:resnet50
  archlang summary zoo:googlenet --depth 1
  archlang summary my_net.arch --format json > summary.json
  archlang summary zoo:resnet50 --columns +rf,stride,centre
  archlang summary zoo:resnet50 --batch 64 --dtype bf16 --optimizer adamw
""")
@spec_options
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True,
              help="Fold the layer tree below this depth.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True,
              help="table: for people; json: every layer and the totals; csv: one row per "
                   "shown layer, numbers as plain integers.")
@click.option("--width", type=click.IntRange(min=60), default=120, show_default=True,
              help="Table width in characters.")
@click.option("--columns", metavar="LIST",
              help="Table columns, comma-separated, from shape, params, macs, share, rf "
                   "(receptive field), stride (effective stride), centre (of unit 0's field), "
                   "saved (bytes kept for backward); a leading + adds to the default "
                   "(shape,params,macs,share).")
@click.option("--batch", type=click.IntRange(min=1), help="Batch size of the training memory "
              "(default 1).")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "float64", "fp32",
                                            "fp16", "bf16", "fp64"]),
              help="Element type of the training memory (default float32).")
@click.option("--optimizer", type=click.Choice(["sgd", "sgd-momentum", "adam", "adamw"]),
              help="Optimizer whose state the training memory counts (default sgd).")
@click.option("--device", type=click.Choice(["cuda", "cpu"]),
              help="Where it trains (dropout's mask is 1 byte per element on cuda, the "
                   "dtype's size on cpu; default cuda).")
@click.option("--inference", is_flag=True,
              help="Summarise the inference build (archlang compile --inference): folded "
                   "BatchNorm, no dropout or training outputs.")
@NO_CACHE
@guarded
@one_shot
def summary(spec, network, sets, inputs, depth, fmt, width, columns, batch, dtype, optimizer,
            device, inference, no_cache, **kwargs):
    """Print a torchinfo-style summary of a network, computed without a forward pass: output
    shapes, parameters, MACs and their share of the total, by the spec's own layer tree;
    receptive fields with --columns, training memory with --batch, --dtype or --optimizer."""
    replay = Replay("summary", dict(
        spec=spec, network=network, sets=sets, inputs=inputs, depth=depth, format=fmt,
        width=width, columns=columns, batch=batch, dtype=dtype, optimizer=optimizer,
        device=device, inference=inference, **kwargs), no_cache)
    if replay.replayed():
        return
    from archlang.backends.summary import render, summary_options

    try:
        cols, training = summary_options(columns, batch, dtype, optimizer, device)
    except ValueError as e:
        raise UsageError(f"--columns: {e}", "e.g. --columns +rf,stride") from None
    result = checked(spec, network, sets, inputs, kwargs)
    shown = result
    if inference:
        from archlang.inference import inference_result

        shown = inference_result(result)
    replay.emit(render(shown, depth=depth, format=fmt, width=width, columns=cols,
                       training=training), result)


@main.command("compile", short_help="Compile a network to PyTorch source.", epilog="""\b
Examples:
  archlang compile zoo:resnet50 -o resnet50.py
  archlang compile my_net.arch --set num_classes=10 > my_net.py
""")
@spec_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="Write the Python file here (default: standard output).")
@click.option("--inference", is_flag=True,
              help="The inference build: BatchNorm folded into the conv/linear before it, no "
                   "dropout or training outputs, channels_last; loads the same state_dict "
                   "(docs/deploy.md).")
@guarded
@one_shot
def compile_(spec, network, sets, inputs, output, inference, **kwargs):
    """Compile a network to one standalone Python file that imports only torch: an
    nn.Module whose state_dict names are the spec's layer names."""
    from archlang.backends.pytorch import generate

    path = output_path(output) if output else None
    result = checked(spec, network, sets, inputs, kwargs)
    source = generate(result.graph, inference=inference)
    if path is not None:
        write_output(path, source)
    else:
        click.echo(source, nl=False)


@main.command(short_help="Export a network to ONNX.", epilog="""\b
Examples:
  archlang export zoo:resnet50 -o resnet50.onnx
  archlang export my_net.arch --network fcn --opset 17 -o fcn.onnx
""")
@spec_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The .onnx file to write.")
@click.option("--opset", type=click.IntRange(min=7), default=None,
              help="ONNX opset version (default 18).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="A state_dict saved with torch.save (default: freshly initialised weights).")
@guarded
def export(spec, network, sets, inputs, output, opset, weights, **kwargs):
    """Export a network (eval mode) to ONNX through torch.onnx: the graph's inputs and outputs
    are the spec's, the batch and every symbolic input size are named dynamic axes. Needs
    pip install 'archlang[export]'."""
    from archlang.export import DEFAULT_OPSET, ExportError, export_graph, require_export_packages

    path = output_path(output, (".onnx",))
    try:
        require_export_packages()
    except ExportError as e:
        raise UsageError(str(e).split(": pip")[0], "pip install 'archlang[export]'") from None
    result = checked(spec, network, sets, inputs, kwargs)
    try:
        import torch

        state = torch.load(weights, map_location="cpu") if weights else None
        export_graph(result.graph, path, opset=opset or DEFAULT_OPSET, state_dict=state)
    except ExportError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_DIAGNOSTICS)
    click.echo(f"wrote {path}", err=True)


@main.command(short_help="Draw a network with Graphviz.", epilog="""\b
Examples:
  archlang diagram zoo:googlenet --depth 1 -o googlenet.svg
  archlang diagram my_net.arch -o my_net.dot      # DOT text: no Graphviz needed
  archlang diagram my_net.arch --direction LR | dot -Tpng > my_net.png
""")
@spec_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="out.svg, out.png, out.pdf (rendered by Graphviz's dot) or out.dot/out.gv "
                   "(DOT text). Default: DOT on standard output.")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="Fold blocks below this depth into single nodes (default: draw every layer).")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Layout direction: TB top to bottom, LR left to right.")
@guarded
@one_shot
def diagram(spec, network, sets, inputs, output, depth, direction, **kwargs):
    """Draw a network: blocks are clusters, edges carry shapes. A spec with errors is drawn up
    to its failing layer, in red, and the command exits 1."""
    from archlang.backends.graphviz import FORMATS, INSTALL_HELP, Diagram, DotNotFound

    path = output_path(output, tuple(FORMATS)) if output else None
    try:
        result = checked(spec, network, sets, inputs, kwargs)
        graph, diags = result.graph, []
    except ArchError as e:
        graph, diags = getattr(e, "graph", None), e.diagnostics
        if graph is None or not graph.nodes:
            raise
    d = Diagram(graph, depth=depth, direction=direction, diagnostics=diags)
    if path is not None:
        fmt = FORMATS[path.suffix.lower()]
        try:
            data = d.source if fmt is None else d.pipe(fmt)
        except DotNotFound:
            raise UsageError(f"Graphviz's `dot` is needed to write `{path}` and is not installed",
                             INSTALL_HELP) from None
        write_output(path, data)
    else:
        click.echo(d.source, nl=False)
    if diags:
        emit_diagnostics(diags, "text")
        sys.exit(EXIT_DIAGNOSTICS)


@main.command("fmt", short_help="Format .arch files (one canonical layout).", epilog="""\b
Examples:
  archlang fmt my_net.arch            # rewrite in place
  archlang fmt --check specs/         # CI: exit 1 and list files that would change
  archlang fmt --diff my_net.arch     # show the changes, write nothing
  archlang fmt - < my_net.arch        # standard input to standard output

\b
The rules are in docs/editors.md. Comments are kept; the meaning never changes.
""")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if a file would change, listing it.")
@click.option("--diff", is_flag=True, help="Write nothing; print a unified diff of the changes.")
@guarded
def fmt(files, check, diff):
    """Format FILE... (.arch files, or directories of them) in place: 4-space indents, one
    statement per line, canonical spacing, comments kept. `-` formats standard input."""
    from archlang import fmt as formatter

    stdin = None
    if files == ("-",):
        stdin = click.get_text_stream("stdin").read()
    elif "-" in files:
        raise UsageError("`-` cannot be mixed with file names", "format standard input alone")
    try:
        status = formatter.run(files, check, diff, click.echo, stdin=stdin)
    except FileNotFoundError as e:
        raise UsageError(f"no such file or directory: `{e.args[0]}`",
                         "give .arch files or directories that hold them") from None
    sys.exit(status)


@main.command("lsp", short_help="Run the language server (LSP on stdio) for editors.",
              epilog="""\b
Editors start it themselves; docs/editors.md shows VS Code, Neovim and any LSP client.
Settings: archlang.network (which network of a file to show), archlang.set.
""")
@click.option("--stdio", is_flag=True, help="Talk LSP on standard input and output (the "
              "only transport, accepted for clients that pass it).")
@guarded
def lsp(stdio):
    """Serve the Language Server Protocol on standard input and output: diagnostics, shape
    inlay hints, hover, definitions, completion, outline and formatting."""
    try:
        from archlang.lsp import serve
    except ImportError as e:
        raise UsageError(f"archlang lsp needs pygls ({e})",
                         "install it with `pip install 'archlang[editor]'`") from None
    serve()


@main.command("diff", short_help="Compare two networks: layers, shapes, params, MACs.",
              epilog="""\b
Examples:
  archlang diff zoo:resnet50 zoo:resnet50_v1
  archlang diff specs/vgg.arch --network-a vgg16 --network-b vgg16_bn
  archlang diff zoo:resnet18 --set-b num_classes=10       # two --set variants
  archlang diff a.arch b.arch --format json > diff.json
  archlang diff zoo:googlenet zoo:googlenet_caffe --format svg -o diff.svg

\b
SPEC_B defaults to SPEC_A. --network, --set and --input apply to both sides;
--network-a/-b and --set-a/-b to one. Deltas are B minus A. docs/analysis.md
explains how layers are aligned.
""")
@click.argument("spec_a", type=click.Path(dir_okay=False, path_type=str))
@click.argument("spec_b", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--network", "-n", help="Network of both sides (needed when a file has several).")
@click.option("--network-a", help="Network of side A.")
@click.option("--network-b", help="Network of side B.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Set a parameter on both sides (repeatable).")
@click.option("--set-a", "sets_a", multiple=True, metavar="NAME=VALUE",
              help="Set a parameter of side A only (repeatable).")
@click.option("--set-b", "sets_b", multiple=True, metavar="NAME=VALUE",
              help="Set a parameter of side B only (repeatable).")
@click.option("--input", "inputs", multiple=True, metavar="[NAME=]CxHxW",
              help="Concrete input shape of both sides, without the batch.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import this Python module first; it registers more ops (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "svg"]),
              default="text", show_default=True,
              help="text: a table of what differs and the totals; json: the same for tools; "
                   "dot: the union graph with the changes coloured (svg: drawn by Graphviz).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="Write here (default: standard output).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour the text table (auto: on a terminal, unless "
                                      "NO_COLOR is set).")
@click.option("--width", type=click.IntRange(min=60), default=120, show_default=True,
              help="Table width in characters.")
@guarded
@one_shot
def diff_cmd(spec_a, spec_b, network, network_a, network_b, sets, sets_a, sets_b, inputs,
             plugins, fmt, output, color, width):
    """Compare two networks, two networks of one file, or two --set variants of one: layers
    aligned by name and structure, with what was added, removed, renamed and changed (op,
    attributes, shapes, params, MACs), deltas per block and in total."""
    from archlang.analysis.diff import diff
    from archlang.backends.diff import render
    from archlang.backends.graphviz import INSTALL_HELP, DotNotFound

    suffixes = {"dot": (".dot", ".gv"), "svg": (".svg",)}.get(fmt)
    path = output_path(output, suffixes) if output else None
    spec_b = spec_b or spec_a
    a = checked(spec_a, network_a or network, sets + sets_a, inputs, {"plugins": plugins})
    b = checked(spec_b, network_b or network, sets + sets_b, inputs, {})
    use_color = color == "always" or (color == "auto" and path is None and fmt == "text"
                                      and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    try:
        data = render(diff(a, b), (spec_a, spec_b), fmt, color=use_color, width=width)
    except DotNotFound:
        raise UsageError("Graphviz's `dot` is needed for --format svg and is not installed",
                         INSTALL_HELP) from None
    if path is not None:
        write_output(path, data)
    else:
        click.echo(data.decode("utf-8") if isinstance(data, bytes) else data, nl=False,
                   color=use_color)


@main.command("sweep", short_help="Params, MACs and memory over a grid of parameter values.",
              epilog="""\b
Examples:
  archlang sweep zoo:dcgan_generator --set ngf=16,32,64,128 --set nz=50,100
  archlang sweep examples/digits.arch --set width=8,16,32 -o width.svg
  archlang sweep zoo:resnet50 --stages -o resnet50_stages.svg

\b
--set NAME=V1,V2,... sweeps NAME (commas inside [...] stay: --set
layers=[2,2,2,2],[3,4,6,3]); the grid is every combination. -o draws a
plot (.svg, .png, .pdf) with matplotlib: pip install 'archlang[plot]'.
""")
@spec_options
@click.option("--stages", is_flag=True,
              help="One network's params, MACs and activations per top-level block instead "
                   "(each --set takes one value).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="table: for people; json: every point's figures.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="Also draw a plot here: .svg, .png or .pdf (needs matplotlib).")
@click.option("--width", type=click.IntRange(min=60), default=120, show_default=True,
              help="Table width in characters.")
@guarded
def sweep_cmd(spec, network, sets, inputs, stages, fmt, output, width, **kwargs):
    """Check a network at every point of a grid of parameter values and tabulate its
    parameters, MACs, activation memory and smallest input; or, with --stages, show where one
    network's cost goes. Exit 1 if a point has errors (its row shows the first)."""
    from archlang.analysis import sweep as S
    from archlang.backends import sweep as R

    path = output_path(output, R.PLOT_SUFFIXES) if output else None
    if path is not None:
        try:
            R.require_matplotlib()
        except R.MatplotlibMissing:
            raise UsageError(f"matplotlib is needed to draw `{path}` and is not installed",
                             R.PLOT_HELP) from None
    plot_format = path.suffix.lower()[1:] if path is not None else None
    if stages:
        if len(S.grid(sets)) != 1:
            raise UsageError("--stages shows one network", "give each --set a single value")
        result = checked(spec, network, sets, inputs, dict(kwargs))
        rows, name = S.stages(result), result.network
        text = R.stages_json(rows, spec, name) if fmt == "json" else \
            R.render_stages(rows, name, width)
        plot, failed = (lambda: R.plot_stages(rows, name, plot_format)), False
    else:
        names = []

        def check_point(items):
            result = checked(spec, network, items, inputs, dict(kwargs))
            names.append(result.network)
            return result

        points = S.sweep(sets, check_point)
        name = names[0] if names else network or spec
        text = R.render_json(points, spec, name) if fmt == "json" else \
            R.render_table(points, name, width)
        plot, failed = (lambda: R.plot_sweep(points, name, plot_format)), \
            any(p.error for p in points)
    click.echo(text, nl=False)
    if path is not None:
        write_output(path, plot())
    if failed:
        sys.exit(EXIT_DIAGNOSTICS)


@main.group(short_help="List the zoo's networks; print a zoo spec.", epilog="""\b
Examples:
  archlang zoo list
  archlang zoo show resnet50 > my_resnet.arch
  archlang check zoo:resnet50
""")
def zoo() -> None:
    """The model zoo that ships with archlang: AlexNet, VGG, NIN, GoogLeNet, ResNet, DCGAN,
    VAE and ensembles. Every command takes zoo:NAME as its SPEC."""


@zoo.command("list", short_help="List the zoo's networks.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True,
              help="table: name, file, params, MACs and input; json: the same as a list.")
@guarded
def zoo_list(fmt):
    """List the zoo's networks with their parameters, MACs and input shape (each is checked)."""
    from archlang import models
    from archlang.analysis import dims as D
    from archlang.api import check as check_spec

    rows = []
    for name in models.list_models():
        result = check_spec(f"zoo:{name}")
        inputs = {k: D.fmt_shape(result.graph.nodes[v].shape)
                  for k, v in result.graph.inputs.items()}
        rows.append({"name": name, "file": models.spec_path(name).name,
                     "params": result.params, "macs": result.macs if isinstance(
                         result.macs, int) else str(result.macs),
                     "inputs": inputs})
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    fwidth = max(len(r["file"]) for r in rows)
    click.echo(f"{'network':<{width}}  {'file':<{fwidth}}  {'params':>12}  {'MACs':>15}  input")
    for r in rows:
        macs = f"{r['macs']:,}" if isinstance(r["macs"], int) else r["macs"]
        shown = ", ".join(f"{k}: {v}" for k, v in r["inputs"].items())
        click.echo(f"{r['name']:<{width}}  {r['file']:<{fwidth}}  {r['params']:>12,}  "
                   f"{macs:>15}  {shown}")


@zoo.command("show", short_help="Print the spec that defines a zoo network.")
@click.argument("name")
@guarded
def zoo_show(name):
    """Print the .arch file that defines network NAME, to read or to start your own spec
    from (its other networks and blocks come with it)."""
    from archlang import models

    path = models.spec_path(name)
    click.echo(path.read_text(encoding="utf-8"), nl=False)
    imports = [line for line in path.read_text(encoding="utf-8").splitlines()
               if line.startswith("import ")]
    if imports:
        click.echo(f"note: this spec imports other zoo files ({', '.join(i.split()[1] for i in imports)}); "
                   f"they are in {path.parent}", err=True)


def run() -> None:
    """The ``archlang`` command (and ``python -m archlang``).

    archlang's own models have no use for third-party pydantic plugins, and finding them
    (through importlib.metadata) costs ~25 ms, 5 % of a summary: the command turns them off
    for its own process, unless the user set ``PYDANTIC_DISABLE_PLUGINS``. Importing
    ``archlang.cli`` changes no environment variable.

    The command is one short process. When it ends, the interpreter's last garbage
    collections would traverse every object it made (modules, the parser's tables, the AST,
    the graph) only for the operating system to take the memory back an instant later: 26-35
    ms of a check of resnet152 from scratch. At exit, ``gc.freeze`` puts those objects out of
    the collector's reach; standard output and error are flushed as before (archlang closes
    every file it writes before it returns). The command is told that its process ends with
    it (:class:`Process`), so a command that checks once keeps the collector paused
    (:func:`one_shot`).
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    atexit.register(gc.freeze)
    main(prog_name="archlang", obj=Process())


if __name__ == "__main__":  # pragma: no cover
    run()
