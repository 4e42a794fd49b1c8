"""Backward benchmark: what the gradients of every layer format cost, in FLOPs and in time.

For each format of ``tnviz.core.formats.FORMATS`` (``dense`` included, as the reference) at
rate 0.1, in two cases — Conv2d 64→64, 3×3, padding 1, batch 32 on 32×32, and Linear
1024→1024, batch 1024:

* **FLOPs**, from the diagrams alone (no timing): the forward plan of the layer's diagram bound
  to the input's shape, and ``Diagram.backward_plan(tensors=the parameters)``: the FLOPs of each
  parameter's gradient diagram (``Diagram.grad``), each planned on its own, with the gradients
  the spec language cannot write yet listed with the reason; and the input's gradient
  (``∂X``, which a middle layer needs too).
* **Time**, measured with autograd as a middle layer (the input requires grad, a fixed upstream
  gradient): the layer's forward + backward over its forward (forward with autograd recording,
  as in training), and its forward + backward over that of ``nn.Conv2d`` / ``nn.Linear``.
  Ratios only: every round times the three back to back (rotating the order), the ratio is
  taken within the round and the median over ``--repeats`` rounds is one process's figure;
  ``--processes`` (default 3) separate processes give each ratio's median and interquartile
  range. Never a bare absolute time.

Results, with the provenance (commit, versions, machine, settings), go to
``benchmarks/results/backward.json`` and ``docs/backward.md`` is generated from that file.

Run: ``python benchmarks/backward.py [--repeats 5] [--processes 3] [--threads 2] [--device cpu]``;
``python benchmarks/backward.py --doc`` rewrites ``docs/backward.md`` from the results file alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

RESULTS = HERE / "results" / "backward.json"
DOC = ROOT / "docs" / "backward.md"
RATE = 0.1

# (kind, the layer's configuration, the input's shape)
CASES = {
    "conv": {"label": "Conv2d 64→64, 3×3, padding 1, batch 32 on 32×32", "input": (32, 64, 32, 32)},
    "linear": {"label": "Linear 1024→1024, batch 1024", "input": (1024, 1024)},
}
# FLOPs only (not timed): a strided layer, whose factors off the convolution get G as a kernel spaced by
# the stride (kernel_dilation).
FLOPS_ONLY = {
    "conv-stride2": {
        "label": "Conv2d 64→64, 3×3, padding 1, stride 2, batch 32 on 32×32 (FLOPs only)",
        "input": (32, 64, 32, 32),
        "stride": 2,
    },
}


def formats() -> list[str]:
    """Every registered format, ``dense`` (the reference) first."""
    from tnviz.core.formats import FORMATS

    return ["dense"] + [name for name in FORMATS if name != "dense"]


def make_layer(
    kind: str, fmt: str, rate: float = RATE, device: str = "cpu", channels: int | None = None, stride: int = 1
):
    """The tensorial layer of ``kind`` ("conv" or "linear") in format ``fmt`` (``dense`` has no rate)."""
    from tnviz.nn import TensorialConv2d, TensorialLinear

    rate_ = None if fmt == "dense" else rate
    if kind.startswith("conv"):
        n = channels or 64
        return TensorialConv2d(n, n, 3, padding=1, stride=stride, bias=False, format=fmt, rate=rate_, device=device)
    n = channels or 1024
    return TensorialLinear(n, n, bias=False, format=fmt, rate=rate_, device=device)


def flops(layer, input_shape: tuple[int, ...]) -> dict:
    """The FLOPs of the forward pass and of each gradient diagram of ``layer`` on an input of
    ``input_shape``: ``backward_plan`` on the layer's diagram bound to that shape."""
    d = layer.diagram.bind(shapes={"X": tuple(input_shape)})
    params = list(d.tensor_names[1:])
    plan = d.backward_plan(tensors=params)
    forward = plan.forward.flops
    grads = {name: p.flops for name, p in plan.gradients.items()}
    dx = d.backward_plan(tensors=["X"])
    input_gradient = dx.gradients["X"].flops if "X" in dx.gradients else None
    row = {
        "ranks": " ".join(f"{k}={v}" for k, v in layer.ranks.items()) or "—",
        "params_over_dense": layer.achieved_rate,
        "approach": plan.forward.approach,
        "forward_flops": forward,
        "gradient_flops": grads,
        "refused": dict(plan.refused),
        "input_gradient_flops": input_gradient,
        "input_gradient_refused": dx.refused.get("X"),
        "params_backward_over_forward": plan.backward_flops / forward,
    }
    if input_gradient is not None:
        row["backward_over_forward"] = (plan.backward_flops + input_gradient) / forward
    return row


