"""``from_dense``: initialise a tensorial layer by decomposing a pretrained weight with tensorly.

CP-ALS (``parafac``), Tucker/HOOI (``partial_tucker``), TT-SVD (``tensor_train``) and TR-SVD
(``tensor_ring``) run on tensorly's NumPy backend in float64 — tensorly's global backend is
never changed. The reshaped formats decompose the weight reshaped into pairs of channel
factors (sₗ·tₗ) and the kernel, as in Su et al.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from tnviz.errors import TnvizError
from tnviz.nn.layers import TensorialConv1d, TensorialConv2d, TensorialConv3d, TensorialLinear, _Tensorial

__all__ = ["from_dense", "MEMORY_LIMIT_BYTES"]

MEMORY_LIMIT_BYTES = 4 * 2**30  # refuse decompositions whose working set would pass this


def _tensorly():
    try:
        import tensorly  # noqa: F401
        from tensorly.decomposition import parafac, partial_tucker, tensor_ring, tensor_train
    except ImportError as err:  # tensorly is an extra; it also needs 'packaging'
        raise TnvizError(
            f"from_dense needs tensorly (pip install 'tnviz[tensorly]'): {err}", token="tensorly"
        ) from None
    return parafac, partial_tucker, tensor_train, tensor_ring


_LAYERS = {
    nn.Linear: TensorialLinear,
    nn.Conv1d: TensorialConv1d,
    nn.Conv2d: TensorialConv2d,
    nn.Conv3d: TensorialConv3d,
}


def from_dense(
    module: nn.Module,
    format: str = "cp",
    rate: float | None = None,
    rank: Any = None,
    order: int = 3,
    n_iter_max: int = 200,
    random_state: int = 0,
    **layer_kwargs: Any,
) -> _Tensorial:
    """A tensorial layer whose factors decompose ``module``'s weight.

    Args:
        module: an ``nn.Linear`` or ``nn.Conv1d/2d/3d`` (its stride, padding, dilation,
            groups, padding_mode and bias are kept).
        format, rate, rank, order: as for the tensorial layers.
        n_iter_max, random_state: for the iterative decompositions (CP-ALS, HOOI).
        **layer_kwargs: further layer arguments (``in_factors``, ``optimize``, ...).

    Returns:
        The layer, with ``reconstruction_error`` = ‖W − Ŵ‖ / ‖W‖ set on it.

    Raises:
        TnvizError: an unsupported module, or a decomposition that would need more than
            ``MEMORY_LIMIT_BYTES``.

    Example:
        >>> conv = nn.Conv2d(16, 16, 3, padding=1)
        >>> layer = from_dense(conv, format="tk", rate=0.5)
        >>> round(layer.reconstruction_error, 2) < 1
        True
    """
    cls = _LAYERS.get(type(module))
    if cls is None:
        raise TnvizError(
            f"from_dense takes nn.Linear or nn.Conv1d/2d/3d, got {type(module).__name__}", token=type(module).__name__
        )
    weight = module.weight.detach()
    factory = {"device": weight.device, "dtype": weight.dtype}
    if cls is TensorialLinear:
        layer = cls(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            format=format,
            rate=rate,
            rank=rank,
            order=order,
            **factory,
            **layer_kwargs,
        )
    else:
        layer = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            format=format,
            rate=rate,
            rank=rank,
            order=order,
            **factory,
            **layer_kwargs,
        )
    if not torch.isfinite(weight).all():
        raise TnvizError(f"the {type(module).__name__}'s weight holds NaN or Inf: nothing to decompose", token="weight")
    _check_memory(layer, weight)
    W = weight.double().cpu().numpy()
    g = layer.shape.groups
    per_group = W.reshape(g, W.shape[0] // g, *W.shape[1:])
    factors: dict[str, list[np.ndarray]] = {}
    for k in range(g):
        try:
            parts = _decompose(layer, per_group[k], n_iter_max, random_state)
        except TnvizError:
            raise
        except (ValueError, IndexError, np.linalg.LinAlgError) as err:  # tensorly's own refusals
            raise TnvizError(
                f"tensorly cannot decompose this weight as {format!r} with ranks {layer.ranks}: {err}", token=format
            ) from None
        for name, value in parts.items():
            target = tuple(layer.weights[name].shape)[1:] if g > 1 else tuple(layer.weights[name].shape)
            factors.setdefault(name, []).append(_fit(value, target, name))
    with torch.no_grad():
        for name, values in factors.items():
            value = np.stack(values) if g > 1 else values[0]
            layer.weights[name].copy_(torch.as_tensor(value).to(**factory))
        if module.bias is not None:
            layer.bias.copy_(module.bias.detach())
        rebuilt = layer.dense_weight()
    if not torch.isfinite(rebuilt).all():
        raise TnvizError(
            f"tensorly's {format!r} decomposition produced NaN or Inf for ranks {layer.ranks}", token=format
        )
    layer.reconstruction_error = float((rebuilt - weight).norm() / weight.norm().clamp_min(1e-30))
    return layer


def _fit(value: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Zero-pad a factor whose ranks came out smaller than asked (an SVD has at most
    min(m, n) components); the padding adds exact zeros, so the product is unchanged."""
    if value.shape == shape:
        return value
    if value.ndim != len(shape) or any(a > b for a, b in zip(value.shape, shape)):
        raise TnvizError(f"decomposed factor {name!r} has shape {value.shape}; expected {shape}", token=name)
    return np.pad(value, [(0, b - a) for a, b in zip(value.shape, shape)])


