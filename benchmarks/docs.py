"""Regenerate every table and result sentence of the README and docs from the results files.

    python benchmarks/docs.py            rewrite README.md, docs/lenet5_mnist/results.md and fig9.md
    python benchmarks/docs.py --check    exit 1 if they differ from what the files generate
    python benchmarks/docs.py layers     rewrite docs/layers.md only (from benchmarks/results/layers*.json)

The files: ``benchmarks/results/planner.json`` (``benchmarks/planner.py``),
``benchmarks/results/expressions.json`` (``benchmarks/expressions.py``),
``benchmarks/results/paths.json`` (``benchmarks/paths.py``),
``benchmarks/results/slicing.json`` (``benchmarks/slicing.py``),
``benchmarks/results/grad_refusals.json`` (``benchmarks/grad_refusals.py``),
``benchmarks/results/engine.json`` (``benchmarks/engine.py``),
``benchmarks/results/main_job.json`` (``benchmarks/main_job.py``: the README's main job, timed) and
``docs/lenet5_mnist/results.json`` (``tnviz reproduce lenet5-mnist --out docs/lenet5_mnist``) and
``docs/lenet5_mnist/fig9_curves.json`` (the per-epoch test errors of a ``reproduce`` run, its
``fig9_curves.json``; ``python -m tnviz.experiments.fig9 plot-fig9 FILE`` draws the figure),
``benchmarks/results/layers.json`` and ``layers-tcmalloc.json`` (``benchmarks/layers.py``, with
``--allocator tcmalloc`` for the second) for ``docs/layers.md``,
``benchmarks/results/budget.json`` (``benchmarks/budget.py``) for ``docs/budget.md``,
``benchmarks/results/compress_models.json`` (``benchmarks/compress_models.py``) for
``docs/compress_models.md`` and ``benchmarks/results/decompose.json`` (``benchmarks/decompose.py``)
and ``benchmarks/results/decompose_rates.json`` (``benchmarks/decompose_rates.py``)
for ``docs/decompose.md``.
Each names the commit, versions, machine and command that produced it; nothing in these
sections is typed by hand. ``tests/test_readme_results.py`` runs ``--check``'s comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

README = ROOT / "README.md"
LENET = ROOT / "docs" / "lenet5_mnist"
LAYERS = ROOT / "docs" / "layers.md"
BUDGET = ROOT / "docs" / "budget.md"
COMPRESS_MODELS = ROOT / "docs" / "compress_models.md"
DECOMPOSE = ROOT / "docs" / "decompose.md"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def generate_readme(text: str) -> str:
    """The README with every generated section rewritten from its results file."""
    import engine
    import expressions
    import grad_refusals
    import main_job
    import paths
    import planner
    import slicing

    from tnviz.experiments.report import readme_section
    from tnviz.provenance import describe, replace_section

    planner_data = _load(HERE / "results" / "planner.json")
    text = replace_section(text, "planner-benchmark", planner.table(planner_data) + "\n\n" + describe(planner_data))
    paths_data = _load(HERE / "results" / "paths.json")
    text = replace_section(text, "paths-benchmark", paths.table(paths_data) + "\n\n" + describe(paths_data))
    refusals = _load(HERE / "results" / "grad_refusals.json")
    text = replace_section(text, "grad-refusals", grad_refusals.table(refusals) + "\n\n" + describe(refusals))
    slicing_data = _load(HERE / "results" / "slicing.json")
    text = replace_section(text, "slicing-benchmark", slicing.table(slicing_data) + "\n\n" + describe(slicing_data))
    expressions_data = _load(HERE / "results" / "expressions.json")
    text = replace_section(
        text, "expressions-benchmark", expressions.table(expressions_data) + "\n\n" + describe(expressions_data)
    )
    engine_data = _load(HERE / "results" / "engine.json")
    text = replace_section(text, "engine-benchmark", engine.table(engine_data) + "\n\n" + describe(engine_data))
    lenet = _load(LENET / "results.json")
    text = replace_section(text, "lenet5-results", readme_section(lenet) + "\n\n" + describe(lenet))
    main = _load(HERE / "results" / "main_job.json")
    text = replace_section(text, "main-job", main_job.sentence(main) + " " + describe(main))
    return text


def generate_docs() -> dict[Path, str]:
    """Generated docs files: ``{path: text}``."""
    from tnviz.experiments.fig9 import fig9_markdown
    from tnviz.experiments.report import results_markdown

    docs = {LENET / "results.md": results_markdown(_load(LENET / "results.json"))}
    if (LENET / "fig9_curves.json").exists():
        docs[LENET / "fig9.md"] = fig9_markdown(_load(LENET / "fig9_curves.json"))
    runs = layer_results()
    if runs:
        docs[LAYERS] = layers_markdown(runs)
    if (HERE / "results" / "budget.json").exists():
        docs[BUDGET] = budget_markdown(_load(HERE / "results" / "budget.json"))
    if (HERE / "results" / "compress_models.json").exists():
        docs[COMPRESS_MODELS] = compress_models_markdown(_load(HERE / "results" / "compress_models.json"))
    if (HERE / "results" / "decompose.json").exists():
        docs[DECOMPOSE] = decompose_markdown(_load(HERE / "results" / "decompose.json"))
    return docs


def compress_models_markdown(data: dict) -> str:
    """docs/compress_models.md: whole networks compressed, from benchmarks/compress_models.py's file."""
    import compress_models

    from tnviz.provenance import describe

    settings = data["provenance"].get("settings", {})
    return "\n".join(
        [
            "# Compressing whole networks that are not the paper's",
            "",
            "Generated by `python benchmarks/docs.py` from `benchmarks/results/compress_models.json`, which",
            "`benchmarks/compress_models.py` writes; not edited by hand. Random weights (as `weights=None`);",
            f"rate {settings.get('rate', '?')} of each compressed layer (`budget=layer`); a whole-model budget asks",
            "for the whole-model rate that the same format's per-layer run achieved: of parameters (`budget=model`) or",
            "of FLOPs on the example batch (`budget=flops`, counted by torch's FlopCounterMode), so each compares",
            "with it at the same size.",
            "`compress time`: the call, decompositions included (with the example batch only where it measures",
            "on it: `auto` per layer, `budget=flops`); `decompositions estimated`: what `compress` estimated",
            "(`tnviz.nn.decompose.decomposition_seconds`, from `benchmarks/results/decompose_rates.json`) before the",
            "first decomposition began — of the layers, or for a whole-model budget of every option of their error",
            "curves; `output error`:",
            "‖student(x) − model(x)‖ / ‖model(x)‖ on the example batch; `latency / original`: inference time on",
            "that batch over the original model's, the two timed round-robin in one process (median of",
            f"{settings.get('repeats', '?')} rounds). A run that was refused or stopped says why.",
            "",
            compress_models.table(data),
            "",
            describe(data),
            "",
        ]
    )


