"""Tensorial layers (PyTorch): Linear and Conv1d/2d/3d in the formats of ``tnviz.core.formats``."""

from tnviz.nn.attention import TensorialMultiheadAttention
from tnviz.nn.costs import CostTable, cost_table
from tnviz.nn.layers import (
    TENSORIAL_LAYERS,
    TensorialConv1d,
    TensorialConv2d,
    TensorialConv3d,
    TensorialLayer,
    TensorialLinear,
    dense_base,
    from_dense,
    tensorial_class,
)
from tnviz.nn.pricing import LayerPrice, price_layer

__all__ = [
    "TensorialLayer",
    "TensorialLinear",
    "TensorialConv1d",
    "TensorialConv2d",
    "TensorialConv3d",
    "TensorialMultiheadAttention",
    "cost_table",
    "CostTable",
    "price_layer",
    "LayerPrice",
    "from_dense",
    "TENSORIAL_LAYERS",
    "tensorial_class",
    "dense_base",
]
