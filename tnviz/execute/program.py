"""Turn a Plan into PyTorch operations, once per plan.

What the executor adds to the plan's steps, so that every network gets it — a format's
layer and a network drawn by hand alike:

- **Weights laid out once.** A pairwise step's weight side (a convolution's kernel, a
  contraction's matrix) is permuted and reshaped into the layout its ``F.conv``/``F.linear``
  call wants by a separate *prepare* operation when it depends on no input, so a cached
  kernel is cached ready to use.
- **The kernel cache.** Everything that depends on no input (the reconstructed kernel of a
  ``"reconstruct"`` plan, a product of factors) can be served from a :class:`KernelCache`
  when no gradient is recorded; the cache compares the parameters' values with a snapshot,
  so it never serves a stale kernel (an in-place edit through ``.data`` bumps no version
  counter).
- **The memory format kept.** A contraction over an activation's channels runs as a 1×1
  ``F.conv`` on the activation as it lies, so a channels_last input stays channels_last;
  convolution steps keep it too (``F.conv`` follows its input).
- **The bias fused** into the last ``F.linear`` / ``F.conv`` call when that call writes the
  output's channel mode, as ``torch.nn`` does (a separate addition is one more pass over the
  output, forward and backward: measured 5–8 % of a dense 3×3 convolution); else added after,
  in the output's dtype (as autocast would give).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tnviz.core.plan import Plan
from tnviz.execute.kernel_cache import KernelCache
from tnviz.execute.steps import as_shape, compile_pairwise, permutation, sum_step

__all__ = ["Program"]


def _reversed_dims(diagram: Any, name: str, indices: Sequence[str]) -> tuple[int, ...]:
    """The axes of tensor ``name`` (flat ``indices``) that a ``flip`` naming it reverses."""
    return tuple(
        k
        for k, i in enumerate(indices)
        if i in diagram.conv and isinstance(diagram.options[i].flip, tuple) and name in diagram.options[i].flip
    )


def _output_embedding(plan: Plan) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What turns the planned result (the output's held indices, each once, in order of first
    occurrence) into the output's flat indices: broadcast indices (held by no tensor) expanded,
    then repeated indices placed on the diagonal (zeros elsewhere). None when nothing is to do."""
    flat = tuple(plan.output_indices)
    unique = tuple(dict.fromkeys(flat))
    held = [i for i in unique if i in plan.final_indices]
    if len(flat) == len(unique) == len(held):
        return None
    diagram = plan.diagram
    size = {i: int(diagram.size(i)) for i in unique}  # type: ignore[arg-type]
    missing = tuple(k for k, i in enumerate(unique) if i not in plan.final_indices)
    unique_shape = tuple(size[i] for i in unique)
    full_shape = tuple(size[i] for i in flat)
    contiguous = [1] * len(flat)  # row-major strides of the full output
    for k in range(len(flat) - 2, -1, -1):
        contiguous[k] = contiguous[k + 1] * full_shape[k + 1]
    # One element per unique index: its stride in the full output is the sum of its positions'.
    diag_strides = tuple(sum(contiguous[k] for k, j in enumerate(flat) if j == i) for i in unique)
    diagonal = len(flat) != len(unique)

    def embed(y: torch.Tensor) -> torch.Tensor:
        for k in missing:
            y = y.unsqueeze(k)
        if missing:
            y = y.expand(unique_shape)
        if not diagonal:
            return y
        return y.new_zeros(full_shape).as_strided_scatter(y, unique_shape, diag_strides)

    return embed


@dataclass(frozen=True)
class _Op:
    """One operation of a program: ``run(*slots[reads], bias)`` is written to ``slots[write]``."""

    reads: tuple[int, ...]
    write: int
    run: Callable[..., torch.Tensor]
    constant: bool  # depends on no input: a kernel cache may serve it


