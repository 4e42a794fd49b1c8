# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,scripts//py:percent
#     notebook_metadata_filter: language_info.name
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   language_info:
#     name: python
# ---

# %% [markdown]
# # 09 — Contracting tensor networks: the order is the cost
#
# **You will learn** why the order in which a network's tensors are contracted decides what it
# costs — by many orders of magnitude — and how tnviz chooses it. We build three networks
# physicists draw (a matrix product state, a projected entangled pair state and a tree tensor
# network) from `tnviz.templates`, contract their norms ⟨ψ|ψ⟩, draw each plan as its
# contraction tree, and set tnviz's paths beside opt_einsum's and cotengra's on the same
# networks. Then: what to do when a plan does not fit in memory (slicing), how to pay for
# planning once when a network is contracted many times (compiled expressions), a contraction
# played step by step, and networks brought in from einsum, tensorly and quimb and written out as
# code.

# %%
import math
import time

import opt_einsum
import torch

import tnviz
from tnviz import Hyper
from tnviz.render import draw_plan
from tnviz.templates import mps, norm, peps, ttn

torch.manual_seed(0);  # the ; keeps the returned Generator out of the output


def random_values(d):
    """Random float64 tensors for the bound diagram ``d``, scaled so that norms stay near 1."""
    return [torch.randn(d.shape(n), dtype=torch.float64) / math.prod(d.shape(n)) ** 0.25 for n in d.tensor_names]


# %% [markdown]
# ## A matrix product state
#
# Six tensors in a chain, each with one open physical leg `p`: the state ψ. Its norm ⟨ψ|ψ⟩ joins
# ψ to a copy of itself (the bra, whose names end in `_`) at the physical legs.

# %%
psi = mps(6, bond=4)
psi

# %%
chain = norm(psi)
plan = chain.plan()
print(plan)

# %% [markdown]
# The planner works along the chain from its ends inwards: each step absorbs one tensor of the
# ket or the bra into the growing environment, so no intermediate is larger than bond × bond ×
# physical (32 elements). The tree shows it: long spines, every step cheap.

# %%
draw_plan(plan)

# %% [markdown]
# The value agrees with the brute-force answer: the state written out as one dense tensor of
# 2⁶ entries, squared and summed.

# %%
values = random_values(psi)
dense = tnviz.einsum(psi, *values)
print(f"contracted: {tnviz.einsum(chain, *values, *values).item():.12f}")
print(f"brute force: {(dense**2).sum().item():.12f}")

# %% [markdown]
# ## A projected entangled pair state
#
# A 3 × 3 grid: each tensor holds a physical leg and a bond to each neighbour. Contracting its norm
# is hard in general (the cost grows exponentially with the grid's width), and the order matters
# more than for a chain: the cell prints how much more left-to-right costs than the hyper search's
# order.

# %%
grid = peps(3, 3, bond=3)
grid

# %%
sandwich = norm(grid)
best = sandwich.plan(optimize="hyper", objective="flops")
left_to_right = sandwich.plan(optimize="left-to-right", objective="flops")
print(f"left to right: {left_to_right.flops:.3g} FLOPs, largest intermediate {left_to_right.largest_intermediate:,} elements")
print(f"hyper search:  {best.flops:.3g} FLOPs, largest intermediate {best.largest_intermediate:,} elements")
print(f"left to right costs {left_to_right.flops / best.flops:.1f}× the hyper search's order")
draw_plan(best)

# %% [markdown]
# ## A tree tensor network
#
# Sixteen physical legs under a binary tree, joined to its mirror image: a network with no loops,
# where a good order costs little whatever the search.

# %%
tree = ttn(4, bond=3)
tree_plan = norm(tree).plan()
print(f"{len(norm(tree).tensors)} tensors, {tree_plan.flops:,} FLOPs")
draw_plan(tree_plan)

# %% [markdown]
# ## tnviz's paths beside opt_einsum's and cotengra's
#
# The same three norms and a larger PEPS, planned by tnviz (`auto`, the default; `hyper`, the
# harder search), opt_einsum (`greedy`, `auto-hq`) and, when it is installed, cotengra's
# `HyperOptimizer`. Every path is costed by opt_einsum, so the FLOPs compare like for like.
# (`benchmarks/paths.py` does this on random networks up to 1,000 tensors.)

