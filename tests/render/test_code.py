"""Code out: the generated module runs where tnviz cannot be imported and matches TensorNetwork,
value and gradients; the opt_einsum call follows the plan's path."""

import subprocess
import sys

import pytest
import torch

import tnviz
from tnviz import Diagram, TnvizError

CASES = [
    ("X: b i, A: i j, B: j k -> b k", {"i": 3, "j": 4, "k": 2}, ("X",)),
    ("X: b (s1 s2), A1: r s1 t1, A2: r s2 t2 -> b (t1 t2)", {"s1": 4, "s2": 2, "t1": 3, "t2": 5, "r": 2}, ("X",)),
    ("X: b i i, A: i j, C: j -> b", {"i": 3, "j": 4}, ("X",)),  # a diagonal of the input, a hyperedge-free sum
    ("X: b i, Y: b j, W: i j k -> b k", {"i": 2, "j": 3, "k": 4}, ("X", "Y")),  # two inputs, b a batch index
    # names the generated code could clash with: a step's result, the torch module
    ("X: b i, A: i j, _t4: b k, B: k j -> b j", {"i": 3, "j": 2, "k": 2}, ("X", "_t4")),
    ("torch: b i, A: i j -> b j", {"i": 3, "j": 2}, ("torch",)),
    # what einsum cannot write: the engine's program, recorded for the inputs' shapes
    (
        "X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y",
        {"X": (2, 4, 8, 8), "r": 3, "t": 5, "Kx": (3, 3), "Ky": (3, 3)},
        ("X",),
    ),
    ("X: b s x, K: t s x -> b t x | x", {"X": (3, 2, 11), "K": (4, 2, 3)}, ("X",), {"padding": 1, "stride": 2}),
    (
        "X: b s x, K: t s x -> b t x | x",
        {"X": (3, 2, 11), "K": (4, 2, 3)},
        ("X", "K"),
        {"padding_mode": "circular", "padding": 1},
    ),
    ("X: b i, A: i j -> b j k", {"X": (2, 3), "j": 4, "k": 2}, ("X",)),  # a broadcast output
]

RUNNER = """
import sys
sys.modules["tnviz"] = None  # importing tnviz fails here: the source must stand alone
import importlib.util, torch
spec = importlib.util.spec_from_file_location("generated", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
data = torch.load(sys.argv[2])
net = module.Network().double()
net.load_state_dict(data["state"])
inputs = [t.clone().requires_grad_(True) for t in data["inputs"]]
y = net(*inputs)
y.backward(data["upstream"])
torch.save({"y": y.detach(), "grads": [t.grad for t in inputs], "params": {k: p.grad for k, p in net.weights.items()}},
           sys.argv[3])
"""


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_the_generated_module_runs_without_tnviz_and_matches(case, tmp_path):
    spec, sizes, inputs, *options = case
    d = Diagram.parse(spec, sizes=sizes, **(options[0] if options else {}))
    source = d.to_torch_source(inputs=inputs)
    assert "tnviz" not in source.split('"""')[-1]  # nothing below the docstring mentions it
    (tmp_path / "generated.py").write_text(source)
    torch.manual_seed(0)
    net = tnviz.TensorNetwork(d, inputs=inputs, dtype=torch.float64)
    batch = 5
    xs = []
    for name in inputs:
        shape = [batch if s is None else s for s in d.shape(name)]
        xs.append(torch.randn(*shape, dtype=torch.float64, requires_grad=True))
    y = net(*xs)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    data = {"state": net.state_dict(), "inputs": [x.detach() for x in xs], "upstream": upstream}
    torch.save(data, tmp_path / "in.pt")
    files = [str(tmp_path / name) for name in ("generated.py", "in.pt", "out.pt")]
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = torch.load(tmp_path / "out.pt")
    torch.testing.assert_close(out["y"], y.detach())
    for got, x in zip(out["grads"], xs):
        torch.testing.assert_close(got, x.grad)
    for name, p in net.weights.items():
        torch.testing.assert_close(out["params"][name], p.grad)


def test_a_one_tensor_einsum_call_sums_what_it_should():
    import opt_einsum

    d = Diagram.parse("A: i j -> i", sizes={"i": 2, "j": 3})
    a = torch.randn(2, 3, dtype=torch.float64)
    torch.testing.assert_close(eval(d.to_einsum(), {"opt_einsum": opt_einsum, "A": a}), a.sum(1))


