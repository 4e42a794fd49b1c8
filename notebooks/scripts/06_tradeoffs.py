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
# # 06 — Trade-offs: accuracy against compression
#
# **You will learn** how the formats compare across compression rates: a sweep trains one
# student per format and rate, and each point appears on the plot as it finishes. Choose a
# point to see its layers' diagrams and its compression report.

# %%
import os

import torch

import tnviz
from tnviz.compression import LeNet5, mnist_offline
from tnviz.widgets import TradeoffExplorer

QUICK = os.environ.get("TNVIZ_QUICK") == "1"
torch.manual_seed(0)
train, test = mnist_offline()
teacher = LeNet5()
teacher_run = tnviz.distill(teacher, None, train, test, schedule="scratch", epochs=2 if QUICK else 6, lr=2e-3,
                            progress=False)
print(f"teacher test accuracy: {teacher_run.test_accuracy:.4f}")

# %%
formats = ("tk", "mtk") if QUICK else ("cp", "tk", "tt", "mcp", "mtk", "mtt")
rates = (0.05,) if QUICK else (0.02, 0.05, 0.1)
explorer = TradeoffExplorer(teacher, train, test, formats=formats, rates=rates, epochs=1 if QUICK else 3, lr=3e-3, batch_size=128)
explorer

# %% [markdown]
# Press **Run sweep** (it trains in the background), or run it here and wait:

# %%
explorer.run(background=False)
for p in explorer.points:
    print(p.label, f"(achieved rate {p.achieved_rate:.4f})")
explorer.chooser.value = 0  # show the first point's diagrams and report
# What the sweep showed, checked: one student per format and rate, each within its budget and
# well above chance (10 %) after a short distillation.
assert sorted((p.format, p.rate) for p in explorer.points) == sorted((f, r) for f in formats for r in rates)
for p in explorer.points:
    assert p.achieved_rate <= p.rate and p.accuracy > 0.5, (p.label, p.achieved_rate)

# %% [markdown]
# ## What we showed
# - One teacher, trained once, and one student per format and rate, each compressed from it and
#   distilled for a short while.
# - Each student is a point on the plot: test accuracy against the share of parameters it kept,
#   and every one stays within its budget and well above chance.
# - Choosing a point shows its layers' diagrams and its compression report, so a number on the plot
#   can be traced back to the ranks that produced it.
# - Quick mode (`TNVIZ_QUICK=1`) sweeps two formats at one rate; the full run sweeps six formats at
#   three rates.
