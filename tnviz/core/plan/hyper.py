"""The hyper-optimised search: many randomised greedy trees, the best one then improved by
re-planning its subtrees exactly. Standard library only, and convolution-aware like every
search here: it asks the one cost model (:meth:`Problem.step_cost`) for every step, so an
illegal step (two signals correlated) is never taken and the time objective ranks the trees.

- **Random greedy** (as opt_einsum's ``RandomGreedy`` and cotengra's greedy): the greedy rule
  ``size(ab) - costmod·(size(a) + size(b))`` with ``costmod`` drawn per trial, and among the
  best few candidate pairs a Boltzmann choice at a temperature drawn per trial (relative to the
  best candidate's score). Trial 0 is the plain greedy tree.
- **Subtree reconfiguration** (as cotengra's ``subtree_reconfigure``): for each step of the best
  tree, most expensive first, the subtree below it is cut at up to ``SUBTREE`` groups (expanding
  the most expensive group each time) and those groups are merged again by the exact search; a
  cheaper order replaces the old one. Rounds repeat while one improves the tree.

Work is bounded by a number of trials, so that a plan does not depend on the machine's speed
(plans are cached and compared across runs); ``seconds`` adds a wall-clock cap for users who
prefer a budget in time (then the plan may differ between machines).
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Sequence

from tnviz.core.optimize import Hyper
from tnviz.core.plan.model import INF, Problem, as_float, bits
from tnviz.core.plan.search import Tree, merge_greedily, postorder, tree_cost

__all__ = ["hyper_tree", "random_greedy_tree", "reconfigure"]

# Networks of at least this many operands also draw partition trees (every other trial).
_PARTITIONED = 24
# Fiduccia–Mattheyses passes per bisection (each stops early when it finds no better cut).
_PASSES = 4
# Subtrees whose steps cost less than this share of the tree are not re-planned.
_NEGLIGIBLE = 0.0
# The best trees of the trials that are reconfigured (the best before is not always the best after).
_RECONFIGURED = 3


def _score(problem: Problem, a: int, b: int, costmod: float) -> float:
    """The greedy rule's score of merging ``a`` and ``b`` (least first), as cotengra's greedy:
    the result's size against the sizes it frees, ``costmod`` weighing the second."""
    sa, sb, sab = (as_float(problem.subset(m)[2]) for m in (a, b, a | b))
    return sab / costmod - (sa + sb) * costmod


def random_greedy_tree(
    problem: Problem,
    mask: int,
    rng: random.Random | None = None,
    costmod: float = 1.0,
    temperature: float = 0.0,
    limit: float = INF,
) -> Tree | None:
    """One greedy tree on the operands in ``mask``: the connected, legal pair of least
    :func:`_score`; at ``temperature > 0`` each candidate's score is taken on a log scale with
    Gumbel noise of that scale added (drawing pairs by Boltzmann weights, as cotengra's greedy
    does). Disconnected parts are joined smallest first. None when only illegal steps are left,
    or once the merges' objective cost passes ``limit`` (a tree worse than one already found)."""
    noisy = temperature > 0 and rng is not None

    def score(a: int, b: int) -> float | None:
        if problem.step_cost(a, b)[0] == INF:
            return None
        value = _score(problem, a, b, costmod)
        if not noisy:
            return value
        log = math.log(value) if value > 0 else -math.log(-value) if value < 0 else 0.0  # as cotengra
        return log + temperature * math.log(-math.log(rng.random() or 1e-300))  # type: ignore[union-attr]

    return merge_greedily(problem, {1 << m: m for m in bits(mask)}, score, limit)


# ---------------------------------------------------------------------------- partitions


