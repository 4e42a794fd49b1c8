"""A whole-model budget against a uniform rate, on LeNet-5 and real MNIST digits.

For each seed (its own data split and teacher, as ``tnviz reproduce``), each format and each
whole-model rate r, two students with the same parameter budget — at most r of the teacher's
parameters, the layers that stay dense included:

* ``uniform``: every compressed layer at one rate, the largest (found by bisection) whose whole
  model fits r — today's ``budget="layer"`` at a rate that meets the same budget;
* ``model``: ``compress(..., rate=r, budget="model")``, the ranks spent across layers by their
  error curves.

Each is evaluated on the test digits after its decomposition and again after end-to-end
distillation (the same epochs, learning rate and seed for both); the results file holds every
run, and ``benchmarks/docs.py budget`` writes the table of means with 95 % confidence intervals
(Student's t over seeds) and the paired differences.

    python benchmarks/budget.py --seeds 3                 # benchmarks/results/budget.json
    python benchmarks/docs.py budget                      # docs/budget.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import tnviz
from tnviz.compression import distill, evaluate, mnist_offline
from tnviz.experiments.lenet5 import QUICK, teacher_cache, train_teacher
from tnviz.provenance import mean_ci_text, write_results

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "budget.json"


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def uniform_at_budget(teacher, fmt: str, budget: int, steps: int = 12):
    """(student, report) of the largest uniform per-layer rate whose whole model fits ``budget``."""
    low, high, best = 1e-3, 1.0, None
    for _ in range(steps):
        middle = (low * high) ** 0.5  # bisection on a log scale: rates span orders of magnitude
        try:
            student, report = tnviz.compress(teacher, format=fmt, rate=middle)
        except tnviz.TnvizError:
            low = middle
            continue
        if report.model_params <= budget:
            best, low = (student, report), middle
        else:
            high = middle
    if best is None:
        raise SystemExit(f"no uniform rate of {fmt} fits {budget} parameters")
    return best


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = []
    cache_root = Path(tempfile.mkdtemp(prefix="tnviz-budget-"))
    for seed in range(args.seeds):
        data = mnist_offline(seed)
        settings = type(QUICK)(**{**QUICK.__dict__, "seed": seed})
        teacher = train_teacher(teacher_cache(cache_root, settings), settings, print, False, data)
        teacher_acc = evaluate(teacher, data[1])[0]
        original = _params(teacher)
        for fmt in args.formats:
            for rate in args.rates:
                budget = int(rate * original)
                students = {
                    "uniform": uniform_at_budget(teacher, fmt, budget),
                    "model": tnviz.compress(teacher, format=fmt, rate=rate, budget="model"),
                }
                for name, (student, report) in students.items():
                    init_acc = evaluate(student, data[1])[0]
                    started = time.perf_counter()
                    result = distill(
                        student, teacher, data[0], data[1], schedule="e2e", epochs=args.epochs, lr=QUICK.lr,
                        batch_size=QUICK.batch_size, seed=seed, progress=False,
                    )  # fmt: skip
                    rows.append(
                        {
                            "seed": seed,
                            "format": fmt,
                            "rate": rate,
                            "budget": name,
                            "model_rate": report.model_rate,
                            "layer_rates": {r.name: r.rate for r in report.layers},
                            "weight_errors": {r.name: r.error for r in report.layers},
                            "teacher_acc": teacher_acc,
                            "init_acc": init_acc,
                            "distilled_acc": result.test_accuracy,
                            "distill_seconds": time.perf_counter() - started,
                        }
                    )
                    print(
                        f"seed {seed} {fmt} {rate} {name}: model rate {report.model_rate:.4f}, "
                        f"init {init_acc:.4f}, distilled {result.test_accuracy:.4f}",
                        flush=True,
                    )
    return rows


def _seed(row: dict) -> int:
    return row["seed"]


def table(data: dict) -> str:
    """The markdown table: per format and rate, each budget's accuracies (mean ± 95 % CI over
    seeds) and the paired difference model − uniform."""
    rows = data["results"]
    keys = sorted({(r["format"], r["rate"]) for r in rows})
    lines = [
        "| format | whole-model rate | budget | model rate achieved | accuracy after decomposition "
        "| after distillation |",
        "|---|---|---|---|---|---|",
    ]

    for fmt, rate in keys:
        of = {
            b: sorted((r for r in rows if (r["format"], r["rate"], r["budget"]) == (fmt, rate, b)), key=_seed)
            for b in ("uniform", "model")
        }
        for b, runs in of.items():
            lines.append(
                f"| {fmt} | {rate:g} | {b} | {mean_ci_text([r['model_rate'] for r in runs])} | "
                f"{mean_ci_text([r['init_acc'] for r in runs])} | "
                f"{mean_ci_text([r['distilled_acc'] for r in runs])} |"
            )
        pairs = list(zip(of["model"], of["uniform"]))
        lines.append(
            f"| {fmt} | {rate:g} | model − uniform (paired) | — | "
            f"{mean_ci_text([m['init_acc'] - u['init_acc'] for m, u in pairs])} | "
            f"{mean_ci_text([m['distilled_acc'] - u['distilled_acc'] for m, u in pairs])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--formats", nargs="*", default=["tt", "tk"])
    parser.add_argument("--rates", type=float, nargs="*", default=[0.05, 0.1])
    parser.add_argument("--epochs", type=int, default=4, help="end-to-end distillation epochs per student")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = run(args)
    path = write_results(args.out, rows, {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()})
    print(table({"results": rows}))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
