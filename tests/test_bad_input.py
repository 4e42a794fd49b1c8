"""A catalogue of bad input: each raises TnvizError naming the offending token."""

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from oracle import reference

import tnviz
from tnviz import Diagram, TnvizError

CONV = "bsxy,tsxy->btxy|xy"


def X(*shape):
    return torch.randn(*shape)


SPEC_ERRORS = [
    ("unknown character", "bs$y,ts->bt", "$"),
    ("unknown character in compact", "bs1,s->b", "1"),
    ("unbalanced (", "X: b (s1 s2 x, K: s1 -> b", "("),
    ("unbalanced )", "X: b s1) x -> b", ")"),
    ("nested (", "X: b ((s1 s2)) -> b", "("),
    ("empty group", "X: b () -> b", "()"),
    ("index twice in output", "ij,jk->iki", "i"),
    ("output index in no input", "ij,jk->iz", "z"),
    ("conv index twice in one operand", "bxx,tx->bx|x", "x"),
    ("two arrows", "ij->jk->k", "->"),
    ("two bars", "ij,jk->ik|j|k", "|"),
    ("bar before arrow", "ij,jk|j->ik", "|"),
    ("stray dash", "i-j,jk->ik", "-"),
    ("duplicate tensor name", "X: ij, X: jk -> ik", "X"),
    ("bad tensor name", "1X: ij, K: jk -> ik", "1X"),
    ("bad index name", "X: i j%, K: j k -> i k", "%"),
    ("operand without its name in a named spec", "A: i r, B j r, C: k r -> i j k", "B j r"),
    ("no operand", "| x", "|"),
    ("ellipsis twice in one operand", "...i...,i->i", "..."),
    ("ellipsis in a group", "X: (... i) j, K: j -> i", "..."),
    ("ellipsis in the output only", "ij,jk->...ik", "..."),
    ("conv index held by one operand", "bsxy,ts->bt|x", "x"),
    ("conv index in no operand", "bs,ts->bt|q", "q"),
    ("conv index listed twice", "bsx,tsx->btx|xx", "x"),
    ("conv index in a group", "X: b (s x), K: t s x -> b t x | x", "x"),
    ("too many conv indices", "X: b x y z w, K: x y z w -> b x y z w | x y z w", "w"),
    ("empty conv list", "bsx,tsx->btx|", "|"),
    ("misplaced colon", "X: i: j, K: j -> i", ":"),
    ("output name clashes", "X: i j, K: j -> X: i", "X"),
]


@pytest.mark.parametrize("what,spec,token", SPEC_ERRORS, ids=[e[0] for e in SPEC_ERRORS])
def test_spec_errors_name_the_token(what, spec, token):
    with pytest.raises(TnvizError) as info:
        Diagram.parse(spec)
    err = info.value
    # TnvizError subclasses ValueError, so pytest.raises(ValueError) or isinstance checks would
    # also pass a stray subclass: the error must be TnvizError itself.
    assert type(err) is TnvizError, (what, type(err))
    assert err.token == token, (what, err.token, str(err))
    assert token in str(err), (what, str(err))  # the message names the token
    assert spec.strip() == "" or spec in str(err)  # the spec is quoted
    if err.position is not None and token not in ("", "()", "..."):
        assert spec[err.position : err.position + len(token)] == token, (what, err.position)


CALL_ERRORS = [
    ("wrong number of tensors", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5)), "1"),
    ("tensor of wrong order", lambda: tnviz.einsum(CONV, X(1, 2, 5), X(3, 2, 3, 3)), "A"),
    ("non-tensor", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), [[1.0]]), "B"),
    ("sizes disagree", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 4, 3, 3)), "s"),
    ("group does not divide", lambda: tnviz.einsum("X: (a b) c, Y: b c -> a", X(10, 2), X(3, 2)), "(a b)"),
    ("group cannot be inferred", lambda: tnviz.einsum("X: (a b) c -> a b c", X(6, 2)), "a"),
    ("kernel larger than signal", lambda: tnviz.einsum(CONV, X(1, 2, 2, 2), X(3, 2, 3, 3)), "x"),
    ("fractional padding", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), padding=1.5), "1.5"),
    ("unknown padding word", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), padding="full"), "'full'"),
    (
        "padding tuple of wrong length",
        lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), padding=(1, 1, 1)),
        "(1, 1, 1)",
    ),
    ("same with stride", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), padding="same", stride=2), "same"),
    ("zero stride", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), stride=0), "0"),
    ("float dilation", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), dilation=1.5), "1.5"),
    (
        "bad padding mode",
        lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), padding=1, padding_mode="mirror"),
        "'mirror'",
    ),
    (
        "reflect padding too large",
        lambda: tnviz.einsum(CONV, X(1, 2, 3, 3), X(3, 2, 3, 3), padding=3, padding_mode="reflect"),
        "x",
    ),
    ("option for a non-conv index", lambda: tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 2, 3, 3), padding={"s": 1}), "s"),
    ("padding without conv", lambda: tnviz.einsum("ij,jk->ik", X(2, 3), X(3, 4), padding=1), "padding"),
    ("dtypes differ", lambda: tnviz.einsum("ij,jk->ik", X(2, 3), X(3, 4).double()), "B"),
    (
        "integer conv",
        lambda: tnviz.einsum(CONV, torch.ones(1, 2, 5, 5, dtype=torch.long), torch.ones(3, 2, 3, 3, dtype=torch.long)),
        "torch.int64",
    ),
    ("not a spec", lambda: tnviz.einsum(42, X(2)), "int"),
    ("unknown sizes key", lambda: Diagram.parse("ij,jk->ik", sizes={"q": 3}), "q"),
    ("negative size", lambda: Diagram.parse("ij,jk->ik", sizes={"i": -1}), "i"),
    ("zero-length convolution index", lambda: Diagram.parse("ax,bx->ab|x", sizes={"x": 0}), "x"),
    ("conv sizes per holder count", lambda: Diagram.parse(CONV, sizes={"x": (5, 3, 2)}), "x"),
    ("unknown option", lambda: Diagram.parse(CONV, padd=1), "padd"),
    ("plan with unbound sizes", lambda: Diagram.parse("ij,jk->ik").plan(), "i"),
    ("bad optimize", lambda: tnviz.einsum("ij,jk->ik", X(2, 3), X(3, 4), optimize="fast"), "'fast'"),
    ("JSON that is not JSON", lambda: Diagram.from_json("{not json"), "{not json"),
    (
        "JSON unknown field",
        lambda: Diagram.from_json('{"format": "tnviz.diagram", "version": 1, "evil": 1}'),
        "['evil']",
    ),
    ("TensorNetwork unknown input", lambda: tnviz.TensorNetwork("ij,jk->ik", inputs=("Q",)), "Q"),
    ("TensorNetwork unbound parameter", lambda: tnviz.TensorNetwork("X: b s, W: s t -> b t"), "s"),
]


