"""tnviz never depends on or changes global state: its decompositions give the same factors
whatever tensorly backend the process has set (tensorly-torch sets the pytorch one when it is
imported), and leave that backend as they found it."""

import subprocess
import sys

import numpy as np
import pytest
import tensorly
import torch
from torch import nn

import tnviz
from tnviz.core.formats import FORMATS
from tnviz.nn import from_dense
from tnviz.widgets.decomposition_explorer import decompose

NAMES = sorted(n for n in FORMATS if n != "dense")


@pytest.fixture
def pytorch_backend():
    before = tensorly.get_backend()
    tensorly.set_backend("pytorch")
    yield
    tensorly.set_backend(before)


def _factors(module, name):
    layer = from_dense(module, format=name, rate=0.3, **({"order": 2} if name.startswith("m") else {}))
    return {k: v.detach().clone() for k, v in layer.state_dict().items()}, layer.reconstruction_error


@pytest.mark.parametrize("name", NAMES)
def test_decompositions_are_the_same_under_the_pytorch_backend(name, pytorch_backend):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3)
    tensorly.set_backend("numpy")
    want, want_error = _factors(conv, name)
    tensorly.set_backend("pytorch")
    got, error = _factors(conv, name)
    assert tensorly.get_backend() == "pytorch"  # left as it was found
    # CP runs tensorly's einsum MTTKRP inside; the tensor-algebra backend is left as found too
    assert tensorly.tenalg.get_backend() == "core"
    assert error == want_error
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_compress_and_the_decomposition_explorer_under_the_pytorch_backend(pytorch_backend):
    from tnviz.compression import LeNet5

    torch.manual_seed(0)
    student, report = tnviz.compress(LeNet5(), format="tk", rate=0.2)
    assert all(r.error is None or r.error < 1 for r in report.layers)
    approx, params = decompose(np.random.default_rng(0).random((8, 8, 3)), "cp", 2)
    assert approx.shape == (8, 8, 3) and params > 0
    assert tensorly.get_backend() == "pytorch"


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_importing_tnviz_changes_no_backend():
    code = (
        "import tensorly; tensorly.set_backend('pytorch'); import tnviz, tnviz.nn, tnviz.compression, tnviz.widgets; "
        "print(tensorly.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "pytorch"
