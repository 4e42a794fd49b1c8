"""tnviz.tables: the one aligned HTML table, shared by the objects that show themselves in a
notebook (cost tables, prices, compression reports, collision counts) and by the widgets."""

import ast
import sys
from pathlib import Path

import tnviz.tables
from tnviz.tables import html_table, text_table


def test_tables_use_the_standard_library_only():
    tree = ast.parse(Path(tnviz.tables.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {name.split(".")[0] for name in names} <= set(sys.stdlib_module_names) | {"__future__"}


def test_one_html_table_for_reprs_and_widgets():
    import tnviz.widgets._common as common  # a widgets extra; CI installs it

    assert common.html_table is html_table


def test_html_table_aligns_number_columns_under_their_headers():
    text = html_table(
        ("format", "params", "FLOPs", "plan"), [("cp", "3,618", "242.4M", "mixed"), ("tk", "—", "1.5 M", "x")]
    )
    assert text.count("<th ") == 4 and text.count("<td ") == 8 and "<thead>" in text and "<tbody>" in text
    heads = [h.split(">")[0] for h in text.split("<th ")[1:]]
    assert ["text-align:right" in h for h in heads] == [False, True, True, False]
    cells = [c.split(">")[0] for c in text.split("<td ")[1:5]]
    assert ["text-align:right" in c for c in cells] == [False, True, True, False]


def test_html_table_takes_a_caption_positionally_or_by_name_and_escapes():
    by_position = html_table(("a", "b"), [("<x>", "1")], "caption & more")
    assert by_position == html_table(("a", "b"), [("<x>", "1")], caption="caption & more")
    assert "<caption" in by_position and "caption &amp; more" in by_position and "&lt;x&gt;" in by_position
    assert "<thead>" not in html_table(None, [("key", "value")])  # a key/value list: no header row
    forced = html_table(("a",), [("1",)], numeric=[False], css_class="tn-table mine")
    assert 'class="tn-table mine"' in forced and "text-align:right" not in forced


def test_text_table_pads_columns():
    assert text_table(("a", "bb"), [("ccc", "d")]).splitlines()[1] == "  a    bb"
