"""Read a Diagram back from its plain-data (JSON) form, strictly: data only, unknown fields refused.
A drawing (the editor's file: the diagram, where each tensor sits and which are inputs) wraps it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from tnviz.core.conv_options import check_positive
from tnviz.core.diagram import JSON_FORMAT, JSON_VERSION, Diagram
from tnviz.core.spec import modes_text
from tnviz.errors import TnvizError

__all__ = [
    "diagram_from_dict",
    "check_nesting",
    "Drawing",
    "drawing_to_json",
    "drawing_from_json",
    "read_drawing",
    "load_json_text",
    "MAX_JSON_CHARS",
    "MAX_DEPTH",
    "MAX_TENSORS",
    "DRAWING_FORMAT",
    "DRAWING_VERSION",
]

MAX_JSON_CHARS = 1_000_000  # a diagram of 1,000 tensors is ~100 kB
MAX_DEPTH = 8  # a diagram's JSON nests 5 deep; deeper is not ours
MAX_TENSORS = 1024


def check_nesting(text: str | bytes | bytearray) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH before parsing it (a linear scan; strings skipped)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise TnvizError(f"not a tnviz diagram: JSON nested deeper than {MAX_DEPTH} levels", token=ch)
        elif ch in "]}":
            depth -= 1


_TOP_FIELDS = {"format", "version", "tensors", "output", "conv", "sizes", "conv_sizes", "options"}


def _require(condition: bool, message: str, token: str) -> None:
    if not condition:
        raise TnvizError(f"not a tnviz diagram: {message}", token=token)


def _modes(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    _require(isinstance(value, list), f"{where} modes must be a list of lists of index names", where)
    modes = []
    for mode in value:
        _require(
            isinstance(mode, list) and mode and all(isinstance(i, str) for i in mode),
            f"{where} has a mode {mode!r}; expected a non-empty list of index names",
            where,
        )
        modes.append(tuple(mode))
    return tuple(modes)


def diagram_from_dict(data: Any) -> Diagram:
    """Build a Diagram from :meth:`Diagram.to_dict` output, re-validating everything.

    The structure is printed back to a spec and parsed again, so JSON input passes the
    very checks a typed spec does.
    """
    _require(isinstance(data, dict), "expected a JSON object", type(data).__name__)
    unknown = set(data) - _TOP_FIELDS
    _require(not unknown, f"unknown field(s) {sorted(unknown)}; expected {sorted(_TOP_FIELDS)}", str(sorted(unknown)))
    _require(data.get("format") == JSON_FORMAT, f"'format' must be {JSON_FORMAT!r}", str(data.get("format")))
    _require(
        data.get("version") == JSON_VERSION, f"unsupported version {data.get('version')!r}", str(data.get("version"))
    )
    tensors = data.get("tensors")
    _require(isinstance(tensors, list) and tensors, "'tensors' must be a non-empty list", "tensors")
    _require(len(tensors) <= MAX_TENSORS, f"{len(tensors)} tensors; at most {MAX_TENSORS} are read", "tensors")
    parts = []
    for t in tensors:
        _require(isinstance(t, dict) and set(t) == {"name", "modes"}, f"bad tensor entry {t!r}", "tensors")
        _require(isinstance(t["name"], str), f"bad tensor name {t['name']!r}", str(t["name"]))
        parts.append(f"{t['name']}: {modes_text(_modes(t['modes'], t['name']))}")
    output = data.get("output")
    _require(isinstance(output, dict) and set(output) == {"name", "modes"}, "bad 'output' entry", "output")
    _require(isinstance(output["name"], str), "bad output name", str(output["name"]))
    conv = data.get("conv", [])
    _require(isinstance(conv, list) and all(isinstance(c, str) for c in conv), "'conv' must be a list of names", "conv")
    head = "" if output["name"] == "out" else f"{output['name']}: "
    text = ", ".join(parts) + f" -> {head}{modes_text(_modes(output['modes'], 'output'))}"
    if conv:
        text += " | " + " ".join(conv)
    diagram = Diagram.parse(text)

    options = data.get("options", {})
    _require(isinstance(options, dict), "'options' must be an object", "options")
    per_option: dict[str, dict[str, Any]] = {}
    for index, opts in options.items():
        _require(isinstance(opts, dict), f"options of {index!r} must be an object", index)
        for key, value in opts.items():
            per_option.setdefault(key, {})[index] = tuple(value) if isinstance(value, list) else value
    if per_option:
        diagram = diagram.with_options(**per_option)

    sizes = data.get("sizes", {})
    _require(isinstance(sizes, dict), "'sizes' must be an object", "sizes")
    conv_sizes = data.get("conv_sizes", {})
    _require(isinstance(conv_sizes, dict), "'conv_sizes' must be an object", "conv_sizes")
    lengths: dict[tuple[str, str], int] = {}
    for tensor, per_index in conv_sizes.items():
        _require(isinstance(per_index, dict), f"conv_sizes of {tensor!r} must be an object", str(tensor))
        for index, value in per_index.items():
            _require(index in diagram.conv, f"conv_sizes names {index!r}, not a convolution index", str(index))
            _require(
                tensor in diagram.holders(index), f"conv_sizes: tensor {tensor!r} does not hold {index!r}", str(tensor)
            )
            lengths[(tensor, index)] = check_positive(value, f"length of {index!r} in {tensor!r}", str(index))
    # bind() checks the sizes against each other and the convolution lengths.
    return Diagram(diagram.spec, {}, lengths, diagram.options).bind(sizes)


DRAWING_FORMAT = "tnviz.drawing"
DRAWING_VERSION = 1
_DRAWING_FIELDS = {"format", "version", "diagram", "positions", "inputs"}


@dataclass(frozen=True)
class Drawing:
    """A diagram as drawn: the Diagram, each tensor's position (canvas pixels, y down) and the
    tensors marked as inputs."""

    diagram: Diagram
    positions: dict[str, tuple[float, float]]
    inputs: tuple[str, ...]


def drawing_to_json(drawing: Drawing) -> str:
    """The drawing as versioned JSON (:func:`drawing_from_json` reads it back)."""
    return json.dumps(
        {
            "format": DRAWING_FORMAT,
            "version": DRAWING_VERSION,
            "diagram": drawing.diagram.to_dict(),
            "positions": {name: [float(x), float(y)] for name, (x, y) in drawing.positions.items()},
            "inputs": list(drawing.inputs),
        },
        indent=2,
    )


def load_json_text(text: Any) -> Any:
    """JSON text parsed as data (never evaluated), within ``MAX_JSON_CHARS`` and ``MAX_DEPTH``."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise TnvizError(
            f"not a tnviz diagram: expected JSON text, got {type(text).__name__}", token=type(text).__name__
        )
    if len(text) > MAX_JSON_CHARS:
        raise TnvizError(
            f"not a tnviz diagram: {len(text):,} characters; at most {MAX_JSON_CHARS:,} are read",
            token=str(text)[:40],
        )
    check_nesting(text)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError) as err:
        excerpt = str(text)[:40]
        raise TnvizError(f"not a tnviz diagram: bad JSON ({err}) in {excerpt!r}", token=excerpt) from None