# %%
def opt_einsum_equation(d):
    """The network as an einsum equation over opt_einsum's symbols, with its shapes."""
    symbol = {i: opt_einsum.get_symbol(k) for k, i in enumerate(d.index_names)}
    terms = ["".join(symbol[i] for i in op.indices) for op in d.tensors]
    return ",".join(terms) + "->" + "".join(symbol[i] for i in d.output.indices), [d.shape(n) for n in d.tensor_names]


def cotengra_path(eq, shapes):
    try:
        import cotengra
    except ImportError:
        return None
    inputs, output = eq.split("->")
    terms = inputs.split(",")
    sizes = {c: n for term, shape in zip(terms, shapes) for c, n in zip(term, shape)}
    return cotengra.HyperOptimizer(max_repeats=16, progbar=False, parallel=False, methods=["greedy"]).search(
        [list(t) for t in terms], list(output), sizes
    ).get_path()


networks = {"MPS 6": chain, "PEPS 3×3": sandwich, "TTN 16": norm(tree), "PEPS 4×4": norm(peps(4, 4, bond=3))}
print(f"{'network':10} {'tensors':>7}   log10 FLOPs (planning time)")
for name, d in networks.items():
    eq, shapes = opt_einsum_equation(d)
    planners = {
        "tnviz auto": lambda: d.plan(objective="flops").path,
        "tnviz hyper": lambda: d.plan(optimize=Hyper(trials=32), objective="flops").path,
        "oe greedy": lambda: opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="greedy")[0],
        "oe auto-hq": lambda: opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="auto-hq")[0],
        "cotengra": lambda: cotengra_path(eq, shapes),
    }
    cells = []
    for planner, find in planners.items():
        start = time.perf_counter()
        path = find()
        seconds = time.perf_counter() - start
        if path is None:
            cells.append(f"{planner}: not installed")
            continue
        flops = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=path)[1].opt_cost
        cells.append(f"{planner} {math.log10(flops):.2f} ({seconds * 1e3:.0f} ms)")
    print(f"{name:10} {len(d.tensors):>7}   " + " | ".join(cells))

# %% [markdown]
# On the chain and the tree every planner finds the natural order. On the grids the searches
# differ: greedy merges what shrinks memory most *now*, which on a grid can leave a wide
# boundary later; the hyper search draws many randomised greedy trees and bisections and then
# re-plans every small subtree exactly.

# %% [markdown]
# ## When a plan does not fit: slicing
#
# A plan's largest intermediate can exceed the memory there is even when the result is small.
# Slicing cuts an index into chunks and contracts once per chunk, with the same order of steps:
# a little more work, a fraction of the memory. `tnviz.einsum` does it by itself when a plan
# exceeds the memory budget; `max_memory=` asks for it. Here: the 4 × 4 PEPS norm with a quarter
# of the memory its plan needs.

