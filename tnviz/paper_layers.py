"""The paper's convolutional layers (Su et al. 2022, Fig. 5 and the NN-CP/TK/TT/TR baselines)
as specs with ranks near 10 % of a dense 3×3 layer's parameters, for the demo and benchmarks.

Each entry maps a name to ``(spec, sizes)``; ``sizes`` binds every parameter tensor for a
64 → 64 channel 3×3 layer. They are built by the format registry
(:func:`tnviz.core.formats.paper_layer`), so the names and ranks are the formats' own.
"""

from __future__ import annotations

from typing import Any

from tnviz.core.formats import kernel_spec, paper_layer

__all__ = ["PAPER_LAYERS", "kernel_spec"]

_NAMES = ("dense", "cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr")


def _entry(name: str) -> tuple[str, dict[str, Any]]:
    built = paper_layer(name)
    return built.spec, dict(built.sizes)


PAPER_LAYERS: dict[str, tuple[str, dict[str, Any]]] = {name: _entry(name) for name in _NAMES}