def _check_memory(layer: _Tensorial, weight: torch.Tensor) -> None:
    largest_rank = max(layer.ranks.values(), default=1)
    need = weight.numel() * 8 * (3 + largest_rank)  # the tensor, its unfoldings and a rank-wide factor product
    from tnviz.execute.memory import memory_budget

    limit = min(MEMORY_LIMIT_BYTES, memory_budget())
    if need > limit:
        raise TnvizError(
            f"decomposing a {tuple(weight.shape)} weight at rank {largest_rank} needs about {need / 2**30:.1f} GiB; "
            f"the limit is {limit / 2**30:.1f} GiB (MEMORY_LIMIT_BYTES and the memory budget) — lower the rank or rate",
            token=str(largest_rank),
        )


def _check_tucker_ranks(layer: _Tensorial) -> None:
    """tensorly's Tucker returns garbage for a rank above its mode's size: refuse it."""
    spec, r = layer.layer_spec, layer.layer_spec.ranks
    if spec.format == "tk":
        sizes = {"p": spec.in_factors[0], "q": spec.out_factors[0]}
    else:
        sizes = {f"p{k}": v for k, v in enumerate(spec.in_factors, 1)}
        sizes.update({f"q{k}": v for k, v in enumerate(spec.out_factors, 1)})
    for name, size in sizes.items():
        if r[name] > size:
            raise TnvizError(
                f"Tucker rank {name}={r[name]} exceeds its mode's size {size}; expected at most {size}", token=name
            )


def _cp(parafac, X: np.ndarray, rank: int, n_iter_max: int, seed: int):
    """CP-ALS from an SVD start; from a random start where that fails (tensorly's SVD start
    raises for a rank above a mode's size, and can give NaN); failing both, at lower ranks
    (the smallest mode's size, half the rank, a quarter, …) — the missing components are
    then zero (see ``_fit``) and the layer's ``reconstruction_error`` says how good the fit is."""
    from tensorly.cp_tensor import CPTensor

    if X.ndim == 1:  # one mode: the vector itself is its rank-1 CP
        return CPTensor((np.ones(1), [X.reshape(-1, 1)]))
    ranks = {rank, min(rank, min(X.shape))}  # the rank, the smallest mode's size, then halvings
    r = rank
    while r > 1:
        r //= 2
        ranks.add(r)
    attempts = [(r, init) for r in sorted(ranks, reverse=True) for init in ("svd", "random")]
    for r, init in attempts:
        try:
            with warnings.catch_warnings():
                # tensorly's SVD start warns, then fills the columns beyond a mode's size at
                # random: the documented behaviour we rely on, not news for the user.
                warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs")
                cp = parafac(X, r, n_iter_max=n_iter_max, init=init, random_state=seed)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if all(np.isfinite(f).all() for f in cp.factors) and np.isfinite(cp.weights).all():
            return cp
    raise TnvizError(
        f"CP-ALS at rank {rank} diverged (NaN) for a tensor of shape {X.shape}; lower the rank", token=str(rank)
    )


def _ring(X: np.ndarray, ranks: list[int], tensor_ring, tensor_train) -> list[np.ndarray]:
    """TR-SVD cores; where TR-SVD cannot split the first mode into r₀·r₁ (it needs
    r₀·r₁ ≤ that mode's size), the TT-SVD cores instead, embedded in the ring: the closing
    rank's index 0 carries the train and the rest is zero-padded by ``_fit`` — exact."""
    try:
        with warnings.catch_warnings():
            # a Linear layer's weight is a matrix: tensorly notes that a ring over two modes is trivial
            warnings.filterwarnings("ignore", message="Determining the TR-rank for the trivial case")
            return list(tensor_ring(X, rank=ranks).factors)
    except ValueError:
        return list(tensor_train(X, rank=[1, *ranks[1:-1], 1]).factors)


