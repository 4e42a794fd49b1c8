"""``d.draw()`` as a cell's last expression shows the picture; fig and ax stay reachable."""

import matplotlib.pyplot as plt
from IPython.core.formatters import DisplayFormatter

import tnviz

D = tnviz.Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4})


def test_draw_returns_a_figure_a_notebook_displays():
    fig = D.draw()
    data, _ = DisplayFormatter().format(fig)
    assert data["image/png"].startswith(b"\x89PNG")  # IPython shows a picture, not a repr
    assert fig.ax in fig.axes


def test_fig_and_ax_unpack_as_before():
    fig, ax = D.draw()
    assert ax is fig.ax and ax.figure is fig


def test_drawing_into_a_users_axes_returns_that_figure_and_touches_no_pyplot_state():
    before = plt.get_fignums()
    fig = D.draw()
    assert plt.get_fignums() == before  # nothing for an inline backend to show twice
    user_fig, (left, right) = plt.subplots(1, 2)
    try:
        assert D.draw(ax=right) is user_fig
        assert right.patches  # the tensors were drawn into the user's Axes
        assert not left.patches
    finally:
        plt.close(user_fig)
    assert fig.ax.patches


def test_figures_drawn_from_two_threads_at_once_do_not_break_matplotlibs_text_layout():
    """A TrainingDashboard draws its log-axis curves in the training thread while the notebook
    draws another widget's figure: matplotlib's mathtext parser is shared and not thread-safe
    (a ParseException on a tick label), so every tnviz rendering takes one lock."""
    import threading

    from matplotlib.figure import Figure

    from tnviz.widgets._common import figure_png

    errors = []

    def draw_many():
        try:
            for k in range(12):
                fig = Figure(figsize=(3, 2))
                ax = fig.add_subplot()
                ax.plot([1, 2, 3], [0.3 / (k + 1), 0.02, 0.004])
                ax.set_yscale("log")
                assert figure_png(fig)[:4] == b"\x89PNG"
                assert D.draw()._repr_png_()[:4] == b"\x89PNG"
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=draw_many) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
