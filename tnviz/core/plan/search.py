"""Searches for an evaluation tree, one signature each: ``search(problem, mask) -> tree``.

Standard library only (opt_einsum, a declared dependency, is imported inside the one search
that uses it). A tree is an operand number (a leaf) or a pair ``(left, right)``. The policy
that picks a search for ``optimize="auto"`` is :func:`~tnviz.core.plan.policy.choose_tree`; it is the only policy:
``Diagram.plan``, ``tnviz.einsum``, ``TensorNetwork``, the layers, the CLI and the widgets
all plan through it.

Work is bounded before it starts: the exact search runs only when the number of splits it
would weigh is within ``EXACT_BUDGET``, the greedy search only when its candidate pairs are
within ``GREEDY_BUDGET``; beyond that a request is a :class:`TnvizError` that names the
cheaper setting, never an unbounded loop or an out-of-memory kill.
"""

from __future__ import annotations

import heapq
import itertools
import numbers
from collections.abc import Sequence
from typing import Any

from tnviz.core.plan.model import INF, Problem, bits
from tnviz.errors import TnvizError

__all__ = [
    "EXACT_BUDGET",
    "GREEDY_BUDGET",
    "exact_work",
    "optimal_tree",
    "greedy_tree",
    "merge_greedily",
    "opt_einsum_tree",
    "left_to_right_tree",
    "reconstruct_tree",
    "path_tree",
    "tree_path",
    "tree_mask",
    "tree_cost",
    "postorder",
    "merges",
    "auto_tree",
    "check_tree",
]

# Splits the exact search may weigh: (3^n - 2^(n+1) + 1) / 2 for n operands, so ten operands
# (29,525 splits, about 0.1 s here) are searched exactly and eleven are not.
EXACT_BUDGET = 30_000
# Candidate pairs the greedy search may weigh, at the start and in all (each costs about 20 µs
# and a heap entry, so the budget bounds it to a few seconds and some 100 MB).
GREEDY_BUDGET = 200_000
Tree = Any


# ---------------------------------------------------------------------------- trees


def postorder(tree: Tree) -> list[Tree]:
    """Every node of ``tree``, children before parents (iterative: trees may be 1,000 deep)."""
    out: list[Tree] = []
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, seen = stack.pop()
        if isinstance(node, int) or seen:
            out.append(node)
        else:
            stack.append((node, True))
            stack.append((node[1], False))
            stack.append((node[0], False))
    return out


def tree_mask(tree: Tree) -> int:
    mask = 0
    for node in postorder(tree):
        if isinstance(node, int):
            mask |= 1 << node
    return mask


def merges(tree: Tree) -> list[tuple[int, int]]:
    """The pairwise merges of ``tree`` as (left mask, right mask), children first."""
    masks: dict[int, int] = {}
    merges = []
    for node in postorder(tree):
        if isinstance(node, int):
            masks[id(node)] = 1 << node
            continue
        left, right = node
        a = 1 << left if isinstance(left, int) else masks[id(left)]
        b = 1 << right if isinstance(right, int) else masks[id(right)]
        masks[id(node)] = a | b
        merges.append((a, b))
    return merges


def tree_cost(problem: Problem, tree: Tree, which: int = 0) -> float:
    """Total FLOPs (``which=0``) or objective cost (``which=1``) of a tree's pairwise steps."""
    return sum(problem.step_cost(a, b)[which] for a, b in merges(tree))


def left_to_right_tree(order: Sequence[int]) -> Tree:
    tree: Tree = order[0]
    for k in order[1:]:
        tree = (tree, k)
    return tree


# ---------------------------------------------------------------------------- exact


def exact_work(n: int) -> int:
    """Splits the exact search weighs for ``n`` operands."""
    return (3**n - 2 ** (n + 1) + 1) // 2


