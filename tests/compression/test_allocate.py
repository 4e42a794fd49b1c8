"""The whole-model budget's allocation (tnviz.compression.budget.allocate) on costs that jump."""

from tnviz.compression.budget import Option, allocate


def test_an_upgrade_that_does_not_fit_is_bought_with_downgrades_when_that_lowers_the_error():
    """A FLOPs curve is flat where a layer runs its rebuilt kernel, then steps: the greedy takes the
    nearly free upgrade first and is then one unit short of the step that matters most."""
    jump = [Option(10, 1.0, None), Option(100, 0.0, None)]
    nearly_free = [Option(50, 0.5, None), Option(51, 0.4, None)]
    assert allocate([jump, nearly_free], 150) == [1, 0]  # the greedy alone stops at [0, 1]
    assert allocate([jump, nearly_free], 161) == [1, 1]  # both fit: nothing to trade
    # a trade that would raise the summed squared errors is not made
    small_gain = [Option(10, 0.5, None), Option(100, 0.45, None)]
    costly_to_give = [Option(50, 1.0, None), Option(51, 0.1, None)]
    assert allocate([small_gain, costly_to_give], 150) == [0, 1]


def test_the_trade_frees_enough_from_several_layers_and_the_budget_holds():
    """The three small upgrades go first (more error per unit), then the jump needs 9 units
    more than is left: all three are given back for it."""
    jump = [Option(0, 0.6, None), Option(100, 0.0, None)]
    small = [[Option(30, 0.3, None), Option(33, 0.25, None)] for _ in range(3)]
    curves = [jump, *small]
    choice = allocate(curves, 190)
    assert choice == [1, 0, 0, 0]
    assert sum(c[k].cost for c, k in zip(curves, choice)) <= 190
