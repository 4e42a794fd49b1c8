"""Shipping a compressed model as plain PyTorch: files that load and run without tnviz.

:func:`export_model` writes, for one example input,

* ``model.pt2`` — ``torch.export``'s program: the torch operations each tensorial layer runs
  (its plan's convolutions, matrix products and reshapes, the kernel rebuilt where the plan
  rebuilds it), with the parameters. ``torch.export.load(path).module()(x)`` runs it; nothing of
  tnviz is imported.
* ``model.onnx`` — the same program through torch's ONNX exporter (``pip install 'tnviz[onnx]'``),
  checked in onnxruntime when it is installed.

Each file is read back and run on the example before the function returns; the largest
difference from the model's own output is reported. Shapes are those of the example (the batch
size included); export again for another.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tnviz.errors import TnvizError

__all__ = ["export_model", "Exported"]


@dataclass(frozen=True)
class Exported:
    """What :func:`export_model` wrote, and how far each file's output is from the model's."""

    program: Path
    onnx: Path | None
    program_difference: float
    onnx_difference: float | None  # None when onnxruntime is not installed (the file is written unchecked)

    def __str__(self) -> str:
        lines = [f"{self.program}: torch.export program, max |difference| {self.program_difference:.2e}"]
        if self.onnx is not None:
            checked = (
                f"onnxruntime max |difference| {self.onnx_difference:.2e}"
                if self.onnx_difference is not None
                else "not checked (onnxruntime is not installed)"
            )
            lines.append(f"{self.onnx}: ONNX, {checked}")
        return "\n".join(lines)


def export_model(model: nn.Module, example: torch.Tensor, folder: str | os.PathLike, *, onnx: bool = True) -> Exported:
    """Write ``model`` (in eval mode, on ``example``) as ``folder/model.pt2`` and, with ``onnx``,
    ``folder/model.onnx``; both read back and checked against the model's output.

    Example:
        >>> student, _ = tnviz.compress(LeNet5(), format="tt", rate=0.1)  # doctest: +SKIP
        >>> print(export_model(student, torch.zeros(1, 1, 28, 28), "shipped"))  # doctest: +SKIP
    """
    if not isinstance(example, torch.Tensor):
        raise TnvizError(f"example must be a tensor, got {type(example).__name__}", token=type(example).__name__)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            want = model(example)
        try:
            program = torch.export.export(model, (example,))
        except Exception as err:  # torch's exporter: its many error types, reported with the first line
            raise TnvizError(f"torch.export cannot export this model: {_first_line(err)}", token="export") from None
        program_path = folder / "model.pt2"
        torch.export.save(program, program_path)
        with torch.no_grad():
            got = torch.export.load(program_path).module()(example)
        program_difference = float((got - want).abs().max())
        onnx_path, onnx_difference = None, None
        if onnx:
            onnx_path = folder / "model.onnx"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the exporter's own notes on its progress
                    torch.onnx.export(model, (example,), dynamo=True).save(str(onnx_path))
            except ImportError as err:
                raise TnvizError(f"ONNX export needs onnx and onnxscript (pip install 'tnviz[onnx]'): {err}",
                                 token="onnx") from None  # fmt: skip
            onnx_difference = _onnx_difference(onnx_path, example, want)
    finally:
        model.train(was_training)
    return Exported(program_path, onnx_path, program_difference, onnx_difference)


def _onnx_difference(path: Path, example: torch.Tensor, want: torch.Tensor) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    return float((torch.from_numpy(got) - want).abs().max())


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
