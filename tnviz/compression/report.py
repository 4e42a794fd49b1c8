"""What :func:`~tnviz.compression.compress` reports: each replaced layer's format, ranks,
parameters, FLOPs, time and errors, and what the whole model kept and became."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from torch import nn

from tnviz.compression.inventory import KeptModule
from tnviz.nn.pricing import LayerPrice
from tnviz.tables import html_table, text_table

__all__ = ["LayerReport", "CompressionReport", "Compressed"]


@dataclass(frozen=True)
class LayerReport:
    """One replaced layer: what it became and what it costs (FLOPs per sample; None without
    an example input).

    ``price`` is the layer's :func:`~tnviz.nn.pricing.price_layer` price for the whole
    example batch (the figures RankExplorer and ``cost_table`` show for that input);
    ``flops`` and ``dense_flops`` are its FLOPs divided by the batch size."""

    name: str
    kind: str
    format: str
    ranks: dict
    dense_params: int
    params: int
    dense_flops: int | None
    flops: int | None
    error: float | None
    price: LayerPrice | None = field(default=None, repr=False, compare=False)
    # ‖f(x) − y‖ / ‖y‖: the layer's outputs inside the student (on the inputs the compressed
    # layers before it give it) against the teacher layer's outputs, over the calibration
    # samples (None without calibration data).
    output_error: float | None = None
    # Seconds the data-aware fit took (None unless init="activations").
    fit_seconds: float | None = None
    # The nn.MultiheadAttention it belongs to (its in_proj_weight or out_proj): torch's attention
    # reads the weight and calls no module, so no hook measures the layer's own output error.
    attention: str | None = None
    # Its inference time over the dense layer's on an input of the example's shape (None without one).
    latency: float | None = None

    @property
    def rate(self) -> float:
        return self.params / self.dense_params

    @property
    def approach(self) -> str | None:
        """The plan's approach for the example input (None without one)."""
        return self.price.approach if self.price is not None else None