def _decompose(layer: _Tensorial, W: np.ndarray, n_iter_max: int, seed: int) -> dict[str, np.ndarray]:
    """Factors for one group's weight W (T, S, *kernel), named as the layer's parameters."""
    parafac, partial_tucker, tensor_train, tensor_ring = _tensorly()
    spec = layer.layer_spec
    fmt, r = spec.format, spec.ranks
    T, S = W.shape[0], W.shape[1]
    kernel = W.shape[2:]
    n = len(kernel)
    sp = ("x", "y", "z")[:n]
    K = int(np.prod(kernel)) if n else 1
    if fmt == "dense":
        return {"K": W}
    if fmt == "svd":
        u, s, vt = np.linalg.svd(W.reshape(T, S * K), full_matrices=False)
        R = min(r["r"], len(s))
        root = np.sqrt(s[:R])
        return {"A": (vt[:R] * root[:, None]).reshape(R, S, *kernel), "B": u[:, :R] * root}
    if fmt in ("cp", "tt", "tr"):
        X = np.moveaxis(W, 0, -1)  # (s, *kernel, t): the order of the factors
        if fmt == "cp":
            cp = _cp(parafac, X, r["r"], n_iter_max, seed)
            f = cp.factors  # may hold fewer than r columns: _fit pads the rest with zeros
            out = {"A": f[0].T}
            out.update({f"K{i}": f[1 + k].T for k, i in enumerate(sp)})
            out["C"] = (f[-1] * cp.weights).T
            return out
        if fmt == "tt":
            ranks = [1] + [r[f"r{k}"] for k in range(1, n + 2)] + [1]
            cores = tensor_train(X, rank=ranks).factors
            out = {"G0": cores[0][0]}
            out.update({f"G{k}": cores[k] for k in range(1, n + 1)})
            out[f"G{n + 1}"] = cores[-1][:, :, 0]
            return out
        ranks = [r[f"r{k}"] for k in range(0, n + 2)] + [r["r0"]]
        cores = _ring(X, ranks, tensor_ring, tensor_train)
        return {f"G{k}": c for k, c in enumerate(cores)}
    if fmt in ("tk", "mtk"):
        _check_tucker_ranks(layer)
    if fmt == "tk":
        (core, (ft, fs)), _ = partial_tucker(
            W, rank=[r["q"], r["p"]], modes=[0, 1], n_iter_max=n_iter_max, random_state=seed
        )
        return {"U": fs, "G": np.swapaxes(core, 0, 1), "V": ft.T}
    # Reshaped formats: W (t1..tm, s1..sm, *kernel).
    s_f, t_f = spec.in_factors, spec.out_factors
    m = len(s_f)
    Wr = W.reshape(*t_f, *s_f, *kernel)
    if fmt == "mtk":
        ranks = [r[f"q{k}"] for k in range(1, m + 1)] + [r[f"p{k}"] for k in range(1, m + 1)]
        (core, factors), _ = partial_tucker(
            Wr, rank=ranks, modes=list(range(2 * m)), n_iter_max=n_iter_max, random_state=seed
        )
        out = {f"U{k}": factors[m + k - 1] for k in range(1, m + 1)}
        out.update({f"V{k}": factors[k - 1].T for k in range(1, m + 1)})
        # core (q1..qm, p1..pm, *kernel) -> G (p1..pm, q1..qm, *kernel)
        axes = list(range(m, 2 * m)) + list(range(m)) + list(range(2 * m, 2 * m + n))
        out["G"] = np.transpose(core, axes)
        return out
    # mcp, mtt, mtr: modes (s_l t_l) for each l, then the kernel as one mode.
    axes = []
    for k in range(m):
        axes += [m + k, k]  # s_k then t_k
    axes += list(range(2 * m, 2 * m + n))
    pairs = np.transpose(Wr, axes).reshape(*[s_f[k] * t_f[k] for k in range(m)], *([K] if n else []))
    if fmt == "mcp":
        cp = _cp(parafac, pairs, r["r"], n_iter_max, seed)
        f = cp.factors
        R = f[0].shape[1]  # at most r: _fit pads the rest with zeros
        out = {f"A{k}": f[k - 1].T.reshape(R, s_f[k - 1], t_f[k - 1]) for k in range(1, m + 1)}
        if n:
            out["C"] = (f[m] * cp.weights).T.reshape(R, *kernel)
        else:
            out[f"A{m}"] = out[f"A{m}"] * cp.weights[:, None, None]
        return out
    last = m if n else m - 1
    if fmt == "mtt":
        ranks = [1] + [r[f"r{k}"] for k in range(1, last + 1)] + [1]
        cores = tensor_train(pairs, rank=ranks).factors
    else:
        ranks = [r[f"r{k}"] for k in range(0, last + 1)] + [r["r0"]]
        cores = _ring(pairs, ranks, tensor_ring, tensor_train)
    out = {}
    for k in range(1, m + 1):
        c = cores[k - 1]
        core = c.reshape(c.shape[0], s_f[k - 1], t_f[k - 1], c.shape[-1])
        if fmt == "mtt":
            if k == 1:
                core = core[0]
            if k == m and not n:
                core = core[..., 0]
        out[f"T{k}"] = core
    if n:
        c = cores[m]
        out["C"] = (
            c[..., 0].reshape(c.shape[0], *kernel) if fmt == "mtt" else c.reshape(c.shape[0], *kernel, c.shape[-1])
        )
    return out
