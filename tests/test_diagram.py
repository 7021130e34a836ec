"""The Graphviz diagram backend: DOT goldens, folding, failing nodes, escaping, rendering.

Goldens live in tests/goldens/SPEC/NETWORK.depthN.dot (``full``: every node), SPEC being
the spec file's stem, and those of broken graphs in tests/goldens/broken/;
``pytest --update-goldens`` rewrites them (review the diff). Rendering tests need Graphviz's
``dot`` and are skipped without it.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import golden_path

from archlang.api import check, run
from archlang.backends import graphviz as gv
from archlang.backends.graphviz import (
    Diagram,
    DotNotFound,
    display_name,
    dot_string,
    html,
    quote,
    quote_tooltip,
)
from archlang.diagnostics import ArchError
from archlang.limits import Limits
from archlang.program import load_program

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases" / "diagram"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed")
XLINK = "{http://www.w3.org/1999/xlink}"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Specs are passed relative to the repository root, so locations in the DOT text are
    the same on every machine."""
    monkeypatch.chdir(ROOT)


# ---- goldens ---------------------------------------------------------------------------------

FULL = 99  # deeper than any scope: every op node


def dot_kind(depth: int | None) -> str:
    """The golden kind of a diagram at ``depth``: ``depth1.dot``, ``full.dot``, or ``dot`` at
    the default depth."""
    return "dot" if depth is None else "full.dot" if depth == FULL else f"depth{depth}.dot"


NETWORKS = [
    ("resnet50_depth1", "specs/resnet.arch", "resnet50", 1),
    ("resnet50_depth2", "specs/resnet.arch", "resnet50", 2),
    ("resnet50_full", "specs/resnet.arch", "resnet50", FULL),
    ("googlenet_depth1", "specs/googlenet.arch", "googlenet", 1),
    ("googlenet_depth2", "specs/googlenet.arch", "googlenet", 2),
    ("googlenet_full", "specs/googlenet.arch", "googlenet", FULL),
]


@pytest.mark.parametrize("name,spec,network,depth", NETWORKS, ids=[n[0] for n in NETWORKS])
def test_network_golden(name, spec, network, depth, golden):
    d = Diagram(check(spec, network).graph, depth=depth)
    golden(spec, network, dot_kind(depth), d.source)


UNKNOWN_LAYER = """network typo {
    input x: [3, 32, 32]
    stem: conv2d(16, 3, padding=1)
    relu
    con2d(32, 3)
    output y
}
"""

# (case, spec path or text, depth, expected code, failing node's name or None); the golden is
# tests/goldens/broken/<case>.<kind>
BROKEN = [
    ("add_channels", "tests/cases/diagram/add_channels.arch", 1, "E020", "block2.add"),
    ("concat_spatial", "tests/cases/diagram/concat_spatial.arch", 1, "E021", "mix"),
    ("zero_size", "tests/cases/diagram/zero_size.arch", 1, "E022", "d3.pool"),
    ("unknown_layer", UNKNOWN_LAYER, None, "E010", None),
]


def broken(spec):
    with pytest.raises(ArchError) as info:
        check(spec)
    return info.value.graph, info.value.diagnostics


