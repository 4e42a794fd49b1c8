"""Differential testing at scale: random diagrams, tnviz against the independent float64 oracle.

Every role (free, summed, contraction, hyperedge, partial outer product, convolution), groups,
multi-kernel convolutions, strides, dilations, all four padding modes and every planner
setting; forward values and gradients (a random upstream gradient) must match to 1e-9/1e-8.
The generator and the check are the test suite's (``random_problems`` in ``tests/fuzzing.py``,
``check_problem`` in ``tests/oracle.py``); this runs many more examples, on CPU and, when there is one, on CUDA.

Run: ``python benchmarks/differential.py [--examples 5000] [--device cpu|cuda|all] [--seed 0]``.
Prints how many diagrams were tried and how many had each feature; exits 1 on a mismatch
(hypothesis then prints the smallest failing diagram).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402
from fuzzing import random_problems  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from oracle import check_problem  # noqa: E402


def cross_check(device: str, examples: int, seed_value: int) -> collections.Counter:
    """Run ``examples`` random diagrams on ``device``; returns what was seen."""
    seen: collections.Counter = collections.Counter()

    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(random_problems())
    def run(problem):
        spec, shapes, sizes, options, optimize, _ = problem
        seen["diagrams"] += 1
        seen["with convolution"] += "|" in spec
        seen["with groups"] += "(" in spec
        if "|" in spec:  # a convolution index held by the signal and two or more kernels
            held = spec.split("->")[0].split(",")
            seen["multi-kernel convolution"] += any(
                sum(op.count(c) for op in held) > 2 for c in spec.split("|")[-1].split()
            )
        seen[f"optimize={optimize}"] += 1
        for mode in set((options.get("padding_mode") or {}).values()):
            seen[f"padding_mode={mode}"] += 1
        check_problem(problem, device)

    run()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    for device in [d for d in devices if d == "cpu" or torch.cuda.is_available()]:
        started = time.perf_counter()
        seen = cross_check(device, args.examples, args.seed)
        seconds = time.perf_counter() - started
        print(
            f"{device}: {seen['diagrams']} diagrams cross-checked (forward, backward) in {seconds:.0f} s: no mismatch"
        )
        for key, count in sorted(seen.items()):
            if key != "diagrams":
                print(f"  {key:32s} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
