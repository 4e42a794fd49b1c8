"""``Diagram.grad``: the gradient diagram of every tensor, checked against torch autograd in
float64 on seeded random diagrams of every role, with the refusals counted by reason."""

import collections
import random

import pytest
import torch
from oracle import against_autograd as _against_autograd
from random_diagrams import random_conv_diagram

import tnviz
from tnviz.errors import TnvizError

REFUSALS = ()  # traces, diagonals, lone sums, flips, folds, crops: every gradient of a forward is written


def _roles(diagram, name):
    target = diagram.tensor(name)
    roles = {diagram.roles[i] for i in target.unique_indices}
    if any(target.indices.count(i) > 1 for i in target.unique_indices):
        roles.add("trace/diagonal")
    if any(len(m) > 1 for m in target.modes):
        roles.add("group")
    return roles or {"scalar"}


def _random_spec(rng):
    names = [f"T{k}" for k in range(rng.randint(1, 4))]
    letters = [f"i{k}" for k in range(rng.randint(1, 6))]
    held = {n: [] for n in names}
    for i in letters:
        for n in rng.sample(names, rng.randint(1, len(names))):
            held[n] += [i] * (2 if rng.random() < 0.06 else 1)
    out = [i for i in letters if rng.random() < 0.45 and all(held[n].count(i) < 2 for n in names)]
    operands = []
    for n in names:
        idx = held[n]
        rng.shuffle(idx)
        once = all(idx.count(i) == 1 for i in idx[:2])  # a repeated index may not sit in a group
        if len(idx) >= 2 and len(set(idx[:2])) == 2 and once and rng.random() < 0.3:
            body = f"({idx[0]} {idx[1]}) " + " ".join(idx[2:])
        else:
            body = " ".join(idx)
        operands.append(f"{n}: {body}".rstrip())
    spec = ", ".join(operands) + " -> " + " ".join(i for i in letters if i in out)
    return spec.rstrip(), {i: rng.randint(1, 3) for i in letters}


def test_random_diagrams_every_tensor_against_autograd():
    rng = random.Random(0)
    checked, refused = collections.Counter(), collections.Counter()
    for k in range(120):
        spec, sizes = _random_spec(rng)
        diagram = tnviz.Diagram.parse(spec, sizes=sizes)
        for name in diagram.tensor_names:
            roles = _roles(diagram, name)
            try:
                _against_autograd(diagram, name, k)
            except TnvizError as err:
                reason = next((r for r in REFUSALS if r in err.message), None)
                assert reason is not None, err.message  # only the documented refusals
                refused[reason] += 1
                continue
            for role in roles:
                checked[role] += 1
    print("\nchecked against autograd, by role of the target's indices:", dict(checked))
    print("refused, by reason:", dict(refused))
    for role in ("contraction", "hyperedge", "batch", "free", "group", "summed", "trace/diagonal"):
        assert checked[role] >= 10, (role, checked)
    assert not refused, refused  # plain (convolution-free) diagrams: every gradient is a diagram


CONV_OPTIONS = [
    {"padding": 0},
    {"padding": 2, "stride": 2, "dilation": 2},
    {"padding": {"x": (1, 3)}, "stride": 3},
    {"padding": "same"},
    {"padding": "same", "dilation": 2},
    {"padding": 1, "padding_mode": "circular"},
    {"padding": "same", "padding_mode": "circular", "dilation": 2},
    {"padding": 2, "padding_mode": "circular", "stride": 2},
    {"padding": 1, "padding_mode": "reflect"},
    {"padding": 1, "padding_mode": "replicate"},
    {"padding": {"x": (2, 1)}, "padding_mode": "circular", "stride": 2},  # the signal's gradient folds it back
    {"padding": {"x": (0, 2)}, "padding_mode": "reflect", "dilation": 2},
    {"padding": 2, "padding_mode": "replicate", "stride": 3},
    {"padding": 1, "padding_mode": "reflect", "upsample": 2},  # the fold, then the upsampling's adjoint
    {"padding": {"x": (2, 1)}, "padding_mode": "replicate", "upsample": 3, "stride": 2},
    {"padding": 1, "upsample": 2},
    {"padding": 1, "flip": True, "stride": 2},  # a flipped kernel's gradient reads the signal backwards
    {"padding": {"x": (2, 0)}, "flip": True, "stride": 3, "padding_mode": "reflect"},
    {"padding": 1, "flip": ("X",), "stride": 2},  # the signal read backwards: G read backwards
    {"padding": {"x": (0, 2)}, "flip": ("X", "K"), "stride": 3, "dilation": 2, "padding_mode": "circular"},
    {"padding": 2, "flip": ("X",), "upsample": 2, "padding_mode": "replicate"},
    {"padding": {"x": (-1, 2)}},
]


