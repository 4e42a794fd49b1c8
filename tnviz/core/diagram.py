"""The Diagram: tensors (nodes), indices (edges) with their roles, sizes and convolution options.

Standard library only. A Diagram is immutable: :meth:`Diagram.bind` and
:meth:`Diagram.with_options` return new ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tnviz.core.binding import check_conv_lengths, resolve_sizes
from tnviz.core.conv_options import (
    ConvOptions,
    check_holder_names,
    resolve_options,
)
from tnviz.core.diagram_outputs import DiagramOutputs
from tnviz.core.ellipsis import expand_with_shapes
from tnviz.core.inputs import inputs_or_default
from tnviz.core.optimize import Optimize
from tnviz.core.plan import Plan, make_plan
from tnviz.core.plan.slicing import slice_plan
from tnviz.core.spec import Operand, Spec, format_spec
from tnviz.core.spec_parser import parse_spec
from tnviz.errors import TnvizError

__all__ = ["Diagram", "Index", "ROLES"]

ROLES = ("free", "summed", "contraction", "hyperedge", "batch", "convolution")
JSON_FORMAT = "tnviz.diagram"
JSON_VERSION = 1
_PLAN_CACHE_SIZE = 128  # plans kept per diagram, oldest dropped first


@dataclass(frozen=True)
class Index:
    """One index (edge) of a diagram.

    Attributes:
        name: the index name.
        role: one of ``ROLES``.
        holders: names of the tensors holding it, in spec order (for a convolution
            index the first is the signal, the others kernels).
        in_output: whether the output keeps it.
        size: its size, or None while unbound; for a convolution index the output length.
        sizes: for a convolution index, the length in each holder (``{tensor: size}``).
    """

    name: str
    role: str
    holders: tuple[str, ...]
    in_output: bool
    size: int | None
    sizes: Mapping[str, int | None]


class Diagram(DiagramOutputs):
    """A tensor-network diagram: the single source of truth that is drawn, priced and run.

    Build one with :meth:`Diagram.parse`. Sizes may be bound at parse time or later with
    :meth:`bind`; execution binds them from the tensors' shapes.

    Example:
        >>> d = Diagram.parse("X: b s x y, K: t s x y -> b t x y | x y", padding=1)
        >>> d.roles["x"], d.roles["s"]
        ('convolution', 'contraction')
    """

    __slots__ = ("_spec", "_sizes", "_conv_sizes", "_options", "_plans", "_hash", "_holders", "_roles", "_by_name")

    def __init__(
        self,
        spec: Spec,
        sizes: Mapping[str, int] | None = None,
        conv_sizes: Mapping[tuple[str, str], int] | None = None,
        options: Mapping[str, ConvOptions] | None = None,
    ) -> None:
        self._spec = spec
        self._sizes = dict(sizes or {})
        self._conv_sizes = dict(conv_sizes or {})
        self._options = {c: (options or {}).get(c, ConvOptions()) for c in spec.conv}
        for c, opts in self._options.items():
            if opts.kernel_dilation or isinstance(opts.flip, tuple):
                check_holder_names(spec, c, opts)
        self._plans: dict[Any, Plan] = {}
        self._hash: int | None = None
        self._holders: dict[str, tuple[str, ...]] | None = None  # structure, computed once (big networks)
        self._roles: dict[str, str] | None = None
        self._by_name: dict[str, Operand] | None = None

    # ----------------------------------------------------------------- building
    @classmethod
    def parse(cls, spec: str, sizes: Mapping[str, Any] | None = None, **conv_options: Any) -> Diagram:
        """Parse a spec into a Diagram.

        Args:
            spec: a spec string (see ``docs/spec.md``), e.g. ``"bsxy,tsxy->btxy|xy"``.
            sizes: optional sizes: ``{index: int}``; ``{conv_index: (len_in_holder1, ...)}``;
                or ``{tensor_name: shape}``. Group members are inferred where possible.
            **conv_options: ``padding``, ``stride``, ``dilation``, ``padding_mode``; each a
                scalar, a tuple with one entry per convolution index, or ``{index: value}``.

        Returns:
            The Diagram.

        Example:
            >>> Diagram.parse("ij,jk->ik", sizes={"i": 2, "j": 3, "k": 4}).shape("B")
            (3, 4)
        """
        parsed = parse_spec(spec)
        try:
            return cls.from_spec(parsed, sizes, **conv_options)
        except TnvizError as err:
            raise err.with_context(spec=spec) from None

    @classmethod
    def from_spec(cls, spec: Spec, sizes: Mapping[str, Any] | None = None, **conv_options: Any) -> Diagram:
        """A Diagram of an already parsed :class:`~tnviz.core.spec.Spec` (what :meth:`parse`
        does after parsing; the layers build their spec's structure once and pass it here)."""
        diagram = cls(spec, options=resolve_options(spec.conv, {}, conv_options))
        return diagram.bind(sizes) if sizes else diagram

    def with_options(self, **conv_options: Any) -> Diagram:
        """A copy with convolution options changed (same forms as in :meth:`parse`)."""
        options = resolve_options(self.conv, self._options, conv_options)
        return Diagram(self._spec, self._sizes, self._conv_sizes, options)

    def bind(self, sizes: Mapping[str, Any] | None = None, *, shapes: Mapping[str, Any] | None = None) -> Diagram:
        """Bind sizes, check them and infer the rest (group members, conv output lengths).

        Args:
            sizes: ``{index: int}``, ``{conv_index: (len per holder, ...)}`` or ``{tensor: shape}``.
            shapes: ``{tensor_name: shape}`` (the same as tensor keys in ``sizes``).

        Returns:
            A new Diagram with the sizes bound.

        Raises:
            TnvizError: sizes that disagree, a group that does not divide, a wrong order.
        """
        if sizes is not None and not isinstance(sizes, Mapping):
            raise TnvizError(f"sizes must be a dict, got {type(sizes).__name__}", token="sizes")
        index_sizes: dict[str, Any] = {}
        tensor_shapes: dict[str, Any] = dict(shapes or {})
        names = set(self.tensor_names)
        for key, value in (sizes or {}).items():
            if key in names and isinstance(value, (tuple, list)):
                tensor_shapes[key] = value
            elif key in self.index_names:
                index_sizes[key] = value
            else:
                raise TnvizError(
                    f"sizes names {key!r}, which is neither an index nor a tensor of this diagram", token=str(key)
                )
        expanded = expand_with_shapes(self._spec, tensor_shapes) if self.has_ellipsis else None
        if expanded is not None:  # every '...' is known: expand, then bind as usual
            plain = Diagram(expanded, self._sizes, self._conv_sizes, self._options)
            return _bound(plain, index_sizes, tensor_shapes)
        return _bound(self, index_sizes, tensor_shapes)

    @property
    def has_ellipsis(self) -> bool:
        """Whether some tensor still holds ``...`` (expanded when shapes are bound)."""
        return any(op.has_ellipsis for op in self._spec.operands)

    # ----------------------------------------------------------------- structure
    @property
    def spec(self) -> Spec:
        """The parsed spec (syntax)."""
        return self._spec

    @property
    def tensors(self) -> tuple[Operand, ...]:
        """The input tensors (nodes), in spec order."""
        return self._spec.operands

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self._spec.operands)

    @property
    def output(self) -> Operand:
        """The output tensor: its name and modes."""
        return self._spec.output

    @property
    def conv(self) -> tuple[str, ...]:
        """The convolution indices, in the order written after ``|``."""
        return self._spec.conv

    @property
    def options(self) -> dict[str, ConvOptions]:
        """Per convolution index, its :class:`ConvOptions`."""
        return dict(self._options)

    def _holder_map(self) -> dict[str, tuple[str, ...]]:
        """``{index: holders}`` in order of first appearance, built in one pass."""
        if self._holders is None:
            holders: dict[str, list[str]] = {}
            for op in self._spec.operands:
                for i in dict.fromkeys(op.indices):
                    holders.setdefault(i, []).append(op.name)
            self._holders = {i: tuple(names) for i, names in holders.items()}
        return self._holders

    @property
    def index_names(self) -> tuple[str, ...]:
        """All index names, in order of first appearance; output indices held by no tensor
        (broadcast, named form only) come last."""
        held = self._holder_map()
        return tuple(held) + tuple(i for i in dict.fromkeys(self._spec.output.indices) if i not in held)

    @property
    def broadcast_indices(self) -> tuple[str, ...]:
        """Output indices held by no tensor: the result is repeated along them."""
        held = self._holder_map()
        return tuple(i for i in dict.fromkeys(self._spec.output.indices) if i not in held)

    def tensor(self, name: str) -> Operand:
        """The tensor called ``name``."""
        if self._by_name is None:
            self._by_name = {op.name: op for op in self._spec.operands}
        op = self._by_name.get(name)
        if op is not None:
            return op
        raise TnvizError(f"no tensor named {name!r}; expected one of {', '.join(self.tensor_names)}", token=name)

    def holders(self, index: str) -> tuple[str, ...]:
        """Names of the tensors holding ``index``, in spec order (each once, a diagonal too)."""
        return self._holder_map().get(index, ())

    @property
    def roles(self) -> dict[str, str]:
        """``{index: role}`` with the roles of the spec reference (``docs/spec.md``)."""
        if self._roles is None:
            out = set(self._spec.output.indices)
            conv = set(self._spec.conv)
            roles = {}
            for i, holders in self._holder_map().items():
                n = len(holders)
                if i in conv:
                    roles[i] = "convolution"
                elif n == 1:
                    roles[i] = "free" if i in out else "summed"
                elif i in out:
                    roles[i] = "batch"
                else:
                    roles[i] = "hyperedge" if n >= 3 else "contraction"
            for i in self.broadcast_indices:
                if i not in roles:
                    roles[i] = "free"  # a broadcast output index, held by no tensor
            self._roles = roles
        return dict(self._roles)

    @property
    def indices(self) -> tuple[Index, ...]:
        """Every index with its role, holders and size."""
        roles = self.roles
        out = set(self._spec.output.indices)
        result = []
        for i in self.index_names:
            holders = self.holders(i)
            if i in self._spec.conv:
                per = {t: self._conv_sizes.get((t, i)) for t in holders}
                size = self._conv_output_length(i) if all(v is not None for v in per.values()) else None
            else:
                per = {t: self._sizes.get(i) for t in holders}
                size = self._sizes.get(i)
            result.append(Index(i, roles[i], holders, i in out, size, per))
        return tuple(result)

    # ----------------------------------------------------------------- sizes
    def size(self, index: str, tensor: str | None = None) -> int | None:
        """The size of ``index`` (in ``tensor`` for a convolution index; else its output length)."""
        if index in self._spec.conv:
            if tensor is None:
                return self._conv_output_length(index)
            return self._conv_sizes.get((tensor, index))
        return self._sizes.get(index)

    def _conv_output_length(self, index: str) -> int | None:
        holders = self.holders(index)
        lengths = [self._conv_sizes.get((t, index)) for t in holders]
        if any(v is None for v in lengths):
            return None
        return self._options[index].output_length(lengths[0], lengths[1:], holders[1:])  # type: ignore[arg-type]

    def shape(self, tensor: str) -> tuple[int | None, ...]:
        """The shape of a tensor (modes, groups merged); None where a size is unbound."""
        op = self.tensor(tensor)
        return tuple(self._mode_size(mode, op.name) for mode in op.modes)

    def _mode_size(self, mode: tuple[str, ...], tensor: str | None) -> int | None:
        total = 1
        for i in mode:
            s = self.size(i, tensor) if tensor is not None else self.size(i)
            if s is None:
                return None
            total *= s
        return total

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """The output's shape (modes, groups merged)."""
        return tuple(self._mode_size(mode, None) for mode in self._spec.output.modes)

    @property
    def is_bound(self) -> bool:
        """Whether every size is known."""
        return all(None not in self.shape(t) for t in self.tensor_names) and all(
            self._sizes.get(i) is not None for i in self.broadcast_indices
        )

    @property
    def sizes(self) -> dict[str, int]:
        """Bound sizes of the non-convolution indices."""
        return dict(self._sizes)

    @property
    def conv_sizes(self) -> dict[tuple[str, str], int]:
        """Bound lengths of convolution indices, ``{(tensor, index): length}``."""
        return dict(self._conv_sizes)

    # ----------------------------------------------------------------- printing and I/O
    def to_spec(self, compact: bool | None = None) -> str:
        """The spec string of this diagram; ``Diagram.parse(d.to_spec())`` has the same structure."""
        return format_spec(self._spec, compact)

    def to_dict(self) -> dict[str, Any]:
        """A plain-data form (what :meth:`to_json` writes)."""
        conv_sizes: dict[str, dict[str, int]] = {}
        for (t, i), v in self._conv_sizes.items():
            conv_sizes.setdefault(t, {})[i] = v
        return {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "tensors": [{"name": op.name, "modes": [list(m) for m in op.modes]} for op in self.tensors],
            "output": {"name": self.output.name, "modes": [list(m) for m in self.output.modes]},
            "conv": list(self.conv),
            "sizes": dict(self._sizes),
            "conv_sizes": conv_sizes,
            "options": {c: o.as_data() for c, o in self._options.items()},
        }

    def to_json(self, indent: int | None = None) -> str:
        """Serialise to JSON (structure, sizes and options); :meth:`from_json` reads it back."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Diagram:
        """Read a Diagram written by :meth:`to_json`. The text is parsed as data, never evaluated.

        Raises:
            TnvizError: malformed JSON, unknown fields, or a diagram that does not validate.
        """
        from tnviz.core.serialize import diagram_from_dict, load_json_text

        data = load_json_text(text)
        return diagram_from_dict(data)

    def __repr__(self) -> str:
        parts = [repr(self.to_spec())]
        if self._sizes or self._conv_sizes:
            known = {**self._sizes, **{f"{t}.{i}": v for (t, i), v in self._conv_sizes.items()}}
            parts.append("sizes={" + ", ".join(f"{k}={v}" for k, v in known.items()) + "}")
        for c, o in self._options.items():
            if not o.is_default():
                changed = {k: v for k, v in o.__dict__.items() if v != ConvOptions().__dict__[k]}
                parts.append(f"{c}: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
        return f"Diagram({', '.join(parts)})"

    def _key(self) -> tuple:
        return (
            self._spec,
            tuple(sorted(self._sizes.items())),
            tuple(sorted(self._conv_sizes.items())),
            tuple(sorted(self._options.items())),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Diagram) and self._key() == other._key()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._key())
        return self._hash

    # ----------------------------------------------------------------- drawing (tnviz.render)
    def grad(self, name: str, upstream: str = "G") -> Diagram:
        """The diagram of the gradient of a loss with respect to tensor ``name``.

        Args:
            name: the tensor.
            upstream: the name given to the loss's gradient with respect to this diagram's output
                (it holds the output's indices and shape).

        Returns:
            A Diagram whose tensors are the other tensors and ``upstream``, whose output has
            ``name``'s indices (and shape, when this diagram is bound), carrying the sizes and
            convolution options it needs: ``tnviz.einsum(g, *[values[t] for t in g.tensor_names])``
            equals autograd's gradient of ``(tnviz.einsum(d, ...) * G).sum()``. Where the output
            sums a convolution index that ``name`` holds, a tensor ``ones_{index}`` of ones (the
            output's length along it) stands for ``G`` on that index: its values are ones.

            With convolution lengths unbound, a :class:`~tnviz.core.grad.PendingGradient`:
            the same tensors and output, its options written when it is bound (by
            ``tnviz.einsum`` from the tensors' shapes).

        Raises:
            TnvizError: what the spec language cannot write yet (a gradient through a fold, a
                gradient's own), named. A trace's gradient is a diagonal output (``-> dA: i i``), an index
                only ``name`` sums a broadcast one.

        Example:
            >>> Diagram.parse("A: i j, B: j k -> i k").grad("B").to_spec()
            'A: i j, G: i k -> dB: j k'
        """
        from tnviz.core.grad import gradient_diagram

        return gradient_diagram(self, name, upstream)

    def backward_plan(self, sizes: Mapping[str, Any] | None = None, tensors: Any = None, **plan_options: Any) -> Any:
        """What the backward pass costs: the forward plan and the plan of each tensor's gradient
        diagram (:meth:`grad`), with their FLOPs; prints as a table.

        Args:
            sizes: sizes to bind first (as in :meth:`bind`).
            tensors: the tensors whose gradients are wanted (default: all; a layer's parameters).
            **plan_options: as for :meth:`plan` (``optimize``, ``objective``, …).

        Returns:
            A :class:`tnviz.core.grad.BackwardPlan`.

        Example:
            >>> d = Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 8, "j": 4, "k": 8})
            >>> d.backward_plan().backward_flops == 2 * d.plan().flops
            True
        """
        from tnviz.core.grad import backward_plan

        return backward_plan(self.bind(sizes) if sizes else self, tensors, **plan_options)

    def compile(self, *shapes: Any, sizes: Mapping[str, Any] | None = None, optimize: Optimize = "auto") -> Any:
        """Plan and compile this diagram once; see :func:`tnviz.contract_expression`.

        Args:
            *shapes: one per tensor (a shape, or a tensor to hold as a constant); none when
                the diagram's sizes are bound, which then give every shape.
            sizes: extra index sizes.
            optimize: as for :meth:`plan`.

        Returns:
            A :class:`tnviz.execute.expression.ContractExpression` (loads torch).

        Example:
            >>> expr = Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4}).compile()
            >>> expr.shapes
            ((2, 3), (3, 4))
        """
        from tnviz.execute.expression import contract_expression

        if not shapes:
            bound = self.bind(sizes) if sizes else self
            missing = [name for name in bound.tensor_names if None in bound.shape(name)]
            if missing:
                raise TnvizError(
                    f"the shape of tensor {missing[0]!r} is not bound; give the shapes, or bind the sizes first",
                    token=missing[0],
                )
            shapes = tuple(bound.shape(name) for name in bound.tensor_names)
        return contract_expression(self, *shapes, sizes=sizes, optimize=optimize)

    @classmethod
    def load(cls, path: str) -> Diagram:
        """Read a diagram saved as ``.json`` (:meth:`save`, or the editor's drawing of one); a file
        of another version is refused with a message that names it.

        Example:
            >>> import tempfile, os
            >>> path = os.path.join(tempfile.mkdtemp(), "chain.json")
            >>> Diagram.parse("A: i j, B: j k -> i k", sizes={"j": 3}).save(path)
            >>> Diagram.load(path).sizes
            {'j': 3}
        """
        from tnviz.core.serialize import read_drawing

        return read_drawing(path).diagram  # a diagram, or the editor's drawing of one

    # ----------------------------------------------------------------- planning
    def plan(
        self,
        sizes: Mapping[str, Any] | None = None,
        *,
        optimize: Optimize = "auto",
        inputs: str | Sequence[str] | None = None,
        itemsize: int = 4,
        objective: str = "time",
        layout: str = "contiguous",
        max_memory: int | None = None,
    ) -> Plan:
        """The contraction plan for these sizes (cached: a second call is a dictionary look-up).

        Args:
            sizes: sizes to bind first (as in :meth:`bind`); may be None if already bound.
            optimize: ``"auto"`` (exact search where it weighs at most ``EXACT_BUDGET`` splits,
                about ten tensors; beyond, the cheapest of a convolution-aware greedy search and
                opt_einsum's path for the convolution-free parts, improved by a short hyper search
                where the network is costly enough to repay it), ``"hyper"`` or
                :class:`~tnviz.core.optimize.Hyper` settings (random greedy and bisection trees,
                subtrees re-planned exactly; see ``Hyper``), ``"optimal"`` (exact; refused
                beyond the budget), ``"greedy"``, ``"left-to-right"``, ``"reconstruct"`` (the
                non-input tensors first, then the inputs), or an explicit path: a list of
                position pairs, opt_einsum style. ``tnviz.einsum`` and ``TensorNetwork`` plan
                with the same policy, so the plan printed is the plan run.
            inputs: the activation tensors, a name or a sequence of names (None or ``()``:
                :func:`~tnviz.core.inputs.default_inputs` — ``X`` if present, else the first
                tensor); used by ``"reconstruct"`` and to name the plan's approach.
            itemsize: bytes per element, for the memory figures.
            objective: ``"time"`` (default) minimises estimated run time — FLOPs over their
                efficiency plus memory traffic; ``"flops"`` minimises FLOPs alone.
            layout: the inputs' memory layout, ``"contiguous"`` or ``"channels_last"``: the time
                objective prices the steps on a channels_last activation with that layout's
                measured constants (a depthwise convolution is far cheaper on it).
            max_memory: bytes the intermediates and the output may take; a plan needing more is
                sliced (:class:`~tnviz.core.plan.slicing.SlicedPlan`: run in pieces over some
                indices, the same order of steps) — ``tnviz.einsum`` does so by itself when a
                plan exceeds the memory budget.

        Returns:
            A :class:`~tnviz.core.plan.Plan` that prints as a table.

        Example:
            >>> print(Diagram.parse("ij,jk,kl->il").plan({"i": 8, "j": 8, "k": 8, "l": 2}, objective="flops").flops)
            512
        """
        inputs = inputs_or_default(inputs, self)  # checked before it keys the cache; one tensor may be named bare
        key = (
            _hashable(sizes),
            _hashable(optimize),
            inputs,
            itemsize,
            objective,
            layout,
            max_memory,
        )
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        bound = self.bind(sizes) if sizes else self
        settings = dict(optimize=optimize, itemsize=itemsize, objective=objective, layout=layout)
        if max_memory is not None and (
            isinstance(max_memory, bool) or not isinstance(max_memory, (int, float)) or not max_memory > 0
        ):
            raise TnvizError(f"max_memory={max_memory!r}: expected a positive number of bytes", token=repr(max_memory))
        if max_memory is not None:
            plan = self.plan(sizes, inputs=inputs, **settings)  # type: ignore[arg-type]
            if (plan.peak_elements - plan.input_elements) * itemsize > max_memory:
                plan = slice_plan(plan, max_memory // itemsize, make_plan)  # type: ignore[assignment]
        else:
            plan = make_plan(bound, inputs=inputs, **settings)  # type: ignore[arg-type]
        if len(self._plans) >= _PLAN_CACHE_SIZE:  # bounded: input shapes may vary without end
            del self._plans[next(iter(self._plans))]
        self._plans[key] = plan
        return plan


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def _bound(diagram: Diagram, index_sizes: Mapping[str, Any], shapes: Mapping[str, Any]) -> Diagram:
    sizes, conv_sizes = resolve_sizes(diagram, index_sizes, shapes)
    bound = Diagram(diagram.spec, sizes, conv_sizes, diagram.options)
    check_conv_lengths(bound)
    return bound
