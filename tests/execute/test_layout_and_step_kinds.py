"""What the executor keeps of an activation's layout and how the planner prices a depthwise
step: the cases the one-engine layer benchmark found slower than the hand-written engine."""

import itertools

import pytest
import torch
from torch import nn
from torch._prims_common import suggest_memory_format

from tnviz import Diagram, TensorNetwork
from tnviz.execute.steps import memory_format_of
from tnviz.nn import TensorialConv2d

CL = torch.channels_last


def _strided_variants(shape, layouts):
    for layout in layouts:
        x = torch.empty(shape).to(memory_format=layout)
        yield x
        yield x.transpose(1, x.dim() - 1)
        if x.dim() == 4:
            yield x.permute(0, 2, 3, 1)
            yield x[:, :, ::2]


def test_memory_format_of_reads_strides_as_pytorch_does():
    """Every 4-D and 5-D layout, size-1 axes included (one channel is both contiguous and
    channels_last; its strides say which it was made as), classed as torch's own
    suggest_memory_format classes it."""
    checked = 0
    for shape in itertools.product((1, 2, 3), (1, 2, 4), (1, 3), (1, 2)):
        for x in _strided_variants(shape, (torch.contiguous_format, CL)):
            assert memory_format_of(x) == suggest_memory_format(x), (shape, x.stride())
            checked += 1
    for shape in itertools.product((1, 2), (1, 3), (1, 2), (1, 2), (1, 3)):
        for x in _strided_variants(shape, (torch.contiguous_format, torch.channels_last_3d)):
            assert memory_format_of(x) == suggest_memory_format(x), (shape, x.stride())
            checked += 1
    assert checked > 400
    assert memory_format_of(torch.empty(2, 1, 4, 4).to(memory_format=CL)) == CL
    assert memory_format_of(torch.empty(2, 1, 4, 4)) == torch.contiguous_format


@pytest.mark.parametrize("rank_one_format", ["svd", "cp"])
def test_a_rank_one_layer_keeps_a_channels_last_activation_as_nn_conv2d_does(rank_one_format):
    """Rank 1: the intermediate has one channel, contiguous in both layouts. Its 1×1 channel mix
    still runs on it as laid out, so the output is channels_last, as nn.Conv2d's is, with no
    copy back (svd at rate 0.02 on channels_last, forward: 2.5× the old engine's time before)."""
    torch.manual_seed(0)
    layer = TensorialConv2d(8, 8, 3, padding=1, format=rank_one_format, rank=1)
    x = torch.randn(2, 8, 6, 6).to(memory_format=CL)
    dense = nn.Conv2d(8, 8, 3, padding=1).to(memory_format=CL)
    y = layer(x)
    assert y.stride() == dense(x).stride()
    assert y.is_contiguous(memory_format=CL) and not y.is_contiguous()
    with torch.no_grad():
        dense.weight.copy_(layer.weight)
        dense.bias.copy_(layer.bias)
    torch.testing.assert_close(y, dense(x), rtol=1e-4, atol=1e-5)


def test_cp_applies_its_two_one_row_kernels_as_one_depthwise_kernel():
    """A depthwise convolution takes about as long with 3 taps as with 9 (it is priced for one
    tap), so Kx and Ky are joined first and the activation is convolved once, on either layout."""
    layer = TensorialConv2d(64, 64, 3, padding=1, format="cp", rate=0.1)
    for x in (torch.randn(8, 64, 16, 16), torch.randn(8, 64, 16, 16).to(memory_format=CL)):
        plan = layer.plan(x.requires_grad_())
        convs = [s for s in plan.steps if s.kind == "conv"]
        assert len(convs) == 1, str(plan)
        assert {plan.diagram.tensor_names[k] for k in plan.tree[0][1]} == {"Kx", "Ky"}, plan.tree


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 9])
def test_a_channel_mix_over_few_channels_equals_einsum(channels, bias):
    """The 1×1 channel mix (F.conv1d over the flattened inner modes) over one, two or nine
    channels equals torch.einsum, values and gradients, the bias added along the output's
    channels."""
    torch.manual_seed(1)
    d = Diagram.parse("X: b c n, W: o c -> b o n")
    net = TensorNetwork(d.bind(shapes={"X": (3, channels, 40), "W": (5, channels)}), bias=bias)
    x = torch.randn(3, channels, 40, requires_grad=True)
    y = net(x)
    expected = torch.einsum("bcn,oc->bon", x, net.weights.W)
    if bias:
        expected = expected + net.bias[:, None]
    torch.testing.assert_close(y, expected)
    grads = torch.autograd.grad(y.square().sum(), (x, net.weights.W))
    expected_grads = torch.autograd.grad(expected.square().sum(), (x, net.weights.W))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