def read_drawing(path: str) -> Drawing:
    """The drawing (or plain diagram) in the JSON file ``path``; an error names the path."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(MAX_JSON_CHARS + 1)  # one more than is read: an oversized file is refused
    except OSError as err:
        raise TnvizError(f"cannot read {path!r}: {err.strerror or err}", token=str(path)) from None
    try:
        return drawing_from_json(text)
    except TnvizError as err:
        raise TnvizError(f"{path}: {err.message}", token=err.token) from None


def drawing_from_json(text: str | bytes | bytearray) -> Drawing:
    """Read a drawing, or a plain diagram file (then no positions, no inputs), strictly: a file of
    another version is refused naming that version.

    Example:
        >>> d = Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4})
        >>> back = drawing_from_json(drawing_to_json(Drawing(d, {"A": (10, 20), "B": (90, 20)}, ("A",))))
        >>> back.diagram == d, back.positions["B"], back.inputs
        (True, (90.0, 20.0), ('A',))
    """
    data = load_json_text(text)
    if isinstance(data, dict) and data.get("format") != DRAWING_FORMAT:
        return Drawing(diagram_from_dict(data), {}, ())
    _require(isinstance(data, dict), "expected a JSON object", type(data).__name__)
    version = data.get("version")  # first: a newer file may hold fields this reader does not know
    _require(
        type(version) is int and version == DRAWING_VERSION,
        f"a drawing of version {version!r}; this tnviz reads version {DRAWING_VERSION}",
        str(version),
    )
    unknown = set(data) - _DRAWING_FIELDS
    _require(not unknown, f"unknown field(s) {sorted(unknown)} in a drawing", str(sorted(unknown)))
    diagram = diagram_from_dict(data.get("diagram"))
    names = set(diagram.tensor_names)
    positions = data.get("positions", {})
    _require(isinstance(positions, dict), "'positions' must be an object", "positions")
    placed: dict[str, tuple[float, float]] = {}
    for name, point in positions.items():
        _require(name in names, f"a position for {name!r}, which is not a tensor of the diagram", str(name))
        _require(
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in point),
            f"position of {name!r} must be [x, y], got {point!r}",
            str(name),
        )
        placed[name] = (float(point[0]), float(point[1]))
    inputs = data.get("inputs", [])
    _require(
        isinstance(inputs, list) and all(isinstance(i, str) and i in names for i in inputs),
        f"'inputs' must name tensors of the diagram, got {inputs!r}",
        "inputs",
    )
    _require(len(set(inputs)) == len(inputs), f"'inputs' names a tensor twice: {inputs!r}", "inputs")
    return Drawing(diagram, placed, tuple(inputs))
