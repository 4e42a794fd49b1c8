"""Layer benchmark: tensorial Linear and Conv2d layers of every format against their dense twin.

Ratios are measured round-robin within one process (``timing.interleaved``); ``--processes``
separate processes give each ratio's median and interquartile range, written with the
provenance to ``benchmarks/results/layers.json`` (``benchmarks/docs.py layers`` turns it into
``docs/layers.md``). Measured, for every format at every rate (``--rates``):

* Linear 1024→1024, batch 1024; Conv2d 64→64, 3×3, padding 1, batch 32 on 32×32.
* ``train``: forward + backward with a fixed upstream gradient, the input needing its gradient
  (as in every layer but the first); ``infer``: the forward pass alone under ``torch.no_grad``
  (inference: the reshaped formats' kernel is cached until a parameter changes).
* layer / dense with ``optimize="auto"``; for Conv2d both in NCHW and in channels_last (the
  input, upstream gradient and dense twin all channels_last), and channels_last layer / NCHW dense.
* ``auto`` against the best of the layer's candidate plans (``layer.candidates(x)``: the
  planner's ``auto`` plan, ``reconstruct`` — the kernel rebuilt, then one dense call — and
  ``left-to-right``), each forced and timed in the same round.
  A candidate whose one timed call takes more than ``SCREEN``× auto's (the reshaped formats
  applied factor by factor: tens to hundreds of times the dense layer) is timed that once and
  kept out of the rounds; its ratio is that call's over auto's, times auto's.
* ``drawn``: a ``tnviz.TensorNetwork`` of the format's diagram (as a user would draw it, the
  same tensors) over the built-in layer: one engine runs both, so the two are timed as a pair,
  alternating, over ``DRAWN_ROUNDS``× the rounds (a pair in a round among eight functions
  carries each one's place in the round: up to 1.4× apart over 5 rounds on this machine).
* tensorly-torch's CP, Tucker and TT (factorized convolutions; reshaped, reconstructed Linear)
  at the same rates.

Full run (about 12 minutes on 2 quiet CPU threads; ``--processes 3`` for a spread, 3× as long)::

    python benchmarks/layers.py --repeats 5 --processes 1
    python benchmarks/docs.py layers        # docs/layers.md from the results file

Quick check that everything runs: ``python benchmarks/layers.py --quick``. On a GPU add
``--device cuda`` (timed with CUDA events).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
from timing import (
    ALLOCATORS,
    add_process_arguments,
    interleaved,
    loaded_allocator,
    results_file,
    run_benchmark,
    step,
    sync,
)
from torch import nn

from tnviz import TensorNetwork, TnvizError
from tnviz.nn import TensorialConv2d, TensorialLinear

FORMATS = ("svd", "cp", "tk", "tt", "tr", "btd", "mcp", "mtk", "mtt", "mtr")
TLTORCH = (("cp", "cp"), ("tucker", "tk"), ("tt", "tt"))
CL = torch.channels_last


def infer(module, x):
    """The forward pass alone, as at inference (no autograd graph)."""

    def run():
        with torch.no_grad():
            module(x)

    return run


def forced(layer, setting: str):
    """The same layer — the same parameter tensors — run with one planner setting."""
    twin = layer.__class__.__new__(layer.__class__)
    twin.__setstate__(layer.__getstate__())  # shares the parameters; plans and caches its own
    twin.optimize = setting
    return twin


def drawn(layer):
    """The layer's diagram drawn as a plain TensorNetwork with the same values."""
    device = next(layer.parameters()).device
    net = TensorNetwork(layer.diagram, bias=layer.bias is not None, device=device)
    net.load_state_dict(layer.state_dict())
    return net


def _chosen(layer, x, candidates: dict) -> str:
    """Which candidate ``optimize="auto"`` runs for ``x`` (with gradients recorded)."""
    tree = layer.plan(x).tree
    return next((n for n, p in candidates.items() if p.tree == tree), "auto")


