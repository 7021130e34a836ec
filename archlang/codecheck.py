"""An allow-list over generated code: it may only build a network.

The generated source is parsed and every import, call and attribute is checked against what
archlang's code generator writes (torch and the typing helpers, calls rooted at ``nn``,
``F``, ``torch``, ``self`` (an item of a list too, ``self.convs[0]``) and the generated
classes, no dunders, no ``eval``/``exec``/``open``). Used by the fuzzers and the tests; see
SECURITY.md.
"""

from __future__ import annotations

import ast
import threading

_AST_LOCK = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """``ast.parse``, one thread at a time: CPython 3.11 (3.11.7 here) can raise
    ``SystemError: AST constructor recursion depth mismatch`` when threads build Python ASTs
    at once (CPython gh-106905), and archlang generates code from any thread."""
    with _AST_LOCK:
        return ast.parse(source)


ALLOWED_ROOTS = {"self", "nn", "F", "torch", "m", "super"}
ALLOWED_CALLS = {"super", "isinstance", "getattr", "OrderedDict"}
ALLOWED_IMPORTS = {("collections", "OrderedDict"), ("typing", "NamedTuple"), ("torch", "nn")}


def unsafe_code(source: str) -> str | None:
    """Checks that generated code only builds a network: an allow-list over its AST."""
    tree = parse_python(source)
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if [a.name for a in node.names] not in (["torch"], ["torch.nn.functional"]):
                return f"import {[a.name for a in node.names]}"
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if (node.module, a.name) not in ALLOWED_IMPORTS:
                    return f"from {node.module} import {a.name}"
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Lambda, ast.AsyncFunctionDef,
                               ast.Await, ast.Yield, ast.YieldFrom, ast.Try, ast.With,
                               ast.While)):
            return f"construct {type(node).__name__}"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            is_super_init = node.attr == "__init__" and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "super"
            if not is_super_init:
                return f"dunder attribute {node.attr}"
        elif isinstance(node, ast.Call):
            root = node.func
            if isinstance(root, ast.Subscript) and isinstance(root.slice, ast.Constant):
                root = root.value  # an item of a list: self.convs[0](x)
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Call):
                continue  # e.g. super().__init__ is rooted at super()
            if not isinstance(root, ast.Name):
                return "call on an expression"
            if isinstance(node.func, ast.Name):
                if node.func.id not in ALLOWED_CALLS | classes:
                    return f"call to {node.func.id}"
                if node.func.id == "getattr" and not (
                        len(node.args) == 2 and isinstance(node.args[1], ast.Constant)
                        and _module_name(node.args[1].value)):
                    return "getattr with a computed name"
            elif root.id not in ALLOWED_ROOTS | classes:
                return f"call rooted at {root.id}"
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            return f"dunder name {node.id}"
    return None


def _module_name(value) -> bool:
    """A child module's name as a spec writes it: a number (``"0"``), or a name with ``-``
    (``"block1-0"``, RegNet's), never private (``_modules``)."""
    text = str(value)
    return text.isdigit() or (text.replace("-", "_").isidentifier() and text.isascii()
                              and not text.startswith("_"))
