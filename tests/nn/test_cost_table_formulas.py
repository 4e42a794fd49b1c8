"""cost_table's formula columns and formula_table (issue 15): the closed forms of
tnviz.core.formats.complexity beside the computed numbers."""

import pytest

from tnviz import TnvizError
from tnviz.core.formats.complexity import COMPLEXITY
from tnviz.nn.costs import cost_table, formula_table

TABLE_FORMATS = ("dense", "mcp", "mtk", "mtt", "mtr")


@pytest.mark.parametrize("channels, order, side, k, batch", [(64, 3, 8, 3, 2), (16, 2, 6, 1, 1), (27, 3, 5, 5, 3)])
def test_formula_columns_equal_the_computed_counts(channels, order, side, k, batch):
    table = cost_table(
        channels, channels, k, TABLE_FORMATS, input_size=(side, side), batch=batch, order=order, ranks=(1, 2, 3),
        formulas=True,
    )  # fmt: skip
    assert [r.format for r in table.rows] == ["dense"] + [f for f in TABLE_FORMATS[1:] for _ in range(3)]
    for row in table.rows:
        assert len(set(row.ranks.values())) <= 1  # every rank equal: the formulas' assumption
        assert row.formula_params == row.params
        assert row.formula_flops == row.sequential_flops == row.price.plan.left_to_right_flops
    # Under objective "time" a layer may run a plan with more FLOPs (memory counts too); the
    # FLOP-minimal plan is never dearer than the sequential one.
    best = cost_table(channels, channels, k, TABLE_FORMATS, input_size=(side, side), batch=batch, order=order,
                      ranks=(2,), objective="flops", formulas=True)  # fmt: skip
    for row in best.rows:
        assert row.flops <= row.formula_flops


def test_rows_outside_the_assumptions_show_dashes():
    table = cost_table(64, 64, 3, ("cp", "mtt", "mtk"), rates=(0.1,), formulas=True)
    rows = {r.format: r for r in table.rows}
    assert rows["cp"].formula_params is None  # not a format of the table
    assert len(set(rows["mtk"].ranks.values())) > 1 and rows["mtk"].formula_flops is None  # unequal ranks
    for kwargs in ({"padding": 0}, {"input_size": (8, 6)}):  # the output is not D×D
        assert cost_table(64, 64, 3, ("mcp",), ranks=(2,), formulas=True, **kwargs).rows[0].formula_flops is None
    assert cost_table(64, 32, 3, ("mcp",), ranks=(2,), formulas=True).rows[0].formula_params is None  # S ≠ T
    assert cost_table(48, 48, 3, ("mcp",), ranks=(2,), order=2, formulas=True).rows[0].formula_params is None
    assert cost_table(64, 64, 3, ("mcp",), ranks=(2,), padding=1, formulas=True).rows[0].formula_params == 2 * 57


def test_the_formula_columns_print_and_show_only_when_asked():
    plain = cost_table(64, 64, 3, ("mcp",), ranks=(4,))
    assert plain.rows[0].formula_params is None and "formula" not in str(plain)
    text = str(cost_table(64, 64, 3, ("mcp", "cp"), ranks=(4,), formulas=True))
    assert "params (formula)" in text and "seq. FLOPs (planner)" in text and "—" in text
    html = cost_table(64, 64, 3, ("mcp",), ranks=(4,), formulas=True)._repr_html_()
    heads = [h.split(">")[0] for h in html.split("<th ")[1:]]
    assert len(heads) == 11 and all("text-align:right" in h for h in heads[-3:])


def test_formula_table_shows_the_formulas_and_their_values():
    table = formula_table(N=64, m=3, D=32, k=3, R=4)
    text = str(table)
    for name in TABLE_FORMATS:
        row = COMPLEXITY[name]
        assert row.params in text and row.flops in text
        assert f"{row.params_fn(N=64, m=3, k=3, R=4):,}" in text
    assert [r[0] for r in table.rows()] == ["original", "TNN-mCP", "TNN-mTK", "TNN-mTT", "TNN-mTR"]
    assert "sequential" in table._repr_html_() and "<thead>" in table._repr_html_()


def test_bad_input_is_a_clear_error():
    with pytest.raises(TnvizError, match="m-th power"):
        formula_table(N=48, m=2)
    with pytest.raises(TnvizError, match="no closed-form"):
        formula_table(formats=("cp",))
    with pytest.raises(TnvizError, match="positive integer"):
        cost_table(64, 64, 3, ("mcp",), ranks=(0,))
