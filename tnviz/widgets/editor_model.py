"""The DiagramEditor's model: the drawing's state and every action on it, in Python alone.

A drawing is tensors (a name, a canvas position in pixels, a role, its modes) and indices (each
a convolution or not, in drawing order), the output's modes, the sizes and convolution options,
and an undo history. Every mouse action of the editor is one of :class:`EditorModel`'s methods,
so a script, a test and the canvas draw the same way; the spec and the bound :class:`Diagram`
are derived from the state after every change (``_refresh``, by :mod:`~tnviz.widgets.editor_spec`).
The widget (:class:`~tnviz.widgets.diagram_editor.DiagramEditor`) adds the canvas and controls.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tnviz.core.conv_options import ConvOptions, resolve_options
from tnviz.core.diagram import Diagram
from tnviz.core.inputs import checked_inputs
from tnviz.core.serialize import Drawing, drawing_from_json, drawing_to_json, read_drawing
from tnviz.core.spec import first_free_name, is_name
from tnviz.core.spec_parser import parse_spec
from tnviz.errors import TnvizError
from tnviz.widgets.editor_spec import (
    bound_diagram,
    canvas_point,
    canvas_positions,
    conv_lengths,
    free_spot,
    spec_text,
)

__all__ = ["EditorModel", "ROLES"]

ROLES = ("input", "parameter")
TENSOR_LETTERS = "ABCDEFGHKLMNPQRSTUVWYZ"
INDEX_LETTERS = "ijklmnpqrsuvw"
HISTORY = 200


class EditorModel:
    """A drawing and the actions on it (see the module's docstring); no widget.

    Attributes: ``diagram`` (the bound Diagram, or None while the drawing is not a valid one),
    ``spec`` (its text, ``""`` while invalid), ``sizes`` (index -> size, for indices that are
    not convolutions), ``kernel_sizes`` (convolution index -> kernel length), ``signal_sizes``
    (convolution index -> signal length), ``options`` (convolution index -> its options),
    ``inputs``, ``message`` (why the drawing is not valid).

    Example:
        >>> model = EditorModel()
        >>> for name in "AB":
        ...     _ = model.add_tensor(name)
        >>> _ = model.connect("A", "B", "r")
        >>> model.spec
        'A: r, B: r ->'
    """

    def __init__(self, default_size: int = 4) -> None:
        if not isinstance(default_size, int) or isinstance(default_size, bool) or default_size < 1:
            raise TnvizError(f"default_size must be a positive integer, got {default_size!r}", token="default_size")
        self.default_size = default_size
        self.sizes: dict[str, int] = {}
        self.kernel_sizes: dict[str, int] = {}
        self.signal_sizes: dict[str, int] = {}
        self.options: dict[str, Any] = {}
        self.diagram: Diagram | None = None
        self.spec = ""
        self.message = ""
        self._tensors: list[dict[str, Any]] = []  # {name, x, y, role, modes}
        self._indices: dict[str, bool] = {}  # index -> is a convolution (insertion order = drawing order)
        self._output: list[list[str]] = []
        self._typed: tuple | None = None  # (spec, positions) as set_spec drew them
        self._output_name = ""  # a typed spec's output name ("-> Y: …"), kept
        self._conv_put_in_output: set[str] = set()  # convolutions that set_conv put in the output
        self._undo: list[dict[str, Any]] = []
        self._redo: list[dict[str, Any]] = []

    # --- the state ------------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[str, ...]:
        """The tensors marked as inputs, in drawing order."""
        return tuple(t["name"] for t in self._tensors if t["role"] == "input")

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(t["name"] for t in self._tensors)

    @property
    def index_names(self) -> tuple[str, ...]:
        return tuple(self._indices)

    def _tensor(self, name: str) -> dict[str, Any]:
        for t in self._tensors:
            if t["name"] == name:
                return t
        raise TnvizError(
            f"no tensor {name!r} in the drawing; it has {', '.join(self.tensor_names) or 'none'}", token=str(name)
        )

    def _index(self, index: str) -> str:
        if index not in self._indices:
            raise TnvizError(
                f"no index {index!r} in the drawing; it has {', '.join(self._indices) or 'none'}", token=str(index)
            )
        return index

    def _holders(self, index: str) -> list[str]:
        return [t["name"] for t in self._tensors for m in t["modes"] for i in m if i == index]

    def _in_output(self, index: str) -> bool:
        return any(index in m for m in self._output)

    def _snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "tensors": self._tensors,
                "indices": self._indices,
                "output": self._output,
                "sizes": self.sizes,
                "kernel_sizes": self.kernel_sizes,
                "signal_sizes": self.signal_sizes,
                "options": self.options,
                "conv_put_in_output": self._conv_put_in_output,
                "output_name": self._output_name,
            }
        )

    def _restore(self, state: dict[str, Any]) -> None:
        state = copy.deepcopy(state)
        self._tensors, self._indices, self._output = state["tensors"], state["indices"], state["output"]
        self.sizes, self.kernel_sizes, self.signal_sizes = state["sizes"], state["kernel_sizes"], state["signal_sizes"]
        self.options = state["options"]
        self._conv_put_in_output = state["conv_put_in_output"]
        self._output_name = state["output_name"]

    def _edit(self) -> None:
        """Record the state before a change, for undo."""
        self._undo.append(self._snapshot())
        del self._undo[:-HISTORY]
        self._redo.clear()

    # --- mouse actions, as methods -------------------------------------------------------------
    def add_tensor(
        self, name: str | None = None, x: float | None = None, y: float | None = None, role: str = "parameter"
    ) -> str:
        """Add a tensor (a click on empty space in draw mode); returns its name."""
        name = name or first_free_name(TENSOR_LETTERS, set(self.tensor_names))
        self._check_new_name(name, "tensor")
        if role not in ROLES:
            raise TnvizError(f"role {role!r} is not one of {', '.join(ROLES)}", token=str(role))
        if x is None or y is None:
            x, y = free_spot([(t["x"], t["y"]) for t in self._tensors])
        x, y = canvas_point(x, y)
        self._edit()
        self._tensors.append({"name": name, "x": float(x), "y": float(y), "role": role, "modes": []})
        self._refresh()
        return name

    def connect(self, a: str, b: str, index: str | None = None) -> str:
        """A new index shared by ``a`` and ``b`` (a drag from one to the other; ``a == b`` is a
        trace, a loop on the tensor); returns the index name."""
        ta, tb = self._tensor(a), self._tensor(b)
        index = index or self._fresh_index()
        self._check_new_name(index, "index")
        self._edit()
        self._indices[index] = False
        ta["modes"].append([index])
        tb["modes"].append([index])
        self._refresh()
        return index

    def join(self, tensor: str, index: str) -> None:
        """``tensor`` holds ``index`` too (a drag from the tensor dropped onto the index's edge,
        label or dot): a third holder makes a hyperedge; an open leg becomes an edge."""
        t = self._tensor(tensor)
        self._index(index)
        if tensor in self._holders(index):
            raise TnvizError(
                f"{tensor} already holds {index!r}; drag {tensor} onto itself for a trace", token=str(index)
            )
        self._edit()
        t["modes"].append([index])
        self._refresh()

    def add_leg(self, tensor: str, index: str | None = None, output: bool = True) -> str:
        """A new index held by ``tensor`` alone: an open leg (in the output) or, with
        ``output=False``, a summed one (a stub). A drag from a tensor onto empty space."""
        t = self._tensor(tensor)
        index = index or self._fresh_index()
        self._check_new_name(index, "index")
        self._edit()
        self._indices[index] = False
        t["modes"].append([index])
        if output:
            self._output.append([index])
        self._refresh()
        return index

    def set_conv(self, index: str, conv: bool | None = None) -> None:
        """Make ``index`` a convolution (``conv=None`` toggles). A new convolution joins the output,
        as a convolution layer's spatial index does; ``set_output`` takes it out again."""
        self._index(index)
        conv = (not self._indices[index]) if conv is None else bool(conv)
        if conv == self._indices[index]:
            return
        self._edit()
        self._indices[index] = conv
        if conv and not self._in_output(index):
            self._output.append([index])
            self._conv_put_in_output.add(index)
        elif not conv and index in self._conv_put_in_output:  # turning it off undoes what turning it on did
            self._output = [m2 for m2 in ([i for i in m if i != index] for m in self._output) if m2]
        if not conv:
            self._conv_put_in_output.discard(index)
        self._refresh()

    def set_output(self, index: str, output: bool | None = None) -> None:
        """Put ``index`` in the output or take it out (``None`` toggles)."""
        self._index(index)
        output = (not self._in_output(index)) if output is None else bool(output)
        if output == self._in_output(index):
            return
        self._edit()
        self._conv_put_in_output.discard(index)
        if output:
            self._output.append([index])
        else:
            self._output = [[i for i in m if i != index] for m in self._output]
            self._output = [m for m in self._output if m]
        self._refresh()

    def set_role(self, tensor: str, role: str | None = None) -> None:
        """Mark ``tensor`` as an input or a parameter (``None`` toggles)."""
        t = self._tensor(tensor)
        role = role or ("parameter" if t["role"] == "input" else "input")
        if role not in ROLES:
            raise TnvizError(f"role {role!r} is not one of {', '.join(ROLES)}", token=str(role))
        if role == t["role"]:
            return
        self._edit()
        t["role"] = role
        self._refresh()

    def move(self, tensor: str, x: float, y: float) -> None:
        """Move a tensor on the canvas (pixels, y down)."""
        t = self._tensor(tensor)
        x, y = canvas_point(x, y)
        if (x, y) == (t["x"], t["y"]):
            return
        self._edit()
        t["x"], t["y"] = x, y
        self._refresh()

    def delete(self, name: str) -> None:
        """Delete a tensor or an index, whichever ``name`` names (see :meth:`delete_tensor`,
        :meth:`delete_index`)."""
        if name in self.tensor_names and name in self._indices:
            raise TnvizError(f"{name!r} names both a tensor and an index; use delete_tensor or delete_index",
                             token=name)  # fmt: skip
        if name in self._indices:
            self.delete_index(name)
        elif name in self.tensor_names:
            self.delete_tensor(name)
        else:
            raise TnvizError(f"nothing named {name!r} in the drawing", token=str(name))

    def delete_tensor(self, name: str) -> None:
        """Delete a tensor; the indices nothing else holds go with it."""
        self._tensor(name)
        self._edit()
        self._tensors = [t for t in self._tensors if t["name"] != name]
        for index in [i for i in self._indices if not self._holders(i)]:
            self._drop_index(index)
        self._refresh()

    def delete_index(self, index: str) -> None:
        """Delete an index from every tensor that holds it and from the output."""
        self._index(index)
        self._edit()
        self._drop_index(index)
        self._refresh()

    def _drop_index(self, index: str) -> None:
        del self._indices[index]
        for t in self._tensors:
            t["modes"] = [m2 for m2 in ([i for i in m if i != index] for m in t["modes"]) if m2]
        self._output = [m2 for m2 in ([i for i in m if i != index] for m in self._output) if m2]
        for table in (self.sizes, self.kernel_sizes, self.signal_sizes, self.options):
            table.pop(index, None)
        self._conv_put_in_output.discard(index)

    def rename(self, old: str, new: str) -> None:
        """Rename a tensor or an index (whichever ``old`` names)."""
        if old in self.tensor_names and old in self._indices:
            raise TnvizError(f"{old!r} names both a tensor and an index; use rename_tensor or rename_index", token=old)
        if old in self._indices:
            self.rename_index(old, new)
        else:
            self.rename_tensor(old, new)

    def rename_tensor(self, old: str, new: str) -> None:
        """Rename tensor ``old`` to ``new`` (an identifier no tensor or index uses)."""
        t = self._tensor(old)
        if new == old:
            return
        self._check_new_name(new, "tensor")
        self._edit()
        t["name"] = new
        self._refresh()

    def rename_index(self, old: str, new: str) -> None:
        """Rename index ``old`` to ``new`` everywhere (its sizes and convolution options follow)."""
        self._index(old)
        if new == old:
            return
        self._check_new_name(new, "index")
        self._edit()
        self._rename_index(old, new)
        self._refresh()

    def _rename_index(self, old: str, new: str) -> None:
        self._indices = {(new if i == old else i): c for i, c in self._indices.items()}
        for t in self._tensors:
            t["modes"] = [[new if i == old else i for i in m] for m in t["modes"]]
        self._output = [[new if i == old else i for i in m] for m in self._output]
        for table in (self.sizes, self.kernel_sizes, self.signal_sizes, self.options):
            if old in table:
                table[new] = table.pop(old)
        if old in self._conv_put_in_output:
            self._conv_put_in_output.discard(old)
            self._conv_put_in_output.add(new)

    def set_modes(self, tensor: str, text: str) -> None:
        """Reorder and group a tensor's indices, as written in a spec: ``"b (s1 s2) x y"``.
        ``"NewName: …"`` renames it too. The indices must be the ones it holds."""
        t = self._tensor(tensor)
        held = sorted(i for m in t["modes"] for i in m)
        word = text.strip()
        if ":" not in word and is_name(word) and word not in held:  # a bare name renames
            self.rename_tensor(tensor, word)
            return
        name, modes = self._parse_modes(text, tensor)
        if sorted(i for m in modes for i in m) != held:
            raise TnvizError(
                f"{text!r} must list the indices {tensor} holds, each once per occurrence: {' '.join(held) or 'none'}",
                token=text,
            )
        if name != tensor:
            self._check_new_name(name, "tensor")
        self._edit()
        t["name"], t["modes"] = name, modes
        self._refresh()

    def set_output_modes(self, text: str) -> None:
        """Order and group the output's indices, as after ``->`` in a spec: ``"b (t1 t2) x y"``.
        Indices named here join the output; the others leave it. ``"Y: b t"`` names the output too."""
        text = text.strip().removeprefix("->").strip()
        name = self._output_name
        if ":" in text:
            name, text = (part.strip() for part in text.split(":", 1))
            if name and not is_name(name):
                raise TnvizError(f"output name {name!r} is not an identifier", token=name)
        _, modes = self._parse_modes(text, "T")
        seen: set[str] = set()
        for i in (i for m in modes for i in m):
            self._index(i)
            if i in seen:
                raise TnvizError(f"the output holds {i!r} twice; an output index appears once", token=i)
            seen.add(i)
        self._edit()
        self._output, self._output_name = modes, name
        self._refresh()

    def _parse_modes(self, text: str, name: str) -> tuple[str, list[list[str]]]:
        body = text.strip()
        if ":" in body:
            name, body = (part.strip() for part in body.split(":", 1))
        try:
            parsed = parse_spec(f"{name}: {body} -> ")
        except TnvizError as err:
            raise TnvizError(f"cannot read {text!r}: {err.message}", token=text) from None
        return (name, [list(m) for m in parsed.operands[0].modes])

    def set_size(self, index: str, size: int, kernel: int | None = None) -> None:
        """Set an index's size; for a convolution, ``size`` is the signal's length and
        ``kernel`` the kernels' length."""
        self._index(index)
        for what, value in (("size", size), ("kernel", kernel)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise TnvizError(f"{what} of {index!r} must be a positive integer, got {value!r}", token=index)
        if kernel is not None and not self._indices[index]:
            raise TnvizError(f"{index!r} is not a convolution: it has no kernel length", token=index)
        self._edit()
        self._set_size(index, size, kernel)
        self._refresh()

    def _set_size(self, index: str, size: int, kernel: int | None) -> None:
        if self._indices[index]:
            self.signal_sizes[index] = size
            if kernel is not None:
                self.kernel_sizes[index] = kernel
        else:
            self.sizes[index] = size

    def set_conv_options(self, index: str, padding: int | None = None, stride: int | None = None) -> None:
        """Set a convolution index's padding (on both sides) and stride, as ``F.conv``'s (undoable)."""
        self._index(index)
        if not self._indices[index]:
            raise TnvizError(f"{index!r} is not a convolution: it has no padding or stride", token=index)
        given = {"padding": {index: padding} if padding is not None else None}
        given["stride"] = {index: stride} if stride is not None else None
        options = resolve_options((index,), {index: self.options.get(index, ConvOptions())}, given)
        self._edit()
        self.options[index] = options[index]
        self._refresh()

    def _edit_index_text(self, index: str, text: str) -> None:
        """``r``, ``r=6`` or (a convolution) ``x=32:3``: rename and/or resize an index in place,
        as one change (one undo step); nothing changes when any part is refused."""
        self._index(index)
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=\s*(\d+)\s*(?::\s*(\d+))?)?\s*", text)
        if not m:
            raise TnvizError(f"cannot read {text!r}: expected name, name=size or, for a convolution, name=size:kernel",
                             token=text)  # fmt: skip
        name, size, kernel = m.group(1), m.group(2), m.group(3)
        if name != index:
            self._check_new_name(name, "index")
        if kernel is not None and not self._indices[index]:
            raise TnvizError(f"{index!r} is not a convolution: it has no kernel length", token=index)
        if size is not None and int(size) < 1:
            raise TnvizError(f"size of {index!r} must be a positive integer, got {size}", token=index)
        if kernel is not None and int(kernel) < 1:
            raise TnvizError(f"kernel of {index!r} must be a positive integer, got {kernel}", token=index)
        self._edit()
        if name != index:
            self._rename_index(index, name)
        if size is not None:
            self._set_size(name, int(size), int(kernel) if kernel else None)
        self._refresh()

    def clear(self) -> None:
        """Empty the canvas (undoable)."""
        if not self._tensors:
            return
        self._edit()
        self._tensors, self._indices, self._output, self._output_name = [], {}, [], ""
        self.sizes, self.kernel_sizes, self.signal_sizes, self.options = {}, {}, {}, {}
        self._conv_put_in_output = set()
        self._refresh()

    def undo(self) -> None:
        """Undo the last change (of the mouse or a method)."""
        if self._undo:
            self._redo.append(self._snapshot())
            self._restore(self._undo.pop())
            self._refresh()

    def redo(self) -> None:
        """Redo what ``undo`` undid."""
        if self._redo:
            self._undo.append(self._snapshot())
            self._restore(self._redo.pop())
            self._refresh()

    def _fresh_index(self) -> str:
        return first_free_name(INDEX_LETTERS, set(self._indices) | set(self.tensor_names))

    def _check_new_name(self, name: str, what: str) -> None:
        if not isinstance(name, str) or not is_name(name):
            raise TnvizError(f"{what} name {name!r} is not an identifier (a letter or _, then letters, digits, _)",
                             token=str(name))  # fmt: skip
        if name in self.tensor_names or name in self._indices:
            kind = "tensor" if name in self.tensor_names else "index"
            raise TnvizError(f"the drawing already has a {kind} named {name!r}", token=name)

    # --- the spec, both ways --------------------------------------------------------------------
    def build_spec(self) -> str:
        """The spec of the drawing (raises TnvizError while it is not a valid one)."""
        conv = [i for i, c in self._indices.items() if c]
        return spec_text(self._tensors, self._output, self._output_name, conv)

    def set_spec(
        self,
        spec: str | Diagram,
        sizes: Mapping[str, Any] | None = None,
        inputs: Sequence[str] | None = None,
        **conv_options: Any,
    ) -> str:
        """Draw a typed spec or a Diagram — one from a template or code in (``tnviz.from_einsum``,
        ``from_tensorly(…).diagram``) — with positions from tnviz's layout, in the picture's
        orientation. Sizes and convolution options are kept; ``inputs`` marks input tensors."""
        if isinstance(spec, Diagram):
            diagram = spec.bind(sizes) if sizes else spec
            diagram = diagram.with_options(**conv_options) if conv_options else diagram
            spec = diagram.to_spec()
        else:
            diagram = Diagram.parse(spec, sizes=sizes, **conv_options)
        if diagram.has_ellipsis:
            raise TnvizError("the editor draws named indices; write out what '...' stands for", token="...")
        inputs = () if inputs is None else checked_inputs(inputs, diagram.tensor_names, repr(spec))
        pts = canvas_positions(diagram)
        self._edit()
        self._tensors = [
            {
                "name": op.name,
                "x": p[0],
                "y": p[1],
                "role": "input" if op.name in (inputs or ()) else "parameter",
                "modes": [list(m) for m in op.modes],
            }
            for op, p in zip(diagram.tensors, pts)
        ]
        conv = set(diagram.conv)
        self._indices = {i: i in conv for i in diagram.index_names}
        self._output = [list(m) for m in diagram.output.modes]
        self._output_name = diagram.output.name if diagram.output.name != "out" else ""
        self.options = dict(diagram.options)
        self._conv_put_in_output = set()
        self.sizes = {i: n for i, n in diagram.sizes.items() if i not in conv}
        self.signal_sizes, self.kernel_sizes = conv_lengths(diagram)
        self._typed = None
        self._refresh()
        self._typed = (self.spec, self._positions())
        return spec

    def _positions(self) -> tuple:
        return tuple((t["name"], t["x"], t["y"]) for t in self._tensors)

    def to_module(self, inputs: Sequence[str] | None = None) -> Any:
        """A trainable :class:`tnviz.TensorNetwork` of the drawing: its inputs are ``inputs``, or
        else the tensors marked as inputs; the other tensors are its parameters.

        Raises:
            TnvizError: the drawing is not a valid diagram, or nothing says which tensors are inputs.
        """
        from tnviz.execute.module import TensorNetwork

        if self.diagram is None:
            raise TnvizError(f"the drawing is not a valid diagram yet: {self.message}", token="diagram")
        if inputs is None:
            if not self.inputs:
                raise TnvizError(
                    "no tensor is marked as an input: mark one in role mode (click it: it turns blue) "
                    "or pass inputs=(...); inputs=() makes a module whose tensors are all parameters",
                    token="inputs",
                )
            inputs = self.inputs
        inputs = checked_inputs(inputs, self.tensor_names, "the drawing")
        # Only the parameters' sizes are fixed: what the inputs alone hold (a batch index, a
        # signal's length) comes from the tensors given to forward.
        structure = Diagram(self.diagram.spec, options=self.diagram.options)
        shapes = {n: self.diagram.shape(n) for n in self.tensor_names if n not in inputs}
        return TensorNetwork(structure.bind(shapes=shapes), inputs=inputs)

    def _refresh(self) -> None:
        """The spec and the bound diagram from the state, after every change (a view shows them)."""
        try:
            spec = self.build_spec()
            diagram = bound_diagram(
                spec, self.options, self.sizes, self.signal_sizes, self.kernel_sizes, self.default_size
            )
        except TnvizError as err:
            self.diagram, self.spec, self.message = None, "", err.message
        else:
            self.diagram, self.spec, self.message = diagram, spec, ""

    # --- files ----------------------------------------------------------------------------------
    def to_drawing(self) -> Drawing:
        """The drawing: the diagram, each tensor's canvas position and the inputs."""
        if self.diagram is None:
            raise TnvizError(f"the drawing is not a valid diagram yet: {self.message}", token="diagram")
        return Drawing(self.diagram, {t["name"]: (t["x"], t["y"]) for t in self._tensors}, self.inputs)

    def to_json(self) -> str:
        """The drawing as versioned JSON (what the download link holds; :meth:`load_json` reads it)."""
        return drawing_to_json(self.to_drawing())

    def load_json(self, text: str | bytes) -> None:
        """Open a drawing saved by :meth:`to_json` (or a diagram saved by ``Diagram.save``: then
        tnviz's layout places it); undoable."""
        self._open(drawing_from_json(text))

    def _open(self, drawing: Drawing) -> None:
        self.set_spec(drawing.diagram, inputs=drawing.inputs)
        for t in self._tensors:
            if t["name"] in drawing.positions:
                t["x"], t["y"] = drawing.positions[t["name"]]
        self._refresh()

    def save(self, path: str) -> None:
        """Write the drawing to ``path`` (JSON, atomically)."""
        from tnviz.render import save_bytes

        save_bytes(path, (self.to_json() + "\n").encode())

    def load(self, path: str) -> None:
        """Open the drawing (or diagram) in the JSON file ``path``."""
        self._open(read_drawing(path))
