"""Helpers several test modules share (one copy each): the dense weight a layer applies, read off
its forward pass; a relative error; a free port on 127.0.0.1; a call with its warnings silenced."""

import math
import socket
import warnings

import pytest
import torch
from torch import nn


def quiet(fn, *args, **kw):
    """``fn(*args, **kw)`` with every warning silenced (tensorly's notes on ranks above a mode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖."""
    return float((a - b).norm() / b.norm())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probed_weight(layer: nn.Module, dense: nn.Module) -> torch.Tensor:
    """The dense weight ``layer`` applies, read off its forward pass (bias removed) on one-hot
    inputs, in ``dense``'s layout: independent of tnviz's factors, its kernel spec and its
    reconstruction. A Conv gets one probe per weight entry, placed in the window of an output
    position that lies wholly inside the input (so padding plays no part); each output channel
    must see nothing outside its own group."""
    dtype = dense.weight.dtype
    bias = 0 if dense.bias is None else dense.bias.detach()
    with torch.no_grad():
        if isinstance(dense, nn.Linear):
            return (layer(torch.eye(dense.in_features, dtype=dtype)) - bias).T
        assert all(d == 1 for d in dense.dilation)
        ks, c, g = dense.kernel_size, dense.in_channels, dense.groups
        at = [-(-p // s) for p, s in zip(dense.padding, dense.stride)]  # first such output position
        starts = [o * s - p for o, s, p in zip(at, dense.stride, dense.padding)]
        n = c * math.prod(ks)
        probes = torch.zeros(n, c, *(a + k for a, k in zip(starts, ks)), dtype=dtype)
        probes[(..., *(slice(a, a + k) for a, k in zip(starts, ks)))] = torch.eye(n, dtype=dtype).reshape(n, c, *ks)
        response = layer(probes)[(slice(None), slice(None), *at)]  # (n, out): the output at ``at``
        bias = bias.reshape(1, -1) if torch.is_tensor(bias) else bias
        full = (response - bias).T.reshape(dense.out_channels, c, *ks)
        co, cg = dense.out_channels // g, c // g
        blocks = [full[j * co : (j + 1) * co, j * cg : (j + 1) * cg] for j in range(g)]
        outside = full.clone()
        for j in range(g):
            outside[j * co : (j + 1) * co, j * cg : (j + 1) * cg] = 0
        assert outside.abs().max() <= 1e-6 * full.abs().max()
        return torch.cat(blocks)


def checked_error(layer: nn.Module, dense: nn.Module, abs_tol: float = 1e-12) -> float:
    """‖W − Ŵ‖ / ‖W‖ computed here from the probed weight; the value tnviz reports must equal it."""
    want = dense.weight.detach()
    error = float((probed_weight(layer, dense) - want).norm() / want.norm())
    assert layer.reconstruction_error == pytest.approx(error, rel=1e-6, abs=abs_tol)
    return error
