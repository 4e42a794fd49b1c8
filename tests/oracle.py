"""An independent float64 reference for tnviz specs: unfold + torch.einsum.

It shares only the spec *syntax* parser with tnviz. Convolution is written out from its
definition: the padded signal is unfolded into (output position, kernel offset) pairs and
a 0/1 tensor ties the offset to the sum of the kernels' offsets, so several kernels on one
index give the correlation with their full convolution, with padding, stride and dilation
applied once — independent of tnviz's planner and of F.conv.
"""

from __future__ import annotations

import itertools

import torch

import tnviz
from tnviz.core.spec_parser import parse_spec

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _per_index(value, conv, default):
    if isinstance(value, dict):
        return {c: value.get(c, default) for c in conv}
    return {c: (default if value is None else value) for c in conv}


def _pad_positions(n: int, left: int, right: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Source position and validity mask for each position of the padded signal."""
    pos = torch.arange(-left, n + right)
    if mode == "zeros":
        valid = (pos >= 0) & (pos < n)
        return pos.clamp(0, n - 1), valid
    if mode == "circular":
        return pos % n, torch.ones_like(pos, dtype=torch.bool)
    if mode == "replicate":
        return pos.clamp(0, n - 1), torch.ones_like(pos, dtype=torch.bool)
    if mode == "reflect":
        period = 2 * (n - 1) if n > 1 else 1
        p = pos.abs() % period if n > 1 else pos * 0
        p = torch.where(p >= n, period - p, p)
        return p, torch.ones_like(pos, dtype=torch.bool)
    raise ValueError(mode)


def reference(spec: str, *tensors: torch.Tensor, sizes=None, padding=0, stride=1, dilation=1, padding_mode="zeros"):
    parsed = parse_spec(spec)
    conv = parsed.conv
    pad = _per_index(padding, conv, 0)
    strides = _per_index(stride, conv, 1)
    dils = _per_index(dilation, conv, 1)
    modes = _per_index(padding_mode, conv, "zeros")
    known = dict(sizes or {})
    # Unmerge groups (single-index modes first, so groups can use sizes from any tensor).
    for op, t in zip(parsed.operands, tensors):
        for mode, extent in zip(op.modes, t.shape):
            if len(mode) == 1 and mode[0] not in conv:
                known[mode[0]] = extent
    flat_tensors, flat_indices = [], []
    for op, t in zip(parsed.operands, tensors):
        shape = []
        for mode, extent in zip(op.modes, t.shape):
            if len(mode) == 1:
                shape.append(extent)
                if mode[0] not in conv:
                    known[mode[0]] = extent
            else:
                missing = [i for i in mode if i not in known]
                prod = 1
                for i in mode:
                    prod *= known.get(i, 1)
                if len(missing) == 1:
                    known[missing[0]] = extent // prod
                shape.extend(known[i] for i in mode)
        flat_tensors.append(t.reshape(shape))
        flat_indices.append(list(op.indices))
    extra_tensors, extra_indices = [], []
    for c in conv:
        holders = [k for k, ix in enumerate(flat_indices) if c in ix]
        sig, kernels = holders[0], holders[1:]
        klens = [flat_tensors[k].shape[flat_indices[k].index(c)] for k in kernels]
        ktot = sum(klens) - len(klens) + 1
        n = flat_tensors[sig].shape[flat_indices[sig].index(c)]
        p = pad[c]
        if p == "same":
            total = dils[c] * (ktot - 1)
            left, right = total // 2, total - total // 2
        elif isinstance(p, (tuple, list)):
            left, right = p
        else:
            left = right = p
        out = (n + left + right - dils[c] * (ktot - 1) - 1) // strides[c] + 1
        src, valid = _pad_positions(n, left, right, modes[c])
        offsets = torch.arange(out)[:, None] * strides[c] + torch.arange(ktot)[None, :] * dils[c]
        gather = src[offsets]  # (out, ktot) positions in the signal
        mask = valid[offsets].to(flat_tensors[sig].dtype)
        axis = flat_indices[sig].index(c)
        t = flat_tensors[sig]
        unfolded = t.index_select(axis, gather.reshape(-1)).unflatten(axis, (out, ktot))
        shape = [1] * unfolded.dim()
        shape[axis], shape[axis + 1] = out, ktot
        flat_tensors[sig] = unfolded * mask.reshape(shape)
        flat_indices[sig] = flat_indices[sig][:axis] + [c, c + "__k"] + flat_indices[sig][axis + 1 :]
        delta = torch.zeros((ktot, *klens), dtype=t.dtype)
        for combo in itertools.product(*[range(k) for k in klens]):
            delta[(sum(combo), *combo)] = 1
        names = [f"{c}__{j}" for j in range(len(kernels))]
        for j, k in enumerate(kernels):
            flat_indices[k] = [names[j] if i == c else i for i in flat_indices[k]]
        extra_tensors.append(delta)
        extra_indices.append([c + "__k", *names])
    all_idx = sorted({i for ix in flat_indices + extra_indices for i in ix})
    letter = dict(zip(all_idx, LETTERS))
    out_idx = list(parsed.output.indices)
    eq = ",".join("".join(letter[i] for i in ix) for ix in flat_indices + extra_indices)
    eq += "->" + "".join(letter[i] for i in out_idx)
    result = torch.einsum(eq, *flat_tensors, *extra_tensors)
    out_shape = []
    k = 0
    for mode in parsed.output.modes:
        size = 1
        for _ in mode:
            size *= result.shape[k]
            k += 1
        out_shape.append(size)
    return result.reshape(out_shape)


def against_autograd(diagram, name, rng_seed=0):
    """Run ``diagram.grad(name)`` on random float64 values and compare it with torch autograd."""
    torch.manual_seed(rng_seed)
    values = {
        t: torch.randn(tuple(diagram.shape(t)), dtype=torch.float64, requires_grad=True) for t in diagram.tensor_names
    }
    out = tnviz.einsum(diagram, *[values[t] for t in diagram.tensor_names])
    upstream = torch.randn(out.shape, dtype=torch.float64)
    (out * upstream).sum().backward()
    g = diagram.grad(name)
    given = {**{t: v.detach() for t, v in values.items()}, "G": upstream}
    # a kernel of ones stands for G along a convolution index the output sums (Diagram.grad)
    ones = {t: torch.ones(g.shape(t), dtype=torch.float64) for t in g.tensor_names if t not in given}
    assert all(t.startswith("ones_") for t in ones), ones
    got = tnviz.einsum(g, *[given[t] if t in given else ones[t] for t in g.tensor_names])
    assert g.output_shape == tuple(diagram.shape(name)) and g.tensor_names[-1 if name != g.tensor_names[0] else 0]
    torch.testing.assert_close(got, values[name].grad, rtol=1e-10, atol=1e-12)
    return g


def check_problem(problem, device: str = "cpu") -> None:
    """tnviz against the float64 oracle, forward and backward (a random upstream gradient)."""
    spec, shapes, sizes, options, optimize, seed = problem
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(s, dtype=torch.float64, generator=g).to(device).requires_grad_() for s in shapes]
    got = tnviz.einsum(spec, *tensors, sizes=sizes, optimize=optimize, **options)
    refs = [t.detach().cpu().requires_grad_() for t in tensors]
    want = reference(spec, *refs, sizes=sizes, **options)
    assert got.shape == want.shape, (spec, got.shape, want.shape)
    assert torch.allclose(got.detach().cpu(), want.detach(), atol=1e-9, rtol=1e-9), spec
    upstream = torch.randn(want.shape, dtype=torch.float64, generator=g)
    grads = torch.autograd.grad((got * upstream.to(device)).sum(), tensors, allow_unused=True)
    want_grads = torch.autograd.grad((want * upstream).sum(), refs, allow_unused=True)
    for k, (a, b) in enumerate(zip(grads, want_grads)):
        a = torch.zeros_like(refs[k]) if a is None else a.cpu()
        b = torch.zeros_like(refs[k]) if b is None else b
        assert torch.allclose(a, b, atol=1e-8, rtol=1e-8), (spec, "gradient of operand", k)
