"""How many gradients of random convolution diagrams are still refused, by reason.

Diagrams from the test suite's generator (``tests/random_diagrams.py``: a
signal, one to three kernels on one convolution index chained by rank indices, factors off the
convolution, random padding, stride, dilation, padding mode, upsampling and flips, the index kept
or summed by the output). For each tensor of each diagram: ``Diagram.grad`` run by
``tnviz.einsum`` against autograd in float64 (``tests/oracle.py``), or the refusal's reason.
Every gradient that is written must equal autograd's; the counts are written.

Run: ``python benchmarks/grad_refusals.py [--diagrams 500]``; results in
``benchmarks/results/grad_refusals.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

REASONS = {
    "different tensors first": "one tensor the signal of one index and a kernel of another",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diagrams", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "grad_refusals.json")
    args = parser.parse_args()

    import torch  # noqa: F401  (versions in the provenance)
    from oracle import against_autograd
    from random_diagrams import random_conv_diagram

    import tnviz
    from tnviz.provenance import write_results

    rng = random.Random(args.seed)
    written, refused, built = 0, collections.Counter(), 0
    while built < args.diagrams:
        spec, sizes, options = random_conv_diagram(rng)
        try:
            diagram = tnviz.Diagram.parse(spec, sizes=sizes, **options)
        except tnviz.TnvizError:
            continue  # a kernel longer than the padded signal, a padding too large for its mode
        built += 1
        for name in diagram.tensor_names:
            try:
                against_autograd(diagram, name, built)
            except tnviz.TnvizError as err:
                reason = next((label for key, label in REASONS.items() if key in err.message), None)
                if reason is None:
                    raise
                refused[reason] += 1
                continue
            written += 1
    total = written + sum(refused.values())
    results = {
        "diagrams": built,
        "gradients": total,
        "written_and_equal_to_autograd": written,
        "refused": dict(refused),
        "refused_share": sum(refused.values()) / total,
    }
    path = write_results(args.out, results, {"diagrams": args.diagrams, "seed": args.seed})
    print(table(json.loads(path.read_text())))
    print(f"\nwritten to {path}")


def table(data: dict) -> str:
    r = data["results"]
    lines = ["| gradients of random convolution diagrams | count |", "|---|---|"]
    lines.append(f"| diagrams | {r['diagrams']} |")
    lines.append(f"| gradients written, each equal to autograd's (float64) | {r['written_and_equal_to_autograd']} |")
    for reason, count in sorted(r["refused"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| refused: {reason} | {count} |")
    lines.append(f"| refused, share of all | {r['refused_share']:.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
