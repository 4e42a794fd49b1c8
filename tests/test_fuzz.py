"""Bounded fuzzing in CI (benchmarks/fuzz.py runs the same with many more examples): the parser,
Diagram.from_json, the layout and the renderers raise nothing but TnvizError and never hang."""

import json

from fuzzing import SPEC_ALPHABET, VALID, mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnviz import Diagram
from tnviz.errors import TnvizError

FAST = settings(max_examples=200, deadline=2000, suppress_health_check=list(HealthCheck))


@FAST
@given(st.one_of(st.text(alphabet=SPEC_ALPHABET, max_size=120), mutated(VALID)))
def test_specs_near_valid_ones_parse_or_raise_tnviz_error(text):
    try:
        Diagram.parse(text)
    except TnvizError:
        pass


VALID_JSON = [Diagram.parse(s).to_json() for s in VALID[:4]]


@FAST
@given(
    st.one_of(
        mutated(VALID_JSON),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
            max_leaves=20,
        ).map(json.dumps),
    )
)
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
