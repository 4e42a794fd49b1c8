import pytest

from tnviz import Diagram
from tnviz.errors import TnvizError

CONV = "X: b s x y, K: t s x y -> b t x y | x y"
MCP = "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y"


def test_every_role():
    d = Diagram.parse("X: b s x y u, A: r s, B: r t, C: b w, K: x q -> b t x y q | x")
    assert d.roles == {
        "b": "batch",
        "s": "contraction",
        "x": "convolution",
        "y": "free",
        "u": "summed",
        "r": "contraction",
        "t": "free",
        "w": "summed",
        "q": "free",
    }
    assert Diagram.parse("ir,jr,kr->ijk").roles["r"] == "hyperedge"


def test_index_objects_carry_holders_and_sizes():
    d = Diagram.parse(CONV, sizes={"X": (2, 3, 8, 8), "K": (4, 3, 3, 3)}, padding=1)
    x = {i.name: i for i in d.indices}["x"]
    assert x.role == "convolution" and x.holders == ("X", "K") and x.sizes == {"X": 8, "K": 3}
    assert x.size == 8 and x.in_output
    assert d.output_shape == (2, 4, 8, 8)


def test_group_sizes_are_inferred():
    d = Diagram.parse(
        MCP, sizes={"X": (2, 64, 8, 8), "A1": (5, 4, 4), "A2": (5, 4, 4), "A3": (5, 4, 2), "C": (5, 3, 3)}
    )
    assert d.sizes["s3"] == 4 and d.is_bound
    assert d.output_shape == (2, 32, 6, 6)
    d = Diagram.parse("X: (a b) c -> a b c", sizes={"a": 3, "X": (12, 2)})
    assert d.size("b") == 4


def test_conv_sizes_per_holder_and_strided_output():
    d = Diagram.parse(CONV, sizes={"b": 1, "s": 2, "t": 3, "x": (10, 3), "y": (9, 2)}, stride=2, padding=(1, 0))
    assert d.output_shape == (1, 3, 5, 4)
    assert d.shape("K") == (3, 2, 3, 2)


def test_options_forms():
    d = Diagram.parse(CONV, padding={"x": (1, 2), "y": "same"}, stride=(2, 1), dilation=2, padding_mode="circular")
    assert d.options["x"].padding == (1, 2) and d.options["y"].padding == "same"
    assert d.options["x"].stride == 2 and d.options["y"].dilation == 2
    assert d.with_options(stride=1).options["x"].stride == 1


def test_json_round_trip_keeps_everything():
    d = Diagram.parse(
        MCP,
        sizes={"X": (2, 64, 8, 8), "A1": (5, 4, 4), "A2": (5, 4, 4), "A3": (5, 4, 2), "C": (5, 3, 3)},
        padding=1,
        stride={"x": 2},
    )
    again = Diagram.from_json(d.to_json(indent=2))
    assert again == d and hash(again) == hash(d)
    assert again.output_shape == d.output_shape


def test_repr_shows_spec_and_non_default_options():
    d = Diagram.parse(CONV, padding=1)
    assert "padding=(1, 1)" in repr(d) and CONV in repr(d)


def test_malicious_json_is_refused_with_clear_errors():
    import json

    from tnviz.core.serialize import MAX_TENSORS

    good = Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4}).to_json()
    data = json.loads(good)
    cases = {
        "nested deeper": "[" * 50_000 + "]" * 50_000,
        r"at most 2\*\*40": good.replace('"i": 2', '"i": 100000000000000000000'),
        "characters; at most": " " * 1_000_001,
        "unknown field": json.dumps({**data, "__class__": "os.system"}),
        "tensors; at most": json.dumps(
            {**data, "tensors": [{"name": f"T{k}", "modes": [["i"]]} for k in range(MAX_TENSORS + 1)]}
        ),
        "expected JSON text": None,
    }
    for message, text in cases.items():
        with pytest.raises(TnvizError, match=message):
            Diagram.from_json(text)
    assert Diagram.from_json(good).to_json() == good
