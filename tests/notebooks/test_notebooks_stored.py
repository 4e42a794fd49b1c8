"""The notebooks are stored reviewable: each .ipynb is paired with a jupytext .py in
notebooks/scripts/ (so that JupyterLab's file browser lists each notebook once) and holds no
outputs. (.ci/run executes them all headlessly, in the environment made from binder/.)"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_nine_notebooks_listed_once_each():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"]
    assert not list(NOTEBOOKS[0].parent.glob("*.py")), "the paired scripts belong in notebooks/scripts/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_paired(path):
    jupytext = pytest.importorskip("jupytext")
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, "outputs must be stripped"
    first = "".join(nb["cells"][0]["source"])
    assert "You will learn" in first, "each notebook states what the reader will learn"
    assert json.loads(path.read_text())["metadata"]["jupytext"]["formats"] == "ipynb,scripts//py:percent"
    paired = path.parent / "scripts" / f"{path.stem}.py"
    assert paired.exists()
    from_py = jupytext.read(paired)
    assert [c.source for c in from_py.cells] == ["".join(c["source"]) for c in nb["cells"]], "run jupytext --sync"
