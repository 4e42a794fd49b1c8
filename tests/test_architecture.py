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


# The only import cycles: Diagram's own public methods (the house plan names them) importing, inside
# the method, a module that builds or reads Diagrams. Take these edges away and no cycle is left, of
# module-level and function-level imports together.
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


def _module_graph(sources: dict[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level imports, function-level imports) between the modules of ``sources`` (module
    name → source), each edge to a module (``from tnviz.core import diagram`` is ``tnviz.core.diagram``,
    ``from tnviz.core.diagram import Diagram`` too). Imports under ``if TYPE_CHECKING:`` never run."""

    # ``from tnviz.compression import distill`` names the module ``compression/distill.py`` even where the
    # package's __init__ binds ``distill`` to a function of it; the package's own imports are its node's.
    def module_of(name: str) -> str:
        while name and name not in sources:
            name = name.rpartition(".")[0]
        return name

    top: dict[str, set[str]] = {}
    inside: dict[str, set[str]] = {}
    for name, source in sources.items():
        tree = ast.parse(source)
        never_run = {
            id(n)
            for statement in tree.body
            if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test)
            for branch in statement.body
            for n in ast.walk(branch)
        }
        at_top = {
            id(n)
            for statement in tree.body
            if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for n in ast.walk(statement)
        }
        top[name], inside[name] = set(), set()
        for node in ast.walk(tree):
            if id(node) in never_run:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tnviz":
                targets = {module_of(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                targets = {module_of(a.name) for a in node.names if a.name.split(".")[0] == "tnviz"}
            else:
                continue
            (top if id(node) in at_top else inside)[name].update(targets - {name, ""})
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


def _cycles(top: dict[str, set[str]], inside: dict[str, set[str]], allowed: set) -> list[tuple[str, str]]:
    """Every import edge on a cycle of the graph of both kinds of import, ``allowed`` edges taken away."""
    graph = {a: {b for b in top[a] | inside[a] if (a, b) not in allowed} for a in top}
    return sorted((a, b) for a in graph for b in graph[a] if _reaches(graph, b, a))


def test_no_import_cycle_but_diagrams_own_methods():
    top, inside = _module_graph({_module_name(p): p.read_text() for p in MODULES})
    allowed = set(DIAGRAM_METHOD_CYCLES)
    assert not _cycles(top, inside, allowed), f"an import cycle: {_cycles(top, inside, allowed)}"
    for a, b in allowed:  # each listed edge is still an import inside a method, and still needed
        assert b in inside[a] and b not in top[a], (a, b)
        assert _cycles(top, inside, allowed - {(a, b)}), f"{a} -> {b} closes no cycle now: take it off the list"


def test_the_cycle_check_reads_every_form_of_import():
    sources = {
        "tnviz.a": "from tnviz import b\nif TYPE_CHECKING:\n    from tnviz.c import C\n",
        "tnviz.b": "import tnviz.c\n",
        "tnviz.c": "def f():\n    from tnviz.a import thing\n",
    }
    top, inside = _module_graph(sources)
    assert top == {"tnviz.a": {"tnviz.b"}, "tnviz.b": {"tnviz.c"}, "tnviz.c": set()}
    assert inside == {"tnviz.a": set(), "tnviz.b": set(), "tnviz.c": {"tnviz.a"}}
    assert _cycles(top, inside, set()) == [("tnviz.a", "tnviz.b"), ("tnviz.b", "tnviz.c"), ("tnviz.c", "tnviz.a")]
    assert _cycles(top, inside, {("tnviz.c", "tnviz.a")}) == []
    typing_only = {"tnviz.a": "if TYPE_CHECKING:\n    from tnviz.c import C\n", "tnviz.c": "import tnviz.a\n"}
    assert _cycles(*_module_graph(typing_only), set()) == []  # an import under TYPE_CHECKING never runs
    assert _cycles(*_module_graph({**typing_only, "tnviz.a": "from tnviz.c import C\n"}), set()) != []