class Program:
    """A plan compiled into torch calls: ``program(tensors, bias=None, cache=None)``.

    ``bias`` (optional) is added along the output's mode 1 (the channels), fused into the last
    call where it can be; ``cache`` (a :class:`KernelCache`) serves what depends on no input
    (the tensors ``plan.inputs`` do not name) — pass one only when no gradient is recorded.
    """

    def __init__(self, plan: Plan) -> None:
        diagram = plan.diagram
        self.plan = plan
        names = diagram.tensor_names
        self.input_shapes = [tuple(diagram.size(i, op.name) for i in op.indices) for op in diagram.tensors]
        # ConvOptions.flip naming holders: those tensors are read backwards along the index
        self.reversed_dims = {
            k: dims for k, op in enumerate(diagram.tensors) if (dims := _reversed_dims(diagram, op.name, op.indices))
        }
        n = len(names)
        constant = [name not in plan.inputs for name in names]
        self.constant_leaves = tuple(k for k in range(n) if constant[k])
        held_out = [i for i in dict.fromkeys(plan.output_indices) if i in plan.final_indices]
        self.final_perm = permutation(plan.final_indices, held_out)
        self.embed = _output_embedding(plan)
        modes = diagram.output.modes
        bias_layout = None
        if self.final_perm is None and self.embed is None and len(modes) >= 2:
            bias_layout = (tuple(modes[0]), tuple(modes[1]), tuple(i for m in modes[2:] for i in m))
        self.out_shape = plan.output_shape
        self.bias_dims = len(self.out_shape) - 2
        next_slot = n + len(plan.steps)
        ops: list[_Op] = []
        is_constant = dict(enumerate(constant))
        self.fuses_bias = False
        for step in plan.steps:
            last = step.result == plan.final_id
            if step.kind == "sum":
                (a,) = step.operands
                ops.append(_Op((a,), step.result, sum_step(step), is_constant[a]))
                is_constant[step.result] = is_constant[a]
                continue
            pair = compile_pairwise(step, bias_layout if last else None)
            w_slot = pair.w
            main = pair.main
            if pair.prepare is not None:
                if is_constant[pair.w]:  # laid out by its own operation: cached ready to use
                    ops.append(_Op((pair.w,), next_slot, pair.prepare, True))
                    is_constant[next_slot] = True
                    w_slot, next_slot = next_slot, next_slot + 1
                else:
                    prepare, inner = pair.prepare, pair.main
                    main = lambda x, w, bias, prepare=prepare, inner=inner: inner(x, prepare(w), bias)
            fuses = last and pair.fuses_bias
            self.fuses_bias = self.fuses_bias or fuses
            run = main if fuses else (lambda x, w, bias, main=main: main(x, w, None))
            both_constant = is_constant[pair.x] and is_constant[w_slot]
            ops.append(_Op((pair.x, w_slot), step.result, run, both_constant))
            is_constant[step.result] = both_constant
        self.final = plan.final_id
        self.n_slots = next_slot
        self.ops = tuple(ops)
        self.varying = tuple(op for op in ops if not op.constant)
        # What a cache holds: constant slots that varying operations read (or the result itself).
        frontier = {s for op in self.varying for s in op.reads if is_constant.get(s, False)}
        if is_constant[self.final]:
            frontier.add(self.final)
        self.frontier = tuple(sorted(frontier))
        self._free_all = _free_lists(self.ops, self.final, ())
        self._free_keep = _free_lists(self.ops, self.final, self.frontier)
        self._free_varying = _free_lists(self.varying, self.final, ())

    def __call__(
        self, tensors: Sequence[torch.Tensor], bias: torch.Tensor | None = None, cache: KernelCache | None = None
    ) -> torch.Tensor:
        slots: list = [None] * self.n_slots
        for k, (t, shape) in enumerate(zip(tensors, self.input_shapes)):
            slots[k] = as_shape(t, shape)
        for k, dims in self.reversed_dims.items():
            slots[k] = slots[k].flip(dims)
        params = [tensors[k] for k in self.constant_leaves]
        served = cache.lookup(self, params) if cache is not None and self.frontier else None
        if served is not None:
            for slot, value in zip(self.frontier, served):
                slots[slot] = value
            self._run(self.varying, self._free_varying, slots, bias)
        elif cache is not None and self.frontier:
            self._run(self.ops, self._free_keep, slots, bias)
            cache.store(self, params, [slots[s] for s in self.frontier])
        else:
            self._run(self.ops, self._free_all, slots, bias)
        y = slots[self.final]
        if self.final_perm is not None:
            y = y.permute(self.final_perm)
        if self.embed is not None:
            y = self.embed(y)
        y = as_shape(y, self.out_shape)
        if bias is not None and not self.fuses_bias:
            y = y + bias.to(y.dtype).reshape(-1, *([1] * self.bias_dims))
        return y

    def fold_constants(self, constants: dict[int, torch.Tensor]) -> list[torch.Tensor]:
        """What a kernel cache would hold (the :attr:`frontier`), computed from the constant
        operands alone (``{operand position: tensor}``, every one ``plan.inputs`` does not name)."""
        slots: list = [None] * self.n_slots
        for k, t in constants.items():
            slots[k] = as_shape(t, self.input_shapes[k])
            if k in self.reversed_dims:
                slots[k] = slots[k].flip(self.reversed_dims[k])
        folding = [op for op in self.ops if op.constant]
        with torch.no_grad():
            self._run(folding, _free_lists(folding, self.final, self.frontier), slots, None)
        return [slots[s] for s in self.frontier]

    @staticmethod
    def _run(ops: Sequence[_Op], free: Sequence[tuple[int, ...]], slots: list, bias: Any) -> None:
        # Each intermediate is dropped after its last use, as Plan.peak_elements assumes
        # (autograd keeps what the backward pass needs by itself).
        for op, done in zip(ops, free):
            if len(op.reads) == 1:
                slots[op.write] = op.run(slots[op.reads[0]])
            else:
                slots[op.write] = op.run(slots[op.reads[0]], slots[op.reads[1]], bias)
            for slot in done:
                slots[slot] = None


def _free_lists(ops: Sequence[_Op], final: int, keep: Sequence[int]) -> list[tuple[int, ...]]:
    last_use: dict[int, int] = {}
    for k, op in enumerate(ops):
        for slot in op.reads:
            last_use[slot] = k
    kept = {final, *keep}
    return [tuple(s for s, k in last_use.items() if k == n and s not in kept) for n in range(len(ops))]
