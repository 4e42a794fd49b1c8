"""Decomposers: one per format, each in its own module here, registered by format name.

A decomposer takes a built layer (:class:`~tnviz.core.formats.BuiltLayer`) and one group's
dense weight ``W`` (T, S, *kernel) as a float64 NumPy array, and returns the layer's
parameter tensors ``{name: array}`` whose contraction approximates ``W``. They run on
tensorly's NumPy backend; tensorly's global backend is never changed. Modules are
discovered when this package loads, so a new format's decomposer is one new file that sets
``DECOMPOSER`` (and ``FORMAT``, the name it serves) and ``WORK(spec, shape, n_iter_max)``: the
multiply-adds of its dominant steps for one group's weight of ``shape`` (T, S, *kernel) — or a
``common.PricedAs`` where it runs another format's algorithm (CP of a matrix: the SVD) — to a
constant that ``rates.json`` (written by ``benchmarks/decompose_rates.py --write``) turns into
seconds for :func:`tnviz.nn.decompose.decomposition_seconds`. A module may set ``BONDS``: how many
rank indices its largest intermediate carries besides the weight's modes (default 1: CP-ALS's
MTTKRP has one; ring ALS's subchain has two), which :func:`tnviz.nn.decompose.decomposition_bytes` weighs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np

from tnviz.core.formats import BuiltLayer
from tnviz.errors import TnvizError

__all__ = ["DECOMPOSERS", "BONDS", "WORKS", "Decomposer", "Work", "decomposer_for"]

Decomposer = Callable[[BuiltLayer, np.ndarray, int, int], dict]
Work = Callable[[BuiltLayer, tuple, int], Any]  # multiply-adds, or common.PricedAs


def _discover() -> tuple[dict[str, Decomposer], dict[str, int], dict[str, Work]]:
    found, bonds, works = {}, {}, {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "DECOMPOSER"):
            found[module.FORMAT] = module.DECOMPOSER
            bonds[module.FORMAT] = getattr(module, "BONDS", 1)
            works[module.FORMAT] = module.WORK
    return found, bonds, works


DECOMPOSERS, BONDS, WORKS = _discover()


def decomposer_for(format: str) -> Decomposer:
    """The decomposer registered for ``format``."""
    found = DECOMPOSERS.get(format)
    if found is None:
        raise TnvizError(
            f"no decomposer for format {format!r}; from_dense knows {', '.join(sorted(DECOMPOSERS))}", token=format
        )
    return found
