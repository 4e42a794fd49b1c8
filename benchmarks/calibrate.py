"""Calibrate the planner's "time" objective on this machine: its three constants are fitted to
measured step times, not typed in code.

The objective prices a step as ``FLOPs / efficiency + MEMORY_WEIGHT · elements`` (FLOP
equivalents), where ``elements`` are those of its operands and result and
``efficiency = K / (K + REDUCTION_HALF) · W / (W + WIDTH_HALF)`` for the K channels a call sums
over (a convolution's input channels per group, its kernel taps apart) and a width W (the
narrower operand's own extent: a convolution's output channels, 1 for a depthwise kernel).

MEMORY_WEIGHT is measured on its own: the large-GEMM rate over the elements per second that a
permuted copy of a 32×64×32×32 activation reads and writes into a new tensor — what a step's
intermediate costs to lay out, page faults included (glibc's malloc serves a multi-MB block by
mmap and returns it by munmap, so each call faults its pages in again). REDUCTION_HALF and
WIDTH_HALF are then fitted to the times of the kinds of call the executor makes — large and small
matrix products, 1×1 convolutions over few and many channels, depthwise, grouped, dense and thin
3×3 convolutions, outer products and batched products — converted to FLOP equivalents at the
large-GEMM rate, by least squares on log time (a grid, then refined). Depthwise convolutions on a
channels_last activation (as the executor runs them on one) get their own REDUCTION_HALF, fitted
the same way with the same MEMORY_WEIGHT and WIDTH_HALF: oneDNN has a kernel of its own for them
there, vectorised over channels, so a depthwise convolution that crawls on NCHW is cheap (the
planner's ``layout="channels_last"``). The other calls are timed on channels_last too, for the
record: they run about as much faster as each other, which changes no plan. Each worker process fits
on its own timings; the results file holds each constant's median and spread over processes,
the fit's error and every timing. The workers run with the system's allocator by default (what
a user has; ``--allocator`` as in ``benchmarks/layers.py``).

    python benchmarks/calibrate.py --processes 3      # benchmarks/results/calibration.json
    python benchmarks/calibrate.py --write            # ... and tnviz/core/plan/calibration.json

``--write`` writes the medians into the package (``tnviz/core/plan/calibration.json``), which the
planner reads at import; a test checks that file against the results file.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import ALLOCATORS, add_process_arguments, loaded_allocator, run_benchmark

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "calibration.json"
PACKAGE_FILE = ROOT / "tnviz" / "core" / "plan" / "calibration.json"


CL = "channels_last"


def _workloads() -> list[tuple[str, callable, int, int, int, int, str]]:
    """(name, function, FLOPs, elements read and written, channels summed K, width W, layout) of
    each timed call, counted as the planner's cost model counts them."""
    out = []

    def matmul(n: int, k: int, m: int):
        a, b = torch.randn(n, k), torch.randn(m, k)
        out.append(
            (
                f"linear {n}x{k}x{m}",
                lambda: F.linear(a, b),
                2 * n * k * m,
                n * k + m * k + n * m,
                k,
                min(n, m),
                "contiguous",
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
        out.append(
            (name, fn, 2 * n_out * cin, x.numel() + w.numel() + n_out, cin, min(batch * side * side, cout), layout)
        )

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
            (
                f"{what} {kernel[0]}x{kernel[1]} conv {cin}->{cout} groups={groups} batch={batch}"
                + (" channels_last" if layout == CL else ""),
                lambda: F.conv2d(x, w, padding=padding, groups=groups),
                2 * macs,
                x.numel() + w.numel() + n_out,
                cin // groups,
                min(batch, cout // groups),
                layout,
            )
        )

    def outer(b: int, i: int, j: int):
        x, y = torch.randn(b, i), torch.randn(b, j)
        n_out = b * i * j
        out.append(
            (
                f"outer {b}x{i}x{j}",
                lambda: torch.einsum("bi,bj->bij", x, y),
                n_out,
                x.numel() + y.numel() + n_out,
                1,
                min(i, j),
                "contiguous",
            )
        )

    def batched(b: int, i: int, k: int, j: int):
        x, y = torch.randn(b, i, k), torch.randn(b, k, j)
        n_out = b * i * j
        out.append(
            (
                f"batched {b}x{i}x{k}x{j}",
                lambda: torch.einsum("bik,bkj->bij", x, y),
                2 * n_out * k,
                x.numel() + y.numel() + n_out,
                k,
                min(i, j),
                "contiguous",
            )
        )

    for n in (256, 512, 1024):
        matmul(n, n, n)
    matmul(1024, 16, 1024)
    matmul(1024, 1024, 16)
    for cin, cout in ((64, 64), (64, 16), (16, 64), (8, 64), (64, 4), (4, 64), (27, 64)):
        pointwise(cin, cout)
    for cin, groups in ((64, 64), (27, 27), (64, 1), (16, 1), (32, 4)):
        conv(cin, cin, groups)
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
    conv(27, 27, 27, kernel=(3, 1))
    # on a channels_last activation, as the executor runs them on one
    for cin, cout in ((64, 64), (64, 16), (16, 64), (8, 64), (64, 4), (4, 64), (27, 64)):
        pointwise(cin, cout, layout=CL)
    for cin, groups in ((64, 64), (27, 27), (64, 1), (16, 1), (32, 4)):
        conv(cin, cin, groups, layout=CL)
    conv(64, 27, 1, kernel=(3, 1), layout=CL)
    conv(27, 27, 27, kernel=(3, 1), layout=CL)
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


def _predict(
    flops: int, elements: int, reduction: int, width: int, memory_weight: float, half: float, width_half: float
) -> float:
    efficiency = reduction / (reduction + half) * width / (width + width_half)
    return flops / efficiency + memory_weight * elements


def fit_depthwise(rows: list[dict], memory_weight: float, width_half: float) -> tuple[float, float]:
    """(reduction_half, rms log error) of depthwise calls (K = W = 1), the other constants given."""

    def loss(h: float) -> float:
        return sum(
            (
                math.log(_predict(r["flops"], r["elements"], 1, 1, memory_weight, h, width_half))
                - math.log(r["flop_equivalents"])
            )
            ** 2
            for r in rows
        ) / len(rows)

    best = min((2.0**b for b in range(-8, 9)), key=loss)
    for _ in range(3):
        best = min((best * 2 ** (b / 8) for b in range(-4, 5)), key=loss)
    return best, math.sqrt(loss(best))


def fit(rows: list[dict], memory_weight: float) -> tuple[float, float, float]:
    """(reduction_half, width_half, rms log error) for a measured ``memory_weight``: least squares
    on log time, time in FLOP equivalents at the large-GEMM rate; a coarse grid, then finer ones."""

    def loss(mw: float, h: float, hw: float) -> float:
        return sum(
            (
                math.log(_predict(r["flops"], r["elements"], r["reduction"], r["width"], mw, h, hw))
                - math.log(r["flop_equivalents"])
            )
            ** 2
            for r in rows
        ) / len(rows)

    grid = [(memory_weight, 2.0**b, 2.0**c) for b in range(-4, 9) for c in range(-4, 9)]
    best = min(grid, key=lambda p: loss(*p))
    for _ in range(3):
        _, h0, w0 = best
        steps = range(-4, 5)
        grid = [(memory_weight, h0 * 2 ** (b / 8), w0 * 2 ** (c / 8)) for b in steps for c in steps]
        best = min(grid, key=lambda p: loss(*p))
    return best[1], best[2], math.sqrt(loss(*best))


def memory_rate(repeats: int) -> float:
    """Elements read and written per second by a permuted copy of a 32×64×32×32 activation."""
    x = torch.randn(32, 64, 32, 32)
    seconds = _time(lambda: x.permute(0, 2, 3, 1).contiguous(), repeats)
    return 2 * x.numel() / seconds


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    workloads = _workloads()
    rows = []
    with torch.no_grad():
        for name, fn, flops, elements, reduction, width, layout in workloads:
            rows.append(
                {
                    "name": name,
                    "seconds": _time(fn, args.repeats),
                    "flops": flops,
                    "elements": elements,
                    "reduction": reduction,
                    "width": width,
                    "layout": layout,
                }
            )
    gemm = max(r["flops"] / r["seconds"] for r in rows if r["name"].startswith("linear 1024x1024x1024"))
    for r in rows:
        r["flop_equivalents"] = r["seconds"] * gemm
    memory_weight = gemm / memory_rate(args.repeats)
    half, width_half, error = fit([r for r in rows if r["layout"] != CL], memory_weight)
    depthwise_cl = [r for r in rows if r["layout"] == CL and r["reduction"] == 1 and r["width"] == 1]
    half_cl, error_cl = fit_depthwise(depthwise_cl, memory_weight, width_half)
    return {
        "allocator": loaded_allocator(),
        "memory_weight": memory_weight,
        "reduction_half": half,
        "width_half": width_half,
        "rms_log_error": error,
        "depthwise_channels_last_half": half_cl,
        "rms_log_error_depthwise_channels_last": error_cl,
        "gemm_gflops": gemm / 1e9,
        "workloads": {r["name"]: {"seconds": r["seconds"], "flop_equivalents": r["flop_equivalents"]} for r in rows},
    }


def table(data: dict) -> str:
    r = data["results"]

    def cell(value) -> str:
        if isinstance(value, dict):
            return f"{value['median']:.3g} ({value['q25']:.3g}–{value['q75']:.3g})"
        return f"{value:.3g}"

    return "\n".join(
        [
            "| constant | value (median, IQR over processes) |",
            "|---|---|",
            f"| MEMORY_WEIGHT | {cell(r['memory_weight'])} |",
            f"| REDUCTION_HALF | {cell(r['reduction_half'])} |",
            f"| WIDTH_HALF | {cell(r['width_half'])} |",
            f"| rms error of log time | {cell(r['rms_log_error'])} |",
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
    return {
        **package_header(data, "python benchmarks/calibrate.py --write", str(RESULTS.relative_to(ROOT))),
        "memory_weight": round(_median(r["memory_weight"]), 2),
        "reduction_half": round(_median(r["reduction_half"]), 3),
        "width_half": round(_median(r["width_half"]), 3),
        "depthwise_channels_last_half": round(_median(r["depthwise_channels_last_half"]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--allocator", choices=list(ALLOCATORS), default="system", help="the workers' C allocator")
    parser.add_argument("--write", action="store_true", help="also write the constants into the package")
    parser.add_argument("--write-only", action="store_true", help="write the package file from the results file")
    add_process_arguments(parser, RESULTS)
    args = parser.parse_args()
    if not args.write_only:
        run_benchmark(__file__, args, measure, table, keep=("allocator",))
    if (args.write or args.write_only) and not args.worker:
        constants = package_constants(json.loads(RESULTS.read_text()))
        PACKAGE_FILE.write_text(json.dumps(constants, indent=2) + "\n")
        print(f"wrote {PACKAGE_FILE.relative_to(ROOT)}: {constants}")


if __name__ == "__main__":
    main()
