"""One check of inputs= (tnviz.core.inputs.checked_inputs) wherever a user names input tensors."""

import pytest
import torch

import tnviz
from tnviz.errors import TnvizError
from tnviz.render.code import to_torch_source
from tnviz.render.layout import layout

# single-letter names beside a longer one: a bare "X1" read as letters would name X and 1
SPEC = "X1: i j, W: j k, X: k l -> i l"
SIZES = {"i": 2, "j": 3, "k": 4, "l": 5}


def _diagram():
    return tnviz.Diagram.parse(SPEC, sizes=SIZES)


def test_a_bare_name_is_one_input_everywhere():
    d = _diagram()
    assert d.plan(inputs="X1") is d.plan(inputs=("X1",))  # one cache entry
    assert d.plan(inputs="X1").inputs == ("X1",)
    assert layout(d, inputs="X1").positions.keys() == {"X1", "W", "X"}
    fig = d.draw(inputs="X1")
    assert fig is not None
    network = tnviz.TensorNetwork(d, inputs="X1")
    assert network.inputs == ("X1",) and set(network.weights) == {"W", "X"}
    assert "def forward(self, X1)" in to_torch_source(d, inputs="X1")
    x = torch.randn(2, 3)
    assert torch.allclose(network(x), torch.einsum("ij,jk,kl->il", x, network.weights["W"], network.weights["X"]))


@pytest.mark.parametrize(
    "inputs, message, token",
    [
        (("X1", "Q"), "inputs names 'Q', which is not a tensor of the diagram; expected one of X1, W, X", "Q"),
        (("X1", "X1"), "inputs names 'X1' twice", "X1"),
        (3, "inputs must be a tuple of tensor names", "inputs"),
        (("X1", 2), "inputs must be a tuple of tensor names", "inputs"),
    ],
)
def test_bad_inputs_are_refused_alike_by_each_entry_point(inputs, message, token):
    d = _diagram()
    calls = {
        "plan": lambda: d.plan(inputs=inputs),
        "layout": lambda: layout(d, inputs=inputs),
        "TensorNetwork": lambda: tnviz.TensorNetwork(d, inputs=inputs),
        "to_torch_source": lambda: to_torch_source(d, inputs=inputs),
    }
    for where, call in calls.items():
        with pytest.raises(TnvizError) as info:
            call()
        assert message in info.value.message and info.value.token == token, where
    with pytest.raises(TnvizError) as info:
        tnviz.TensorNetwork(d, inputs=inputs)
    assert info.value.spec == d.to_spec()  # the module names the diagram it was given


def test_a_negative_length_is_refused_by_its_index():
    d = tnviz.Diagram.parse("X: i j, W: j k -> i k")
    with pytest.raises(TnvizError) as info:
        d.bind(shapes={"W": (-1, 4)})
    assert info.value.token == "j" and "non-negative" in info.value.message
    with pytest.raises(TnvizError, match="shape of tensor 'W' must be a tuple of ints") as info:
        d.bind(shapes={"W": (3.5, 4)})
    assert info.value.token == "W"
