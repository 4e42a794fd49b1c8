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
# # 08 — Backpropagation as diagrams
#
# **You will learn** that the gradient of a tensor network with respect to any one of its
# tensors is again a tensor diagram — the network with that tensor cut out and the output's
# gradient `G` plugged in where the output was — and to derive with it the backward rule of each
# primitive operation of the paper's Fig. 3: contraction, partial outer product and convolution,
# whose signal gradient turns out to be a *transposed* convolution (and a true convolution's
# kernel gradient, which reads the signal backwards). Every rule is checked
# against PyTorch's autograd in float64. Then the gradients of the CP and mTT convolutional
# layers, what the backward pass costs, and an exercise: predict a gradient diagram yourself.

# %%
from dataclasses import fields

import torch
import torch.nn.functional as F

import tnviz
from tnviz import Diagram
from tnviz.nn import TensorialConv2d
from tnviz.render import draw_gradients

torch.manual_seed(0);  # the ; keeps the returned Generator out of the output


def random_values(d):
    """A random float64 tensor for each tensor of the bound diagram ``d``."""
    return {name: torch.randn(d.shape(name), dtype=torch.float64) for name in d.tensor_names}


def check_gradients(d, values):
    """Autograd's gradient of L = Σ (d's output ⊙ G), G random, against each gradient diagram
    d.grad(name) run by tnviz.einsum. Prints each gradient's spec and the largest difference."""
    leaves = {name: v.clone().requires_grad_(True) for name, v in values.items()}
    y = tnviz.einsum(d, *[leaves[name] for name in d.tensor_names])
    G = torch.randn_like(y)
    y.backward(G)  # the same as (y * G).sum().backward(): G is ∂L/∂y
    worst = 0.0
    for name in d.tensor_names:
        g = d.grad(name)
        ours = tnviz.einsum(g, *[{**values, "G": G}[t] for t in g.tensor_names])
        diff = (ours - leaves[name].grad).abs().max().item()
        worst = max(worst, diff)
        print(f"∂L/∂{name}:  {g.to_spec():<38}  max |diagram − autograd| = {diff:.1e}")
    assert worst < 1e-10
    return G


# %% [markdown]
# ## The rule
#
# A network's output `Y` is linear in each of its tensors: every entry of `Y` is a sum of
# products that hold exactly one entry of each tensor. So for a loss `L` with
# `G = ∂L/∂Y` (a tensor shaped like `Y`, the *upstream gradient*),
#
# $$\frac{\partial L}{\partial A[a]} = \sum_y G[y]\,\frac{\partial Y[y]}{\partial A[a]}$$
#
# and `∂Y[y]/∂A[a]` is the same sum of products with `A`'s entry taken out. In a diagram:
# **cut `A` out, plug `G` into the output's legs, and read the result along the legs `A` held.**
# An index that was summed stays summed, an index that was open is now summed against `G`, and
# `A`'s own legs are the new output. `d.grad("A")` builds that diagram;
# `tnviz.render.draw_gradients(d)` draws the forward diagram and each gradient, `G` in green.

# %% [markdown]
# ## Fig. 3a: contraction
#
# `A: i j k, B: k l -> i j l`, that is `Y[i,j,l] = Σₖ A[i,j,k] B[k,l]`. Cutting `A` out leaves
# `B` and `G: i j l`; `A`'s legs `i j k` are the output, and `l` — open in the forward, held by
# `B` and `G` — is now summed: `∂L/∂A[i,j,k] = Σₗ G[i,j,l] B[k,l]` (for matrices, `G Bᵀ`).
# Likewise `∂L/∂B[k,l] = Σᵢⱼ A[i,j,k] G[i,j,l]` (`Aᵀ G`).

# %%
contraction = Diagram.parse("A: i j k, B: k l -> i j l", sizes={"i": 4, "j": 3, "k": 5, "l": 2})
check_gradients(contraction, random_values(contraction))
draw_gradients(contraction)

