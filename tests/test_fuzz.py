"""Bounded fuzzing in CI (benchmarks/fuzz.py runs the same with many more examples): the parser,
Diagram.from_json, the layout and the renderers raise nothing but TnvizError and never hang.

Every example runs under a time limit (``fuzzing.bounded``: SIGALRM, then a faulthandler
backstop), so a hanging example fails the test; hypothesis's ``deadline`` (set per test: the
CI profile turns it off globally) only fires after an example returns."""

import re
from collections import Counter
from datetime import timedelta

from fuzzing import VALID, bounded, json_documents, specs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnviz import Diagram
from tnviz.errors import TnvizError

FAST = settings(max_examples=200, deadline=timedelta(seconds=2), suppress_health_check=list(HealthCheck))


@FAST
@given(specs(120))
@bounded(2)
def test_specs_near_valid_ones_parse_or_raise_tnviz_error(text):
    try:
        Diagram.parse(text)
    except TnvizError:
        pass


@FAST
@given(json_documents())
@bounded(2)
def test_hostile_json_loads_or_raises_tnviz_error(text):
    try:
        Diagram.from_json(text)
    except TnvizError:
        pass


NODE = re.compile(r'^  "((?:[^"\\]|\\.)*)" \[(.*)\];$')
EDGE = re.compile(r'^  "((?:[^"\\]|\\.)*)" -- "((?:[^"\\]|\\.)*)" \[(.*)\];$')
ATTRS = re.compile(r"^  (graph|node|edge) \[.*\];$")


def check_dot(diagram: Diagram, dot: str) -> None:
    """The DOT text against what the diagram says should be drawn, worked out here from the
    diagram alone: a filled circle per tensor, a junction per convolution index and per
    hyperedge or kept shared index, one line per plain edge, one line from each holder to
    its junction, one leg per index held once or kept at a junction, one label per line."""
    lines = dot.splitlines()
    assert dot.endswith("\n") and lines[0] == 'graph "diagram" {' and lines[-1] == "}", dot
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in lines[1:-1]:
        if m := EDGE.match(line):
            edges.append(m.groups())
        elif m := NODE.match(line):
            assert m[1] not in nodes, f"node {m[1]!r} declared twice"
            nodes[m[1]] = m[2]
        else:
            assert ATTRS.match(line), f"not a DOT statement: {line!r}"
    for attrs in nodes.values():
        assert re.search(r'pos="-?\d+\.\d\d,-?\d+\.\d\d!"', attrs), attrs
    # Expected, from the diagram (no index is repeated within a tensor in these specs):
    # lines between vertices and legs, each with its index.
    out = set(diagram.output.indices)
    junctions, links, legs = {}, Counter(), Counter()
    for index in diagram.index_names:
        holders = [t.name for t in diagram.tensors if index in t.indices]
        assert all(diagram.tensor(t).indices.count(index) == 1 for t in holders)
        if len(holders) == 1:
            legs[(holders[0], index)] += 1
        elif len(holders) == 2 and index not in out and index not in diagram.conv:
            links[(frozenset(holders), index)] += 1
        else:
            junctions["#" + index] = index in diagram.conv
            links.update((frozenset((t, "#" + index)), index) for t in holders)
            if index in out:
                legs[("#" + index, index)] += 1
    filled = {n for n, a in nodes.items() if "style=filled" in a}
    assert filled == set(diagram.tensor_names)
    for name in diagram.tensor_names:
        assert f'label="{name}"' in nodes[name] and "shape=circle" in nodes[name]
    assert {n for n in nodes if n.startswith("#")} == set(junctions)
    for name, is_conv in junctions.items():
        assert ('label="∗"' in nodes[name]) == is_conv, nodes[name]
    drawn_links, drawn_legs = Counter(), Counter()
    for u, v, attrs in edges:
        assert u in nodes and v in nodes, (u, v)
        if m := re.fullmatch(r"(leg|stub)\d+:(.*)", v):
            kind, index = m.groups()
            assert ("arrowhead=tee" in attrs) == (kind == "stub")
            assert (kind == "leg") == (index in out)
            drawn_legs[(u, index)] += 1
        else:
            drawn_links[frozenset((u, v))] += 1
    want_links = Counter()
    for (ends, _), n in links.items():
        want_links[ends] += n
    assert drawn_links == want_links and drawn_legs == legs
    # One label per line: the index, with its size where it is known (the lengths of a
    # convolution index differ per holder: only the name is checked there).
    labels = Counter(re.search(r'label="([^"]*)"', a)[1] for n, a in nodes.items() if n.startswith("label"))
    want = Counter()
    for (_, index), n in list(links.items()) + list(legs.items()):
        size = diagram.size(index)
        want[index if size is None or index in diagram.conv else f"{index}={size}"] += n
    conv_labels = Counter({t: n for t, n in labels.items() if t.split("=")[0] in diagram.conv})
    assert labels - conv_labels == Counter({t: n for t, n in want.items() if t not in diagram.conv})
    assert sum(conv_labels.values()) == sum(n for t, n in want.items() if t in diagram.conv)


@settings(max_examples=60, deadline=timedelta(seconds=5), suppress_health_check=list(HealthCheck))
@given(st.sampled_from(VALID), st.integers(1, 5))
@bounded(10)
def test_layout_and_text_renderers_never_fail_on_valid_diagrams(spec, size):
    from tnviz.render import to_dot, to_tikz
    from tnviz.render.layout import layout

    diagram = Diagram.parse(spec)
    bound = diagram.bind({i: size for i in diagram.index_names if i not in diagram.conv})
    for d in (diagram, bound):
        positions = layout(d).positions
        assert set(d.tensor_names) <= set(positions)
        check_dot(d, to_dot(d))
        tikz = to_tikz(d)
        assert "\\begin{tikzpicture}" in tikz and "\\end{tikzpicture}" in tikz


@settings(max_examples=120, deadline=timedelta(seconds=5), suppress_health_check=list(HealthCheck))
@given(specs(120))
@bounded(10)
def test_every_spec_that_parses_draws(text):
    """No input that parses may crash a drawing: an output index no tensor holds, a diagonal,
    whatever a slip of the keyboard makes."""
    from tnviz.render import to_dot
    from tnviz.render.layout import layout

    try:
        diagram = Diagram.parse(text)
    except TnvizError:
        return
    assert set(diagram.tensor_names) <= set(layout(diagram).positions)
    check_dot(diagram, to_dot(diagram))
