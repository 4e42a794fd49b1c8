"""The one planning policy: which search an ``optimize`` setting runs — a named search, a path,
the hyper search, or ``"auto"`` (exact where affordable; else the cheapest of the quick trees,
improved by a short hyper search where the network is costly enough to repay it)."""

from __future__ import annotations

from tnviz.core.optimize import SEARCHES, Hyper, Optimize
from tnviz.core.plan.hyper import hyper_tree
from tnviz.core.plan.model import Problem
from tnviz.core.plan.search import (
    EXACT_BUDGET,
    Tree,
    auto_tree,
    check_tree,
    exact_work,
    greedy_tree,
    left_to_right_tree,
    optimal_tree,
    path_tree,
    reconstruct_tree,
    tree_cost,
)
from tnviz.errors import TnvizError

__all__ = ["choose_tree", "SMALL_NETWORK", "AUTO_HYPER_LIMIT", "HYPER_PAYS", "AUTO_HYPER"]

# Networks up to this many operands also weigh left-to-right and reconstruct-first under "auto";
# beyond, those two comparisons cost more than they can win.
SMALL_NETWORK = 64

# "auto" runs a short hyper search (random greedy trees, reconfigured) on networks beyond the
# exact search of at most this many operands, when the best quick tree costs at least
# HYPER_PAYS FLOPs per operand: the search takes about 5 ms per operand here, so below that its
# gain cannot repay it (a 100-site MPS inner product: 3e6 FLOPs, no search; a random regular
# network of 100 tensors: greedy 1e16 FLOPs, the search 3e12 in 0.5 s).
AUTO_HYPER_LIMIT = 256
HYPER_PAYS = 10**7
AUTO_HYPER = Hyper(trials=8, subtree=6)


def choose_tree(problem: Problem, optimize: Optimize) -> Tree:
    """The evaluation tree for an ``optimize`` setting (see :meth:`Diagram.plan`)."""
    if isinstance(optimize, Hyper) or optimize == "hyper":
        return _hyper(problem, optimize if isinstance(optimize, Hyper) else Hyper())
    if isinstance(optimize, (list, tuple)):
        tree = path_tree(problem.n, optimize)
        check_tree(problem, tree)
        return tree
    if not isinstance(optimize, str) or optimize not in SEARCHES:
        raise TnvizError(
            f"unknown optimize={optimize!r}; expected one of {', '.join(SEARCHES)}, a Hyper(...) or a path of pairs",
            token=repr(optimize),
        )
    if problem.n == 1:
        return 0
    naive = left_to_right_tree(range(problem.n))
    if optimize == "left-to-right":
        return naive
    if optimize == "reconstruct":
        tree = reconstruct_tree(problem)
        if tree is None:
            raise TnvizError(
                "optimize='reconstruct' is impossible here: a parameter tensor is the signal of a convolution "
                "index whose kernel is an input; use 'auto'",
                token="reconstruct",
            )
        return tree
    if optimize == "optimal":
        work = exact_work(problem.n)
        if work > EXACT_BUDGET:
            raise TnvizError(
                f"optimize='optimal' on {problem.n} tensors would weigh {work:,} splits (limit {EXACT_BUDGET:,}, "
                "about ten tensors); use optimize='auto' (exact where affordable, else greedy and opt_einsum) "
                "or 'greedy'",
                token="optimal",
            )
        return optimal_tree(problem, problem.full)[1]
    if optimize == "greedy":
        tree = greedy_tree(problem, problem.full)
        return tree if tree is not None else naive
    tree = auto_tree(problem, problem.full)
    if exact_work(problem.n) <= EXACT_BUDGET and tree is not None:
        return tree
    candidates = _quick_trees(problem, tree, naive)
    if not candidates:
        return naive
    best = min(candidates, key=lambda t: (tree_cost(problem, t, 1), tree_cost(problem, t)))
    if problem.n <= AUTO_HYPER_LIMIT and tree_cost(problem, best) >= HYPER_PAYS * problem.n:
        better = hyper_tree(problem, problem.full, AUTO_HYPER, candidates)
        return better if better is not None else best
    return best


def _hyper(problem: Problem, settings: Hyper) -> Tree:
    """The hyper search, started from the trees "auto" weighs (its own, left-to-right and, on small
    networks, reconstruct-first: so it is never worse than "auto"); exact where the exact search is
    affordable."""
    if problem.n == 1:
        return 0
    if exact_work(problem.n) <= EXACT_BUDGET:
        tree = optimal_tree(problem, problem.full)[1]
        return tree if tree is not None else left_to_right_tree(range(problem.n))
    naive = left_to_right_tree(range(problem.n))
    start = _quick_trees(problem, auto_tree(problem, problem.full), naive)
    if naive not in start:
        start.insert(1 if start else 0, naive)
    tree = hyper_tree(problem, problem.full, settings, start)
    return tree if tree is not None else naive


def _quick_trees(problem: Problem, own: Tree | None, naive: Tree) -> list[Tree]:
    """The trees "auto" weighs beyond the exact search: its own search's, and on small networks
    left-to-right and reconstruct-first too."""
    trees = [t for t in (own,) if t is not None]
    if problem.n <= SMALL_NETWORK:
        trees += [naive] + [t for t in (reconstruct_tree(problem),) if t is not None]
    return trees
