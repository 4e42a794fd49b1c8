"""Renderers: DOT text, SVG, matplotlib artists, TikZ; the gallery; fallbacks; speed."""

import os
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET

import matplotlib
import pytest

matplotlib.use("Agg")

import tnviz.render as render  # noqa: E402
from tnviz import Diagram, TnvizError  # noqa: E402
from tnviz.gallery import FIGURES, render_gallery  # noqa: E402

HAS_DOT = shutil.which("neato") is not None
# CI installs graphviz (.ci/run): there a missing binary must fail the run, not skip tests.
if os.environ.get("CI") and not HAS_DOT:
    raise RuntimeError("CI needs graphviz's neato; .ci/run installs it")
CONV = Diagram.parse(
    "X: b s x y, K: t s x y -> b t x y | x y", sizes={"X": (8, 3, 32, 32), "K": (16, 3, 3, 3)}, padding=1
)


def test_dot_has_a_node_per_tensor_labels_conv_marker_and_points():
    d = FIGURES["fig5_mcp"]()
    dot = d.to_dot()
    for name in d.tensor_names:
        assert f'"{name}" [shape=circle' in dot
    assert 'label="s1=4"' in dot and 'label="r=64"' in dot and 'label="b=32"' in dot
    assert dot.count('label="∗"') == 2  # convolution markers for x and y
    assert '"#r" [shape=point' in dot  # the hyperedge
    cp = Diagram.parse("A: i r, B: j r, C: k r -> i j k").to_dot()
    assert '"#r" [shape=point' in cp
    outer = Diagram.parse("A: i j k, B: k l -> i j k l").to_dot()
    assert '"#k" [shape=point' in outer  # partial outer product: a dot with an open leg


def test_stub_for_a_summed_index():
    dot = Diagram.parse("A: i j, B: j k -> i").to_dot()
    assert "arrowhead=tee" in dot


@pytest.mark.skipif(not HAS_DOT, reason="graphviz's neato is not installed")
def test_svg_is_well_formed_with_every_tensor_name():
    for name, make in FIGURES.items():
        d = make()
        svg = d.to_svg("graphviz")
        root = ET.fromstring(svg.split("-->", 1)[-1] if svg.startswith("<?xml") else svg)
        texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
        for tensor in d.tensor_names:
            assert tensor in texts, (name, tensor)


def test_matplotlib_draws_the_expected_artists():
    from matplotlib.patches import Circle

    d = FIGURES["fig5_mcp"]()
    fig, ax = d.draw()
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(circles) == len(d.tensors) + 3  # five tensors, a hyperedge dot, two ∗ markers
    texts = {t.get_text() for t in ax.texts}
    assert set(d.tensor_names) <= texts and "∗" in texts and "r=64" in texts
    assert len(ax.lines) >= 12
    assert fig.get_axes() == [ax]


SVG = "{http://www.w3.org/2000/svg}"


