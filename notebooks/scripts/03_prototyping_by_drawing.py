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
# # 03 — Prototyping a layer by drawing it
#
# **You will learn** to draw a tensor network with the mouse — a CP, a tensor-ring and a
# tensor-train layer — read its spec and cost, and turn the drawing into a trainable PyTorch
# module: the whole loop from a sketch to a trained layer.
#
# The editor's toolbar has modes. In **draw** mode: click empty space to add a tensor; drag
# from a tensor onto another to connect them by a new index; drag onto an *edge* (its line, its
# label or its black dot) to **join** that index — three or more holders make a hyperedge; drag
# onto empty space for an open leg. **role** (click a tensor): input (blue) or parameter
# (orange). **output** (click an index): in or out of the output. **∗ conv** (click an edge):
# a convolution. **move**, **delete**, **undo**/**redo** (or Ctrl+Z / Ctrl+Y).
# Double-click to edit in place: a tensor (`X: b (s1 s2)` renames it and orders or groups its
# indices), an index's label (`r=6` renames and resizes it), empty canvas (`-> b (t1 t2)`, the
# output).
#
# Every click is also a method of the editor (`add_tensor`, `connect`, `join`, `add_leg`,
# `set_role`, `set_modes`, `set_size`, …). Each drawing below comes with a cell that makes the
# same drawing by those calls unless the canvas already shows it — so the notebook also runs
# unattended; if you drew it yourself, that cell leaves your drawing alone.

# %%
import os

import torch

from tnviz.render.mpl import DiagramFigure
from tnviz.widgets import DiagramEditor

QUICK = os.environ.get("TNVIZ_QUICK") == "1"
STEPS = 150 if QUICK else 400


def fit(editor, steps=STEPS):
    """Train the drawn layer to reproduce a random instance of itself — a map that has
    exactly the drawing's structure, so a perfect fit exists — from input/output pairs alone.
    Returns the relative error at each step."""
    torch.manual_seed(0)
    teacher, student = editor.to_module(), editor.to_module()
    shapes = [editor.diagram.shape(name) for name in editor.inputs]
    opt = torch.optim.Adam(student.parameters(), lr=0.03)
    errors = []
    for _ in range(steps):
        xs = [torch.randn(*shape) for shape in shapes]
        with torch.no_grad():
            target = teacher(*xs)
        loss = (student(*xs) - target).pow(2).mean() / target.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        errors.append(loss.item())
    params = sum(p.numel() for p in student.parameters())
    print(f"{editor.spec}\n  {params} parameters; relative error {errors[0]:.3f} -> {errors[-1]:.4f}")
    return errors


# %% [markdown]
# ## A CP layer: three factors on one hub
#
# A linear map from 64 = 8·8 features to 16, its weight a CP decomposition of rank 6:
# `X: b (s1 s2), A: s1 r, B: s2 r, C: r t -> b t` (each tensor's indices in the order you draw them). In the
# canvas below:
#
# 1. **draw** mode: click four spots — X at the left, A above the middle, B below it, C at the
#    right. Double-click each and type its name (`X`, `A`, `B`, `C`).
# 2. **role** mode: click X (it turns blue: the input).
# 3. **draw** mode: drag X onto A (a new index `i`), then X onto B (`j`); drag A onto B (`k`);
#    drag C onto the A–B edge — `k` now has three holders, a black dot: the CP hub.
# 4. Drag X onto empty space on its left (`l`) and C onto empty space on its right (`m`): open legs.
# 5. Double-click each label and type: on `i=4` `s1=8`, on `j=4` `s2=8`, on `k=4` `r=6`, on `l=4`
#    `b=32`, on `m=4` `t=16`. Double-click X and type `X: b (s1 s2)`: the batch first, the two
#    input indices grouped into one mode of 64.

# %%
cp_editor = DiagramEditor()
cp_editor

