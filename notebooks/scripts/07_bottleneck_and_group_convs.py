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
# # 07 — Bottleneck and interleaved group convolutions are TNNs
#
# **You will learn** that two familiar architecture motifs are single tensorial layers: a
# ResNet bottleneck (1×1 reduce, 3×3, 1×1 expand) is a Tucker-2 layer (Fig. 8), and an
# interleaved group convolution is a diagram with partial outer products (Fig. 7). Each is
# checked against the PyTorch modules it replaces.

# %%
import torch
import torch.nn.functional as F

import tnviz
from tnviz import gallery

torch.manual_seed(0);  # the ; keeps the returned Generator out of the output

# %% [markdown]
# ## Fig. 8: the bottleneck is Tucker-2

# %%
d = gallery.fig8_bottleneck()
d

# %%
s, p, q, t = 32, 8, 8, 32
X = torch.randn(2, s, 16, 16)
U, G, V = torch.randn(s, p), torch.randn(p, q, 3, 3), torch.randn(q, t)
small = tnviz.Diagram.parse("X: b s x y, U: s p, G: p q x y, V: q t -> b t x y | x y", padding=1)
ours = tnviz.einsum(small, X, U, G, V)
# the bottleneck as three nn layers (no nonlinearity between: the TNN view is linear)
h = F.conv2d(X, U.t()[:, :, None, None])
h = F.conv2d(h, G.permute(1, 0, 2, 3), padding=1)
want = F.conv2d(h, V.t()[:, :, None, None])
assert torch.allclose(ours, want, atol=1e-3)
print(small.plan({"X": tuple(X.shape), "U": tuple(U.shape), "G": tuple(G.shape), "V": tuple(V.shape)}))

# %% [markdown]
# ## Fig. 7: an interleaved group convolution
# Input channels in L groups of M; the primary kernel P convolves within each group, the
# secondary S mixes across groups: the group index l joins X, P and S at one black dot (a
# three-way contraction, a hyperedge) and the mixing index n, shared by P and S and kept in the
# output, is a partial outer product. Fig. 7A, the module as two stages with the channel
# shuffle between them, is `gallery.fig7a_interleaved_group_module()`.

# %%
d = gallery.fig7b_interleaved_group()
d

# %%
L, M, N, K = 2, 4, 4, 2
X = torch.randn(2, L * M, 8, 8)
P, S = torch.randn(L, N, M, 3, 3), torch.randn(N, K, L)
spec = tnviz.Diagram.parse("X: b (l m) x y, P: l n m x y, S: n k l -> b (n k) x y | x y", padding=1)
ours = tnviz.einsum(spec, X, P, S)
# the same as a grouped conv (primary) followed by a channel mix across groups (secondary)
primary = F.conv2d(X, P.reshape(L * N, M, 3, 3), padding=1, groups=L)  # channels (l n)
primary = primary.reshape(2, L, N, 8, 8)
want = torch.einsum("blnxy,nkl->bnkxy", primary, S).reshape(2, N * K, 8, 8)
assert torch.allclose(ours, want, atol=1e-4)
print("interleaved group convolution == grouped conv + cross-group mix")

# %% [markdown]
# ## What we showed
# - A ResNet bottleneck (1×1 reduce, 3×3, 1×1 expand) is one Tucker-2 diagram, `X: b s x y, U: s p,
#   G: p q x y, V: q t -> b t x y | x y`, and computes exactly what the three stacked convolutions
#   compute when no nonlinearity sits between them.
# - Its plan shows the order tnviz contracts it in, step by step, with the FLOPs of each step.
# - An interleaved group convolution is one diagram too: the group index l is a hyperedge (X, P
#   and S), the mixing index n a partial outer product, and it equals a grouped convolution
#   followed by a cross-group mix.
