"""``nn.MultiheadAttention`` with its packed input projection in a tensorial format.

``nn.MultiheadAttention`` keeps its query/key/value projection as a bare parameter,
``in_proj_weight`` (3E × E), and reads it inside ``F.multi_head_attention_forward``; there is no
Linear module to replace. :class:`TensorialMultiheadAttention` is the same module with that
parameter computed from a :class:`~tnviz.nn.TensorialLinear` child, ``in_proj``: every argument,
mask, fast path and output of ``torch.nn``'s attention stays as it is, and the projection's
parameters are the factors. (Its output projection, ``out_proj``, is a Linear module that
:func:`tnviz.compress` replaces like any other.)
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from tnviz.errors import TnvizError
from tnviz.nn.layers import TensorialLayer, TensorialLinear

__all__ = ["TensorialMultiheadAttention", "as_linear"]


class TensorialMultiheadAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` whose ``in_proj_weight`` is ``self.in_proj.weight``, the dense
    weight of a tensorial Linear E → 3E (read-only; gradients flow to its factors).

    Build it from a trained module with :meth:`from_dense`."""

    in_proj: TensorialLinear

    @property  # type: ignore[override]
    def in_proj_weight(self) -> torch.Tensor:
        return self.in_proj.weight

    @classmethod
    def from_dense(
        cls,
        module: nn.MultiheadAttention,
        format: str,
        rate: float | None = None,
        rank: Any = None,
        *,
        init: str = "decompose",
        **layer_kwargs: Any,
    ) -> TensorialMultiheadAttention:
        """A copy of ``module`` whose packed input projection is decomposed into ``format``
        (as :meth:`TensorialLinear.from_dense` decomposes a Linear); ``module`` is not changed.
        ``reconstruction_error`` is the projection's ‖W − Ŵ‖ / ‖W‖."""
        if not isinstance(module, nn.MultiheadAttention):
            raise TnvizError(
                f"TensorialMultiheadAttention.from_dense takes an nn.MultiheadAttention, got {type(module).__name__}",
                token=type(module).__name__,
            )
        if not module._qkv_same_embed_dim:
            raise TnvizError(
                "this attention has separate query/key/value projections (kdim or vdim differ from embed_dim); "
                "only the packed in_proj_weight is compressible",
                token="kdim",
            )
        packed = as_linear(module.in_proj_weight)
        return cls.around(module, TensorialLinear.from_dense(packed, format, rate, rank, init=init, **layer_kwargs))

    @classmethod
    def around(cls, module: nn.MultiheadAttention, in_proj: TensorialLinear) -> TensorialMultiheadAttention:
        """``module``'s settings, biases and ``out_proj`` (shared, not copied) around ``in_proj``,
        a tensorial Linear embed_dim → 3·embed_dim."""
        want = (module.embed_dim, 3 * module.embed_dim)
        if (in_proj.in_features, in_proj.out_features) != want:
            raise TnvizError(
                f"in_proj must be a Linear {want[0]}→{want[1]} for this attention, got "
                f"{in_proj.in_features}→{in_proj.out_features}",
                token="in_proj",
            )
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        for key, value in module.__dict__.items():  # every setting and child as torch.nn made them
            if key not in ("_parameters", "_modules", "_buffers", "training"):
                new.__dict__[key] = value
        new.training = module.training
        for key, param in module._parameters.items():
            if key != "in_proj_weight":
                new._parameters[key] = param
        new._buffers.update(module._buffers)
        new._modules.update(module._modules)
        new.in_proj = in_proj
        new.reconstruction_error = getattr(in_proj, "reconstruction_error", None)
        return new

    def forward(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``nn.MultiheadAttention.forward``, each tensorial projection's weight rebuilt once for
        the call (torch reads ``in_proj_weight`` up to four times and ``out_proj.weight`` twice:
        an encoder's attention ran 3.6× the FLOPs of rebuilding them once). Under
        ``torch.compile`` the compiler sees the reads as they are."""
        if torch.compiler.is_compiling():
            return super().forward(*args, **kwargs)
        with contextlib.ExitStack() as held:
            for layer in (self.in_proj, self.out_proj):
                if isinstance(layer, TensorialLayer):
                    held.enter_context(layer.weight_held())
            return super().forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, in_proj={self.in_proj.format!r}"


def as_linear(weight: torch.Tensor) -> nn.Linear:
    """A bias-free Linear holding ``weight`` (out, in), to decompose like any Linear."""
    out_features, in_features = weight.shape
    linear = nn.Linear(in_features, out_features, bias=False, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
    return linear
