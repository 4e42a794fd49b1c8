"""Code in from einsum: an equation, or the call a user has (numpy, torch, opt_einsum with its
path), read into a Diagram whose plan can follow that path."""

import pytest

from tnviz import Diagram, TnvizError, from_einsum


def test_a_bare_equation_takes_default_names():
    d = from_einsum("ab,bc->ac", (2, 3), (3, 4))
    assert d == Diagram.parse("ab,bc->ac", sizes={"a": 2, "b": 3, "c": 4})


@pytest.mark.parametrize(
    "source,spec,path",
    [
        (
            'opt_einsum.contract("ab,bc,cd->ad", A, B, C, optimize=[(1, 2), (0, 1)])',
            "A: a b, B: b c, C: c d -> a d",
            [(1, 2), (0, 1)],
        ),
        ('np.einsum("ij,jk", x, w)', "x: i j, w: j k -> i k", None),
        ('torch.einsum("ij,jk->ik", [x, w])', "x: i j, w: j k -> i k", None),  # torch's list form
        ('np.einsum("ij,jk->ik", A, A)', "A: i j, A_2: j k -> i k", None),  # one tensor twice
        ('np.einsum("ij,jk->ik", A.T, B)', "A: i j, B: j k -> i k", None),  # not a plain name: A, B, … not taken
        (
            'np.einsum("ab,bc,cd->ad", A, B, C, optimize=["einsum_path", (0, 1), (0, 1)])',
            "A: a b, B: b c, C: c d -> a d",
            [(0, 1), (0, 1)],
        ),  # numpy's einsum_path output
        ('oe.contract("ab,bc->ac", A, B, optimize="greedy")', "A: a b, B: b c -> a c", None),
    ],
)
def test_a_call_is_read_with_its_names_and_path(source, spec, path):
    d, got = from_einsum(source, with_path=True)
    assert d.to_spec(compact=False) == spec
    assert got == path


def test_code_out_reads_back_with_the_same_plan():
    d = Diagram.parse("A: i j, B: j k, C: k l, D: l i -> ", sizes={"i": 2, "j": 30, "k": 4, "l": 50})
    read, path = from_einsum(d.to_einsum(), *(d.shape(n) for n in d.tensor_names), with_path=True)
    assert read.tensor_names == d.tensor_names
    assert path == d.plan().path
    assert read.plan(optimize=path).flops == d.plan().flops


def test_opt_einsums_symbols_beyond_the_letters_are_read():
    d = from_einsum("aÀ,À×->a×", (2, 3), (3, 4))
    assert d.output_shape == (2, 4)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: from_einsum('np.einsum("ab,bc->ac", A, B, optimize=[(0, 2)])'), r"path step \(0, 2\)"),
        (lambda: from_einsum('np.einsum("ab,bc,cd->ad", A, B, C, optimize=[(0, 1)])'), "the path leaves 2 tensors"),
        (lambda: from_einsum("np.einsum(A, [0, 1], B, [1, 2])"), "interleaved form"),
        (lambda: from_einsum("np.einsum('ab,bc->ac', A, B"), "cannot read"),
        (lambda: from_einsum("ab,bc->ac", (2, 3)), "1 shapes for 2 operands"),
        (lambda: from_einsum("ab,bc->ac", names=["A"]), "1 tensor names for 2 operands"),
        (lambda: from_einsum("ab,bc->ac", names=["A", "1B"]), "'1B' is not an identifier"),
        (lambda: from_einsum("ab,b!->a"), "'!'"),
        (lambda: from_einsum(b"ab,bc->ac"), "as text"),
    ],
)
def test_bad_input_is_refused_by_name(call, match):
    with pytest.raises(TnvizError, match=match):
        call()


@pytest.mark.parametrize(
    "spec,sizes",
    [
        ("W: i j -> j i", {"i": 2, "j": 3}),  # one tensor: the path [(0,)]
        ("A: i j, B: j k, C: k (l m) -> i (l m)", {"i": 3, "j": 4, "k": 5, "l": 2, "m": 3}),  # reshapes
    ],
)
def test_what_to_einsum_writes_reads_back_and_plans_along_its_path(spec, sizes):
    d = Diagram.parse(spec, sizes=sizes)
    source = d.to_einsum()
    read, path = from_einsum(source, with_path=True)
    assert read.tensor_names == d.tensor_names and path == d.plan().path
    flat = d.plan().diagram
    read = read.bind(shapes={op.name: [flat.size(i, op.name) for i in op.indices] for op in flat.tensors})
    assert read.plan(optimize=path).flops == d.plan().flops


def test_a_named_spec_with_groups_is_an_equation_and_keeps_its_names():
    d = from_einsum("Left: (i j) k, Right: k -> i j")
    assert d.tensor_names == ("Left", "Right") and d.tensor("Left").modes == (("i", "j"), ("k",))


def test_a_name_the_spec_cannot_hold_is_replaced_or_refused():
    assert from_einsum("np.einsum('ij,jk', Ψ, B)").tensor_names == ("A", "B")  # not ASCII: a default name
    with pytest.raises(TnvizError, match="tensor name 1"):
        from_einsum("ab,bc->ac", names=[1, "Y"])
    with pytest.raises(TnvizError, match="shape of 'A' is 3"):
        from_einsum("ab,bc->ac", 3, 4)
