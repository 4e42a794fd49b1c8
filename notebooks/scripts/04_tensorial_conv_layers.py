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
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   language_info:
#     name: python
# ---

# %% [markdown]
# # 04 — Tensorial convolutional layers and their costs
#
# **You will learn** the paper's Fig. 5 layers (standard, mCP, mTK, mTT, mTR), how tnviz picks
# ranks for a compression rate, what each layer costs in parameters and FLOPs (the complexity
# table, computed, and in closed form beside it), and that each is exactly a convolution with its
# reconstructed kernel.

# %%
import torch
import torch.nn.functional as F

from tnviz import gallery
from tnviz.nn import TensorialConv2d, cost_table
from tnviz.nn.costs import formula_table
from tnviz.widgets import RankExplorer

torch.manual_seed(0);  # the ; keeps the returned Generator out of the output

# %% [markdown]
# ## Fig. 5: the mTT and mTR layers
# The input channels are split into three factors (s1 s2 s3), the output channels likewise
# (t1 t2 t3); the cores T1–T3 each carry one input and one output factor, and C holds the 3×3
# spatial kernel (∗). mTR closes the chain into a ring through r0.

# %%
gallery.fig5_mtt()

# %%
gallery.fig5_mtr()

# %% [markdown]
# ## The complexity table, computed
# For a 3×3 convolution 64→64 on 32×32 inputs (batch 32): ranks, parameters, FLOPs and both
# ratios to the dense layer, per format and rate. The plan column says how the layer runs: where it
# says *reconstruct*, the layer rebuilds the dense kernel and runs one convolution, so its FLOPs are
# the dense layer's — fewer parameters need not mean fewer FLOPs.

# %%
formats = ["cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"]
cost_table(64, 64, 3, formats=formats, rates=[0.05, 0.1], batch=32, input_size=(32, 32))

# %% [markdown]
# ## The complexity table in closed form
# Under the paper's assumptions (D×D maps kept by same padding, N = nᵐ channels in and out split
# into m factors n = N^(1/m), a k×k kernel, every rank R) each format's cost is a formula. tnviz
# derives them from its own diagrams (`tnviz.core.formats.complexity`): parameters are exact, and
# FLOPs (2 per multiply-add, one example) are those of the *sequential* order the paper's forward
# pass takes — the input meets the input-side factors one by one, then the kernel core convolves,
# then (mTK) the output-side factors. Read them off: mCP and mTT pay for the channels only through
# N^(2/m) per factor, while mTK's core grows as R^(2m) and mTR pays an extra R for its ring.

# %%
formula_table(N=64, m=3, D=32, k=3, R=4)

# %% [markdown]
# The same layers computed, every rank equal so the formulas apply. The last three columns are the
# formulas' values (× the batch) and the planner's FLOPs for the sequential order
# (`Diagram.plan(optimize="left-to-right")`): they agree to the FLOP. The *FLOPs* column is the
# plan the layer actually runs (objective `"time"`, which weighs memory traffic and how fast each
# step runs, not FLOPs alone), and it may differ either way: here it mostly spends more FLOPs than
# the sequential order, and fewer where rebuilding the dense kernel beats carrying the ranks through
# every pixel (mTK and mTR at rank 4, whose sequential FLOPs exceed the dense layer's).

# %%
cost_table(64, 64, 3, formats=["dense", "mcp", "mtk", "mtt", "mtr"], ranks=[2, 4], batch=32, formulas=True)

# %% [markdown]
# ## Every format is a convolution with its reconstructed kernel

# %%
x = torch.randn(4, 64, 16, 16)
for fmt in formats:
    layer = TensorialConv2d(64, 64, 3, padding=1, format=fmt, rate=0.1)
    want = F.conv2d(x, layer.dense_weight(), layer.bias, padding=1)
    assert torch.allclose(layer(x), want, atol=1e-4), fmt
    print(f"{fmt}: ranks {layer.ranks}, achieved rate {layer.achieved_rate:.3f}")

# %% [markdown]
# ## Choose ranks live
# Change the format, order, rate or rank; the diagram (edge widths by rank), parameters and FLOPs follow.

# %%
RankExplorer(64, 64, 3, format="mtt", rate=0.1)

# %% [markdown]
# ## What we showed
# - The paper's Fig. 5 layers are diagrams: the m-formats split the channels into factors and give
#   each factor its own core.
# - Given a compression rate, tnviz picks each format's ranks so the layer keeps about that share of
#   the dense layer's parameters (the achieved rate is printed above).
# - The complexity table is computed, not copied: parameters and FLOPs per format and rate, with
#   the plan each layer runs — and fewer parameters do not always mean fewer FLOPs.
# - The same table in closed form (`formula_table`), derived from the diagrams: the formulas equal
#   the computed parameter counts and the planner's FLOPs for the sequential order exactly
#   (`cost_table(..., formulas=True)` shows both side by side).
# - Every tensorial layer is exactly `F.conv2d` with its reconstructed kernel (`layer.dense_weight()`).
# - `RankExplorer` recomputes the diagram, parameters and FLOPs as you change format, rate or rank.
