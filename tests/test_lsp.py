"""`archlang lsp` driven as an editor drives it: a subprocess, JSON-RPC over stdio with
Content-Length framing. The answers are checked where a user reads them (positions, shapes,
codes), and garbage must never stop the server."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="archlang lsp needs pygls (pip install 'archlang[editor]')")

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "archlang" / "zoo"
TIMEOUT = 20


class Client:
    """A minimal LSP client: requests wait for their response; notifications are kept."""

    def __init__(self, cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "archlang", "lsp"], cwd=cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.notes: list[dict] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(out.read(length)))

    def send_raw(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_raw(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def notify(self, method: str, params: dict | None = None) -> None:
        self.send({"method": method, "params": params or {}})

    def request(self, method: str, params: dict | None = None) -> dict:
        """The whole response (``result`` or ``error``)."""
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params or {}})
        return self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)

    def call(self, method: str, params: dict | None = None):
        response = self.request(method, params)
        assert "error" not in response, response
        return response["result"]

    def wait(self, match) -> dict:
        while True:
            try:
                m = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("the server did not answer") from None
            if m is None:
                raise AssertionError("the server exited: "
                                     + self.proc.stderr.read().decode(errors="replace"))
            if "method" in m and "id" in m:  # a request of the server's: answer it
                self.send({"id": m["id"], "result": None})
            elif match(m):
                return m
            else:
                self.notes.append(m)

    def diagnostics(self, uri: str) -> list[dict]:
        """The next diagnostics published for ``uri``."""
        for i, m in enumerate(self.notes):
            if (m.get("method") == "textDocument/publishDiagnostics"
                    and m["params"]["uri"] == uri):
                del self.notes[i]
                return m["params"]["diagnostics"]
        m = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                      and m["params"]["uri"] == uri)
        return m["params"]["diagnostics"]

    def close(self) -> int:
        assert self.call("shutdown") is None
        self.notify("exit")
        return self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def client():
    c = Client(ROOT)
    c.capabilities = c.call("initialize", {
        "processId": None, "rootUri": ROOT.as_uri(), "capabilities": {},
        "initializationOptions": {"network": "resnet50"}})["capabilities"]
    c.notify("initialized")
    yield c
    if c.proc.poll() is None:
        c.proc.kill()
    c.proc.wait()
    c.proc.stdout.close()
    c.proc.stderr.close()
    c.proc.stdin.close()


def where(text: str, needle: str, at: int = 0) -> dict:
    """The LSP position ``at`` characters into the first ``needle`` of ``text``."""
    offset = text.index(needle) + at
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def end_of(text: str, needle: str) -> dict:
    return where(text, needle, len(needle))


def open_doc(c: Client, path: Path, text: str | None = None) -> tuple[str, str]:
    text = path.read_text() if text is None else text
    uri = path.as_uri()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "arch",
                                                       "version": 1, "text": text}})
    return uri, text


def doc(uri: str, **more) -> dict:
    return {"textDocument": {"uri": uri}, **more}


def hints_by_position(c: Client, uri: str, text: str) -> dict[tuple[int, int], str]:
    end = text.count("\n") + 1
    hints = c.call("textDocument/inlayHint", doc(uri, range={
        "start": {"line": 0, "character": 0}, "end": {"line": end, "character": 0}}))
    return {(h["position"]["line"], h["position"]["character"]): h["label"] for h in hints}


def at(pos: dict) -> tuple[int, int]:
    return pos["line"], pos["character"]


def test_resnet_hints_hover_definition_completion_formatting(client):
    c = client
    uri, text = open_doc(c, ZOO / "resnet.arch")
    assert c.diagnostics(uri) == []

    hints = hints_by_position(c, uri, text)
    stem = "conv1: conv2d(64, 7, stride=2, padding=3, bias=false)"
    assert hints[at(end_of(text, stem))] == "-> 64 x 112 x 112"
    assert hints[at(end_of(text, "maxpool: maxpool2d(3, stride=2, padding=1)"))] \
        == "-> 64 x 56 x 56"
    layer1 = "layer1: Stage(64, layers[0], 1, bottleneck, v1, zero_init_residual, groups,\n" \
             "                  width_per_group, frozen=frozen)"
    assert hints[at(end_of(text, layer1))] == "-> 256 x 56 x 56 · 215,808 params"
    assert hints[at(end_of(text, "fc: linear(num_classes)"))] == "-> 1000"
    # a layer of a block called 16 times: each distinct shape, in order
    conv3 = "conv3: conv2d(planes * 4, 1, bias=false)"
    assert hints[at(end_of(text, conv3))] == \
        "-> 256 x 56 x 56 | 512 x 28 x 28 | 1024 x 14 x 14 | … (4 shapes)"
    # BasicBlock is not used by resnet50: no hints there
    first, last = where(text, "block BasicBlock")["line"], where(text, "block Bottleneck")["line"]
    assert not [p for p in hints if first <= p[0] < last]

    hover = c.call("textDocument/hover", doc(uri, position=where(text, stem, 9)))
    value = hover["contents"]["value"]
    assert "**conv2d**" in value and "torch.nn.Conv2d" in value
    assert "| `conv1` | 64 x 112 x 112 | 9,408 | 118,013,952 |" in value
    assert "kernel_size=7, stride=2, padding=3" in value

    hover = c.call("textDocument/hover", doc(uri, position=where(text, "layer2: Stage", 9)))
    value = hover["contents"]["value"]
    assert "block Stage(planes, blocks, stride, bottleneck" in value
    assert "| `layer2` | 512 x 28 x 28 | 1,219,584 |" in value

    # go to definition: a block call, a block parameter, a named layer
    (loc,) = c.call("textDocument/definition", doc(uri, position=where(text, "layer1: Stage", 9)))
    assert loc["uri"] == uri and loc["range"]["start"] == where(text, "Stage(planes, blocks")
    (loc,) = c.call("textDocument/definition",
                    doc(uri, position=where(text, "blocks, stride, bottleneck, v1", 1)))
    assert loc["range"]["start"] == where(text, "blocks, stride, bottleneck, v1")
    refs = c.call("textDocument/references", doc(uri, position=where(text, "block Stage", 7),
                                                 context={"includeDeclaration": True}))
    assert len(refs) == 5  # the definition and layer1..layer4

    # completion: keyword arguments of the op being called, then names anywhere
    pos = where(text, "conv1: conv2d(64, 7, ", len("conv1: conv2d(64, 7, "))
    items = {i["label"]: i for i in c.call("textDocument/completion", doc(uri, position=pos))["items"]}
    assert {"stride", "padding", "dilation", "groups", "bias"} <= set(items)
    assert items["stride"]["insertText"] == "stride="
    assert "relu" not in items
    pos = where(text, "    avgpool: adaptive_avgpool2d(1)", 4)
    items = {i["label"] for i in c.call("textDocument/completion", doc(uri, position=pos))["items"]}
    assert {"conv2d", "batchnorm", "Bottleneck", "Stage", "layers", "num_classes",
            "residual"} <= items

    # the outline: every block and network
    names = [s["name"] for s in c.call("textDocument/documentSymbol", doc(uri))]
    assert names[:6] == ["BasicBlock", "Bottleneck", "Stage", "ResNetFeatures", "ResNet",
                         "resnet18"]

    # the zoo is formatted: nothing to change; a scrambled line is laid out again
    assert c.call("textDocument/formatting", doc(uri, options={"tabSize": 4,
                                                               "insertSpaces": True})) == []
    assert c.close() == 0


def test_edits_republish_diagnostics_with_codes_and_fixes(client):
    c = client
    uri, text = open_doc(c, ZOO / "resnet.arch")
    assert c.diagnostics(uri) == []
    broken = text.replace("conv1: conv2d(64, 7", "conv1: con2d(64, 7")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": broken}]})
    (d,) = c.diagnostics(uri)
    assert d["code"] == "E010" and d["source"] == "archlang"
    assert d["range"]["start"] == where(broken, "con2d(64, 7")
    assert "did you mean `conv2d`" in d["message"]
    actions = c.call("textDocument/codeAction", doc(uri, range=d["range"],
                                                    context={"diagnostics": [d]}))
    titles = [a["title"] for a in actions]
    assert "replace `con2d` with `conv2d`" in titles
    fix = actions[titles.index("replace `con2d` with `conv2d`")]
    (edit,) = fix["edit"]["changes"][uri]
    assert edit["newText"] == "conv2d" and edit["range"] == d["range"]

    # an incremental change back: clean again; the setting picks another network
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                        "contentChanges": [{"range": d["range"], "text": "conv2d"}]})
    assert c.diagnostics(uri) == []
    c.notify("workspace/didChangeConfiguration", {"settings": {"archlang": {
        "network": "resnet18", "set": {"num_classes": 10}}}})
    assert c.diagnostics(uri) == []
    hints = hints_by_position(c, uri, text)
    layer1 = "layer1: Stage(64, layers[0], 1, bottleneck, v1, zero_init_residual, groups,\n" \
             "                  width_per_group, frozen=frozen)"
    assert hints[at(end_of(text, layer1))] == "-> 64 x 56 x 56 · 147,968 params"
    assert hints[at(end_of(text, "fc: linear(num_classes)"))] == "-> 10"
    assert c.close() == 0


def test_googlenet_first_network_and_concat(client):
    c = client
    uri, text = open_doc(c, ZOO / "googlenet.arch")
    assert c.diagnostics(uri) == []
    hints = hints_by_position(c, uri, text)  # googlenet: the first of the file's networks
    assert hints[at(end_of(text, "inception3a: Inception(64, 96, 128, 16, 32, 32)"))] \
        .startswith("-> 256 x 28 x 28 · ")
    assert hints[at(end_of(text, "maxpool1: maxpool2d(3, stride=2, ceil_mode=true)"))] \
        == "-> 64 x 56 x 56"
    hover = c.call("textDocument/hover", doc(uri, position=where(text, "aux1: InceptionAux", 9)))
    value = hover["contents"]["value"]
    assert "block InceptionAux(num_classes, dropout=0.7)" in value and "| `aux1` |" in value
    # a layer of a block: one row per instance
    hover = c.call("textDocument/hover", doc(uri, position=where(text, "bn: batchnorm", 5)))
    value = hover["contents"]["value"]
    assert "| `conv1.bn` | 64 x 112 x 112 | 128 | " in value and "eps=0.001" in value
    # an op where the chosen network has no layer (googlenet_caffe's lrn): its documentation
    hover = c.call("textDocument/hover", doc(uri, position=where(text, "lrn(", 1)))
    assert hover["contents"]["value"].startswith("**lrn** (op)")
    assert c.close() == 0


def test_broken_specs(client, tmp_path):
    c = client
    # a buffer that does not parse still gets its diagnostic
    uri, _ = open_doc(c, tmp_path / "a.arch",
                         "network n {\n    input x: [3, 32, 32]\n    conv2d(16, 3\n}\n")
    (d,) = c.diagnostics(uri)
    assert d["code"] in ("E002", "E003") and d["range"]["start"]["line"] == 3
    assert c.call("textDocument/inlayHint", doc(uri, range={
        "start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}})) == []
    assert c.call("textDocument/formatting", doc(uri, options={"tabSize": 4,
                                                               "insertSpaces": True})) == []

    # an error in a block: its instance chain as related locations
    src = ("block Down(c) {\n    conv2d(c, 7, stride=2)\n}\n\n"
           "network n {\n    input x: [3, 16, 16]\n    d1: Down(8)\n    d2: Down(8)\n"
           "    output y\n}\n")
    uri, _ = open_doc(c, tmp_path / "b.arch", src)
    (d,) = c.diagnostics(uri)
    assert d["code"] == "E022" and d["range"]["start"] == where(src, "conv2d(c, 7")
    (rel,) = d["relatedInformation"]
    assert rel["location"]["uri"] == uri
    assert rel["location"]["range"]["start"] == where(src, "Down(8)\n    output", 0)
    assert "in Down `d2`" in rel["message"]

    # a missing import names the file next to it; definition opens an import's file
    (tmp_path / "lib.arch").write_text("block Two(c) {\n    conv2d(c, 3, padding=1)\n}\n")
    src = ('import "lib.arch"\nimport "libs.arch"\n\nnetwork n {\n    input x: [3, 8, 8]\n'
           "    t: Two(4)\n    output y\n}\n")
    uri, _ = open_doc(c, tmp_path / "c.arch", src)
    (d,) = c.diagnostics(uri)
    assert d["code"] == "E040" and "did you mean `lib.arch`?" in d["message"]
    assert d["range"]["start"]["line"] == 1
    (loc,) = c.call("textDocument/definition", doc(uri, position=where(src, "lib.arch", 1)))
    assert loc["uri"] == (tmp_path / "lib.arch").resolve().as_uri()
    (loc,) = c.call("textDocument/definition", doc(uri, position=where(src, "Two(4)", 1)))
    assert loc["uri"] == (tmp_path / "lib.arch").resolve().as_uri()
    assert loc["range"]["start"] == {"line": 0, "character": 6}
    assert c.close() == 0


def test_garbage_never_stops_the_server(client, tmp_path):
    c = client
    c.send_raw(b"{ this is not json")
    c.send_raw(b'{"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover", "params": 7}')
    c.send_raw(b'[1, 2, 3]')
    assert "error" in c.request("no/suchMethod", {})
    assert "error" in c.request("textDocument/hover", {"textDocument": {}})
    uri, _ = open_doc(c, tmp_path / "g.arch", "\x00\ufffd{{{(((]]] network network ->->\n" * 50)
    assert all(d["source"] == "archlang" for d in c.diagnostics(uri))
    data = c.call("textDocument/semanticTokens/full", doc(uri))["data"]
    assert data and len(data) % 5 == 0
    far = {"line": 10_000, "character": 10_000}
    for method, params in [
        ("textDocument/hover", doc(uri, position=far)),
        ("textDocument/definition", doc(uri, position=far)),
        ("textDocument/completion", doc(uri, position=far)),
        ("textDocument/inlayHint", doc(uri, range={"start": far, "end": far})),
        ("textDocument/documentSymbol", doc(uri)),
        ("textDocument/semanticTokens/full", doc(uri)),
        ("textDocument/semanticTokens/range", doc(uri, range={"start": far, "end": far})),
        ("textDocument/semanticTokens/range", doc(uri, range={
            "start": {"line": 3, "character": 7}, "end": {"line": 1, "character": 0}})),
        ("textDocument/formatting", doc(uri, options={"tabSize": 4, "insertSpaces": True})),
        ("textDocument/hover", doc("file:///no/such/file.arch",
                                   position={"line": 0, "character": 0})),
        ("textDocument/codeAction", doc(uri, range={"start": far, "end": far},
                                        context={"diagnostics": []})),
    ]:
        c.request(method, params)  # an answer, whatever it is
    # still alive and right
    uri, text = open_doc(c, ZOO / "googlenet.arch")
    assert c.diagnostics(uri) == []
    assert c.call("textDocument/hover", doc(uri, position=where(text, "conv1: BasicConv", 9)))
    assert c.close() == 0


def decode(c: Client, text: str, data: list[int]) -> dict[tuple[int, int], tuple]:
    """Semantic tokens by position: (text, type, modifiers), names from the server's legend."""
    legend = c.capabilities["semanticTokensProvider"]["legend"]
    lines = text.split("\n")
    out = {}
    line = char = 0
    assert len(data) % 5 == 0
    for i in range(0, len(data), 5):
        dline, dchar, length, kind, mods = data[i:i + 5]
        char = char + dchar if dline == 0 else dchar
        line += dline
        names = {m for b, m in enumerate(legend["tokenModifiers"]) if mods >> b & 1}
        out[line, char] = (lines[line][char:char + length], legend["tokenTypes"][kind], names)
    return out