def _tltorch_conv(factorization: str, rate: float, device: str):
    import tltorch

    layer = tltorch.FactorizedConv(
        64, 64, 3, order=2, padding=1, factorization=factorization, rank=rate, implementation="factorized"
    )
    layer.weight.normal_(0, 0.02)
    return layer.to(device)


def _tltorch_linear(factorization: str, rate: float, device: str):
    import tltorch

    # tensorly-torch's tensorized Linear has BlockTT where its convolutions have TT
    layer = tltorch.FactorizedLinear(
        (16, 8, 8),
        (16, 8, 8),
        bias=False,
        factorization="blocktt" if factorization == "tt" else factorization,
        rank=rate,
        implementation="reconstructed",
    )
    layer.weight.normal_(0, 0.02)  # constructed uninitialised; denormals or NaNs would skew the timing
    return layer.to(device)


# a forced candidate this many times slower than auto in one call is not timed in the rounds
SCREEN = 4.0
# the drawn network against the built-in layer: a pair, over this many times the rounds
DRAWN_ROUNDS = 3


def _ratios(fns: dict, args, rounds: int | None = None) -> dict:
    return interleaved(fns, rounds or args.repeats, args.device)


def _once(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def _candidate_ratios(layer, dense_step, auto_step, make_step, names, args) -> tuple[dict, dict]:
    """(ratios to dense of dense, auto and each candidate, how each candidate was timed):
    candidates within ``SCREEN``× of auto's one call run in the rounds; the others once."""
    auto_step()  # planned and warm
    auto_once = min(_once(auto_step, args.device) for _ in range(2))
    steps = {n: make_step(forced(layer, n)) for n in names}
    once = {n: _once(fn, args.device) for n, fn in steps.items()}  # the first call: planning included
    slow = {n for n in names if once[n] > SCREEN * auto_once}
    fns = {"dense": dense_step, "auto": auto_step}
    fns.update({f"s:{n}": fn for n, fn in steps.items() if n not in slow})
    r = _ratios(fns, args)
    for n in slow:
        r[f"s:{n}"] = once[n] / auto_once * r["auto"]
    return r, {n: "once" if n in slow else "rounds" for n in names}


def _drawn_over_builtin(layer_step, drawn_step, args) -> float:
    r = _ratios({"builtin": layer_step, "drawn": drawn_step}, args, DRAWN_ROUNDS * args.repeats)
    return r["drawn"]


def drawn_pairs(layer, x, g, x_cl, g_cl, args) -> dict:
    """The drawn network's time over the built-in layer's (fwd+bwd ``train``, fwd ``infer``, and
    on channels_last ``x_cl`` where given), each a pair timed alone."""
    net = drawn(layer)
    row = {
        "train": _drawn_over_builtin(step(layer, x, g), step(net, x, g), args),
        "infer": _drawn_over_builtin(infer(layer, x), infer(net, x), args),
    }
    if x_cl is not None:
        row["train_cl"] = _drawn_over_builtin(step(layer, x_cl, g_cl), step(net, x_cl, g_cl), args)
        row["infer_cl"] = _drawn_over_builtin(infer(layer, x_cl), infer(net, x_cl), args)
    return row


def _one(kind: str, layer, dense, dense_cl, x, g, x_cl, g_cl, args) -> dict:
    """One format at one rate: its ratios to dense, auto against its forced candidate plans,
    and the drawn network against the built-in layer."""
    candidates = layer.candidates(x)
    names = list(candidates)
    rebuild = candidates.get("reconstruct") or layer.diagram.plan({"X": tuple(x.shape)}, optimize="reconstruct")
    row: dict = {
        "ranks": " ".join(f"{k}={v}" for k, v in layer.ranks.items()),
        "params_over_dense": layer.achieved_rate,
        # the reconstruct plan's floor: rebuilding the kernel (and its backward) on top of the
        # dense call costs this share of the dense call's multiply-adds, forward and backward alike
        "rebuild_macs_over_dense": sum(s.flops for s in rebuild.steps[:-1]) / rebuild.steps[-1].flops,
    }
    r, timed = _candidate_ratios(layer, step(dense, x, g), step(layer, x, g), lambda m: step(m, x, g), names, args)
    row["strategy"] = _chosen(layer, x, candidates)
    row["approach"] = layer.plan(x).approach
    row["train"] = r["auto"]
    row["train_auto_over_best"] = r["auto"] / min(r[f"s:{n}"] for n in names)
    # each candidate forced, over dense: whether auto chose the fastest, free of auto's own noise
    row["train_strategies"] = {n: r[f"s:{n}"] for n in names}
    row["train_timed"] = timed
    r = _ratios({"dense": infer(dense, x), "auto": infer(layer, x)}, args)
    row["infer"] = r["auto"]
    if kind == "conv":
        candidates_cl = layer.candidates(x_cl)
        names_cl = list(candidates_cl)
        r, timed = _candidate_ratios(
            layer, step(dense_cl, x_cl, g_cl), step(layer, x_cl, g_cl), lambda m: step(m, x_cl, g_cl), names_cl, args
        )
        row["train_cl"] = r["auto"]
        row["train_cl_auto_over_best"] = r["auto"] / min(r[f"s:{n}"] for n in names_cl)
        row["strategy_cl"] = _chosen(layer, x_cl, candidates_cl)
        row["approach_cl"] = layer.plan(x_cl).approach
        row["train_cl_strategies"] = {n: r[f"s:{n}"] for n in names_cl}
        row["train_cl_timed"] = timed
        r = _ratios({"nchw": step(dense, x, g), "cl": step(layer, x_cl, g_cl)}, args)
        row["train_cl_over_nchw_dense"] = r["cl"]
        r = _ratios({"dense": infer(dense_cl, x_cl), "auto": infer(layer, x_cl)}, args)
        row["infer_cl"] = r["auto"]
    row.update({f"{k}_drawn_over_builtin": v for k, v in drawn_pairs(layer, x, g, x_cl, g_cl, args).items()})
    return row


def built(kind: str, name: str, rate: float, device: str, bias: bool = False):
    """A cell's built-in layer (``kind`` "conv": Conv2d 64→64 3×3, padding 1; "linear": Linear
    1024→1024), or ``{"refused": reason}`` where the rate is too small for rank 1 (reported, not fatal)."""
    try:
        if kind == "conv":
            return TensorialConv2d(64, 64, 3, padding=1, bias=bias, format=name, rate=rate, device=device)
        return TensorialLinear(1024, 1024, bias=bias, format=name, rate=rate, device=device)
    except TnvizError as err:
        return {"refused": err.message}


def measure(args) -> dict:
    """One process's ratios (see the module docstring)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    out: dict = {"conv": {}, "linear": {}, "tensorly-torch conv": {}, "tensorly-torch linear": {}}
    out["allocator"] = loaded_allocator()
    x = torch.randn(32, 64, 32, 32, device=dev, requires_grad=True)
    g = torch.randn(32, 64, 32, 32, device=dev)
    x_cl = x.detach().contiguous(memory_format=CL).requires_grad_()
    g_cl = g.contiguous(memory_format=CL)
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dev)
    dense_cl = nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dev).to(memory_format=CL)
    xl = torch.randn(1024, 1024, device=dev, requires_grad=True)
    gl = torch.randn(1024, 1024, device=dev)
    linear = nn.Linear(1024, 1024, bias=False).to(dev)
    for name in args.formats:
        for rate in args.rates:
            key = f"{name} {rate}"
            conv = built("conv", name, rate, dev)
            out["conv"][key] = (
                conv if isinstance(conv, dict) else _one("conv", conv, dense, dense_cl, x, g, x_cl, g_cl, args)
            )
            lin = built("linear", name, rate, dev)
            out["linear"][key] = (
                lin if isinstance(lin, dict) else _one("linear", lin, linear, None, xl, gl, None, None, args)
            )
    try:
        import tltorch  # noqa: F401
    except ImportError:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fact, ours in TLTORCH:
            for rate in args.rates:
                theirs = _tltorch_conv(fact, rate, dev)
                mine = TensorialConv2d(64, 64, 3, padding=1, bias=False, format=ours, rate=rate, device=dev)
                fns = {"dense": step(dense, x, g), "tnviz": step(mine, x, g), "tltorch": step(theirs, x, g)}
                r = _ratios(fns, args)
                row = {"tnviz_train": r["tnviz"], "tltorch_train": r["tltorch"]}
                fns = {"dense": step(dense_cl, x_cl, g_cl), "tnviz": step(mine, x_cl, g_cl)}
                fns["tltorch"] = step(theirs, x_cl, g_cl)
                r = _ratios(fns, args)
                row.update(tnviz_train_cl=r["tnviz"], tltorch_train_cl=r["tltorch"])
                out["tensorly-torch conv"][f"{fact} {rate}"] = row
                theirs = _tltorch_linear(fact, rate, dev)
                r = _ratios({"dense": step(linear, xl, gl), "tltorch": step(theirs, xl, gl)}, args)
                out["tensorly-torch linear"][f"{fact} {rate}"] = {"tltorch_train": r["tltorch"]}
    return out


def add_cell_arguments(parser, allocator_help: str = "as in layers.py") -> None:
    """The options of a benchmark over this file's cells: every format at every rate, Linear and Conv2d."""
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rates", type=float, nargs="*", default=[0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--formats", nargs="*", default=list(FORMATS))
    parser.add_argument("--quick", action="store_true", help="one rate, two repeats, one process: does it run?")
    parser.add_argument("--allocator", choices=list(ALLOCATORS), default="system", help=allocator_help)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    add_cell_arguments(
        parser,
        "the C allocator of the timed processes (tcmalloc/jemalloc by LD_PRELOAD); "
        "results go to results/layers.json (system) or results/layers-NAME.json",
    )
    add_process_arguments(parser, None)
    parser.set_defaults(processes=1)  # one full process takes about 12 minutes on 2 CPU threads
    args = parser.parse_args()
    if args.out is None:
        args.out = results_path(args.allocator)
    if args.quick:
        args.repeats, args.processes, args.rates = 2, 1, [0.1]
    keep = (
        "ranks",
        "params_over_dense",
        "rebuild_macs_over_dense",
        "strategy",
        "strategy_cl",
        "approach",
        "approach_cl",
        "refused",
        "allocator",
    )
    run_benchmark(__file__, args, measure, table, keep=keep)


