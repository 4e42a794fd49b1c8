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
# # 02 — Decompositions: CP, Tucker, tensor train, tensor ring
#
# **You will learn** what the four decompositions look like as diagrams, why reshaping a
# signal into a matrix or a higher-order tensor exposes low rank (the paper's Fig. 1: periodic and
# modulated signals), how the reconstruction error falls as ranks (and parameters) grow on a real
# photograph, and how tnviz decomposes a layer's weight with tensorly.

# %%
import os

import numpy as np
import tensorly as tl
import torch
from tensorly.decomposition import parafac, tensor_train

import tnviz
from tnviz.render import draw_many
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
fig = draw_many(specs)  # one figure, a panel each, every one at the size its labels were placed for
assert len(fig.axes) == 4 and fig.ax is fig.axes[0]  # fig.ax: the first (CP's)
fig

# %% [markdown]
# ## Fig. 1: reshaping exposes low rank
# The paper's reshaped formats rest on two structures besides plain low rank: periodicity and
# modulation. Take a 1-D signal of 4096 = 2¹² samples and reshape it, into a 64×64 matrix (row i
# holds samples 64i … 64i+63) and into a higher-order tensor, 8×8×8×8 or 4⁶ (each index one digit
# of t in base 8 or 4).
#
# - **Periodic**: two sinusoids whose periods (48.3 and 17.1 samples) do not divide the row
#   length. Since sin(ω(64i + j) + φ) = sin(64ωi + φ)·cos(ωj) + cos(64ωi + φ)·sin(ωj), each
#   sinusoid is a rank-2 matrix whatever its period: the 64×64 reshaping has rank exactly 4, and
#   the same identity, digit by digit, gives the tensor reshapings tensor-train (TT) ranks 4.
# - **Modulated**: a carrier (period 9.7) whose amplitude follows a slow envelope (period 1024). A
#   product of sinusoids is a sum of sinusoids (sin a·sin b = ½[cos(a−b) − cos(a+b)]), three
#   here, so modulation keeps the rank finite: exactly 6.
#
# Per signal: the signal; the singular values of its 64×64 reshaping beside white noise's (flat:
# nothing to find); and relative reconstruction error against parameters for a truncated SVD of
# the matrix (r·(64 + 64) parameters), TT-SVD of the 8⁴ and 4⁶ reshapings (the cores' sizes) and
# CP-ALS of the 8⁴ one (r·(8+8+8+8)), all by tensorly or numpy.

# %%
t = np.arange(4096)
signals = {
    "periodic": np.sin(2 * np.pi * t / 48.3) + 0.6 * np.sin(2 * np.pi * t / 17.1 + 1.0),
    "modulated": (1 + 0.8 * np.sin(2 * np.pi * t / 1024 + 0.3)) * np.sin(2 * np.pi * t / 9.7),
}
noise = np.random.default_rng(0).standard_normal(4096)  # the reference: no structure
FLOOR = 1e-16  # errors at rounding level are drawn here on the log scales


