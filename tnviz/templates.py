"""``tnviz.templates``: the networks people draw, as bound Diagrams (see :mod:`tnviz.core.templates`)."""

from tnviz.core.templates import layer, mera, mpo, mps, norm, peps, ttn

__all__ = ["mps", "mpo", "peps", "ttn", "mera", "layer", "norm"]
