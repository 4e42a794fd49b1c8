"""Strategies shared by the fuzz tests and ``benchmarks/fuzz.py``: text near valid specs and JSON;
and a per-example time limit, so that a hanging example fails instead of stalling CI."""

import contextlib
import faulthandler
import functools
import signal
import sys
import threading

from hypothesis import strategies as st

SPEC_ALPHABET = "abijkxyXKs12_:,()|->. \t$#é∗\n[]{}\"'"
VALID = [
    "X: b s x y, K: t s x y -> b t x y | x y",
    "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y",
    "A: i j k, B: k l -> i j k l | k",
    "G1: r0 i r1, G2: r1 j r2, G3: r2 k r0 -> i j k",
    "bsxy,tsxy->btxy|xy",
    "X: b c, A: c r, B: r k -> b k q",  # an output index no tensor holds (a typo makes one): broadcast
    "X: b i, A: i j -> b j j",  # a diagonal output
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


class ExampleTimeout(Exception):
    """One fuzz example ran past its time limit (a hang)."""


@contextlib.contextmanager
def time_limit(seconds: float, grace: float = 30.0):
    """Fail an example that runs longer than ``seconds``.

    Hypothesis checks its ``deadline`` only after the test function returns, so a genuine
    hang would stall the run forever. Here SIGALRM interrupts the Python code after
    ``seconds`` and raises :class:`ExampleTimeout`; if the code under test swallows it, the
    exit of this block raises it again. A hang inside one C call (which a Python signal
    handler cannot interrupt) is ended by ``faulthandler`` ``grace`` seconds later: it dumps
    the stacks and exits the process, so CI fails rather than stalls. Off the main thread
    (no signals there) only the faulthandler backstop applies.
    """
    fired = []
    main = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()

    def on_alarm(signum, frame):
        fired.append(True)
        raise ExampleTimeout(f"example still running after {seconds} s (a hang?)")

    out = sys.__stderr__
    backstop = out is not None and hasattr(out, "fileno")
    if backstop:
        faulthandler.dump_traceback_later(seconds + grace, exit=True, file=out)
    if main:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if backstop:
            faulthandler.cancel_dump_traceback_later()
    if fired:  # raised inside the block but swallowed there
        raise ExampleTimeout(f"example ran past {seconds} s (a hang?)")


def bounded(seconds: float):
    """Decorate a test (below ``@given``) so that each example runs under :func:`time_limit`."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with time_limit(seconds):
                return fn(*args, **kwargs)

        return run

    return wrap