# %% [markdown]
# ## Fig. 3b: partial outer product
#
# `A: i b, B: j b -> i j b`: `b` is shared *and* open — a black dot with a leg, nothing summed:
# `Y[i,j,b] = A[i,b] B[j,b]`. Cutting `A` out, `b` keeps all its other holders (`B`, `G`) and
# joins `A`'s legs in the output: `∂L/∂A[i,b] = Σⱼ G[i,j,b] B[j,b]` — again a partial outer
# product along `b`, with `j` now summed. A hyperedge stays a hyperedge under differentiation.

# %%
outer = Diagram.parse("A: i b, B: j b -> i j b", sizes={"i": 4, "j": 3, "b": 5})
check_gradients(outer, random_values(outer))
draw_gradients(outer)

# %% [markdown]
# ## Fig. 3c: convolution, padded and strided
#
# `X: b s x, K: t s x -> b t x | x` with padding 1 and stride 2 is `F.conv1d(X, K, padding=1,
# stride=2)`: with `X̂` the padded signal,
# `Y[b,t,o] = Σₛ Σₖ K[t,s,k] X̂[b,s,2o+k]`. The index `x` is not an ordinary leg, so cutting a
# tensor out changes what `x` does:
#
# * **The kernel's gradient is a correlation of the signal with `G`.** Each weight `K[k]`
#   touched every output position `o`, through the input `X̂[2o+k]`; its gradient collects
#   `G[o]` times that input over all `o`: `∂L/∂K[t,s,k] = Σ_b Σₒ G[b,t,o] X̂[b,s,2o+k]`. Read
#   along `k`, that is `X̂` correlated with `G` as the kernel — and the roles of stride and
#   dilation swap: `G`'s taps land 2 apart in `X̂` (dilation 2) while moving `k` by one moves
#   by one (stride 1); the result is cropped to the kernel's length.
# * **The signal's gradient is a transposed convolution.** Input `X̂[m]` fed every output
#   `o` with `2o + k = m`, so `∂L/∂X̂[m] = Σ_{2o+k=m} G[o] K[k]`: each `G[o]` scatters a copy of
#   the kernel starting at `2o`. As a gather: put a zero between consecutive entries of `G`
#   (*upsample* by the stride, `G↑[2o] = G[o]`), then `∂L/∂X̂[m] = Σₖ G↑[m−k] K[k]` — a true
#   convolution, the kernel *flipped*, and the padding taken off again. The drawing marks that
#   edge `⊛↑2`: `⊛` a flipped (true) convolution, `↑2` the zeros inserted. It is what PyTorch
#   calls `conv_transpose1d`.

# %%
conv = Diagram.parse("X: b s x, K: t s x -> b t x | x", sizes={"X": (2, 3, 9), "K": (4, 3, 3)}, padding=1, stride=2)
values = random_values(conv)
G = check_gradients(conv, values)
for name in ("X", "K"):
    opts = conv.grad(name).options["x"]
    changed = ", ".join(f"{f.name}={getattr(opts, f.name)}" for f in fields(opts) if getattr(opts, f.name) != f.default)
    print(f"∂L/∂{name} convolves x with {changed}")
# the signal's gradient is PyTorch's transposed convolution:
dX = tnviz.einsum(conv.grad("X"), G, values["K"])
dX_torch = F.conv_transpose1d(G, values["K"], stride=2, padding=1)
print(f"max |∂L/∂X − conv_transpose1d(G, K, stride=2, padding=1)| = {(dX - dX_torch).abs().max().item():.1e}")
draw_gradients(conv)

# %% [markdown]
# What each gradient costs, beside the forward (`d.backward_plan()`): the kernel's gradient does
# as many multiply-adds as the forward; the signal's counts the inserted zeros too, so it reads
# more here (a transposed-convolution kernel skips them).

# %%
print(conv.backward_plan())