def decompose_markdown(data: dict) -> str:
    """docs/decompose.md: decomposition time and error beside tensorly-torch, from benchmarks/decompose.py's file."""
    import decompose

    from tnviz.provenance import describe

    settings = data["provenance"].get("settings", {})
    return "\n".join(
        [
            "# Decomposing a convolution: tnviz beside tensorly-torch",
            "",
            "Generated by `python benchmarks/docs.py` from `benchmarks/results/decompose.json`, which",
            "`benchmarks/decompose.py` writes; not edited by hand. `nn.Conv2d` kernels with their own random",
            f"initialisation, rate {settings.get('rate', '?')}; CP at tensorly-torch's own rank, Tucker and TT at the",
            "rate (each library choosing its ranks). Error: ‖W − Ŵ‖ / ‖W‖. Mean ± the 95 % half-width over",
            f"{settings.get('seeds', '?')} seeds.",
            "",
            decompose.table(data),
            "",
            describe(data),
            "",
            *_decompose_rates_section(),
        ]
    )


def _decompose_rates_section() -> list[str]:
    """How far the time estimate given before decomposing is off, from benchmarks/decompose_rates.py's file."""
    path = HERE / "results" / "decompose_rates.json"
    if not path.exists():
        return []
    import decompose_rates

    from tnviz.provenance import describe

    data = _load(path)
    channels = ", ".join(str(c) for c in data["provenance"].get("settings", {}).get("channels", []))
    return [
        "## The time estimate given before decomposing",
        "",
        "From `benchmarks/results/decompose_rates.json`, which `benchmarks/decompose_rates.py` writes:",
        f"`nn.Conv2d` C→C 3×3 and `nn.Linear` C→4C for C in {channels}, each at rates "
        f"{', '.join(str(r) for r in decompose_rates.RATES)}, with their own random initialisation. Each format's",
        "seconds per unit of its decomposer's `WORK` and fixed overhead are fitted there (and copied into",
        "`tnviz/nn/decomposers/rates.json`); the last columns are that estimate over the measured time on the",
        "same kernels — the spread of the estimate `compress` gives before it decomposes anything.",
        "",
        decompose_rates.table(data["results"]),
        "",
        describe(data),
        "",
    ]


