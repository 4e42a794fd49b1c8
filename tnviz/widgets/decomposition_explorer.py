"""DecompositionExplorer: CP, Tucker, TT and TR of a real tensor, with a rank slider."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import ipywidgets as W
import numpy as np

from tnviz.errors import TnvizError
from tnviz.widgets._common import add_classes, error_html, figure_png, rebounded, warning_html

__all__ = ["DecompositionExplorer", "sample_image", "decompose", "decomposition_params", "max_rank", "DECOMPOSITIONS"]

# The tensor decompositions shown, named as the layer formats name them (tnviz.core.formats).
DECOMPOSITIONS = ("cp", "tk", "tt", "tr")


def sample_image(size: int = 64) -> np.ndarray:
    """scikit-image's astronaut photograph (a real RGB image), resized to size×size×3 in [0, 1]."""
    try:
        from skimage import data, transform
    except ImportError:
        raise TnvizError("the sample image needs scikit-image: pip install scikit-image", token="skimage") from None
    image = data.astronaut().astype(np.float64) / 255.0
    return transform.resize(image, (size, size), anti_aliasing=True)


def _tr_ranks(shape: Sequence[int], rank: int) -> list[int]:
    """The ring ranks asked of tensorly for one ``rank``: the first mode's r0·r1 split."""
    r = max(1, int(round(rank**0.5)))  # a ring splits its first mode into r0·r1
    ranks = [r] + [rank] * (len(shape) - 1) + [r]
    ranks[1] = min(ranks[1], shape[0] // r if shape[0] >= r else 1)
    return ranks


def decomposition_params(shape: Sequence[int], format: str, rank: int) -> int:
    """The parameter count :func:`decompose` reports for a tensor of ``shape`` at ``rank``,
    without decomposing (closed form, with the caps tensorly applies to TT and TR ranks).

    Args:
        shape: the tensor's shape.
        format: one of :data:`DECOMPOSITIONS`.
        rank: the rank.

    Returns:
        The number of parameters.

    Example:
        >>> decomposition_params((64, 64, 3), "cp", 8)  # 8·(64 + 64 + 3) + 8 weights
        1056
    """
    shape = tuple(int(n) for n in shape)
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise TnvizError(f"rank must be a positive integer, got {rank!r}", token=repr(rank))
    if format == "cp":
        return rank * sum(shape) + rank
    if format == "tk":
        ranks = [min(rank, n) for n in shape]
        return math.prod(ranks) + sum(n * r for n, r in zip(shape, ranks))
    if format == "tt":
        ranks = [1]
        for k, n in enumerate(shape[:-1]):  # tensorly: r_{k+1} = min(rows, columns, asked)
            ranks.append(min(ranks[k] * n, math.prod(shape[k + 1 :]), rank))
        ranks.append(1)
        return sum(ranks[k] * n * ranks[k + 1] for k, n in enumerate(shape))
    if format == "tr":
        ranks = _tr_ranks(shape, rank)
        r0 = ranks[0]
        params = r0 * shape[0] * ranks[1]
        for k in range(1, len(shape) - 1):
            rows = ranks[k] * shape[k]
            columns = math.prod(shape[k + 1 :]) * r0
            ranks[k + 1] = min(rows, columns, ranks[k + 1])
            params += ranks[k] * shape[k] * ranks[k + 1]
        return params + ranks[len(shape) - 1] * shape[-1] * r0
    raise TnvizError(f"unknown format {format!r}; expected one of {', '.join(DECOMPOSITIONS)}", token=str(format))


def max_rank(shape: Sequence[int], format: str, limit: int = 512) -> int | None:
    """The largest rank (up to ``limit``) at which ``format`` has at most as many parameters as
    the tensor has entries; None where even rank 1 has more.

    Example:
        >>> max_rank((64, 64, 3), "cp")  # 132·r ≤ 12,288
        93
    """
    size = math.prod(shape)
    best = None
    for r in range(1, limit + 1):
        if decomposition_params(shape, format, r) > size:
            break
        best = r
    return best


def decompose(tensor: np.ndarray, format: str, rank: int) -> tuple[np.ndarray, int]:
    """(reconstruction, parameter count) of ``tensor`` in a format at one rank (tensorly,
    NumPy backend, ranks capped at what each mode allows).

    Args:
        tensor: a real tensor of order ≥ 2.
        format: one of :data:`DECOMPOSITIONS`.
        rank: the rank (for ``tr``, r0·r1 split the first mode, r0 ≈ √rank).

    Returns:
        (the reconstruction, its parameter count, as :func:`decomposition_params`).

    Raises:
        TnvizError: for an unknown format, or a ring rank the tensor cannot take.

    Example:
        >>> approx, params = decompose(np.ones((8, 8, 3)), "cp", 1)  # doctest: +SKIP
    """
    from tnviz.nn.decomposers.common import numpy_backend

    with numpy_backend():  # whatever backend the process has set
        return _decompose(tensor, format, rank)


def _decompose(tensor: np.ndarray, format: str, rank: int) -> tuple[np.ndarray, int]:
    import tensorly as tl
    from tensorly.decomposition import parafac, tensor_ring, tensor_train, tucker

    X = tl.tensor(np.asarray(tensor, dtype=np.float64), backend="numpy") if hasattr(tl, "tensor") else tensor
    shape = tensor.shape
    if format == "cp":
        try:
            cp = parafac(X, rank, n_iter_max=60, init="random", random_state=0, tol=1e-6)
        except np.linalg.LinAlgError as err:
            raise TnvizError(f"CP at rank {rank} failed here ({err}): choose a lower rank", token=str(rank)) from None
        return np.asarray(tl.cp_to_tensor(cp)), rank * sum(shape) + rank
    if format == "tk":
        ranks = [min(rank, n) for n in shape]
        core, factors = tucker(X, rank=ranks, n_iter_max=30, random_state=0)
        return np.asarray(tl.tucker_to_tensor((core, factors))), int(
            np.prod(ranks) + sum(n * r for n, r in zip(shape, ranks))
        )
    if format == "tt":
        ranks = [1] + [rank] * (len(shape) - 1) + [1]
        tt = tensor_train(X, rank=ranks)
        return np.asarray(tl.tt_to_tensor(tt)), int(sum(f.size for f in tt.factors))
    if format == "tr":
        ranks = _tr_ranks(shape, rank)
        try:
            tr = tensor_ring(X, rank=ranks)
        except ValueError as err:
            raise TnvizError(f"tensor ring at rank {rank} is not possible here: {err}", token=str(rank)) from None
        return np.asarray(tl.tr_to_tensor(tr)), int(sum(f.size for f in tr.factors))
    raise TnvizError(f"unknown format {format!r}; expected one of {', '.join(DECOMPOSITIONS)}", token=str(format))


class DecompositionExplorer(W.VBox):
    """A rank slider shows the reconstruction beside the original with its relative error, and
    the error-versus-parameters curves of the four formats, the current choice marked on them.

    The slider stops at the largest rank whose parameters do not exceed the tensor's entries
    (:func:`max_rank`); a choice with more parameters than the tensor (possible where even
    rank 1 has) shows a warning line (class ``tn-warning``).

    Args:
        tensor: a real tensor (default: :func:`sample_image`, 64×64×3); a pretrained kernel works.
        format, rank: the starting choice.
        ranks: the ranks of the curves.

    Attributes: ``error``, ``params``, ``warning``, ``max_rank``, ``curves`` (format ->
    [(params, error)]), ``current`` ((format, params, error) marked on the curves),
    ``last_update_ms``.

    CSS classes: ``tn-decomposition-explorer``, ``tn-decomposition-slider`` (its handle:
    ``.noUi-handle``), ``tn-decomposition-format`` (buttons), ``tn-decomposition-label``,
    ``tn-decomposition-warning`` (holds ``.tn-warning``), ``tn-decomposition-images``,
    ``tn-decomposition-curves``.

    Example:
        >>> explorer = DecompositionExplorer(ranks=(1, 4, 16))  # doctest: +SKIP
        >>> explorer.rank_slider.value = 16  # doctest: +SKIP
    """

    def __init__(
        self,
        tensor: np.ndarray | None = None,
        format: str = "cp",
        rank: int = 8,
        ranks: Sequence[int] = (1, 2, 4, 8, 16, 32),
    ) -> None:
        self.tensor = sample_image() if tensor is None else np.asarray(tensor, dtype=np.float64)
        if self.tensor.ndim < 2:
            raise TnvizError(f"need a tensor of order ≥ 2, got shape {self.tensor.shape}", token=str(self.tensor.shape))
        if format not in DECOMPOSITIONS:
            raise TnvizError(
                f"unknown format {format!r}; expected one of {', '.join(DECOMPOSITIONS)}", token=str(format)
            )
        self.curve_ranks = tuple(ranks)
        self.format_box = W.ToggleButtons(options=DECOMPOSITIONS, value=format, description="format")
        self.max_rank = max_rank(self.tensor.shape, format)
        top = max(1, self.max_rank or 1)
        # min width and flex: the slider keeps its length when the row is narrow (it wraps instead)
        self.rank_slider = W.IntSlider(
            value=min(rank, top),
            min=1,
            max=top,
            description="rank",
            continuous_update=False,  # a decomposition per value dragged over would queue up (0.5 s each)
            layout=W.Layout(min_width="280px", flex="1 1 400px"),  # 280: a 700 px window still fits it
        )
        self.images = W.Image(format="png")
        self.curve_plot = W.Image(format="png")
        self.label = W.HTML()
        self.warning_label = W.HTML()
        self.error: float | None = None
        self.params = 0
        self.warning = ""
        self.curves: dict[str, list[tuple[int, float]]] = {}
        self.current: tuple[str, int, float] | None = None
        self.last_update_ms = 0.0
        add_classes(
            "tn-decomposition-",
            (
                (self, "explorer"),
                (self.rank_slider, "slider"),
                (self.format_box, "format"),
                (self.label, "label"),
                (self.warning_label, "warning"),
                (self.images, "images"),
                (self.curve_plot, "curves"),
            ),
        )
        self._controls = W.HBox(
            [self.format_box, self.rank_slider], layout=W.Layout(flex_flow="row wrap", width="100%")
        )
        super().__init__([self._controls, self.warning_label, self.label, W.HBox([self.images, self.curve_plot])])
        self.format_box.observe(self._format_changed, names="value")
        self.rank_slider.observe(self._rank_changed, names="value")
        self._compute_curves()
        self.update()

    def _format_changed(self, change: dict) -> None:
        """A new format: the slider's bound follows (the value lowered with it), then redraw."""
        self.max_rank = max_rank(self.tensor.shape, change["new"])
        slider = rebounded(self.rank_slider, self._controls, 1, max(1, self.max_rank or 1))
        if slider is not self.rank_slider:
            self.rank_slider = slider
            slider.observe(self._rank_changed, names="value")
        self.update()

    def _rank_changed(self, change: dict) -> None:
        self.update()

    def _error(self, approx: np.ndarray) -> float:
        return float(np.linalg.norm(approx - self.tensor) / np.linalg.norm(self.tensor))

    def update(self) -> None:
        """Decompose at the chosen format and rank; redraw the comparison."""
        from matplotlib.figure import Figure

        started = time.perf_counter()
        fmt, rank = self.format_box.value, self.rank_slider.value
        # shown at once (widget messages leave while the kernel computes): not the last rank's figures
        self.label.value = f"<i>{fmt} rank {rank}: decomposing…</i>"
        try:
            approx, self.params = decompose(self.tensor, fmt, rank)
        except TnvizError as err:
            self.label.value = error_html(err.message)
            self.warning, self.warning_label.value = "", ""
            self.current = None
            self.draw_curves()
            return
        self.error = self._error(approx)
        self.current = (fmt, self.params, self.error)
        self.warning = ""
        if self.params > self.tensor.size:
            self.warning = (
                f"{fmt} at rank {rank} has {self.params:,} parameters, more than the tensor's {self.tensor.size:,} "
                f"entries ({self.params / self.tensor.size:.2f}×): no compression"
            )
        self.warning_label.value = warning_html(self.warning) if self.warning else ""
        self.label.value = (
            f"{fmt} rank {rank}: {self.params:,} parameters "
            f"({self.params / self.tensor.size:.3f} of {self.tensor.size:,}), relative error <b>{self.error:.4f}</b>"
        )
        fig = Figure(figsize=(5, 2.6))
        for k, (title, img) in enumerate((("original", self.tensor), ("reconstruction", approx))):
            ax = fig.add_subplot(1, 2, k + 1)
            ax.imshow(_viewable(img), cmap="gray" if img.ndim == 2 else None)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        self.images.value = figure_png(fig)
        self.draw_curves()
        self.last_update_ms = 1000 * (time.perf_counter() - started)

    def _compute_curves(self) -> None:
        for fmt in DECOMPOSITIONS:
            points = []
            for r in self.curve_ranks:
                try:
                    approx, params = decompose(self.tensor, fmt, r)
                except TnvizError:
                    continue
                points.append((params, self._error(approx)))
            self.curves[fmt] = points

    def draw_curves(self) -> None:
        """Error versus parameters for each format over ``ranks`` (computed once), with the
        current choice marked: a ringed point and a dotted vertical line at its parameters, and
        the tensor's size as a grey line."""
        from matplotlib.figure import Figure

        if not self.curves:
            self._compute_curves()
        fig = Figure(figsize=(4.2, 2.8))
        ax = fig.add_subplot()
        colors = {}
        for k, (fmt, points) in enumerate(self.curves.items()):
            colors[fmt] = f"C{k}"
            if points:
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, "o-", label=fmt, ms=3, color=colors[fmt])
        ax.axvline(self.tensor.size, color="0.6", lw=0.8, ls="--", label="tensor size")
        if self.current is not None:
            fmt, params, error = self.current
            color = colors.get(fmt, "k")
            ax.axvline(params, color=color, lw=1, ls=":")
            ax.plot([params], [error], "o", ms=9, mfc="none", mec="k", mew=1.6, zorder=5)
            ax.plot([params], [error], "o", ms=5, color=color, zorder=6, label=f"{fmt} r={self.rank_slider.value}")
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("relative error")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        self.curve_plot.value = figure_png(fig)


def _viewable(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] in (1, 3):
        return np.clip(img, 0, 1)
    flat = img.reshape(img.shape[0], -1)
    lo, hi = flat.min(), flat.max()
    return (flat - lo) / (hi - lo + 1e-12)
