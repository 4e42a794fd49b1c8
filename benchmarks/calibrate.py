"""Calibrate the planner's "time" objective on this machine: its constants are fitted to
measured step times, not typed in code.

The objective prices a step as ``FLOPs / efficiency + memory`` (FLOP equivalents), where
``efficiency = K / (K + REDUCTION_HALF) · W / (W + WIDTH_HALF)`` for the K channels a call sums
over (a convolution's input channels per group, its kernel taps apart on NCHW; on channels_last
its channels times its taps) and a width W (the
narrower operand's own extent: a convolution's output channels, 1 for a depthwise kernel), and
``memory = (MEMORY_WEIGHT + REORDER_WEIGHT) · elements + LARGE_RESULT_WEIGHT · result`` for the
elements of its operands and result. REORDER_WEIGHT counts only for a convolution with a spatial
kernel on NCHW, which oneDNN runs in a blocked layout of its own and reorders (ONEDNN_VERBOSE:
the result's reorder takes as long as a thin convolution itself), so that such a convolution's
time grows far slower than its taps (7 to 8 channels: 3×1 and 3×3 kernels 0.6 apart, not 1/3).
The last term counts only for a result of LARGE_RESULT elements or more on NCHW:
glibc's malloc serves a block of several MB by mmap and returns it by munmap, so a call that
allocates such blocks faults their pages in again each time, and oneDNN's NCHW convolutions
allocate more of them than the result (here a 1×1 convolution from 16 to 64 channels, an 8 MB
result: 9.8 ms and 4,133 page faults a call on NCHW, 0.47 ms and none on channels_last, 1.08 ms
on NCHW with tcmalloc; to 16 channels, 2 MB, 1.1 ms and none). All five are fitted to the times
of the kinds of call the executor makes — large and small matrix products, 1×1 convolutions over
few and many channels, depthwise, grouped, dense and thin 3×3 convolutions, outer products and
batched products — converted to FLOP equivalents at the large-GEMM rate, by least squares on
log time (LARGE_RESULT over powers of two, the weights on a grid of powers of two, then refined).
Depthwise convolutions
(K = W = 1) are priced apart, as ``FLOPs / taps · (1 + HALF) + memory``: their
time hardly moves with the kernel's taps (3×1 and 3×3 alike), so their FLOPs count one tap;
DEPTHWISE_HALF is fitted on NCHW calls and DEPTHWISE_CHANNELS_LAST_HALF on channels_last ones
(as the executor runs them on a channels_last activation: oneDNN has a kernel of its own there,
vectorised over channels, so a depthwise convolution that crawls on NCHW is cheap — the
planner's ``layout="channels_last"``). The other calls are timed on channels_last too, for the
record: they run about as much faster as each other, which changes no plan. Each worker process fits
on its own timings; the results file holds each constant's median and spread over processes,
the fit's error and every timing. The workers run with the system's allocator by default (what
a user has; ``--allocator`` as in ``benchmarks/layers.py``).

    python benchmarks/calibrate.py --processes 3      # benchmarks/results/calibration.json
    python benchmarks/calibrate.py --write            # ... and tnviz/core/plan/calibration.json
    python benchmarks/calibrate.py --refit --write    # the results file's timings fitted again

``--refit`` fits the constants again, as the model now counts the calls, to the times already in
the results file (each call's median over its processes), and records the commit that did it
beside the timings' own provenance: a change of the model that those timings can answer, answered
without the machine they were measured on. Counting a kernel's taps in K on channels_last was
such a change (the Intel Xeon's timings of 36e42b3; a re-calibration on a 2-core AMD EPYC instead
gave constants that spread 1.4–9.6 over its 5 processes, REORDER_WEIGHT for one, and plans that ran
slower than the hand-written engine in 27 of ``benchmarks/engine_ab.py``'s 240 cells, against 5).

``--write`` writes the medians into the package (``tnviz/core/plan/calibration.json``), which the
planner reads at import; a test checks that file against the results file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from timing import ALLOCATORS, add_process_arguments, loaded_allocator, run_benchmark

from tnviz.provenance import provenance, write_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "calibration.json"
PACKAGE_FILE = ROOT / "tnviz" / "core" / "plan" / "calibration.json"


CL = "channels_last"


class Workload(NamedTuple):
    """One timed call: its FLOPs, the elements it reads and writes, those of its result (a fresh
    allocation), the channels it sums K, its width W and its kernel's taps, as the planner counts
    them."""

    name: str
    run: Callable[[], object]
    flops: int
    elements: int
    result: int
    reduction: int
    width: int
    layout: str = "contiguous"
    taps: int = 1


def _workloads() -> list[Workload]:
    """Each timed call, counted as the planner's cost model counts it."""
    out: list[Workload] = []

    def matmul(n: int, k: int, m: int):
        a, b = torch.randn(n, k), torch.randn(m, k)
        out.append(
            Workload(
                f"linear {n}x{k}x{m}", lambda: F.linear(a, b), 2 * n * k * m, n * k + m * k + n * m, n * m, k, min(n, m)
            )
        )

    def pointwise(cin: int, cout: int, batch: int = 32, side: int = 32, layout: str = "contiguous"):
        if layout == CL:  # the executor's channel contraction on a channels_last activation
            x = torch.randn(batch, cin, side, side).contiguous(memory_format=torch.channels_last)
            w = torch.randn(cout, cin, 1, 1)
            fn = lambda: F.conv2d(x, w)  # noqa: E731
        else:
            x, w = torch.randn(batch, cin, side * side), torch.randn(cout, cin, 1)
            fn = lambda: F.conv1d(x, w)  # noqa: E731
        n_out = batch * cout * side * side
        name = f"1x1 conv {cin}->{cout}" + (" channels_last" if layout == CL else "")
        elements = x.numel() + w.numel() + n_out
        out.append(Workload(name, fn, 2 * n_out * cin, elements, n_out, cin, min(batch * side * side, cout), layout))

    def conv(
        cin: int,
        cout: int,
        groups: int,
        batch: int = 32,
        side: int = 32,
        kernel: tuple[int, int] = (3, 3),
        layout: str = "contiguous",
    ):
        x, w = torch.randn(batch, cin, side, side), torch.randn(cout, cin // groups, *kernel)
        if layout == CL:
            x = x.contiguous(memory_format=torch.channels_last)
        n_out = batch * cout * side * side
        macs = n_out * (cin // groups) * kernel[0] * kernel[1]
        what = "depthwise" if groups == cin else ("grouped" if groups > 1 else "dense")
        padding = (kernel[0] // 2, kernel[1] // 2)
        out.append(
            Workload(
                f"{what} {kernel[0]}x{kernel[1]} conv {cin}->{cout} groups={groups} batch={batch}"
                + (" channels_last" if layout == CL else ""),
                lambda: F.conv2d(x, w, padding=padding, groups=groups),
                2 * macs,
                x.numel() + w.numel() + n_out,
                n_out,
                cin // groups,
                min(batch, cout // groups),
                layout,
                kernel[0] * kernel[1],
            )
        )

    def outer(b: int, i: int, j: int):
        x, y = torch.randn(b, i), torch.randn(b, j)
        n_out = b * i * j
        elements = x.numel() + y.numel() + n_out
        out.append(
            Workload(
                f"outer {b}x{i}x{j}", lambda: torch.einsum("bi,bj->bij", x, y), n_out, elements, n_out, 1, min(i, j)
            )
        )

    def batched(b: int, i: int, k: int, j: int):
        x, y = torch.randn(b, i, k), torch.randn(b, k, j)
        n_out = b * i * j
        elements = x.numel() + y.numel() + n_out
        out.append(
            Workload(
                f"batched {b}x{i}x{k}x{j}",
                lambda: torch.einsum("bik,bkj->bij", x, y),
                2 * n_out * k,
                elements,
                n_out,
                k,
                min(i, j),
            )
        )

    for n in (256, 512, 1024):
        matmul(n, n, n)
    matmul(1024, 16, 1024)
    matmul(1024, 1024, 16)
    for cin, cout in ((64, 64), (64, 16), (16, 64), (8, 64), (64, 4), (4, 64), (27, 64)):
        pointwise(cin, cout)
    for cin, groups in ((64, 64), (27, 27), (64, 1), (16, 1), (32, 4), (64, 4), (64, 16), (128, 32)):
        conv(cin, cin, groups)
    conv(64, 256, 16)  # a thin grouped step (4 channels a group), as a reshaped format's
    # thin convolutions over a large batch: what a reshaped format's last step can be
    conv(16, 4, 1, batch=512)
    conv(4, 16, 1, batch=512)
    conv(4, 4, 1, batch=512)
    conv(16, 16, 1, batch=128)
    conv(64, 8, 1, batch=32)
    outer(32, 128, 128)
    outer(1024, 64, 16)
    batched(64, 32, 8, 32)
    batched(256, 16, 64, 16)
    # one tap row: a factor applied along one spatial index (CP, TT, TR's separable steps)
    conv(64, 27, 1, kernel=(3, 1))
    # thin convolutions, one tap row beside a whole 3×3 kernel, as TT's and TR's spatial cores
    # applied one by one or joined first (TR's outer rank in the batch)
    for layout in ("contiguous", CL):
        for batch, cin, cout in ((224, 7, 8), (160, 5, 5), (32, 16, 17), (32, 25, 26)):
            for kernel in ((3, 1), (1, 3), (3, 3)):
                conv(cin, cout, 1, batch=batch, kernel=kernel, layout=layout)
    for layout in ("contiguous", CL):  # depthwise: one tap row or a whole 3×3 kernel, as CP's ranks
        for channels in (11, 27, 55):
            conv(channels, channels, channels, kernel=(3, 1), layout=layout)
            conv(channels, channels, channels, kernel=(1, 3), layout=layout)
        conv(55, 55, 55, layout=layout)
    # on a channels_last activation, as the executor runs them on one
    for cin, cout in ((64, 64), (64, 16), (16, 64), (8, 64), (64, 4), (4, 64), (27, 64)):
        pointwise(cin, cout, layout=CL)
    for cin, groups in ((64, 64), (27, 27), (64, 1), (16, 1), (32, 4), (64, 4), (64, 16), (128, 32)):
        conv(cin, cin, groups, layout=CL)
    conv(64, 27, 1, kernel=(3, 1), layout=CL)
    conv(64, 8, 1, layout=CL)
    conv(64, 256, 16, layout=CL)  # a thin grouped step (4 channels a group), as a reshaped format's
    return out


def _time(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _depthwise(row: dict) -> bool:
    return row["reduction"] == 1 and row["width"] == 1


def _columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """The calls' counts as the planner prices them: on channels_last a convolution's K counts its
    kernel's taps as well as its channels (``Problem.step_cost``)."""
    c = {
        k: np.array([float(r[k]) for r in rows]) for k in ("flops", "elements", "result", "reduction", "width", "taps")
    }
    c["nchw"] = np.array([r["layout"] != CL for r in rows])
    c["reordered"] = c["nchw"] & (c["taps"] > 1)
    depthwise = (c["reduction"] == 1) & (c["width"] == 1)  # priced apart, for one tap
    c["reduction"] = np.where(~c["nchw"] & ~depthwise, c["reduction"] * c["taps"], c["reduction"])
    return c


def _memory(c: dict[str, np.ndarray], k: dict):
    """As the planner prices what a step moves: MEMORY_WEIGHT per element read and written,
    REORDER_WEIGHT more per element of a convolution with a spatial kernel on NCHW, and
    LARGE_RESULT_WEIGHT more per element of a result of LARGE_RESULT elements or more
    (LARGE_RESULT_CHANNELS_LAST on a channels_last activation)."""
    large = np.where(c["nchw"], k["large_result"], k["large_result_channels_last"])
    moved = k["memory_weight"] + k["reorder_weight"] * c["reordered"]
    return moved * c["elements"] + k["large_result_weight"] * c["result"] * (c["result"] >= large)


def predict(c: dict[str, np.ndarray], k: dict) -> np.ndarray:
    """FLOP equivalents the planner's model gives the calls ``c`` (see tnviz/core/plan/model.py)."""
    efficiency = c["reduction"] / (c["reduction"] + k["reduction_half"]) * c["width"] / (c["width"] + k["width_half"])
    return c["flops"] / efficiency + _memory(c, k)


def predict_depthwise(c: dict[str, np.ndarray], k: dict, half) -> np.ndarray:
    """As the planner prices a depthwise call: its FLOPs for one tap, at efficiency 1 / (1 + half)."""
    return c["flops"] / c["taps"] * (1 + half) + _memory(c, k)


def _rms(predicted: np.ndarray, measured: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean((np.log(predicted) - np.log(measured)) ** 2, axis=axis))


# the grids the fit starts from: powers of four, then finer grids (steps of 2^(1/3), 2^(1/9),
# 2^(1/27)) around the best point
_GRID = {
    "memory_weight": 4.0 ** np.arange(0, 6),
    "reorder_weight": np.concatenate([[0.0], 4.0 ** np.arange(0, 6)]),
    "large_result_weight": np.concatenate([[0.0], 4.0 ** np.arange(0, 7)]),
    "reduction_half": 4.0 ** np.arange(-1, 5),
    "width_half": 4.0 ** np.arange(-2, 4),
}
_REFINEMENTS = (1 / 3, 1 / 9, 1 / 27)
_LARGE_RESULTS = [2**b for b in range(16, 26)]  # elements: 256 KB to 128 MB of float32


def fit(rows: list[dict]) -> tuple[dict, float]:
    """(constants, rms log error) of the non-depthwise calls of both layouts: least squares on log
    time, time in FLOP equivalents at the large-GEMM rate — every pair of LARGE_RESULT thresholds
    (powers of two), the five weights on a grid of powers of four, then refined on finer grids
    around the best."""
    c = _columns(rows)
    measured = np.array([r["flop_equivalents"] for r in rows])
    names = list(_GRID)
    best: tuple[float, dict] | None = None
    for large in _LARGE_RESULTS:
        for large_cl in _LARGE_RESULTS:
            axes = dict(_GRID)
            for step in (*_REFINEMENTS, None):
                mesh = np.meshgrid(*axes.values(), indexing="ij")
                k = {n: m[..., None] for n, m in zip(names, mesh)}
                k.update(large_result=large, large_result_channels_last=large_cl)
                errors = _rms(predict(c, k), measured)
                at = np.unravel_index(np.argmin(errors), errors.shape)
                point = {n: float(m[at]) for n, m in zip(names, mesh)}
                if best is None or errors[at] < best[0]:
                    best = (float(errors[at]), {**point, "large_result": large, "large_result_channels_last": large_cl})
                if step is not None:  # a finer grid around these thresholds' best point
                    axes = {
                        n: point[n] * 2.0 ** (np.arange(-3, 4) * step) if point[n] else np.array([0.0, 1.0])
                        for n in names
                    }
    assert best is not None
    return best[1], best[0]


def fit_depthwise(rows: list[dict], constants: dict) -> tuple[float, float]:
    """(half, rms log error) of depthwise calls (K = W = 1) in one layout, the memory constants given."""
    c = _columns(rows)
    measured = np.array([r["flop_equivalents"] for r in rows])
    halves = 2.0 ** np.arange(-14, 10, dtype=float)
    for _ in range(4):
        errors = _rms(predict_depthwise(c, constants, halves[:, None]), measured)
        best = float(halves[np.argmin(errors)])
        halves = best * 2.0 ** (np.arange(-4, 5) / 8)
    return best, float(errors.min())


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    with torch.no_grad():
        for w in _workloads():
            rows.append({**w._asdict(), "seconds": _time(w.run, args.repeats)})
            del rows[-1]["run"]
    gemm = max(r["flops"] / r["seconds"] for r in rows if r["name"].startswith("linear 1024x1024x1024"))
    for r in rows:
        r["flop_equivalents"] = r["seconds"] * gemm
    return {
        "allocator": loaded_allocator(),
        **fit_all(rows),
        "gemm_gflops": gemm / 1e9,
        "workloads": {r["name"]: {"seconds": r["seconds"], "flop_equivalents": r["flop_equivalents"]} for r in rows},
    }


def fit_all(rows: list[dict]) -> dict:
    """Every constant, with its fit's rms log error, from timed calls (their ``flop_equivalents``)."""
    constants, error = fit([r for r in rows if not _depthwise(r)])
    depthwise = {lay: [r for r in rows if r["layout"] == lay and _depthwise(r)] for lay in ("contiguous", CL)}
    half_dw, error_dw = fit_depthwise(depthwise["contiguous"], constants)
    half_cl, error_cl = fit_depthwise(depthwise[CL], constants)
    return {
        **constants,
        "rms_log_error": error,
        "depthwise_half": half_dw,
        "rms_log_error_depthwise": error_dw,
        "depthwise_channels_last_half": half_cl,
        "rms_log_error_depthwise_channels_last": error_cl,
    }


def refit(data: dict) -> dict:
    """The constants fitted again, as the model now counts the calls, to a results file's timings
    (each call's median time over its processes): a change of the model that the calls already
    timed can answer, answered without the machine they were timed on."""
    stored = data["results"]["workloads"]
    rows = []
    for w in _workloads():  # their tensors are made, never run
        if w.name not in stored:
            raise SystemExit(f"{w.name!r} was not timed in this results file: measure again (without --refit)")
        row = {**w._asdict(), "flop_equivalents": _median(stored[w.name]["flop_equivalents"])}
        del row["run"]
        rows.append(row)
    return fit_all(rows)


def table(data: dict) -> str:
    r = data["results"]

    def cell(value) -> str:
        if isinstance(value, dict):
            return f"{value['median']:.3g} ({value['q25']:.3g}–{value['q75']:.3g})"
        return f"{value:.3g}"

    head = "value (median, IQR over processes)"
    if "refit" in data:
        head = f"value (refitted to the median times: `{data['refit']['command']}`)"
    return "\n".join(
        [
            f"| constant | {head} |",
            "|---|---|",
            f"| MEMORY_WEIGHT | {cell(r['memory_weight'])} |",
            f"| REORDER_WEIGHT | {cell(r['reorder_weight'])} |",
            f"| LARGE_RESULT, elements | {cell(r['large_result'])} |",
            f"| LARGE_RESULT_CHANNELS_LAST, elements | {cell(r['large_result_channels_last'])} |",
            f"| LARGE_RESULT_WEIGHT | {cell(r['large_result_weight'])} |",
            f"| REDUCTION_HALF | {cell(r['reduction_half'])} |",
            f"| WIDTH_HALF | {cell(r['width_half'])} |",
            f"| rms error of log time | {cell(r['rms_log_error'])} |",
            f"| DEPTHWISE_HALF | {cell(r['depthwise_half'])} |",
            f"| rms error of log time, depthwise on NCHW | {cell(r['rms_log_error_depthwise'])} |",
            f"| DEPTHWISE_CHANNELS_LAST_HALF | {cell(r['depthwise_channels_last_half'])} |",
            "| rms error of log time, depthwise on channels_last | "
            f"{cell(r['rms_log_error_depthwise_channels_last'])} |",
            f"| large-GEMM rate, GFLOP/s | {cell(r['gemm_gflops'])} |",
            f"| the workers' allocator | {r.get('allocator', '?')} |",
        ]
    )


def _median(value) -> float:
    return value["median"] if isinstance(value, dict) else float(value)


def package_constants(data: dict) -> dict:
    """What the planner reads: the medians, with where they came from."""
    from tnviz.provenance import package_header

    r = data["results"]
    header = package_header(data, "python benchmarks/calibrate.py --write", str(RESULTS.relative_to(ROOT)))
    if "refit" in data:
        record = data["refit"]
        dirty = " (uncommitted changes)" if record.get("dirty") else ""
        header["provenance"] += f" Refitted at commit `{record['commit'][:10]}`{dirty}: `{record['command']}`."
    return {
        **header,
        "memory_weight": round(_median(r["memory_weight"]), 2),
        "reorder_weight": round(_median(r["reorder_weight"]), 2),
        "large_result": int(_median(r["large_result"])),
        "large_result_channels_last": int(_median(r["large_result_channels_last"])),
        "large_result_weight": round(_median(r["large_result_weight"]), 2),
        "reduction_half": round(_median(r["reduction_half"]), 3),
        "width_half": round(_median(r["width_half"]), 3),
        "depthwise_half": round(_median(r["depthwise_half"]), 4),
        "depthwise_channels_last_half": round(_median(r["depthwise_channels_last_half"]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--allocator", choices=list(ALLOCATORS), default="system", help="the workers' C allocator")
    parser.add_argument("--write", action="store_true", help="also write the constants into the package")
    parser.add_argument("--write-only", action="store_true", help="write the package file from the results file")
    parser.add_argument(
        "--refit", action="store_true", help="fit the results file's timings again, as the model now counts them"
    )
    add_process_arguments(parser, RESULTS)
    args = parser.parse_args()
    if args.refit:
        data = json.loads(args.out.read_text())
        data["results"].update(refit(data))
        made = provenance()
        data["refit"] = {k: made[k] for k in ("commit", "dirty", "date", "versions", "command")}
        write_json(args.out, data)
        print(table(data))
    elif not args.write_only:
        run_benchmark(__file__, args, measure, table, keep=("allocator",))
    if (args.write or args.write_only) and not args.worker:
        constants = package_constants(json.loads(args.out.read_text()))
        PACKAGE_FILE.write_text(json.dumps(constants, indent=2) + "\n")
        print(f"wrote {PACKAGE_FILE.relative_to(ROOT)}: {constants}")


if __name__ == "__main__":
    main()