@dataclass(frozen=True)
class CompressionReport:
    """Per-layer and total figures of a compression.

    ``rate`` is the compressed layers' parameters over their dense parameters (what ``rate=``
    targets); ``model_rate`` is the whole model's parameters over the original model's. ``kept``
    lists every other module that holds parameters, with the reason it stayed as it was. Each
    layer's ``error`` is its weight error ‖W − Ŵ‖ / ‖W‖ (after the fit for ``init="activations"``)
    and ``output_error`` its outputs' relative error on the calibration activations (when
    ``calibration=`` was given, whatever the init)."""

    format: str
    target_rate: float | None
    layers: tuple[LayerReport, ...]
    kept: tuple[KeptModule, ...]
    model_params: int
    original_params: int
    init: str = "decompose"
    notes: tuple[str, ...] = field(default=())
    # what target_rate was asked of: each compressed layer, or the whole model's parameters, FLOPs or time
    budget: str = "layer"
    # The whole model's inference time over the original's on example_input (None without one).
    latency: float | None = None
    # The whole model's FLOPs on example_input over the original's (None without one).
    flops_rate: float | None = None
    # The decompositions' time as estimated before the first began (decomposition_seconds), and
    # the seconds compress took in all (None with init="random": nothing was decomposed).
    estimated_seconds: float | None = None
    seconds: float | None = None

    @property
    def rate(self) -> float:
        dense = sum(r.dense_params for r in self.layers)
        return sum(r.params for r in self.layers) / dense if dense else 1.0

    @property
    def model_rate(self) -> float:
        return self.model_params / self.original_params

    def rows(self) -> list[dict[str, Any]]:
        """One dict per replaced layer (for CSV or a DataFrame)."""
        return [
            {
                "layer": r.name,
                "kind": r.kind,
                "format": r.format,
                "ranks": " ".join(f"{k}={v}" for k, v in r.ranks.items()),
                "dense_params": r.dense_params,
                "params": r.params,
                "rate": r.rate,
                "dense_flops": r.dense_flops,
                "flops": r.flops,
                "plan": r.approach,
                "latency_over_dense": r.latency,
                "reconstruction_error": r.error,
                "output_error": r.output_error,
                "fit_seconds": r.fit_seconds,
            }
            for r in self.layers
        ]

    _HEAD = ("layer", "kind", "format", "ranks", "params", "dense", "rate", "FLOPs/dense", "time/dense", "plan",
             "weight err.", "output err.")  # fmt: skip

    _KEPT_HEAD = ("kept as it was", "kind", "params", "why")

    @property
    def output_error(self) -> float | None:
        """The mean output error of the compressed layers that have one (None without calibration
        data; an attention's in_proj runs inside torch's attention, where no hook sees its output)."""
        values = [r.output_error for r in self.layers if r.output_error is not None]
        return sum(values) / len(values) if values else None

    @property
    def weight_error(self) -> float | None:
        """The compressed layers' mean weight error (None for ``init="random"``)."""
        values = [r.error for r in self.layers]
        return None if not values or None in values else sum(values) / len(values)  # type: ignore[arg-type,misc]

    def kept_table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """(header, rows): every module with parameters that was not compressed, and why."""
        return self._KEPT_HEAD, [(k.name or "(the model)", k.kind, f"{k.params:,}", k.reason) for k in self.kept]

    @property
    def flops(self) -> int | None:
        """FLOPs per sample of the compressed layers (None without an example input)."""
        values = [r.flops for r in self.layers]
        return None if not values or None in values else sum(values)  # type: ignore[arg-type]

    @property
    def dense_flops(self) -> int | None:
        """FLOPs per sample of the same layers dense (None without an example input)."""
        values = [r.dense_flops for r in self.layers]
        return None if not values or None in values else sum(values)  # type: ignore[arg-type]

    @property
    def objective(self) -> str | None:
        """The planner objective the FLOPs were counted for (None without an example input)."""
        prices = [r.price for r in self.layers if r.price is not None]
        return prices[0].objective if prices else None

    def table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """(header, rows of cell text): the per-layer table that ``str()`` and the widgets show.

        Example:
            >>> head, rows = report.table()  # doctest: +SKIP
        """
        return self._HEAD, self._cells()

    def summary(self) -> str:
        """The one-paragraph summary printed above the table (rates, kept layers, FLOPs' objective)."""
        return self._summary()

    def _cells(self) -> list[tuple[str, ...]]:
        out = []
        for r in self.layers:
            flops = f"{r.flops / r.dense_flops:.3f}" if r.flops and r.dense_flops else "—"
            error = "—" if r.error is None else f"{r.error:.3g}"
            out_error = "—" if r.output_error is None else f"{r.output_error:.3g}"
            ranks = " ".join(f"{k}={v}" for k, v in r.ranks.items()) or "—"
            plan = r.approach or "—"
            out.append(
                (
                    r.name,
                    r.kind,
                    r.format,
                    ranks,
                    f"{r.params:,}",
                    f"{r.dense_params:,}",
                    f"{r.rate:.4f}",
                    flops,
                    "—" if r.latency is None else f"{r.latency:.2f}",
                    plan,
                    error,
                    out_error,
                )
            )
        return out

    def _summary(self) -> str:
        asked = "" if self.target_rate is None else f"asked {self.target_rate:g}"
        target = f" ({asked})" if asked and self.budget == "layer" else ""
        model_target = f"; {asked}" if asked and self.budget == "model" else ""
        flops_target = f"; {asked}" if asked and self.budget == "flops" else ""
        kept_params = sum(k.params for k in self.kept)
        kept = f"{len(self.kept)} modules with {kept_params:,} parameters (below)" if self.kept else "none"
        if self.objective is not None:
            flops = f" FLOPs planned for objective {self.objective!r} (what the layers run)."
        else:
            flops = " FLOPs and times: pass example_input= to measure them."
        if self.flops_rate is not None:
            flops += (
                f" The whole model's FLOPs on the example input: {self.flops_rate:.4f} of the original's{flops_target}."
            )
        if self.latency is not None:
            latency_target = f" ({asked})" if asked and self.budget == "latency" else ""
            flops += f" Inference on the example input: {self.latency:.2f}× the original model's time{latency_target}."
        if self.estimated_seconds is not None and self.seconds is not None:
            flops += (
                f" Decompositions estimated at about {self.estimated_seconds:.3g} s before they began; "
                f"compressing took {self.seconds:.3g} s."
            )
        return (
            f"{self.format}, init={self.init}: {len(self.layers)} compressed layers keep {self.rate:.4f} of their "
            f"parameters{target}; the whole model {self.model_params:,} of {self.original_params:,} "
            f"({self.model_rate:.4f}{model_target}). Kept as they were: {kept}." + flops
        )

    def __str__(self) -> str:
        lines = [self._summary(), text_table(self._HEAD, self._cells())]
        if self.kept:
            lines.append(text_table(*self.kept_table()))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        html = html_table(self._HEAD, self._cells(), caption=self._summary())
        if self.kept:
            html += html_table(*self.kept_table())
        return html


class Compressed(NamedTuple):
    """``(model, report)`` as returned by :func:`compress`."""

    model: nn.Module
    report: CompressionReport
