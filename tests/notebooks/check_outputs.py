"""Raw reprs a notebook reader would see: the two checks, and a command line for executed notebooks.

A reader of a notebook in JupyterLab sees the richest form of each cell's result. When that is
only ``text/plain``, an object without a display of its own shows as its repr:
``<torch._C.Generator at 0x7f…>`` after a bare ``torch.manual_seed(0)``,
``(<Figure size 640x480 with 1 Axes>, <Axes: >)``, ``[<matplotlib.lines.Line2D at 0x…>]``,
``Text(0.5, 1.0, 'title')``, ``np.float64(1.2e-07)``, or a whole dataclass.

* :func:`source_problems` reads the stored (stripped) notebooks: a cell whose last line is a bare
  call known to return such an object (``torch.manual_seed``, ``plt.plot``, ``ax.set_title``,
  ``plt.subplots``, ``tnviz.distill`` …) and isn't silenced by a trailing ``;``, and any
  ``plt.show()``. It is fast, so the test suite runs it on every notebook.
* :func:`output_problems` reads an *executed* notebook: reprs like the ones above, very long
  plain-text results or printouts, anything on stderr (warnings) and errors.

Run the notebooks headless, then check what they printed::

    mkdir -p /tmp/nbout
    for nb in notebooks/*.ipynb; do
        TNVIZ_QUICK=1 MPLBACKEND=Agg jupyter nbconvert --to notebook --execute \\
            --output /tmp/nbout/$(basename $nb) $nb
    done
    python tests/notebooks/check_outputs.py /tmp/nbout/*.ipynb

It prints one line per problem and exits with 1 when there is any. Widgets are not looked into:
what a widget shows lives in its own state, not in the cell's outputs.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from pathlib import Path

# Calls whose value IPython would print as a raw repr when the call ends a cell: the last name
# of the called function, e.g. ``torch.manual_seed`` -> "manual_seed", ``ax.set_title`` -> "set_title".
NOISY_CALLS = {
    "manual_seed": "returns a torch Generator: <torch._C.Generator at 0x…>",
    "subplots": "returns (Figure, Axes): (<Figure size …>, <Axes: >)",
    "subplot": "returns an Axes: <Axes: >",
    "add_subplot": "returns an Axes: <Axes: >",
    "add_axes": "returns an Axes: <Axes: >",
    "plot": "returns a list of lines: [<matplotlib.lines.Line2D at 0x…>]",
    "semilogx": "returns a list of lines: [<matplotlib.lines.Line2D at 0x…>]",
    "semilogy": "returns a list of lines: [<matplotlib.lines.Line2D at 0x…>]",
    "loglog": "returns a list of lines: [<matplotlib.lines.Line2D at 0x…>]",
    "scatter": "returns a PathCollection: <matplotlib.collections.PathCollection at 0x…>",
    "imshow": "returns an AxesImage: <matplotlib.image.AxesImage at 0x…>",
    "hist": "returns (counts, bins, patches) arrays",
    "bar": "returns a BarContainer: <BarContainer object of … artists>",
    "barh": "returns a BarContainer: <BarContainer object of … artists>",
    "legend": "returns a Legend: <matplotlib.legend.Legend at 0x…>",
    "colorbar": "returns a Colorbar: <matplotlib.colorbar.Colorbar at 0x…>",
    "text": "returns a Text: Text(x, y, '…')",
    "annotate": "returns an Annotation: Text(x, y, '…')",
    "title": "returns a Text: Text(0.5, 1.0, '…')",
    "suptitle": "returns a Text: Text(0.5, 0.98, '…')",
    "set_title": "returns a Text: Text(0.5, 1.0, '…')",
    "xlabel": "returns a Text: Text(0.5, 0, '…')",
    "ylabel": "returns a Text: Text(0, 0.5, '…')",
    "set_xlabel": "returns a Text: Text(0.5, 0, '…')",
    "set_ylabel": "returns a Text: Text(0, 0.5, '…')",
    "xlim": "returns a tuple of limits",
    "ylim": "returns a tuple of limits",
    "set_xlim": "returns a tuple of limits",
    "set_ylim": "returns a tuple of limits",
    "axis": "returns a tuple of limits",
    "distill": "returns a DistillResult whose repr is the whole model and its history; print(result) is a table",
    "compress": "returns (model, report) whose repr is the whole model; show the report instead",
}

# Mimetypes a notebook front end shows in preference to text/plain.
RICH = ("text/html", "text/markdown", "text/latex", "image/", "application/")  # application/: widgets, JSON

RAW_REPRS = [
    (re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>"), "an object's default repr (<… at 0x…>)"),
    (re.compile(r"<Figure size [^>]*>"), "a matplotlib Figure's repr"),
    (re.compile(r"<Axes(?:Subplot)?:[^>]*>"), "a matplotlib Axes' repr"),
    (re.compile(r"^\[?<matplotlib\."), "a matplotlib artist's repr"),
    (re.compile(r"^(?:Text|Annotation)\(.*\)$", re.S), "a matplotlib Text's repr"),
    (re.compile(r"^<\w+Container object of \d+ artists>$"), "a matplotlib container's repr"),
    (re.compile(r"^np\.\w+\(.*\)$", re.S), "a NumPy scalar's repr (np.float64(…)); print it formatted"),
    (re.compile(r"^tensor\(", re.S), "a torch tensor's repr"),
]
LONG_REPR_CHARS = 400  # a plain-text result longer than this is a dump, not a result
LONG_STREAM_LINES = 60  # a printout longer than this buries the notebook


def _cells(nb: dict) -> list[tuple[int, dict]]:
    return [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def ends_quietly(source: str) -> bool:
    """Whether the cell's last token is ``;``, which tells IPython not to display its value."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return False
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER, tokenize.DEDENT, tokenize.INDENT}
    significant = [t for t in tokens if t.type not in skip]
    return bool(significant) and significant[-1].string == ";"


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            return func.attr
        if isinstance(func, ast.Name):
            return func.id
    return None