def relative_error(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


def svd_curve(x, ranks):
    """Truncated SVD of the 64×64 reshaping: (parameters r·(64 + 64), relative error) per rank."""
    M = x.reshape(64, 64)
    U, S, Vt = np.linalg.svd(M)
    return [(r * 128, relative_error((U[:, :r] * S[:r]) @ Vt[:r], M)) for r in ranks]


def tt_curve(x, shape, ranks):
    """TT-SVD of a higher-order reshaping: (parameters of the cores, relative error) per rank."""
    T = tl.tensor(x.reshape(shape))
    out = []
    for r in ranks:
        cores = tensor_train(T, rank=[1] + [r] * (len(shape) - 1) + [1])
        out.append((sum(c.size for c in cores), relative_error(tl.tt_to_tensor(cores), T)))
    return out


def cp_curve(x, shape, ranks):
    """CP-ALS of a higher-order reshaping: (parameters r·Σ sizes, relative error) per rank."""
    T = tl.tensor(x.reshape(shape))
    out = []
    for r in ranks:
        cp = parafac(T, rank=r, init="svd", n_iter_max=60 if QUICK else 300, tol=1e-12, random_state=0)
        out.append((r * sum(shape), relative_error(tl.cp_to_tensor(cp), T)))
    return out


curves = {
    name: {
        "SVD of 64×64": svd_curve(x, [1, 2, 3, 4, 6, 8, 12, 16]),
        "TT of 8×8×8×8": tt_curve(x, (8,) * 4, [1, 2, 3, 4, 6, 8]),
        "TT of 4⁶": tt_curve(x, (4,) * 6, [1, 2, 3, 4, 6, 8]),
        "CP of 8×8×8×8": cp_curve(x, (8,) * 4, [1, 2, 4, 6, 8]),
    }
    for name, x in signals.items()
}

fig = DiagramFigure(figsize=(14, 7), layout="constrained")  # one figure, six axes
for row, (name, x) in zip(fig.subplots(2, 3), signals.items()):
    shown = 512 if name == "periodic" else 4096
    row[0].plot(t[:shown], x[:shown], linewidth=0.7)
    if name == "periodic":  # the rows of the 64×64 matrix
        for start in range(64, shown, 64):
            row[0].axvline(start, color="0.8", linewidth=0.6, zorder=0)
    row[0].set(title=f"{name} signal ({'first 512 of ' if shown < 4096 else ''}4096 samples)", xlabel="t")
    for label, y, style in ((name, x, dict(marker="o", markersize=3)), ("white noise", noise, dict(ls="--", c="0.6"))):
        s = np.linalg.svd(y.reshape(64, 64), compute_uv=False)
        row[1].semilogy(np.arange(1, 65), np.maximum(s / s[0], FLOOR), label=label, **style)
    row[1].set(title="singular values of the 64×64 reshaping", xlabel="i", ylabel="σᵢ / σ₁")
    row[1].legend()
    for label, points in curves[name].items():
        params, errors = zip(*points)
        row[2].loglog(params, np.maximum(errors, FLOOR), "o-", markersize=4, label=label)
    row[2].set(title="reconstruction error against parameters", xlabel="parameters", ylabel="relative error")
    row[2].legend(fontsize=8)
fig

# %% [markdown]
# How many parameters each reaches rounding level with (relative error below 10⁻¹⁰), against the
# signal's 4096 samples: the matrix needs rank 4 (periodic) and 6 (modulated), r·128 parameters;
# the 4⁶ tensor train gets there with fewer — the higher-order reshaping exposes more structure.
# CP-ALS is an iterative fit, so its error need not fall to rounding level even where the structure
# allows it: the cell prints its smallest error at the largest rank tried — near the threshold for
# the periodic signal, orders of magnitude above it for the modulated one.

# %%
for name, x in signals.items():
    rank = np.linalg.matrix_rank(x.reshape(64, 64), tol=1e-8)
    exact = {label: min((p for p, e in points if e < 1e-10), default=None) for label, points in curves[name].items()}
    found = "; ".join(f"{label}: {p or '—'}" for label, p in exact.items())
    cp_best = min(e for _, e in curves[name]["CP of 8×8×8×8"])
    print(f"{name}: rank {rank} as a matrix; parameters for error < 1e-10: {found}; CP's least error {cp_best:.1e}")
    assert exact["TT of 4⁶"] < exact["SVD of 64×64"] == 128 * rank < 4096

# %% [markdown]
# A tensor train is a diagram like any other: tensorly's cores of the periodic signal's 8⁴
# reshaping, contracted by `tnviz.einsum` along the chain, give the signal back. An **mTT** layer
# is this chain applied to a layer's kernel reshaped the same way — each core pairs an input
# channel factor sₗ with an output factor tₗ, and the spatial kernel is one more core — and an
# **mCP** layer is the CP version. They compress a layer exactly as far as its weight has such
# structure: few parameters, little error, where the reshaped weight is (nearly) low-rank.

# %%
tt = tensor_train(tl.tensor(signals["periodic"].reshape(8, 8, 8, 8)), rank=[1, 4, 4, 4, 1])
cores = [torch.from_numpy(c) for c in tt]
chain = "G1: i1 r1, G2: r1 i2 r2, G3: r2 i3 r3, G4: r3 i4 -> i1 i2 i3 i4"
rebuilt = tnviz.einsum(chain, cores[0][0], cores[1], cores[2], cores[3][..., 0])
assert np.allclose(rebuilt.reshape(-1).numpy(), signals["periodic"])
print(f"{sum(c.numel() for c in cores)} TT parameters rebuild the 4096 samples; the chain: {chain}")

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
# - The paper's Fig. 1: a periodic and a modulated signal, reshaped into a 64×64 matrix, have
#   exactly low rank (4 and 6); reshaped further into a 4⁶ tensor, a tensor train rebuilds them
#   with fewer parameters still. That structure is what mCP and mTT layers exploit in a weight.
# - On a real photograph, every format's reconstruction error falls as its rank (and parameter
#   count) grows, and the curves show which format buys the most accuracy per parameter.
# - `from_dense` turns a `Conv2d` into a tensorial layer by decomposing its weight with tensorly at
#   a compression rate, and reports the ranks it chose and the reconstruction error.
# - At full rank a Tucker layer is exact: its output equals the original convolution's.
