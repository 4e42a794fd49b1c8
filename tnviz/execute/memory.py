"""The memory guard: refuse a plan whose intermediates would not fit, before running it.

The budget is, in order: :func:`set_memory_budget`'s value, the ``TNVIZ_MEMORY_BUDGET``
environment variable (bytes, ``"8GB"``/``"512MiB"``, or a fraction such as ``"0.5"`` of the
memory available now), else 80 % of the memory available now — ``MemAvailable`` of
``/proc/meminfo`` on CPU (the machine's RAM elsewhere), ``torch.cuda.mem_get_info`` on a GPU.
Plans needing less than 64 MiB of new memory are never checked (no system call on the hot path).
"""

from __future__ import annotations

import os
import re
from typing import Any

from tnviz.errors import TnvizError

__all__ = [
    "set_memory_budget",
    "memory_budget",
    "check_plan_memory",
    "plan_within_budget",
    "available_memory",
    "parse_bytes",
]

_SMALL = 64 * 2**20
_budget: float | None = None
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_bytes(value: Any) -> float:
    """Bytes from an int, ``"8GB"``/``"512MiB"``, or a fraction in (0, 1] of available memory."""
    if isinstance(value, bool):
        raise TnvizError(f"bad memory budget {value!r}", token=repr(value))
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if not match or match.group(2).upper() not in _UNITS:
            raise TnvizError(
                f"bad memory budget {value!r}; expected bytes, '8GB', '512MiB' or a fraction like 0.5", token=str(value)
            )
        number, unit = float(match.group(1)), match.group(2).upper()
    if not number > 0:
        raise TnvizError(f"the memory budget must be positive, got {value!r}", token=str(value))
    if unit == "" and number <= 1:
        return number  # a fraction, resolved against the memory available when checked
    return number * _UNITS[unit]


def set_memory_budget(value: Any | None) -> None:
    """Set the budget for all plans (bytes, ``"8GB"``, a fraction; None restores the default).

    Example:
        >>> set_memory_budget("2GiB")
        >>> set_memory_budget(None)
    """
    global _budget
    _budget = None if value is None else parse_bytes(value)


def available_memory(device: Any = None) -> int:
    """Bytes that can be allocated now on ``device`` (CPU when None)."""
    import torch

    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # memory PyTorch's allocator has cached but not handed out is free for our tensors
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**40


def memory_budget(device: Any = None) -> int:
    """The budget in bytes for ``device`` now."""
    value = _budget
    if value is None and os.environ.get("TNVIZ_MEMORY_BUDGET"):
        value = parse_bytes(os.environ["TNVIZ_MEMORY_BUDGET"])
    if value is None:
        value = 0.8
    return int(value * available_memory(device)) if value <= 1 else int(value)


def plan_within_budget(plan: Any, itemsize: int, device: Any = None) -> Any:
    """``plan`` if its new memory (its peak less its inputs) fits the budget; else the plan sliced
    to fit (run in pieces, see :meth:`Diagram.plan`'s ``max_memory``); a TnvizError with the
    estimate when not even slicing fits. The budget is rounded down to a power of two, so that
    the sliced plan is cached while the memory available drifts."""
    need = (plan.peak_elements - plan.input_elements) * itemsize
    if need < _SMALL:
        return plan
    budget = memory_budget(device)
    if need <= budget:
        return plan
    target = 1 << (max(budget, 1).bit_length() - 1)
    try:
        return plan.diagram.plan(
            optimize=plan.optimize,
            inputs=plan.inputs,
            itemsize=itemsize,
            objective=plan.objective,
            layout=plan.layout,
            max_memory=target,
        )
    except TnvizError as err:
        _refuse(plan, itemsize, need, budget, f"; slicing cannot fit it either: {err.args[0]}")


def check_plan_memory(plan: Any, itemsize: int, device: Any = None) -> None:
    """Raise a TnvizError if ``plan``'s new memory (its peak less its inputs) exceeds the budget."""
    need = (plan.peak_elements - plan.input_elements) * itemsize
    if need < _SMALL:
        return
    budget = memory_budget(device)
    if need <= budget:
        return
    _refuse(plan, itemsize, need, budget)


def _refuse(plan: Any, itemsize: int, need: int, budget: int, why: str = "") -> None:
    hints = []
    for optimize in ("reconstruct", "left-to-right"):
        try:
            other = plan.diagram.plan(optimize=optimize, inputs=plan.inputs)
        except TnvizError:
            continue
        other_need = (other.peak_elements - other.input_elements) * itemsize
        if other_need < need:
            hints.append(f"optimize={optimize!r} needs {_gib(other_need)}")
    hint = "; " + ", ".join(hints) if hints else "; use a smaller batch or input"
    largest = _gib(plan.largest_intermediate * itemsize)
    raise TnvizError(
        f"this plan needs about {_gib(need)} for its intermediates (largest {largest}), more than the memory "
        f"budget of {_gib(budget)}{hint}{why} (the budget: tnviz.set_memory_budget or TNVIZ_MEMORY_BUDGET)",
        token=plan.diagram.to_spec(),
    )


def _gib(n: int) -> str:
    if n >= 2**60:  # beyond any machine (and, for a plan on 2**40-long indices, beyond float's range)
        return f"about 2^{n.bit_length() - 1} bytes"
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"
