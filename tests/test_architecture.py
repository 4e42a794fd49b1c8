"""The package's layers import downwards only (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tnviz"

# Which top-level parts of tnviz each part may import.
ALLOWED = {
    "errors": set(),
    "tables": set(),
    "provenance": set(),
    "core": {"errors", "tables"},
    "execute": {"core", "errors"},
    "render": {"core", "errors", "tables"},
    "nn": {"core", "execute", "errors", "tables"},
    "compression": {"core", "nn", "execute", "render", "errors", "tables", "provenance"},
    "experiments": {"core", "nn", "execute", "render", "compression", "errors", "tables", "provenance"},
    "widgets": {"core", "execute", "render", "nn", "compression", "gallery", "errors", "tables"},
    "gallery": {"core"},
    "paper_layers": {"core"},
    "templates": {"core"},
    "demo": None,  # the command line's helpers may use anything
    "cli": None,
    "__init__": {"core", "errors"},
}
# Imported inside a function only (never at module level): Diagram's drawing and code-out
# methods, and Diagram.compile (a compiled expression runs on torch).
LAZY_EXCEPTIONS = {
    ("core/diagram_outputs.py", "render"),
    ("core/diagram_outputs.py", "execute"),
    ("core/diagram.py", "execute"),
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(tree: ast.AST):
    """(imported tnviz part, whether at module level) for every import in a module."""
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"a relative import (from {'.' * node.level}{node.module or ''}): write it absolute")
        if isinstance(node, ast.ImportFrom) and node.module == "tnviz":  # from tnviz import nn, ...
            names = [f"tnviz.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tnviz" and len(parts) > 1:
                yield parts[1], id(node) in top


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    part = _part(path)
    allowed = ALLOWED[part]
    if allowed is None:
        return
    rel = str(path.relative_to(PACKAGE))
    for target, at_top in _imports(ast.parse(path.read_text())):
        if target == part or target in allowed:
            continue
        assert (rel, target) in LAZY_EXCEPTIONS and not at_top, f"{rel} imports tnviz.{target}, which sits above it"


def test_every_part_is_placed():
    parts = {_part(p) for p in MODULES}
    assert parts <= set(ALLOWED), parts - set(ALLOWED)


def test_every_form_of_import_is_seen():
    source = (
        "from tnviz import nn\nimport tnviz.core.diagram\nfrom tnviz.render import scene\n"
        "def f():\n    from tnviz import widgets\n"
    )
    assert sorted(_imports(ast.parse(source))) == [("core", True), ("nn", True), ("render", True), ("widgets", False)]
    with pytest.raises(AssertionError, match="relative import"):
        list(_imports(ast.parse("from . import layers\n")))
