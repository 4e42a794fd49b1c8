"""Saving and restoring each module's train/eval state and each parameter's ``requires_grad``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["preserved_state"]


@contextlib.contextmanager
def preserved_state(*models: nn.Module | None, grads: bool = False) -> Iterator[None]:
    """Restore every submodule's ``training`` flag (and, with ``grads``, every parameter's
    ``requires_grad``) on exit, even on error. ``model.train(flag)`` would instead force one
    mode on all submodules, undoing a block trained while the rest is frozen in eval mode."""
    modes = [(m, m.training) for model in models if model is not None for m in model.modules()]
    flags = [(p, p.requires_grad) for model in models if model is not None for p in model.parameters()] if grads else []
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)
