"""Random convolution diagrams, shared by the gradient tests (tests/core/test_grad.py) and the
refusal count (benchmarks/grad_refusals.py), so that the benchmark counts the diagrams the tests
check and imports no test module."""

from __future__ import annotations

import random


def random_conv_diagram(rng: random.Random) -> tuple[str, dict, dict]:
    """A signal X and one to three kernels on x (chained by rank indices, some with a factor
    holding no convolution index), with random padding, stride, dilation and padding mode."""
    n_kernels = rng.randint(1, 3)
    ranks = [f"r{k}" for k in range(n_kernels + 1)]
    sizes = {"b": 2, "s": rng.randint(1, 3), "t": rng.randint(1, 3), **{r: rng.randint(1, 3) for r in ranks}}
    operands = ["X: b s x"]
    left = "s" if rng.random() < 0.5 else ranks[0]
    if left != "s":
        operands.append(f"A: s {left}")
    for k in range(n_kernels):
        right = "t" if k == n_kernels - 1 and rng.random() < 0.5 else ranks[k + 1]
        operands.append(f"K{k}: {left} {right} x")
        left = right
    if left != "t":
        operands.append(f"B: {left} t")
    sizes["x"] = (rng.randint(7, 13), *[rng.randint(1, 3) for _ in range(n_kernels)])  # signal, then kernels
    out = "b t x" if rng.random() < 0.85 else "b t"
    stride = rng.choice([1, 1, 2, 3])
    padding = rng.choice([0, 1, 2, (0, 2), (2, 1)] + (["same"] if stride == 1 else []))
    options = {
        "padding": {"x": padding},
        "stride": stride,
        "dilation": rng.choice([1, 1, 2]),
        "padding_mode": rng.choice(["zeros"] * 6 + ["circular", "reflect", "replicate"]),
    }
    if rng.random() < 0.1:
        options["upsample"] = 2
    if rng.random() < 0.05:
        options["flip"] = True
    return ", ".join(operands) + f" -> {out} | x", sizes, options
