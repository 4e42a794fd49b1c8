"""Gradient diagrams drawn beside their diagram; the new convolution options drawn distinctly."""

import pytest

import tnviz
from tnviz.render import draw_gradients
from tnviz.render.scene import build_scene, make_style

CONV = tnviz.Diagram.parse(
    "X: b s x, K: t s x -> b t x | x", sizes={"b": 2, "s": 3, "t": 2, "X": (2, 3, 11), "K": (2, 3, 3)}, stride=2
)


def test_each_tensor_gets_a_panel_with_g_highlighted():
    fig = draw_gradients(CONV)
    assert [ax.get_title() for ax in fig.axes] == ["forward", "∂L/∂X", "∂L/∂K"]
    scene = build_scene(CONV.grad("X"), make_style({"highlight": ("G",)}))
    kinds = {s.name: s.kind for s in scene.shapes}
    assert kinds["G"] == "upstream" and kinds["K"] != "upstream"


def test_a_refused_gradient_gets_a_panel_that_says_why():
    folding = tnviz.Diagram.parse(  # a gradient's own gradient through a fold is not written yet
        "Y: b x, K: x -> b x | x", sizes={"Y": (2, 9), "K": (3,)}, fold=("reflect", 1, 1)
    )
    fig = draw_gradients(folding)
    assert "gradient through the fold" in fig.axes[2].texts[0].get_text().replace("\n", " ")


def test_a_holder_read_backwards_is_labelled_on_its_edge():
    flipped = tnviz.Diagram.parse(
        "X: b s x, K: t s x -> b t x | x", sizes={"b": 2, "s": 3, "t": 2, "X": (2, 3, 11), "K": (2, 3, 3)}, flip=True
    )
    grad = flipped.grad("K")  # the signal and G read backwards: the kernel's gradient reversed
    assert grad.options["x"].flip == ("G", "X")
    scene = build_scene(grad, make_style({}))
    labels = {ln.u if not ln.u.startswith("#") else ln.v: ln.text for ln in scene.lines if ln.index == "x" and ln.text}
    assert labels["X"] == "x=11 rev" and labels["G"].endswith(" rev")
    assert next(s.text for s in scene.shapes if s.kind == "conv") == "∗"  # named holders: no ⊛
    assert next(s.text for s in build_scene(flipped, make_style({})).shapes if s.kind == "conv") == "⊛"


def test_a_kernel_with_its_own_spacing_is_labelled_on_its_edge():
    strided = tnviz.Diagram.parse(
        "X: b s x, A: s r, K: r x, B: t r -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 8), "K": (2, 3)},
        stride=2,
    )
    grad = strided.grad("A")  # G joins the kernels with its taps 2 apart
    lines = [ln for ln in build_scene(grad, make_style({})).lines if ln.index == "x" and ln.text]
    labels = {ln.u if not ln.u.startswith("#") else ln.v: ln.text for ln in lines}
    assert labels["G"] == "x=3 dil 2" and labels["K"] == "x=3" and labels["X"] == "x=8"  # G's edge spaced, K's plain
    assert not any(t.get_color() == "#b00" for ax in draw_gradients(strided).axes for t in ax.texts)


def test_a_trace_and_a_lone_sum_draw_their_gradients():
    trace = tnviz.Diagram.parse("A: i i j, B: i -> ", sizes={"i": 3, "j": 2})  # dA: diagonal, broadcast along j
    fig = draw_gradients(trace)
    assert len(fig.axes) == 3
    assert not any(t.get_color() == "#b00" for ax in fig.axes for t in ax.texts)  # no panel refused


def test_flipped_and_upsampled_convolutions_have_their_own_marker():
    grad = CONV.grad("X")  # G upsampled by the stride, the kernel flipped
    markers = [s.text for s in build_scene(grad, make_style({})).shapes if s.kind == "conv"]
    assert markers == ["⊛↑2"]
    assert [s.text for s in build_scene(CONV, make_style({})).shapes if s.kind == "conv"] == ["∗"]
    assert r"\circledast" in grad.to_tikz() and "⊛↑2" in grad.to_dot()


def test_a_tucker_core_named_g_leaves_the_upstream_another_name():
    tucker = tnviz.Diagram.parse(
        "X: b s, U: s p, G: p q, V: q t -> b t", sizes={"b": 2, "s": 4, "p": 2, "q": 2, "t": 3}
    )
    fig = draw_gradients(tucker)
    assert len(fig.axes) == 5
    assert not any(t.get_color() == "#b00" for ax in fig.axes for t in ax.texts)  # no panel refused
    bp = tucker.backward_plan()
    assert set(bp.gradients) == {"X", "U", "G", "V"}


def _notebook_08_diagrams():
    """The diagrams notebook 08 draws with draw_gradients, as it builds them."""
    import torch

    from tnviz.nn import TensorialConv2d

    layers = {
        "cp": (TensorialConv2d(8, 8, 3, padding=1, bias=False, format="cp", rank=4), (2, 8, 6, 6)),
        "mtt": (TensorialConv2d(8, 8, 3, padding=1, bias=False, format="mtt", rank=2), (2, 8, 6, 6)),
        "strided_cp": (TensorialConv2d(8, 8, 3, padding=1, stride=2, bias=False, format="cp", rank=4), (2, 8, 7, 7)),
    }
    torch.manual_seed(0)
    return {
        "contraction": tnviz.Diagram.parse("A: i j k, B: k l -> i j l", sizes={"i": 4, "j": 3, "k": 5, "l": 2}),
        "outer": tnviz.Diagram.parse("A: i b, B: j b -> i j b", sizes={"i": 4, "j": 3, "b": 5}),
        "conv": tnviz.Diagram.parse(
            "X: b s x, K: t s x -> b t x | x", sizes={"X": (2, 3, 9), "K": (4, 3, 3)}, padding=1, stride=2
        ),
        "hub": tnviz.Diagram.parse("A: i r, B: j r, C: k r -> i j k", sizes={"i": 4, "j": 3, "k": 5, "r": 2}),
        **{name: layer.diagram.bind(shapes={"X": shape}) for name, (layer, shape) in layers.items()},
    }


def _seen(fig):
    """Collisions of each drawn panel as the user sees it: its labels at the size drawn."""
    from tnviz.render.collisions import collisions
    from tnviz.render.mpl import drawn_text_scale

    return {
        title: collisions(scene, text_scale=drawn_text_scale(ax, scene))
        for ax, (title, scene) in zip(fig.axes, fig.panels)
        if not isinstance(scene, str)
    }


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_every_panel_notebook_08_draws_is_free_of_collisions_as_seen():
    for name, diagram in _notebook_08_diagrams().items():
        seen = _seen(draw_gradients(diagram))
        assert len(seen) == len(diagram.tensor_names) + 1, name
        for title, found in seen.items():
            assert found.total == 0, f"{name} {title}:\n{found}"


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_a_panel_is_never_drawn_smaller_than_its_labels_were_placed_for():
    """In every gallery figure's gradients the labels drawn are no larger against the drawing
    than the label placement measured, so a panel shows no collision its scene does not have."""
    from tnviz.gallery import FIGURES
    from tnviz.render.collisions import collisions
    from tnviz.render.mpl import drawn_text_scale

    for name, make in FIGURES.items():
        fig = draw_gradients(make())
        for ax, (title, scene) in zip(fig.axes, fig.panels):
            if isinstance(scene, str):
                continue
            assert drawn_text_scale(ax, scene) <= 1.0 + 1e-9, f"{name} {title}"
            assert collisions(scene, text_scale=drawn_text_scale(ax, scene)) == collisions(scene), f"{name} {title}"
