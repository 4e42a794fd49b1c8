"""``tnviz.templates``: the networks people draw, as bound Diagrams (see :mod:`tnviz.core.templates`)."""

from tnviz.core.templates import layer, mpo, mps, norm, peps, ttn

__all__ = ["mps", "mpo", "peps", "ttn", "layer", "norm"]