# ------------------------------------------------------------------------------ timing
def _forward(module, x):
    """The forward alone, autograd recording (as in training); the graph is dropped."""

    def run():
        module(x)

    return run


def _median_ratio(rounds: list[dict], num: str, den: str) -> float:
    return statistics.median(r[num] / r[den] for r in rounds)


def measure(args) -> dict:
    """One process's ratios, every format and case."""
    import torch
    from timing import step, timed_rounds
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    out: dict = {}
    for kind, case in CASES.items():
        shape = case["input"]
        x = torch.randn(*shape, device=dev, requires_grad=True)
        dense = nn.Conv2d(64, 64, 3, padding=1, bias=False) if kind == "conv" else nn.Linear(1024, 1024, bias=False)
        dense = dense.to(dev)
        grad = torch.randn_like(dense(x).detach())
        rows: dict = {}
        r = timed_rounds({"fwd": _forward(dense, x), "step": step(dense, x, grad)}, args.repeats, dev)
        rows["torch"] = {"fwd_bwd_over_fwd": _median_ratio(r, "step", "fwd"), "layer_over_dense": 1.0}
        for fmt in formats():
            layer = make_layer(kind, fmt, device=dev)
            fns = {"fwd": _forward(layer, x), "step": step(layer, x, grad), "dense": step(dense, x, grad)}
            r = timed_rounds(fns, args.repeats, dev)
            rows[fmt] = {
                "fwd_bwd_over_fwd": _median_ratio(r, "step", "fwd"),
                "layer_over_dense": _median_ratio(r, "step", "dense"),
            }
            print(f"{kind} {fmt} done", file=sys.stderr)
        out[kind] = rows
    return out


def count_flops() -> dict:
    """The FLOP rows of every case and format (deterministic: computed once, not per process)."""
    cases = {**CASES, **FLOPS_ONLY}
    return {
        kind: {fmt: flops(make_layer(kind, fmt, stride=case.get("stride", 1)), case["input"]) for fmt in formats()}
        for kind, case in cases.items()
    }