# %%
grid4 = norm(peps(4, 4, bond=3))
whole = grid4.plan()
need = (whole.peak_elements - whole.input_elements) * whole.itemsize
sliced = grid4.plan(max_memory=need // 4)
print(f"the plan needs {need:,} bytes for its intermediates; allowed {need // 4:,}\n")
print(sliced)

# %%
from tnviz.execute.runner import program_for

grid_values = random_values(peps(4, 4, bond=3))
print(f"sliced: {program_for(sliced)(grid_values + grid_values).item():.12f}")
print(f"whole:  {tnviz.einsum(grid4, *grid_values, *grid_values).item():.12f}")

# %% [markdown]
# ## Contracting many times: a compiled expression
#
# `tnviz.einsum` parses, binds and looks its plan up on every call. When a network's shapes are
# fixed and it is contracted over and over (an optimisation loop, a sweep), plan once:
# `contract_expression` (or `Diagram.compile`) returns a callable that only checks shapes and
# runs the compiled steps.

# %%
long_chain = norm(mps(100, bond=8))
expr = long_chain.compile()
print(expr)
tensors = random_values(mps(100, bond=8))
arguments = tensors + tensors
start = time.perf_counter()
for _ in range(20):
    tnviz.einsum(long_chain, *arguments)
per_call_einsum = (time.perf_counter() - start) / 20
start = time.perf_counter()
for _ in range(20):
    expr(*arguments)
per_call_expr = (time.perf_counter() - start) / 20
print(f"per call: tnviz.einsum {per_call_einsum * 1e3:.2f} ms, compiled expression {per_call_expr * 1e3:.2f} ms")

# %% [markdown]
# ## A contraction played step by step
#
# `ContractionPlayer` plays a plan on the drawing: the two tensors of the next step in green, then
# merged into the intermediate `T1`, `T2`, … where they stood, with that step's FLOPs and size and
# the running totals. Beside it, the same norm contracted left to right: the ket is multiplied out
# first — all 2⁶ amplitudes of the state — before the bra meets it, so its intermediates grow
# where the planner's stay at bond × bond. Press ▶ or drag the slider; "beside" picks another
# order (opt_einsum's own path among them).

# %%
from tnviz.widgets import ContractionPlayer

player = ContractionPlayer(chain, compare="left-to-right")
player

# %%
for name, plan_played in player.plans.items():
    print(f"{name:>14}: {plan_played.flops:>9,} FLOPs, peak {plan_played.peak_elements:>7,} elements")

# %% [markdown]
# ## Code in and out
#
# A network you already have comes in as a diagram: `tnviz.from_einsum` reads an einsum call —
# numpy's, torch's, or opt_einsum's with its path — naming the tensors as the call does;
# `tnviz.from_tensorly` takes a CP, Tucker, tensor-train or tensor-ring tensor with its values;
# `tnviz.from_quimb` a quimb network (with the `quimb` extra). Any diagram goes out as code that
# needs no tnviz: `to_einsum()`, `to_torch_source()` and `to_quimb_source()`.

# %%
source = 'opt_einsum.contract("ab,bc,cd->ad", A, B, C, optimize=[(0, 1), (0, 1)])'
read, their_path = tnviz.from_einsum(source, (64, 64), (64, 64), (64, 2), with_path=True)
print(read.to_spec(compact=False), "| their path", their_path)
print(f"their path: {read.plan(optimize=their_path).flops:,} FLOPs; tnviz's: {read.plan().flops:,} FLOPs")
print(read.to_einsum())

# %%
import numpy as np
from tensorly.decomposition import parafac

rng = np.random.default_rng(0)
cube = np.einsum("ir,jr,kr->ijk", *(rng.standard_normal((n, 4)) for n in (6, 7, 8)))  # rank 4 …
cube += 0.01 * rng.standard_normal(cube.shape)  # … plus a little noise
factorized = tnviz.from_tensorly(parafac(cube, rank=4, init="random", random_state=0))
print(f"CP of rank 4: relative error {np.linalg.norm(factorized().detach().numpy() - cube) / np.linalg.norm(cube):.3f}")
factorized.diagram

# %%
import importlib.util

if importlib.util.find_spec("quimb"):
    import quimb.tensor as qtn

    state = tnviz.from_quimb(qtn.MPS_rand_state(5, bond_dim=3, seed=0))
    print(state.diagram.to_spec())
else:
    print("quimb is not installed (pip install 'tnviz[quimb]'); the quimb code below runs where it is")
print(norm(mps(3, bond=2)).to_quimb_source())

# %% [markdown]
# ## What we showed
#
# - `tnviz.templates` builds MPS, MPO, PEPS, tree networks and layers as diagrams, and `norm`
#   joins a state to its bra.
# - The contraction order decides the cost: on the 3 × 3 PEPS left-to-right costs far more than a
#   good order; `draw_plan` shows where each plan spends its FLOPs.
# - tnviz's `auto` is greedy-fast and runs a short hyper search where a network is costly;
#   `optimize="hyper"` searches harder; the table sets both beside opt_einsum and cotengra.
# - A plan that does not fit in memory runs sliced; a network contracted many times is compiled
#   once.
# - `ContractionPlayer` plays a plan step by step beside another order; `from_einsum`,
#   `from_tensorly` and `from_quimb` bring networks in, `to_einsum`, `to_torch_source` and
#   `to_quimb_source` take them out.
