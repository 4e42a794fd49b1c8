# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 04 — Tensorial convolutional layers and their costs
#
# **You will learn** the paper's Fig. 5 layers (standard, mCP, mTK, mTT, mTR), how tnviz picks
# ranks for a compression rate, what each layer costs in parameters and FLOPs (the complexity
# table, computed), and that each is exactly a convolution with its reconstructed kernel.

# %%
import torch
import torch.nn.functional as F

from tnviz import gallery
from tnviz.nn import TensorialConv2d, cost_table
from tnviz.widgets import RankExplorer

torch.manual_seed(0)

# %%
gallery.fig5_mtt()

# %%
gallery.fig5_mtr()

# %% [markdown]
# ## The complexity table, computed
# For a 3×3 convolution 64→64 on 32×32 inputs (batch 32): ranks, parameters, FLOPs and both
# ratios to the dense layer, per format and rate.

# %%
print(cost_table(64, 64, 3, formats=["cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"], rates=[0.05, 0.1], batch=32, input_size=(32, 32)))

# %% [markdown]
# ## Every format is a convolution with its reconstructed kernel

# %%
x = torch.randn(4, 64, 16, 16)
for fmt in ("cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"):
    layer = TensorialConv2d(64, 64, 3, padding=1, format=fmt, rate=0.1)
    want = F.conv2d(x, layer.dense_weight(), layer.bias, padding=1)
    assert torch.allclose(layer(x), want, atol=1e-4), fmt
    print(f"{fmt}: ranks {layer.ranks}, achieved rate {layer.achieved_rate:.3f}")

# %% [markdown]
# ## Choose ranks live
# Change the format, order, rate or rank; the diagram (edge widths by rank), parameters and FLOPs follow.

# %%
RankExplorer(64, 64, 3, format="mtt", rate=0.1)