@pytest.mark.parametrize("options", CONV_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("name", ["X", "K"])
def test_convolution_gradients_against_autograd(options, name):
    sizes = {"b": 2, "s": 3, "t": 2, "X": (2, 3, 11), "K": (2, 3, 3)}
    diagram = tnviz.Diagram.parse("X: b s x, K: t s x -> b t x | x", sizes=sizes, **options)
    g = _against_autograd(diagram, name, 1)
    flip = options.get("flip", False)
    if name == "X" and flip in (True, False):  # the signal's gradient: G inserted with zeros, the kernel flipped
        assert g.tensor_names[0] == "G" and g.options["x"].flip is (not flip)
    if name == "K" and flip is True:  # the signal and G read backwards, the kernel's gradient reversed
        assert g.options["x"].flip == ("G", "X")


def test_two_dimensional_convolution_with_per_index_options():
    sizes = {"b": 2, "s": 2, "t": 3, "X": (2, 2, 9, 8), "K": (3, 2, 3, 2)}
    options = {"padding": {"x": 1, "y": (0, 2)}, "stride": {"x": 2, "y": 1}, "dilation": {"x": 1, "y": 2}}
    diagram = tnviz.Diagram.parse("X: b s x y, K: t s x y -> b t x y | x y", sizes=sizes, **options)
    for name in ("X", "K"):
        _against_autograd(diagram, name, 2)


def test_refusals_name_what_the_language_lacks():
    cp = tnviz.Diagram.parse(
        "X: b s x, A: s r, K: r x, B: t r -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 8), "K": (2, 3)},
    )
    folding = cp.with_options(fold=("reflect", 1, 1), padding=1, padding_mode="reflect")
    with pytest.raises(TnvizError, match="gradient through the fold on 'x'") as err:
        folding.grad("K")  # a gradient's own gradient through a fold
    assert err.value.token == "x"
    summed = tnviz.Diagram.parse(
        "X: b s x, K: t s x -> b t | x", sizes={"b": 2, "s": 3, "t": 2, "X": (2, 3, 8), "K": (2, 3, 3)}
    )
    # a convolution index the output sums: a kernel of ones of the output's length stands for G along it
    assert _against_autograd(summed, "K", 4).to_spec() == "X: b s x, G: b t, ones_x: x -> dK: t s x | x"
    assert _against_autograd(summed, "X", 4).to_spec() == "ones_x: x, K: t s x, G: b t -> dX: b s x | x"
    assert _against_autograd(summed.with_options(stride=2, padding=1), "X", 4).shape("ones_x") == (4,)
    with pytest.raises(TnvizError, match="no tensor 'Q'"):
        cp.grad("Q")
    with pytest.raises(TnvizError, match="is taken"):
        cp.grad("A", upstream="K")
    trace = tnviz.Diagram.parse("A: i i, B: i -> ", sizes={"i": 3})
    assert _against_autograd(trace, "A", 3).to_spec() == "B: i, G: -> dA: i i"  # a diagonal output
    _against_autograd(trace, "B", 3)


@pytest.mark.parametrize("options", CONV_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_factors_off_a_strided_or_dilated_convolution_get_g_as_a_spaced_kernel(options):
    """Σ_o G[o] Σ_k Ŝ[o·s + k·d] K[k]: G joins the kernels with its taps ``stride`` apart
    (``kernel_dilation``), for the factors of a CP layer and for a kernel beside another one."""
    cp = tnviz.Diagram.parse(
        "X: b s x, A: s r, K: r x, B: t r -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 11), "K": (2, 3)},
        **options,
    )
    flip = options.get("flip", False)  # a named K reads as K2 beside K1
    two = tnviz.Diagram.parse(
        "X: b s x, K1: s r x, K2: r t x -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 13), "K1": (3, 2, 3), "K2": (2, 2, 2)},
        **{**options, "flip": flip if isinstance(flip, bool) else tuple("K2" if t == "K" else t for t in flip)},
    )
    checks = [(cp, "A"), (cp, "B"), (two, "K1"), (two, "K2")]
    for diagram, name in checks:
        g = _against_autograd(diagram, name, 5)
        stride = options.get("stride", 1)
        if stride != 1 and name in ("A", "B"):  # G's own spacing differs from the kernel's
            assert g.options["x"].dilation_of("G") == stride


def test_random_convolution_diagrams_every_tensor_against_autograd():
    rng, flips = random.Random(1), random.Random(2)
    checked, refused, built = collections.Counter(), collections.Counter(), 0
    while built < 40:
        spec, sizes, options = random_conv_diagram(rng)
        if flips.random() < 0.3:  # holders read backwards, the signal among them or not
            holders = [op.split(":")[0] for op in spec.split(" -> ")[0].split(", ") if op.endswith(" x")]
            options["flip"] = tuple(flips.sample(holders, flips.randint(1, len(holders))))
        try:
            diagram = tnviz.Diagram.parse(spec, sizes=sizes, **options)
        except TnvizError:
            continue  # a kernel longer than the padded signal, or a padding too large for its mode
        built += 1
        x = diagram.options["x"]
        for name in diagram.tensor_names:
            holds = "x" in diagram.tensor(name).indices
            role = "signal" if name == "X" else "kernel" if holds else "off the convolution"
            spaced = x.stride != 1 or x.dilation != 1 or x.upsample != 1
            try:
                _against_autograd(diagram, name, built)
            except TnvizError as err:
                reason = next((r for r in REFUSALS if r in err.message), None)
                assert reason is not None, err.message
                refused[reason] += 1
                continue
            checked[role + (" (strided/dilated/upsampled)" if spaced else "")] += 1
            checked["read backwards" if "flip" in options else "forwards"] += 1
    print("\nconvolution diagrams checked against autograd, by role:", dict(checked))
    print("refused, by reason:", dict(refused))
    for role in ("signal", "kernel", "off the convolution"):
        assert checked[role] >= 5 and checked[role + " (strided/dilated/upsampled)"] >= 5, (role, checked)
    assert checked["read backwards"] >= 20, checked
    assert sum(refused.values()) <= 0.02 * checked["forwards"], (checked, refused)


def test_gradient_of_a_matrix_product_reads_like_the_textbook():
    d = tnviz.Diagram.parse("A: i j, B: j k -> i k")
    assert d.grad("A").to_spec() == "B: j k, G: i k -> dA: i j"  # dA = G Bᵀ
    assert d.grad("B").to_spec() == "A: i j, G: i k -> dB: j k"  # dB = Aᵀ G


@pytest.mark.parametrize(
    "padding, mode", [(0, "zeros"), (1, "zeros"), ("same", "zeros"), ({"x": (2, 0)}, "zeros"), ("same", "circular")]
)
def test_factors_that_hold_no_convolution_index_join_g_to_the_kernels(padding, mode):
    """A CP convolution layer: the channel factors A, B hold no spatial index; their gradients
    convolve G as one more kernel, the spatial indices summed after convolving."""
    sizes = {"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 8, 7), "Kx": (2, 3), "Ky": (2, 2)}
    layer = tnviz.Diagram.parse(
        "X: b s x y, A: s r, Kx: r x, Ky: r y, B: t r -> b t x y | x y", sizes=sizes, padding=padding, padding_mode=mode
    )
    for name in layer.tensor_names:
        g = _against_autograd(layer, name, 4)
        if name in ("A", "B"):
            assert set(g.conv) == {"x", "y"} and "x" not in g.output.indices


def test_backward_plan_prices_each_gradient_and_names_the_refused():
    d = tnviz.Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 8, "j": 4, "k": 8})
    bp = d.backward_plan()
    assert set(bp.gradients) == {"A", "B"} and not bp.refused
    assert bp.gradients["A"].flops == d.grad("A").plan().flops
    assert bp.backward_flops == 2 * d.plan().flops  # two matrix products of the same size
    text = str(bp)
    assert "d/dA" in text and "backward / forward FLOPs: 2.00" in text
    assert "<thead>" in bp._repr_html_() and "× forward" in bp._repr_html_()
    trace = tnviz.Diagram.parse("A: i i, B: i, G: i -> ", sizes={"i": 3})  # 'G' is taken: another name
    bp = trace.backward_plan()
    assert not bp.refused and set(bp.gradients) == {"A", "B", "G"}  # a trace's gradient: a diagonal output
    strided = tnviz.Diagram.parse(
        "X: b s x, A: s r, K: r x, B: t r -> b t x | x",
        sizes={"b": 2, "s": 3, "r": 2, "t": 2, "X": (2, 3, 8), "K": (2, 3)},
        stride=2,
    )
    bp = strided.backward_plan()
    assert not bp.refused and set(bp.gradients) == {"X", "A", "K", "B"}  # G a kernel spaced by the stride
    bp = strided.with_options(flip=True).backward_plan()
    assert not bp.refused and set(bp.gradients) == {"X", "A", "K", "B"}  # a true convolution too
    bp = strided.with_options(fold=("reflect", 1, 1), padding=1, padding_mode="reflect").backward_plan()
    assert set(bp.refused) == {"X", "A", "K", "B"} and "refused, not counted" in str(bp)


def test_new_convolution_options_round_trip_and_run():
    d = tnviz.Diagram.parse("X: b s x, K: t s x -> b t x | x", flip=True, upsample=2, padding={"x": (-1, 3)})
    again = tnviz.Diagram.from_json(d.to_json())
    assert again.options == d.options and again.options["x"].flip and again.options["x"].upsample == 2
    x, k = torch.randn(2, 3, 7, dtype=torch.float64), torch.randn(4, 3, 3, dtype=torch.float64)
    spread = torch.zeros(2, 3, 13, dtype=torch.float64)
    spread[..., ::2] = x
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(spread, (-1, 3)), k.flip(-1))
    torch.testing.assert_close(tnviz.einsum(d, x, k), expected)
    with pytest.raises(TnvizError, match="flip for index 'x' must be True, False or the names of tensors"):
        d.with_options(flip=1)
    with pytest.raises(TnvizError, match="flip names 'Q', which does not hold convolution index 'x'") as err:
        d.with_options(flip=("X", "Q"))
    assert err.value.token == "Q"
    with pytest.raises(TnvizError, match="upsample for index 'x' must be a positive integer"):
        d.with_options(upsample=0)


