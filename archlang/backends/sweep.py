"""Rendering sweeps (:mod:`archlang.analysis.sweep`): a table, JSON, and plots drawn by
matplotlib (the optional extra ``plot``: ``pip install 'archlang[plot]'``).

Every plotted series (and every bar) carries a ``gid`` (``params:ngf=64``, ``macs:layer3``), which matplotlib
writes as the ``id`` of the series' group in an SVG, so a drawing can be checked by its ids.
"""

from __future__ import annotations

import io
import json
from typing import Any

from archlang.analysis import dims as D
from archlang.analysis.dims import Count
from archlang.analysis.sweep import Point, Stage

PLOT_SUFFIXES = (".svg", ".png", ".pdf")
PLOT_HELP = "install the plot extra: pip install 'archlang[plot]' (matplotlib)"
METRICS = (("params", "Parameters"), ("macs", "MACs"),
           ("activations_bytes", "Activation memory per sample (bytes, float32)"))


class MatplotlibMissing(RuntimeError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MatplotlibMissing(PLOT_HELP) from None


def _num(c: Count):
    return c if isinstance(c, int) else str(c)


def _mib(c: Count) -> str:
    return f"{c / 2**20:,.2f} MiB" if isinstance(c, int) else f"{c} B"


def _console(width: int):
    from rich.console import Console

    return Console(file=io.StringIO(), width=max(width, 60), color_system=None,
                   force_terminal=False, legacy_windows=False, soft_wrap=True, markup=False,
                   emoji=False, highlight=False)


def _table(title: str):
    from rich import box
    from rich.table import Table

    return Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False,
                 pad_edge=False)


def _smallest(p: Point) -> str:
    if p.smallest_input:
        return ", ".join(f"{k}={v}" for k, v in p.smallest_input.items())
    return "-"


