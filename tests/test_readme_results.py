"""README tables that state results are generated from committed results files."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import planner  # noqa: E402


def test_planner_table_is_generated_from_its_results_file():
    data = json.loads((ROOT / "benchmarks" / "results" / "planner.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert planner.readme_text(readme, data) == readme, "run: python benchmarks/planner.py --readme"
    # The file says where its numbers came from, and each timing has its spread.
    assert {"commit", "dirty", "date", "versions", "machine", "command"} <= set(data["provenance"])
    for row in data["results"].values():
        assert {"median", "q25", "q75", "n"} <= set(row["tnviz_seconds"])
        assert row["tnviz_seconds"]["n"] >= 3
