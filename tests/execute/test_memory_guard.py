import pytest
import torch

import tnviz
from tnviz.errors import TnvizError
from tnviz.execute.memory import memory_budget, parse_bytes, set_memory_budget


@pytest.fixture(autouse=True)
def _restore_budget():
    yield
    set_memory_budget(None)


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_a_plan_needing_far_more_than_the_machine_has_is_refused_before_allocating():
    a, b = torch.randn(100_000, 1_000), torch.randn(100_000, 1_000)  # the outer product: 3.6e4 TB
    with pytest.raises(TnvizError, match=r"needs about [0-9.]+ GiB .* more than the memory budget"):
        tnviz.einsum("a b, c d -> a b c d", a, b)


def test_the_refusal_suggests_a_cheaper_strategy():
    spec = "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y"
    x = torch.empty(64, 512, 64, 64)  # 0.5 GiB of input
    factors = [torch.randn(2000, 8, 8) for _ in range(3)] + [torch.randn(2000, 3, 3)]
    set_memory_budget("256MiB")  # below the 0.5 GiB output, so that slicing cannot fit it either
    with pytest.raises(TnvizError, match="optimize='reconstruct' needs .*slicing cannot fit it either"):
        tnviz.einsum(spec, x, *factors, padding=1, optimize="left-to-right")


def test_the_budget_is_configurable():
    x = torch.randn(64, 64)
    y = tnviz.einsum("i j, k l -> i j k l", x, x)  # 64 MiB: under the default budget
    assert y.shape == (64, 64, 64, 64)
    set_memory_budget("32MiB")
    with pytest.raises(TnvizError, match="memory budget of 32 MiB"):
        tnviz.einsum("i j, k l -> i j k l", x, x)
    set_memory_budget(None)
    assert memory_budget() > 32 * 2**20
    assert parse_bytes("2GB") == 2e9 and parse_bytes("1.5GiB") == 1.5 * 2**30 and parse_bytes(0.5) == 0.5
    for bad in ("lots", "-1", "0", True):
        with pytest.raises(TnvizError, match="memory budget"):
            parse_bytes(bad)


def test_the_environment_variable_sets_the_budget(monkeypatch):
    monkeypatch.setenv("TNVIZ_MEMORY_BUDGET", "100MB")
    assert memory_budget() == 100_000_000


def test_decompositions_beyond_the_budget_are_refused():
    from tnviz.nn import from_dense

    set_memory_budget("1MiB")
    with pytest.raises(TnvizError, match="decomposing a .* needs about .* GiB; the limit is"):
        from_dense(torch.nn.Linear(512, 512), format="tk", rate=0.5)


MEASURE = """
import sys, torch, tnviz


def peak_resident_bytes():
    # VmHWM: this process's own high-water mark (getrusage's ru_maxrss carries a forking parent's
    # over, so under a large pytest process it would not move).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

torch.set_num_threads(1)
i, j, k, l = 16384, 16, 16384, 16
A, B, C = torch.randn(i, j), torch.randn(j, k), torch.randn(k, l)
d = tnviz.Diagram.parse("ij,jk,kl->il")
plan = d.plan({"A": tuple(A.shape), "B": tuple(B.shape), "C": tuple(C.shape)}, optimize="left-to-right")
tnviz.einsum(d, A[:2], B, C[:, :2], optimize="left-to-right")  # warm up the code paths on small sizes
before = peak_resident_bytes()
with torch.no_grad():
    tnviz.einsum(d, A, B, C, optimize="left-to-right")
after = peak_resident_bytes()
print((plan.peak_elements - plan.input_elements) * 4, after - before)
"""


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_the_memory_estimate_matches_the_measured_peak():
    # A plan whose one intermediate is 1 GiB: the guard's estimate of the new memory (peak
    # less inputs) against the growth of the process's peak resident memory while it runs.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    estimate, measured = map(int, done.stdout.split())
    assert estimate > 2**30  # the 1 GiB intermediate (and the small result)
    # Within a factor of 1.5 either way (the allocator and the matmul's workspace add a little).
    assert estimate / 1.5 <= measured <= 1.5 * estimate, (estimate, measured)