def budget_markdown(data: dict) -> str:
    """docs/budget.md: the whole-model budget against a uniform rate, from benchmarks/budget.py's file."""
    import budget

    from tnviz.provenance import describe

    settings = data["provenance"].get("settings", {})
    return "\n".join(
        [
            "# A whole-model budget against a uniform rate (LeNet-5, real MNIST digits)",
            "",
            "Generated by `python benchmarks/docs.py` from `benchmarks/results/budget.json`, which",
            "`benchmarks/budget.py` writes; not edited by hand. Both students of a row keep at most the",
            "whole-model rate of the teacher's parameters (the layers that stay dense included): `uniform`",
            "puts every compressed layer at the largest single rate that fits, `model` is",
            '`compress(..., budget="model")`. Accuracies on the held-out digits, mean ± the half-width of the',
            f"95 % confidence interval (Student's t) over {settings.get('seeds', '?')} seeds (each its own data",
            f"split and teacher), after the decomposition and after {settings.get('epochs', '?')} epochs of",
            "end-to-end distillation; the last row of each pair is the paired difference.",
            "",
            budget.table(data),
            "",
            describe(data),
            "",
        ]
    )


ALLOCATOR_TITLES = {
    "system": "the system's allocator (glibc malloc)",
    "tcmalloc": "tcmalloc (LD_PRELOAD)",
    "jemalloc": "jemalloc (LD_PRELOAD)",
}


def layer_results() -> dict[str, dict]:
    """The layer benchmark's results files that exist, by allocator (system first)."""
    import layers

    out = {}
    for allocator in ALLOCATOR_TITLES:
        path = layers.results_path(allocator)
        if path.exists():
            out[allocator] = _load(path)
    return out


def _runs(results_path):
    """(allocator's title, path, results) of each allocator's results file that exists."""
    for allocator, title in ALLOCATOR_TITLES.items():
        path = results_path(allocator)
        if path.exists():
            yield title, path, _load(path)


def engine_ab_markdown() -> list[str]:
    """docs/layers.md's sections from benchmarks/engine_ab.py's results files (none without them)."""
    import engine_ab

    from tnviz.provenance import describe

    lines = []
    for title, path, data in _runs(engine_ab.results_path):
        lines += [
            f"## Against the previous engine, side by side, with {title}",
            "",
            f"Generated from `{path.relative_to(ROOT)}`, which `benchmarks/engine_ab.py` writes. Each",
            "built-in layer on the one engine over the same layer on the hand-written engine it replaced",
            f"(commit `{engine_ab.BEFORE}`, imported beside it as `{engine_ab.RENAMED}`), built with the same",
            "arguments and weights and timed as an alternating pair in one process over",
            f"{engine_ab.rounds(data['provenance']['settings']['repeats'])} rounds, each side first in half of them",
            "(the median over rounds); median and interquartile range over processes; below 1 is faster now;",
            "`cl`: channels_last input, upstream gradient and layers.",
            "",
            engine_ab.table(data),
            describe(data),
            "",
        ]
    return lines


def drawn_bias_markdown() -> list[str]:
    """docs/layers.md's sections from benchmarks/drawn_bias.py's results files (none without them)."""
    import drawn_bias

    from tnviz.provenance import describe

    lines = []
    for title, path, data in _runs(drawn_bias.results_path):
        lines += [
            f"## The drawn network against the built-in layer, with a bias, with {title}",
            "",
            f"Generated from `{path.relative_to(ROOT)}` (`benchmarks/drawn_bias.py`, a run of its own): the",
            "`drawn / built-in` pairs of the tables below, with `bias=True` on both (the same values). Median",
            "and interquartile range over processes.",
            "",
            drawn_bias.table(data),
            "",
            describe(data),
            "",
        ]
    return lines


