import torch

from tnviz.compression import LeNet5, build_model, resnet20, resnet32
from tnviz.errors import TnvizError


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_reference_models_have_their_published_sizes():
    assert count(LeNet5()) == 431_080
    assert count(resnet20()) == 269_722
    assert count(resnet32()) == 464_154
    assert LeNet5()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert resnet20()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_unknown_model_is_refused():
    try:
        build_model("vgg")
    except TnvizError as err:
        assert "vgg" in str(err) and "lenet5" in str(err)
    else:
        raise AssertionError("no error")
