"""Whole-network compression of models that are not the paper's, in every format, to a
per-layer rate (``budget="layer"``) and to whole-model ones (``budget="model"``: parameters;
``budget="flops"``: FLOPs on the example batch). A whole-model run asks for the whole-model rate
(of parameters, or of FLOPs) that the same format's per-layer run achieved, so that the two
compare at the same size: the output error says which spends it better.

Models (random weights, as ``weights=None``): ResNet-18 (torchvision's layout,
``tnviz.compression.resnet18``, on 8 images of 224×224) and the networks unlike the paper's that the
test suite compresses too (``tnviz.compression.other_models``): a MobileNet-v2-like net with
depthwise convolutions, a transformer encoder with ``nn.MultiheadAttention`` and a Conv1d audio net.

Each (model, format, budget) runs in a process of its own (its memory and time do not touch the
next) stopped after ``--limit`` seconds: the seconds ``compress`` takes (decompositions and the
per-layer timing of ``format="auto"`` included; without ``example_input=`` elsewhere, whose
per-layer latencies in the report are not part of compressing, but for ``budget="flops"``, which
needs it), the parameters kept and the whole-model rate,
the relative output error on the example batch, and the inference latency of the compressed
model over the original's on that batch, timed round-robin in one process.

    python benchmarks/compress_models.py                  # benchmarks/results/compress_models.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from timing import interleaved

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "compress_models.json"
FORMATS = ("svd", "cp", "tk", "tt", "tr", "btd", "mcp", "mtk", "mtt", "mtr", "auto")
# (model, formats, budgets): ResNet-18 in every format to a per-layer rate, the error-curve budgets
# in the formats whose decompositions are quick enough to run at a dozen rates per layer (and, on
# the small models, auto: every format's curve)
RUNS = (
    ("resnet18", FORMATS, ("layer",)),
    ("resnet18", ("tk", "tt", "mtt"), ("model", "flops")),
    ("mobilenet", ("tk", "tt", "mtt", "auto"), ("layer",)),
    ("mobilenet", ("tk", "tt", "mtt", "auto"), ("model", "flops")),
    ("encoder", ("tk", "tt", "mtt"), ("layer", "model", "flops")),
    ("audio", ("tk", "tt", "mtt", "auto"), ("layer",)),
    ("audio", ("tk", "tt", "mtt", "auto"), ("model", "flops")),
)
# what a whole-model budget's rate is matched to in the per-layer run's row
MATCHED = {"model": "model_rate", "flops": "flops_rate"}


def build(name: str):
    """(model, example input) of a benchmark model."""
    torch.manual_seed(0)
    if name == "resnet18":
        from tnviz.compression import resnet18

        return resnet18().eval(), torch.randn(8, 3, 224, 224)
    from tnviz.compression import other_models as zoo

    if name == "mobilenet":
        return zoo.MobileNetLike().eval(), torch.randn(8, 3, 32, 32)
    if name == "encoder":
        return zoo.Encoder().eval(), torch.randint(0, 50, (8, 16))
    if name == "audio":
        return zoo.AudioNet().eval(), torch.randn(8, 1, 4000)
    raise SystemExit(f"unknown model {name!r}")


def one(model_name: str, fmt: str, budget: str, rate: float, threads: int, repeats: int) -> dict:
    import tnviz
    from tnviz.compression.latency import model_flops

    torch.set_num_threads(threads)
    model, x = build(model_name)
    started = time.perf_counter()
    if fmt == "auto" and budget == "layer" or budget in ("flops", "latency"):  # these measure on the input
        student, report = tnviz.compress(model, format=fmt, rate=rate, example_input=x, budget=budget)
    else:  # the report's per-layer timing on an example input is not part of compressing
        student, report = tnviz.compress(model, format=fmt, rate=rate, budget=budget)
    flops_rate = report.flops_rate if report.flops_rate is not None else model_flops(student, x) / model_flops(model, x)
    seconds = time.perf_counter() - started
    student.eval()
    with torch.no_grad():
        want = model(x)
        error = float((student(x) - want).norm() / want.norm())

    def infer(m):
        def run():
            with torch.no_grad():
                m(x)

        return run

    ratios = interleaved({"original": infer(model), "compressed": infer(student)}, repeats, "cpu")
    return {
        "seconds": seconds,
        "estimated_seconds": report.estimated_seconds,  # the decompositions', before the first began
        "params": report.model_params,
        "original_params": report.original_params,
        "rate_asked": rate,
        "model_rate": report.model_rate,
        "flops_rate": flops_rate,
        "layers_rate": report.rate,
        "layers": len(report.layers),
        "kept": len(report.kept),
        "formats": sorted({r.format for r in report.layers}),
        "output_error": error,
        "latency_over_original": ratios["compressed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="only these models (default: all of RUNS)")
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds one run may take")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(one(*args.worker, args.rate, args.threads, args.repeats)))
        return
    from tnviz.provenance import write_results

    rows = {}
    for model_name, formats, budgets in RUNS:
        if args.models and model_name not in args.models:
            continue
        for budget in budgets:
            for fmt in formats:
                key = f"{model_name} {fmt} {budget}"
                uniform = rows.get(f"{model_name} {fmt} layer", {})
                rate = uniform.get(MATCHED[budget], args.rate) if budget in MATCHED else args.rate
                command = [sys.executable, __file__, "--worker", model_name, fmt, budget, "--rate", repr(rate)]
                command += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
                try:
                    done = subprocess.run(command, capture_output=True, text=True, timeout=args.limit, cwd=HERE)
                except subprocess.TimeoutExpired:
                    rows[key] = {"stopped": f"over the {args.limit:g} s limit"}
                else:
                    if done.returncode != 0:
                        rows[key] = {"failed": (done.stderr.strip().splitlines() or ["?"])[-1]}
                    else:
                        rows[key] = json.loads(done.stdout.strip().splitlines()[-1])
                print(key, rows[key], flush=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "worker"}
    path = write_results(args.out, rows, settings)
    print(table({"results": rows}))
    print(f"\nwritten to {path}")


def table(data: dict) -> str:
    """Markdown: one row per (model, format, budget)."""
    lines = [
        "| model | format | budget | rate asked | compress time, s | decompositions estimated, s | "
        "parameters (whole model) | parameter rate | FLOPs rate | output error | latency / original |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in data["results"].items():
        model_name, fmt, budget = key.split()
        if "seconds" not in r:
            lines.append(f"| {model_name} | {fmt} | {budget} | | {r.get('stopped') or r.get('failed')} | | | | | | |")
            continue
        chosen = f" ({', '.join(r['formats'])})" if fmt == "auto" else ""
        estimated = r.get("estimated_seconds")
        estimated = "—" if estimated is None else f"{estimated:.1f}"
        lines.append(
            f"| {model_name} | {fmt}{chosen} | {budget} | {r['rate_asked']:.3f} | {r['seconds']:.1f} | {estimated} | "
            f"{r['params']:,} of {r['original_params']:,} | {r['model_rate']:.3f} | {r['flops_rate']:.3f} | "
            f"{r['output_error']:.3f} | {r['latency_over_original']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
