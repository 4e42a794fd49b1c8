"""Timing helpers shared by the benchmarks: ratios measured round-robin in one run."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

__all__ = [
    "rounds_for",
    "sync",
    "step",
    "interleaved",
    "run_processes",
    "spread",
    "add_process_arguments",
    "run_benchmark",
    "ALLOCATORS",
    "allocator_env",
    "loaded_allocator",
]

# The C allocator the worker processes run with. glibc's malloc serves a large block (an
# activation of a few MB) by mmap and gives it back by munmap when freed, so the next call pays a
# page fault per 4 KiB page again; which blocks that hits depends on its moving threshold, i.e. on
# what ran before. On this 2-core VM that made a 1×1 convolution's time vary 1.2 → 7.8 ms with
# its channel count (16 → 54). tcmalloc and jemalloc are what PyTorch's CPU tuning guide
# recommends (LD_PRELOAD); Debian's packages: libtcmalloc-minimal4, libjemalloc2.
ALLOCATORS = {
    "system": (),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4"),
    "jemalloc": ("libjemalloc.so.2",),
}


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def step(module, x, grad):
    """Forward and backward with a fixed upstream gradient, as inside a network.

    (``.sum().backward()`` would hand every layer an expanded, stride-0 gradient, which
    some kernels treat very differently from a real one.)"""

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return run


def rounds_for(repeats: int, functions: int) -> int:
    """``repeats`` rounded up to a multiple of ``functions``: with the order rotated each round,
    every function then runs first equally often (an odd count of rounds for a pair would let
    the first function lead once more, in every process alike, and tilt the median)."""
    return -(-repeats // functions) * functions


def timed_rounds(fns: dict, repeats: int, device: str) -> list[dict]:
    """Each round times every function back to back, in a rotating order: ``[{key: seconds}]``
    (after two warm-up calls each), over ``rounds_for(repeats, len(fns))`` rounds. Rotating the
    order means whatever runs right after a heavy function (caches and the allocator disturbed)
    is a different one each round, and each function leads as often as the others."""
    for fn in fns.values():
        for _ in range(2):
            fn()
    sync(device)
    keys, out = list(fns), []
    repeats = rounds_for(repeats, len(keys))
    cuda = str(device).startswith("cuda")
    for round_ in range(repeats):
        times = {}
        order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
        if cuda:  # CUDA events: the device's own clock, one host wait per round
            events = {k: (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for k in order}
            for key in order:
                events[key][0].record()
                fns[key]()
                events[key][1].record()
            torch.cuda.synchronize()
            times = {k: a.elapsed_time(b) / 1000.0 for k, (a, b) in events.items()}
        else:
            for key in order:
                start = time.perf_counter()
                fns[key]()
                times[key] = time.perf_counter() - start
        out.append(times)
    return out


def interleaved(fns: dict, repeats: int, device: str) -> dict:
    """Each function's time relative to the first one's, measured round-robin.

    Every round times all functions back to back (:func:`timed_rounds`); the ratio to the first
    function is taken within the round and the median over rounds is reported, so that the
    slow drifts of a shared machine cancel out instead of landing on one function.
    """
    first = next(iter(fns))
    rounds = timed_rounds(fns, repeats, device)
    return {k: statistics.median(r[k] / r[first] for r in rounds) for k in fns}


def allocator_env(name: str) -> dict[str, str]:
    """The environment that makes a child process use allocator ``name`` (see ``ALLOCATORS``):
    ``LD_PRELOAD`` of its library, found where the dynamic loader looks; refused with the package
    to install when it is not there."""
    import ctypes.util
    import os
    from pathlib import Path

    if name not in ALLOCATORS:
        raise SystemExit(f"unknown allocator {name!r}; expected one of {', '.join(ALLOCATORS)}")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if not ALLOCATORS[name]:
        return env
    dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]
    for lib in ALLOCATORS[name]:
        for d in dirs:
            if (Path(d) / lib).exists():
                return {**env, "LD_PRELOAD": str(Path(d) / lib)}
        found = ctypes.util.find_library(lib.split(".so")[0].removeprefix("lib"))
        if found:
            return {**env, "LD_PRELOAD": found}
    package = {"tcmalloc": "libtcmalloc-minimal4", "jemalloc": "libjemalloc2"}[name]
    raise SystemExit(f"allocator {name!r}: none of {', '.join(ALLOCATORS[name])} found; apt-get install {package}")


def loaded_allocator() -> str:
    """The allocator this process runs with, read from its own memory map (so a results file
    records what was in effect, not what was asked for)."""
    try:
        maps = open("/proc/self/maps").read()
    except OSError:
        return "unknown"
    for name in ("tcmalloc", "jemalloc"):
        if f"lib{name}" in maps:
            return name
    return "system"


def run_processes(script: str, argv: list[str], processes: int, env: dict[str, str] | None = None) -> list:
    """Run ``script --worker ARGV`` in ``processes`` separate Python processes, one after the
    other (with environment ``env``, default this one's); each prints its results as JSON.
    Separate processes give the spread between runs (allocator, caches and thread placement
    start afresh), not only within one."""
    import json
    import subprocess
    import sys

    runs = []
    for k in range(processes):
        done = subprocess.run([sys.executable, script, "--worker", *argv], capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        runs.append(json.loads(done.stdout))
        print(f"process {k + 1}/{processes} done", file=sys.stderr)
    return runs


def spread(runs: list, keep: tuple[str, ...] = ()) -> object:
    """The runs' results merged: every float becomes its median and interquartile range over
    the runs (``tnviz.provenance.median_iqr``); other values, and the keys in ``keep``, are
    the first run's (they must not vary: sizes, ranks, plan labels)."""
    from tnviz.provenance import median_iqr

    first = runs[0]
    if isinstance(first, dict):
        return {k: v if k in keep else spread([r[k] for r in runs], keep) for k, v in first.items()}
    if isinstance(first, float):
        return median_iqr([float(r) for r in runs])
    return first


def add_process_arguments(parser, default_out) -> None:
    """``--processes``, ``--out`` and the internal ``--worker`` of a benchmark run by :func:`run_benchmark`."""
    import argparse
    from pathlib import Path

    parser.add_argument("--processes", type=int, default=3, help="separate processes; spread over them")
    parser.add_argument("--out", type=Path, default=default_out, help="the results file (JSON)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)


def run_benchmark(script: str, args, measure, table, keep: tuple[str, ...] = ()) -> None:
    """A worker prints ``measure(args)`` as JSON; otherwise run the workers in separate
    processes, write their spread with the provenance to ``args.out`` and print ``table``."""
    import json
    import sys

    from tnviz.provenance import write_results

    if args.worker:
        json.dump(measure(args), sys.stdout)
        return
    allocator = getattr(args, "allocator", None)
    env = allocator_env(allocator) if allocator else None
    runs = run_processes(script, sys.argv[1:], args.processes, env)
    if getattr(args, "threads", None):  # the provenance records this process's thread count: the workers'
        torch.set_num_threads(args.threads)
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}
    if env is not None:
        settings["LD_PRELOAD"] = env.get("LD_PRELOAD", "")
    path = write_results(args.out, spread(runs, keep), settings)
    print(table(json.loads(path.read_text())))
    print(f"\nwritten to {path}")


def results_file(stem: str, allocator: str) -> Path:
    """``benchmarks/results/STEM.json`` for the system's allocator, ``STEM-ALLOCATOR.json`` for another."""
    name = f"{stem}.json" if allocator == "system" else f"{stem}-{allocator}.json"
    return Path(__file__).resolve().parent / "results" / name