@pytest.mark.parametrize("what,call,token", CALL_ERRORS, ids=[e[0] for e in CALL_ERRORS])
def test_call_errors_name_the_token(what, call, token):
    with pytest.raises(TnvizError) as info:
        call()
    err = info.value
    # Exactly TnvizError: isinstance(err, TnvizError) holds for any subclass (one also deriving
    # from KeyError or RuntimeError, say), and TnvizError itself is a ValueError.
    assert type(err) is TnvizError, (what, type(err).__mro__)
    assert err.token == token, (what, err.token, str(err))
    assert token in str(err), (what, str(err))  # the message names the token


# tnviz bug, reported: from_json's "bad JSON" message quotes the parser's complaint, not the text.
def test_einsum_errors_carry_spec_and_shapes():
    with pytest.raises(TnvizError) as info:
        tnviz.einsum(CONV, X(1, 2, 5, 5), X(3, 4, 3, 3))
    text = str(info.value)
    assert CONV in text and "(1, 2, 5, 5)" in text and "(3, 4, 3, 3)" in text


def test_catalogue_is_large():
    assert len(SPEC_ERRORS) + len(CALL_ERRORS) >= 25


@settings(max_examples=300)
@given(st.text(alphabet="abxyXK12_:,()|->. \t$", max_size=40))
def test_random_text_parses_or_raises_tnviz_error(text):
    try:
        d = Diagram.parse(text)
    except TnvizError:
        return
    assert Diagram.parse(d.to_spec()) == d


@settings(max_examples=200)
@given(
    st.sampled_from(
        ["bsxy,tsxy->btxy|xy", "ij,jk->ik", "b(gs)x,gtsx->b(gt)x|x", "X: b s x, K1: t s x, K2: t x -> b t x | x"]
    ),
    st.lists(st.lists(st.integers(0, 6), min_size=0, max_size=5), min_size=0, max_size=4),
    st.sampled_from([0, 1, 2, "same", -1, (1, 2)]),
    st.sampled_from([1, 2, 0]),
)
@example("ij,jk->ik", [[2, 3], [3, 4]], 0, 1)
@example("bsxy,tsxy->btxy|xy", [[1, 2, 5, 5], [3, 2, 3, 3]], 1, 2)
@example("bsxy,tsxy->btxy|xy", [[2, 1, 4, 6], [1, 1, 2, 3]], (1, 2), 1)
@example("b(gs)x,gtsx->b(gt)x|x", [[1, 4, 6], [2, 3, 2, 3]], "same", 1)
@example("X: b s x, K1: t s x, K2: t x -> b t x | x", [[1, 2, 6], [3, 2, 3], [3, 2]], 2, 2)
def test_random_shapes_and_options_run_or_raise_tnviz_error(spec, shapes, padding, stride):
    tensors = [torch.randn(tuple(s), dtype=torch.float64) for s in shapes]
    try:
        got = tnviz.einsum(spec, *tensors, padding=padding, stride=stride)
    except TnvizError as err:
        assert type(err) is TnvizError and err.message
        return
    # It ran: the result must be right, against the independent float64 reference (a tuple
    # option has one entry per convolution index, PyTorch style).
    conv = Diagram.parse(spec).conv
    per_index = dict(zip(conv, padding)) if isinstance(padding, tuple) else padding
    want = reference(spec, *tensors, padding=per_index, stride=stride)
    assert got.shape == want.shape, (spec, shapes, padding, stride)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-10), (spec, shapes, padding, stride)
