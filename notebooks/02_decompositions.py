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
# # 02 — Decompositions: CP, Tucker, tensor train, tensor ring
#
# **You will learn** what the four decompositions look like as diagrams, how their
# reconstruction error falls as their ranks (and parameters) grow on a real photograph, and
# how tnviz decomposes a trained layer's weight with tensorly.

# %%
import os

import numpy as np
import torch

from tnviz import Diagram
from tnviz.widgets import DecompositionExplorer

QUICK = os.environ.get("TNVIZ_QUICK") == "1"

# %% [markdown]
# ## The four formats of a 3rd-order tensor, as diagrams

# %%
specs = {
    "CP": "A: i r, B: j r, C: k r -> i j k",
    "Tucker": "G: p q u, A: i p, B: j q, C: k u -> i j k",
    "TT": "G1: i r1, G2: r1 j r2, G3: r2 k -> i j k",
    "TR": "G1: r0 i r1, G2: r1 j r2, G3: r2 k r0 -> i j k",
}
for name, spec in specs.items():
    print(f"{name:7s} {spec}")
Diagram.parse(specs["TR"])

# %% [markdown]
# ## A real image, decomposed
# scikit-image's astronaut photograph, 64×64×3. Move the rank slider: the reconstruction and
# its error follow; the right plot shows error against parameters for all four formats.

# %%
explorer = DecompositionExplorer(ranks=(1, 2, 4, 8) if QUICK else (1, 2, 4, 8, 16, 32))
explorer

# %%
for fmt, points in explorer.curves.items():
    print(fmt, [(p, round(e, 3)) for p, e in points])
    errors = [e for _, e in sorted(points)]
    assert errors[0] >= errors[-1]  # more parameters, less error

# %% [markdown]
# ## Decomposing a layer's weight
# `from_dense` runs tensorly (CP-ALS, Tucker/HOOI, TT-SVD, TR-SVD) on the weight and reports the
# relative reconstruction error. At full rank Tucker is exact:

# %%
from tnviz.nn import from_dense  # noqa: E402

conv = torch.nn.Conv2d(16, 16, 3, padding=1)
for fmt in ("cp", "tk", "tt", "tr"):
    layer = from_dense(conv, format=fmt, rate=0.3)
    print(f"{fmt}: ranks {layer.ranks}, error {layer.reconstruction_error:.3f}")
full = from_dense(conv, format="tk", rank={"p": 16, "q": 16})
x = torch.randn(2, 16, 8, 8)
assert torch.allclose(full(x), conv(x), atol=1e-4)
np.round(full.reconstruction_error, 8)
