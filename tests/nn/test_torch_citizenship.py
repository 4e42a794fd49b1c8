"""Every tensorial layer (every format × Linear/Conv1d/2d/3d) and a drawn TensorNetwork behave like
a torch.nn layer in every workflow users have: torch.save/torch.load of the whole module after a
forward (every pickle protocol), deepcopy, functional_call with vmap over stacked parameters,
torch.jit.trace, torch.export, ONNX (both exporters, checked in onnxruntime), torch.compile with
fullgraph=True, autocast, torch.nn's positional arguments, and torch.jit.script refused with the
reason. The closing table of issue 22 is this file's parametrisation."""

import copy
import io
import warnings

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from tnviz import Diagram, TensorNetwork, TnvizError
from tnviz.core.formats import FORMATS
from tnviz.nn import TensorialConv1d, TensorialConv2d, TensorialConv3d, TensorialLinear

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI

NAMES = sorted(FORMATS)
RESHAPED = ("mcp", "mtk", "mtt", "mtr")
KINDS = ("Linear", "Conv1d", "Conv2d", "Conv3d")
DRAWN = "drawn"  # a TensorNetwork drawn by hand, with a bias
_CLASSES = {"Linear": TensorialLinear, "Conv1d": TensorialConv1d, "Conv2d": TensorialConv2d, "Conv3d": TensorialConv3d}
_TWINS = {"Linear": nn.Linear, "Conv1d": nn.Conv1d, "Conv2d": nn.Conv2d, "Conv3d": nn.Conv3d}
_SHAPES = {"Linear": (3, 12), "Conv1d": (2, 8, 9), "Conv2d": (2, 8, 6, 5), "Conv3d": (2, 8, 4, 5, 3)}
CASES = [(kind, name) for kind in KINDS for name in NAMES] + [(DRAWN, "cp")]
IDS = [f"{kind}-{name}" for kind, name in CASES]


def _drawn():
    d = Diagram.parse(
        "X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y",
        sizes={"s": 8, "r": 3, "t": 6, "Kx": (3, 3), "Ky": (3, 3)},
        padding=1,
    )
    return TensorNetwork(d, bias=True)


def make(kind, name, seed=0, **kwargs):
    torch.manual_seed(seed)
    if kind == DRAWN:
        return _drawn()
    options = {} if kind == "Linear" else {"kernel_size": 3, "padding": 1}
    rank = {} if name == "dense" else {"rank": 2}
    order = {"order": 2} if name in RESHAPED else {}
    (a, b) = (12, 8) if kind == "Linear" else (8, 6)
    return _CLASSES[kind](a, b, **options, format=name, **rank, **order, **kwargs)