def partition_tree(
    problem: Problem, mask: int, rng: random.Random, imbalance: float = 0.2, leaf: int = 8
) -> Tree | None:
    """A tree from recursive bisection (as cotengra's partition trees, without KaHyPar): each
    part of more than ``leaf`` operands is split in two by Fiduccia–Mattheyses refinement of a
    random balanced split, minimising the log-size of the indices cut, each side holding at
    least ``(1 - imbalance) / 2`` of the part; parts of ``leaf`` or fewer are merged greedily.
    None when the tree would take an illegal step."""
    weight = [math.log2(max(2, size)) for size in problem.static]
    for b, c in problem.conv_bits.items():
        weight[b] = math.log2(max(2, problem.conv_info[c][2]))
    built: dict[int, Tree] = {}
    halves: dict[int, int] = {}  # part -> its left half
    stack = [(mask, False)]
    while stack:  # iterative: a part is built after its two halves
        part, halves_done = stack.pop()
        members = list(bits(part))
        if len(members) <= leaf:
            built[part] = random_greedy_tree(problem, part) if len(members) > 1 else members[0]
            if built[part] is None:
                return None
            continue
        if halves_done:
            left = halves.pop(part)
            built[part] = (built.pop(left), built.pop(part ^ left))
            continue
        left = halves[part] = _bisect(problem, members, weight, rng, imbalance)
        stack.append((part, True))
        stack.append((left, False))
        stack.append((part ^ left, False))
    tree = built[mask]
    return tree if tree_cost(problem, tree) < INF else None


