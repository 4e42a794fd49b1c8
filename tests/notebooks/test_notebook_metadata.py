"""Each notebook names its kernel, so JupyterLab opens it without a "Select Kernel" dialog, and the
kernelspec lives in the paired .py's header so that ``jupytext --sync`` keeps it."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_its_kernel(path):
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata.get("kernelspec", {}).get("name") == "python3", "no python3 kernelspec: Lab would ask"
    assert metadata["kernelspec"] == KERNELSPEC
    assert metadata.get("language_info", {}).get("name") == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_paired_script_keeps_the_kernelspec(path):
    jupytext = pytest.importorskip("jupytext")
    metadata = jupytext.read(path.parent / "scripts" / f"{path.stem}.py").metadata
    assert metadata.get("kernelspec") == KERNELSPEC, "put the kernelspec in the .py header"
    assert metadata.get("language_info", {}).get("name") == "python"