@pytest.mark.parametrize("name,spec,depth,code,failing", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_golden(name, spec, depth, code, failing, golden):
    graph, diags = broken(spec)
    assert graph is not None and code in [d.code for d in diags]
    d = Diagram(graph, depth, "TB", diags)
    golden("broken", name, dot_kind(depth), d.source)


def golden_files() -> set[Path]:
    """The goldens this file's tests compare with."""
    return ({golden_path(spec, network, dot_kind(depth)) for _, spec, network, depth in NETWORKS}
            | {golden_path("broken", name, dot_kind(depth))
               for name, _, depth, _, _ in BROKEN})


def node_line(source: str, dot_id: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip().startswith(f"{dot_id} [")]
    assert len(lines) == 1, dot_id
    return lines[0]


@pytest.mark.parametrize("name,spec,depth,code,failing", BROKEN[:3], ids=[b[0] for b in BROKEN[:3]])
@pytest.mark.parametrize("at", [1, 2, 3, None])
def test_failing_node_is_red_at_every_depth(name, spec, depth, code, failing, at):
    graph, diags = broken(spec)
    bad = next(n for n in graph.nodes if n.name == failing)
    assert bad.error is not None and bad.shape is None and bad.id == len(graph.nodes) - 1
    source = Diagram(graph, at, "TB", diags).source
    line = node_line(source, f"n{bad.id}")
    assert f'fillcolor="{gv.ERROR_FILL}"' in line and f'color="{gv.ERROR_COLOR}"' in line
    assert f"error[{code}]:" in line
    assert html(bad.error.message.split()[0]) in line
    # every node built before the failure is drawn or folded into a drawn box
    ids = set(re.findall(r"^\s*(n\d+|s\d+|out\d+) \[", source, re.MULTILINE))
    assert all(rep in ids for rep in Diagram(graph, at, "TB", diags).plan.rep.values())


DEEP_ERROR = """block B(c, k) {
    conv: conv2d(c, k)
    relu
}
block S(n) {
    for i in range(n) { B(8, 3 if i == 5 else 1) }
}
network deep {
    input x: [8, 2, 2]
    s: S(8)
    flatten
    fc: linear(10)
    output y
}
"""


def test_error_inside_a_run_expands_only_its_block():
    graph, diags = broken(DEEP_ERROR)
    src = Diagram(graph, 1, "TB", diags).source
    assert "<B>s.0 … s.4</B><BR/>B ×5" in src  # the copies before it still merge
    assert "label=<<B>s</B>: S>" in src and "label=<<B>s.5</B>: B>" in src  # expanded
    assert src.count(f'color="{gv.ERROR_COLOR}", fontsize=10') == 2  # both clusters red
    assert "error[E022]: conv2d window (3) is larger" in src
    assert "s.6" not in src and "fc" not in src  # nothing after the failure was built


def test_error_without_a_node_is_listed_in_the_title():
    graph, diags = broken(UNKNOWN_LAYER)
    source = Diagram(graph, diagnostics=diags).source
    title = next(ln for ln in source.splitlines() if ln.strip().startswith("graph ["))
    assert "error[E010]: unknown layer `con2d` (&lt;string&gt;:5:5)" in title
    assert "n2 [" in source and "n3 [" not in source  # drawn up to the last layer built


def test_graph_none_draws_only_the_errors():
    diags = run("network broken {\n  input x: [3, 8, 8]\n  conv2d(4,\n}\n")[1]
    source = Diagram(None, diagnostics=diags).source
    assert source.startswith("// archlang diagram") and "error[E00" in source


def test_unused_value_is_marked_on_its_node():
    graph, diags = broken("network n {\n input x: [3, 8, 8]\n y = x -> conv2d(4, 3)\n"
                          " z = x -> relu\n output o = y\n}\n")
    assert [d.code for d in diags] == ["E032"]
    line = node_line(Diagram(graph, diagnostics=diags).source, "n2")
    assert "error[E032]" in line and gv.ERROR_FILL in line


# ---- folding ---------------------------------------------------------------------------------


def test_resnet_runs_merge_but_first_blocks_stay_apart():
    d = Diagram(check("specs/resnet.arch", "resnet50").graph, depth=2)
    src = d.source
    assert "<B>layer3.1 … layer3.5</B><BR/>Bottleneck ×5" in src
    assert "<B>layer3.0</B><BR/>Bottleneck<BR/>" in src
    # layer1.0 has the same arguments as layer1.1 but another input shape: not merged
    assert "<B>layer1.0</B><BR/>Bottleneck<BR/>" in src
    assert "<B>layer1.1 … layer1.2</B><BR/>Bottleneck ×2" in src
    assert "subgraph cluster_s12 {" in src and "label=<<B>layer3</B>: Stage>" in src
    d152 = Diagram(check("specs/resnet.arch", "resnet152").graph)
    assert d152.depth == 2 and "Bottleneck ×35" in d152.source


def test_params_of_folded_nodes_sum_their_layers():
    graph = check("specs/resnet.arch", "resnet50").graph
    src = Diagram(graph, depth=1).source
    for s in graph.scopes[1:]:
        if len(s.path) == 1:
            total = sum(n.params for n in graph.nodes if n.path[:1] == s.path)
            assert f"<B>{s.path[0]}</B><BR/>Stage<BR/>" in src
            assert f"{total:,} params" in src


RUN_SPEC = """block B(c) {
    conv2d(c, 3, padding=1)
    relu
}
network n {
    input x: [8, 16, 16]
    b0: B(8)
    b1: B(8)
    b2: B(8)
    b3: B(8)
    b4: B(16)
    output y
    training output tap = b1 -> global_avgpool -> flatten
}
"""


def test_a_run_breaks_where_a_value_is_used_outside_it():
    src = Diagram(check(RUN_SPEC).graph, depth=1).source
    assert "<B>b0 … b1</B><BR/>B ×2" in src
    assert "<B>b2 … b3</B><BR/>B ×2" in src
    assert "<B>b4</B><BR/>B<BR/>" in src  # other arguments
    assert re.search(r"out1 \[.*style=\"filled,dashed\"", src)  # the training output
    assert re.search(r"-> out1 \[label=\"8\", style=dashed\]", src)


def test_default_depth():
    small = check("specs/vgg.arch", "vgg16").graph
    assert Diagram(small).depth is None  # drawn in full
    assert Diagram(check("specs/googlenet.arch", "googlenet").graph).depth == 2
    assert Diagram(check("specs/resnet.arch", "resnet152").graph).depth == 2
    assert Diagram(small, depth=50).depth is None


def test_display_names():
    assert display_name(("layer3", "0")) == "layer3.0"
    assert display_name(("inception3a", "branch2")) == "branch2"
    assert display_name(("inception3a", "branch2", "0")) == "branch2.0"
    assert display_name(("0",)) == "0"


def test_options_are_checked(tmp_path):
    graph = check("specs/vgg.arch", "vgg11").graph
    with pytest.raises(ValueError):
        Diagram(graph, depth=0)
    with pytest.raises(ValueError):
        Diagram(graph, direction="sideways")
    with pytest.raises(ValueError):
        Diagram(graph).render(tmp_path / "x.jpeg")
    assert "rankdir=LR" in Diagram(graph, direction="LR").source


def test_check_result_diagram():
    result = check("specs/vgg.arch", "vgg11")
    assert result.diagram(depth=1).source == Diagram(result.graph, depth=1).source


# ---- escaping and determinism -------------------------------------------------------------------


def test_quote_and_html():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert quote("\\N") == '"\\\\N"'  # no Graphviz placeholder expansion
    assert quote("x\\") == '"x\\\\"'
    assert quote("a&amp;b") == '"a&amp;amp;b"'  # Graphviz decodes entities in labels
    assert quote_tooltip("x\\N\n&") == '"x\\\\\\\\N\\n&amp;"'  # one more unescaping pass
    assert dot_string('n"\\') == '"n\\"\\\\"'
    assert html('<a href="x">&</a>\nb') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;<BR/>b"
    assert html("\\N") == "\\\\N"
    assert html("bell\x07") == "bell\ufffd"


MESSAGE = 'bad <thing> "quoted" &amp; \\N back\\slash\nsecond line'


def weird_graph():
    graph = check("specs/vgg.arch", "vgg11").graph
    graph.network = 'we"ird\\<net>\nname & co'
    graph.nodes[1].error = run(UNKNOWN_LAYER)[1][0]
    graph.nodes[1].error.message = MESSAGE
    return graph


def quotes_balance(source: str) -> bool:
    """Every line closes its quoted strings (no raw newline inside a DOT string)."""
    return all(len(re.findall(r'(?<!\\)(?:\\\\)*"', line)) % 2 == 0
               for line in source.splitlines())


def test_escaping_in_dot_text():
    source = Diagram(weird_graph()).source
    assert quotes_balance(source)
    assert 'digraph "we\\"ird\\\\<net>\\nname & co" {' in source
    assert "label=<<B>we&quot;ird\\\\&lt;net&gt;<BR/>name &amp; co</B>" in source
    line = node_line(source, "n1")
    assert "bad &lt;thing&gt; &quot;quoted&quot; &amp;amp; \\\\N<BR/>back\\\\slash<BR/>" \
        "second line" in line
    assert 'tooltip="features.0\\n' in line
    assert 'bad <thing> \\"quoted\\" &amp;amp; \\\\\\\\N back\\\\\\\\slash\\nsecond line"' in line


@needs_dot
def test_escaping_survives_dot():
    svg = ET.fromstring(Diagram(weird_graph()).pipe("svg"))
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert 'we"ird\\<net>' in texts and "name & co" in texts
    joined = " ".join(texts)
    assert 'bad <thing> "quoted" &amp; \\N back\\slash second line' in joined
    titles = [e.get(f"{XLINK}title") for e in svg.iter() if e.get(f"{XLINK}title")]
    assert any(t.endswith("error[E010]: " + MESSAGE) for t in titles), titles[:3]
    assert 'we"ird\\<net>\nname & co' in titles


DETERMINISM = """
import sys
from archlang.api import check, run
from archlang.backends.graphviz import Diagram
for spec, net, depth in [("specs/googlenet.arch", "googlenet", 2), ("specs/resnet.arch",
                         "resnet50", 2), ("specs/resnet.arch", "resnet18", 99)]:
    sys.stdout.write(Diagram(check(spec, net).graph, depth).source)
g, d = run("tests/cases/diagram/add_channels.arch")
sys.stdout.write(Diagram(g, 1, "LR", d).source)
"""


def test_dot_is_identical_across_hash_seeds():
    outs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", DETERMINISM], cwd=ROOT, env=env,
                              capture_output=True, check=True)
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and len(outs[0]) > 10_000