def results_path(allocator: str, before: bool = False) -> Path:
    """Where a run with ``allocator`` writes its results (``before``: the last run of the layers'
    previous, hand-written engine — nn/fast.py, commit 1e2715f — kept to compare with)."""
    path = results_file("layers", allocator)
    return path.with_name(path.name.replace(".json", "-before-one-engine.json")) if before else path


COMPARED = (("train", "fwd+bwd"), ("infer", "fwd"), ("train_cl", "fwd+bwd channels_last"), ("infer_cl", "fwd cl"))


def now_before_head(kind: str, fields: list[tuple[str, str]], ranks: bool = False) -> list[str]:
    """The heading and header rows of a now / before table of one layer kind (``"linear"`` or
    ``"conv"``) with columns ``fields`` (field, title), and the ranks after the rate."""
    columns = ["format", "rate", *(["ranks"] if ranks else []), *(t for _, t in fields)]
    title = {"linear": "Linear", "conv": "Conv2d"}[kind]
    return [f"#### {title}: now / before", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]


def fields_of(kind: str, cells) -> list[tuple[str, str]]:
    """The (field, title) columns of ``cells`` a layer kind has: channels_last ones for Conv2d only."""
    return [(f, t) for f, t in cells if kind == "conv" or not f.endswith("_cl")]