def optimal_tree(problem: Problem, mask: int) -> tuple[float, Tree]:
    """Exact DP over all binary trees on the operands in ``mask``; returns (cost, tree).

    The cost is the problem's objective; ties go to fewer FLOPs. The tree is None where no legal
    order exists (the cost may be inf on a legal one: beyond float's range, see
    :func:`~tnviz.core.plan.model.as_float`). The caller checks the budget (:func:`exact_work`)."""
    members = list(bits(mask))
    if len(members) == 1:
        return 0, members[0]
    for covered, table in problem.tables.items():
        if covered & mask == mask and mask in table:  # a larger table already holds this subset
            return table[mask][0], table[mask][2]
    best: dict[int, tuple[float, float, Tree]] = {1 << m: (0, 0, m) for m in members}
    problem.tables[mask] = best
    subsets = sorted((s for s in _submasks(mask) if s & (s - 1)), key=lambda s: bin(s).count("1"))
    for s in subsets:
        low = s & -s
        rest = s ^ low
        choice: tuple[float, float, Tree] | None = None
        sub = rest
        while True:
            a = sub | low
            b = s ^ a
            if b:
                fa = best.get(a)
                fb = best.get(b)
                if fa is not None and fb is not None and fa[2] is not None and fb[2] is not None:
                    flops, cost = problem.step_cost(a, b)
                    if flops < INF:
                        key = (fa[0] + fb[0] + cost, fa[1] + fb[1] + flops)
                        if choice is None or key < choice[:2]:
                            choice = (key[0], key[1], (fa[2], fb[2]))
            if sub == 0:
                break
            sub = (sub - 1) & rest
        best[s] = choice if choice is not None else (INF, 0, None)
    result = best[mask]
    return result[0], result[2]


def _submasks(mask: int):
    sub = mask
    while sub:
        yield sub
        sub = (sub - 1) & mask


# ---------------------------------------------------------------------------- greedy


