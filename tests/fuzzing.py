"""Strategies shared by the fuzz tests and ``benchmarks/fuzz.py``: text near valid specs and JSON."""

from hypothesis import strategies as st

SPEC_ALPHABET = "abijkxyXKs12_:,()|->. \t$#é∗\n[]{}\"'"
VALID = [
    "X: b s x y, K: t s x y -> b t x y | x y",
    "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y",
    "A: i j k, B: k l -> i j k l | k",
    "G1: r0 i r1, G2: r1 j r2, G3: r2 k r0 -> i j k",
    "bsxy,tsxy->btxy|xy",
]


@st.composite
def mutated(draw, texts):
    """A valid text with random characters inserted, deleted or replaced."""
    text = list(draw(st.sampled_from(texts)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, max(0, len(text) - 1)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = draw(st.sampled_from(SPEC_ALPHABET + '0123456789{}[]"-e'))
        if action == "insert":
            text.insert(pos, ch)
        elif text and action == "delete":
            del text[pos]
        elif text:
            text[pos] = ch
    return "".join(text)


def specs(max_size: int = 200):
    """Random text over the spec alphabet, or a valid spec slightly mutated."""
    return st.one_of(st.text(alphabet=SPEC_ALPHABET, max_size=max_size), mutated(VALID))


def json_documents():
    """A valid diagram's JSON slightly mutated, or any JSON document."""
    import json

    from tnviz import Diagram

    valid = [Diagram.parse(s).to_json() for s in VALID[:4]]
    anything = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
        max_leaves=20,
    )
    return st.one_of(mutated(valid), anything.map(json.dumps))
