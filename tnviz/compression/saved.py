"""Saving a compressed model as data, and rebuilding it onto the user's own class."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from tnviz.compression.checkpoint import load_checkpoint, load_state_into, save_atomic, write_text_atomic
from tnviz.compression.report import CompressionReport
from tnviz.compression.surgery import layer_settings, rebuild
from tnviz.compression.user_model import load_user_model
from tnviz.errors import TnvizError

__all__ = ["save_compressed", "load_compressed", "load_weights", "FILE_VERSION"]

_KIND = "tnviz-compressed"
FILE_VERSION = 1


def save_compressed(
    student: nn.Module,
    report: CompressionReport,
    path: str | os.PathLike,
    *,
    model: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write ``student`` (what :func:`~tnviz.compress` returned with ``report``) atomically as
    data: its state_dict and each compressed layer's format and ranks. ``model`` (the
    ``--model`` text: a reference network, ``file.py:Class`` or ``package.module:callable``) and
    ``model_kwargs`` let :func:`load_compressed` build the architecture itself. The same settings
    go, readable, to a ``.json`` beside the file.

    Example:
        >>> student, report = tnviz.compress(LeNet5(), format="tt", rate=0.1)  # doctest: +SKIP
        >>> save_compressed(student, report, "lenet-tt.pt", model="lenet5")  # doctest: +SKIP
    """
    settings = {
        "kind": _KIND,
        "version": FILE_VERSION,
        "model": model,
        "model_kwargs": dict(model_kwargs or {}),
        "layers": layer_settings(student, report),
    }
    path = save_atomic({**settings, "state": student.state_dict()}, path)
    write_text_atomic(path.with_suffix(".json"), json.dumps(settings, indent=2) + "\n")
    return path


def load_compressed(path: str | os.PathLike, model: nn.Module | None = None) -> nn.Module:
    """The compressed model :func:`save_compressed` wrote, rebuilt onto ``model`` — an instance of
    the user's uncompressed class — or, without one, onto the architecture the file names.
    Read as data only (``weights_only=True``)."""
    data = load_checkpoint(path, ("version", "layers", "state"), kind=_KIND, users_file=True)
    if data["version"] != FILE_VERSION:
        raise TnvizError(
            f"{path} is a version {data['version']!r} compressed model; this tnviz reads version {FILE_VERSION}",
            token=str(path),
        )
    if model is None:
        if not data.get("model"):
            raise TnvizError(
                f"{path} does not name its architecture: pass the uncompressed model, load_compressed(path, MyNet())",
                token=str(path),
            )
        model = load_user_model(data["model"], data.get("model_kwargs") or {})
    student = rebuild(model, data["layers"])
    load_state_into(student, data["state"], str(path))
    return student


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a user's checkpoint into ``model``: a plain ``state_dict`` or a dict holding one
    under ``"model"``/``"state_dict"``; read with ``weights_only=True`` and checked."""
    data = load_checkpoint(path, users_file=True)
    state = data
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(data.get(key), dict):
            state = data[key]
            break
    load_state_into(model, {k.removeprefix("module."): v for k, v in state.items()}, str(path))
    return model
