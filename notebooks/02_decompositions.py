# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
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
# # 02 — Decompositions: CP, Tucker, tensor train, tensor ring
#
# **You will learn** what the four decompositions look like as diagrams, how their
# reconstruction error falls as their ranks (and parameters) grow on a real photograph, and
# how tnviz decomposes a layer's weight with tensorly.

# %%
import os

import torch

from tnviz import Diagram
from tnviz.render.mpl import DiagramFigure
from tnviz.widgets import DecompositionExplorer

QUICK = os.environ.get("TNVIZ_QUICK") == "1"

# %% [markdown]
# ## The four formats of a 3rd-order tensor, as diagrams
# A tensor with legs i, j, k, written four ways. CP joins three factors on one hyperedge r;
# Tucker puts a core G between them; a tensor train is a chain; a tensor ring closes the chain.

# %%
specs = {
    "CP": "A: i r, B: j r, C: k r -> i j k",
    "Tucker": "G: p q u, A: i p, B: j q, C: k u -> i j k",
    "TT": "G1: i r1, G2: r1 j r2, G3: r2 k -> i j k",
    "TR": "G1: r0 i r1, G2: r1 j r2, G3: r2 k r0 -> i j k",
}
for name, spec in specs.items():
    print(f"{name:7s} {spec}")
fig = DiagramFigure(figsize=(14, 3.6), layout="constrained")  # one figure, four axes: fig.axes
for ax, (name, spec) in zip(fig.subplots(1, 4), specs.items()):
    Diagram.parse(spec).draw(ax=ax, title=name)
assert len(fig.axes) == 4 and fig.ax is fig.axes[0]  # fig.ax: the first (CP's)
fig

# %% [markdown]
# ## A real image, decomposed
# scikit-image's astronaut photograph, 64×64×3. Move the rank slider: the reconstruction and
# its error follow; the right plot shows error against parameters for all four formats.

# %%
explorer = DecompositionExplorer(ranks=(1, 2, 4, 8) if QUICK else (1, 2, 4, 8, 16, 32))
explorer

# %% [markdown]
# The curves' numbers: parameters → relative error, per format.

# %%
for fmt, points in explorer.curves.items():
    print(f"{fmt}: " + ", ".join(f"{p:,} → {e:.3f}" for p, e in sorted(points)))
    errors = [e for _, e in sorted(points)]
    assert errors[0] >= errors[-1]  # more parameters, less error

# %% [markdown]
# ## Decomposing a layer's weight
# `from_dense` runs tensorly (CP-ALS, Tucker/HOOI, TT-SVD, TR-SVD) on the weight and reports the
# relative reconstruction error. This layer is freshly initialised: its weight is random noise,
# with no low-rank structure, so at 30 % of the parameters every format's error is large. At
# full rank Tucker is exact:

# %%
from tnviz.nn import from_dense  # noqa: E402

conv = torch.nn.Conv2d(16, 16, 3, padding=1)
for fmt in ("cp", "tk", "tt", "tr"):
    layer = from_dense(conv, format=fmt, rate=0.3)
    print(f"{fmt}: ranks {layer.ranks}, error {layer.reconstruction_error:.3f}")
full = from_dense(conv, format="tk", rank={"p": 16, "q": 16})
x = torch.randn(2, 16, 8, 8)
assert torch.allclose(full(x), conv(x), atol=1e-4)
print(f"full-rank Tucker: error {full.reconstruction_error:.1e}, and the layer's output equals the Conv2d's")

# %% [markdown]
# ## What we showed
# - CP, Tucker, tensor train and tensor ring are four diagrams of the same 3rd-order tensor: a
#   hyperedge, a core, a chain and a closed ring.
# - On a real photograph, every format's reconstruction error falls as its rank (and parameter
#   count) grows, and the curves show which format buys the most accuracy per parameter.
# - `from_dense` turns a `Conv2d` into a tensorial layer by decomposing its weight with tensorly at
#   a compression rate, and reports the ranks it chose and the reconstruction error.
# - At full rank a Tucker layer is exact: its output equals the original convolution's.
