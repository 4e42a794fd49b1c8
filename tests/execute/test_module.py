"""TensorNetwork: parameters, init, training, devices and dtypes, plan caching."""

import torch
import torch.nn.functional as F

import tnviz
from tnviz import Diagram

CP = "X: b s x y, A: r s, B: r x, C: r y, D: r t -> b t x y | x y"


def cp_net(**kw):
    d = Diagram.parse(CP, sizes={"s": 8, "r": 4, "t": 6, "B": (4, 3), "C": (4, 3)}, padding=1)
    return tnviz.TensorNetwork(d, **kw)


def test_parameters_and_forward_match_dense_kernel():
    net = cp_net(dtype=torch.float64)
    assert sorted(net.weights) == ["A", "B", "C", "D"]
    x = torch.randn(2, 8, 7, 7, dtype=torch.float64)
    w = net.weights
    kernel = torch.einsum("rs,rx,ry,rt->tsxy", w["A"], w["B"], w["C"], w["D"])
    assert torch.allclose(net(x), F.conv2d(x, kernel, padding=1), atol=1e-10)


def test_init_gives_the_torch_nn_variance():
    torch.manual_seed(0)
    stds = []
    for _ in range(20):
        net = cp_net(dtype=torch.float64)
        w = net.weights
        kernel = torch.einsum("rs,rx,ry,rt->tsxy", w["A"], w["B"], w["C"], w["D"])
        stds.append(kernel.var().item() * 3 * 8 * 9)  # the rule: Var = 1 / (3 · fan_in), as torch.nn
    mean = sum(stds) / len(stds)
    assert 0.3 < mean < 3.0, mean


def test_training_reduces_loss():
    torch.manual_seed(0)
    net = cp_net()
    target = torch.nn.Conv2d(8, 6, 3, padding=1, bias=False)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    x = torch.randn(16, 8, 6, 6)
    losses = []
    for _ in range(60):
        loss = F.mse_loss(net(x), target(x).detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_plan_is_cached_across_forward_calls():
    net = cp_net()
    x = torch.randn(2, 8, 7, 7)
    net(x)
    plan = net.plan(x)
    net(x)
    assert net.plan((2, 8, 7, 7)) is plan
    assert "factor by factor" in str(plan) or "reconstruct" in str(plan) or "mixed" in str(plan)


def test_default_inputs_and_extra_repr():
    net = tnviz.TensorNetwork(Diagram.parse("bs,st->bt", sizes={"s": 3, "t": 2}))
    assert net.inputs == ("A",)
    assert net(torch.randn(4, 3)).shape == (4, 2)
    assert "inputs=('A',)" in repr(net) and "optimize" not in net.extra_repr()
    net = cp_net(optimize="reconstruct")
    assert "optimize='reconstruct'" in net.extra_repr()


def test_state_dict_round_trip_and_dtype_device():
    net = cp_net(dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 for p in net.parameters())
    other = cp_net(dtype=torch.float64)
    other.load_state_dict(net.state_dict())
    x = torch.randn(1, 8, 5, 5, dtype=torch.float64)
    assert torch.equal(net(x), other(x))
    if torch.cuda.is_available():
        net = net.cuda()
        assert torch.allclose(net(x.cuda()).cpu(), other(x), atol=1e-10)


def test_torch_compile_runs():
    net = cp_net()
    x = torch.randn(2, 8, 7, 7)
    try:
        compiled = torch.compile(net, backend="eager", fullgraph=True)
    except Exception:  # noqa: BLE001 - torch.compile unavailable on this platform
        return
    assert torch.allclose(compiled(x), net(x), atol=1e-5)
