"""Checkpoints written atomically and read as data.

A checkpoint is written to a temporary file in the same folder, flushed and fsynced, then
renamed over the old one (``os.replace`` is atomic on POSIX and Windows): a crash, a SIGKILL or
a full disk at any moment leaves either the old file or the new one, never half of one. It is
read with ``torch.load(weights_only=True)`` — tensors, numbers, strings, lists and dicts only —
and its fields are checked before anything is used.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from tnviz.errors import TnvizError

__all__ = ["save_atomic", "write_text_atomic", "load_checkpoint", "load_state_into"]


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` so that the file is at all times complete (old or new)."""
    return _write_atomic(path, lambda f: torch.save(obj, f))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a text file so that it is at all times complete (old or new)."""
    return _write_atomic(path, lambda f: f.write(text.encode()))


def _umask() -> int:
    """The process's umask, read without setting it (os.umask can only read by changing it, for
    every thread); 0o022 where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _write_atomic(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; the file gets the mode open() would give it (or keeps its own)
        os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a quota, a vanished folder: the old file is untouched
        Path(tmp).unlink(missing_ok=True)
        raise TnvizError(
            f"could not write {path} ({exc.strerror or exc}); the previous version of it is intact", token=str(path)
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass
    return path


def load_checkpoint(
    path: str | os.PathLike, required: tuple[str, ...] = (), kind: str | None = None, *, users_file: bool = False
) -> dict:
    """Read a checkpoint as data, with a clear error for a missing, truncated, corrupted or
    foreign file.

    Args:
        path: the file.
        required: keys the checkpoint must hold.
        kind: if given, the value its ``"kind"`` field must have.
        users_file: the user's own file (a model's weights), not one tnviz writes and resumes
            from: its error says what to save instead, never to delete it.
    """
    path = Path(path)
    if not path.is_file():
        raise TnvizError(f"checkpoint {path} does not exist", token=str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if users_file:
            pickled = "Unsupported global" in str(exc)  # what torch says of a pickled class
            advice = (
                "it holds Python objects, such as a whole pickled model, which tnviz does not unpickle (that can run "
                "code): save the weights with torch.save(model.state_dict(), path) and name the model's class with "
                "--model file.py:Class"
                if pickled
                else "it is not a file torch.save wrote, or it is truncated"
            )
            raise TnvizError(f"{path} cannot be read as weights: {advice} ({first})", token=str(path)) from None
        raise TnvizError(
            f"checkpoint {path} is corrupted or truncated, or holds more than plain data ({first}); "
            "delete it to start again",
            token=str(path),
        ) from None
    if not isinstance(data, dict):
        raise TnvizError(f"checkpoint {path} holds a {type(data).__name__}; expected a dict", token=str(path))
    if kind is not None and data.get("kind") != kind:
        raise TnvizError(f"checkpoint {path} is a {data.get('kind')!r} file; expected {kind!r}", token=str(path))
    missing = [k for k in required if k not in data]
    if missing:
        raise TnvizError(f"checkpoint {path} lacks {', '.join(missing)}", token=str(path))
    return data


def load_state_into(module: torch.nn.Module, state: Any, source: str) -> None:
    """``module.load_state_dict(state)`` after checking names, shapes and dtypes, finite values."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TnvizError(f"{source}: the model state is not a dict of tensors", token=source)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise TnvizError(
            f"{source} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}", token=source
        )
    for name, value in state.items():
        if value.shape != own[name].shape:
            raise TnvizError(
                f"{source}: {name} has shape {tuple(value.shape)}; the model expects {tuple(own[name].shape)}",
                token=name,
            )
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise TnvizError(f"{source}: {name} holds NaN or Inf", token=name)
    module.load_state_dict(state)
