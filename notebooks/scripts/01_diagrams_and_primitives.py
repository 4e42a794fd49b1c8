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
# # 01 — Tensor diagrams and the primitive operations
#
# **You will learn** to read and write tensor diagrams (the paper's Figs. 2–4) as tnviz specs,
# and that each primitive operation — contraction, partial outer product, convolution — is
# exactly the PyTorch computation you know. Every cell checks itself against `torch`.

# %%
import torch
import torch.nn.functional as F

import tnviz
from tnviz import gallery

torch.manual_seed(0);  # the ; keeps the returned Generator out of the output

# %% [markdown]
# ## Fig. 2: scalars, vectors, matrices, tensors
# A tensor is a circle; each index is a leg.

# %%
for fig in (gallery.fig2_vector, gallery.fig2_matrix, gallery.fig2_tensor):
    print(fig().to_spec())
gallery.fig2_tensor()

# %% [markdown]
# ## Fig. 3a: contraction
# A leg shared by two tensors is summed: `A: i j k, B: k l -> i j l`.

# %%
d = gallery.fig3_contraction()
A, B = torch.randn(4, 3, 5), torch.randn(5, 2)
assert torch.allclose(tnviz.einsum(d, A, B), torch.einsum("ijk,kl->ijl", A, B), atol=1e-6)
d

# %% [markdown]
# ## Fig. 3b: partial outer product
# A shared leg that stays open (a black dot with a leg): nothing is summed.

# %%
d = gallery.fig3_partial_outer_product()
assert torch.allclose(tnviz.einsum(d, A, B), torch.einsum("ijk,kl->ijkl", A, B), atol=1e-6)
d

# %% [markdown]
# ## Fig. 3c: convolution
# A leg marked ∗ is convolved (cross-correlation, as `F.conv1d`): the output length is 8 − 3 + 1.

# %%
d = gallery.fig3_convolution()
A, B = torch.randn(4, 3, 8), torch.randn(3, 2)
out = tnviz.einsum(d, A, B)
# the same with F.conv1d: every (i, j) row against every l column, with k convolved
want = F.conv1d(A.reshape(12, 1, 8), B.t().reshape(2, 1, 3)).reshape(4, 3, 2, 6).permute(0, 1, 3, 2)
assert torch.allclose(out, want, atol=1e-6)
print(out.shape)
d

# %% [markdown]
# ## Fig. 4a: a convolutional layer is one diagram
# `X: b s x, K: t s x -> b t x | x` is `F.conv1d(X, K, padding=1)`.

# %%
d = gallery.fig4_conv1d_layer()
X, K = torch.randn(8, 16, 64), torch.randn(32, 16, 3)
assert torch.allclose(tnviz.einsum(d, X, K), F.conv1d(X, K, padding=1), atol=1e-4)
print(d.plan())
d

# %% [markdown]
# ## Fig. 4b–c: CP (a hyperedge) and a tensor ring

# %%
d = gallery.fig4_cp()
a, b, c = torch.randn(8, 3), torch.randn(6, 3), torch.randn(4, 3)
assert torch.allclose(tnviz.einsum(d, a, b, c), torch.einsum("ir,jr,kr->ijk", a, b, c), atol=1e-6)
d

# %%
gallery.fig4_tensor_ring()

# %% [markdown]
# ## Drawing for a paper or a slide
# A diagram at the end of a cell shows itself. To keep a drawing, there are three backends:
# `d.draw()` returns a matplotlib figure (it shows itself too; `fig.ax` is its axes, and
# `d.draw(ax=ax)` draws into axes of your own), `d.draw("graphviz")` needs graphviz installed, and
# `d.to_tikz()` returns LaTeX source. `d.save("cp.pdf")` writes a file.

# %%
gallery.fig4_cp().draw(title="CP: three factors on one hyperedge r")

# %%
tikz = gallery.fig4_cp().to_tikz()
print("\n".join(tikz.splitlines()[:12]))
print(f"... ({len(tikz.splitlines())} lines in all)")

# %% [markdown]
# ## What we showed
# - A tensor is a node and each of its indices a leg; a spec such as `A: i j k, B: k l -> i j l`
#   is the diagram, written down.
# - A leg shared by two tensors is summed (contraction), a shared leg kept open is a partial outer
#   product, and a leg marked ∗ is a convolution — each checked equal to `torch.einsum` or `F.conv1d`.
# - A whole 1-D convolutional layer is one diagram, and `d.plan()` shows how tnviz runs it and its
#   FLOPs.
# - CP is a hyperedge (one rank leg shared by every factor), a tensor ring is a closed loop.
# - Every diagram draws itself: inline, as a matplotlib figure, with graphviz or as TikZ.
