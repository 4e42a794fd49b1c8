"""Bounded fuzzing in CI (benchmarks/fuzz.py runs the same with many more examples): the parser,
Diagram.from_json, the layout and the renderers raise nothing but TnvizError and never hang."""

from fuzzing import VALID, json_documents, specs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnviz import Diagram
from tnviz.errors import TnvizError

FAST = settings(max_examples=200, deadline=2000, suppress_health_check=list(HealthCheck))


@FAST
@given(specs(120))
def test_specs_near_valid_ones_parse_or_raise_tnviz_error(text):
    try:
        Diagram.parse(text)
    except TnvizError:
        pass


@FAST
@given(json_documents())
def test_hostile_json_loads_or_raises_tnviz_error(text):
    try:
        Diagram.from_json(text)
    except TnvizError:
        pass


@settings(max_examples=60, deadline=5000, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(VALID), st.integers(1, 5))
def test_layout_and_text_renderers_never_fail_on_valid_diagrams(spec, size):
    from tnviz.core.layout import layout
    from tnviz.render import to_dot, to_tikz

    diagram = Diagram.parse(spec)
    bound = diagram.bind({i: size for i in diagram.index_names if i not in diagram.conv})
    for d in (diagram, bound):
        assert layout(d).positions
        assert "digraph" in to_dot(d) or "graph" in to_dot(d)
        assert "tikzpicture" in to_tikz(d)