# ---- rendering -------------------------------------------------------------------------------


def test_dot_not_found(monkeypatch, tmp_path):
    d = Diagram(check("specs/vgg.arch", "vgg11").graph)
    monkeypatch.setattr(gv.shutil, "which", lambda name: None)
    with pytest.raises(DotNotFound) as info:
        d.render(tmp_path / "x.svg")
    message = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz",
                 "-o file.dot"):
        assert hint in message
    assert d._repr_svg_() is None
    assert d.render(tmp_path / "x.dot").read_text(encoding="utf-8") == d.source


def visible_names(d: Diagram) -> list[str]:
    """The names the diagram shows: named op nodes, folded nodes, clusters, inputs and
    outputs."""
    g, plan = d.graph, d.plan
    names = [o.name for o in g.outputs]
    for n in g.nodes:
        if plan.rep.get(n.id) == f"n{n.id}" and not n.implicit and not n.path[-1].isdigit():
            names.append(n.path[-1])
    for s in g.scopes[1:]:
        if plan.mode[s.id] == "cluster":
            names.append(display_name(s.path))
    for box in plan.boxes.values():
        names.append(display_name(g.scopes[box.scopes[0]].path))
        names.append(display_name(g.scopes[box.scopes[-1]].path))
    return names


def all_networks():
    for path in sorted(glob.glob(str(ROOT / "specs" / "*.arch"))):
        rel = os.path.relpath(path, ROOT)
        for net in load_program(path, Limits()).networks:
            yield rel, net