def render_table(points: list[Point], network: str, width: int = 120) -> str:
    table = _table(f"{network}: {len(points)} point{'s' if len(points) != 1 else ''}")
    names = list(points[0].values) if points else []
    for name in names:
        table.add_column(name, no_wrap=True)
    for col in ("Params", "MACs", "Activations", "Peak"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("Input", no_wrap=True)
    table.add_column("Smallest input", no_wrap=True)
    errors = []
    for p in points:
        values = [p.values[n] for n in names]
        if p.error is not None:
            errors.append(f"[{len(errors) + 1}] " + ", ".join(f"{n}={p.values[n]}" for n in names)
                          + f": {p.error}")
            table.add_row(*values, f"error [{len(errors)}]", "", "", "", "", "")
            continue
        inputs = ", ".join(D.fmt_shape(s) for s in p.inputs.values())
        star = "" if isinstance(p.macs, int) else "*"
        table.add_row(*values, f"{p.params:,}", f"{p.at_smallest(p.macs):,}{star}",
                      _mib(p.at_smallest(p.activations_bytes)) + star,
                      _mib(p.at_smallest(p.peak_bytes)) + star, inputs, _smallest(p))
    console = _console(width)
    console.print(table)
    lines = [console.file.getvalue().rstrip("\n"), *errors]
    if any(p.error is None and not isinstance(p.macs, int) for p in points):
        lines.append("* at the smallest input (the JSON has the expressions)")
    constraints = {text for p in points for text in p.constraints.values()}
    for text in sorted(constraints):
        lines.append(f"Input size: {text}")
    return "\n".join(line.rstrip() for line in "\n".join(lines).split("\n")) + "\n"


def to_dict(points: list[Point], spec: str, network: str) -> dict[str, Any]:
    return {
        "spec": spec, "network": network,
        "parameters": list(points[0].values) if points else [],
        "points": [{
            "values": dict(p.values), "error": p.error,
            "params": p.params if p.error is None else None,
            "macs": _num(p.macs) if p.error is None else None,
            "activations_bytes": _num(p.activations_bytes) if p.error is None else None,
            "peak_inference_bytes": _num(p.peak_bytes) if p.error is None else None,
            "inputs": {k: [_num(d) if isinstance(d, int) else str(d) for d in s]
                       for k, s in p.inputs.items()},
            "constraints": dict(p.constraints), "smallest_input": dict(p.smallest_input),
        } for p in points],
    }


def render_json(points: list[Point], spec: str, network: str) -> str:
    return json.dumps(to_dict(points, spec, network), indent=2) + "\n"


def render_stages(rows: list[Stage], network: str, width: int = 120) -> str:
    table = _table(f"{network}: cost by stage")
    for col, justify in (("Stage (type)", "left"), ("Params", "right"), ("%", "right"),
                         ("MACs", "right"), ("%", "right"), ("Activations", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    total_p = sum(r.params for r in rows)
    total_m: Count = 0
    for r in rows:
        total_m = D.plus(total_m, r.macs)
    for r in rows:
        share_m = f"{100 * r.macs / total_m:.1f}" if isinstance(r.macs, int) and \
            isinstance(total_m, int) and total_m else ""
        share_p = f"{100 * r.params / total_p:.1f}" if total_p else ""
        table.add_row(f"{r.name} ({r.kind})", f"{r.params:,}", share_p, D.fmt_count(r.macs),
                      share_m, _mib(r.activations_bytes))
    console = _console(width)
    console.print(table)
    return "\n".join(line.rstrip() for line in console.file.getvalue().split("\n")).rstrip() \
        + "\n"


def stages_json(rows: list[Stage], spec: str, network: str) -> str:
    return json.dumps({"spec": spec, "network": network, "stages": [
        {"name": r.name, "type": r.kind, "params": r.params, "macs": _num(r.macs),
         "activations_bytes": _num(r.activations_bytes)} for r in rows]}, indent=2) + "\n"


# ---- plots ----------------------------------------------------------------------------------


def _figure(ncols: int):
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "archlang"  # the same ids in every run
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6), squeeze=False)
    return plt, fig, list(axes[0])


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _wide(values: list[float]) -> bool:
    """Log scale when the values are positive and span two orders of magnitude."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= 100


def _save(plt, fig, format: str) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=format, metadata={"Date": None} if format == "svg" else None)
    plt.close(fig)
    return buf.getvalue()


def plot_sweep(points: list[Point], network: str, format: str = "svg") -> bytes:
    """One panel per metric (params, MACs, activation memory) against the first parameter,
    one line per combination of the others."""
    plt, fig, axes = _figure(len(METRICS))
    ok = [p for p in points if p.error is None]
    names = list(points[0].values) if points else []
    xname, others = (names[0], names[1:]) if names else ("", [])
    series: dict[str, list[Point]] = {}
    for p in ok:
        label = ", ".join(f"{n}={p.values[n]}" for n in others) or network
        series.setdefault(label, []).append(p)
    xs_text = list(dict.fromkeys(p.values[xname] for p in ok)) if xname else []
    numeric = all(_number(x) is not None for x in xs_text)
    for ax, (metric, title) in zip(axes, METRICS):
        ys_all = []
        for label, pts in series.items():
            xs = [_number(p.values[xname]) if numeric else xs_text.index(p.values[xname])
                  for p in pts]
            ys = [p.at_smallest(getattr(p, metric)) for p in pts]
            ys_all.extend(ys)
            (line,) = ax.plot(xs, ys, marker="o", label=label)
            line.set_gid(f"{metric}:{label}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xname)
        xnums = [_number(x) for x in xs_text] if numeric else []
        if xnums and min(xnums) > 0 and max(xnums) / min(xnums) >= 8:  # doublings
            ax.set_xscale("log", base=2)
        if not numeric:
            ax.set_xticks(range(len(xs_text)), xs_text, rotation=30, fontsize=7)
        if _wide(ys_all):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    if len(series) > 1:
        axes[0].legend(fontsize=7)
    symbolic = any(not isinstance(p.macs, int) for p in ok)
    fig.suptitle(f"{network}" + (" (at the smallest input)" if symbolic else ""), fontsize=10)
    return _save(plt, fig, format)


def plot_stages(rows: list[Stage], network: str, format: str = "svg") -> bytes:
    """Params and MACs of each stage (items with neither are left out), as bars."""
    plt, fig, axes = _figure(2)
    shown = [r for r in rows if r.params or (r.macs if isinstance(r.macs, int) else 1)]
    names = [r.name for r in shown]
    for ax, (metric, title) in zip(axes, METRICS[:2]):
        values = [getattr(r, metric) if isinstance(getattr(r, metric), int) else 0
                  for r in shown]
        bars = ax.bar(range(len(names)), values, color="#6d9eeb" if metric == "params"
                      else "#e69138")
        for bar, name in zip(bars, names):
            bar.set_gid(f"{metric}:{name}")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_title(title + " by stage", fontsize=9)
        if _wide([v for v in values if v]):
            ax.set_yscale("log")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(network, fontsize=10)
    return _save(plt, fig, format)
