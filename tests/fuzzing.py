"""Strategies shared by the fuzz and property tests and ``benchmarks/fuzz.py``/``differential.py``:
text near valid specs and JSON, random problems mixing every index role; and a per-example time
limit, so that a hanging example fails instead of stalling CI."""

import contextlib
import faulthandler
import functools
import signal
import string
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


MODES = ["zeros", "circular", "replicate", "reflect"]


@st.composite
def random_problems(draw):
    """A random spec with free, summed, contraction, hyperedge, batch and convolution
    indices, optional groups, conv options, and matching sizes."""
    n_ops = draw(st.integers(1, 4))
    names = list(string.ascii_lowercase)
    draw(st.randoms()).shuffle(names)
    indices = {}
    n_idx = draw(st.integers(1, 5))
    for k in range(n_idx):
        holders = draw(st.lists(st.integers(0, n_ops - 1), min_size=1, max_size=n_ops, unique=True))
        indices[names[k]] = {"holders": sorted(holders), "out": draw(st.booleans()), "size": draw(st.integers(1, 3))}
    conv = []
    if n_ops >= 2:
        for k in range(draw(st.integers(0, 2))):
            c = names[n_idx + k]
            holders = sorted(draw(st.lists(st.integers(0, n_ops - 1), min_size=2, max_size=min(3, n_ops), unique=True)))
            lengths = [draw(st.integers(3, 8))] + [draw(st.integers(1, 3)) for _ in holders[1:]]
            indices[c] = {"holders": holders, "out": draw(st.booleans()), "lengths": lengths}
            conv.append(c)
    for k in range(n_ops):  # every operand holds at least one index
        if not any(k in v["holders"] for v in indices.values()):
            indices[names[20 + k]] = {"holders": [k], "out": draw(st.booleans()), "size": draw(st.integers(1, 3))}
    options = {"padding": {}, "stride": {}, "dilation": {}, "padding_mode": {}}
    for c in conv:
        info = indices[c]
        n, ks = info["lengths"][0], info["lengths"][1:]
        ktot = sum(ks) - len(ks) + 1
        dil = draw(st.integers(1, 2))
        stride = draw(st.integers(1, 2))
        mode = draw(st.sampled_from(MODES))
        limit = n - 1 if mode == "reflect" else n
        pad = draw(st.one_of(st.integers(0, min(2, limit)), st.just("same") if stride == 1 else st.just(0)))
        if pad == "same":
            total = dil * (ktot - 1)
            if total - total // 2 > limit:
                pad = 0
        left = right = 0 if pad == "same" else pad
        if pad == "same":
            left, right = (dil * (ktot - 1)) // 2, dil * (ktot - 1) - (dil * (ktot - 1)) // 2
        if n + left + right - dil * (ktot - 1) < 1:
            dil = 1
            if n + left + right - (ktot - 1) < 1:
                info["lengths"] = [ktot + 2] + ks
        options["padding"][c], options["stride"][c], options["dilation"][c] = pad, stride, dil
        options["padding_mode"][c] = mode
    # Operand and output index orders; occasional groups of two adjacent non-conv indices.
    rnd = draw(st.randoms())
    ops = []
    for k in range(n_ops):
        held = [i for i, v in indices.items() if k in v["holders"]]
        rnd.shuffle(held)
        ops.append(held)
    out = [i for i, v in indices.items() if v["out"]]
    rnd.shuffle(out)

    def modes(held):
        result, pos = [], 0
        while pos < len(held):
            if pos + 1 < len(held) and held[pos] not in conv and held[pos + 1] not in conv and rnd.random() < 0.3:
                result.append((held[pos], held[pos + 1]))
                pos += 2
            else:
                result.append((held[pos],))
                pos += 1
        return result

    op_modes = [modes(h) for h in ops]
    out_modes = modes(out)
    compact = draw(st.booleans())
    sep = "" if compact else " "

    def text(ms):
        return sep.join(m[0] if len(m) == 1 else "(" + sep.join(m) + ")" for m in ms)

    if compact:
        spec = ",".join(text(m) for m in op_modes) + "->" + text(out_modes)
    else:
        spec = ", ".join(f"T{k}: {text(m)}" for k, m in enumerate(op_modes)) + " -> " + text(out_modes)
    if conv:
        spec += "|" + sep.join(conv) if compact else " | " + " ".join(conv)
    shapes = []
    for k, ms in enumerate(op_modes):
        shape = []
        for m in ms:
            size = 1
            for i in m:
                v = indices[i]
                size *= v["size"] if "size" in v else v["lengths"][v["holders"].index(k)]
            shape.append(size)
        shapes.append(tuple(shape))
    sizes = {i: v["size"] for i, v in indices.items() if "size" in v}
    optimize = draw(st.sampled_from(["auto", "left-to-right", "reconstruct", "greedy", "optimal"]))
    seed = draw(st.integers(0, 2**16))
    return spec, shapes, sizes, options if conv else {}, optimize, seed
