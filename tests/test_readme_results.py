"""README tables and result sentences are generated from committed results files, which say
where their numbers came from."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import docs  # noqa: E402


def test_readme_and_docs_equal_what_the_results_files_generate():
    readme = (ROOT / "README.md").read_text()
    assert docs.generate_readme(readme) == readme, "run: python benchmarks/docs.py"
    for path, text in docs.generate_docs().items():
        assert path.read_text() == text, f"run: python benchmarks/docs.py ({path.name})"


def test_results_files_carry_provenance_and_spread():
    files = [ROOT / "benchmarks" / "results" / "planner.json", ROOT / "benchmarks" / "results" / "engine.json"]
    for path in files:
        data = json.loads(path.read_text())
        assert {"commit", "dirty", "date", "versions", "machine", "command"} <= set(data["provenance"])
        spreads = [v for row in data["results"].values() for v in row.values() if isinstance(v, dict)]
        assert spreads and all({"median", "q25", "q75"} <= set(s) and s["n"] >= 3 for s in spreads), path.name
    lenet = json.loads((ROOT / "docs" / "lenet5_mnist" / "results.json").read_text())
    assert lenet["provenance"]["settings"]["seeds"] >= 3
    assert all(c["n"] >= 3 and c["ci95"] is not None for c in lenet["cells"])


def test_generated_text_names_no_folder_of_the_machine_that_ran_it():
    from tnviz.provenance import ROOT as CHECKOUT
    from tnviz.provenance import portable

    assert portable("cli.py reproduce --out /work/run3 --data npz:/tmp/a/data.npz") == (
        "cli.py reproduce --out …/run3 --data npz:…/data.npz"
    )
    assert (
        portable(f"layers.py --out {CHECKOUT}/benchmarks/results/x.json") == "layers.py --out benchmarks/results/x.json"
    )
    generated = [ROOT / "README.md", *docs.generate_docs()]
    for path in generated:
        text = path.read_text()
        for folder in ("/work/", "/tmp/", "/root/", "/home/"):
            assert folder not in text, f"{path.name} names {folder}"


def test_the_readmes_first_example_runs_as_written():
    import re

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    import torch
    import torch.nn.functional as F

    assert torch.allclose(scope["y"], F.conv2d(scope["X"], scope["K"], padding=1), atol=1e-4)
    assert sorted(name for name, _ in scope["layer"].named_parameters()) == [
        "weights.A",
        "weights.C",
        "weights.Kx",
        "weights.Ky",
    ]


def test_a_comparison_of_runs_on_two_machines_says_so():
    def run(cpu):
        return {"provenance": {"machine": {"cpu": cpu}}}

    assert docs._other_machine(run("AMD EPYC"), run("AMD EPYC")) == []
    (warning, *_) = docs._other_machine(run("AMD EPYC"), run("Intel Xeon"))
    assert "different CPUs" in warning and "now: AMD EPYC" in warning and "before: Intel Xeon" in warning


def test_the_drawn_with_bias_table_shows_spread_plain_ratios_and_refusals():
    import drawn_bias

    spread = {"median": 1.07, "q25": 1.01, "q75": 1.09, "n": 3}
    data = {
        "results": {
            "linear": {"cp 0.1": {"train": spread, "infer": 0.98}, "mtt 0.02": {"refused": "rate 0.02 < rank 1"}},
            "conv": {"tt 0.1": {"train": 1.0, "infer": 1.02, "train_cl": 0.99, "infer_cl": 1.03}},
            "allocator": "system",
        }
    }
    text = drawn_bias.table(data)
    assert "| cp | 0.1 | 1.07 (1.01–1.09) | 0.98 |" in text
    assert "| mtt | 0.02 | refused: rate 0.02 < rank 1 | |" in text
    assert "| tt | 0.1 | 1.00 | 1.02 | 0.99 | 1.03 |" in text
    assert "1 of 6 cells above 1.05: linear cp 0.1 fwd+bwd 1.07" in text
