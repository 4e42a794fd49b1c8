"""Long fuzz run over everything that reads user input: the spec parser, ``Diagram.from_json``,
the layout and every renderer (DOT, TikZ, SVG through graphviz, matplotlib).

No input may raise anything but ``TnvizError``, hang (each input has a deadline), or take more
than linear-ish time in its length (the last section times growing inputs and prints the ratio
per doubling; quadratic behaviour shows as ratios near 4).

Run: ``python benchmarks/fuzz.py [--examples 20000] [--seed 0]``. The CI suite runs the same
properties with a few hundred examples (``tests/test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fuzzing import json_documents, specs  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tnviz import Diagram  # noqa: E402
from tnviz.errors import TnvizError  # noqa: E402

COUNTS: collections.Counter = collections.Counter()


def parse_or_refuse(text: str) -> None:
    try:
        Diagram.parse(text)
        COUNTS["specs accepted"] += 1
    except TnvizError:
        COUNTS["specs refused with TnvizError"] += 1


def json_or_refuse(text: str) -> None:
    try:
        Diagram.from_json(text)
        COUNTS["JSON accepted"] += 1
    except TnvizError:
        COUNTS["JSON refused with TnvizError"] += 1


def render_all(diagram: Diagram, with_svg: bool) -> None:
    from tnviz.render import to_dot, to_svg, to_tikz
    from tnviz.render.layout import layout

    layout(diagram)
    to_dot(diagram)
    to_tikz(diagram)
    COUNTS["diagrams laid out and rendered (DOT, TikZ)"] += 1
    if with_svg:
        to_svg(diagram, "graphviz")
        to_svg(diagram, "matplotlib")
        COUNTS["... also to SVG by graphviz and matplotlib"] += 1


def scaling() -> list[str]:
    """Time growing inputs; the ratio per doubling of the length."""
    lines = []
    cases = {
        "chain spec of n tensors": lambda n: ", ".join(f"T{k}: i{k} i{k + 1}" for k in range(n)) + f" -> i0 i{n}",
        "junk of n characters": lambda n: ("ab, c(d|" * n)[:n],
        "JSON nested n deep": lambda n: "[" * n + "]" * n,
        "JSON of n tensors": lambda n: json.dumps(
            {
                "format": "tnviz.diagram",
                "version": 1,
                "tensors": [{"name": f"T{k}", "modes": [["i"]]} for k in range(n)],
                "output": {"name": "out", "modes": [["i"]]},
            }  # fmt: skip
        ),
    }
    for name, make in cases.items():
        times = []
        sizes = [250, 500, 1000, 2000, 4000]
        for n in sizes:
            text = make(n)
            started = time.perf_counter()
            (json_or_refuse if name.startswith("JSON") else parse_or_refuse)(text)
            times.append(time.perf_counter() - started)
        ratios = [b / a for a, b in zip(times, times[1:]) if a > 0]
        lines.append(
            f"  {name:26s} n={sizes[0]}..{sizes[-1]}: {1000 * times[-1]:.1f} ms at the largest; "
            f"time ratio per doubling {', '.join(f'{r:.1f}' for r in ratios)}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget = settings(max_examples=args.examples, deadline=2000, database=None, suppress_health_check=list(HealthCheck))
    started = time.perf_counter()

    @seed(args.seed)
    @budget
    @given(specs(200))
    def fuzz_specs(text):
        parse_or_refuse(text)

    @seed(args.seed)
    @budget
    @given(json_documents())
    def fuzz_json(text):
        json_or_refuse(text)

    from fuzzing import random_problems

    @seed(args.seed)
    @settings(
        max_examples=max(1, args.examples // 10), deadline=5000, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(random_problems(), st.integers(0, 19))
    def fuzz_render(problem, k):
        spec, shapes, sizes, options, _, _ = problem
        diagram = Diagram.parse(spec, sizes=sizes, **options).bind(
            shapes=dict(zip(Diagram.parse(spec).tensor_names, shapes))
        )
        render_all(diagram, with_svg=k == 0)

    fuzz_specs()
    fuzz_json()
    fuzz_render()
    total = sum(v for k, v in COUNTS.items() if not k.startswith("..."))
    print(f"{total} inputs fuzzed in {time.perf_counter() - started:.0f} s; only TnvizError escaped, none hung")
    for key, count in COUNTS.items():
        print(f"  {key:46s} {count}")
    print("Scaling (linear-ish: ratios near 2 per doubling):")
    print("\n".join(scaling()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
