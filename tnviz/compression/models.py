"""Reference networks of the paper's experiments, as plain ``nn.Module``s.

* :class:`LeNet5` — the LeNet-5 used for MNIST in compression papers (Caffe's variant:
  conv 20 and 50 of 5×5, two max-pools, fully connected 800→500→10; 431,080 parameters).
  Its ``conv2`` (20→50) and ``fc1`` (800→500) hold 99 % of the weights and are the layers
  compressed; ``conv1`` and ``fc2`` stay dense, as in the paper.
* :func:`resnet20`, :func:`resnet32` — He et al.'s CIFAR ResNets (3 stages of n basic blocks
  with 16/32/64 channels, option A shortcuts: strided identity padded with zeros).
* :func:`resnet18` — the ImageNet ResNet-18 (11.7 M parameters), laid out as torchvision's
  ``resnet18(weights=None)`` (the same module names and shapes, so its state_dict loads), built
  here because torchvision may not install beside a CPU build of torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LeNet5", "CifarResNet", "ResNet18", "resnet18", "resnet20", "resnet32", "MODELS", "build_model"]


class LeNet5(nn.Module):
    """LeNet-5 for 28×28 grey images.

    Example:
        >>> LeNet5()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        # Option A of He et al.: subsample, then zero-pad the new channels (no parameters).
        if self.stride != 1 or self.pad:
            x = x[:, :, :: self.stride, :: self.stride]
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32×32 colour images; ``stage1..3`` are the distillation blocks.

    Example:
        >>> resnet20()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, blocks_per_stage: int, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes, stages = 16, []
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            layers = []
            for k in range(blocks_per_stage):
                layers.append(_BasicBlock(planes, width, stride if k == 0 else 1))
                planes = width
            stages.append(nn.Sequential(*layers))
        self.stage1, self.stage2, self.stage3 = stages
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def resnet20(num_classes: int = 10) -> CifarResNet:
    """ResNet-20 (0.27 M parameters)."""
    return CifarResNet(3, num_classes)


def resnet32(num_classes: int = 10) -> CifarResNet:
    """ResNet-32 (0.46 M parameters), the paper's CIFAR-10 network."""
    return CifarResNet(5, num_classes)


class _ImageNetBlock(_BasicBlock):
    """torchvision's BasicBlock: the same two 3×3 convolutions, a 1×1 projection shortcut
    (``downsample``) where the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__(in_planes, planes, stride)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)


class ResNet18(nn.Module):
    """ResNet-18 for 224×224 colour images, module for module as torchvision's.

    Example:
        >>> sum(p.numel() for p in resnet18().parameters())
        11689512
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        planes, stages = 64, []
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(_ImageNetBlock(planes, width, stride), _ImageNetBlock(width, width, 1)))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def resnet18(num_classes: int = 1000) -> ResNet18:
    """ResNet-18 (11.7 M parameters), torchvision's layout."""
    return ResNet18(num_classes)


MODELS = {"lenet5": LeNet5, "resnet20": resnet20, "resnet32": resnet32, "resnet18": resnet18}


def build_model(name: str) -> nn.Module:
    """A fresh reference network by name (``lenet5``, ``resnet20``, ``resnet32``, ``resnet18``)."""
    from tnviz.errors import TnvizError

    if name not in MODELS:
        raise TnvizError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}", token=str(name))
    return MODELS[name]()
