"""A whole-model budget: the ranks of every compressed layer chosen together, so that the whole
model's parameters (``budget="model"``), its FLOPs on the example input (``budget="flops"``) or its
inference time on it (``budget="latency"``) meet the rate asked, spent where they buy the most accuracy.

``compress(model, rate=0.1, budget="model")`` decomposes each layer at a grid of rates
(``GRID``), giving its error curve — the relative weight error ‖W − Ŵ‖ / ‖W‖ against its
parameters, FLOPs or seconds — and then spends what the model may keep (the rate times the
original model's, less everything that is not a compressed weight: biases, kept modules, and for
FLOPs the products no compressed layer computes, as torch's FlopCounterMode counts them; for
latency the model's time less its compressed layers' — each layer and each option timed on its
input in the example, :mod:`tnviz.compression.latency`) greedily: every
layer starts at its smallest option, and the upgrade that lowers the summed squared errors most
per parameter (or FLOP, or second) is taken while it fits (:func:`allocate`). Each layer counts alike: the squared
relative error is how far its outputs move, relative to their size, on inputs spread like its
weight's rows. The layers' decompositions at the chosen rates are the ones used (nothing is
decomposed twice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tnviz.errors import TnvizError

__all__ = ["GRID", "Option", "allocate", "BUDGETS"]

# The rates each layer is decomposed at: geometric from 0.5 % to all of it, dense enough that
# adjacent options differ by at most about 2× in parameters.
GRID = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.45, 0.65)
BUDGETS = ("layer", "model", "flops", "latency")


@dataclass(frozen=True)
class Option:
    """One layer at one rank setting: what it costs of the budget (parameters, or FLOPs or
    seconds on the example input) and its relative weight error."""

    cost: float
    error: float
    layer: Any  # the decomposed layer


def allocate(curves: Sequence[Sequence[Option]], available: float, unit: str = "parameters") -> list[int]:
    """The option each layer takes (an index into its curve) so that the costs sum to at
    most ``available`` with the summed squared errors as low as the greedy can make them.

    Starts from each layer's fewest-parameter option; repeatedly takes the upgrade (to any option
    with more parameters) of the best error decrease per parameter that still fits. When none
    fits, an upgrade that would not is bought with downgrades of other layers (the cheapest in
    error per unit freed first) wherever that lowers the summed errors: costs that jump (a
    FLOPs curve flat where a layer runs its rebuilt kernel, then a step) leave the greedy
    stuck below the budget otherwise. Refuses when even the smallest options do not fit
    (``unit`` names the cost in that message).

    Example:
        >>> a = [Option(10, 0.9, None), Option(20, 0.5, None), Option(40, 0.1, None)]
        >>> b = [Option(10, 0.9, None), Option(20, 0.85, None)]
        >>> allocate([a, b], 50)
        [2, 0]
    """
    order = [sorted(range(len(c)), key=lambda k: (c[k].cost, c[k].error)) for c in curves]
    choice = [o[0] for o in order]
    spent = sum(c[k].cost for c, k in zip(curves, choice))
    if spent > available:
        raise TnvizError(
            f"the smallest setting of every layer takes {_amount(spent)} {unit}; "
            f"the budget leaves {_amount(available)}",
            token=str(available),
        )
    while True:
        best: tuple[float, int, int] | None = None
        for i, curve in enumerate(curves):
            here = curve[choice[i]]
            for k in order[i]:
                extra = curve[k].cost - here.cost
                gain = here.error**2 - curve[k].error ** 2
                if extra <= 0 or gain <= 0 or spent + extra > available:
                    continue
                if best is None or gain / extra > best[0]:
                    best = (gain / extra, i, k)
        if best is None:
            exchange = _best_exchange(curves, order, choice, available - spent)
            if exchange is None:
                return choice
            for i, k in exchange:
                spent += curves[i][k].cost - curves[i][choice[i]].cost
                choice[i] = k
            continue
        _, i, k = best
        spent += curves[i][k].cost - curves[i][choice[i]].cost
        choice[i] = k


def _best_exchange(
    curves: Sequence[Sequence[Option]], order: Sequence[Sequence[int]], choice: Sequence[int], left: float
) -> list[tuple[int, int]] | None:
    """The upgrade that does not fit in ``left``, paid for by downgrading other layers, that lowers
    the summed squared errors most: [(layer, option), ...] with the upgrade first, or None."""
    downgrades = []  # (error added per unit freed, layer, option, freed, error added)
    for j, curve in enumerate(curves):
        here = curve[choice[j]]
        for m in order[j]:
            freed = here.cost - curve[m].cost
            if freed > 0:
                loss = curve[m].error ** 2 - here.error**2
                downgrades.append((max(loss, 0.0) / freed, j, m, freed, loss))
    downgrades.sort(key=lambda d: d[0])
    best: tuple[float, list[tuple[int, int]]] | None = None
    for i, curve in enumerate(curves):
        here = curve[choice[i]]
        for k in order[i]:
            need = curve[k].cost - here.cost - left
            gain = here.error**2 - curve[k].error ** 2
            if need <= 0 or gain <= 0:
                continue
            taken: dict[int, tuple[int, float, float]] = {}  # layer -> (option, freed, loss): one per layer
            freed = 0.0
            for _, j, m, f, loss in downgrades:
                if j == i or freed >= need:
                    continue
                if j in taken:
                    if f <= taken[j][1]:
                        continue
                    freed -= taken[j][1]
                taken[j] = (m, f, loss)
                freed += f
            if freed < need:
                continue
            net = gain - sum(loss for _, _, loss in taken.values())
            if net > 1e-12 and (best is None or net > best[0]):
                best = (net, [(i, k), *((j, m) for j, (m, _, _) in taken.items())])
    return None if best is None else best[1]


def _amount(x: float) -> str:
    """A count with thousands separators; a time (below 1000) to 3 significant digits."""
    return f"{x:,.0f}" if abs(x) >= 1000 or float(x).is_integer() else f"{x:.3g}"


def error_curve(
    build: Callable[[float], Any], decompose: Callable[[Any], float], cost: Callable[[Any], float]
) -> list[Option]:
    """A layer's options over ``GRID``: ``build(rate)`` makes the layer (a TnvizError where no rank
    fits that rate: the point is left out), ``decompose(layer)`` fits it and returns its error,
    ``cost(layer)`` prices it. Rates that give the same ranks are decomposed once."""
    options: list[Option] = []
    seen: set[tuple] = set()
    for rate in GRID:
        try:
            layer = build(rate)
        except TnvizError:
            continue
        key = tuple(sorted(layer.ranks.items()))
        if key in seen:
            continue
        seen.add(key)
        options.append(Option(cost(layer), decompose(layer), layer))
    return options
