"""What :func:`tnviz.compress` can replace in a model, and why the rest stays as it is.

Every module that holds parameters is accounted for: a Linear or Conv1d/2d/3d (a subclass too,
when it keeps torch.nn's forward) and the packed input projection of ``nn.MultiheadAttention``
are *candidates*; everything else is *kept*, with the reason in words — a depthwise convolution,
a subclass with a forward of its own, a normalisation layer's scales, attention's biases.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from tnviz.errors import TnvizError
from tnviz.nn.layers import TENSORIAL_LAYERS, dense_base

__all__ = ["Candidate", "KeptModule", "IN_PROJ", "inventory", "select", "describe", "in_model_order", "is_projection"]

IN_PROJ = "in_proj_weight"  # nn.MultiheadAttention's packed query/key/value projection


@dataclass(frozen=True)
class Candidate:
    """A weight compress can put in a tensorial format: a layer module (``name``), or an
    attention's packed input projection (``name`` = ``"<attention>.in_proj_weight"``)."""

    name: str
    kind: str
    params: int
    # the nn.MultiheadAttention holding it (its in_proj_weight or out_proj): torch's attention
    # reads the weight and never calls a module, so no hook sees the layer; the attention's input
    # stands in for its input
    attention: str | None = None

    @property
    def module_name(self) -> str:
        """The module replaced: the layer itself, or the attention holding the projection."""
        return self.name.removesuffix("." + IN_PROJ) if self.is_projection else self.name

    @property
    def is_projection(self) -> bool:
        return is_projection(self.name)


def is_projection(name: str) -> bool:
    """Whether a compressed weight's name is an attention's packed input projection."""
    return name == IN_PROJ or name.endswith("." + IN_PROJ)


@dataclass(frozen=True)
class KeptModule:
    """A module with parameters left as it was, and why (``params``: those it holds itself)."""

    name: str
    kind: str
    params: int
    reason: str


def describe(module: nn.Module) -> str:
    """``"Linear 84→10"``, ``"Conv2d 32→32 3×3 groups=32"``, ``"LayerNorm"``: a module in a few words."""
    if isinstance(module, nn.Linear):
        return f"{type(module).__name__} {module.in_features}→{module.out_features}"
    if isinstance(module, tuple(TENSORIAL_LAYERS)):
        text = f"{type(module).__name__} {module.in_channels}→{module.out_channels} " + "×".join(
            map(str, module.kernel_size)
        )
        return text + (f" groups={module.groups}" if module.groups != 1 else "")
    if isinstance(module, nn.MultiheadAttention):
        return f"{type(module).__name__} {module.embed_dim}, {module.num_heads} heads"
    return type(module).__name__


def _own_params(module: nn.Module, leave_out: Sequence[str] = ()) -> int:
    return sum(p.numel() for n, p in module.named_parameters(recurse=False) if n not in leave_out)


def inventory(model: nn.Module) -> tuple[list[Candidate], list[KeptModule]]:
    """(candidates, kept) over every module of ``model`` that holds parameters, in registration order."""
    candidates: list[Candidate] = []
    kept: list[KeptModule] = []
    attention_of = {
        f"{n}.out_proj" if n else "out_proj": n
        for n, m in model.named_modules()
        if isinstance(m, nn.MultiheadAttention)
    }
    for name, module in model.named_modules():
        own = _own_params(module)
        if isinstance(module, nn.MultiheadAttention):
            candidates_, kept_ = _attention(name, module)
            candidates += candidates_
            kept += kept_
        elif isinstance(module, tuple(TENSORIAL_LAYERS)):
            reason = _why_dense(module)
            if reason is None:
                attention = attention_of.get(name)
                kind = describe(module) if attention is None else f"attention out_proj {describe(module).split()[-1]}"
                candidates.append(Candidate(name, kind, module.weight.numel(), attention))
            elif own:
                kept.append(KeptModule(name, describe(module), own, reason))
        elif own:
            why = f"not a Linear, convolution or attention ({type(module).__name__})"
            kept.append(KeptModule(name, describe(module), own, why))
    return candidates, kept


def _attention(name: str, module: nn.MultiheadAttention) -> tuple[list[Candidate], list[KeptModule]]:
    """An attention's packed input projection, and its biases kept (its out_proj is a module of its own)."""
    if not module._qkv_same_embed_dim:
        own = _own_params(module)
        why = (
            "separate query/key/value projections (kdim or vdim differ from embed_dim): only a packed "
            "in_proj_weight is compressible"
        )
        return [], [KeptModule(name, describe(module), own, why)] if own else []
    w = module.in_proj_weight
    projection = Candidate(
        f"{name}.{IN_PROJ}" if name else IN_PROJ, f"attention in_proj {w.shape[1]}→{w.shape[0]}", w.numel(), name
    )
    biases = [n for n, _ in module.named_parameters(recurse=False) if n != IN_PROJ]
    if not biases:
        return [projection], []
    reason = f"attention's biases ({', '.join(biases)})"
    return [projection], [KeptModule(name, describe(module), _own_params(module, (IN_PROJ,)), reason)]


