"""A cache of what a module's program computes from its parameters alone (the kernel of a
``"reconstruct"`` plan, a merged kernel of factors), never serving a stale value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tnviz.execute.program import Program

__all__ = ["KernelCache"]


class KernelCache:
    """What a module's program computes from its parameters alone, kept while they hold the
    same values — the reconstructed kernel of a ``"reconstruct"`` plan, a merged kernel of
    factors — so that inference does not rebuild it on every call.

    Its owner passes it only when no gradient is recorded (autograd keeps the kernel for the
    backward pass by itself) and never while tracing, compiling or under ``vmap``. A lookup
    compares the parameters with a snapshot of their values (version counters miss an
    in-place edit through ``.data``, and a swapped tensor may reuse a storage address): the
    parameters are the small factors, so the check costs a fraction of one rebuild. The
    cache is not saved with its module: ``torch.save``, ``copy.deepcopy`` and pickling start
    it empty."""

    def __init__(self) -> None:
        self._entry: tuple | None = None

    def lookup(self, program: Program, params: Sequence[torch.Tensor]) -> list[torch.Tensor] | None:
        entry = self._entry
        if entry is None or entry[0] is not program or entry[3] != torch.is_inference_mode_enabled():
            return None
        for p, s in zip(params, entry[1]):
            if p.shape != s.shape or p.dtype != s.dtype or p.device != s.device or not torch.equal(p, s):
                return None
        return entry[2]

    def store(self, program: Program, params: Sequence[torch.Tensor], values: list[torch.Tensor]) -> None:
        snapshot = [p.detach().clone() for p in params]
        self._entry = (program, snapshot, [v.detach() for v in values], torch.is_inference_mode_enabled())

    def clear(self) -> None:
        self._entry = None

    def __bool__(self) -> bool:
        return self._entry is not None

    def __getstate__(self) -> dict:
        return {"_entry": None}

    def __deepcopy__(self, memo: dict) -> KernelCache:
        return KernelCache()
