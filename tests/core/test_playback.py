"""A plan played step by step: each frame is the network left, its totals the plan's own."""

import pytest

from tnviz import Diagram
from tnviz.core.playback import frames
from tnviz.templates import mps, norm

CONV = Diagram.parse(
    "X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y",
    sizes={"b": 2, "s": 4, "r": 3, "t": 5, "Kx": (3, 3), "Ky": (3, 3), "X": (2, 4, 8, 8)},
    padding=1,
)


@pytest.mark.parametrize("diagram", [norm(mps(6, bond=3)), CONV], ids=["mps-norm", "cp-conv"])
@pytest.mark.parametrize("optimize", ["auto", "left-to-right", "greedy"])
def test_the_frames_add_up_to_the_plan(diagram, optimize):
    plan = diagram.plan(optimize=optimize)
    played = frames(plan)
    assert len(played) == len(plan.steps) + 1
    assert played[0].diagram.tensor_names == diagram.tensor_names
    assert played[0].following_operands == tuple(diagram.tensor_names[k] for k in plan.steps[0].operands)
    last = played[-1]
    assert len(last.diagram.tensors) == 1 and last.following is None
    assert sorted(last.members[last.diagram.tensor_names[0]]) == sorted(diagram.tensor_names)
    assert last.flops_done == plan.flops
    assert max(f.peak_elements for f in played) == plan.peak_elements
    assert [f.flops_done for f in played] == sorted(f.flops_done for f in played)
    for before, after in zip(played, played[1:]):
        # what the step consumed is gone, its result is new and holds what its operands held
        assert set(before.following_operands).isdisjoint(after.diagram.tensor_names)
        merged = [m for name in before.following_operands for m in before.members[name]]
        assert after.members[after.result] == tuple(merged)
        assert after.diagram.output.indices == diagram.output.indices


def test_a_convolution_stays_one_while_two_tensors_hold_it_and_the_signal_stays_first():
    played = frames(CONV.plan(optimize="left-to-right"))
    for frame in played:
        for c in frame.diagram.conv:
            holders = frame.diagram.holders(c)
            assert len(holders) >= 2
            assert "X" in frame.members[holders[0]]  # the signal (what holds X) is still first
    assert played[-1].diagram.conv == ()


def test_a_sliced_plan_plays_as_its_unsliced_plan():
    d = norm(mps(6, bond=8))
    unsliced = d.plan()
    plan = d.plan(max_memory=(unsliced.peak_elements - unsliced.input_elements) * 4 // 2)
    assert hasattr(plan, "full")
    played = frames(plan)
    assert len(played) == len(plan.full.steps) + 1
    assert played[-1].flops_done == plan.full.flops and max(f.peak_elements for f in played) == plan.full.peak_elements


def test_a_gradient_whose_options_name_tensors_plays_to_its_end():
    """G's own spacing (kernel_dilation) and holders read backwards (flip) name tensors that
    merge as the plan goes: each frame keeps the names still standing."""
    d = Diagram.parse(
        "X: b s x, A: s r, K: r x, B: t r -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 11), "K": (2, 3)},
        flip=True,
        stride=2,
    )
    for name in d.tensor_names:
        grad = d.grad(name)
        played = frames(grad.plan())
        assert len(played) == len(grad.plan().steps) + 1
        for frame in played:
            for c, opts in frame.diagram.options.items():
                holders = frame.diagram.holders(c)
                assert {t for t, _ in opts.kernel_dilation} <= set(holders[1:])
                assert opts.flip in (True, False) or set(opts.flip) <= set(holders)
