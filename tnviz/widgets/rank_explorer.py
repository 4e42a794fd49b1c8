"""RankExplorer: choose a layer, a format and a rank or rate; see the diagram and its costs."""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as W

from tnviz.core.formats import DEFAULT_FORMAT, FORMATS, LayerConfig, ranks_for_rate
from tnviz.errors import TnvizError
from tnviz.nn.pricing import LayerPrice, max_rank_within, price_layer
from tnviz.widgets._common import LatestOnly, diagram_svg, error_html, html_table, rebounded, warning_html

__all__ = ["RankExplorer"]

CHANNELS = (8, 16, 32, 64, 128, 256, 512)
KERNELS = {"Linear": (), "1×1": (1, 1), "3×3": (3, 3), "5×5": (5, 5)}


class RankExplorer(W.VBox):
    """Sliders and dropdowns for a layer's shape, format, order and rank or rate; the diagram
    (edge widths by rank, every leg labelled with its size, the input's included), parameters,
    FLOPs, compression rate and — given a pretrained layer — the reconstruction error update on
    every change.

    The figures are :func:`tnviz.nn.pricing.price_layer`'s, the same as ``cost_table``'s and
    the compression reports': the plan the layer runs (objective ``"time"``), shown in the
    table. The rank slider stops at the largest rank whose parameters stay within the dense
    layer's (rate ≤ 1); where no rank does, a warning says so (class ``tn-warning``).

    Args:
        in_channels, out_channels, kernel_size: the layer; ``kernel_size`` as in ``nn.Conv2d``
            (3 or (3, 3)), or a ``KERNELS`` key such as ``"3×3"``; None for Linear.
        format, rate, rank, order: the starting choice (``rank`` switches to rank mode).
        input_size, batch: the input the FLOPs are counted for.
        pretrained: an ``nn.Conv2d``/``nn.Linear`` whose decomposition error is shown (computed
            in the background; its shape fixes the layer's).

    Attributes (read them in tests): ``ranks``, ``params``, ``dense_params``, ``flops``,
    ``dense_flops``, ``achieved_rate``, ``approach``, ``objective``, ``price`` (the
    :class:`~tnviz.nn.pricing.LayerPrice`), ``max_rank``, ``warning``, ``svg``, ``error``,
    ``last_update_ms``.

    CSS classes: ``tn-rank-explorer`` (the whole), ``tn-rate-slider``, ``tn-rank-slider``
    (their handles: ``.noUi-handle`` inside), ``tn-rank-figures`` (the table: ``table.tn-table``),
    ``tn-rank-warning`` (holds ``.tn-warning`` lines), ``tn-rank-picture`` (the SVG).

    Example:
        >>> explorer = RankExplorer(64, 64, 3, format="mtt", rate=0.1)
        >>> explorer.rate_slider.value = 0.05  # the diagram and the figures follow
    """

    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 64,
        kernel_size: int | tuple[int, ...] | str | None = 3,
        format: str = DEFAULT_FORMAT,
        rate: float = 0.1,
        rank: int | None = None,
        order: int = 3,
        input_size: int = 32,
        batch: int = 32,
        pretrained: Any = None,
    ) -> None:
        kernel = _kernel_name(kernel_size)
        self.pretrained = pretrained
        self.kernels = dict(KERNELS)
        if pretrained is not None:
            in_channels, out_channels, kernel, size = _shape_of(pretrained)
            self.kernels.setdefault(kernel, size)
        if kernel not in self.kernels:
            raise TnvizError(f"kernel must be one of {', '.join(self.kernels)}, got {kernel!r}", token=str(kernel))
        if format not in FORMATS:
            raise TnvizError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", token=str(format))
        channel_options = sorted(set(CHANNELS) | {in_channels, out_channels})
        self.in_box = W.Dropdown(options=channel_options, value=in_channels, description="in")
        self.out_box = W.Dropdown(options=channel_options, value=out_channels, description="out")
        self.kernel_box = W.Dropdown(options=list(self.kernels), value=kernel, description="kernel")
        if pretrained is not None:
            for box in (self.in_box, self.out_box, self.kernel_box):
                box.disabled = True
        self.format_box = W.Dropdown(options=[f for f in FORMATS if f != "dense"], value=format, description="format")
        self.order_slider = W.IntSlider(value=order, min=2, max=4, description="order m")
        self.mode = W.ToggleButtons(options=["rate", "rank"], value="rank" if rank else "rate", description="by")
        self.rate_slider = W.FloatLogSlider(
            value=rate, base=10, min=-2.5, max=0, step=0.05, description="rate", readout_format=".3f"
        )
        self.rank_slider = W.IntSlider(value=rank or 8, min=1, max=max(128, rank or 8), description="rank")
        self.picture = W.HTML()
        self.figures = W.HTML()
        self.warning_label = W.HTML()
        self.error_label = W.HTML()
        # CSS classes a browser test (or a user's stylesheet) can find the parts by
        self.picture.add_class("tn-rank-picture")
        self.figures.add_class("tn-rank-figures")
        self.warning_label.add_class("tn-rank-warning")
        self.error_label.add_class("tn-rank-error")
        self.rate_slider.add_class("tn-rate-slider")
        self.rank_slider.add_class("tn-rank-slider")
        self.format_box.add_class("tn-rank-format")
        self.input_size, self.batch = input_size, batch
        self.ranks: dict = {}
        self.params = self.dense_params = self.flops = self.dense_flops = 0
        self.achieved_rate = 1.0
        self.approach = ""
        self.objective = ""
        self.price: LayerPrice | None = None
        self.max_rank: int | None = None
        self.warning = ""
        self.svg = ""
        self.error: float | None = None
        self.last_update_ms = 0.0
        self._error_worker = LatestOnly()
        inputs = [self.in_box, self.out_box, self.kernel_box, self.format_box, self.order_slider, self.mode]
        inputs += [self.rate_slider, self.rank_slider]
        figures = W.VBox(
            [self.warning_label, self.figures, self.error_label], layout=W.Layout(min_width="0", overflow="auto")
        )
        # side by side where there is room, the figures under the controls where there is not
        self._inputs = W.VBox(inputs, layout=W.Layout(flex="0 0 auto"))
        top = W.HBox([self._inputs, figures], layout=W.Layout(flex_flow="row wrap"))
        super().__init__([top, self.picture])
        self.add_class("tn-rank-explorer")
        for w in inputs:
            w.observe(self._changed, names="value")
        self.update()

    def _changed(self, change: Any) -> None:
        self.update()

    def _config(self) -> LayerConfig:
        kernel = self.kernels[self.kernel_box.value]
        return LayerConfig(self.in_box.value, self.out_box.value, kernel, order=self.order_slider.value)

    def _bound_rank_slider(self, fmt: str, config: LayerConfig) -> None:
        """Stop the rank slider at the largest rank with rate ≤ 1 (the value follows if above)."""
        try:
            self.max_rank = max_rank_within(fmt, config)
        except TnvizError:
            self.max_rank = None  # the configuration itself is refused: update() shows why
        top = self.max_rank if self.max_rank is not None else self.rank_slider.max  # refused: the bound stays
        slider = rebounded(self.rank_slider, self._inputs, 1, top)  # the value lowered with the bound
        if slider is not self.rank_slider:
            self.rank_slider = slider
            slider.observe(self._changed, names="value")

    def update(self) -> None:
        """Recompute and redraw (called on every control change)."""
        started = time.perf_counter()
        config, fmt = self._config(), self.format_box.value
        reshaped = FORMATS[fmt].reshaped
        self.order_slider.disabled = not reshaped
        self.rate_slider.layout.display = "" if self.mode.value == "rate" else "none"
        self.rank_slider.layout.display = "" if self.mode.value == "rank" else "none"
        self._bound_rank_slider(fmt, config)
        try:
            if self.mode.value == "rate":
                ranks = ranks_for_rate(fmt, config, self.rate_slider.value)
            else:
                ranks = self.rank_slider.value
            price = price_layer(fmt, config, ranks, input_size=self.input_size, batch=self.batch)
        except TnvizError as err:
            self.figures.value = error_html(err.message)
            self.warning_label.value = ""
            self.svg = self.picture.value = ""  # not the last format's diagram under this one's error
            if self.pretrained is not None:  # no stale error for a setting no longer shown
                failed = err
                self._error_worker.submit(lambda: failed, self._show_error)
            self.last_update_ms = 1000 * (time.perf_counter() - started)
            return
        self.price = price
        self.ranks = dict(price.ranks)
        self.params, self.dense_params = price.params, price.dense_params
        self.flops, self.dense_flops = price.flops, price.dense_flops
        self.approach, self.objective = price.approach, price.objective
        self.achieved_rate = price.rate
        self.warning = ""
        if self.achieved_rate > 1:
            self.warning = (
                f"{self.params:,} parameters: {self.achieved_rate:.2f}× the dense layer's {self.dense_params:,} "
                "(rate above 1, no compression)"
            )
            if self.max_rank is None:
                self.warning += f"; format {fmt!r} exceeds the dense layer even at rank 1"
        self.warning_label.value = warning_html(self.warning) if self.warning else ""
        # The bound diagram (X's shape included) labels every leg with its size: b=32, x=32, …
        self.svg = diagram_svg(price.diagram, title=f"{fmt}, {config.in_channels}→{config.out_channels}")
        self.picture.value = self.svg
        rows = [row for row in price.rows() if row[0] != "format"]
        if self.mode.value == "rank" and self.max_rank is not None:
            rows.insert(1, ("largest rank with rate ≤ 1", str(self.max_rank)))
        self.figures.value = html_table(None, rows)
        if self.pretrained is not None:
            self.error_label.value = "reconstruction error: computing…"
            self._error_worker.submit(lambda: self._decompose(fmt, ranks, config.order), self._show_error)
        self.last_update_ms = 1000 * (time.perf_counter() - started)

    def _decompose(self, fmt: str, ranks: Any, order: int) -> float:
        from tnviz.nn import from_dense

        return from_dense(self.pretrained, format=fmt, rank=ranks, order=order, n_iter_max=50).reconstruction_error

    def _show_error(self, result: Any) -> None:
        if isinstance(result, Exception):
            self.error = None
            self.error_label.value = error_html(str(result))
        else:
            self.error = float(result)
            self.error_label.value = f"reconstruction error ‖W−Ŵ‖/‖W‖ = <b>{self.error:.4f}</b>"

    def wait(self, timeout: float = 60) -> bool:
        """Block until the background reconstruction error is shown."""
        return self._error_worker.wait(timeout)


def _shape_of(module: Any) -> tuple[int, int, str, tuple[int, ...]]:
    """(in, out, kernel name, kernel size) of a pretrained Linear or ungrouped Conv2d."""
    from torch import nn

    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, "Linear", ()
    if isinstance(module, nn.Conv2d) and module.groups == 1:
        k = tuple(module.kernel_size)
        return module.in_channels, module.out_channels, f"{k[0]}×{k[1]}", k
    raise TnvizError(
        f"pretrained must be an nn.Linear or ungrouped nn.Conv2d, got {type(module).__name__}",
        token=type(module).__name__,
    )


def _kernel_name(kernel_size: Any) -> str:
    """The kernel box's entry for a kernel size: 3 and (3, 3) are "3×3", None is "Linear"."""
    if isinstance(kernel_size, str):
        return kernel_size
    if kernel_size is None or kernel_size == ():
        return "Linear"
    size = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    return "×".join(map(str, size))