def test_the_einsum_call_follows_the_plan_and_gives_the_value():
    import opt_einsum

    d = Diagram.parse("A: i j, B: j k, C: k (l m) -> i (l m)", sizes={"i": 3, "j": 4, "k": 5, "l": 2, "m": 3})
    code = d.to_einsum()
    assert f"optimize={d.plan().path}" in code
    values = {n: torch.randn(*d.shape(n), dtype=torch.float64) for n in d.tensor_names}
    got = eval(code, {"opt_einsum": opt_einsum, **values})
    torch.testing.assert_close(got, tnviz.einsum(d, *values.values()))


@pytest.mark.parametrize(
    "make,token",
    [
        (lambda: Diagram.parse("bsx,tsx->btx|x").to_einsum(), "convolution index 'x'"),
        # a broadcast output: the engine's program, recorded for the input's shape, which must be bound
        (lambda: Diagram.parse("X: b i, A: i j -> b j k", sizes={"i": 2, "j": 2, "k": 2}).to_torch_source(), "'X'"),
        (lambda: Diagram.parse("X: b s x, K: t s x -> b t x | x").to_torch_source(), "input 'X' has unbound"),
        (lambda: Diagram.parse("X: b i, A: i j -> b j", sizes={"i": 2, "j": 2}).to_torch_source(class_name="1x"), "1x"),
        (lambda: Diagram.parse("X: b i, A: i j -> b j", sizes={"i": 2}).to_torch_source(), "'A' has unbound"),
        (lambda: Diagram.parse("X: b i, A: i -> b", sizes={"i": 2}).to_torch_source(class_name="class"), "class"),
        (lambda: Diagram.parse("torch: i j, A: j k -> i k").to_einsum(), "'torch' cannot be a Python variable"),
    ],
)
def test_what_cannot_be_written_is_refused_by_name(make, token):
    with pytest.raises(TnvizError, match=token):
        make()


QUIMB_RUNNER = """
import sys
sys.modules["tnviz"] = None  # importing tnviz fails here: the source must stand alone
namespace = {}
exec(open(sys.argv[1]).read(), namespace)
import numpy as np
result = namespace["result"]
data = result.data if hasattr(result, "data") else np.asarray(result)
values = {"tensor_" + name: t.data for name, t in namespace.items() if type(t).__name__ == "Tensor"}
np.savez(sys.argv[2], result=data, **values)
"""


@pytest.mark.parametrize(
    "spec,sizes",
    [
        ("A: i j, B: j k, C: k l -> i l", {"i": 2, "j": 3, "k": 4, "l": 5}),
        ("A: i r, B: j r, C: k r -> i j k", {"i": 2, "j": 3, "k": 4, "r": 3}),  # a hyperedge
        ("A: i (j k), B: j k l -> (i l)", {"i": 2, "j": 3, "k": 2, "l": 4}),  # grouped modes
        ("A: i j, B: j i ->", {"i": 3, "j": 4}),  # a scalar
    ],
)
@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_the_quimb_code_runs_without_tnviz_and_matches(spec, sizes, tmp_path):
    pytest.importorskip("quimb")  # the 'quimb' extra; CI installs it, where a skip fails the run
    import numpy as np

    d = Diagram.parse(spec, sizes=sizes)
    source = d.to_quimb_source()
    assert f"optimize={d.plan().path}" in source
    (tmp_path / "generated.py").write_text(source)
    done = subprocess.run(
        [sys.executable, "-c", QUIMB_RUNNER, str(tmp_path / "generated.py"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out.npz")
    values = [torch.from_numpy(out[f"tensor_{n}"]).reshape(d.shape(n)) for n in d.tensor_names]
    expected = tnviz.einsum(d, *values)
    torch.testing.assert_close(torch.from_numpy(np.asarray(out["result"])).reshape(expected.shape), expected)


def test_the_quimb_code_is_refused_where_quimb_cannot_hold_the_network():
    with pytest.raises(TnvizError, match="'A' holds index 'i' twice"):
        Diagram.parse("A: i i j, B: j k -> k", sizes={"i": 2, "j": 2, "k": 2}).to_quimb_source()
    with pytest.raises(TnvizError, match="convolution index 'x'"):
        Diagram.parse("bsx,tsx->btx|x").to_quimb_source()