def test_kernel_dilation_spaces_one_kernel_and_round_trips():
    """Two kernels on one index, K2's taps 2 apart: the signal correlated with K1 convolved with
    K2 spread by zeros — written out with F.conv1d, whichever order the planner picks."""
    d = tnviz.Diagram.parse("X: b x, K1: x, K2: x -> b x | x", kernel_dilation={"K2": 2}, padding=1)
    x, k1, k2 = (torch.randn(*s, dtype=torch.float64) for s in ((2, 12), (3,), (2,)))
    spread = torch.zeros(3, dtype=torch.float64)
    spread[::2] = k2
    combined = torch.nn.functional.conv1d(k1.view(1, 1, 3), spread.flip(0).view(1, 1, 3), padding=2).view(-1)
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(x.unsqueeze(1), (1, 1)), combined.view(1, 1, -1))
    for optimize in ("greedy", "reconstruct", "left-to-right"):
        torch.testing.assert_close(tnviz.einsum(d, x, k1, k2, optimize=optimize), expected.squeeze(1))
    again = tnviz.Diagram.from_json(d.to_json())
    assert again.options == d.options and again.options["x"].dilation_of("K2") == 2
    assert d.bind({"X": (2, 12), "K1": (3,), "K2": (2,)}).size("x") == 12 + 2 - 5 + 1
    with pytest.raises(TnvizError, match="'X', which is not a kernel") as err:
        d.with_options(kernel_dilation={"X": 2})
    assert err.value.token == "X"
    with pytest.raises(TnvizError, match="must be a positive integer"):
        d.with_options(kernel_dilation={"K1": 0})
    with pytest.raises(TnvizError, match="must map kernel names to dilations"):
        d.with_options(kernel_dilation={"x": 2.5})


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_a_fold_is_the_adjoint_of_its_padding_and_round_trips(mode):
    """fold=(mode, left, right) adds each padded entry back onto its source: <pad(x), y> = <x, fold(y)>."""
    torch.manual_seed(0)
    x, y = torch.randn(2, 3, 7, dtype=torch.float64), torch.randn(2, 3, 10, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (2, 1), mode=mode)
    one = tnviz.Diagram.parse("Y: b s x, I: x -> b s x | x", fold={"x": (mode, 2, 1)})  # I: a kernel of length 1
    folded = tnviz.einsum(one, y, torch.ones(1, dtype=torch.float64))
    assert folded.shape == x.shape
    assert torch.allclose((padded * y).sum(), (x * folded).sum())
    back = tnviz.Diagram.from_json(one.to_json())
    assert back.options["x"].fold == (mode, 2, 1) and back == one
    from tnviz.render.scene import build_scene, make_style

    assert f"fold {mode} 2,1" in " ".join(lb.text for lb in build_scene(one, make_style({})).labels)


