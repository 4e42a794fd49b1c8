"""The rank policy's sweep: the ranks ``ranks_for_rate`` picks and the rate they achieve, per format.

For LeNet-5's compressed layers (conv2 20→50 5×5, fc1 800→500), Conv 64→64 3×3 and Linear
1024→1024 at rates 0.02, 0.05, 0.1, 0.2 and 0.5, every format: its ranks, parameters, the
achieved rate and achieved / target (or why no ranks fit). Deterministic (closed-form counts, no
timing). Written with the provenance to ``benchmarks/results/rank_policy.json``; the sweep table
of ``docs/rank_policy.md`` is generated from it (``tests/core/test_rank_policy.py`` checks both).

Run: ``python benchmarks/rank_policy.py`` (``--doc`` rewrites the doc's table from the file alone).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "rank_policy.json"
DOC = ROOT / "docs" / "rank_policy.md"
RATES = (0.02, 0.05, 0.1, 0.2, 0.5)
SHAPES = {  # (in, out, kernel)
    "LeNet-5 conv2 20→50 5×5": (20, 50, (5, 5)),
    "LeNet-5 fc1 800→500": (800, 500, ()),
    "Conv 64→64 3×3": (64, 64, (3, 3)),
    "Linear 1024→1024": (1024, 1024, ()),
}


def sweep() -> list[dict]:
    """One row per layer, format and rate."""
    from tnviz.core.formats import FORMATS, LayerConfig, get_format
    from tnviz.errors import TnvizError

    rows = []
    for layer, (s, t, kernel) in SHAPES.items():
        config = LayerConfig(s, t, kernel)
        for name in (n for n in FORMATS if n != "dense"):
            fmt = get_format(name)
            for rate in RATES:
                row = {"layer": layer, "format": name, "target": rate}
                try:
                    ranks = fmt.ranks_for_rate(config, rate)
                except TnvizError as err:
                    rows.append({**row, "refused": err.message})
                    continue
                params = fmt.param_count(config, ranks)
                achieved = params / config.dense_params
                rows.append(
                    {
                        **row,
                        "ranks": " ".join(f"{k}={v}" for k, v in dict(ranks).items()),
                        "params": params,
                        "achieved": achieved,
                        "of_target": achieved / rate,
                    }
                )
    return rows


def table(data: dict) -> str:
    """The doc's sweep section: per layer, a table of format × rate (ranks and achieved / target)."""
    from tnviz.provenance import describe

    rows = data["results"]["rows"]
    lines = []
    for layer in dict.fromkeys(r["layer"] for r in rows):
        lines += [f"### {layer}", "", "| format | " + " | ".join(f"{r:g}" for r in RATES) + " |"]
        lines.append("|---" * (len(RATES) + 1) + "|")
        for name in dict.fromkeys(r["format"] for r in rows if r["layer"] == layer):
            cells = []
            for rate in RATES:
                row = next(r for r in rows if r["layer"] == layer and r["format"] == name and r["target"] == rate)
                if "refused" in row:
                    cells.append("no ranks fit (rank 1 over budget)")
                else:
                    flag = "" if 0.85 <= row["of_target"] <= 1.0 else " ⚠"
                    cells.append(f"{row['ranks']}: {row['of_target']:.3f}{flag}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    outside = [r for r in rows if "refused" in r or not 0.85 <= r["of_target"] <= 1.0]
    lines.append(
        f"Cells: the ranks, then achieved rate / target. {len(rows) - len(outside)} of {len(rows)} land in "
        f"[0.85, 1]; ⚠ marks the {len(outside)} that do not (see below)."
    )
    return "\n".join(lines) + "\n\n" + describe(data)


def generate_doc(text: str, data: dict) -> str:
    from tnviz.provenance import replace_section

    return replace_section(text, "rank-policy-sweep", table(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--doc", action="store_true", help="only rewrite the doc's table from the results file")
    args = parser.parse_args()
    if not args.doc:
        from tnviz.provenance import write_results

        write_results(RESULTS, {"rows": sweep()}, {"rates": list(RATES), "layers": list(SHAPES)})
        print(f"written to {RESULTS.relative_to(ROOT)}")
    DOC.write_text(generate_doc(DOC.read_text(), json.loads(RESULTS.read_text())))
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
