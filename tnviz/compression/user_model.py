"""The user's own model, named on the command line: ``path/to/file.py:ClassOrFactory``,
``package.module:callable`` or one of the reference networks (``lenet5``, ``resnet20``,
``resnet32``), built with keyword arguments given as JSON.

Every error names the user's file or module and what was expected in it; none advises deleting
anything.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from torch import nn

from tnviz.compression.models import MODELS, build_model
from tnviz.errors import TnvizError

__all__ = ["load_user_model", "parse_kwargs"]


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """``--kwargs`` as a dict: a JSON object such as ``'{"num_classes": 5}'``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise TnvizError(
            f"--kwargs must be a JSON object such as '{{\"num_classes\": 5}}': {err}", token=text
        ) from None
    if not isinstance(value, dict):
        raise TnvizError(f"--kwargs must be a JSON object, got {type(value).__name__}", token=text)
    return value


def load_user_model(spec: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """The model ``spec`` names, built with ``kwargs``.

    Args:
        spec: ``"path/to/file.py:Name"`` (a file of the user's, run as a module of its own),
            ``"package.module:Name"`` (importable) or a reference network's name.
        kwargs: keyword arguments for the class or factory.

    Example:
        >>> load_user_model("lenet5").__class__.__name__
        'LeNet5'
    """
    kwargs = dict(kwargs or {})
    if spec in MODELS:
        if kwargs:
            raise TnvizError(f"the reference network {spec!r} takes no --kwargs", token=spec)
        return build_model(spec)
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise TnvizError(
            f"--model {spec!r}: expected path/to/file.py:ClassOrFactory, package.module:callable or one of "
            f"{', '.join(MODELS)}",
            token=spec,
        )
    module = _from_file(where) if where.endswith(".py") or "/" in where or "\\" in where else _from_package(where)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        found = sorted(k for k, v in vars(module).items() if _builds_a_module(v) and not k.startswith("_"))
        raise TnvizError(
            f"{where} has no class or function {name!r}"
            + (f"; it defines {', '.join(found)}" if found else "; it defines no nn.Module class"),
            token=name,
        )
    try:
        model = factory(**kwargs)
    except Exception as err:  # the user's code: any exception, reported with where it came from
        raise TnvizError(f"{where}:{name}(**{kwargs!r}) raised {_where(err)}", token=name) from None
    if not isinstance(model, nn.Module):
        raise TnvizError(f"{where}:{name}(...) returned a {type(model).__name__}; expected an nn.Module", token=name)
    return model


def _from_file(path_text: str):
    path = Path(path_text)
    if not path.is_file():
        raise TnvizError(f"--model file {path} does not exist", token=path_text)
    # a module name of its own per file, so two files called model.py do not collide
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"tnviz_user_model_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TnvizError(f"--model file {path} cannot be imported as Python", token=path_text)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:  # the file's own imports of its neighbours work, as when it is run
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code
        del sys.modules[module_name]
        raise TnvizError(f"importing {path} raised {_where(err)}", token=path_text) from None
    finally:
        if added:
            sys.path.remove(folder)
    return module


def _from_package(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise TnvizError(
                f"--model module {name!r} is not importable (no module {err.name!r}); give a file path ending in .py "
                "or install the package",
                token=name,
            ) from None
        raise TnvizError(f"importing {name} raised {_where(err)}", token=name) from None
    except Exception as err:  # the user's code
        raise TnvizError(f"importing {name} raised {_where(err)}", token=name) from None


def _builds_a_module(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, nn.Module)


def _where(err: BaseException) -> str:
    """``"NameError: name 'x' is not defined (model.py, line 7)"``: the error and the user's line."""
    package = Path(__file__).resolve().parents[1]
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if not f.filename.startswith("<") and package not in Path(f.filename).resolve().parents
    ]
    last = frames[-1] if frames else None
    if isinstance(err, SyntaxError) and err.filename:
        return f"SyntaxError: {err.msg} ({Path(err.filename).name}, line {err.lineno})"
    at = f" ({Path(last.filename).name}, line {last.lineno})" if last is not None else ""
    return f"{type(err).__name__}: {err}{at}"
