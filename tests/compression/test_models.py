import torch

from tnviz.compression import LeNet5, build_model, resnet18, resnet20, resnet32
from tnviz.errors import TnvizError


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_reference_models_have_their_published_sizes():
    assert count(LeNet5()) == 431_080
    assert count(resnet20()) == 269_722
    assert count(resnet32()) == 464_154
    assert LeNet5()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert resnet20()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_resnet18_is_laid_out_as_torchvisions():
    """torchvision's resnet18(weights=None): 11,689,512 parameters, 122 state_dict entries, and its
    names and shapes (so that a torchvision checkpoint loads)."""
    model = resnet18()
    state = model.state_dict()
    assert count(model) == 11_689_512 and len(state) == 122
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert state["layer4.1.bn2.running_var"].shape == (512,) and state["fc.weight"].shape == (1000, 512)
    assert "layer1.0.downsample.0.weight" not in state
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_unknown_model_is_refused():
    try:
        build_model("vgg")
    except TnvizError as err:
        assert "vgg" in str(err) and "lenet5" in str(err)
    else:
        raise AssertionError("no error")
