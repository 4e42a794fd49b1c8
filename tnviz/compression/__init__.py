"""Compressing trained networks: model surgery, knowledge distillation, data and models.

(The package is ``tnviz.compression`` so that ``tnviz.compress`` can be the function.)
"""

from tnviz.compression.calibrate import fit_to_teacher
from tnviz.compression.checkpoint import load_checkpoint, save_atomic
from tnviz.compression.data import load_cifar10, load_dataset, load_image_folder, load_mnist, load_npz, mnist_offline
from tnviz.compression.distill import DistillResult, StopTraining, distill, evaluate
from tnviz.compression.models import LeNet5, build_model, resnet18, resnet20, resnet32
from tnviz.compression.report import Compressed, CompressionReport
from tnviz.compression.saved import load_compressed, save_compressed
from tnviz.compression.surgery import compress, compressible_layers

__all__ = [
    "compress",
    "fit_to_teacher",
    "Compressed",
    "CompressionReport",
    "compressible_layers",
    "distill",
    "DistillResult",
    "StopTraining",
    "evaluate",
    "mnist_offline",
    "load_mnist",
    "load_cifar10",
    "load_dataset",
    "load_npz",
    "load_image_folder",
    "LeNet5",
    "resnet20",
    "resnet32",
    "resnet18",
    "build_model",
    "save_atomic",
    "load_checkpoint",
    "save_compressed",
    "load_compressed",
]