# ------------------------------------------------------------------------------ the doc
def _g(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


def _spread(s: dict | None) -> str:
    if not s:
        return "—"
    return f"{s['median']:.2f} ({s['q25']:.2f}–{s['q75']:.2f})"


def _table(kind: str, label: str, flop_rows: dict, time_rows: dict) -> list[str]:
    lines = [
        "",
        f"## {label}",
        "",
        "| format | ranks | params/dense | forward plan | forward FLOPs | Σ ∂params / fwd | ∂X / fwd | "
        "(fwd + Σ∂) / fwd | time fwd+bwd / fwd | time / torch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    if "torch" in time_rows:
        torch_name = "`nn.Conv2d`" if kind.startswith("conv") else "`nn.Linear`"
        ratio = _spread(time_rows["torch"]["fwd_bwd_over_fwd"])
        lines.append(f"| {torch_name} | — | 1 | — | — | — | — | — | {ratio} | 1 |")
    for fmt, row in flop_rows.items():
        t = time_rows.get(fmt, {})
        forward = row["forward_flops"]
        params = f"{row['params_backward_over_forward']:.2f}"
        if row["refused"]:
            params += f" + {len(row['refused'])} refused"
        dx = row.get("input_gradient_flops")
        dx_ratio = "refused" if dx is None else f"{dx / forward:.2f}"
        total = row.get("backward_over_forward")
        all_ratio = "—" if total is None or row["refused"] else f"{1 + total:.2f}"
        lines.append(
            f"| {fmt} | {row['ranks']} | {row['params_over_dense']:.3f} | {row['approach']} | {_g(forward)} | "
            f"{params} | {dx_ratio} | {all_ratio} | {_spread(t.get('fwd_bwd_over_fwd'))} | "
            f"{_spread(t.get('layer_over_dense'))} |"
        )
    lines += ["", "Each parameter's gradient diagram, its FLOPs × the forward's:", ""]
    for fmt, row in flop_rows.items():
        parts = [f"∂{name} {f / row['forward_flops']:.2f}" for name, f in row["gradient_flops"].items()]
        parts += [f"∂{name} refused" for name in row["refused"]]
        lines.append(f"- **{fmt}**: " + ", ".join(parts))
    refused = {fmt: row["refused"] for fmt, row in flop_rows.items() if row["refused"]}
    for fmt, row in flop_rows.items():
        if row.get("input_gradient_refused"):
            refused.setdefault(fmt, {})["X"] = row["input_gradient_refused"]
    if not refused:
        lines += ["", "Gradients refused (not a diagram yet): none."]
        return lines
    lines += ["", "Gradients refused (not a diagram yet), with the first one's reason:", ""]
    for fmt, reasons in refused.items():
        names = ", ".join(f"∂{name}" for name in reasons)
        lines.append(f"- **{fmt}**: {names} — “{next(iter(reasons.values()))}”")
    return lines


def markdown(data: dict) -> str:
    """``docs/backward.md`` from a results file written by this script."""
    from tnviz.provenance import describe

    results = data["results"]
    settings = data["provenance"].get("settings", {})
    lines = [
        "# The backward pass of each layer format, in FLOPs and in time",
        "",
        "<!-- generated by benchmarks/backward.py from benchmarks/results/backward.json: do not edit -->",
        "",
        "For a loss with gradient `G` with respect to a layer's output, the gradient with respect to",
        "each parameter tensor is itself a tensor diagram (`Diagram.grad`; `docs/spec.md`, Gradients):",
        "the layer's network with that tensor taken out and `G` put in. `Diagram.backward_plan` plans",
        "each of those diagrams **on its own** and counts its FLOPs; the FLOP columns are those counts",
        "over the forward's. Autograd does not run these diagrams: it differentiates the forward",
        "plan's own pairwise steps and reuses their saved intermediates, so it can cost well below the",
        "sum of independent gradient diagrams — the measured columns say what it costs here.",
        "",
        f"Settings: rate {settings.get('rate', RATE)} of the dense layer's parameters (ranks by",
        "`ranks_for_rate`), no bias. FLOPs: the layer's diagram bound to the input's shape, planned by",
        "`Diagram.plan` / `backward_plan` with their defaults — objective `time`, so a plan may do more",
        "FLOPs than another that runs slower — 2 per multiply-add, a transposed convolution's inserted",
        "zeros counted. Time: PyTorch autograd on "
        f"`{settings.get('device', 'cpu')}`, {settings.get('threads', '?')} torch threads,",
        "the input requiring grad (a middle layer) and a fixed upstream gradient. Each round times the",
        "layer's forward (autograd recording), its forward + backward, and the dense torch layer's",
        "forward + backward, back to back in a rotating order; a ratio is taken within each round, a",
        f"process's figure is its median over {settings.get('repeats', '?')} rounds, and each cell is the",
        f"median (interquartile range) over {settings.get('processes', '?')} separate processes.",
        "Ratios only: no absolute times.",
        "",
        "Columns: **Σ ∂params / fwd** — the parameters' gradient diagrams' FLOPs over the forward's;",
        "**∂X / fwd** — the input's gradient diagram's; **(fwd + Σ∂) / fwd** — the forward and all",
        "those gradients over the forward, the FLOP counterpart of the measured **time fwd+bwd / fwd**;",
        "**time / torch** — the layer's forward + backward time over `nn.Conv2d`'s or `nn.Linear`'s.",
    ]
    times = results.get("times", {})
    for kind, case in {**CASES, **FLOPS_ONLY}.items():
        if kind in results["flops"]:
            lines += _table(kind, case["label"], results["flops"][kind], times.get(kind, {}))
    lines += ["", describe(data), ""]
    return "\n".join(lines)


def main() -> None:
    from timing import run_processes, spread

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per process")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", type=int, default=3, help="separate processes; spread over them")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file (JSON)")
    parser.add_argument("--doc", action="store_true", help=f"only rewrite {DOC.relative_to(ROOT)} from --out")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        json.dump(measure(args), sys.stdout)
        return
    if not args.doc:
        import torch  # noqa: F401  (its version goes into the provenance)

        from tnviz.provenance import write_results

        start = time.perf_counter()
        results = {"flops": count_flops()}
        results["times"] = spread(run_processes(__file__, sys.argv[1:], args.processes))
        settings = {k: v for k, v in vars(args).items() if k not in ("worker", "out", "doc")}
        settings.update(rate=RATE, cases={k: c["label"] for k, c in CASES.items()})
        settings["wall_seconds"] = round(time.perf_counter() - start)
        write_results(args.out, results, settings)
        print(f"written to {args.out}")
    DOC.write_text(markdown(json.loads(args.out.read_text())))
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
