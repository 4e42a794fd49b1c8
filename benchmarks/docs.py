"""Regenerate every table and result sentence of the README and docs from the results files.

    python benchmarks/docs.py            rewrite README.md, docs/lenet5_mnist/results.md and fig9.md
    python benchmarks/docs.py --check    exit 1 if they differ from what the files generate

The files: ``benchmarks/results/planner.json`` (``benchmarks/planner.py``),
``benchmarks/results/engine.json`` (``benchmarks/engine.py``) and
``docs/lenet5_mnist/results.json`` (``tnviz reproduce lenet5-mnist --out docs/lenet5_mnist``) and
``docs/lenet5_mnist/fig9_curves.json`` (the per-epoch test errors of a ``reproduce`` run, its
``fig9_curves.json``; ``python -m tnviz.compression.reproduce plot-fig9 FILE`` draws the figure).
Each names the commit, versions, machine and command that produced it; nothing in these
sections is typed by hand. ``tests/test_readme_results.py`` runs ``--check``'s comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

README = ROOT / "README.md"
LENET = ROOT / "docs" / "lenet5_mnist"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def generate_readme(text: str) -> str:
    """The README with every generated section rewritten from its results file."""
    import engine
    import planner

    from tnviz.compression.reproduce import readme_section
    from tnviz.provenance import describe, replace_section

    planner_data = _load(HERE / "results" / "planner.json")
    text = replace_section(text, "planner-benchmark", planner.table(planner_data) + "\n\n" + describe(planner_data))
    engine_data = _load(HERE / "results" / "engine.json")
    text = replace_section(text, "engine-benchmark", engine.table(engine_data) + "\n\n" + describe(engine_data))
    lenet = _load(LENET / "results.json")
    text = replace_section(text, "lenet5-results", readme_section(lenet) + "\n\n" + describe(lenet))
    return text


def generate_docs() -> dict[Path, str]:
    """Generated docs files: ``{path: text}``."""
    from tnviz.compression.reproduce import fig9_markdown, results_markdown

    docs = {LENET / "results.md": results_markdown(_load(LENET / "results.json"))}
    if (LENET / "fig9_curves.json").exists():
        docs[LENET / "fig9.md"] = fig9_markdown(_load(LENET / "fig9_curves.json"))
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args()
    wanted = {README: generate_readme(README.read_text()), **generate_docs()}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} differs from what its results file generates")
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"rewrote {path.relative_to(ROOT)}")
    if not stale:
        print("README and docs already match the results files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