def compare(now: dict, before: dict) -> str:
    """Each cell's ratio to dense now over the same ratio in ``before`` (both medians): below 1
    is faster than before. A table per layer kind, and a summary line."""
    lines = []
    slower = []
    total = 0
    for kind in ("linear", "conv"):
        fields = fields_of(kind, COMPARED)
        lines += now_before_head(kind, fields)
        for key, row in now["results"][kind].items():
            old = before["results"][kind].get(key, {})
            if "refused" in row or "refused" in old:
                continue
            cells = []
            for field, what in fields:
                if field in row and field in old:
                    value = _median(row[field]) / _median(old[field])
                    total += 1
                    if value > 1.05:
                        slower.append(f"{kind} {key} {what} {value:.2f}")
                    cells.append(f"{value:.2f}")
                else:
                    cells.append("—")
            name, rate = key.split()
            lines.append(f"| {name} | {rate} | " + " | ".join(cells) + " |")
        lines.append("")
    summary = f"{len(slower)} of {total} cells more than 5 % slower than before" + (
        ": " + ", ".join(slower) if slower else ""
    )
    return "\n".join([summary, "", *lines])


def _ratio(value) -> str:
    if isinstance(value, dict):
        return f"{value['median']:.2f} ({value['q25']:.2f}–{value['q75']:.2f})"
    return f"{value:.2f}"