# %%
CP_SPEC = "X: b (s1 s2), A: s1 r, B: s2 r, C: r t -> b t"
if cp_editor.spec != CP_SPEC:  # the same drawing, click for click, unless the canvas shows it already
    cp_editor.clear()
    for name, x, y in (("X", 110, 180), ("A", 270, 80), ("B", 270, 280), ("C", 440, 180)):
        cp_editor.add_tensor(name, x, y)
    cp_editor.set_role("X", "input")
    cp_editor.connect("X", "A", "s1")
    cp_editor.connect("X", "B", "s2")
    cp_editor.connect("A", "B", "r")
    cp_editor.join("C", "r")
    cp_editor.add_leg("X", "b")
    cp_editor.add_leg("C", "t")
    cp_editor.set_modes("X", "b (s1 s2)")
    for index, size in {"s1": 8, "s2": 8, "r": 6, "b": 32, "t": 16}.items():
        cp_editor.set_size(index, size)
cp_errors = fit(cp_editor)

# %% [markdown]
# ## A tensor-ring layer: four cores in a ring
#
# `X: b (s1 s2), G1: r4 s1 r1, G2: r1 r2 s2, G3: r2 r3 t1, G4: r3 r4 t2 -> b (t1 t2)` (G1's order typed, the
# others' as drawn):
#
# 1. **draw**: click five spots — X at the left, then G1 (top), G2 (bottom), G3 (bottom right),
#    G4 (top right); name them by double-clicking.
# 2. Drag G1 onto G2, G2 onto G3, G3 onto G4 and G4 onto G1: the ring (rename its indices
#    `r1`…`r4`, size 3). Drag X onto G1 (`s1=8`) and onto G2 (`s2=8`).
# 3. Drag G3 and G4 onto empty space (`t1=4`, `t2=4`) and X onto empty space (`b=32`).
# 4. **role**: click X. Double-click X: `X: b (s1 s2)`; double-click G1: `G1: r4 s1 r1`;
#    double-click empty canvas: `-> b (t1 t2)`.

# %%
tr_editor = DiagramEditor()
tr_editor

# %%
TR_SPEC = "X: b (s1 s2), G1: r4 s1 r1, G2: r1 r2 s2, G3: r2 r3 t1, G4: r3 r4 t2 -> b (t1 t2)"
if tr_editor.spec != TR_SPEC:
    tr_editor.clear()
    for name, x, y in (("X", 110, 180), ("G1", 250, 90), ("G2", 250, 270), ("G3", 420, 270), ("G4", 420, 90)):
        tr_editor.add_tensor(name, x, y)
    for a, b, index in (("G1", "G2", "r1"), ("G2", "G3", "r2"), ("G3", "G4", "r3"), ("G4", "G1", "r4")):
        tr_editor.connect(a, b, index)
    tr_editor.connect("X", "G1", "s1")
    tr_editor.connect("X", "G2", "s2")
    tr_editor.add_leg("G3", "t1")
    tr_editor.add_leg("G4", "t2")
    tr_editor.add_leg("X", "b")
    tr_editor.set_role("X", "input")
    tr_editor.set_modes("X", "b (s1 s2)")
    tr_editor.set_modes("G1", "r4 s1 r1")
    tr_editor.set_output_modes("b (t1 t2)")
    for index, size in {"r1": 3, "r2": 3, "r3": 3, "r4": 3, "s1": 8, "s2": 8, "t1": 4, "t2": 4, "b": 32}.items():
        tr_editor.set_size(index, size)
tr_errors = fit(tr_editor)

# %% [markdown]
# ## A tensor-train layer: two cores in a chain
#
# `X: b (s1 s2), G1: s1 t1 r, G2: s2 r t2 -> b (t1 t2)` (G1's order typed, G2's as drawn):
#
# 1. **draw**: click X at the left, G1 above right of it, G2 below right; name them.
# 2. Drag X onto G1 (`s1=8`), X onto G2 (`s2=8`), G1 onto G2 (`r=4`).
# 3. Drag G1 and G2 onto empty space at the right (`t1=4`, `t2=4`), X onto empty space (`b=32`).
# 4. **role**: click X; double-click X: `X: b (s1 s2)`; double-click G1: `G1: s1 t1 r`;
#    double-click empty canvas: `-> b (t1 t2)`.

# %%
tt_editor = DiagramEditor()
tt_editor