def _why_dense(module: nn.Module) -> str | None:
    """Why a Linear/Conv module cannot be replaced, or None when it can."""
    if dense_base(module) is None:
        return f"{type(module).__name__} has a forward of its own; replacing it would drop that computation"
    if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params():
        return "a lazy layer not run yet: its weight has no shape"
    groups = getattr(module, "groups", 1)
    if groups > 1 and groups == module.in_channels:
        per = "×".join(map(str, module.kernel_size))
        return (
            f"depthwise convolution (groups = in_channels = {groups}): one {per} filter per channel, no channels "
            "to factor"
        )
    return None


def select(
    model: nn.Module,
    skip: Sequence[str] | str | None,
    include: Sequence[str] | str | None,
) -> tuple[list[Candidate], list[KeptModule]]:
    """(the candidates to compress, every other module with parameters and why it is kept).

    ``include``/``skip`` take names or glob patterns over the candidates' names; without
    ``include``, the first convolution and the last Linear stay dense (the paper's rule)."""
    candidates, kept = inventory(model)
    if not candidates:
        raise TnvizError(
            "the model has no nn.Linear, nn.Conv1d/2d/3d or attention projection to compress"
            + (f"; {kept[0].name or 'the model'}: {kept[0].reason}" if kept else ""),
            token=type(model).__name__,
        )
    names = [c.name for c in candidates]
    include_p, skip_p = _patterns(include, "include", names, kept), _patterns(skip, "skip", names, kept)
    why: dict[str, str] = {}
    if include_p is not None:
        for c in candidates:
            if not any(fnmatch.fnmatchcase(c.name, p) for p in include_p):
                why[c.name] = "not named by include="
    else:
        # The paper keeps the first convolution and the last linear layer dense: they are small
        # and the accuracy is most sensitive to them.
        modules = dict(model.named_modules())
        layers = [c for c in candidates if not c.is_projection]
        convs = [c.name for c in layers if not isinstance(modules[c.name], nn.Linear)]
        linears = [c.name for c in layers if isinstance(modules[c.name], nn.Linear)]
        for name in convs[:1]:
            why[name] = "the first convolution stays dense by default (small, and the accuracy is most sensitive to it)"
        for name in linears[-1:]:
            why[name] = "the last Linear stays dense by default (small, and the accuracy is most sensitive to it)"
    if skip_p is not None:
        for c in candidates:
            if c.name not in why and any(fnmatch.fnmatchcase(c.name, p) for p in skip_p):
                why[c.name] = "named by skip="
    chosen = [c for c in candidates if c.name not in why]
    if not chosen:
        if include is None and skip is None:
            raise TnvizError(
                f"by default the first convolution and the last Linear stay dense, and this model has no other layer "
                f"({', '.join(names)}); name the layers to compress with include=",
                token=names[0],
            )
        raise TnvizError("no layer left to compress after include/skip", token=str(skip or include))
    modules = dict(model.named_modules())
    dense = [
        KeptModule(c.name, c.kind, c.params if c.is_projection else _own_params(modules[c.name]), why[c.name])
        for c in candidates
        if c.name in why
    ]
    return chosen, in_model_order(model, dense + kept)


def _patterns(value, what: str, names: list[str], kept: list[KeptModule]) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    for p in items:
        if not isinstance(p, str):
            raise TnvizError(f"{what} takes module names or glob patterns, got {p!r}", token=repr(p))
        if not fnmatch.filter(names, p):
            blocked = [k for k in kept if fnmatch.fnmatchcase(k.name, p)]
            if blocked:
                raise TnvizError(
                    f"{what} pattern {p!r} names only modules that cannot be compressed: "
                    + "; ".join(f"{k.name}: {k.reason}" for k in blocked[:3]),
                    token=p,
                )
            raise TnvizError(
                f"{what} pattern {p!r} matches no compressible layer; the layers are {', '.join(names)}", token=p
            )
    return items


def in_model_order(model: nn.Module, kept: Sequence[KeptModule]) -> list[KeptModule]:
    """``kept`` in the model's registration order (an attention's projection beside its module)."""
    rank = {name: i for i, (name, _) in enumerate(model.named_modules())}
    return sorted(kept, key=lambda k: rank.get(k.name.removesuffix("." + IN_PROJ), len(rank)))
