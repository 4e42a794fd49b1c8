"""Graphviz renderer: a DOT string (no binary needed) and SVG/PNG/PDF through ``neato``.

Positions come from :mod:`tnviz.render.layout` and are pinned (``neato -n2``), so graphviz
draws our layout rather than its own.
"""

from __future__ import annotations

import shutil
import subprocess

from tnviz.errors import TnvizError
from tnviz.render.scene import COLORS, Scene

__all__ = ["to_dot", "render_dot", "graphviz_available", "IMAGE_FORMATS"]

POINTS_PER_UNIT = 60.0
IMAGE_FORMATS = ("svg", "png", "pdf")  # what graphviz writes for us
MAX_INCHES = "9,9"  # fits a notebook cell; larger drawings are scaled down


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pos(x: float, y: float) -> str:
    return f'"{x * POINTS_PER_UNIT:.2f},{y * POINTS_PER_UNIT:.2f}!"'


def to_dot(scene: Scene, name: str = "diagram") -> str:
    """The DOT text of a scene: a node per tensor, a point per hyperedge, a ∗ node per
    convolution, plaintext nodes ending the open legs, tee arrows ending the stubs."""
    lines = [
        f"graph {_q(name)} {{",
        f'  graph [splines=line, outputorder=edgesfirst, pad="0.2", size="{MAX_INCHES}"];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, fontcolor="#222222"];',
    ]
    if scene.title:
        lines.append(f'  graph [label={_q(scene.title)}, labelloc=t, fontname="Helvetica-Bold", fontsize=13];')
    for s in scene.shapes:
        width = 2 * s.radius * POINTS_PER_UNIT / 72
        if s.kind == "dot":
            attrs = f'shape=point, width={width:.3f}, color="{COLORS["dot"]}"'
        elif s.kind == "bend":
            attrs = f'shape=point, width=0.01, color="{COLORS["edge"]}"'
        elif s.kind == "conv":
            attrs = (
                f'shape=circle, fixedsize=true, width={width:.3f}, label="{s.text}", '
                f"fontsize={14 if len(s.text) == 1 else 9}, "
                f'color="{COLORS["conv"]}", fontcolor="{COLORS["conv"]}", penwidth=1.5'
            )
        else:
            attrs = (
                f"shape=circle, fixedsize=true, width={width:.3f}, label={_q(s.text)}, style=filled, "
                f'fillcolor="{COLORS[s.kind]}", color="#333333"'
            )
        lines.append(f"  {_q(s.name)} [{attrs}, pos={_pos(s.x, s.y)}];")
    # Legs end in a tiny point node, stubs in a bar (tee arrow). Labels are plaintext nodes at
    # the places the scene chose, so graphviz, matplotlib and TikZ put them in the same spots.
    for k, ln in enumerate(scene.lines):
        color = COLORS["conv"] if ln.kind == "conv" else COLORS["edge"]
        if ln.kind in ("edge", "conv"):
            lines.append(f'  {_q(ln.u)} -- {_q(ln.v or "")} [color="{color}", penwidth={ln.width:.2f}];')
            continue
        end = f"{ln.kind}{k}:{ln.index}"
        lines.append(f'  {_q(end)} [shape=point, width=0.01, color="{color}", pos={_pos(ln.x2, ln.y2)}];')
        tee = ", dir=forward, arrowhead=tee, arrowsize=0.7" if ln.kind == "stub" else ""
        lines.append(f'  {_q(ln.u)} -- {_q(end)} [color="{color}", penwidth={ln.width:.2f}{tee}];')
    for k, lb in enumerate(scene.labels):
        color = COLORS["step"] if lb.kind == "step" else COLORS["label"]
        lines.append(
            f'  {_q(f"label{k}")} [shape=plaintext, label={_q(lb.text)}, fontsize=9, fontcolor="{color}", '
            f"margin=0, width=0, height=0, pos={_pos(lb.x, lb.y)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def graphviz_available() -> bool:
    """Whether graphviz's ``neato`` binary is on the PATH."""
    return shutil.which("neato") is not None


def render_dot(dot: str, fmt: str) -> bytes:
    """Run ``neato -n2`` (positions as given) to produce ``fmt`` (svg, png or pdf)."""
    if fmt not in IMAGE_FORMATS:
        raise TnvizError(f"unknown graphviz format {fmt!r}; expected one of {', '.join(IMAGE_FORMATS)}", token=fmt)
    exe = shutil.which("neato")
    if exe is None:
        raise TnvizError(
            "graphviz's 'neato' binary is not on PATH; install graphviz (apt-get install graphviz) "
            "or draw with backend='matplotlib'",
            token="neato",
        )
    result = subprocess.run([exe, "-n2", f"-T{fmt}"], input=dot.encode(), capture_output=True, timeout=60)
    if result.returncode != 0:
        raise TnvizError(f"graphviz failed: {result.stderr.decode(errors='replace').strip()}", token="neato")
    return result.stdout
