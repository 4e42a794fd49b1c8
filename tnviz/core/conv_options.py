"""How one convolution index is convolved (PyTorch's ``F.conv*d`` semantics) — padding, stride,
dilation, padding mode, flip, upsampling, per-kernel dilation — and how the values a user
writes (a scalar, a tuple per index, ``{index: value}``) become one :class:`ConvOptions` per
index. Standard library only."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tnviz.core.spec import Spec
from tnviz.errors import TnvizError

__all__ = [
    "ConvOptions",
    "PADDING_MODES",
    "MAX_SIZE",
    "check_positive",
    "is_int",
    "resolve_options",
    "check_holder_names",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


_OPTION_NAMES = ("padding", "stride", "dilation", "padding_mode", "flip", "upsample", "kernel_dilation", "fold")


@dataclass(frozen=True)
class ConvOptions:
    """How one convolution index is convolved (PyTorch's ``F.conv*d`` semantics).

    ``padding`` is ``(left, right)`` or ``"same"`` (resolved once kernel sizes are known); a
    negative side crops. Three options beyond PyTorch's, which the gradients of convolutions
    need (:meth:`Diagram.grad`): ``flip`` correlates with the kernels reversed along the index (a
    true convolution), or, given holders' names (``("X", "G")``), with those tensors reversed —
    the signal among them (a flipped convolution's kernel gradients read the signal backwards);
    ``upsample`` inserts ``upsample - 1`` zeros between the signal's entries
    before padding (the transpose of a stride); ``kernel_dilation`` gives named kernels their own
    spacing instead of ``dilation`` (``(("G", 2),)``: G's taps 2 apart), so that a strided
    convolution's upstream gradient can join its kernels; ``fold`` (``("circular", left,
    right)``, also ``"reflect"`` or ``"replicate"``) reads the output as a signal padded by
    ``(left, right)`` in that mode and adds each padded entry back onto the entry it copies,
    ``left + right`` shorter: the adjoint of that padding, which a signal's gradient through it
    needs (the fold comes before the stride).
    """

    padding: tuple[int, int] | str = (0, 0)
    stride: int = 1
    dilation: int = 1
    padding_mode: str = "zeros"
    flip: bool | tuple[str, ...] = False
    upsample: int = 1
    kernel_dilation: tuple[tuple[str, int], ...] = ()
    fold: tuple[str, int, int] | None = None

    def is_default(self) -> bool:
        return self == ConvOptions()

    def dilation_of(self, kernel: str) -> int:
        """The spacing of ``kernel``'s taps: its own ``kernel_dilation``, else ``dilation``."""
        for name, value in self.kernel_dilation:
            if name == kernel:
                return value
        return self.dilation

    def as_data(self) -> dict[str, Any]:
        """Plain data (the JSON form): padding, stride, dilation and mode always, the rest when set."""
        return {
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "stride": self.stride,
            "dilation": self.dilation,
            "padding_mode": self.padding_mode,
            **({"flip": self.flip if self.flip is True else list(self.flip)} if self.flip else {}),
            **({"upsample": self.upsample} if self.upsample != 1 else {}),
            **({"kernel_dilation": dict(self.kernel_dilation)} if self.kernel_dilation else {}),
            **({"fold": list(self.fold)} if self.fold is not None else {}),
        }

    def reversed_holders(self, holders: Sequence[str]) -> frozenset[str]:
        """The holders of this index (signal first) read backwards: every kernel for
        ``flip=True``, the named ones for a tuple."""
        if self.flip is True:
            return frozenset(holders[1:])
        return frozenset(self.flip or ())

    def reach(self, kernels: Sequence[tuple[str, int]]) -> int:
        """How far the combined kernels reach beyond one entry: Σ dilation·(length - 1) over
        ``(name, length)`` pairs (the combined kernel spans ``reach + 1`` signal entries)."""
        return sum(self.dilation_of(name) * (length - 1) for name, length in kernels)

    def pads(self, kernel_length: int) -> tuple[int, int]:
        """The (left, right) padding for a combined kernel of this length at ``dilation``."""
        return self.pads_for_reach(self.dilation * (kernel_length - 1))

    def pads_for_reach(self, reach: int) -> tuple[int, int]:
        """The (left, right) padding for combined kernels reaching ``reach`` (see :meth:`reach`)."""
        if self.padding == "same":
            return reach // 2, reach - reach // 2
        return self.padding  # type: ignore[return-value]

    def output_length(self, signal_length: int, kernel_lengths: list[int], kernels: Sequence[str] = ()) -> int:
        """Length of the output along this index (may be < 1 for a kernel too large); ``kernels``
        names the kernels of ``kernel_lengths`` when some have their own ``kernel_dilation``."""
        names = list(kernels) or [""] * len(kernel_lengths)
        reach = self.reach(list(zip(names, kernel_lengths)))
        left, right = self.pads_for_reach(reach)
        signal = (signal_length - 1) * self.upsample + 1
        return (signal + left + right - reach - 1 - self.folded()) // self.stride + 1

    def folded(self) -> int:
        """How much shorter the fold makes the output (0 without one)."""
        return 0 if self.fold is None else self.fold[1] + self.fold[2]


def is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # NumPy integers too


MAX_SIZE = 2**40  # no tensor axis is longer; larger numbers are typos or hostile files


def check_positive(value: object, what: str, token: str) -> int:
    if not is_int(value) or value < 1:  # type: ignore[operator]
        raise TnvizError(f"{what} must be a positive integer, got {value!r}", token=token)
    if value > MAX_SIZE:  # type: ignore[operator]
        raise TnvizError(f"{what} is {value:,}; at most {MAX_SIZE:,} (2**40) is accepted", token=token)
    return value  # type: ignore[return-value]


def _normalize_option(name: str, value: object, index: str) -> Any:
    if name == "padding":
        if value == "valid":
            return (0, 0)
        if value == "same":
            return "same"
        if is_int(value):  # a negative padding crops (the adjoint of zero padding)
            return (int(value), int(value))  # type: ignore[call-overload]
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
            return (int(value[0]), int(value[1]))
        raise TnvizError(
            f"bad padding {value!r} for index {index!r}; expected an int (negative crops), "
            "'same', 'valid' or a (left, right) pair",
            token=repr(value),
        )
    if name == "flip":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            value = (value,)
        if isinstance(value, (tuple, list, set, frozenset)) and all(isinstance(v, str) for v in value):
            return tuple(sorted(set(value))) or False
        raise TnvizError(
            f"flip for index {index!r} must be True, False or the names of tensors holding it, got {value!r}",
            token=repr(value),
        )
    if name == "upsample":
        return int(check_positive(value, f"upsample for index {index!r}", repr(value)))
    if name == "kernel_dilation":
        pairs = value.items() if isinstance(value, Mapping) else value
        try:
            pairs = list(pairs)  # type: ignore[call-overload]
            ok = all(isinstance(p, (tuple, list)) and len(p) == 2 and isinstance(p[0], str) for p in pairs)
        except TypeError:
            ok = False
        if not ok:
            raise TnvizError(
                f"kernel_dilation for index {index!r} must map kernel names to dilations, e.g. {{'G': 2}}; "
                f"got {value!r}",
                token=repr(value),
            )
        checked = {
            str(k): int(check_positive(v, f"kernel_dilation of {k!r} on index {index!r}", repr(v))) for k, v in pairs
        }
        return tuple(sorted(checked.items()))
    if name in ("stride", "dilation"):
        return int(check_positive(value, f"{name} for index {index!r}", repr(value)))
    if name == "fold":
        ok = isinstance(value, (tuple, list)) and len(value) == 3 and value[0] in PADDING_MODES[1:]
        if not ok or not all(is_int(v) and v >= 0 for v in value[1:]):  # type: ignore[index]
            raise TnvizError(
                f"bad fold {value!r} for index {index!r}; expected (mode, left, right) with mode one of "
                f"{', '.join(PADDING_MODES[1:])} and left, right ≥ 0",
                token=repr(value),
            )
        return (str(value[0]), int(value[1]), int(value[2]))  # type: ignore[index]
    if value not in PADDING_MODES:
        raise TnvizError(
            f"bad padding_mode {value!r} for index {index!r}; expected one of {', '.join(PADDING_MODES)}",
            token=repr(value),
        )
    return value


def resolve_options(
    conv: tuple[str, ...], base: Mapping[str, ConvOptions], given: Mapping[str, object]
) -> dict[str, ConvOptions]:
    """Merge user options (scalar, per-index dict, or PyTorch-style tuple) into per-index ConvOptions."""
    for key in given:
        if key not in _OPTION_NAMES:
            raise TnvizError(
                f"unknown convolution option {key!r}; expected one of {', '.join(_OPTION_NAMES)}", token=key
            )
    fields: dict[str, dict[str, Any]] = {c: dict(base.get(c, ConvOptions()).__dict__) for c in conv}
    for key, value in given.items():
        if value is None:
            continue
        if key == "kernel_dilation" and isinstance(value, Mapping) and all(is_int(v) for v in value.values()):
            per_index = {c: value for c in conv}  # {kernel: dilation} for every convolution index
        elif key == "fold" and isinstance(value, (tuple, list)) and value and isinstance(value[0], str):
            per_index = {c: value for c in conv}  # (mode, left, right) for every convolution index
        elif key == "flip" and isinstance(value, (str, tuple, list)) and all(isinstance(v, str) for v in value):
            per_index = {c: value for c in conv}  # holders' names (never index names) for every index
        elif isinstance(value, Mapping):
            per_index = dict(value)
        elif isinstance(value, (tuple, list)):
            if len(value) != len(conv):
                raise TnvizError(
                    f"{key}={value!r} has {len(value)} entries but the spec has {len(conv)} convolution "
                    f"indices ({' '.join(conv) or 'none'}); use a dict {{index: value}} for a (left, right) pair",
                    token=repr(value),
                )
            per_index = dict(zip(conv, value))
        else:
            per_index = {c: value for c in conv}
            default = ConvOptions().__dict__[key]
            if not conv and _normalize_option(key, value, "-") not in (default, (0, 0)):
                raise TnvizError(f"{key}={value!r} given but the spec has no convolution index (no '|')", token=key)
        for index, v in per_index.items():
            if index not in conv:
                raise TnvizError(
                    f"{key} names {index!r}, which is not a convolution index; "
                    f"expected one of {' '.join(conv) or '(none)'}",
                    token=str(index),
                )
            fields[index][key] = _normalize_option(key, v, index)
    result = {c: ConvOptions(**f) for c, f in fields.items()}
    for c, opts in result.items():
        if opts.padding == "same" and opts.stride != 1:
            raise TnvizError(
                f"padding='same' on index {c!r} needs stride 1 (as in PyTorch), got stride {opts.stride}", token="same"
            )
    return result


def check_holder_names(spec: Spec, index: str, opts: ConvOptions) -> None:
    """``kernel_dilation`` names kernels of ``index``, a tuple ``flip`` holders of it."""
    holders = [op.name for op in spec.operands if index in op.indices]
    if isinstance(opts.flip, tuple):
        for name in opts.flip:
            if name not in holders:
                raise TnvizError(
                    f"flip names {name!r}, which does not hold convolution index {index!r}; expected some of "
                    f"{', '.join(holders) or '(none)'}",
                    token=name,
                )
    for name, _ in opts.kernel_dilation:
        if name not in holders[1:]:
            raise TnvizError(
                f"kernel_dilation names {name!r}, which is not a kernel of convolution index {index!r}; expected "
                f"one of {', '.join(holders[1:]) or '(none)'} (the first holder, {holders[0]!r}, is the signal)"
                if holders
                else f"kernel_dilation names {name!r} but no tensor holds convolution index {index!r}",
                token=name,
            )
