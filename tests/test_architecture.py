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


# Function-level imports that close a cycle between modules: Diagram's own public methods
# (DESIGN.md names them) over modules that build or read Diagrams. Nothing else may.
DIAGRAM_METHOD_CYCLES = {
    ("tnviz.core.diagram", "tnviz.core.grad"): "Diagram.grad, Diagram.backward_plan",
    ("tnviz.core.diagram", "tnviz.core.serialize"): "Diagram.from_json, Diagram.load",
    ("tnviz.core.diagram", "tnviz.execute.expression"): "Diagram.compile",
    ("tnviz.core.diagram_outputs", "tnviz.render"): "Diagram.draw and its siblings",
    ("tnviz.core.diagram_outputs", "tnviz.render.code"): "Diagram.to_torch_source",
    ("tnviz.core.diagram_outputs", "tnviz.execute.traced_source"): "Diagram.to_torch_source (traced)",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level imports, function-level imports) between tnviz modules, each a name of a module
    (``from tnviz.core import diagram`` is the module ``tnviz.core.diagram``)."""
    names = {_module_name(p): p for p in MODULES}

    def module_of(name: str) -> str:
        while name not in names:
            name = name.rpartition(".")[0]
        return name

    top: dict[str, set[str]] = {}
    inside: dict[str, set[str]] = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text())
        at_top = {
            id(n)
            for statement in tree.body
            if not isinstance(statement, (ast.FunctionDef, ast.ClassDef))
            for n in ast.walk(statement)
        }
        top[name], inside[name] = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tnviz":
                targets = {module_of(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                targets = {module_of(a.name) for a in node.names if a.name.split(".")[0] == "tnviz"}
            else:
                continue
            in_typing_block = False  # `if TYPE_CHECKING:` imports never run
            for parent in tree.body:
                if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
                    in_typing_block |= any(n is node for n in ast.walk(parent))
            if not in_typing_block:
                (top if id(node) in at_top else inside)[name].update(targets - {name})
    return top, inside


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        here = stack.pop()
        if here == goal:
            return True
        stack.extend(graph.get(here, set()) - seen)
        seen |= graph.get(here, set())
    return False


def test_no_import_cycle_beyond_diagrams_methods():
    top, inside = _module_graph()
    cycles_at_top = [(a, b) for a in top for b in top[a] if _reaches(top, b, a)]
    assert not cycles_at_top, f"modules that import each other at module level: {cycles_at_top}"
    closing = {(a, b) for a in inside for b in inside[a] if _reaches(top, b, a)}
    assert closing == set(DIAGRAM_METHOD_CYCLES), (
        f"function-level imports closing a cycle beyond Diagram's methods: {closing - set(DIAGRAM_METHOD_CYCLES)}; "
        f"listed but gone: {set(DIAGRAM_METHOD_CYCLES) - closing}"
    )


def test_the_cycle_check_sees_a_cycle():
    top = {"a": {"b"}, "b": {"c"}, "c": set()}
    assert _reaches(top, "b", "c") and not _reaches(top, "c", "a")
    top["c"].add("a")
    assert _reaches(top, "c", "b")
