"""DecompositionExplorer: CP, Tucker, TT and TR of a real tensor, with a rank slider."""

from __future__ import annotations

import html
import time

import ipywidgets as W
import numpy as np

from tnviz.errors import TnvizError
from tnviz.widgets._common import figure_png

__all__ = ["DecompositionExplorer", "sample_image", "decompose", "DECOMPOSITIONS"]

# The tensor decompositions shown, named as the layer formats name them (tnviz.core.formats).
DECOMPOSITIONS = ("cp", "tk", "tt", "tr")
_ALIASES = {"tucker": "tk"}  # the name this explorer used before


def sample_image(size: int = 64) -> np.ndarray:
    """scikit-image's astronaut photograph (a real RGB image), resized to size×size×3 in [0, 1]."""
    try:
        from skimage import data, transform
    except ImportError:
        raise TnvizError("the sample image needs scikit-image: pip install scikit-image", token="skimage") from None
    image = data.astronaut().astype(np.float64) / 255.0
    return transform.resize(image, (size, size), anti_aliasing=True)


def decompose(tensor: np.ndarray, format: str, rank: int) -> tuple[np.ndarray, int]:
    """(reconstruction, parameter count) of ``tensor`` in a format at one rank (tensorly,
    NumPy backend, ranks capped at what each mode allows)."""
    import tensorly as tl
    from tensorly.decomposition import parafac, tensor_ring, tensor_train, tucker

    format = _ALIASES.get(format, format)
    X = tl.tensor(np.asarray(tensor, dtype=np.float64), backend="numpy") if hasattr(tl, "tensor") else tensor
    shape = tensor.shape
    if format == "cp":
        cp = parafac(X, rank, n_iter_max=60, init="random", random_state=0, tol=1e-6)
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
        r = max(1, int(round(rank**0.5)))  # a ring splits its first mode into r0·r1
        ranks = [r] + [rank] * (len(shape) - 1) + [r]
        ranks[1] = min(ranks[1], shape[0] // r if shape[0] >= r else 1)
        try:
            tr = tensor_ring(X, rank=ranks)
        except ValueError as err:
            raise TnvizError(f"tensor ring at rank {rank} is not possible here: {err}", token=str(rank)) from None
        return np.asarray(tl.tr_to_tensor(tr)), int(sum(f.size for f in tr.factors))
    raise TnvizError(f"unknown format {format!r}; expected one of {', '.join(DECOMPOSITIONS)}", token=str(format))


class DecompositionExplorer(W.VBox):
    """A rank slider shows the reconstruction beside the original with its relative error, and
    the error-versus-parameters curves of the four formats.

    Args:
        tensor: a real tensor (default: :func:`sample_image`, 64×64×3); a pretrained kernel works.
        format, rank: the starting choice.
        ranks: the ranks of the curves.

    Attributes: ``error``, ``params``, ``curves`` (format -> [(params, error)]), ``last_update_ms``.
    """

    def __init__(
        self, tensor: np.ndarray | None = None, format: str = "cp", rank: int = 8, ranks=(1, 2, 4, 8, 16, 32)
    ) -> None:
        self.tensor = sample_image() if tensor is None else np.asarray(tensor, dtype=np.float64)
        if self.tensor.ndim < 2:
            raise TnvizError(f"need a tensor of order ≥ 2, got shape {self.tensor.shape}", token=str(self.tensor.shape))
        self.curve_ranks = tuple(ranks)
        self.format_box = W.ToggleButtons(
            options=DECOMPOSITIONS, value=_ALIASES.get(format, format), description="format"
        )
        self.rank_slider = W.IntSlider(value=rank, min=1, max=max(ranks), description="rank")
        self.images = W.Image(format="png")
        self.curve_plot = W.Image(format="png")
        self.label = W.HTML()
        self.error: float | None = None
        self.params = 0
        self.curves: dict[str, list[tuple[int, float]]] = {}
        self.last_update_ms = 0.0
        super().__init__(
            [W.HBox([self.format_box, self.rank_slider]), self.label, W.HBox([self.images, self.curve_plot])]
        )
        self.format_box.observe(lambda c: self.update(), names="value")
        self.rank_slider.observe(lambda c: self.update(), names="value")
        self.update()
        self.draw_curves()

    def _error(self, approx: np.ndarray) -> float:
        return float(np.linalg.norm(approx - self.tensor) / np.linalg.norm(self.tensor))

    def update(self) -> None:
        """Decompose at the chosen format and rank; redraw the comparison."""
        from matplotlib.figure import Figure

        started = time.perf_counter()
        try:
            approx, self.params = decompose(self.tensor, self.format_box.value, self.rank_slider.value)
        except TnvizError as err:
            self.label.value = f"<span style='color:#b00'>{html.escape(err.message)}</span>"
            return
        self.error = self._error(approx)
        self.label.value = (
            f"{self.format_box.value} rank {self.rank_slider.value}: {self.params:,} parameters "
            f"({self.params / self.tensor.size:.3f} of {self.tensor.size:,}), relative error <b>{self.error:.4f}</b>"
        )
        fig = Figure(figsize=(5, 2.6))
        for k, (title, img) in enumerate((("original", self.tensor), ("reconstruction", approx))):
            ax = fig.add_subplot(1, 2, k + 1)
            ax.imshow(_viewable(img), cmap="gray" if img.ndim == 2 else None)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        self.images.value = figure_png(fig)
        self.last_update_ms = 1000 * (time.perf_counter() - started)

    def draw_curves(self) -> None:
        """Error versus parameters for each format over ``ranks``."""
        from matplotlib.figure import Figure

        for fmt in DECOMPOSITIONS:
            points = []
            for r in self.curve_ranks:
                try:
                    approx, params = decompose(self.tensor, fmt, r)
                except TnvizError:
                    continue
                points.append((params, self._error(approx)))
            self.curves[fmt] = points
        fig = Figure(figsize=(4.2, 2.8))
        ax = fig.add_subplot()
        for fmt, points in self.curves.items():
            if points:
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, "o-", label=fmt, ms=3)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("relative error")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.curve_plot.value = figure_png(fig)


def _viewable(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] in (1, 3):
        return np.clip(img, 0, 1)
    flat = img.reshape(img.shape[0], -1)
    lo, hi = flat.min(), flat.max()
    return (flat - lo) / (hi - lo + 1e-12)
