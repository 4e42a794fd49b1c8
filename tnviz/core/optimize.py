"""The values of ``optimize=``, the one setting every planning function and layer takes: a path
search by name, or a path of pairs (opt_einsum's form) — and, for a layer, ``"measure"``, which
times its candidate plans on the first input. Stdlib only, so that every layer of the package can
name the type without importing the planner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

__all__ = ["Search", "SEARCHES", "Optimize", "LayerOptimize", "LAYER_SETTINGS"]

Search = Literal["auto", "optimal", "greedy", "left-to-right", "reconstruct"]
SEARCHES: tuple[str, ...] = get_args(Search)
# a search by name, or the path itself: pairs of positions in the shrinking operand list
Optimize = Search | Sequence[Sequence[int]]
# a layer may also time its candidate plans on its first input
LayerOptimize = Optimize | Literal["measure"]
LAYER_SETTINGS: tuple[str, ...] = (*SEARCHES, "measure")
