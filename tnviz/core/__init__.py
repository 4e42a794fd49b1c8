"""The diagram model: spec language, Diagram, cost and plans. Standard library only."""

from tnviz.core.conv_options import ConvOptions
from tnviz.core.diagram import Diagram, Index
from tnviz.core.optimize import Hyper
from tnviz.core.plan import Plan, Step
from tnviz.core.spec import Spec, format_spec
from tnviz.core.spec_parser import parse_spec

__all__ = ["Diagram", "Index", "ConvOptions", "Hyper", "Plan", "Step", "Spec", "parse_spec", "format_spec"]
