"""Small real-digit subsets for fast distillation tests."""

import torch
from torch.utils.data import TensorDataset

from tnviz.compression import mnist_offline


def small_mnist(n_train: int = 512, n_test: int = 200):
    """Seeded random subsets: every digit class appears (the datasets are stored class by class,
    so their first rows would all be zeros)."""
    train, test = mnist_offline()

    def subset(data: TensorDataset, n: int) -> TensorDataset:
        rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]
        return TensorDataset(*(t[rows] for t in data.tensors))

    return subset(train, n_train), subset(test, n_test)


def reproduce_on_small_digits(monkeypatch, tmp_path, seeds=(0,), **quick):
    """``tnviz.experiments.lenet5`` on 256/200 digits with ``QUICK`` changed by ``quick``, and
    an untrained LeNet-5 cached as each seed's teacher (no teacher training)."""
    from dataclasses import replace

    from tnviz.compression import LeNet5
    from tnviz.compression.checkpoint import save_atomic
    from tnviz.experiments import lenet5

    data = small_mnist(256, 200)
    monkeypatch.setattr(lenet5, "mnist_offline", lambda seed=0: data)
    settings = replace(lenet5.QUICK, **quick)
    monkeypatch.setattr(lenet5, "QUICK", settings)
    torch.manual_seed(0)
    for seed in seeds:
        cache = lenet5.teacher_cache(tmp_path, replace(settings, seed=seed))
        save_atomic({"kind": "tnviz-teacher", "model": LeNet5().state_dict(), "test_acc": 0.1}, cache)
    return lenet5


def on_step(fn):
    """A callback object whose ``on_step`` is ``fn`` (a plain function is an epoch callback)."""
    return type("OnStep", (), {"on_step": staticmethod(fn)})()


def state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
