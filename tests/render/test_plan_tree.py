"""draw_plan: a plan's contraction tree, one node per pairwise step and one leaf per tensor."""

import pytest

from tnviz import TnvizError
from tnviz.render import draw_plan
from tnviz.templates import mps, norm, peps


def test_one_node_per_step_and_one_leaf_per_tensor():
    d = norm(peps(2, 3, bond=2))
    plan = d.plan()
    fig = draw_plan(plan)
    steps, leaves = fig.ax.collections  # the steps' scatter, then the tensors'
    assert len(steps.get_offsets()) == sum(len(s.operands) == 2 for s in plan.steps)
    assert len(leaves.get_offsets()) == len(d.tensors)
    assert {t.get_text() for t in fig.ax.texts} == set(d.tensor_names)
    assert f"{plan.flops:.3g} FLOPs" in fig.ax.get_title()


def test_a_sliced_plan_draws_its_piece_and_a_non_plan_is_refused():
    d = norm(mps(6, bond=4))
    sliced = d.plan(max_memory=4 * 80)
    fig = draw_plan(sliced, title="one piece")
    assert fig.ax.get_title() == "one piece"
    with pytest.raises(TnvizError, match="expected a Plan, got str"):
        draw_plan("ab,bc->ac")
