"""PyTorch execution of Diagrams: ``einsum`` and the ``TensorNetwork`` module."""

from tnviz.execute.einsum import einsum
from tnviz.execute.expression import ContractExpression, contract_expression
from tnviz.execute.module import TensorNetwork

__all__ = ["einsum", "contract_expression", "ContractExpression", "TensorNetwork"]
