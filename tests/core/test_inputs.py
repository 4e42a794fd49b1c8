"""One check of inputs= (tnviz.core.inputs.checked_inputs) wherever a user names input tensors."""

import pytest
import torch

import tnviz
from tnviz.errors import TnvizError
from tnviz.execute.traced_source import to_traced_torch_source
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
    assert d.plan(inputs=()).inputs == ("X",)  # () is the default here, as None
    as_layer = layout(d, inputs="X1")
    assert as_layer.kind == "layer" and as_layer.positions == layout(d, inputs=("X1",)).positions
    assert as_layer.positions != layout(d, inputs=("X",)).positions  # a different input, a different picture
    assert d.to_tikz(inputs="X1") == d.to_tikz(inputs=("X1",)) != d.to_tikz(inputs=("X",))  # the scene's path
    network = tnviz.TensorNetwork(d, inputs="X1")
    assert network.inputs == ("X1",) and set(network.weights) == {"W", "X"}
    assert "def forward(self, X1)" in to_torch_source(d, inputs="X1")
    assert "def forward(self, X)" in to_torch_source(d, inputs=())  # () is the default here too
    x = torch.randn(2, 3)
    assert torch.allclose(network(x), torch.einsum("ij,jk,kl->il", x, network.weights["W"], network.weights["X"]))


@pytest.mark.parametrize(
    "inputs, message, token",
    [
        (("X1", "Q"), "inputs names 'Q', which is not a tensor of the diagram; expected one of X1, W, X", "Q"),
        (("X1", "X1"), "inputs names 'X1' twice", "X1"),
        (3, "inputs must be a tuple of tensor names", "inputs"),
        (("X1", 2), "inputs must be a tuple of tensor names", "inputs"),
        (0, "inputs must be a tuple of tensor names", "inputs"),  # falsy, still not names
        ("", "inputs names '', which is not a tensor", ""),
    ],
)
def test_bad_inputs_are_refused_alike_by_each_entry_point(inputs, message, token):
    d = _diagram()
    calls = {
        "plan": lambda: d.plan(inputs=inputs),
        "layout": lambda: layout(d, inputs=inputs),
        "TensorNetwork": lambda: tnviz.TensorNetwork(d, inputs=inputs),
        "to_torch_source": lambda: to_torch_source(d, inputs=inputs),
        "to_traced_torch_source": lambda: to_traced_torch_source(d, inputs=inputs),
        "draw": lambda: d.to_tikz(inputs=inputs),
    }
    for where, call in calls.items():
        with pytest.raises(TnvizError) as info:
            call()
        assert message in info.value.message and info.value.token == token, where
    with pytest.raises(TnvizError) as info:
        tnviz.TensorNetwork(d, inputs=inputs)
    assert info.value.spec == d.to_spec()  # the module names the diagram it was given


def test_a_negative_or_fractional_length_is_refused_by_its_tensor_everywhere():
    d = tnviz.Diagram.parse("X: i j, W: j k -> i k")
    ellipsis = tnviz.Diagram.parse("X: ... i, W: i j -> ... j")
    pending = tnviz.Diagram.parse("X: b s x, K: t s x -> b t x | x").grad("X")
    calls = {  # (the tensor whose shape is given, how)
        "bind": ("W", lambda shape: d.bind(shapes={"W": shape})),
        "ellipsis": ("W", lambda shape: ellipsis.bind(shapes={"W": shape, "X": (2, 3)})),
        "pending gradient": ("K", lambda shape: pending.bind(shapes={"K": shape, "G": (2, 4, 5)})),
    }
    for where, (name, call) in calls.items():
        for shape in [(-1, 3, 2), (3.5, 3, 2)]:
            with pytest.raises(
                TnvizError, match=f"shape of tensor '{name}' must be a tuple of non-negative ints"
            ) as info:
                call(shape)
            assert info.value.token == name, where
    assert pending.bind(shapes={"K": (4, 3, 2), "G": (2, 4, 5)}).is_bound  # the same call with a good shape
