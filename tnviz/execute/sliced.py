"""Running a :class:`~tnviz.core.plan.slicing.SlicedPlan`: one compiled piece, run once per chunk
of the sliced indices on views of the inputs, the pieces summed or placed side by side."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from tnviz.core.plan.slicing import SlicedPlan
from tnviz.execute.program import Program

__all__ = ["SlicedProgram"]


class SlicedProgram:
    """``program(tensors, bias=None, cache=None)`` as :class:`Program`, in pieces (no kernel cache:
    what a piece computes from the parameters alone differs from piece to piece)."""

    def __init__(self, sliced: SlicedPlan) -> None:
        diagram = sliced.diagram
        self.piece = Program(sliced.piece)
        indices = [i for i, _ in sliced.sliced]
        self.ranges = [range(p) for _, p in sliced.sliced]
        self.chunks = [int(diagram.size(i)) // p for i, p in sliced.sliced]  # type: ignore[arg-type]
        # per tensor: (dimension, which sliced index) for each sliced index it holds
        self.cuts = [
            [(op.modes.index((i,)), k) for k, i in enumerate(indices) if (i,) in op.modes] for op in diagram.tensors
        ]
        out_modes = diagram.output.modes
        self.placed = [(out_modes.index((i,)), k) for k, i in enumerate(indices) if (i,) in out_modes]
        self.bias_dims = len(sliced.output_shape) - 2

    def __call__(
        self, tensors: Sequence[torch.Tensor], bias: torch.Tensor | None = None, cache: object = None
    ) -> torch.Tensor:
        pieces: dict[tuple[int, ...], torch.Tensor] = {}
        for values in itertools.product(*self.ranges):
            views = []
            for t, cuts in zip(tensors, self.cuts):
                for dim, k in cuts:
                    t = t.narrow(dim, values[k] * self.chunks[k], self.chunks[k])
                views.append(t)
            y = self.piece(views)
            where = tuple(values[k] for _, k in self.placed)
            pieces[where] = y if where not in pieces else pieces[where] + y
        y = _assemble(pieces, [dim for dim, _ in self.placed], [len(self.ranges[k]) for _, k in self.placed])
        if bias is not None:
            y = y + bias.to(y.dtype).reshape(-1, *([1] * self.bias_dims))
        return y


def _assemble(pieces: dict[tuple[int, ...], torch.Tensor], dims: list[int], counts: list[int]) -> torch.Tensor:
    """The pieces placed side by side along the output's sliced dimensions (none: the one sum)."""
    if not dims:
        return pieces[()]
    parts = []
    for value in range(counts[0]):
        rest = {key[1:]: y for key, y in pieces.items() if key[0] == value}
        parts.append(_assemble(rest, dims[1:], counts[1:]))
    return torch.cat(parts, dim=dims[0])