# %% [markdown]
# ## A true convolution, and gradients before the sizes are known
#
# With `flip=True` the forward is a true convolution, `Y[o] = Σₖ X̂[2o + k] K[2 − k]` — the
# signal's gradient above is one. Its kernel's gradient needs one more fact: **reading every
# holder of a correlation backwards reverses its output** (with the padding swapped). So
# `∂L/∂K` is the unflipped rule with the signal *and* `G` read backwards; the spec language
# writes that as `flip=("G", "X")`, drawn `rev` on those two edges.
#
# A gradient also needs the lengths (the paddings and crops that make `G` line up). `d.grad` of a
# diagram whose lengths are not bound returns a *pending* gradient: its tensors now, its options
# written when it runs — `tnviz.einsum` reads the lengths off the tensors it is given. Where the
# stride leaves a length open, it says so, and `sizes=` settles it.

# %%
true_conv = conv.with_options(flip=True)
check_gradients(true_conv, values)
print("∂L/∂K reads backwards:", true_conv.grad("K").options["x"].flip)
unbound = Diagram.parse("X: b s x, K: t s x -> b t x | x", padding=1, stride=2)
pending = unbound.grad("X")  # no sizes yet: the options are written when it runs
try:
    tnviz.einsum(pending, G, values["K"])
except tnviz.TnvizError as err:  # at stride 2, a signal of 9 or of 10 gives 5 outputs
    print("refused:", err.message)
dX_pending = tnviz.einsum(pending, G, values["K"], sizes={"X": (2, 3, 9)})
print(f"pending ∂L/∂X: {pending.to_spec()}, max |pending − bound| = {(dX_pending - dX).abs().max().item():.1e}")
draw_gradients(true_conv)

# %% [markdown]
# ## The gradients of a CP convolutional layer
#
# A layer's diagram (`layer.diagram`, its input `X`) differentiates the same way, one factor at
# a time. In the CP layer `X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y`, the
# factors `A` and `C` hold no convolution index: cutting one out, `G` joins the kernels `Kx`,
# `Ky` along `x` and `y` (the drawing shows `G` on the convolution edges), and the convolution is
# summed away. `Kx` and `Ky` are kernels: the signal correlated with `G` along their index.

