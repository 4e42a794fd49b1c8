import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from tnviz.compression.data import (
    MNIST_MEAN,
    MNIST_STD,
    Augmented,
    load_cifar10,
    load_dataset,
    load_mnist,
    mnist_offline,
)
from tnviz.errors import TnvizError


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_offline_mnist_is_a_fixed_balanced_split_of_real_digits():
    train, test = mnist_offline()
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(train.tensors[1]).tolist() == [400] * 10
    assert torch.bincount(test.tensors[1]).tolist() == [100] * 10
    x = train.tensors[0]
    assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32
    raw = x * MNIST_STD + MNIST_MEAN  # back to [0, 1]: real digits are mostly background
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
    assert 0.1 < (raw > 0.5).float().mean() < 0.25
    again, _ = mnist_offline()
    assert torch.equal(again.tensors[0], x)
    other, _ = mnist_offline(seed=1)
    assert not torch.equal(other.tensors[1], train.tensors[1]) or not torch.equal(other.tensors[0], x)
    # train and test are disjoint images
    flat_train = {hash(t.numpy().tobytes()) for t in x}
    assert not any(hash(t.numpy().tobytes()) in flat_train for t in test.tensors[0])


def _idx(path, magic, array, compress=False):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("layout,compress", [("flat", False), ("torchvision", True)])
def test_mnist_idx_files_are_read(tmp_path, layout, compress):
    rng = np.random.default_rng(0)
    folder = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    images = {"train": rng.integers(0, 256, (6, 28, 28)), "t10k": rng.integers(0, 256, (4, 28, 28))}
    labels = {"train": rng.integers(0, 10, 6), "t10k": rng.integers(0, 10, 4)}
    for split in ("train", "t10k"):
        _idx(folder / f"{split}-images-idx3-ubyte{suffix}", 0x803, images[split], compress)
        _idx(folder / f"{split}-labels-idx1-ubyte{suffix}", 0x801, labels[split], compress)
    train, test = load_mnist(tmp_path)
    assert len(train) == 6 and len(test) == 4
    assert torch.equal(train.tensors[1], torch.from_numpy(labels["train"]))
    want = (torch.from_numpy(images["t10k"]).float() / 255 - MNIST_MEAN) / MNIST_STD
    assert torch.allclose(test.tensors[0][:, 0], want)


def test_truncated_or_foreign_mnist_files_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("t10k", 2)):
        _idx(tmp_path / f"{split}-images-idx3-ubyte", 0x803, rng.integers(0, 256, (n, 28, 28)))
        _idx(tmp_path / f"{split}-labels-idx1-ubyte", 0x801, rng.integers(0, 10, n))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TnvizError, match="truncated"):
        load_mnist(tmp_path)
    path.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 40)
    with pytest.raises(TnvizError, match="not an IDX file"):
        load_mnist(tmp_path)
    with pytest.raises(TnvizError, match="not found"):
        load_mnist(tmp_path / "nowhere")


def test_cifar10_binary_and_python_batches_are_read(tmp_path):
    rng = np.random.default_rng(0)
    binary = tmp_path / "bin" / "cifar-10-batches-bin"
    binary.mkdir(parents=True)
    python = tmp_path / "py" / "cifar-10-batches-py"
    python.mkdir(parents=True)
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, (3, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, 3)
        records = np.concatenate([labels[:, None].astype(np.uint8), data], axis=1)
        records.tofile(binary / f"{name}.bin")
        with open(python / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, f)
    a_train, a_test = load_cifar10(tmp_path / "bin")
    b_train, b_test = load_cifar10(tmp_path / "py")
    assert len(a_train) == 15 and len(a_test) == 3
    assert a_train.tensors[0].shape[1:] == (3, 32, 32)
    assert torch.allclose(a_train.tensors[0], b_train.tensors[0])
    assert torch.equal(a_test.tensors[1], b_test.tensors[1])


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_cifar_pickle_with_code_is_refused(tmp_path):
    python = tmp_path / "cifar-10-batches-py"
    python.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        with open(python / name, "wb") as f:
            pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(TnvizError, match="refusing to load builtins.print"):
        load_cifar10(tmp_path)


def test_dataset_names_and_augmentation():
    with pytest.raises(TnvizError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(TnvizError, match="needs root="):
        load_dataset("cifar10")
    base = torch.utils.data.TensorDataset(torch.randn(4, 3, 32, 32), torch.arange(4))
    x, y = Augmented(base)[1]
    assert x.shape == (3, 32, 32) and y == 1
