import pytest

from tnviz import Diagram, TnvizError
from tnviz.core.spec import format_spec, parse_spec


def test_named_and_compact_forms_agree():
    named = parse_spec("A: b s x y, B: t s x y -> b t x y | x y")
    compact = parse_spec("bsxy,tsxy->btxy|xy")
    assert named == compact
    assert format_spec(compact) == "bsxy,tsxy->btxy|xy"
    assert format_spec(compact, compact=False) == "A: b s x y, B: t s x y -> b t x y | x y"


def test_groups_are_row_major_modes():
    spec = parse_spec("X: b (s1 s2 s3) x y, A1: r s1 t1 -> b (t1) x y")
    assert spec.operands[0].modes == (("b",), ("s1", "s2", "s3"), ("x",), ("y",))
    assert spec.operands[0].indices == ("b", "s1", "s2", "s3", "x", "y")
    assert parse_spec("b(st)xy,stu->bu").operands[0].modes == (("b",), ("s", "t"), ("x",), ("y",))


def test_default_names_skip_taken_ones():
    spec = parse_spec("ij, B: jk, kl -> il")
    assert [op.name for op in spec.operands] == ["A", "B", "C"]
    spec = parse_spec("A: ij, jk -> ik")
    assert [op.name for op in spec.operands] == ["A", "B"]


def test_implicit_output_is_numpy_style():
    assert parse_spec("ij,jk").output.indices == ("i", "k")
    assert parse_spec("ba").output.indices == ("a", "b")


def test_named_scalar_and_named_output():
    spec = parse_spec("c:, X: i -> Y: i")
    assert spec.operands[0].modes == ()
    assert spec.output.name == "Y"
    assert format_spec(spec) == "c:, X: i -> Y: i"


@pytest.mark.parametrize(
    "text",
    [
        "X: b s x y, K: t s x y -> b t x y | x y",
        "bsxy,tsxy->btxy|xy",
        "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y",
        "ij,jk->ik",
        "i->",
        "b(gs)xy,gtsxy->b(gt)xy|xy",
        "Input: batch chan, Weight: out chan -> Y: batch out",
    ],
)
def test_print_parse_round_trip(text):
    spec = parse_spec(text)
    assert parse_spec(format_spec(spec)) == spec
    assert parse_spec(format_spec(spec, compact=False)) == spec
    assert Diagram.parse(Diagram.parse(text).to_spec()) == Diagram.parse(text)


def test_compact_refused_for_long_names():
    with pytest.raises(TnvizError, match="compact"):
        format_spec(parse_spec("X: s1 s2 -> s1"), compact=True)
