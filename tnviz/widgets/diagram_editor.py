"""DiagramEditor: draw any diagram of the spec language with the mouse; get its spec, cost,
picture and trainable module.

The drawing's state lives in Python, in :class:`~tnviz.widgets.editor_model.EditorModel`, which
this widget extends with the canvas, the controls and the pictures: the canvas
(``diagram_editor.js``) only shows the state and sends what the mouse did as actions
(``add_tensor``, ``connect``, ``join``, …), which run the same public methods a script or a test
calls. So every click has a Python equivalent, undo and redo cover both, and the spec is always
derived from one state.
"""

from __future__ import annotations

import base64
import copy
import html
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import ipywidgets as W
import traitlets

from tnviz.core.conv_options import ConvOptions
from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.layout import drawing_graph
from tnviz.widgets._common import add_classes, diagram_svg, error_html
from tnviz.widgets.editor_model import ROLES, EditorModel
from tnviz.widgets.editor_spec import DEFAULT_KERNEL, DEFAULT_SIGNAL, PIXELS_PER_UNIT
from tnviz.widgets.editor_templates import TEMPLATES, build_template

EMPTY_HINT = "Click the canvas to add a tensor, or type a spec below, or insert a template."
# What the "code" menu writes the drawing as (render/code.py and the TikZ painter)
CODE_TARGETS = ("none", "torch module", "opt_einsum call", "quimb", "TikZ")

__all__ = ["DiagramEditor", "EditorCanvas", "ROLES", "PIXELS_PER_UNIT"]

#: pixels between hubs of indices that join the same tensors
HUB_SPREAD = 34.0


class EditorCanvas(anywidget.AnyWidget):
    """The drawing surface (front end in ``diagram_editor.js``).

    Synced state, written by Python only: ``tensors`` ``[{name, x, y, role, modes}]``,
    ``edges`` ``[{index, ends, out, conv}]`` (``ends`` lists each holder once per occurrence,
    so a trace holds its tensor twice), ``labels`` ``{index: "i=4"}`` and ``message``. The front
    end sends ``{"action": name, ...}`` messages for what the mouse did."""

    _esm = pathlib.Path(__file__).with_name("diagram_editor.js")
    tensors = traitlets.List(traitlets.Dict()).tag(sync=True)
    edges = traitlets.List(traitlets.Dict()).tag(sync=True)
    labels = traitlets.Dict().tag(sync=True)
    output = traitlets.List(traitlets.List()).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)