def _worst(rows: dict, field: str) -> str:
    values = [_median(r[field]) for r in rows.values() if field in r]
    return f"{max(values):.2f}" if values else "—"


def _median(value) -> float:
    return value["median"] if isinstance(value, dict) else value


RESHAPED = ("mcp", "mtk", "mtt", "mtr")


def twin_gap(data: dict) -> float:
    """The largest gap, over cells, between auto's ratio and that of its own plan forced (the same
    program on the same tensors in the same rounds): how far a place in the round moves a time."""
    gaps = [1.0]
    for kind in ("linear", "conv"):
        for row in data["results"][kind].values():
            for field, chosen in (("train", "strategy"), ("train_cl", "strategy_cl")):
                forced_twin = row.get(f"{field}_strategies", {}).get(row.get(chosen))
                if forced_twin is not None:
                    a, b = _median(row[field]), _median(forced_twin)
                    gaps.append(max(a / b, b / a))
    return max(gaps)


def verdict(found: list[tuple[str, float]], limit: float) -> str:
    """A target's result: the worst of ``found`` (label, median ratio) and the cells above ``limit``."""
    if not found:
        return "no cells measured"
    misses = [f"{k} {v:.2f}" for k, v in found if v > limit]
    worst = max(v for _, v in found)
    head = f"worst {worst:.2f}; " + (f"{len(misses)} of {len(found)} cells above {limit}: " if misses else "")
    return head + (", ".join(misses) if misses else f"all {len(found)} cells ≤ {limit}")


def targets(data: dict) -> str:
    """The issue's targets read off a results file: one line each, with the cells that miss."""
    r = data["results"]

    def cells(kind, field, formats=FORMATS, rates=None):
        out = []
        for key, row in r[kind].items():
            name, rate = key.split()
            if name in formats and field in row and (rates is None or float(rate) in rates):
                out.append((f"{name} {rate}", _median(row[field])))
        return out

    lines = ["| target | result |", "|---|---|"]
    for kind, title in (("linear", "Linear"), ("conv", "Conv")):
        for field, what in (("train", "fwd+bwd"), ("infer", "fwd alone")):
            lines.append(f"| every format ≤ 1.05× dense, {title}, {what} | {verdict(cells(kind, field), 1.05)} |")
    for kind, title in (("linear", "Linear"), ("conv", "Conv")):
        fields = ["train", "infer"] + (["train_cl", "infer_cl"] if kind == "conv" else [])
        found = [c for f in fields for c in cells(kind, f"{f}_drawn_over_builtin")]
        lines.append(
            f"| drawn TensorNetwork ≤ 1.05× the built-in layer, {title} (every cell) | {verdict(found, 1.05)} |"
        )
    for fmt in ("cp", "tk", "tt"):
        lines.append(f"| {fmt} conv ≤ 0.40× NCHW dense, fwd+bwd | {verdict(cells('conv', 'train', (fmt,)), 0.40)} |")
        found = verdict(cells("conv", "train_cl", (fmt,)), 0.45)
        lines.append(f"| {fmt} conv channels_last ≤ 0.45× channels_last dense | {found} |")
    for kind, field, what in (
        ("linear", "train_auto_over_best", "Linear"),
        ("conv", "train_auto_over_best", "Conv NCHW"),
        ("conv", "train_cl_auto_over_best", "Conv channels_last"),
    ):
        lines.append(f"| auto within 1.05× of the best candidate plan, {what} | {verdict(cells(kind, field), 1.05)} |")
    for kind, field, chosen, what in (
        ("linear", "train_strategies", "strategy", "Linear"),
        ("conv", "train_strategies", "strategy", "Conv NCHW"),
        ("conv", "train_cl_strategies", "strategy_cl", "Conv channels_last"),
    ):
        found = []
        for key, row in r[kind].items():
            if field in row:
                times = {n: _median(v) for n, v in row[field].items()}
                found.append((f"{key} ({row[chosen]})", times[row[chosen]] / min(times.values())))
        if found:
            lines.append(
                f"| auto's choice within 1.05× of the fastest candidate (both forced, same rounds), {what} | "
                f"{verdict(found, 1.05)} |"
            )
    return "\n".join(lines)