# %%
TT_SPEC = "X: b (s1 s2), G1: s1 t1 r, G2: s2 r t2 -> b (t1 t2)"
if tt_editor.spec != TT_SPEC:
    tt_editor.clear()
    for name, x, y in (("X", 110, 180), ("G1", 290, 100), ("G2", 290, 260)):
        tt_editor.add_tensor(name, x, y)
    tt_editor.connect("X", "G1", "s1")
    tt_editor.connect("X", "G2", "s2")
    tt_editor.connect("G1", "G2", "r")
    tt_editor.add_leg("G1", "t1")
    tt_editor.add_leg("G2", "t2")
    tt_editor.add_leg("X", "b")
    tt_editor.set_role("X", "input")
    tt_editor.set_modes("X", "b (s1 s2)")
    tt_editor.set_modes("G1", "s1 t1 r")
    tt_editor.set_output_modes("b (t1 t2)")
    for index, size in {"s1": 8, "s2": 8, "r": 4, "t1": 4, "t2": 4, "b": 32}.items():
        tt_editor.set_size(index, size)
tt_errors = fit(tt_editor)

# %% [markdown]
# ## The three fits side by side
# Each drawn layer learned, from input/output pairs alone, a map with its own structure: the
# relative error falls by orders of magnitude.

# %%
fig = DiagramFigure(figsize=(6, 3.2), layout="constrained")  # a Figure that shows itself as a cell's last expression
ax = fig.add_subplot()
for label, errors in (("CP", cp_errors), ("tensor ring", tr_errors), ("tensor train", tt_errors)):
    ax.semilogy(errors, label=label)
ax.set_xlabel("step")
ax.set_ylabel("relative error")
ax.legend()
fig

# %% [markdown]
# ## Typing works too
# Typing a spec (and pressing Enter or **Draw spec**) draws it; you can go on editing the
# drawing with the mouse. Here the tensor-train layer again, typed, with a convolution added:
# its output keeps two spatial indices convolved with a 3×3 kernel core.

# %%
typed = DiagramEditor(
    "X: b (s1 s2) x y, G1: s1 t1 r, G2: r s2 t2 q, K: q x y -> b (t1 t2) x y | x y",
    sizes={"b": 8, "s1": 4, "s2": 4, "t1": 4, "t2": 4, "r": 3, "q": 3, "X": (8, 16, 12, 12), "K": (3, 3, 3)},
    inputs=("X",),
    padding=1,
)
layer = typed.to_module()
print(typed.spec)
print(typed.cost.value)
print("output shape:", tuple(layer(torch.randn(8, 16, 12, 12)).shape))
typed

# %% [markdown]
# ## Templates, files and a gradient at a click
# The **template** menu under the canvas inserts a ready-made network — an MPS, MPO, PEPS, tree,
# MERA, a layer of any of the eleven formats, or one of the paper's modules — and its two numbers
# (length and bond dimension or rank) rebuild it until you edit the drawing. **⤓ Save .json**
# downloads the drawing (diagram, sizes, where each tensor sits, which are inputs);
# **Open .json** reads one back, as `editor.save(path)` and `editor.load(path)` do from Python.
# In **∂ grad** mode a click on a tensor shows its gradient diagram beside the picture, with what
# contracting it costs. Here the same steps as method calls: an mTT layer from the menu, the
# gradient of its first core, and the drawing saved and reopened in a second editor.

# %%
import tempfile
from pathlib import Path

workbench = DiagramEditor()
workbench.insert_template("layer: mtt", 16, 2)
workbench.show_gradient("T1")
saved = Path(tempfile.mkdtemp()) / "mtt.json"
workbench.save(str(saved))
reopened = DiagramEditor()
reopened.load(str(saved))
print("reopened equal:", reopened.diagram == workbench.diagram, "| inputs:", reopened.inputs)
workbench

# %% [markdown]
# ## What we showed
# - A CP layer (three factors on one hyperedge), a tensor-ring and a tensor-train layer drawn
#   with the mouse alone — or, click for click, with the editor's methods.
# - Double-clicks rename tensors and indices, set sizes, and order and group indices
#   (`X: b (s1 s2)`), so the drawing's spec is exactly the layer you mean.
# - `to_module()` turns a drawing into a trainable `TensorNetwork` whose inputs are the tensors
#   marked as inputs; each of the three layers was trained to fit a map of its own structure.
# - A typed spec draws itself, keeps its convolution options, and can be edited on from there.
# - Templates insert and resize ready-made networks, drawings save and open as `.json`, and a
#   click in **∂ grad** mode shows a tensor's gradient diagram and its cost.
