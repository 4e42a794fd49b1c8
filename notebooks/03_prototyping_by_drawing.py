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
# # 03 — Prototyping a layer by drawing it
#
# **You will learn** to draw a tensor network with the mouse (or type its spec), read its cost,
# and turn it into a trainable PyTorch module — the whole loop from a sketch to a layer.
#
# In the editor: **+ tensor** then click the canvas to add tensors; **connect** and drag from
# one tensor to another (release on empty space for an open leg); **∗ conv** and click an edge
# to make it a convolution; set sizes below the canvas.

# %%
import torch

from tnviz.widgets import DiagramEditor

torch.manual_seed(0)
editor = DiagramEditor()
editor

# %% [markdown]
# Typing a spec draws it. Here: a tensor-train matrix of a 64×64 linear map, with input and
# output factored 8·8.

# %%
editor.set_spec("X: b s1 s2, G1: s1 t1 r, G2: r s2 t2 -> b t1 t2")
for index, size in {"b": 32, "s1": 8, "s2": 8, "t1": 8, "t2": 8, "r": 6}.items():
    editor.set_size(index, size)
print(editor.spec)
print(editor.cost.value)

# %% [markdown]
# ## From the drawing to a trained module
# Fit the drawn TT layer to a linear map that has this structure (a sum of three Kronecker
# products, so TT rank 3 suffices) by gradient descent, from data alone.

# %%
layer = editor.to_module(inputs=("X",))
A, B = torch.randn(3, 8, 8) / 8**0.5, torch.randn(3, 8, 8) / 8**0.5
target = sum(torch.kron(A[k], B[k]) for k in range(3))  # (s1 s2) x (t1 t2)
opt = torch.optim.Adam(layer.parameters(), lr=0.02)
losses = []
for step in range(300):
    x = torch.randn(32, 8, 8)
    loss = (layer(x).reshape(32, 64) - x.reshape(32, 64) @ target).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
params = sum(p.numel() for p in layer.parameters())
print(f"loss {losses[0]:.3f} -> {losses[-1]:.5f}; {params} parameters instead of 4096")
assert losses[-1] < 0.01 * losses[0]
