import json

import pytest
import torch
from shared_helpers import probed_weight
from torch import nn

import tnviz
from tnviz.compression import LeNet5, compressible_layers, resnet20
from tnviz.compression.saved import load_compressed, load_weights, save_compressed
from tnviz.errors import TnvizError
from tnviz.nn import TensorialConv2d, TensorialLinear


def test_default_compression_keeps_the_first_conv_and_last_linear_dense():
    teacher = LeNet5()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student, report = tnviz.compress(teacher, format="mtt", rate=0.1, example_input=torch.zeros(1, 1, 28, 28))
    assert isinstance(student.conv2, TensorialConv2d) and isinstance(student.fc1, TensorialLinear)
    assert type(student.conv1) is nn.Conv2d and type(student.fc2) is nn.Linear
    assert [k.name for k in report.kept] == ["conv1", "fc2"]
    assert "first convolution stays dense" in report.kept[0].reason and report.kept[0].params == 520
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # the original is untouched
    assert 0.085 <= report.rate <= 0.1
    params = sum(p.numel() for p in student.parameters())
    assert report.model_params == params and report.original_params == 431_080
    # A rate-0.1 mTT of these untrained (random, flat-spectrum) weights keeps about 0.93 of
    # their norm as error: measured 0.930 (conv2) and 0.935 (fc1). Unrelated factors of the
    # same norm would give about sqrt(2) = 1.41 (random init: 1.39 to 1.45).
    for row in report.layers:
        assert row.flops is not None and row.dense_flops is not None and 0.85 <= row.error <= 0.97, row
        # The reported error against one computed here from the student's forward pass.
        dense, layer = teacher.get_submodule(row.name), student.get_submodule(row.name)
        want = dense.weight.detach()
        assert row.error == pytest.approx(float((probed_weight(layer, dense) - want).norm() / want.norm()), rel=1e-4)
    conv2 = report.layers[0]
    assert conv2.dense_flops == 2 * 8 * 8 * 50 * 20 * 25  # per sample
    text = str(report)
    assert "conv2" in text and "fc1" in text and "compressed layers keep" in text and "whole model" in text
    html = report._repr_html_()
    assert (
        html.startswith('<div class="tn-table-box"')
        and '<table class="tn-table"' in html
        and "<thead>" in html
        and 'class="tn-num"' in html
    )
    assert student(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # On a batch, the student follows the teacher: the relative output error is 0.87 here;
    # students of unrelated factors are off by 1.26 or more (measured over three seeds).
    x = torch.randn(16, 1, 28, 28)
    with torch.no_grad():
        want = teacher(x)
        assert (student(x) - want).norm() / want.norm() < 1.0


def test_full_rank_decomposition_reproduces_the_teacher():
    torch.manual_seed(0)
    teacher = LeNet5().double()
    student, report = tnviz.compress(teacher, format="tk", rank={"p": 20, "q": 50}, include="conv2")
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    assert torch.allclose(student(x), teacher(x), rtol=1e-8, atol=1e-10)
    want = teacher.conv2.weight.detach()
    error = float((probed_weight(student.conv2, teacher.conv2) - want).norm() / want.norm())
    assert error < 1e-10 and report.layers[0].error == pytest.approx(error, abs=1e-12)


def test_patterns_select_layers_and_bad_ones_are_named():
    model = resnet20()
    names = compressible_layers(model)
    assert names[0] == "conv1" and names[-1] == "fc"
    student, report = tnviz.compress(model, format="tk", rate=0.5, include="stage3.*", skip="stage3.2.*", init="random")
    assert [r.name for r in report.layers] == ["stage3.0.conv1", "stage3.0.conv2", "stage3.1.conv1", "stage3.1.conv2"]
    assert student(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(TnvizError, match="'stage9.*' matches no compressible layer"):
        tnviz.compress(model, format="tk", rate=0.5, include="stage9.*")
    with pytest.raises(TnvizError, match="exactly one of rate= and rank="):
        tnviz.compress(model, format="tk")
    with pytest.raises(TnvizError, match="init must be"):
        tnviz.compress(model, format="tk", rate=0.1, init="zeros")
    with pytest.raises(TnvizError, match="layer 'conv2'"):
        tnviz.compress(LeNet5(), format="cp", rate=1e-5)
    with pytest.raises(TnvizError, match="nn.Module"):
        tnviz.compress("lenet", format="cp", rate=0.1)


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_compressed_models_save_and_load_as_data(tmp_path):
    student, report = tnviz.compress(LeNet5(), format="mcp", rate=0.05)
    path = save_compressed(student, report, tmp_path / "m.pt", model="lenet5")
    x = torch.randn(3, 1, 28, 28)
    for again in (load_compressed(path), load_compressed(path, LeNet5())):  # by the name saved, or onto a model
        assert torch.allclose(again(x), student(x), atol=1e-6)
    settings = json.loads(path.with_suffix(".json").read_text())
    assert settings["layers"]["conv2"]["format"] == "mcp" and settings["model"] == "lenet5"
    with pytest.raises(TnvizError, match="layer 'conv2', which this model has not"):
        load_compressed(path, nn.Sequential(nn.Linear(3, 3)))
    # a user's plain state_dict, also with DataParallel's "module." prefix
    teacher = LeNet5()
    torch.save({"module." + k: v for k, v in teacher.state_dict().items()}, tmp_path / "t.pt")
    loaded = load_weights(LeNet5(), tmp_path / "t.pt")
    assert torch.equal(loaded.fc1.weight, teacher.fc1.weight)
    torch.save(resnet20().state_dict(), tmp_path / "r.pt")
    with pytest.raises(TnvizError, match="does not fit this model"):
        load_weights(LeNet5(), tmp_path / "r.pt")


def test_a_layer_registered_under_two_names_is_replaced_everywhere():
    shared = nn.Linear(64, 64)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 64), shared, nn.ReLU(), shared, nn.Linear(64, 10)
    )
    student, report = tnviz.compress(model, format="tk", rate=0.5)
    assert student[3] is student[5] and isinstance(student[3], TensorialLinear)
    assert [r.name for r in report.layers] == ["2", "3"] and [k.name for k in report.kept] == ["0", "6"]
    assert report.model_params == sum(p.numel() for p in student.parameters()) < report.original_params
    with pytest.raises(TnvizError, match="has no other layer .*include="):
        tnviz.compress(nn.Sequential(nn.Linear(3, 3)), format="tk", rate=0.5)
    model.train()
    with pytest.raises(TnvizError, match=r"example_input \(1, 3, 8, 8\) does not run through the model"):
        tnviz.compress(model, format="tk", rate=0.5, example_input=torch.zeros(1, 3, 8, 8))
    assert model.training and model[0].training
