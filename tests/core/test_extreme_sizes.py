"""Any size answers with a plan or the memory TnvizError, never an OverflowError; the compact
form takes opt_einsum's symbols beyond the 52 letters (issue 25, part 4)."""

import string

import opt_einsum
import pytest
import torch
from opt_einsum.testing import rand_equation

from tnviz import Diagram, TnvizError, einsum
from tnviz.execute.memory import check_plan_memory


def _scientific(n: int) -> str:
    digits = str(n)
    return f"{digits[0]}.{digits[1:3]}e{len(digits) - 1}"


def test_a_plan_on_26_indices_of_2_to_the_40_prints_its_exact_counts():
    letters = string.ascii_lowercase
    diagram = Diagram.parse(f"A: {' '.join(letters[:13])}, B: {' '.join(letters[13:])} -> {' '.join(letters)}")
    plan = diagram.plan(dict.fromkeys(letters, 2**40))  # the "time" objective: beyond float's range
    assert plan.flops == 2 ** (40 * 26)  # one outer product, counted exactly
    text = str(plan)
    assert f"FLOPs:                {_scientific(2**1040)}\n" in text
    with pytest.raises(TnvizError, match=r"about 2\^1041 bytes for its intermediates"):
        check_plan_memory(plan, itemsize=2)


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_einsum_on_204_vectors_with_a_four_index_output_refuses_by_memory():
    """2,048⁴ output elements (64 TiB of float32): the memory check's TnvizError, with its estimate."""
    vectors = [torch.ones(2048) for _ in range(204)]
    spec = ",".join("abcd"[k % 4] for k in range(204)) + "->abcd"
    with pytest.raises(TnvizError, match="memory budget"):
        einsum(spec, *vectors)


@pytest.mark.parametrize(
    "symbol", ["À", "×", opt_einsum.get_symbol(60), opt_einsum.get_symbol(2771), opt_einsum.get_symbol(8063)]
)
def test_the_compact_form_takes_opt_einsums_symbols(symbol):
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    spec = f"i{symbol},{symbol}k->ik"
    assert Diagram.parse(spec).to_spec() == spec
    torch.testing.assert_close(einsum(spec, a, b), a @ b)


@pytest.mark.parametrize(("bad", "message"), [("i1,1k->ik", "compact form takes one letter"), ("i$,$k->ik", r"'\$'")])
def test_the_compact_form_still_refuses_ascii_digits_and_punctuation(bad, message):
    with pytest.raises(TnvizError, match=message):
        Diagram.parse(bad)


@pytest.mark.slow
def test_a_random_network_of_3000_tensors_gets_a_plan_by_the_default_objective():
    equation, shapes, sizes = rand_equation(3000, 3, seed=1, return_size_dict=True)
    plan = Diagram.parse(equation).plan(sizes)
    assert plan.flops > 0 and len(plan.steps) >= 2999