def _bbox(path: str) -> tuple[float, float, float, float]:
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path)]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def test_matplotlib_svg_draws_the_tensors_markers_and_labels():
    svg = CONV.to_svg("matplotlib")
    root = ET.fromstring(svg, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    assert root.tag == SVG + "svg"
    # A sane canvas: the viewBox starts at the origin and matches the size in points.
    x0, y0, width, height = map(float, root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and 100 < width < 1000 and 100 < height < 1000
    assert root.get("width") == f"{width:g}pt" and root.get("height") == f"{height:g}pt"
    # Circles (closed paths of eight cubic arcs): the two tensors and the two ∗ markers, all
    # inside the canvas; X in the input colour, K in the parameter colour, the markers white in red.
    circles = []
    for group in root.iter(SVG + "g"):
        if (group.get("id") or "").startswith("patch_"):
            (path,) = group.iter(SVG + "path")
            if path.get("d").count("C") == 8:
                circles.append((_bbox(path.get("d")), path.get("style")))
    assert len(circles) == len(CONV.tensors) + 2
    for (left, top, right, bottom), _ in circles:
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
    fills = sorted(re.search(r"fill: (#\w+|none)", style)[1] for _, style in circles)
    assert fills == ["#9ecae1", "#fdd49e", "#ffffff", "#ffffff"], fills
    assert sum("stroke: #d62728" in style for _, style in circles) == 2
    # Every text, by the comment matplotlib writes before its glyphs, and where it sits: the
    # tensor names inside their circles.
    texts = []
    for group in root.iter(SVG + "g"):
        if (group.get("id") or "").startswith("text_"):
            comment = next(c for c in group if c.tag is ET.Comment).text.strip()
            at = re.search(r"translate\(([-\d.]+) ([-\d.]+)\)", group.find(SVG + "g").get("transform"))
            texts.append((comment, float(at[1]), float(at[2])))
    want = ["K", "X", "∗", "∗", "b=8", "t=16", "s=3", "x=32", "x=32", "x=3", "y=32", "y=32", "y=3"]
    assert sorted(t for t, _, _ in texts) == sorted(want)
    for name, colour in (("X", "#9ecae1"), ("K", "#fdd49e")):
        (left, top, right, bottom), _ = next(c for c in circles if f"fill: {colour}" in c[1])
        (x, y), radius = next((x, y) for t, x, y in texts if t == name), (right - left) / 2
        assert abs(x - (left + right) / 2) < radius and abs(y - (top + bottom) / 2) < radius, name


def test_tikz_is_standalone_and_compiles_where_pdflatex_exists(tmp_path):
    tex = FIGURES["fig5_mtr"]().to_tikz(title="mTR layer_1")
    assert tex.startswith(r"\documentclass[tikz")
    assert r"\begin{tikzpicture}" in tex and r"\end{document}" in tex
    assert r"$\ast$" in tex and r"mTR layer\_1" in tex
    if shutil.which("pdflatex") is None:
        return  # no TeX here: the text checks above are what can be checked
    (tmp_path / "d.tex").write_text(tex)
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"], cwd=tmp_path, capture_output=True
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "d.pdf").stat().st_size > 1000


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_every_gallery_figure_renders_with_every_backend_without_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = render_gallery(str(tmp_path))
        for name, make in FIGURES.items():
            d = make()
            d.draw("matplotlib")
            d.draw("tikz")
            d.draw("graphviz")
            d.save(str(tmp_path / f"{name}.tex"))
            d.save(str(tmp_path / f"{name}.dot"))
    assert len(written) == 2 * len(FIGURES)
    for path in written:
        assert os.path.getsize(path) > 500


def test_plan_overlay_numbers_the_steps():
    d = FIGURES["fig5_mcp"]()
    plan = d.plan()
    dot = d.to_dot(plan=plan)
    summing = [k for k, step in enumerate(plan.steps, 1) if step.summed]
    assert summing
    for k in summing:
        assert f'label="[{k}]"' in dot
    fig, ax = d.draw(plan=plan, edge_width="fixed", labels=True, title="mCP")
    assert any(t.get_text() == "mCP" for t in ax.texts)


def test_labels_off_and_bad_style():
    fig, ax = CONV.draw(labels=False)
    assert not any("=" in t.get_text() for t in ax.texts)
    with pytest.raises(TnvizError, match="unknown style option 'colour'"):
        CONV.draw(colour="red")
    with pytest.raises(TnvizError, match="unknown backend"):
        CONV.draw("svgwrite")
    with pytest.raises(TnvizError, match="unknown file type"):
        CONV.save("/tmp/x.bmp")


def test_notebook_display_falls_back_to_matplotlib_with_one_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no graphviz binaries here
    monkeypatch.setattr(render, "_warned", False)
    with pytest.warns(UserWarning, match="drawing with matplotlib") as record:
        svg = CONV._repr_svg_()
        again = FIGURES["fig4_cp"]()._repr_svg_()
    assert len(record) == 1
    ET.fromstring(svg)
    ET.fromstring(again)
    with pytest.raises(TnvizError, match="neato"):
        CONV.to_svg("graphviz")


@pytest.mark.skipif(not HAS_DOT, reason="graphviz's neato is not installed")
def test_notebook_display_uses_graphviz_when_present():
    assert "Generated by graphviz" in CONV._repr_svg_()


def test_thirty_tensor_network_draws_with_bounded_layout_work(monkeypatch):
    # A 5×6 grid (PEPS-like): 30 tensors, force layout. How fast it draws is for benchmarks (a
    # wall-clock bound fails on a busy machine); here, what keeps it fast: one layout per
    # drawing, graph distances by one BFS per vertex, and stress sweeps (n·(n−1) distance
    # evaluations each) that stop once converged, well inside their cap of 120.
    import math
    import types
    from collections import Counter

    from matplotlib.patches import Circle

    import tnviz.render.scene as scene_module
    import tnviz.render.shapes as shapes_module

    specs = []
    for r in range(5):
        for c in range(6):
            idx = [f"p{r}_{c}"]
            if c < 5:
                idx.append(f"h{r}_{c}")
            if c > 0:
                idx.append(f"h{r}_{c - 1}")
            if r < 4:
                idx.append(f"v{r}_{c}")
            if r > 0:
                idx.append(f"v{r - 1}_{c}")
            specs.append(f"T{r}{c}: " + " ".join(idx))
    spec = ", ".join(specs) + " -> " + " ".join(f"p{r}_{c}" for r in range(5) for c in range(6))
    d = Diagram.parse(spec)
    assert len(d.tensors) == 30
    calls = Counter()

    def counted(name, fn):
        return lambda *args, **kwargs: calls.update([name]) or fn(*args, **kwargs)

    monkeypatch.setattr(scene_module, "layout", counted("layout", scene_module.layout))
    monkeypatch.setattr(shapes_module, "_bfs", counted("bfs", shapes_module._bfs))
    force = shapes_module.force_positions

    def force_positions(adj, vertices, pinned, iterations=120):
        calls.update(force=1, vertices=len(vertices), cap=iterations)
        return force(adj, vertices, pinned, iterations)

    monkeypatch.setattr(shapes_module, "force_positions", force_positions)
    fake_math = types.SimpleNamespace(**{k: getattr(math, k) for k in dir(math) if not k.startswith("_")})
    fake_math.hypot = counted("hypot", math.hypot)
    monkeypatch.setattr(shapes_module, "math", fake_math)
    fig, ax = d.draw()
    assert sum(isinstance(p, Circle) for p in ax.patches) == 30
    n = 30
    assert calls["layout"] == 1 and calls["force"] == 1 and calls["vertices"] == n and calls["cap"] == 120
    assert calls["bfs"] == n
    sweeps = calls["hypot"] / (n * (n - 1))  # measured: 45 sweeps (a little more: leg directions)
    assert 10 <= sweeps <= 60, sweeps


def test_a_diagram_figure_of_several_axes_has_its_first_as_ax():
    """Notebook 02 draws four diagrams into one DiagramFigure's four Axes (draw(ax=...)): its
    .ax is the first of them, as ``fig, ax = fig`` unpacks, not None."""
    from tnviz.render.mpl import DiagramFigure

    fig = DiagramFigure(figsize=(6, 2))
    assert fig.ax is None and list(fig) == [fig, None]
    axes = fig.subplots(1, 3)
    for ax, spec in zip(axes, ("ij,jk->ik", "i,i->", "A: i r, B: j r, C: k r -> i j k")):
        assert Diagram.parse(spec).draw(ax=ax) is fig
    assert fig.ax is axes[0] and all(ax.patches for ax in axes)
    _, first = fig
    assert first is axes[0]
    fig.ax = axes[2]  # one assigned wins
    assert fig.ax is axes[2]
    assert fig._repr_png_()[:4] == b"\x89PNG"
    drawn = Diagram.parse("ij,jk->ik").draw()
    assert drawn.ax is drawn.axes[0] and len(drawn.axes) == 1
