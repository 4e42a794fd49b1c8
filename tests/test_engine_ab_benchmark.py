"""benchmarks/engine_ab.py: the old engine's package renamed so it imports beside tnviz, and the
table it writes (no timing here: that is the benchmark's own run)."""

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import engine_ab  # noqa: E402
from fake_results import fake_provenance  # noqa: E402


def test_every_reference_to_the_package_is_renamed_and_no_other_name():
    source = "\n".join(
        [
            "import tnviz",
            "import tnviz.core.plan",
            "from tnviz import TnvizError",
            "from tnviz.nn.layers import TensorialLinear",
            "    from tnviz.execute import program  # inside a function",
            '_LAZY = {"einsum": "tnviz.execute.einsum"}',
            'module = importlib.import_module(f"tnviz.{name}")',
            "x = tnviz.TensorNetwork",
            'JSON = "tnviz.diagram"',
            'title = "tnviz-diagram"',
            "import tnvizextra",
            "from mytnviz.core import y",
            'path = "docs/tnviz.md"',
        ]
    )
    assert engine_ab.renamed_source(source, "old").splitlines() == [
        "import old",
        "import old.core.plan",
        "from old import TnvizError",
        "from old.nn.layers import TensorialLinear",
        "    from old.execute import program  # inside a function",
        '_LAZY = {"einsum": "old.execute.einsum"}',
        'module = importlib.import_module(f"old.{name}")',
        "x = old.TensorNetwork",
        'JSON = "old.diagram"',  # a dotted name in a string is renamed too (harmless)
        'title = "tnviz-diagram"',
        "import tnvizextra",
        "from mytnviz.core import y",
        'path = "docs/tnviz.md"',
    ]


def test_a_renamed_package_imports_beside_the_real_one_and_uses_only_itself(tmp_path, monkeypatch):
    package = tmp_path / "src" / "tnviz"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(
        'import importlib\nNAME = "real"\n\n\ndef load_sub():\n    return importlib.import_module("tnviz.sub")\n'
    )
    (package / "sub" / "__init__.py").write_text("from tnviz import NAME\nWHO = NAME\n")
    out = tmp_path / "out" / "renamed_pkg"
    for path in package.rglob("*.py"):
        target = out / path.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(engine_ab.renamed_source(path.read_text(), "renamed_pkg"))
    monkeypatch.syspath_prepend(str(tmp_path / "out"))
    renamed = importlib.import_module("renamed_pkg")
    assert renamed.load_sub().__name__ == "renamed_pkg.sub"
    assert renamed.load_sub().WHO == "real"
    assert renamed.load_sub().__file__.startswith(str(tmp_path / "out"))


def test_a_name_left_unrenamed_in_code_is_found_and_one_in_a_string_or_comment_is_not():
    text = 'import tnviz_before\nx = tnviz.nn  # tnviz\ny = "tnviz"\n'
    assert engine_ab.leftover_references(text) == ["line 2: x = tnviz.nn  # tnviz"]
    assert engine_ab.leftover_references(engine_ab.renamed_source("import tnviz\nx = tnviz.nn\n")) == []


def test_each_side_of_a_pair_runs_first_in_half_the_rounds():
    from timing import rounds_for

    assert [engine_ab.rounds(r) for r in (1, 2, 3, 5)] == [4, 6, 10, 16]
    assert [rounds_for(r, 3) for r in (1, 3, 4, 5)] == [3, 3, 6, 6]


def _results() -> dict:
    def spread(m, a, b):
        return {"median": m, "q25": a, "q75": b, "n": 3}

    return {
        "provenance": fake_provenance("engine_ab.py", {"repeats": 3, "processes": 3}),
        "results": {
            "allocator": "system",
            "linear": {
                "cp 0.1": {
                    "ranks": "r=51",
                    "same_ranks": True,
                    "same_weights": True,
                    "train": spread(1.08, 1.06, 1.1),
                    "infer": spread(0.9, 0.85, 0.95),
                },
                "cp 0.02": {"refused": "rank 0"},
            },
            "conv": {
                "tt 0.1": {
                    "ranks": "r1=4",
                    "same_ranks": True,
                    "same_weights": False,
                    "train": spread(1.07, 1.0, 1.2),
                    "infer": spread(1.0, 0.9, 1.1),
                    "train_cl": spread(0.7, 0.6, 0.8),
                    "infer_cl": spread(1.0, 0.95, 1.04),
                }
            },
        },
    }


def test_the_table_counts_slower_cells_and_those_surely_slower():
    text = engine_ab.table(_results())
    assert text.startswith(
        "Over all 6 cells: geometric mean 0.948, median 1.000; more than 5 % faster: 2, within 5 %: 2.\n\n"
        "2 of 6 cells have a median more than 5 % slower than before: linear cp 0.1 fwd+bwd 1.080 (1.060–1.100), "
        "conv tt 0.1 fwd+bwd 1.070 (1.000–1.200); 1 of them with the whole interquartile range above 1.05: "
        "linear cp 0.1 fwd+bwd 1.080 (1.060–1.100)."
    )
    assert "Not the same ranks or weights in both engines: conv tt 0.1." in text
    assert "| cp | 0.02 | refused | — | — |" in text
    assert "| tt | 0.1 | r1=4 | 1.07 (1.00–1.20) | 1.00 (0.90–1.10) | 0.70 (0.60–0.80) | 1.00 (0.95–1.04) |" in text
