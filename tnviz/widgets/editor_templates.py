"""The DiagramEditor's template menu: the networks of ``tnviz.templates``, the eleven layer formats
and the paper's Fig. 7–8 modules, each built from two numbers the menu lets the user change after
insertion (a length and a bond dimension or rank)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tnviz.core.diagram import Diagram
from tnviz.core.formats import FORMATS
from tnviz.errors import TnvizError

__all__ = ["Template", "TEMPLATES", "build_template"]


@dataclass(frozen=True)
class Template:
    """One entry of the menu: what its two numbers mean (None: it takes none), their starting
    values and largest (a drawing of at most ~60 tensors, drawn in well under a second), the
    tensors that are inputs, and how to build it."""

    size_label: str | None
    bond_label: str | None
    size: int
    bond: int
    inputs: tuple[str, ...]
    build: Callable[[int, int], Diagram]
    size_max: int = 1
    bond_max: int = 1


def _networks() -> dict[str, Template]:
    from tnviz.core import templates as t

    bond = 256
    return {
        "MPS": Template("sites", "bond", 4, 2, (), lambda n, b: t.mps(n, bond=b), 48, bond),
        "MPS ring": Template("sites", "bond", 4, 2, (), lambda n, b: t.mps(n, bond=b, periodic=True), 48, bond),
        "MPO": Template("sites", "bond", 3, 2, (), lambda n, b: t.mpo(n, bond=b), 48, bond),
        "PEPS": Template("side", "bond", 3, 2, (), lambda n, b: t.peps(n, n, bond=b), 7, bond),
        "tree (TTN)": Template("levels", "bond", 2, 2, (), lambda n, b: t.ttn(n, bond=b), 5, bond),
        "MERA": Template("levels", "bond", 2, 2, (), lambda n, b: t.mera(n, bond=b), 4, bond),
        "MPS norm ⟨ψ|ψ⟩": Template("sites", "bond", 4, 2, (), lambda n, b: t.norm(t.mps(n, bond=b)), 24, bond),
    }


def _layers() -> dict[str, Template]:
    from tnviz.core.templates import layer

    def build(fmt: str) -> Callable[[int, int], Diagram]:
        return lambda channels, rank: layer(fmt, channels, channels, (3, 3), rank=rank, padding=1)

    return {f"layer: {fmt}": Template("channels", "rank", 16, 4, ("X",), build(fmt), 4096, 1024) for fmt in FORMATS}


def _figures() -> dict[str, Template]:
    from tnviz import gallery

    modules = {
        "Fig. 7a interleaved group module": gallery.fig7a_interleaved_group_module,
        "Fig. 7b interleaved group": gallery.fig7b_interleaved_group,
        "Fig. 8 bottleneck": gallery.fig8_bottleneck,
    }
    return {
        name: Template(None, None, 0, 0, ("X",), lambda _n, _b, make=make: make()) for name, make in modules.items()
    }


TEMPLATES: dict[str, Template] = {**_networks(), **_layers(), **_figures()}


def build_template(name: str, size: int | None = None, bond: int | None = None) -> Diagram:
    """The template ``name`` (a :data:`TEMPLATES` key) built with these numbers (default: its own).

    Example:
        >>> build_template("MPS", 3, 5).to_spec()
        'A1: p1 b1, A2: b1 p2 b2, A3: b2 p3 -> p1 p2 p3'
    """
    if name not in TEMPLATES:
        raise TnvizError(f"no template {name!r}; expected one of {', '.join(TEMPLATES)}", token=str(name))
    entry = TEMPLATES[name]
    size = entry.size if size is None else size
    bond = entry.bond if bond is None else bond
    for label, value, top in ((entry.size_label, size, entry.size_max), (entry.bond_label, bond, entry.bond_max)):
        if label and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= top):
            raise TnvizError(f"{name} {label}={value!r}: expected an int from 1 to {top}", token=repr(value))
    return entry.build(size, bond)