def example(kind, seed=1):
    torch.manual_seed(seed)
    return torch.randn(_SHAPES["Conv2d" if kind == DRAWN else kind])


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_torch_save_and_load_of_the_whole_module_after_forward(kind, name, protocol):
    layer, x = make(kind, name), example(kind)
    with torch.no_grad():
        want = layer(x)  # fills the plan and kernel caches, which must not travel
    layer(x).sum().backward()
    buffer = io.BytesIO()
    torch.save(layer, buffer, pickle_protocol=protocol)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    with torch.no_grad():
        assert torch.equal(loaded(x), want)
    assert torch.equal(copy.deepcopy(layer)(x), layer(x))


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
def test_no_stale_output_after_an_edit_through_data(kind, name):
    layer, x = make(kind, name), example(kind)
    with torch.no_grad():
        layer(x)
        for p in layer.parameters():
            p.data.mul_(1.7)  # no version counter moves
        got = layer(x)
    fresh = make(kind, name)
    fresh.load_state_dict(layer.state_dict())
    with torch.no_grad():
        assert torch.allclose(got, fresh(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
def test_functional_call_with_vmap_over_stacked_parameters(kind, name):
    """Model ensembling as torch.func's tutorial does it."""
    models = [make(kind, name, seed=k) for k in range(3)]
    x = example(kind)
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    out = torch.vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(params, buffers, x)
    for k, model in enumerate(models):
        assert torch.allclose(out[k], model(x), rtol=1e-5, atol=1e-6), k


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
def test_jit_trace_gives_the_same_outputs_on_a_new_input_of_the_same_shape(kind, name):
    layer = make(kind, name)
    traced = torch.jit.trace(layer, example(kind))
    x = example(kind, seed=7)
    assert torch.allclose(traced(x), layer(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
def test_torch_export(kind, name):
    layer, x = make(kind, name), example(kind)
    program = torch.export.export(layer, (x,))
    y = example(kind, seed=7)
    assert torch.allclose(program.module()(y), layer(y), rtol=1e-5, atol=1e-6)


def _onnx_run(path, x):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo-exporter", "torchscript-exporter"])
def test_onnx_export_checked_in_onnxruntime(kind, name, dynamo, tmp_path):
    layer, x = make(kind, name).eval(), example(kind)
    path = tmp_path / "layer.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' own deprecation and tracer notes
        if dynamo:
            torch.onnx.export(layer, (x,), dynamo=True).save(str(path))
        else:
            torch.onnx.export(layer, (x,), str(path), dynamo=False)
    with torch.no_grad():
        assert torch.allclose(_onnx_run(path, x), layer(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,name", CASES, ids=IDS)
def test_torch_compile_fullgraph_without_an_eager_call_first(kind, name):
    """No graph break (fullgraph=True raises on one), planning included: the first call of a
    compiled layer plans inside the compiled region."""
    torch._dynamo.reset()
    layer, x = make(kind, name), example(kind)
    compiled = torch.compile(layer, fullgraph=True, backend="eager")
    assert torch.allclose(compiled(x), layer(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", [*KINDS, DRAWN])
def test_torch_compile_with_inductor_trains_without_recompiling(kind):
    torch._dynamo.reset()
    layer, x = make(kind, "cp" if kind != DRAWN else None), example(kind)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.01)
    layer(x)  # plans made before the compiled region
    compiled = torch.compile(layer, fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(3):
            optimizer.zero_grad()
            compiled(x).square().mean().backward()
            optimizer.step()
    with torch.no_grad():
        assert torch.allclose(compiled(x), layer(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,name", [c for c in CASES if c[0] != DRAWN], ids=[i for i in IDS if "drawn" not in i])
def test_autocast_output_dtype_is_torch_nns(kind, name):
    layer, x = make(kind, name), example(kind)
    options = {} if kind == "Linear" else {"kernel_size": 3, "padding": 1}
    twin = _TWINS[kind](x.shape[1 if kind != "Linear" else -1], 8 if kind == "Linear" else 6, **options)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = layer(x), twin(x)
    assert got.dtype == want.dtype == torch.bfloat16
    assert torch.allclose(got.float(), layer(x), rtol=0.1, atol=0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_positional_arguments_are_torch_nns_and_a_format_there_is_a_type_error(kind):
    cls = _CLASSES[kind]
    if kind == "Linear":
        assert cls(12, 8, False, rate=0.5).bias is None  # in_features, out_features, bias: as nn.Linear
        with pytest.raises(TypeError, match="bias must be True or False, got 'cp'.*keyword-only"):
            cls(256, 128, "cp", rate=0.1)
    else:
        layer = cls(8, 6, 3, 2, 1, 1, 1, False, rate=0.5)  # in, out, kernel, stride, padding, dilation, groups, bias
        assert layer.stride == (2,) * layer._dims and layer.bias is None
        with pytest.raises(TypeError, match="stride must be an int.*keyword-only"):
            cls(8, 6, 3, "cp", rate=0.1)
    with pytest.raises(TypeError):
        cls(12, 8, 3, format="cp", rate=0.1, rank=None, order=2, optimize="auto", extra=1)


@pytest.mark.parametrize("kind,name", [("Conv2d", "cp"), ("Linear", "mtt"), (DRAWN, "cp")])
def test_jit_script_is_refused_with_the_reason(kind, name):
    with pytest.raises(
        TnvizError, match="torch.jit.script cannot compile.*torch.compile, torch.export or torch.jit.trace"
    ):
        torch.jit.script(make(kind, name))


def test_a_compressed_resnet_compiles_in_one_graph_and_trains_without_recompiling():
    """fullgraph=True raises on any graph break; error_on_recompile on any recompilation. No eager
    call first: the layers plan when torch.compile first meets them, outside the traced code."""
    from tnviz import compress
    from tnviz.compression import resnet20

    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    student, _ = compress(resnet20(), format="cp", rate=0.2, init="random", example_input=x[:1])
    reference = copy.deepcopy(student)
    torch._dynamo.reset()
    compiled = torch.compile(student, fullgraph=True, backend="eager")
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(3):
            optimizer.zero_grad()
            compiled(x).logsumexp(1).mean().backward()
            optimizer.step()
    reference.load_state_dict(student.state_dict())
    with torch.no_grad():
        assert torch.allclose(compiled(x), reference(x), rtol=1e-4, atol=1e-5)


def test_a_parametrized_or_pruned_factor_is_read_as_torch_reads_it():
    """torch.nn.utils.parametrize (orthogonal, weight_norm) and prune move a parameter out of
    ParameterDict._parameters; forward then reads each factor as ``weights[name]`` gives it."""
    from torch.nn.utils import parametrize, prune

    torch.manual_seed(0)
    layer = TensorialConv2d(4, 6, 3, padding=1, format="cp", rank=3, dtype=torch.float64)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    name = next(iter(layer.weights))
    doubled = copy.deepcopy(layer)
    with torch.no_grad():
        doubled.weights[name].mul_(2)

    class Twice(nn.Module):
        def forward(self, w: torch.Tensor) -> torch.Tensor:
            return 2 * w

    parametrized = copy.deepcopy(layer)
    parametrize.register_parametrization(parametrized.weights, name, Twice())
    torch.testing.assert_close(parametrized(x), doubled(x))
    pruned = copy.deepcopy(doubled)
    prune.identity(pruned.weights, name)  # the factor becomes name_orig × a mask of ones
    assert name not in pruned.weights._parameters
    torch.testing.assert_close(pruned(x), doubled(x))
