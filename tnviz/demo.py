"""``tnviz demo``: parse, plan and run the paper's layers, and check each against the dense result."""

from __future__ import annotations

from typing import TextIO

__all__ = ["run_demo"]


def _dense_kernel(spec: str, params: list) -> object:
    """Reconstruct the F.conv2d weight with plain ``torch.einsum`` (independent of tnviz's executor)."""
    import torch

    from tnviz.core.spec import einsum_letters
    from tnviz.core.spec_parser import parse_spec
    from tnviz.paper_layers import kernel_spec

    parsed = parse_spec(kernel_spec(spec))
    letters = einsum_letters(list(dict.fromkeys(i for op in parsed.operands for i in op.indices)))
    eq = ",".join("".join(letters[i] for i in op.indices) for op in parsed.operands)
    eq += "->" + "".join(letters[i] for i in parsed.output.indices)
    flat = torch.einsum(eq, *params)
    sizes: list[int] = []
    k = 0
    for mode in parsed.output.modes:
        size = 1
        for _ in mode:
            size *= flat.shape[k]
            k += 1
        sizes.append(size)
    return flat.reshape(sizes)


def run_demo(out: TextIO, batch: int = 8, length: int = 16, seed: int = 0) -> bool:
    """Run every layer of :data:`tnviz.paper_layers.PAPER_LAYERS` on random data.

    For each it prints the spec, the plan table and the largest difference from
    reconstructing the dense kernel and calling ``F.conv2d`` (float64).

    Returns:
        True when every layer agrees with the dense result to 1e-9.
    """
    import torch
    import torch.nn.functional as F

    import tnviz
    from tnviz.paper_layers import PAPER_LAYERS

    torch.manual_seed(seed)
    ok = True
    summary = []
    for name, (spec, sizes) in PAPER_LAYERS.items():
        net = tnviz.TensorNetwork(tnviz.Diagram.parse(spec, sizes=sizes, padding=1), dtype=torch.float64)
        x = torch.randn(batch, 64, length, length, dtype=torch.float64)
        y = net(x)
        params = [net.weights[n] for n in net.diagram.tensor_names if n != "X"]
        with torch.no_grad():
            dense = F.conv2d(x, _dense_kernel(spec, params), padding=1)
        err = (y - dense).abs().max().item() / dense.abs().max().item()
        n_params = sum(p.numel() for p in params)
        plan = net.plan(x)
        good = err < 1e-9
        ok &= good
        out.write(f"\n=== {name} ===\n{plan}\n")
        out.write(
            f"  check: max |tnviz - F.conv2d(dense kernel)| / max |dense| = {err:.2e} "
            f"({'ok' if good else 'MISMATCH'})\n"
        )
        summary.append((name, n_params, plan.flops, plan.approach, err))
    out.write("\nlayer      params   rate    FLOPs     approach           rel. error\n")
    dense_params = summary[0][1]
    for name, n_params, flops, approach, err in summary:
        out.write(
            f"{name:<9} {n_params:>7}  {n_params / dense_params:6.1%}  {flops / 1e6:7.1f}M  {approach:<17}  {err:.1e}\n"
        )
    out.write(f"\n{'all layers agree with the dense convolution' if ok else 'SOME LAYERS DISAGREE'}\n")
    return ok
