"""from_dense: decompositions with tensorly reproduce the pretrained layer, or refuse clearly."""

import pytest
import tensorly  # noqa: E402,F401 - an extra (tnviz[tensorly]); CI installs it
import torch
from shared_helpers import checked_error, quiet
from torch import nn

from tnviz import TnvizError
from tnviz.nn import from_dense

D = torch.float64
FULL = {  # ranks at which each format represents any 8→16, 3×3 kernel exactly
    "dense": None,
    "svd": {"r": 16},
    "tk": {"p": 8, "q": 16},
    "tt": {"r1": 8, "r2": 24, "r3": 16},
    "tr": 24,  # falls back to TT-SVD embedded in the ring where TR-SVD cannot split
    "mtk": {"p1": 4, "p2": 2, "q1": 4, "q2": 4},
    "mtt": 48,
    "mtr": 48,
}


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_rank_reproduces_the_dense_conv(name):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, padding=1, stride=(2, 1), dtype=D)
    kw = {} if FULL[name] is None else {"rank": FULL[name]}
    layer = quiet(from_dense, conv, format=name, order=2, **kw)
    x = torch.randn(2, 8, 9, 7, dtype=D)
    want = conv(x)
    assert checked_error(layer, conv) < 1e-10
    assert ((layer(x) - want).norm() / want.norm()) < 1e-4
    assert layer.stride == (2, 1) and torch.equal(layer.bias, conv.bias)


@pytest.mark.parametrize("name,rank", [("cp", 80), ("mcp", 40)])
def test_cp_at_high_rank_fits_closely(name, rank):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, dtype=D)
    layer = quiet(from_dense, conv, format=name, rank=rank, order=2, n_iter_max=500)
    assert checked_error(layer, conv) < 1e-2


def test_diverging_cp_falls_back_to_a_lower_rank_not_nan():
    # CP-ALS diverges (NaN) for mCP at rank 80 on this 16×4×9 tensor; rank 40 fits exactly.
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, dtype=D)
    layer = quiet(from_dense, conv, format="mcp", rank=80, order=2, n_iter_max=500)
    assert all(torch.isfinite(p).all() for p in layer.parameters())
    assert checked_error(layer, conv) < 1e-6


def test_edge_cases_found_in_review():
    # A vector (Linear mCP of one factor), a rank above a mode's size, a one-core ring.
    vector = nn.Linear(4, 4)  # float32: the probe's own rounding is about 1e-7
    assert checked_error(quiet(from_dense, vector, format="mcp", order=1, rank=1), vector, abs_tol=1e-6) < 1e-6
    conv1d = nn.Conv1d(3, 1, 1, dtype=D)
    assert checked_error(quiet(from_dense, conv1d, format="cp", rank=2), conv1d) < 1e-6
    lin = nn.Linear(3, 7, dtype=D)
    assert checked_error(quiet(from_dense, lin, format="cp", rank=4), lin) < 1e-3
    with pytest.raises(TnvizError, match="one-core ring"):
        from_dense(nn.Linear(6, 4), format="mtr", rank=2, order=1)
    with pytest.raises(TnvizError, match="has no ranks"):
        from_dense(nn.Linear(6, 4), format="dense", rate=0.1)


def test_error_falls_with_rank_and_groups_are_kept():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, padding=1, groups=2, dtype=D)
    errors = [checked_error(quiet(from_dense, conv, format="tk", rank=r), conv) for r in (1, 2, 4)]
    assert errors[0] > errors[1] > errors[2]
    layer = quiet(from_dense, conv, format="mtt", rank=48, order=2)
    assert checked_error(layer, conv) < 1e-10
    x = torch.randn(1, 8, 6, 6, dtype=D)
    assert layer.groups == 2 and torch.allclose(layer(x), conv(x), atol=1e-8)


def test_linear():
    torch.manual_seed(0)
    lin = nn.Linear(12, 6, dtype=D)
    layer = quiet(from_dense, lin, format="mtt", rank=12, order=2)
    assert checked_error(layer, lin) < 1e-10
    x = torch.randn(3, 12, dtype=D)
    assert torch.allclose(layer(x), lin(x), atol=1e-8)


def test_refusals_are_clear(monkeypatch):
    conv = nn.Conv2d(8, 8, 3)
    with pytest.raises(TnvizError, match="Tucker rank p1=9 exceeds"):
        from_dense(conv, format="mtk", rank=9, order=2)
    with pytest.raises(TnvizError, match="nn.Linear or nn.Conv"):
        from_dense(nn.ReLU(), format="cp", rank=2)
    # CP-ALS's MTTKRP of a 1024→1024 3×3 kernel at rank 3000: (weight / 1024) × 3000 entries
    # twice, beside 3 copies of the weight, about 0.63 GiB: over a limit of 0.5 GiB
    monkeypatch.setattr("tnviz.nn.decompose.MEMORY_LIMIT_BYTES", 2**29)
    big = nn.Conv2d(1024, 1024, 3, bias=False)
    with pytest.raises(TnvizError, match=r"needs about 0\.6 GiB; the limit is 0\.5 GiB"):
        from_dense(big, format="cp", rank=3000)
