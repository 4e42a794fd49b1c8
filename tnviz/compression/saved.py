"""Saving a compressed reference network so that it can be rebuilt and loaded as data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from tnviz.compression.checkpoint import load_checkpoint, load_state_into, save_atomic
from tnviz.compression.models import build_model
from tnviz.compression.surgery import compress
from tnviz.errors import TnvizError

__all__ = ["save_compressed", "load_compressed", "load_weights"]

_KIND = "tnviz-compressed"


def save_compressed(model: nn.Module, path: str | os.PathLike, arch: str, **compress_args: Any) -> Path:
    """Write ``model`` (made by ``compress(build_model(arch), **compress_args)``) atomically,
    with what is needed to rebuild it."""
    args = {k: v for k, v in compress_args.items() if v is not None}
    return save_atomic({"kind": _KIND, "arch": arch, "compress": args, "model": model.state_dict()}, path)


def load_compressed(path: str | os.PathLike) -> nn.Module:
    """Rebuild and load a model written by :func:`save_compressed` (read as data only)."""
    data = load_checkpoint(path, ("arch", "compress", "model"), kind=_KIND)
    args = data["compress"]
    if not isinstance(args, dict) or not isinstance(data["arch"], str):
        raise TnvizError(f"{path}: malformed compression settings", token=str(path))
    model, _ = compress(build_model(data["arch"]), init="random", **args)
    load_state_into(model, data["model"], str(path))
    return model


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a user's checkpoint into ``model``: a plain ``state_dict`` or a dict holding one
    under ``"model"``/``"state_dict"``; read with ``weights_only=True`` and checked."""
    data = load_checkpoint(path)
    state = data
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(data.get(key), dict):
            state = data[key]
            break
    load_state_into(model, {k.removeprefix("module."): v for k, v in state.items()}, str(path))
    return model
