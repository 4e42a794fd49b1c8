"""The values of ``optimize=``, the one setting every planning function and layer takes: a path
search by name, or a path of pairs (opt_einsum's form) — and, for a layer, ``"measure"``, which
times its candidate plans on the first input. Stdlib only, so that every layer of the package can
name the type without importing the planner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from tnviz.errors import TnvizError

__all__ = ["Search", "SEARCHES", "Hyper", "Optimize", "LayerOptimize", "LAYER_SETTINGS"]

Search = Literal["auto", "hyper", "optimal", "greedy", "left-to-right", "reconstruct"]
SEARCHES: tuple[str, ...] = get_args(Search)
# Groups one reconfiguration of the hyper search re-plans exactly (as cotengra's default): at
# most 3^8/2 ≈ 3,300 splits each, far fewer where only connected subsets count.
SUBTREE = 8


@dataclass(frozen=True)
class Hyper:
    """Settings of ``optimize="hyper"``: pass ``optimize=Hyper(trials=256, seconds=10)``.

    Args:
        trials: random greedy trees drawn (the best is reconfigured).
        seconds: a wall-clock cap on the trials and the reconfiguration (None: trials alone
            bound the work, so the plan is the same on every machine).
        seed: the random generator's seed.
        subtree: groups each reconfiguration re-plans exactly (at most 8).
    """

    trials: int = 128
    seconds: float | None = None
    seed: int = 0
    subtree: int = SUBTREE

    def __post_init__(self) -> None:
        for name in ("trials", "seed", "subtree"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise TnvizError(f"Hyper({name}={value!r}): expected a positive int", token=repr(value))
        if self.subtree > 8:
            raise TnvizError(
                f"Hyper(subtree={self.subtree}): at most 8 (the exact search weighs 3^k/2 splits per subtree)",
                token=str(self.subtree),
            )
        if self.seconds is not None and not (isinstance(self.seconds, (int, float)) and self.seconds > 0):
            raise TnvizError(f"Hyper(seconds={self.seconds!r}): expected a positive number", token=repr(self.seconds))


# a search by name (or the hyper search's settings), or the path itself: pairs of positions in the
# shrinking operand list
Optimize = Search | Hyper | Sequence[Sequence[int]]
# a layer may also time its candidate plans on its first input
LayerOptimize = Optimize | Literal["measure"]
LAYER_SETTINGS: tuple[str, ...] = (*SEARCHES, "measure")
