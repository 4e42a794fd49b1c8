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


def test_widget_figures_wait_for_a_rendering_in_another_thread():
    """A TrainingDashboard draws its log-axis curves in the training thread while the notebook
    draws another widget's figure: matplotlib's mathtext parser is shared and not thread-safe
    (a ParseException on a tick label), so every tnviz rendering takes one lock. While another
    thread holds it, a widget's figure waits."""
    import threading

    from matplotlib.figure import Figure

    from tnviz.render.rendering_lock import RENDER_LOCK
    from tnviz.widgets._common import figure_png

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [0.3, 0.02, 0.004])
    ax.set_yscale("log")
    done = threading.Event()
    worker = threading.Thread(target=lambda: (figure_png(fig), done.set()))
    with RENDER_LOCK:  # another rendering under way
        worker.start()
        assert not done.wait(0.5)  # the widget's rendering waits for it
    worker.join(30)
    assert done.is_set()
    rendering = threading.Thread(target=lambda: D.draw()._repr_png_())
    with RENDER_LOCK:
        rendering.start()
        rendering.join(0.5)
        assert rendering.is_alive()  # a diagram's picture waits too
    rendering.join(30)
    assert not rendering.is_alive()
