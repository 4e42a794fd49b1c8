"""Gradient diagrams drawn beside their diagram; the new convolution options drawn distinctly."""

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
    flipped = tnviz.Diagram.parse(
        "X: b s x, A: s r, K: r x, B: t r -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 8), "K": (2, 3)},
        stride=2,
        flip=True,
    )
    fig = draw_gradients(flipped)
    assert "does not hold convolution" in fig.axes[2].texts[0].get_text().replace("\n", " ")


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