@pytest.mark.parametrize(
    "fold, message",
    [(("zeros", 1, 1), "bad fold"), (("circular", -1, 1), "bad fold"), (("reflect", 1), "bad fold"),
     ("circular", "bad fold")],
)  # fmt: skip
def test_a_bad_fold_is_refused_by_name(fold, message):
    with pytest.raises(TnvizError, match=message):
        tnviz.Diagram.parse("Y: b x, I: x -> b x | x", fold={"x": fold})


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_a_fold_comes_before_the_stride(mode):
    """fold=(mode, 2, 1) with stride 2: the output folded to the padded signal's length, then
    every other entry kept (the adjoint of an upsampled signal's padding needs that order)."""
    torch.manual_seed(0)
    y, k = torch.randn(2, 14, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    plain = tnviz.Diagram.parse("Y: b x, K: x -> b x | x", fold={"x": (mode, 2, 1)})
    strided = plain.with_options(stride=2)
    folded = tnviz.einsum(plain, y, k)
    torch.testing.assert_close(tnviz.einsum(strided, y, k), folded[:, ::2])
    assert strided.bind(shapes={"Y": (2, 14), "K": (3,)}).output_shape == (2, 5)


def test_a_fold_is_checked_against_its_output_and_a_folds_own_gradient_refused():
    spec = "Y: b x, I: x -> b x | x"
    one = tnviz.Diagram.parse(spec, sizes={"b": 2, "x": (4, 1)}, fold=("reflect", 1, 1))  # (mode, l, r): every index
    assert one.options["x"].fold == ("reflect", 1, 1) and one.output_shape == (2, 2)
    with pytest.raises(TnvizError, match="fold .* pads more than its output of length 1"):
        tnviz.Diagram.parse(spec, sizes={"b": 2, "x": (4, 1)}, fold={"x": ("reflect", 2, 1)})
    with pytest.raises(TnvizError, match="the gradient through the fold on 'x'"):
        one.grad("I")


def test_an_unbound_diagram_has_a_gradient_that_binds_when_it_runs():
    """``d.grad`` of a convolution diagram with no lengths bound: the tensors and output now, the
    options once the tensors' shapes are known — the target's lengths read off G's and the other
    tensors' (where a stride leaves them open, the error says so and ``sizes={name: shape}``
    settles it). Each gradient equals the bound diagram's gradient and autograd's."""
    rng = random.Random(3)
    counts, built = collections.Counter(), 0
    while built < 25:
        spec, sizes, options = random_conv_diagram(rng)
        try:
            bound = tnviz.Diagram.parse(spec, sizes=sizes, **options)
        except TnvizError:
            continue
        built += 1
        unbound = tnviz.Diagram.parse(spec, **options)
        torch.manual_seed(built)
        values = {t: torch.randn(bound.shape(t), dtype=torch.float64, requires_grad=True) for t in bound.tensor_names}
        out = tnviz.einsum(bound, *values.values())
        upstream = torch.randn(out.shape, dtype=torch.float64)
        (out * upstream).sum().backward()
        for name in bound.tensor_names:
            pending, written = unbound.grad(name), bound.grad(name)
            assert pending.tensor_names == written.tensor_names and pending.output == written.output
            given = {**{t: v.detach() for t, v in values.items()}, "G": upstream}
            args = [given.get(t, torch.ones(written.shape(t), dtype=torch.float64)) for t in written.tensor_names]
            try:
                got = tnviz.einsum(pending, *args)
                counts["lengths read off the tensors"] += 1
            except TnvizError as err:
                assert "is not fixed by the gradient's tensors" in err.message and err.token == "x", err.message
                got = tnviz.einsum(pending, *args, sizes={name: tuple(values[name].shape)})
                counts["a stride leaves the length open: sizes given"] += 1
            torch.testing.assert_close(got, values[name].grad, rtol=1e-10, atol=1e-12)
    print("\nunbound gradients:", dict(counts))
    assert counts["lengths read off the tensors"] >= 40 and counts["a stride leaves the length open: sizes given"]


def test_a_pending_gradient_says_what_it_waits_for():
    d = tnviz.Diagram.parse("X: b s x, K: t s x -> b t x | x", padding=1)
    g = d.grad("K")
    assert "options written when its lengths are bound" in repr(g) and g != d.bind(shapes={"X": (1, 2, 5)})
    with pytest.raises(TnvizError, match="bind them first"):
        g.with_options(stride=2)
    with pytest.raises(TnvizError, match="bind them first"):
        g.to_json()
    with pytest.raises(TnvizError, match="keyed by index and tensor names, got 1"):
        g.bind({1: 3})
    with pytest.raises(TnvizError, match="sizes must be a dict"):
        g.bind([1, 2])
    written = g.bind(shapes={"X": (2, 3, 9), "G": (2, 4, 9)})
    assert written == d.bind(shapes={"X": (2, 3, 9), "K": (4, 3, 3)}).grad("K")


@pytest.mark.parametrize("flip", [("X",), ("K",), ("K", "X")])
def test_named_holders_are_read_backwards_as_f_conv_would_see_them(flip):
    """flip=("X",): the signal reversed along x before padding and correlating, checked against
    F.conv1d on the reversed tensors; the names round-trip through JSON and the plan's program."""
    torch.manual_seed(0)
    x, k = torch.randn(2, 3, 10, dtype=torch.float64), torch.randn(4, 3, 3, dtype=torch.float64)
    d = tnviz.Diagram.parse("X: b s x, K: t s x -> b t x | x", padding={"x": (2, 1)}, stride=2, flip=flip)
    seen = {"X": x.flip(-1) if "X" in flip else x, "K": k.flip(-1) if "K" in flip else k}
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(seen["X"], (2, 1)), seen["K"], stride=2)
    torch.testing.assert_close(tnviz.einsum(d, x, k), expected)
    again = tnviz.Diagram.from_json(d.to_json())
    assert again == d and again.options["x"].flip == tuple(sorted(flip))