# %%
def check_layer(layer, input_shape):
    """The layer's own autograd (its forward, float64) against each gradient diagram of its diagram."""
    d = layer.diagram.bind(shapes={"X": input_shape})
    x = torch.randn(input_shape, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    G = torch.randn_like(y)
    y.backward(G)
    params = {name.removeprefix("weights."): p for name, p in layer.named_parameters()}
    values = {"X": x.detach(), "G": G, **{name: p.detach() for name, p in params.items()}}
    autograd = {"X": x.grad, **{name: p.grad for name, p in params.items()}}
    worst = 0.0
    for name in d.tensor_names:
        g = d.grad(name)
        diff = (tnviz.einsum(g, *[values[t] for t in g.tensor_names]) - autograd[name]).abs().max().item()
        worst = max(worst, diff)
        print(f"∂L/∂{name:<3} max |diagram − layer's autograd| = {diff:.1e}")
    assert worst < 1e-10
    return d


cp_layer = TensorialConv2d(8, 8, 3, padding=1, bias=False, format="cp", rank=4, dtype=torch.float64)
cp = check_layer(cp_layer, (2, 8, 6, 6))
draw_gradients(cp)

# %% [markdown]
# ## The gradients of an mTT convolutional layer
#
# The reshaped tensor-train layer of Su et al.: channels factored 8 = 2·2·2, a chain of cores
# `T1 T2 T3` across the factor pairs and the spatial kernel `C` at its end. The gradient of a
# core is the rest of the chain, with `X` and `G` (the grouped legs split into their factors)
# closing the hole.

# %%
mtt_layer = TensorialConv2d(8, 8, 3, padding=1, bias=False, format="mtt", rank=2, dtype=torch.float64)
mtt = check_layer(mtt_layer, (2, 8, 6, 6))
draw_gradients(mtt)

# %% [markdown]
# ## What the backward pass costs
#
# At a real size — 64→64 channels, 3×3, a batch of 32 images 32×32, 10 % of the dense
# parameters — `backward_plan` plans the gradient diagram of every tensor, the input's
# included (a middle layer passes `∂L/∂X` on).

# %%
for fmt in ("dense", "cp", "mtt"):
    layer = TensorialConv2d(64, 64, 3, padding=1, format=fmt, rate=None if fmt == "dense" else 0.1)
    d = layer.diagram.bind(shapes={"X": (32, 64, 32, 32)})
    print(f"{fmt} {layer.ranks}:\n{d.backward_plan()}\n")

# %% [markdown]
# Each gradient diagram costs about what the forward does — replacing one tensor by `G` leaves a
# network of the same kind and size. For the dense layer that is the textbook figure: `∂K` and
# `∂X`, each one forward, so **the backward is 2× the forward** and a training step 3×.
#
# For a factored layer, the sum of its gradient diagrams grows with the number of factors
# (CP above: five gradients, about 5× the forward) because each one is planned *on its own* and
# recomputes the partial products it shares with the others (`X` contracted with `A` appears in
# the gradients of `Kx`, `Ky` and `C`). Autograd does not do that: it differentiates the forward
# plan's own pairwise steps, each step's two gradients costing about the step, reusing the
# intermediates saved in the forward — so in FLOPs reverse mode stays near 2× the forward for
# any format, a training step near 3×. `benchmarks/backward.py` prices every format both ways
# and measures autograd (`docs/backward.md`): in its recorded CPU run, a Conv2d layer's forward
# + backward took 2.7–3.7× its forward, whatever the format.
#
# A strided layer: with stride 2, a tensor that misses a strided index — all four CP factors
# here, since the separable `Kx` and `Ky` each miss one — sees `G` join the kernels with its taps
# two apart (`Σₒ G[o] X̂[2o + k]`): the option `kernel_dilation={"G": 2}`, drawn as `dil 2` on
# `G`'s edge. Every gradient is a diagram again; the small float64 copy below is checked against
# the layer's own autograd, then the real size priced.

# %%
strided_small = TensorialConv2d(8, 8, 3, padding=1, stride=2, bias=False, format="cp", rank=4, dtype=torch.float64)
strided_cp = check_layer(strided_small, (2, 8, 7, 7))
print(strided_cp.grad("A").to_spec(), "  G spaced:", dict(strided_cp.grad("A").options["x"].kernel_dilation))
strided = TensorialConv2d(64, 64, 3, padding=1, stride=2, format="cp", rate=0.1)
print(strided.diagram.bind(shapes={"X": (32, 64, 32, 32)}).backward_plan())

# %%
draw_gradients(strided_cp)

# %% [markdown]
# ## Exercise: predict a gradient
#
# CP's hub: `A: i r, B: j r, C: k r -> i j k` — three factors on one hyperedge `r`, open legs
# `i j k`. **Predict `∂L/∂B`** as a spec: which tensors remain, where `G` goes (it holds the
# output's legs, in the output's order: `G: i j k`), and which legs are the result. Edit
# `prediction` and run the check; it tells you what is off without giving the answer away.

# %%
hub = Diagram.parse("A: i r, B: j r, C: k r -> i j k", sizes={"i": 4, "j": 3, "k": 5, "r": 2})
hub

# %%
prediction = "A: i r, C: k r, G: i j k -> dB: j"  # a first guess: edit me


# %%
def compare(prediction, answer, target):
    """Whether ``prediction`` (a spec) is the diagram ``answer`` up to the order of its operands
    and the output's name; a message saying what differs. Never raises."""
    try:
        guess = Diagram.parse(prediction)
    except tnviz.TnvizError as err:
        return False, f"That is not a spec yet — {err.message}"
    theirs = {op.name: op.modes for op in guess.tensors}
    ours = {op.name: op.modes for op in answer.tensors}
    hints = []
    if target in theirs:
        hints.append(f"{target} itself does not appear: the network is linear in {target}, its gradient free of it.")
    for name in ours:
        if name not in theirs:
            why = "the output's gradient takes the output's place" if name == "G" else "it is still in the network"
            hints.append(f"{name} is missing — {why}.")
    for name in theirs:
        if name not in ours and name != target:
            hints.append(f"{name} is not a tensor of this network.")
    for name in ours:
        if name in theirs and theirs[name] != ours[name]:
            hints.append(f"{name} has the wrong legs: each remaining tensor keeps exactly the legs it had.")
    want, got = set(answer.output.indices), set(guess.output.indices)
    for i in sorted(want - got):
        hints.append(f"'{i}' must stay open: {target} holds it, and the gradient has {target}'s shape.")
    for i in sorted(got - want):
        hints.append(f"'{i}' must be summed: {target} does not hold it.")
    if not hints and answer.output.modes != guess.output.modes:
        hints.append(f"Right legs, wrong order: the result is laid out like {target}.")
    if set(guess.conv) != set(answer.conv):
        hints.append(f"The convolution indices (after '|') should be: {' '.join(answer.conv) or 'none'}.")
    if hints:
        return False, "Not yet:\n  " + "\n  ".join(hints)
    return True, f"Right: {answer.to_spec()}"


ok, message = compare(prediction, hub.grad("B"), "B")
print(message)

# %% [markdown]
# **The answer** (run once you have made your prediction): cut `B` out — `A` and `C` stay, `G`
# takes the output's place. `r` keeps its holders `A`, `C` and joins the result, since `B` held
# it; `i` and `k`, open before, are now summed against `G`: `∂L/∂B[j,r] = Σᵢₖ G[i,j,k] A[i,r] C[k,r]`
# — the matricized-tensor-times-Khatri–Rao product at the heart of CP-ALS.

# %%
print(compare(hub.grad("B").to_spec(), hub.grad("B"), "B")[1])
check_gradients(hub, random_values(hub))
draw_gradients(hub, tensors=["B"])

# %% [markdown]
# ## What we showed
# - The gradient of a tensor network with respect to one tensor is a tensor diagram: cut the
#   tensor out, plug `G = ∂L/∂Y` into the output's legs, read along the cut tensor's legs
#   (`d.grad(name)`, drawn by `draw_gradients`, `G` in green).
# - Contraction: `∂A = B, G` with the formerly open legs summed; partial outer product: the
#   hyperedge `b` stays a hyperedge. Both equal autograd in float64 to round-off (≤ 1e-10
#   asserted; the printed differences are ~1e-15).
# - Convolution (padding 1, stride 2): the kernel's gradient is the signal correlated with `G`,
#   stride and dilation swapped; the signal's gradient is `G` upsampled by the stride (`↑2`)
#   convolved with the flipped kernel (`⊛`) — exactly `F.conv_transpose1d`.
# - The CP and mTT layers' factor gradients, checked against the layers' own autograd; each
#   gradient diagram costs about one forward, so the dense layer's backward is 2× its forward,
#   while independent diagrams for n factors cost about n× (autograd shares intermediates and
#   stays near 2×: `docs/backward.md`).
# - A true convolution (`flip=True`): the kernel's gradient reads the signal and `G` backwards
#   (`rev`); a diagram without sizes gives a pending gradient that binds when it runs.
# - With stride 2, a tensor that misses a strided index (all four CP factors) gets `G` as one more
#   kernel with its taps 2 apart (`kernel_dilation`, drawn `dil 2`), checked against autograd.
# - CP's `∂L/∂B` is `A: i r, C: k r, G: i j k -> dB: j r`, the MTTKRP of CP-ALS.
