"""Saving a compressed model as data, and rebuilding it onto the user's own class."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from tnviz.compression.checkpoint import load_checkpoint, load_state_into, save_atomic, write_text_atomic
from tnviz.compression.inventory import Candidate, inventory
from tnviz.compression.report import CompressionReport
from tnviz.compression.surgery import dense_of, install_layer, modules_and_aliases
from tnviz.compression.user_model import load_user_model
from tnviz.errors import TnvizError
from tnviz.nn.layers import tensorial_class

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


def layer_settings(student: nn.Module, report: CompressionReport) -> dict[str, dict[str, Any]]:
    """What rebuilds each compressed layer of ``student`` (by the report's names): its format,
    ranks, order and channel factors — plain data, as :func:`rebuild` takes it."""
    out = {}
    for r in report.layers:
        c = Candidate(r.name, r.kind, r.dense_params, r.attention)
        module = student.get_submodule(c.module_name)
        layer = module.in_proj if c.is_projection else module
        config = layer.config
        out[r.name] = {
            "format": layer.format,
            "ranks": dict(layer.ranks),
            "order": config.order,
            "in_factors": list(config.in_factors) if config.in_factors else None,
            "out_factors": list(config.out_factors) if config.out_factors else None,
        }
    return out


def rebuild(model: nn.Module, settings: dict[str, dict[str, Any]]) -> nn.Module:
    """A copy of ``model`` (the uncompressed architecture) with the layers named in ``settings``
    (:func:`layer_settings`) in their formats and ranks, ready for ``load_state_dict``."""
    if not isinstance(settings, dict):
        raise TnvizError("the layer settings must be a dict of layer name → settings", token=type(settings).__name__)
    student = copy.deepcopy(model)
    modules, aliases = modules_and_aliases(student)
    candidates = {c.name: c for c in inventory(student)[0]}
    for name, setting in settings.items():
        c = candidates.get(name)
        if c is None:
            raise TnvizError(
                f"the compressed model has layer {name!r}, which this model has not (its layers: "
                f"{', '.join(list(candidates)[:8])}{', …' if len(candidates) > 8 else ''})",
                token=name,
            )
        dense = dense_of(modules[c.module_name], c)
        try:
            kwargs = {k: setting[k] for k in ("order", "in_factors", "out_factors") if setting.get(k) is not None}
            layer = tensorial_class(dense)._like(dense, setting["format"], None, setting["ranks"], **kwargs)
        except (KeyError, TypeError) as err:
            raise TnvizError(f"layer {name!r}: malformed settings {setting!r} ({err})", token=name) from None
        layer.train(dense.training)
        install_layer(student, modules, aliases, c, layer)
    return student