def _candidate_pairs(problem: Problem, nodes: Sequence[int]) -> int:
    """How many connected pairs the greedy search starts from (a hyperedge of k holders gives k²/2)."""
    holders: dict[int, int] = {}
    for s in nodes:
        for b in bits(problem.subset(s)[0]):
            holders[b] = holders.get(b, 0) + 1
    return sum(k * (k - 1) // 2 for k in holders.values())


def greedy_tree(problem: Problem, mask: int, start: Sequence[tuple[int, Tree]] | None = None) -> Tree | None:
    """Repeatedly merge the connected, legal pair that shrinks memory most (opt_einsum's greedy
    rule, FLOPs breaking ties), with a heap of candidate pairs so it scales to thousands of
    operands; disconnected parts are joined smallest first at the end.

    Args:
        problem: the cost model.
        mask: the operands to merge.
        start: optional initial groups ``(operand mask, tree)`` covering ``mask`` (e.g. parts
            already planned by another search); default one group per operand.

    Returns:
        A tree, or None when every remaining pair is illegal (two signals that only an illegal
        step could join); left-to-right order is always legal and serves then.
    """

    def score(a: int, b: int) -> tuple[int, float] | None:
        flops, _ = problem.step_cost(a, b)
        if flops == INF:
            return None
        return problem.subset(a | b)[2] - problem.subset(a)[2] - problem.subset(b)[2], flops

    nodes: dict[int, Tree] = dict(start) if start else {1 << m: m for m in bits(mask)}
    return merge_greedily(problem, nodes, score)


def merge_greedily(problem: Problem, nodes: dict[int, Tree], score: Any, limit: float = INF) -> Tree | None:
    """Merge ``nodes`` (operand mask: its tree) pair by pair, each time the pair sharing an index
    of least ``score(a, b)`` (None: an illegal step) from a heap of candidates, then what shares no
    index, smallest first. The one loop of the greedy searches (:func:`greedy_tree`, the hyper
    search's random trees).

    Returns:
        The tree; None when only illegal steps are left, or once the merges' objective cost
        passes ``limit`` (a tree worse than one already found).
    """
    holders: dict[int, set[int]] = {}
    for s in nodes:
        for b in bits(problem.subset(s)[0]):
            holders.setdefault(b, set()).add(s)
    pairs = sum(len(g) * (len(g) - 1) // 2 for g in holders.values())
    if pairs > GREEDY_BUDGET:
        raise TnvizError(
            f"greedy planning would weigh {pairs:,} candidate pairs (a hyperedge joins too many tensors; "
            f"limit {GREEDY_BUDGET:,}); use optimize='left-to-right' or an explicit path",
            token="greedy",
        )
    heap: list[tuple[Any, int, int, int]] = []
    counter = itertools.count()
    pushes = [0]

    def push(a: int, b: int) -> None:
        pushes[0] += 1
        if pushes[0] > 2 * GREEDY_BUDGET:  # merges re-offer pairs: bounded in all, not only at the start
            raise TnvizError(
                f"greedy planning weighed more than {2 * GREEDY_BUDGET:,} candidate pairs (hyperedges join too "
                "many tensors); use optimize='left-to-right' or an explicit path",
                token="greedy",
            )
        a, b = min(a, b), max(a, b)
        key = score(a, b)
        if key is not None:
            heapq.heappush(heap, (key, next(counter), a, b))

    for group in holders.values():
        for a, b in itertools.combinations(sorted(group), 2):
            push(a, b)
    spent = 0.0
    while heap and len(nodes) > 1:
        _, _, a, b = heapq.heappop(heap)
        if a not in nodes or b not in nodes:
            continue  # one of them was merged since this pair was pushed
        if limit < INF:
            spent += problem.step_cost(a, b)[1]
            if spent > limit:
                return None
        s = a | b
        for part in (a, b):
            for bit in bits(problem.subset(part)[0]):
                holders[bit].discard(part)
        nodes[s] = (nodes.pop(a), nodes.pop(b))
        neighbours: set[int] = set()
        for bit in bits(problem.subset(s)[0]):
            group = holders.setdefault(bit, set())
            neighbours |= group
            group.add(s)
        for other in neighbours:
            push(other, s)
    # What is left shares no index: outer products, smallest operands first.
    while len(nodes) > 1:
        order = sorted(nodes, key=lambda m: problem.subset(m)[2])
        pair = next(
            ((a, b) for a, b in itertools.combinations(order, 2) if problem.step_cost(a, b)[0] < INF),
            None,
        )
        if pair is None:
            return None
        a, b = pair
        nodes[a | b] = (nodes.pop(a), nodes.pop(b))
    return next(iter(nodes.values()))


# ---------------------------------------------------------------------------- opt_einsum


def _pure_components(problem: Problem, mask: int) -> list[int]:
    """Connected groups (two or more operands) of the operands in ``mask`` that hold no
    convolution index: the parts opt_einsum can plan."""
    free = [k for k in bits(mask) if not problem.op_mask[k] & problem.conv_mask]
    parent = {k: k for k in free}

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    by_index: dict[int, int] = {}
    for k in free:
        for b in bits(problem.op_mask[k]):
            if b in by_index:
                parent[find(k)] = find(by_index[b])
            else:
                by_index[b] = k
    groups: dict[int, int] = {}
    for k in free:
        groups[find(k)] = groups.get(find(k), 0) | 1 << k
    return [g for g in groups.values() if g & (g - 1)]


def opt_einsum_tree(problem: Problem, mask: int, optimize: str = "auto") -> Tree | None:
    """opt_einsum's ``contract_path`` for the operands in ``mask``, which must hold no
    convolution index; indices leaving ``mask`` count as outputs. None if opt_einsum
    returns anything but pairwise steps."""
    import opt_einsum

    members = list(bits(mask))
    symbol = [opt_einsum.get_symbol(b) for b in range(len(problem.index_list))]
    terms, shapes = [], []
    for k in members:
        held = list(bits(problem.op_mask[k]))
        terms.append("".join(symbol[b] for b in held))
        shapes.append(tuple(problem.static[b] for b in held))
    kept = problem.subset(mask)[0]
    eq = ",".join(terms) + "->" + "".join(symbol[b] for b in bits(kept))
    path, _ = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=optimize)
    current: list[Tree] = list(members)
    for step in path:
        if len(step) != 2:
            return None
        x, y = step
        merged = (current[x], current[y])
        current = [t for k, t in enumerate(current) if k not in (x, y)] + [merged]
    return current[0] if len(current) == 1 else None


def _opt_einsum_setting(n: int) -> str:
    # opt_einsum's own "auto" turns greedy beyond 14 operands; its "greedy" is O(n² log n) in
    # the worst case but near-linear on sparse networks, so it serves at any size.
    return "auto" if n <= 14 else "greedy"


# ---------------------------------------------------------------------------- fixed orders


def reconstruct_tree(problem: Problem) -> Tree | None:
    """Merge the non-input tensors first (by the "auto" policy), then the inputs; None if illegal."""
    kernels = problem.full & ~sum(1 << k for k in problem.inputs)
    tree: Tree = None
    if kernels:
        tree = auto_tree(problem, kernels)
        if tree is None:
            return None
    for k in problem.inputs:
        tree = k if tree is None else (k, tree)
    return tree if tree_cost(problem, tree) < INF else None


def path_tree(n: int, path: Sequence[Sequence[int]]) -> Tree:
    """Turn an opt_einsum-style path over ``n`` operands (positions in a shrinking list) into a
    tree. A one-position step ``(k,)`` (opt_einsum's for a tensor contracted alone, as
    ``Plan.path`` writes a one-tensor plan) moves that operand to the end and merges nothing."""
    current: list[Tree] = list(range(n))
    for step in path:
        if (
            not isinstance(step, (tuple, list))
            or len(step) not in (1, 2)
            or not all(
                isinstance(p, numbers.Integral) and not isinstance(p, bool) and 0 <= p < len(current) for p in step
            )
            or len(set(step)) != len(step)
        ):
            raise TnvizError(
                f"bad path step {step!r}; expected a pair of distinct positions below {len(current)} (or one position)",
                token=repr(step),
            )
        picked = [current[int(p)] for p in step]
        merged = picked[0] if len(picked) == 1 else (picked[0], picked[1])
        current = [t for k, t in enumerate(current) if k not in {int(p) for p in step}] + [merged]
    if len(current) != 1:
        raise TnvizError(f"the path leaves {len(current)} tensors; expected it to merge all {n}", token=repr(path))
    return current[0]


def tree_path(tree: Tree, n: int) -> list[tuple[int, int]]:
    """A tree as an opt_einsum-style path over ``n`` operands (the inverse of :func:`path_tree`)."""
    alive: list[Tree] = list(range(n))
    path = []
    for node in postorder(tree):
        if isinstance(node, int):
            continue
        i, j = sorted(_position(alive, child) for child in node)
        path.append((i, j))
        alive.pop(j)
        alive.pop(i)
        alive.append(node)
    return path


def _position(alive: list[Tree], node: Tree) -> int:
    if isinstance(node, int):
        return next(k for k, t in enumerate(alive) if isinstance(t, int) and t == node)
    return next(k for k, t in enumerate(alive) if t is node)


def check_tree(problem: Problem, tree: Tree) -> None:
    for a, b in merges(tree):
        if problem.step_cost(a, b)[0] == INF:
            raise TnvizError(
                "illegal step in the given order: it would correlate signals held by both sides; "
                "merge each signal with its kernels first",
                token=repr(tree),
            )


# ---------------------------------------------------------------------------- the policy


def auto_tree(problem: Problem, mask: int) -> Tree | None:
    """The "auto" policy on the operands in ``mask``: exact under the budget; beyond it the
    cheapest (by the objective) of greedy, opt_einsum's path (for convolution-free networks)
    and opt_einsum on the convolution-free parts followed by greedy on the rest."""
    members = list(bits(mask))
    if len(members) == 1:
        return members[0]
    if exact_work(len(members)) <= EXACT_BUDGET:
        return optimal_tree(problem, mask)[1]
    candidates = [greedy_tree(problem, mask)]
    setting = _opt_einsum_setting(len(members))
    if not any(problem.op_mask[k] & problem.conv_mask for k in members):
        candidates.append(opt_einsum_tree(problem, mask, setting))
    else:
        parts = []
        for group in _pure_components(problem, mask):
            sub = opt_einsum_tree(problem, group, _opt_einsum_setting(bin(group).count("1")))
            if sub is not None:
                parts.append((group, sub))
        if parts:
            covered = sum(g for g, _ in parts)
            start = parts + [(1 << k, k) for k in members if not covered >> k & 1]
            candidates.append(greedy_tree(problem, mask, start))
    found = [t for t in candidates if t is not None]
    if not found:
        return None
    return min(found, key=lambda t: (tree_cost(problem, t, 1), tree_cost(problem, t)))
