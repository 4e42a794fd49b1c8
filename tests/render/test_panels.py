"""draw_many: several diagrams in one figure, each at the scale its labels were placed for."""

import pytest

from tnviz import Diagram, TnvizError
from tnviz.render import collisions, draw_many
from tnviz.render.mpl import LABEL_POINTS, drawn_text_scale
from tnviz.render.panels import MAX_WIDTH

FOUR = {
    "CP": "A: i r, B: j r, C: k r -> i j k",
    "Tucker": "G: p q u, A: i p, B: j q, C: k u -> i j k",
    "TT": "G1: i r1, G2: r1 j r2, G3: r2 k -> i j k",
    "TR": "G1: r0 i r1, G2: r1 j r2, G3: r2 k r0 -> i j k",
}


def test_four_formats_keep_their_text_size_and_fit_a_cell():
    fig = draw_many(FOUR)
    assert [title for title, _ in fig.panels] == list(FOUR) and len(fig.axes) == 4
    assert fig.get_size_inches()[0] <= MAX_WIDTH + 1e-9
    for ax, (title, scene) in zip(fig.axes, fig.panels):
        assert ax.get_title() == title
        labels = [t.get_fontsize() for t in ax.texts if t.get_text() in {lb.text for lb in scene.labels}]
        # at least 80 % of the size the labels were placed for (7 px labels were the complaint)
        assert labels and min(labels) >= 0.8 * LABEL_POINTS, (title, labels)
        assert collisions(scene, text_scale=drawn_text_scale(ax, scene)).total == 0, title


def test_a_sequence_is_titled_by_spec_and_columns_can_be_chosen():
    d = Diagram.parse("A: i j, B: j k -> i k")
    fig = draw_many([d, "X: a -> a"], columns=1)
    assert [title for title, _ in fig.panels] == [d.to_spec(), "X: a -> a"]
    top, bottom = (ax.get_position() for ax in fig.axes)
    assert top.y0 > bottom.y0 and (top.x0 + top.x1) / 2 == pytest.approx((bottom.x0 + bottom.x1) / 2)  # one column


@pytest.mark.parametrize("bad, token", [([], "diagrams"), ({"x": 3}, "x"), (["A: i ->> i"], None)])
def test_bad_input_is_refused_by_name(bad, token):
    with pytest.raises(TnvizError) as err:
        draw_many(bad)
    if token is not None:
        assert err.value.token == token