@pytest.mark.parametrize(
    "options",
    [
        {"flip": ("X",)},  # the output sums x: ones stand for G, read backwards with the signal
        {"padding_mode": "reflect", "stride": 2, "flip": ("X",)},  # the swapped padding crops a side
        {"padding": {"x": (-1, 2)}, "padding_mode": "reflect"},  # a cropped side needs no fold
        {"padding": {"x": (2, -1)}, "padding_mode": "circular", "stride": 3, "flip": ("K", "X")},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_crops_and_summed_outputs_read_backwards_are_written(options):
    out = "b t" if options == {"flip": ("X",)} else "b t x"
    d = tnviz.Diagram.parse(
        f"X: b s x, K: t s x -> {out} | x", sizes={"b": 2, "s": 3, "t": 2, "X": (2, 3, 10), "K": (2, 3, 3)}, **options
    )
    for name in d.tensor_names:
        _against_autograd(d, name, 6)


def test_a_pending_gradient_finds_lengths_far_out_and_refuses_a_broadcast():
    torch.manual_seed(0)
    for options, shapes, name in [
        ({"dilation": 20}, {"X": (2, 81), "K": (5,)}, "X"),  # the kernel reaches 80 entries
        ({"padding": 100}, {"X": (2, 5), "K": (150,)}, "K"),  # the padding is most of the signal
    ]:
        d = tnviz.Diagram.parse("X: b x, K: x -> b x | x", **options)
        values = {t: torch.randn(s, dtype=torch.float64, requires_grad=True) for t, s in shapes.items()}
        y = tnviz.einsum(d, values["X"], values["K"])
        g = torch.randn(y.shape, dtype=torch.float64)
        (y * g).sum().backward()
        pending = d.grad(name)
        given = {"G": g, **{t: v.detach() for t, v in values.items()}}
        got = tnviz.einsum(pending, *[given[t] for t in pending.tensor_names])
        torch.testing.assert_close(got, values[name].grad)
    flipped = tnviz.Diagram.parse("X: b s x, K: t s x -> b t x | x", padding={"x": (2, 0)}, flip=("X",))
    with pytest.raises(TnvizError, match="sizes disagree for index 'b'"):  # not broadcast into a wrong answer
        tnviz.einsum(flipped.grad("K"), torch.randn(1, 3, 11), torch.randn(2, 4, 11))
    with pytest.raises(TnvizError, match="shape of tensor 'G' must be a tuple of non-negative ints"):
        flipped.grad("K").bind(shapes={"G": 5})