def _bisect(problem: Problem, members: list[int], weight: list[float], rng: random.Random, imbalance: float) -> int:
    """One side of a bisection of ``members`` (operand numbers) as an operand mask."""
    edges = {k: list(bits(problem.op_mask[k])) for k in members}
    order = members[:]
    rng.shuffle(order)
    side = {k: i < len(order) // 2 for i, k in enumerate(order)}  # True: the left side
    count: dict[int, list[int]] = {}  # per index: holders on the right, on the left
    for k in members:
        for e in edges[k]:
            count.setdefault(e, [0, 0])[side[k]] += 1
    smallest = max(1, int(len(members) * (1 - imbalance) / 2))
    size = [len(members) - len(members) // 2, len(members) // 2]  # right, left

    def gain(k: int) -> float:
        here = side[k]
        g = 0.0
        for e in edges[k]:
            c = count[e]
            if c[here] == 1 and c[not here] > 0:
                g += weight[e]  # the index stops being cut
            elif c[not here] == 0 and c[here] > 1:
                g -= weight[e]  # the index starts being cut
        return g

    holders: dict[int, list[int]] = {}
    for k in members:
        for e in edges[k]:
            holders.setdefault(e, []).append(k)

    def move(k: int) -> None:
        here = side[k]
        for e in edges[k]:
            count[e][here] -= 1
            count[e][not here] += 1
        size[here] -= 1
        size[not here] += 1
        side[k] = not here

    for _ in range(_PASSES):  # Fiduccia–Mattheyses passes, each rolled back to its best prefix
        locked: set[int] = set()
        heap = [(-gain(k), k) for k in members]
        heapq.heapify(heap)
        current = {k: -g for g, k in heap}
        moves, total, best_total, best_at = [], 0.0, 0.0, 0
        deferred = []  # popped while their side was at its smallest: offered again after a move
        while heap:
            g, k = heapq.heappop(heap)
            if k in locked or -g != current[k]:
                continue  # moved already, or a stale gain
            if size[side[k]] <= smallest:
                deferred.append((g, k))
                continue
            move(k)
            locked.add(k)
            moves.append(k)
            total -= g
            if total > best_total + 1e-9:
                best_total, best_at = total, len(moves)
            for e in edges[k]:
                for other in holders[e]:
                    if other not in locked:
                        current[other] = gain(other)
                        heapq.heappush(heap, (-current[other], other))
            for entry in deferred:
                heapq.heappush(heap, entry)
            deferred.clear()
        for k in reversed(moves[best_at:]):
            move(k)
        if best_at == 0:
            break
    return sum(1 << k for k in members if side[k])


# ---------------------------------------------------------------------------- reconfiguration


def _groups_tree(problem: Problem, groups: Sequence[tuple[int, Tree]]) -> tuple[float, Tree | None]:
    """The best (objective) way to merge ``groups`` (operand mask, its tree): exact, over subsets
    of the groups. Returns (cost of the merges above the groups, tree)."""
    k = len(groups)
    union = [0] * (1 << k)
    for s in range(1, 1 << k):
        low = (s & -s).bit_length() - 1
        union[s] = union[s & (s - 1)] | groups[low][0]
    best: list[tuple[float, float, Tree | None]] = [(INF, INF, None)] * (1 << k)
    for g, (_, tree) in enumerate(groups):
        best[1 << g] = (0.0, 0.0, tree)
    # Two sides share an index exactly when their groups' open indices meet: the index is open
    # in a group of each side, as both hold it.
    opened = [0] * (1 << k)
    for s in range(1, 1 << k):
        low = (s & -s).bit_length() - 1
        opened[s] = opened[s & (s - 1)] | problem.subset(groups[low][0])[0]
    # Connected subsets only (a split whose sides share an index), as cotengra's optimal search:
    # far fewer than all 2^k; outer products only if the groups themselves are not connected.
    for connected in (True, False):
        for s in sorted(range(1, 1 << k), key=lambda s: bin(s).count("1")):
            if s & (s - 1) == 0 or best[s][2] is not None:
                continue
            low = s & -s
            rest = s ^ low
            choice: tuple[float, float, Tree | None] = (INF, INF, None)
            sub = rest
            while True:
                a = sub | low
                b = s ^ a
                fa, fb = best[a], best[b]
                if (
                    b
                    and fa[2] is not None
                    and fb[2] is not None
                    and fa[0] + fb[0] < choice[0]
                    and (not connected or opened[a] & opened[b])
                ):
                    flops, cost = problem.step_cost(union[a], union[b])
                    if flops < INF:
                        key = (fa[0] + fb[0] + cost, fa[1] + fb[1] + flops)
                        if key < choice[:2]:
                            choice = (key[0], key[1], (fa[2], fb[2]))
                if sub == 0:
                    break
                sub = (sub - 1) & rest
            best[s] = choice
        if best[-1][2] is not None:
            break
    return best[-1][0], best[-1][2]


def _mask_of(tree: Tree, masks: dict[int, int]) -> int:
    return 1 << tree if isinstance(tree, int) else masks[id(tree)]


def reconfigure(problem: Problem, tree: Tree, subtree: int = 6, deadline: float | None = None) -> Tree:
    """``tree`` improved by re-planning, exactly, the subtree of up to ``subtree`` groups below
    each step (most expensive steps first), in rounds while a round improves it."""
    tried: set[tuple[int, ...]] = set()  # frontiers re-planned already: the same groups give the same answer
    while True:
        improved = False
        masks: dict[int, int] = {}
        parent: dict[int, Tree] = {}
        nodes = [n for n in postorder(tree) if not isinstance(n, int)]
        for node in nodes:
            masks[id(node)] = _mask_of(node[0], masks) | _mask_of(node[1], masks)
            for child in node:
                if not isinstance(child, int):
                    parent[id(child)] = node

        def cost_of(n: Tree, masks: dict[int, int] = masks) -> float:
            return problem.step_cost(_mask_of(n[0], masks), _mask_of(n[1], masks))[1]

        # A rewrite saves at most what its steps cost: subtrees costing less than this share of
        # the whole cannot matter, and skipping them keeps the exact searches to the few that can.
        negligible = sum(cost_of(n) for n in nodes) * _NEGLIGIBLE
        replaced: dict[int, Tree] = {}
        blocked: set[int] = set()  # inside or above a subtree rewritten this round
        for node in sorted(nodes, key=cost_of, reverse=True):
            if deadline is not None and time.perf_counter() > deadline:
                break
            if id(node) in blocked:
                continue
            frontier = _subtree_frontier(node, subtree)
            if len(frontier) < 3:
                continue
            old = sum(cost_of(n) for n in _between(node, frontier))
            groups = [(_mask_of(n, masks), n) for n in frontier]
            signature = tuple(sorted(g for g, _ in groups))
            if old <= negligible or signature in tried:
                continue
            tried.add(signature)
            new, better = _groups_tree(problem, groups)
            if better is not None and new < old * (1 - 1e-9):
                replaced[id(node)] = better
                improved = True
                blocked.update(id(n) for n in postorder(node) if not isinstance(n, int))
                up = parent.get(id(node))
                while up is not None and id(up) not in blocked:
                    blocked.add(id(up))
                    up = parent.get(id(up))
        if not replaced:
            return tree
        tree = _substitute(tree, replaced)
        if not improved or (deadline is not None and time.perf_counter() > deadline):
            return tree


def _subtree_frontier(node: Tree, size: int) -> list[Tree]:
    """Up to ``size`` groups below ``node``, expanded breadth first (balanced subtrees, as
    cotengra's default)."""
    queue, leaves = [node], []
    while queue and len(queue) + len(leaves) < size:
        n = queue.pop(0)
        if isinstance(n, int):
            leaves.append(n)
        else:
            queue.extend(n)
    return queue + leaves


def _between(node: Tree, frontier: list[Tree]) -> list[Tree]:
    """The steps of ``node``'s subtree above the ``frontier`` groups."""
    stop = {id(n) for n in frontier}
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if id(n) in stop or isinstance(n, int):
            continue
        out.append(n)
        stack.extend(n)
    return out


def _substitute(tree: Tree, replaced: dict[int, Tree]) -> Tree:
    """``tree`` with the nodes in ``replaced`` (by id) swapped for their new subtrees."""
    built: dict[int, Tree] = {}
    for node in postorder(tree):
        if isinstance(node, int):
            continue
        if id(node) in replaced:
            built[id(node)] = replaced[id(node)]
        else:
            left, right = (n if isinstance(n, int) else built[id(n)] for n in node)
            built[id(node)] = (left, right)
    return tree if isinstance(tree, int) else built[id(tree)]


# ---------------------------------------------------------------------------- the search


def hyper_tree(problem: Problem, mask: int, settings: Hyper, start: Sequence[Tree] = ()) -> Tree | None:
    """The best of ``settings.trials`` random greedy trees (and the trees in ``start``) by the
    objective, the best few of them reconfigured; None when no legal tree was found."""
    deadline = time.perf_counter() + settings.seconds if settings.seconds is not None else None
    rng = random.Random(settings.seed)
    found: dict[tuple[float, float], Tree] = {}

    def consider(tree: Tree | None) -> None:
        if tree is None:
            return
        key = (tree_cost(problem, tree, 1), tree_cost(problem, tree))
        if key[0] < INF:
            found.setdefault(key, tree)

    for tree in start:
        consider(tree)
    for trial in range(settings.trials):
        if trial and deadline is not None and time.perf_counter() > deadline:
            break
        if trial == 0:
            consider(random_greedy_tree(problem, mask))
        elif trial % 2 and bin(mask).count("1") >= _PARTITIONED:
            consider(partition_tree(problem, mask, rng, rng.uniform(0.05, 0.6), rng.randint(4, 10)))
        else:
            costmod = rng.uniform(0.1, 4.0)
            temperature = math.exp(rng.uniform(math.log(0.001), 0.0))
            limit = min(found)[0] if found else INF
            consider(random_greedy_tree(problem, mask, rng, costmod, temperature, limit))
    if not found:
        return None
    best: tuple[tuple[float, float], Tree] | None = None
    for key in sorted(found)[:_RECONFIGURED]:
        tree = reconfigure(problem, found[key], settings.subtree, deadline)
        key = (tree_cost(problem, tree, 1), tree_cost(problem, tree))
        if best is None or key < best[0]:
            best = (key, tree)
    return best[1]  # type: ignore[index]