def test_semantic_tokens(client):
    c = client
    provider = c.capabilities["semanticTokensProvider"]
    assert provider["full"] and provider["range"]
    assert {"keyword", "function", "class", "variable", "parameter", "property", "number",
            "string", "comment", "operator"} <= set(provider["legend"]["tokenTypes"])
    uri, text = open_doc(c, ZOO / "resnet.arch")
    assert c.diagnostics(uri) == []
    tokens = decode(c, text, c.call("textDocument/semanticTokens/full", doc(uri))["data"])

    def kind(needle: str, offset: int = 0) -> tuple:
        return tokens[at(where(text, needle, offset))]

    first = text.split("\n")[0]
    assert tokens[0, 0] == (first, "comment", set())
    assert kind("block Bottleneck") == ("block", "keyword", set())
    assert kind("block Bottleneck", 6) == ("Bottleneck", "class", {"declaration"})
    assert kind("Bottleneck(planes, stride=1", 11) == ("planes", "parameter", {"declaration"})
    assert kind("let width") == ("let", "keyword", set())
    assert kind("let width", 4) == ("width", "variable", {"declaration"})
    assert kind("width_per_group // 64", 16) == ("//", "operator", set())
    assert kind("width_per_group // 64", 19) == ("64", "number", set())
    line = "conv1: conv2d(width, 1, stride=stride if v1 else 1, bias=false)"
    assert kind(line) == ("conv1", "property", {"declaration"})
    assert kind(line, 7) == ("conv2d", "function", {"defaultLibrary"})
    assert kind(line, 14) == ("width", "variable", set())
    assert kind(line, 24) == ("stride", "parameter", set())  # the op's argument
    assert kind(line, 31) == ("stride", "parameter", set())  # the block's parameter
    assert kind(line, 38) == ("if", "keyword", set())
    assert kind(line, 41) == ("v1", "parameter", set())
    assert kind(line, 57) == ("false", "keyword", set())
    assert kind("in.channels != planes * 4", 3) == ("channels", "property", set())
    assert kind("layer1: Stage(", 8) == ("Stage", "class", set())
    assert kind("use ResNet(") == ("use", "keyword", set())
    assert kind("use ResNet(", 4) == ("ResNet", "class", set())
    assert kind('"fan_out"') == ('"fan_out"', "string", set())
    assert kind("init conv2d.weight: kaiming_normal", 5) == ("conv2d", "function",
                                                            {"defaultLibrary"})
    assert kind("init conv2d.weight: kaiming_normal", 12) == ("weight", "property", set())
    assert kind("init conv2d.weight: kaiming_normal", 20)[1] == "function"
    assert kind("output logits", 7) == ("logits", "variable", {"declaration"})

    # a range: the tokens of its lines, as the whole document has them
    start, end = where(text, "block Stage")["line"], where(text, "block ResNet")["line"]
    ranged = decode(c, text, c.call("textDocument/semanticTokens/range", doc(uri, range={
        "start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}))["data"])
    assert ranged and ranged == {p: t for p, t in tokens.items() if start <= p[0] < end}

    # half-typed: the definition being edited is read from its text alone; the others, which
    # still parse, keep what the AST says
    text = text.replace("conv1: conv2d(64, 7", "conv1: conv2d((64, 7")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": text}]})
    assert c.diagnostics(uri)[0]["code"] == "E002"
    tokens = decode(c, text, c.call("textDocument/semanticTokens/full", doc(uri))["data"])
    assert kind("block Bottleneck", 6) == ("Bottleneck", "class", {"declaration"})
    assert kind("let width", 4) == ("width", "variable", {"declaration"})
    assert kind("block ResNet") == ("block", "keyword", set())
    assert kind("conv1: conv2d((64", 15) == ("64", "number", set())
    assert c.close() == 0


def test_semantic_tokens_of_mutated_specs_are_well_formed():
    """Broken buffers (mutated specs, most of which do not parse) get tokens, never an
    exception: each on one line, in order, of a type in the legend."""
    import random

    from archlang.fuzz import mutate
    from archlang.lsp import LEGEND, Reparser, analyse, semantic_tokens

    rng = random.Random(3)
    seeds = [p.read_text() for p in sorted(ZOO.glob("*.arch")) if p.stat().st_size < 6000]
    parser = Reparser()
    for _ in range(60):
        text = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            text = mutate(text, rng)
        data = semantic_tokens(analyse(text, parser=parser), None, parser)
        lines = text.split("\n")
        line = char = 0
        for i in range(0, len(data), 5):
            dline, dchar, length, kind, mods = data[i:i + 5]
            assert dline >= 0 and (dline > 0 or dchar > 0 or i == 0) and length > 0
            char = char + dchar if dline == 0 else dchar
            line += dline
            assert char + length <= len(lines[line].encode("utf-16-le")) // 2
            assert 0 <= kind < len(LEGEND.token_types) and 0 <= mods < 4


def test_symbolic_shapes_are_hinted_as_expressions():
    from archlang.lsp import analyse, inlay_hints

    text = ("network n {\n    input x: [3, H, W]\n    conv2d(8, 3, stride=2)\n"
            "    global_avgpool\n    output y\n}\n")
    hints = {h.position.line: h.label for h in inlay_hints(analyse(text))}
    assert hints == {2: "-> 8 x (H-1)//2 x (W-1)//2", 3: "-> 8 x 1 x 1"}


def test_docs_rendering_of_inlay_hints_is_the_servers():
    """docs/editors.md shows the hints of resnet.arch's ResNetFeatures block as text: the
    server's."""
    from archlang.lsp import Settings, analyse, inlay_hints

    spec = ROOT / "specs" / "resnet.arch"
    text = spec.read_text()
    by: dict[int, list] = {}
    for h in inlay_hints(analyse(text, spec, Settings("resnet50"))):
        by.setdefault(h.position.line, []).append(h)
    lines = text.splitlines()
    start = text[:text.index("block ResNetFeatures(")].count("\n")
    rendered = []
    for i in range(start, lines.index("}", start) + 1):
        line = lines[i]
        for h in sorted(by.get(i, []), key=lambda h: -h.position.character):
            c = h.position.character
            line = f"{line[:c]}  ‹{h.label}›{line[c:]}"
        rendered.append(line)
    docs = (ROOT / "docs" / "editors.md").read_text()
    assert "```text\n" + "\n".join(rendered) + "\n```" in docs
