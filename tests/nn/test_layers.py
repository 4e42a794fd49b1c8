"""Tensorial layers: every format equals its dense weight, plans agree, gradients check."""

import pytest
import torch
import torch.nn.functional as F
from oracle import reference

from tnviz import TnvizError
from tnviz.core.formats import FORMATS
from tnviz.nn import TensorialConv1d, TensorialConv2d, TensorialConv3d, TensorialLinear
from tnviz.paper_layers import kernel_spec

D = torch.float64


def _kw(name):
    return {} if name == "dense" else {"rank": 2}


def _oracle_weight(layer):
    """The dense weight by the independent float64 reference (torch.einsum)."""
    spec = kernel_spec(layer.built.spec)
    return reference(spec, *[layer.weights[n] for n in layer.diagram.tensor_names[1:]])


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_conv2d_every_format_equals_its_dense_weight_and_strategies_agree(name):
    layer = TensorialConv2d(8, 6, 3, stride=(2, 1), padding=1, format=name, order=2, dtype=D, **_kw(name))
    x = torch.randn(2, 8, 9, 7, dtype=D)
    want = F.conv2d(x, _oracle_weight(layer), layer.bias, stride=(2, 1), padding=1)
    assert torch.allclose(layer(x), want, atol=1e-10)
    for optimize in ("reconstruct", "left-to-right"):
        twin = TensorialConv2d(
            8, 6, 3, stride=(2, 1), padding=1, format=name, order=2, dtype=D, optimize=optimize, **_kw(name)
        )
        twin.load_state_dict(layer.state_dict())
        assert torch.allclose(twin(x), want, atol=1e-10)
    assert torch.allclose(layer.dense_weight(), _oracle_weight(layer), atol=1e-12)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_linear_every_format_equals_its_dense_weight(name):
    layer = TensorialLinear(12, 8, format=name, order=2, dtype=D, **_kw(name))
    x = torch.randn(3, 5, 12, dtype=D)
    assert torch.allclose(layer(x), F.linear(x, _oracle_weight(layer), layer.bias), atol=1e-10)
    assert layer.plan(x).output_shape == (15, 8)  # leading dimensions flattened, as in forward
    assert layer(torch.randn(12, dtype=D)).shape == (8,)


@pytest.mark.parametrize(
    "cls,conv,shape", [(TensorialConv1d, F.conv1d, (2, 8, 11)), (TensorialConv3d, F.conv3d, (1, 8, 5, 6, 5))]
)
@pytest.mark.parametrize("name", ["cp", "tt", "mtr"])
def test_conv1d_and_conv3d(cls, conv, shape, name):
    layer = cls(8, 4, 3, padding=1, dilation=1, format=name, rank=2, order=2, dtype=D)
    x = torch.randn(*shape, dtype=D)
    assert torch.allclose(layer(x), conv(x, _oracle_weight(layer), layer.bias, padding=1), atol=1e-10)


@pytest.mark.parametrize("name", ["cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"])
def test_gradcheck(name):
    layer = TensorialConv2d(4, 4, 3, padding=1, format=name, rank=2, order=2, dtype=D)
    x = torch.randn(1, 4, 4, 4, dtype=D, requires_grad=True)
    # Gradients with respect to the input and to every factor, checked numerically.
    weights = [layer.weights[n].detach().clone().requires_grad_() for n in layer.diagram.tensor_names[1:]]
    from tnviz import einsum

    assert torch.autograd.gradcheck(lambda x, *w: einsum(layer.diagram, x, *w), (x, *weights))


def test_rate_ranks_extra_repr_and_init_variance():
    layer = TensorialConv2d(64, 64, 3, padding=1, format="mcp", rate=0.1)
    assert 0.085 <= layer.achieved_rate <= 0.1
    text = repr(layer)
    assert "format='mcp'" in text and "rate=0.1" in text and "padding=(1, 1)" in text and "stride" not in text
    torch.manual_seed(0)
    ratios = []
    for name in ("cp", "tk", "tt", "mcp", "mtt"):
        w = TensorialConv2d(64, 64, 3, format=name, rate=0.1).dense_weight()
        ratios.append(w.var().item() * 3 * 64 * 9)
    assert all(0.5 < r < 2.0 for r in ratios), ratios


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_groups_are_honoured(name):
    # One factorised layer per group: equals F.conv2d(groups=4) on the reconstructed weight.
    order = 1 if name in ("mcp", "mtk", "mtt", "mtr") else 3
    layer = TensorialConv2d(8, 12, 3, padding=1, groups=4, format=name, order=order, dtype=D, **_kw(name))
    x = torch.randn(2, 8, 6, 6, dtype=D)
    weight = _oracle_weight(layer)
    assert weight.shape == (12, 2, 3, 3)
    assert torch.allclose(layer(x), F.conv2d(x, weight, layer.bias, padding=1, groups=4), atol=1e-10)
    assert "groups=4" in repr(layer)


def test_bad_arguments_are_refused_not_changed():
    with pytest.raises(TnvizError, match="groups=3 must divide"):
        TensorialConv2d(8, 8, 3, groups=3, format="cp", rank=2)
    with pytest.raises(TnvizError, match="rank= or rate="):
        TensorialConv2d(8, 8, 3, format="cp", rank=2, rate=0.1)
    with pytest.raises(TnvizError, match="needs rank= or rate="):
        TensorialConv2d(8, 8, 3, format="cp")
    with pytest.raises(TnvizError, match="kernel_size"):
        TensorialConv2d(8, 8, (3, 3, 3), format="cp", rank=2)
    layer = TensorialConv2d(8, 8, 3, format="cp", rank=2)
    with pytest.raises(TnvizError, match="expected 4"):
        layer(torch.randn(8, 9, 9))


def test_training_from_scratch_learns():
    torch.manual_seed(0)
    layer = TensorialConv2d(8, 8, 3, padding=1, format="mtt", rank=3, order=2)
    target = torch.nn.Conv2d(8, 8, 3, padding=1)
    x = torch.randn(16, 8, 8, 8)
    opt = torch.optim.Adam(layer.parameters(), lr=0.02)
    first = None
    for _ in range(50):
        loss = F.mse_loss(layer(x), target(x).detach())
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


def test_cost_table_prices_every_format_and_rate():
    from html import escape

    from tnviz.nn import cost_table

    table = cost_table(64, 64, 3, rates=(0.05, 0.1), batch=8)
    assert {r.format for r in table.rows} == {"cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"}
    for row in table.rows:
        assert row.param_ratio <= row.target
        assert row.flops > 0 and row.flop_ratio > 0
    text = str(table)
    assert "params/dense" in text and "FLOPs/dense" in text and "r=27" in text
    # In a notebook (04's bare cost_table(...)): the aligned table, number columns right-aligned
    # under their headers.
    html = table._repr_html_()
    assert (
        html.startswith('<div class="tn-table-box"')
        and '<table class="tn-table"' in html
        and "<thead>" in html
        and escape(table._title()) in html
    )
    heads = [h.split(">")[0] for h in html.split("<th ")[1:]]
    assert ["text-align:right" in h for h in heads] == [False, True, False, True, True, True, True, False]


def test_torch_compile_fullgraph():
    layer = TensorialConv2d(8, 8, 3, padding=1, format="tt", rank=3)
    x = torch.randn(2, 8, 6, 6)
    want = layer(x)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    assert torch.allclose(compiled(x), want, atol=1e-6)