class DiagramEditor(EditorModel, W.VBox):
    """Draw a diagram with the mouse, or type its spec; both stay in step.

    Mouse (toolbar mode **draw**): click empty space to add a tensor; drag from a tensor onto
    another to connect them by a new index, onto a tensor's own body for a trace, onto an edge,
    its label or its black dot to *join* that index (three or more holders make a hyperedge; an
    index that is also in the output is a partial outer product), or onto empty space for an
    open leg. Other modes act on a click: **move** (drag a tensor), **∗ conv** (an edge becomes
    a convolution and back), **output** (an index in or out of the output: open leg ↔ summed
    stub, edge ↔ partial outer product), **role** (a tensor is the input, in blue, or a
    parameter, in orange — all grey while none is an input: the renderer's colours), **∂ grad**
    (a tensor's gradient diagram beside the picture, with its cost; a second click hides it),
    **delete** (a tensor or an index). Double-click a tensor to rename it or reorder and group its
    indices (``X: b (s1 s2) x y``), an index's label to rename or resize it (``r=6``; a
    convolution ``x=32:3`` is signal:kernel length), empty space to edit the output
    (``-> b (t1 t2) x y``). Undo and redo (buttons, Ctrl+Z /
    Ctrl+Y) cover everything.

    Every mouse action is one of this class's methods (``add_tensor``, ``connect``, ``join``,
    ``add_leg``, ``set_conv``, ``set_output``, ``set_role``, ``delete``, ``move``, ``rename``,
    ``set_modes``, ``set_output_modes``, ``set_size``, ``show_gradient``, ``undo``, ``redo``), so a
    script draws the same way.

    Args:
        spec: a spec or a Diagram to start from (a template's, or one read by
            ``tnviz.from_einsum``; its sizes and convolution options are kept).
        sizes: sizes for ``spec``, in any form :meth:`Diagram.parse` accepts.
        inputs: the tensors that are inputs (the rest are parameters).
        default_size: the size of a new index.

    Attributes: ``diagram`` (the bound Diagram, or None while the drawing is not a valid one),
    ``spec`` (its text, ``""`` while invalid), ``sizes`` (index -> size, for indices that are
    not convolutions), ``kernel_sizes`` (convolution index -> kernel length), ``signal_sizes``
    (convolution index -> signal length), ``inputs``, ``message`` (why the drawing is not valid,
    or why the last action was refused).

    Example:
        >>> editor = DiagramEditor()
        >>> for name in "ABC":
        ...     _ = editor.add_tensor(name)
        >>> r = editor.connect("A", "B")
        >>> editor.join("C", r)
        >>> for name in "ABC":
        ...     _ = editor.add_leg(name)
        >>> editor.spec
        'A: i j, B: i k, C: i l -> j k l'
    """

    def __init__(
        self,
        spec: str | Diagram | None = None,
        sizes: Mapping[str, Any] | None = None,
        inputs: Sequence[str] | None = None,
        default_size: int = 4,
        **conv_options: Any,
    ) -> None:
        # the model's state first (the controls below read it), the widget's children at the end
        EditorModel.__init__(self, default_size)
        if not spec and (sizes or inputs or conv_options):
            raise TnvizError("sizes, inputs and convolution options go with a spec; give spec= too", token="spec")
        self.canvas = EditorCanvas()

        self.spec_box = W.Text(
            placeholder="type a spec, e.g. A: i r, B: j r, C: k r -> i j k",
            continuous_update=False,  # Enter (or leaving the box) draws it
            layout=W.Layout(width="460px"),
        )
        self.spec_box.add_class("tn-editor-spec-box")
        self.draw_button = W.Button(description="Draw spec")
        self.draw_button.add_class("tn-editor-draw-spec")
        self.draw_button.on_click(lambda _: self._guarded(self.set_spec, self.spec_box.value))
        self.spec_box.observe(self._typed_spec, names="value")
        self.index_box = W.Dropdown(description="index", options=[], layout=W.Layout(width="160px"))
        self.size_box = W.BoundedIntText(value=default_size, min=1, max=1 << 20, description="size")
        self.ksize_box = W.BoundedIntText(value=DEFAULT_KERNEL, min=1, max=1 << 20, description="kernel")
        self.padding_box = W.BoundedIntText(value=0, min=0, max=1 << 10, description="padding")
        self.stride_box = W.BoundedIntText(value=1, min=1, max=1 << 10, description="stride")
        self.index_box.observe(self._show_index, names="value")
        for box in (self.size_box, self.ksize_box):
            box.observe(self._edit_size, names="value")
        for box in (self.padding_box, self.stride_box):
            box.observe(self._edit_conv_options, names="value")
        self.cost = W.HTML()
        self.cost.add_class("tn-editor-cost")
        self.picture = W.HTML()
        self.picture.add_class("tn-editor-picture")
        self.spec_label = W.HTML()
        self.spec_label.add_class("tn-editor-spec")
        self.hint = W.HTML()
        self.hint.add_class("tn-editor-hint")
        self.gradient_of: str | None = None
        self.gradient = W.HTML(layout=W.Layout(max_width="100%"))
        self.gradient.add_class("tn-editor-gradient")
        self._syncing = False
        self.canvas.on_msg(self._on_action)
        self._template: tuple[str, Any] | None = None  # (template, the state it drew) while unedited
        self.template_box = W.Dropdown(description="template", options=list(TEMPLATES), layout=W.Layout(width="300px"))
        self.template_size = W.BoundedIntText(min=1, max=64, layout=W.Layout(width="150px"))
        self.template_bond = W.BoundedIntText(min=1, max=1024, layout=W.Layout(width="150px"))
        self.insert_button = W.Button(description="Insert")
        self.insert_button.on_click(lambda _: self._guarded(self._insert_chosen))
        self.template_box.observe(lambda _: self._show_template_numbers(), names="value")  # its defaults
        for box in (self.template_size, self.template_bond):
            box.observe(lambda _: self._resize_template(), names="value")
        self.code_box = W.Dropdown(description="code", options=list(CODE_TARGETS), layout=W.Layout(width="260px"))
        self.code_box.observe(lambda _: self._show_code(), names="value")
        self.code = W.Textarea(layout=W.Layout(width="100%", height="220px", display="none"))
        self.upload = W.FileUpload(accept=".json", multiple=False, description="Open .json")
        self.upload.observe(self._uploaded, names="value")
        self.download = W.HTML()
        add_classes(
            "tn-editor-",
            (
                (self.template_box, "template"),
                (self.template_size, "template-size"),
                (self.template_bond, "template-bond"),
                (self.insert_button, "insert"),
                (self.upload, "upload"),
                (self.download, "download"),
                (self.code_box, "code-target"),
                (self.code, "code"),
                (self.padding_box, "padding"),
                (self.stride_box, "stride"),
            ),
        )
        self._show_template_numbers()
        wrap = W.Layout(flex_flow="row wrap")
        controls = W.VBox(
            [
                W.HBox([self.spec_box, self.draw_button], layout=wrap),
                W.HBox([self.index_box, self.size_box, self.ksize_box], layout=wrap),
                W.HBox([self.padding_box, self.stride_box], layout=wrap),
                W.HBox([self.template_box, self.template_size, self.template_bond, self.insert_button], layout=wrap),
                W.HBox([self.upload, self.download, self.code_box], layout=wrap),
                self.code,
            ]
        )
        side = W.VBox([self.spec_label, self.hint, self.cost], layout=W.Layout(max_width="520px"))
        pictures = W.HBox([self.picture, self.gradient], layout=W.Layout(flex_flow="row wrap", width="100%"))
        W.VBox.__init__(self, [W.HBox([self.canvas, side], layout=W.Layout(flex_flow="row wrap")), controls, pictures])
        if spec:
            self.set_spec(spec, sizes=sizes, inputs=inputs, **conv_options)
            self._undo.clear()  # the starting drawing is where undo stops
            self._push_canvas()
        else:
            self._refresh()

    def _typed_spec(self, change: dict) -> None:
        if not self._syncing and change["new"] and change["new"] != self.spec:
            self._guarded(self.set_spec, change["new"])

    def __repr__(self) -> str:  # what a viewer without the widget's state shows
        return f"DiagramEditor({self.spec!r})" if self.spec else f"DiagramEditor(<not a valid diagram: {self.message}>)"

    def _guarded(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an action from the UI: a refused one shows its message instead of raising into the void."""
        try:
            result = action(*args, **kwargs)
        except TnvizError as err:
            self.canvas.message = err.message
            return None
        self.canvas.message = ""
        return result

    def set_spec(
        self,
        spec: str | Diagram,
        sizes: Mapping[str, Any] | None = None,
        inputs: Sequence[str] | None = None,
        **conv_options: Any,
    ) -> str:
        text = super().set_spec(spec, sizes, inputs, **conv_options)
        self._syncing = True  # the spec box shows what was drawn, without drawing it again
        self.spec_box.value = text
        self._syncing = False
        self._show()
        return text

    set_spec.__doc__ = EditorModel.set_spec.__doc__

    def _refresh(self) -> None:
        super()._refresh()
        self._push_canvas()
        self._show()

    # --- from the state to what is shown --------------------------------------------------------
    def _push_canvas(self) -> None:
        edges = []
        offsets = self.hub_offsets()
        for index, conv in self._indices.items():
            edges.append(
                {
                    "index": index,
                    "ends": self._holders(index),
                    "out": self._in_output(index),
                    "conv": conv,
                    "offset": list(offsets.get(index, (0.0, 0.0))),
                }
            )
        labels = {}
        for index, conv in self._indices.items():
            if conv:
                labels[index] = (
                    f"{index}={self.signal_sizes.get(index, DEFAULT_SIGNAL)}:"
                    f"{self.kernel_sizes.get(index, DEFAULT_KERNEL)}"
                )
            else:
                labels[index] = f"{index}={self.sizes.get(index, self.default_size)}"
        with self.canvas.hold_trait_notifications():
            self.canvas.tensors = copy.deepcopy(self._tensors)
            self.canvas.edges = edges
            self.canvas.labels = labels
            self.canvas.output = copy.deepcopy(self._output)
            self.canvas.can_undo, self.canvas.can_redo = bool(self._undo), bool(self._redo)

    def _show(self) -> None:
        indices = list(self._indices)
        if list(self.index_box.options) != indices:
            current = self.index_box.value
            self._syncing = True
            self.index_box.options = indices
            self.index_box.value = current if current in indices else (indices[-1] if indices else None)
            self._syncing = False
        self._show_index({"new": self.index_box.value})
        self._show_download()
        self._show_code()
        bare = [t["name"] for t in self._tensors if not t["modes"]]
        hint = ""
        if not self._tensors:  # nothing drawn yet: how to start, not an error
            hint = EMPTY_HINT
        elif bare:  # a click that added a tensor: say what it is and how to go on
            hint = f"{', '.join(bare)}: no index yet (a scalar); drag from it onto a tensor, an edge or empty space"
        self.hint.value = f'<span style="color:#666">{html.escape(hint)}</span>' if hint else ""
        if not self._tensors:
            self.spec_label.value = self.cost.value = self.picture.value = ""
            return
        if self.diagram is None:
            self.spec_label.value = error_html(self.message)
            self.cost.value = self.picture.value = ""
            return
        self.spec_label.value = f"<code>{html.escape(self.spec)}</code>"
        self._syncing = True
        self.spec_box.value = self.spec
        self._syncing = False
        try:
            plan = self.diagram.plan()
            self.cost.value = (
                f"{plan.flops:,} FLOPs, peak {plan.peak_elements:,} elements, approach {html.escape(plan.approach)}; "
                f"output shape {tuple(self.diagram.output_shape)}"
            )
        except TnvizError as err:
            self.cost.value = error_html(err.message)
        try:
            self.picture.value = diagram_svg(self.diagram, **self.picture_style())
        except TnvizError as err:
            self.picture.value = error_html(err.message)
        self._show_gradient()

    def show_gradient(self, tensor: str | None) -> None:
        """Show the gradient diagram of ``tensor`` (:meth:`Diagram.grad`) beside the picture, with
        what contracting it costs against the forward pass; None hides it. What a click in the
        canvas's **∂ grad** mode does. It follows the drawing until that tensor is gone."""
        if tensor is not None and tensor not in self.tensor_names:
            raise TnvizError(
                f"no tensor {tensor!r} to take the gradient of; expected one of {', '.join(self.tensor_names)}",
                token=str(tensor),
            )
        self.gradient_of = tensor
        self._show_gradient()

    def _show_gradient(self) -> None:
        from tnviz.core.grad import free_upstream_name

        name = self.gradient_of
        if name is None or self.diagram is None or name not in self.diagram.tensor_names:
            self.gradient.value = ""
            return
        upstream = free_upstream_name(self.diagram)
        try:
            grad = self.diagram.grad(name, upstream)
            flops = f"{grad.plan().flops:,} FLOPs (the forward pass: {self.diagram.plan().flops:,})"
            svg = diagram_svg(grad, highlight=[upstream], inputs=[upstream])
        except TnvizError as err:
            self.gradient.value = f"<b>∂L/∂{html.escape(name)}</b>" + error_html(err.message)
            return
        self.gradient.value = (
            f"<b>∂L/∂{html.escape(name)}</b>: <code>{html.escape(grad.to_spec())}</code><br>{flops}; "
            f"{html.escape(upstream)} (green) is the loss's gradient with respect to the output{svg}"
        )

    def hub_offsets(self) -> dict[str, tuple[float, float]]:
        """Where each index with two or more holders meets, relative to its holders' centroid
        (pixels): several indices between the same tensors are spread apart across the line
        that joins them, so none hides another. The canvas and the picture both use it."""
        pos = {t["name"]: (t["x"], t["y"]) for t in self._tensors}
        groups: dict[tuple[str, ...], list[str]] = {}
        for index in self._indices:
            holders = tuple(sorted(set(self._holders(index))))
            if len(holders) >= 2:
                groups.setdefault(holders, []).append(index)
        offsets: dict[str, tuple[float, float]] = {}
        for holders, indices in groups.items():
            (ax, ay), (bx, by) = pos[holders[0]], pos[holders[-1]]
            norm = math.hypot(bx - ax, by - ay) or 1.0
            nx, ny = -(by - ay) / norm, (bx - ax) / norm
            for k, index in enumerate(indices):
                off = (k - (len(indices) - 1) / 2) * HUB_SPREAD
                offsets[index] = (nx * off, ny * off)
        return offsets

    def picture_style(self) -> dict[str, Any]:
        """The style the picture under the canvas is drawn with: the marked inputs, and the
        canvas's arrangement pinned — except for a drawing as typed (not moved or edited since
        :meth:`set_spec`), which tnviz's layout placed on the canvas and pictures itself."""
        as_typed = self._typed == (self.spec, self._positions())
        return {"inputs": self.inputs, "pinned": None if as_typed else self.picture_positions()}

    def picture_positions(self) -> dict[str, tuple[float, float]]:
        """The tensors' canvas positions, and the junctions' (hyperedge dots, ∗ markers), in
        layout units (y up): the picture under the canvas keeps the canvas's arrangement."""
        at = {t["name"]: (t["x"] / PIXELS_PER_UNIT, -t["y"] / PIXELS_PER_UNIT) for t in self._tensors}
        pinned = dict(at)
        if self.diagram is None:
            return pinned
        offsets = self.hub_offsets()
        vertices, _, _ = drawing_graph(self.diagram)
        for vertex in vertices:
            index = vertex[1:] if vertex.startswith("#") else None
            if index is None or vertex in at:
                continue
            holders = list(dict.fromkeys(self._holders(index)))
            if not holders:  # a broadcast output index: no tensor to place it by, the layout does
                continue
            ox, oy = offsets.get(index, (0.0, 0.0))
            pinned[vertex] = (
                sum(at[h][0] for h in holders) / len(holders) + ox / PIXELS_PER_UNIT,
                sum(at[h][1] for h in holders) / len(holders) - oy / PIXELS_PER_UNIT,
            )
        return pinned

    # --- templates, files and code --------------------------------------------------------------
    def insert_template(self, name: str, size: int | None = None, bond: int | None = None) -> None:
        """Replace the drawing by a template (:data:`~tnviz.widgets.editor_templates.TEMPLATES`):
        an MPS, MPO, PEPS, tree, MERA, a layer of any format or a module of the paper, built with
        ``size`` (its length: sites, side, levels or channels) and ``bond`` (bond dimension or
        rank). Until the drawing is edited, changing the menu's numbers rebuilds it (undoable)."""
        diagram = build_template(name, size, bond)
        self.set_spec(diagram, inputs=TEMPLATES[name].inputs)
        entry = TEMPLATES[name]
        self._syncing = True  # the menu shows what was inserted; values already shown are left
        if self.template_box.value != name:  # alone, so that no box flickers through a default
            self.template_box.value = name
        for box, given, default in ((self.template_size, size, entry.size), (self.template_bond, bond, entry.bond)):
            value = max(default if given is None else given, 1)
            if box.value != value:
                box.value = value
        self._syncing = False
        self._template = (name, self._drawn())

    def _drawn(self) -> tuple:
        """What the user sees: the bound diagram (sizes and options included), places and roles —
        a control that sets a value it already has changes none of it."""
        return (self.diagram, self._positions(), self.inputs)

    def _insert_chosen(self) -> None:
        self.insert_template(self.template_box.value, self.template_size.value, self.template_bond.value)

    def _show_template_numbers(self) -> None:
        entry = TEMPLATES[self.template_box.value]
        syncing, self._syncing = self._syncing, True
        for box, label, value, top in (
            (self.template_size, entry.size_label, entry.size, entry.size_max),
            (self.template_bond, entry.bond_label, entry.bond, entry.bond_max),
        ):
            box.description = label or ""
            box.max = max(top, 1)
            box.value = max(value, 1)
            box.layout.display = None if label else "none"
        self._syncing = syncing

    def _resize_template(self) -> None:
        if self._syncing or self._template is None or self._template != (self.template_box.value, self._drawn()):
            return  # no template inserted, another chosen, or the drawing edited (sizes, places) since
        self._guarded(self._insert_chosen)

    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        content = files[0]["content"]
        self._guarded(self.load_json, bytes(content))
        self.upload.value = ()

    def code_text(self, target: str) -> str:
        """The drawing as code: ``"torch module"`` (:meth:`Diagram.to_torch_source`, the marked
        inputs as ``forward``'s), ``"opt_einsum call"``, ``"quimb"`` or ``"TikZ"``."""
        if target not in CODE_TARGETS or target == "none":
            raise TnvizError(
                f"code target {target!r}; expected one of {', '.join(CODE_TARGETS[1:])}", token=str(target)
            )
        if self.diagram is None:
            raise TnvizError(f"the drawing is not a valid diagram yet: {self.message}", token="diagram")
        if target == "torch module":
            return self.diagram.to_torch_source(inputs=self.inputs or None)
        if target == "opt_einsum call":
            return self.diagram.to_einsum()
        if target == "quimb":
            return self.diagram.to_quimb_source()
        return self.diagram.to_tikz(inputs=self.inputs)

    def _show_code(self) -> None:
        target = self.code_box.value
        self.code.layout.display = "none" if target == "none" else None
        if target == "none":
            return
        try:
            self.code.value = self.code_text(target)
        except TnvizError as err:
            self.code.value = f"# {target} not written: {err.message}"

    def _show_download(self) -> None:
        if self.diagram is None:
            self.download.value = '<span style="color:#888">save: the drawing is not a valid diagram yet</span>'
            return
        data = base64.b64encode(self.to_json().encode()).decode()
        self.download.value = (
            f'<a download="diagram.json" href="data:application/json;base64,{data}" '
            'style="padding:4px 10px;border:1px solid #bbb;border-radius:2px;text-decoration:none">'
            "⤓ Save .json</a>"
        )

    # --- the controls under the canvas ----------------------------------------------------------
    def _show_index(self, change: dict) -> None:
        index = change["new"]
        conv = self._indices.get(index, False)
        for box in (self.ksize_box, self.padding_box, self.stride_box):  # a convolution's alone
            box.layout.display = None if conv else "none"
        if index not in self._indices:
            return
        self._syncing = True
        # a convolution's label x=16:3 reads signal:kernel; the boxes say so
        self.size_box.description = "signal" if conv else "size"
        if conv:
            self.size_box.value = self.signal_sizes.get(index, DEFAULT_SIGNAL)
            self.ksize_box.value = self.kernel_sizes.get(index, DEFAULT_KERNEL)
            opts = self.options.get(index, ConvOptions())
            self.padding_box.value = opts.padding[0] if isinstance(opts.padding, tuple) else 0
            self.stride_box.value = opts.stride
        else:
            self.size_box.value = self.sizes.get(index, self.default_size)
        self._syncing = False

    def _edit_conv_options(self, change: dict) -> None:
        index = self.index_box.value
        if self._syncing or not self._indices.get(index, False):
            return
        self._guarded(self.set_conv_options, index, self.padding_box.value, self.stride_box.value)

    def _edit_size(self, change: dict) -> None:
        index = self.index_box.value
        if self._syncing or index not in self._indices:
            return
        kernel = self.ksize_box.value if self._indices[index] else None
        self._guarded(self.set_size, index, self.size_box.value, kernel)

    def _on_action(self, _widget: Any, content: Mapping[str, Any], _buffers: Any = None) -> None:
        """What the mouse did, sent by the canvas."""
        action = content.get("action")
        handlers = {
            "add_tensor": lambda: self.add_tensor(x=content["x"], y=content["y"]),
            "connect": lambda: self.connect(content["a"], content["b"]),
            "join": lambda: self.join(content["tensor"], content["index"]),
            "add_leg": lambda: self.add_leg(content["tensor"]),
            "conv": lambda: self.set_conv(content["index"]),
            "output": lambda: self.set_output(content["index"]),
            "role": lambda: self.set_role(content["tensor"]),
            "gradient": lambda: self.show_gradient(
                None if content["tensor"] == self.gradient_of else content["tensor"]
            ),
            "move": lambda: self.move(content["tensor"], content["x"], content["y"]),
            "delete": lambda: self.delete(content["name"]),
            "delete_tensor": lambda: self.delete_tensor(content["tensor"]),
            "delete_index": lambda: self.delete_index(content["index"]),
            "edit_tensor": lambda: self.set_modes(content["tensor"], content["text"]),
            "edit_index": lambda: self._edit_index_text(content["index"], content["text"]),
            "edit_output": lambda: self.set_output_modes(content["text"]),
            "undo": self.undo,
            "redo": self.redo,
        }
        if action not in handlers:
            self.canvas.message = f"unknown editor action {action!r}"
            return
        try:
            self._guarded(handlers[action])
        except (KeyError, TypeError, ValueError) as err:  # a malformed message from a front end
            self.canvas.message = f"malformed editor action {action!r}: {err!r}"
            return
        if action == "move":  # the canvas moved the circle itself; make sure it shows the final state
            self._push_canvas()