def table(data: dict) -> str:
    """Markdown tables of a results file written by this script (median and IQR over processes)."""
    r = data["results"]
    lines = []
    for kind, title in (("linear", "Linear 1024→1024, batch 1024"), ("conv", "Conv2d 64→64 3×3, 32², batch 32")):
        cols = ["train", "infer"] + (["train_cl", "infer_cl", "train_cl_over_nchw_dense"] if kind == "conv" else [])
        heads = {
            "train": "fwd+bwd / dense",
            "infer": "fwd / dense",
            "train_cl": "fwd+bwd / dense (channels_last)",
            "infer_cl": "fwd / dense (channels_last)",
            "train_cl_over_nchw_dense": "fwd+bwd channels_last / NCHW dense",
        }
        lines += [
            f"### {title}",
            "",
            "| format | rate | ranks | params/dense | rebuild MACs/dense | auto runs | "
            + " | ".join(heads[c] for c in cols)
            + " | auto / best candidate | drawn / built-in |",
            "|---" * (8 + len(cols)) + "|",
        ]
        for key, row in r[kind].items():
            name, rate = key.split()
            if "refused" in row:
                lines.append(
                    f"| {name} | {rate} | — | — | — | — | refused: {row['refused']} |" + " |" * (len(cols) + 1)
                )
                continue
            best = _ratio(row["train_auto_over_best"])
            if kind == "conv":
                best += f" / {_ratio(row['train_cl_auto_over_best'])}"
            drawn_cols = [c for c in cols if f"{c}_drawn_over_builtin" in row]
            drawn_text = " / ".join(_ratio(row[f"{c}_drawn_over_builtin"]) for c in drawn_cols) or "—"
            lines.append(
                f"| {name} | {rate} | {row['ranks']} | {row['params_over_dense']:.3f} | "
                f"{row.get('rebuild_macs_over_dense', float('nan')):.3f} | "
                f"{row['strategy']} ({row.get('approach', '?')}) | "
                + " | ".join(_ratio(row[c]) for c in cols)
                + f" | {best} | {drawn_text} |"
            )
        worst = ", ".join(f"{heads[c]} {_worst(r[kind], c)}" for c in cols)
        lines += ["", f"Worst over formats and rates: {worst}.", ""]
    if r.get("tensorly-torch conv"):
        lines += [
            "### tensorly-torch beside (fwd+bwd / dense)",
            "",
            "| factorization | rate | tnviz conv | tensorly-torch conv | tnviz conv channels_last | "
            "tensorly-torch conv channels_last | tensorly-torch Linear (reconstructed) |",
            "|---" * 7 + "|",
        ]
        for key, row in r["tensorly-torch conv"].items():
            lin = r["tensorly-torch linear"][key]
            fact, rate = key.split()
            lines.append(
                f"| {fact} | {rate} | {_ratio(row['tnviz_train'])} | {_ratio(row['tltorch_train'])} | "
                f"{_ratio(row['tnviz_train_cl'])} | {_ratio(row['tltorch_train_cl'])} | "
                f"{_ratio(lin['tltorch_train'])} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
