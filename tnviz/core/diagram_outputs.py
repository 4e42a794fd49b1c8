"""What a :class:`~tnviz.core.diagram.Diagram` turns into — drawings (matplotlib, SVG, DOT,
TikZ, a notebook's picture), code (an ``opt_einsum`` call, a stand-alone PyTorch module, quimb)
and files — as methods that hand it to ``tnviz.render`` (and, for code einsum cannot write, to
``tnviz.execute``). Those packages sit above the core, so each is imported inside its method:
``import tnviz.core`` loads none of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tnviz.core.optimize import Optimize

if TYPE_CHECKING:
    from tnviz.core.diagram import Diagram

__all__ = ["DiagramOutputs"]


class DiagramOutputs:
    """The drawing and code-out methods of :class:`~tnviz.core.diagram.Diagram` (no state)."""

    __slots__ = ()

    def draw(self: Diagram, backend: str | None = None, **style: Any) -> Any:
        """Draw the diagram; see :func:`tnviz.render.draw`.

        With matplotlib (the default) it returns a Figure that a notebook displays as the last
        expression of a cell; its Axes is ``fig.ax`` (``fig, ax = d.draw()`` unpacks too).
        """
        from tnviz.render import draw

        return draw(self, backend, **style)

    def to_einsum(self: Diagram, sizes: Mapping[str, Any] | None = None, optimize: Optimize = "auto") -> str:
        """An ``opt_einsum.contract`` call with this plan's path; see :func:`tnviz.render.code.to_einsum`."""
        from tnviz.render.code import to_einsum

        return to_einsum(self, sizes, optimize)

    def to_torch_source(
        self: Diagram, inputs: Any = None, class_name: str = "Network", optimize: Optimize = "auto"
    ) -> str:
        """A stand-alone PyTorch module's source (it needs torch only): the plan's steps as
        ``torch.einsum`` calls (:func:`tnviz.render.code.to_torch_source`), or — with a
        convolution, a broadcast or a diagonal output — the engine's compiled program recorded
        for the inputs' bound shapes (:func:`tnviz.execute.traced_source.to_traced_torch_source`)."""
        from tnviz.render.code import einsum_cannot_write, to_torch_source

        if einsum_cannot_write(self) is not None and not self.has_ellipsis:
            from tnviz.execute.traced_source import to_traced_torch_source

            return to_traced_torch_source(self, inputs, class_name, optimize)
        return to_torch_source(self, inputs, class_name, optimize)

    def to_quimb_source(self: Diagram, sizes: Mapping[str, Any] | None = None, optimize: Optimize = "auto") -> str:
        """quimb code building and contracting this network; see :func:`tnviz.render.code.to_quimb_source`."""
        from tnviz.render.code import to_quimb_source

        return to_quimb_source(self, sizes, optimize)

    def to_dot(self: Diagram, **style: Any) -> str:
        """Graphviz DOT source (no graphviz needed to produce it)."""
        from tnviz.render import to_dot

        return to_dot(self, **style)

    def to_svg(self: Diagram, backend: str | None = None, **style: Any) -> str:
        """SVG text, through graphviz when present, else matplotlib."""
        from tnviz.render import to_svg

        return to_svg(self, backend, **style)

    def to_tikz(self: Diagram, **style: Any) -> str:
        """A standalone LaTeX (TikZ) document drawing the diagram."""
        from tnviz.render import to_tikz

        return to_tikz(self, **style)

    def save(self: Diagram, path: str, **style: Any) -> None:
        """Write ``path`` by its extension: ``.json`` the diagram itself (versioned, read back by
        :meth:`load`), or a drawing: svg, png, pdf, tex or dot."""
        from tnviz.render import save

        save(self, path, **style)

    def _repr_svg_(self: Diagram) -> str:
        from tnviz.render import notebook_svg

        return notebook_svg(self)
