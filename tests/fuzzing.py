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
