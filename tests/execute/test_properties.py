"""Property tests: random specs mixing every role, tnviz against the float64 reference."""

import pytest
import torch
from fuzzing import bounded, random_problems
from hypothesis import given
from oracle import check_problem, reference

import tnviz


# Each example under a time limit (fuzzing.bounded): a hang fails the example, not the CI run.
@pytest.mark.slow  # seconds: the fast loop leaves it to CI
@given(random_problems())
@bounded(30)
def test_random_specs_match_reference(problem):
    check_problem(problem)


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
@given(random_problems())
@bounded(30)
def test_spec_and_json_round_trip(problem):
    spec, shapes, sizes, options, _, _ = problem
    d = tnviz.Diagram.parse(spec, sizes=sizes, **options)
    again = tnviz.Diagram.parse(d.to_spec(), sizes=sizes, **options)
    assert again == d
    assert tnviz.Diagram.from_json(d.to_json()) == d
    bound = d.bind(shapes=dict(zip(d.tensor_names, shapes)))
    assert tnviz.Diagram.from_json(bound.to_json()) == bound


def test_regression_greedy_dead_end_falls_back_to_a_legal_order():
    # Found by a 3000-example run: greedy merged T0 with T2 first, after which only a step
    # correlating signals on both sides remained. Greedy now falls back to left-to-right.
    spec = "T0: a b, T1: a b c, T2: a b c -> b c | b c"
    tensors = [torch.randn(s, dtype=torch.float64) for s in [(1, 3), (1, 1, 3), (1, 1, 1)]]
    for optimize in ("greedy", "auto", "optimal", "left-to-right"):
        got = tnviz.einsum(spec, *tensors, padding="same", optimize=optimize)
        assert torch.allclose(got, reference(spec, *tensors, padding="same"), atol=1e-12)


def test_regression_kernel_only_convolution_index_keeps_its_kernel_length():
    # Found by the property test: a step whose weight side held a convolution index only as
    # a kernel used the index's output length instead of the kernel's.
    spec = "T0: (a b) c d, T1: e, T2: w, T3: d e ->  | d e"
    tensors = [torch.randn(s, dtype=torch.float64) for s in [(1, 1, 3), (3,), (1,), (1, 1)]]
    options = {"padding": {"d": "same", "e": 0}}
    got = tnviz.einsum(spec, *tensors, sizes={"a": 1, "b": 1}, **options)
    assert torch.allclose(got, reference(spec, *tensors, sizes={"a": 1, "b": 1}, **options), atol=1e-12)


def test_regression_conv_backward_with_a_strided_weight_view():
    # Found by benchmarks/differential.py: size-1 axes left the reshaped weight a non-contiguous
    # view and PyTorch's CPU conv backward raised "grad_weight must be contiguous".
    problem = (
        "T0: (a c) e, T1: d f g (e c) a, T2: b f c g -> (b d) | f g",
        [(1, 2), (2, 3, 3, 2, 1), (1, 2, 1, 1)],
        {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2},
        {
            "padding": {"f": "same", "g": 0},
            "stride": {"f": 1, "g": 1},
            "dilation": {"f": 1, "g": 1},
            "padding_mode": {"f": "zeros", "g": "zeros"},
        },
        "auto",
        0,
    )
    check_problem(problem)


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
@given(random_problems())
@bounded(30)
def test_random_plans_run_sliced_match_reference(problem):
    """Any plan sliced to half its intermediates' memory (where slicing can fit it) gives the
    reference's value and gradients; where it cannot, the refusal says why."""
    from tnviz.core.plan.slicing import SlicedPlan
    from tnviz.execute.runner import program_for

    spec, shapes, sizes, options, optimize, seed = problem
    d = tnviz.Diagram.parse(spec, sizes=sizes, **options)
    bound = d.bind(sizes, shapes=dict(zip(d.tensor_names, shapes)))
    whole = bound.plan(optimize=optimize, itemsize=8)
    output = 1
    for n in whole.output_shape:
        output *= n
    need = whole.peak_elements - whole.input_elements
    if need <= output:
        return  # nothing but the output: nothing to slice
    limit = output + (need - output) // 2
    try:
        sliced = bound.plan(optimize=optimize, itemsize=8, max_memory=limit * 8)
    except tnviz.TnvizError as err:
        assert "no index is left to slice" in str(err) or "pieces" in str(err), str(err)
        return
    if not isinstance(sliced, SlicedPlan):
        return
    assert sliced.peak_elements - sliced.input_elements <= limit
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(s, dtype=torch.float64, generator=g).requires_grad_() for s in shapes]
    got = program_for(sliced)(tensors)
    refs = [t.detach().requires_grad_() for t in tensors]
    want = reference(spec, *refs, sizes=sizes, **options)
    assert torch.allclose(got.detach(), want.detach(), atol=1e-9, rtol=1e-9), (spec, sliced.sliced)
    upstream = torch.randn(want.shape, dtype=torch.float64, generator=g)
    grads = torch.autograd.grad((got * upstream).sum(), tensors, allow_unused=True)
    want_grads = torch.autograd.grad((want * upstream).sum(), refs, allow_unused=True)
    for k, (a, b) in enumerate(zip(grads, want_grads)):
        a = torch.zeros_like(refs[k]) if a is None else a
        b = torch.zeros_like(refs[k]) if b is None else b
        assert torch.allclose(a, b, atol=1e-8, rtol=1e-8), (spec, sliced.sliced, "gradient of operand", k)
