"""DiagramEditor: draw a tensor diagram with the mouse; get its spec, cost, picture and module."""

from __future__ import annotations

import html
import pathlib
import re
from typing import Any

import anywidget
import ipywidgets as W
import traitlets

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.widgets._common import diagram_svg

__all__ = ["DiagramEditor", "EditorCanvas"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CANVAS = (560, 340)


class EditorCanvas(anywidget.AnyWidget):
    """The drawing surface (front end in ``diagram_editor.js``): tensors and edges as state."""

    _esm = pathlib.Path(__file__).with_name("diagram_editor.js")
    tensors = traitlets.List(traitlets.Dict()).tag(sync=True)
    edges = traitlets.List(traitlets.Dict()).tag(sync=True)


class DiagramEditor(W.VBox):
    """Draw a diagram: add tensors (click), connect them (drag from one to another; release on
    empty space for an open leg), mark an edge as a convolution (∗ mode, click the edge), move
    and delete; set names and sizes below. The spec, the plan's cost and the rendering update
    on every change; typing a spec draws it.

    Attributes: ``diagram`` (the bound Diagram, or None while incomplete), ``spec``, ``sizes``
    (index -> size; a convolution's kernel side is ``sizes[index + "'"]``), ``message``.

    Example:
        >>> editor = DiagramEditor("A: i j, B: j k -> i k")
        >>> editor.spec
        'A: i j, B: j k -> i k'
        >>> module = editor.to_module(inputs=("A",))  # doctest: +SKIP
    """

    def __init__(self, spec: str | None = None, default_size: int = 4) -> None:
        self.canvas = EditorCanvas()
        self.default_size = default_size
        self.sizes: dict[str, int] = {}
        self.diagram: Diagram | None = None
        self.spec = ""
        self.message = ""
        self.spec_box = W.Text(
            placeholder="type a spec, e.g. A: i j, B: j k -> i k", description="spec", layout=W.Layout(width="560px")
        )
        self.draw_button = W.Button(description="Draw spec")
        self.draw_button.on_click(lambda _: self.set_spec(self.spec_box.value))
        self.index_box = W.Dropdown(description="index", options=[])
        self.size_box = W.BoundedIntText(value=default_size, min=1, max=1 << 20, description="size")
        self.ksize_box = W.BoundedIntText(value=3, min=1, max=1 << 20, description="kernel")
        self.out_box = W.Checkbox(description="in output")
        self.rename_from = W.Dropdown(description="tensor", options=[])
        self.rename_to = W.Text(description="name", layout=W.Layout(width="180px"))
        self.rename_button = W.Button(description="Rename")
        self.rename_button.on_click(lambda _: self.rename(self.rename_from.value, self.rename_to.value))
        self.cost = W.HTML()
        self.picture = W.HTML()
        self.spec_label = W.HTML()
        self.spec_label.add_class("tn-editor-spec")
        self.picture.add_class("tn-editor-picture")
        self._syncing = False
        for box in (self.size_box, self.ksize_box, self.out_box):
            box.observe(self._edit_index, names="value")
        self.index_box.observe(self._show_index, names="value")
        self.canvas.observe(lambda c: self._refresh(), names=["tensors", "edges"])
        controls = W.VBox(
            [
                W.HBox([self.spec_box, self.draw_button]),
                W.HBox([self.index_box, self.size_box, self.ksize_box, self.out_box]),
                W.HBox([self.rename_from, self.rename_to, self.rename_button]),
            ]
        )
        super().__init__([W.HBox([self.canvas, W.VBox([self.spec_label, self.cost])]), controls, self.picture])
        if spec:
            self.set_spec(spec)
        else:
            self._refresh()

    # --- state -> spec ---------------------------------------------------------------------
    def build_spec(self) -> str:
        """The spec of the drawn diagram (raises TnvizError while it is not a valid one)."""
        tensors = self.canvas.tensors
        if not tensors:
            raise TnvizError("the canvas is empty: add a tensor", token="")
        names = [t["name"] for t in tensors]
        for name in names:
            if not _IDENT.match(name):
                raise TnvizError(f"tensor name {name!r} is not an identifier", token=name)
        operands, output, conv = [], [], []
        for t in tensors:
            name = t["name"]
            indices = [e["index"] for e in self.canvas.edges if name in e["ends"]]
            typed = t.get("indices") or []  # the order a typed spec gave; new edges go last
            indices.sort(key=lambda i: typed.index(i) if i in typed else len(typed))
            operands.append(f"{name}: {' '.join(indices)}".rstrip())
        for e in self.canvas.edges:
            if e.get("out") or e.get("conv"):
                output.append(e["index"])
            if e.get("conv"):
                conv.append(e["index"])
        spec = ", ".join(operands) + " -> " + " ".join(output)
        if conv:
            spec += " | " + " ".join(conv)
        return spec.replace(" ->  ", " -> ").rstrip()

    def _bind_sizes(self, diagram: Diagram) -> Diagram:
        conv = set(diagram.conv)
        sizes: dict[str, Any] = {}
        for e in self.canvas.edges:
            if e["index"] not in conv:
                sizes[e["index"]] = self.sizes.get(e["index"], self.default_size)
        if conv:  # convolution sizes go by tensor shape: the signal's length, the kernels' lengths
            for t in diagram.tensor_names:
                shape = []
                for i in diagram.tensor(t).indices:
                    if i in conv:
                        signal = diagram.holders(i)[0] == t
                        shape.append(self.sizes.get(i, 16) if signal else self.sizes.get(i + "'", 3))
                    else:
                        shape.append(sizes[i])
                sizes[t] = tuple(shape)
            sizes = {k: v for k, v in sizes.items() if k not in conv}
        return diagram.bind(sizes)

    def _refresh(self) -> None:
        self.rename_from.options = [t["name"] for t in self.canvas.tensors]
        indices = [e["index"] for e in self.canvas.edges]
        if list(self.index_box.options) != indices:
            self.index_box.options = indices
        try:
            spec = self.build_spec()
            diagram = self._bind_sizes(Diagram.parse(spec))
        except TnvizError as err:
            self.diagram, self.spec, self.message = None, "", err.message
            self.spec_label.value = f"<span style='color:#b00'>{html.escape(err.message)}</span>"
            self.cost.value = self.picture.value = ""
            return
        self.diagram, self.spec, self.message = diagram, spec, ""
        self.spec_label.value = f"<code>{html.escape(spec)}</code>"
        try:
            plan = diagram.plan()
            self.cost.value = (
                f"{plan.flops:,} FLOPs, peak {plan.peak_elements:,} elements, approach {html.escape(plan.approach)}; "
                f"output shape {tuple(diagram.output_shape)}"
            )
        except TnvizError as err:
            self.cost.value = f"<span style='color:#b00'>{html.escape(err.message)}</span>"
        self.picture.value = diagram_svg(diagram)

    # --- controls ---------------------------------------------------------------------------
    def _show_index(self, change: dict) -> None:
        index = change["new"]
        edge = next((e for e in self.canvas.edges if e["index"] == index), None)
        if edge is None:
            return
        self._syncing = True
        self.size_box.value = self.sizes.get(index, 16 if edge.get("conv") else self.default_size)
        self.ksize_box.value = self.sizes.get(index + "'", 3)
        self.out_box.value = bool(edge.get("out"))
        self._syncing = False

    def _edit_index(self, change: dict) -> None:
        if self._syncing or self.index_box.value is None:
            return
        index = self.index_box.value
        self.sizes[index] = self.size_box.value
        self.sizes[index + "'"] = self.ksize_box.value
        self.canvas.edges = [{**e, "out": self.out_box.value} if e["index"] == index else e for e in self.canvas.edges]
        self._refresh()

    def set_size(self, index: str, size: int, kernel: int | None = None) -> None:
        """Set an index's size (and a convolution's kernel length)."""
        if index not in [e["index"] for e in self.canvas.edges]:
            raise TnvizError(f"no index {index!r} in the drawing", token=index)
        self.sizes[index] = int(size)
        if kernel is not None:
            self.sizes[index + "'"] = int(kernel)
        self._refresh()

    def rename(self, old: str, new: str) -> None:
        """Rename a tensor."""
        if not _IDENT.match(new or ""):
            raise TnvizError(f"tensor name {new!r} is not an identifier", token=str(new))
        if new in [t["name"] for t in self.canvas.tensors]:
            raise TnvizError(f"a tensor is already named {new!r}", token=new)
        tensors = [{**t, "name": new} if t["name"] == old else t for t in self.canvas.tensors]
        edges = [{**e, "ends": [new if n == old else n for n in e["ends"]]} for e in self.canvas.edges]
        with self.canvas.hold_trait_notifications():
            self.canvas.tensors, self.canvas.edges = tensors, edges

    def set_spec(self, spec: str, sizes: dict | None = None) -> None:
        """Draw a spec in the editor (positions from tnviz's layout)."""
        from tnviz.core.layout import layout

        diagram = Diagram.parse(spec)
        if diagram.options and any(v not in (None, 0, 1, "zeros") for v in diagram.options.values()):
            pass  # convolution options are kept by the spec; the editor draws the structure
        lay = layout(diagram)
        pts = [lay.positions[n] for n in diagram.tensor_names]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
        scale = min((CANVAS[0] - 160) / span, (CANVAS[1] - 140) / span, 140)
        cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
        tensors = [
            {
                "name": n,
                "x": CANVAS[0] / 2 + scale * (p[0] - cx),
                "y": CANVAS[1] / 2 - scale * (p[1] - cy),
                "indices": list(diagram.tensor(n).indices),
            }
            for n, p in zip(diagram.tensor_names, pts)
        ]
        output, conv = list(diagram.output.indices), set(diagram.conv)
        ordered = output + [i for i in diagram.index_names if i not in output]  # edges in output order first
        edges = [{"index": i, "ends": list(diagram.holders(i)), "out": i in output, "conv": i in conv} for i in ordered]
        self.sizes = dict(sizes or {})
        with self.canvas.hold_trait_notifications():
            self.canvas.tensors, self.canvas.edges = tensors, edges
        self.spec_box.value = spec
        self._refresh()

    def to_module(self, inputs: tuple[str, ...] | None = None):
        """A trainable :class:`tnviz.TensorNetwork` of the drawn diagram."""
        from tnviz.execute.module import TensorNetwork

        if self.diagram is None:
            raise TnvizError(f"the drawing is not a valid diagram yet: {self.message}", token="diagram")
        return TensorNetwork(self.diagram, inputs=inputs)
