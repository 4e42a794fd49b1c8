"""TikZ renderer: a standalone LaTeX document that needs TikZ only."""

from __future__ import annotations

from tnviz.render.scene import COLORS, Scene

__all__ = ["to_tikz"]

_LATEX_SPECIAL = {"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}"}


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_tikz(scene: Scene) -> str:
    """A standalone ``.tex`` file drawing the scene (compile with pdflatex)."""
    out = [
        r"\documentclass[tikz,border=4pt]{standalone}",
        r"\begin{document}",
        r"\begin{tikzpicture}[x=1.6cm,y=1.6cm,font=\sffamily]",
    ]
    for name, value in COLORS.items():
        out.append(rf"\definecolor{{tnviz{name}}}{{HTML}}{{{value[1:].upper()}}}")
    for ln in scene.lines:
        color = "tnvizconv" if ln.kind == "conv" else "tnvizedge"
        width = 0.4 * ln.width
        out.append(rf"\draw[{color}, line width={width:.2f}pt] ({ln.x1:.3f},{ln.y1:.3f}) -- ({ln.x2:.3f},{ln.y2:.3f});")
    for x, y, dx, dy in scene.stub_ends:
        out.append(
            rf"\draw[tnvizedge, line width=0.7pt] ({x - dy * 0.08:.3f},{y + dx * 0.08:.3f}) -- "
            rf"({x + dy * 0.08:.3f},{y - dx * 0.08:.3f});"
        )
    for s in scene.shapes:
        if s.kind == "bend":
            continue
        if s.kind == "dot":
            out.append(rf"\fill[tnvizdot] ({s.x:.3f},{s.y:.3f}) circle ({s.radius:.3f});")
        elif s.kind == "conv":
            ring = r"\filldraw[fill=white, draw=tnvizconv, line width=0.7pt]"
            out.append(rf"{ring} ({s.x:.3f},{s.y:.3f}) circle ({s.radius:.3f});")
            mark = s.text.replace("∗", r"\ast").replace("⊛", r"\circledast").replace("↑", r"{\uparrow}")
            out.append(rf"\node[tnvizconv] at ({s.x:.3f},{s.y:.3f}) {{${mark}$}};")
        else:
            out.append(rf"\filldraw[fill=tnviz{s.kind}, draw=black!80] ({s.x:.3f},{s.y:.3f}) circle ({s.radius:.3f});")
            out.append(rf"\node at ({s.x:.3f},{s.y:.3f}) {{{_tex(s.text)}}};")
    for lb in scene.labels:
        color = ", tnvizstep" if lb.kind == "step" else ""
        out.append(rf"\node[font=\scriptsize\sffamily{color}] at ({lb.x:.3f},{lb.y:.3f}) {{{_tex(lb.text)}}};")
    if scene.title:
        x0, _, x1, y1 = scene.bounds()
        out.append(rf"\node[font=\bfseries\sffamily] at ({(x0 + x1) / 2:.3f},{y1 - 0.2:.3f}) {{{_tex(scene.title)}}};")
    out += [r"\end{tikzpicture}", r"\end{document}", ""]
    return "\n".join(out)
