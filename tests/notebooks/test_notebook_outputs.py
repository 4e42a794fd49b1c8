"""No raw reprs in what the notebooks show: a ``<torch._C.Generator at 0x…>`` after a bare
``torch.manual_seed(0)``, a ``(<Figure …>, <Axes: >)`` tuple, a dataclass dumped whole.

Executing the notebooks is too slow for the suite, so it checks their code (check_outputs.py's
source checks) and that the output checks flag what they should; run check_outputs.py on
executed copies of the notebooks for the outputs themselves (its docstring says how).
"""

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NOTEBOOKS = sorted((HERE.parents[1] / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("check_outputs", HERE / "check_outputs.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def _nb(*cells):
    return {"cells": [{"cell_type": "code", "source": source, "outputs": outputs} for source, outputs in cells]}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_ends_in_a_raw_repr(path):
    assert check.source_problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ntorch.manual_seed(0)",
        "torch.manual_seed(0)  # seed",
        "fig, ax = plt.subplots()\nax.plot([1, 2])",
        "plt.subplots()",
        "ax.set_title('x')",
        "tnviz.distill(teacher, None, train, test)",
        "tnviz.compress(model, format='tt', rate=0.1)",
        "fig = d.draw()\nplt.show()\nfig",
    ],
)
def test_source_check_flags(source):
    assert len(check.source_problems(_nb((source, [])))) == 1


@pytest.mark.parametrize(
    "source",
    [
        "torch.manual_seed(0);",
        "torch.manual_seed(0);  # the ; keeps the Generator out",
        "_ = torch.manual_seed(0)",
        "torch.manual_seed(0)\nx = 1",
        "d = gallery.fig4_cp()\nd",
        "d.draw(title='CP')",
        "print(result)",
        "for k in range(3):\n    ax.plot([k])",
        "%matplotlib inline",
    ],
)
def test_source_check_passes(source):
    assert check.source_problems(_nb((source, []))) == []


def _result(text, **more):
    return {"output_type": "execute_result", "data": {"text/plain": text, **more}}


@pytest.mark.parametrize(
    "output",
    [
        _result("<torch._C.Generator at 0x7f0d18011430>"),
        _result("(<Figure size 640x480 with 1 Axes>, <Axes: >)"),
        _result("[<matplotlib.lines.Line2D at 0x7f1>]"),
        _result("Text(0.5, 1.0, 'title')"),
        _result("np.float64(1.2e-07)"),
        _result("DistillResult(model=LeNet5(" + "x" * 500 + "))"),
        {"output_type": "stream", "name": "stderr", "text": "UserWarning: something\n"},
        {"output_type": "stream", "name": "stdout", "text": "line\n" * 100},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []},
    ],
)
def test_output_check_flags(output):
    assert len(check.output_problems(_nb(("x", [output])))) == 1


@pytest.mark.parametrize(
    "output",
    [
        _result("Diagram('ij,jk->ik')", **{"image/svg+xml": "<svg/>"}),
        _result("<tnviz.render.mpl.DiagramFigure at 0x7f>", **{"image/png": "iVBOR"}),
        _result("RankExplorer(children=(…))", **{"application/vnd.jupyter.widget-view+json": {}}),
        _result("CompressionReport(" + "x" * 500 + ")", **{"text/html": "<table/>"}),
        _result("0.9670"),
        {"output_type": "stream", "name": "stdout", "text": "teacher test accuracy: 0.9670\n"},
    ],
)
def test_output_check_passes(output):
    assert check.output_problems(_nb(("x", [output]))) == []
