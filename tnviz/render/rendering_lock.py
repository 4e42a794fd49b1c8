"""One lock for every matplotlib rendering tnviz does (no matplotlib import here)."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["RENDER_LOCK", "savefig"]

#: matplotlib's text layout (mathtext's parser, shared by every figure) is not thread-safe: a
#: widget drawing its curves in a training thread while the notebook draws another figure fails
#: with a ParseException on a log-axis tick label. Every tnviz rendering takes this lock.
RENDER_LOCK = threading.RLock()


def savefig(fig: Any, buffer: Any, **kwargs: Any) -> None:
    """``fig.savefig`` under :data:`RENDER_LOCK`."""
    with RENDER_LOCK:
        fig.savefig(buffer, **kwargs)