@needs_dot
@pytest.mark.parametrize("spec,network", list(all_networks()))
def test_svg_renders_every_network(spec, network, tmp_path):
    d = Diagram(check(spec, network).graph)
    out = d.render(tmp_path / f"{network}.svg")
    svg = ET.parse(out).getroot()
    assert svg.tag == f"{SVG}svg"
    texts = "\n".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    missing = [name for name in visible_names(d) if name not in texts]
    assert not missing, missing


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_resnet152_png_is_legible(tmp_path):
    d = Diagram(check("specs/resnet.arch", "resnet152").graph)
    width, height = png_size(d.render(tmp_path / "r152.png").read_bytes())
    assert max(width, height) <= 4000, (width, height)


@needs_dot
def test_pdf_and_repr_svg(tmp_path):
    d = Diagram(check("specs/vgg.arch", "vgg11").graph, depth=1)
    assert d.render(tmp_path / "x.pdf").read_bytes().startswith(b"%PDF")
    assert ET.fromstring(d._repr_svg_()).tag == f"{SVG}svg"


# ---- docs/googlenet.svg ---------------------------------------------------------------------------


def readme_script():
    spec = importlib.util.spec_from_file_location("readme_diagram",
                                                  ROOT / "scripts" / "readme_diagram.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_svg_is_current():
    """The committed SVG was rendered from today's DOT text (no Graphviz needed)."""
    script = readme_script()
    committed = script.OUTPUT.read_text(encoding="utf-8")
    assert script.recorded_digest(committed) == script.digest(script.diagram().source), \
        "docs/googlenet.svg is stale: run python scripts/readme_diagram.py"


def dot_version(svg: str) -> str | None:
    m = re.search(r"Generated by graphviz version ([^\n]*)", svg)
    return m.group(1).strip() if m else None


@needs_dot
def test_readme_svg_regenerates_identically():
    script = readme_script()
    committed = script.OUTPUT.read_text(encoding="utf-8")
    fresh = script.build().decode("utf-8")
    if dot_version(fresh) != dot_version(committed):
        pytest.skip(f"committed SVG made by graphviz {dot_version(committed)}, "
                    f"this is {dot_version(fresh)}")
    assert fresh == committed, "docs/googlenet.svg is stale: run python scripts/readme_diagram.py"