def source_problems(nb: dict) -> list[str]:
    """Problems visible in a notebook's code alone (no need to execute it)."""
    problems = []
    for i, cell in _cells(nb):
        source = _text(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics; nothing to say about them here
            continue
        for node in ast.walk(tree):
            if _called_name(node) == "show" and "plt" in ast.unparse(node):
                problems.append(f"cell {i}: plt.show() — return the figure instead (it displays itself)")
        if not tree.body or not isinstance(tree.body[-1], ast.Expr) or ends_quietly(source):
            continue
        name = _called_name(tree.body[-1].value)
        if name in NOISY_CALLS:
            line = ast.unparse(tree.body[-1])
            problems.append(f"cell {i}: last line `{line}` {NOISY_CALLS[name]} — end it with ';' or assign it")
    return problems


def output_problems(nb: dict) -> list[str]:
    """Problems in an executed notebook's outputs."""
    problems = []
    for i, cell in _cells(nb):
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "error":
                problems.append(f"cell {i}: error {out['ename']}: {out['evalue']}")
            elif kind == "stream":
                text = _text(out["text"])
                if out["name"] == "stderr":
                    problems.append(f"cell {i}: on stderr: {text.strip()[:200]!r}")
                elif text.count("\n") > LONG_STREAM_LINES:
                    problems.append(f"cell {i}: prints {text.count(chr(10))} lines")
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                if any(m.startswith(RICH) for m in data if m != "text/plain"):
                    continue  # the front end shows the rich form
                text = _text(data.get("text/plain", "")).strip()
                for pattern, what in RAW_REPRS:
                    if pattern.search(text):
                        problems.append(f"cell {i}: {what}: {text[:120]!r}")
                        break
                else:
                    if len(text) > LONG_REPR_CHARS:
                        problems.append(f"cell {i}: a {len(text):,}-character plain-text result: {text[:80]!r}…")
    return problems


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    found = 0
    for path in paths:
        nb = json.loads(Path(path).read_text())
        executed = any(c.get("outputs") for _, c in _cells(nb))
        problems = source_problems(nb) + (output_problems(nb) if executed else [])
        found += len(problems)
        state = "" if executed else " (not executed: source checks only)"
        print(f"{path}: {len(problems) or 'no'} problem{'' if len(problems) == 1 else 's'}{state}")
        for problem in problems:
            print(f"  {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
