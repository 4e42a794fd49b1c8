"""tnviz: tensor diagrams you can see, price, run and train.

Heavy dependencies load lazily: ``import tnviz`` and ``import tnviz.core`` need only the
standard library; ``tnviz.einsum`` and ``tnviz.TensorNetwork`` load torch on first use.
"""

from __future__ import annotations

from typing import Any

from tnviz.core import Diagram, Hyper, Plan
from tnviz.core.einsum_source import from_einsum
from tnviz.errors import TnvizError

__all__ = [
    "Diagram",
    "Hyper",
    "Plan",
    "TnvizError",
    "einsum",
    "contract_expression",
    "from_einsum",
    "from_tensorly",
    "from_quimb",
    "TensorNetwork",
    "compress",
    "distill",
    "set_memory_budget",
    "__version__",
]
__version__ = "0.1.0"

_LAZY = {
    "einsum": "tnviz.execute.einsum",
    "contract_expression": "tnviz.execute.expression",
    "TensorNetwork": "tnviz.execute.module",
    "compress": "tnviz.compression.surgery",
    "distill": "tnviz.compression.distill",
    "set_memory_budget": "tnviz.execute.memory",
    "from_tensorly": "tnviz.execute.from_objects",
    "from_quimb": "tnviz.execute.from_objects",
}


_SUBMODULES = ("gallery", "render", "nn", "compression", "templates")


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"tnviz.{name}")
    raise AttributeError(f"module 'tnviz' has no attribute {name!r}")