def layers_markdown(runs: dict[str, dict]) -> str:
    """docs/layers.md: the layer benchmark's tables and provenance, one section per allocator."""
    import layers

    from tnviz.provenance import describe

    files = ", ".join(f"`{layers.results_path(a).relative_to(ROOT)}`" for a in runs)
    lines = [
        "# Tensorial layers against their dense twins",
        "",
        f"Generated by `python benchmarks/docs.py layers` from {files}, which `benchmarks/layers.py`",
        "writes (`--allocator NAME` for the others); not edited by hand. Ratios are times over the dense",
        "layer's, measured round-robin in one process (median and interquartile range over processes).",
        "`fwd+bwd`: forward and backward with a fixed upstream gradient, the input needing its gradient;",
        "`fwd`: the forward pass alone under `torch.no_grad` (inference). `rebuild MACs/dense`: the",
        "multiply-adds of rebuilding the kernel over the dense call's (the `reconstruct` plan's floor above 1,",
        'forward and backward alike). `auto runs`: the candidate plan `optimize="auto"` runs with gradients',
        "recorded (`auto`: the planner's own choice; `reconstruct`: the kernel rebuilt, then one dense call;",
        "`left-to-right`: the factors applied one by one). `auto / best candidate`: auto's time over the fastest",
        "of the candidates forced one by one in the same rounds (NCHW / channels_last); a candidate more than",
        f"{layers.SCREEN:g}× slower than auto in one call is timed that once instead. `drawn / built-in`: a",
        "`tnviz.TensorNetwork` of the format's diagram, as a user draws it, over the built-in layer, timed as",
        f"a pair, alternating, over {layers.DRAWN_ROUNDS}× the rounds (fwd+bwd / fwd, and channels_last for",
        "Conv2d). Every layer runs on the one engine that runs drawn networks (`tnviz/execute`); `Against the",
        "previous engine` compares each cell with the last run of the hand-written engine it replaced.",
        "",
        "**Read the auto-versus-candidate columns with care.** When auto's plan is also a forced candidate,",
        "both run the very same program on the same tensors in the same rounds, yet their ratios differ",
        f"(in {ALLOCATOR_TITLES[next(iter(runs))].split(' (')[0]} run below by up to "
        f"{layers.twin_gap(next(iter(runs.values()))):.2f}×): a function's place in the round — what ran",
        "just before it, and so what the allocator and the caches hold — moves it. `auto's choice within",
        "1.05× of the fastest candidate (both forced)` compares like with like.",
        "",
        "**The C allocator matters on CPU.** glibc's malloc hands out a block of a few MB (an activation)",
        "by mmap and returns it by munmap when freed, so every call pays the page faults again, for some",
        "sizes and not others depending on glibc's moving threshold, i.e. on what ran before. The factored",
        "layers allocate more such blocks than one dense convolution. PyTorch's CPU tuning guide recommends",
        "tcmalloc or jemalloc (`LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4`, Debian's",
        "`libtcmalloc-minimal4`); the tables below are measured with each allocator that was run.",
        "",
    ]
    for allocator, data in runs.items():
        lines += [f"## Targets, with {ALLOCATOR_TITLES[allocator]}", "", layers.targets(data), ""]
    lines += drawn_bias_markdown()
    lines += engine_ab_markdown()
    for allocator, data in runs.items():
        before = layers.results_path(allocator, before=True)
        if before.exists():
            old = _load(before)
            lines += [
                f"## Against the previous engine, two separate runs, with {ALLOCATOR_TITLES[allocator]}",
                "",
                f"Each cell: (layer / dense now) over (layer / dense in `{before.relative_to(ROOT)}`, the",
                f"hand-written engine: {describe(old).rstrip('.')}); below 1 is faster now. A ratio of two ratios from",
                "two runs, one cell from one run each: the side-by-side section above is the one that settles it.",
                *_other_machine(data, old),
                "",
                layers.compare(data, old),
                "",
            ]
    for allocator, data in runs.items():
        table = layers.table(data).replace("\n### ", "\n#### ")
        table = "#" + table if table.startswith("### ") else table
        lines += [f"## With {ALLOCATOR_TITLES[allocator]}", "", table, "", describe(data), ""]
    return "\n".join(lines)


def _other_machine(now: dict, before: dict) -> list[str]:
    """A warning when ``before`` was measured on another CPU model than ``now`` (the provenance
    names the model only): each ratio is over its own run's dense layer, yet cache sizes and
    memory bandwidth move the two sides apart."""
    cpus = [run["provenance"]["machine"]["cpu"] for run in (now, before)]
    if cpus[0] == cpus[1]:
        return []
    return [
        f"**The two runs were on different CPUs** (now: {cpus[0]}; before: {cpus[1]}), so these cells",
        "compare the CPUs as much as the engines.",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    parser.add_argument("only", nargs="?", choices=["layers"], help="rewrite docs/layers.md only")
    args = parser.parse_args()
    if args.only == "layers":
        LAYERS.write_text(layers_markdown(layer_results()))
        print(f"rewrote {LAYERS.relative_to(ROOT)}")
        return 0
    wanted = {README: generate_readme(README.read_text()), **generate_docs()}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} differs from what its results file generates")
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"rewrote {path.relative_to(ROOT)}")
    if not stale:
        print("README and docs already match the results files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
