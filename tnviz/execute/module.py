"""``TensorNetwork``: a Diagram as a trainable ``nn.Module``, run by the one engine."""

from __future__ import annotations

import itertools
import math
import time
import warnings
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from tnviz.core.diagram import Diagram
from tnviz.core.inputs import checked_inputs, default_inputs
from tnviz.core.optimize import LAYER_SETTINGS, LayerOptimize
from tnviz.core.plan import Plan
from tnviz.errors import TnvizError
from tnviz.execute.einsum import as_diagram, plan_for
from tnviz.execute.kernel_cache import KernelCache
from tnviz.execute.memory import plan_within_budget
from tnviz.execute.program import Program
from tnviz.execute.runner import program_for
from tnviz.execute.steps import memory_format_of

__all__ = ["TensorNetwork"]

# optimize settings a module understands: the planner's, and "measure" (time the candidate
# plans once per input signature and keep the fastest, as cudnn.benchmark does).
# The candidate plans a module weighs for "auto" and "measure": the planner's own choice, and
# the kernel reconstructed first (served from the kernel cache when no gradient is recorded).
CANDIDATES = ("auto", "reconstruct", "left-to-right")


class TensorNetwork(nn.Module):
    """A Diagram whose non-input tensors are parameters; ``forward`` takes the inputs.

    Args:
        diagram: a :class:`Diagram` or a spec string. Every parameter tensor's sizes must
            be bound (``Diagram.parse(spec, sizes=...)``).
        inputs: names of the tensors passed to ``forward``, in that order. Default:
            :func:`~tnviz.core.inputs.default_inputs`: ``("X",)``
            when the diagram has a tensor ``X``, else its first tensor.
        bias: add a learnable bias along the output's mode 1 (its channels, as ``torch.nn``'s
            layers do), fused into the last ``F.linear``/``F.conv`` call where it can be.
        optimize: ``"auto"`` (default: the planner's plan; with no gradient recorded, the
            cheaper of it and the kernel reconstructed once and cached), ``"measure"`` (time
            the candidate plans once per input shape, dtype, device, memory format and grad
            mode and keep the fastest — see :attr:`measurements`), another planner setting
            (see :meth:`Diagram.plan`) or a path of pairs.
        device, dtype: factory keywords for the parameters, as in ``torch.nn``.

    The plan for an input signature is made on the first call with it and kept (so compile
    or trace after one eager call: the plans are then made before the compiled region). With
    no gradient recorded, what depends on the parameters alone is cached until their values
    change (see :class:`~tnviz.execute.kernel_cache.KernelCache`). A channels_last input gives a
    channels_last output.

    Example:
        >>> d = Diagram.parse("X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y",
        ...                   sizes={"s": 4, "r": 3, "t": 5, "Kx": (3, 3), "Ky": (3, 3)}, padding=1)
        >>> net = TensorNetwork(d)
        >>> net(torch.randn(2, 4, 8, 8)).shape
        torch.Size([2, 5, 8, 8])
    """

    def __init__(
        self,
        diagram: Diagram | str,
        inputs: Sequence[str] | None = None,
        *,
        bias: bool = False,
        optimize: LayerOptimize = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        diagram = as_diagram(diagram)
        names = diagram.tensor_names
        try:
            inputs = default_inputs(diagram) if inputs is None else checked_inputs(inputs, names)
        except TnvizError as err:
            raise err.with_context(spec=diagram.to_spec()) from None
        _check_setting(optimize)
        self.diagram = diagram
        self.inputs = tuple(inputs)
        self.optimize = optimize
        self._order = names
        factory = {"device": device, "dtype": dtype}
        self.weights = nn.ParameterDict()
        for name in names:
            if name in self.inputs:
                continue
            shape = diagram.shape(name)
            if None in shape:
                missing = [i for i in diagram.tensor(name).indices if diagram.size(i, name) is None]
                raise TnvizError(
                    f"parameter tensor {name!r} has unbound sizes for {', '.join(map(repr, missing))}; "
                    "bind them with Diagram.parse(spec, sizes=...)",
                    token=missing[0] if missing else name,
                    spec=diagram.to_spec(),
                )
            self.weights[name] = nn.Parameter(torch.empty(shape, **factory))  # type: ignore[arg-type]
        if not isinstance(bias, (bool, int)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        if bias:
            modes = diagram.output.modes
            size = math.prod(int(diagram.size(i) or 0) for i in modes[1]) if len(modes) >= 2 else None
            if not size:
                raise TnvizError(
                    f"bias=True adds a bias along the output's mode 1 (its channels); the output "
                    f"'{' '.join(' '.join(m) for m in modes)}' has none bound",
                    token="bias",
                    spec=diagram.to_spec(),
                )
            self.bias = nn.Parameter(torch.empty(size, **factory))
        else:
            self.register_parameter("bias", None)
        self.measurements: dict[tuple, dict[str, float]] = {}
        self._init_caches()
        self.reset_parameters()

    def _init_caches(self) -> None:
        # input signature -> (plan, program); made on the first call with that signature
        self._programs: dict[tuple, tuple[Plan, Program]] = {}
        self._kernel_cache = KernelCache()
        self._registry_id = _register(self)

    # -- torch.nn citizenship: the caches are rebuilt, never saved ----------------------
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__)
        for name in _CACHES:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("measurements", {})
        self._init_caches()

    def __prepare_scriptable__(self) -> nn.Module:
        raise TnvizError(
            f"torch.jit.script cannot compile {type(self).__name__}: its forward plans the contraction in Python "
            "for each input shape, which TorchScript's static subset of Python cannot express. Use torch.compile, "
            "torch.export or torch.jit.trace (after one call on an example input), or export to ONNX",
            token="torch.jit.script",
        )

    def _apply(self, fn: Any, recurse: bool = True) -> nn.Module:
        # .to(), .double(), .cuda(): the cached kernel and plans belong to the old tensors
        self._programs = {}
        self._kernel_cache = KernelCache()
        return super()._apply(fn, recurse)

    def reset_parameters(self) -> None:
        """The initialisation rule of every tnviz network and tensorial layer: each parameter
        tensor is drawn from N(0, σ²), one σ for all, chosen so that an entry of the composed
        linear map has variance 1/(3·fan_in) — what ``torch.nn``'s default initialisation
        (kaiming-uniform with a=√5) gives a Linear or Conv weight — whatever the number of
        factors and the bond sizes between them. fan_in is the product of the input sizes
        summed over, kernel lengths included; an entry of the map sums ``bonds`` products
        of one entry of each of the n factors, so σ solves bonds·σ^(2n) = 1/(3·fan_in).
        The bias, if any, is uniform in ±1/√fan_in, as ``torch.nn``'s."""
        fan_in, bonds = self._fan_in_and_bonds()
        if len(self.weights):
            std = (3 * fan_in * bonds) ** (-1.0 / (2 * len(self.weights)))
            with torch.no_grad():
                for p in self.weights.values():
                    p.normal_(0.0, std)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(fan_in)
            with torch.no_grad():
                self.bias.uniform_(-bound, bound)

    def _fan_in_and_bonds(self) -> tuple[int, int]:
        d = self.diagram
        held_by_inputs = {i for n in self.inputs for i in d.tensor(n).indices}
        out = set(d.output.indices)
        fan_in = 1
        for i in held_by_inputs - out:
            fan_in *= _kernel_extent(d, i, self.inputs) if i in d.conv else d.size(i) or 1  # type: ignore[operator]
        for i in d.conv:
            if i in out and i in held_by_inputs:
                fan_in *= _kernel_extent(d, i, self.inputs)
        bonds = 1
        for i in set(d.index_names) - held_by_inputs - out - set(d.conv):
            bonds *= d.size(i) or 1
        return fan_in, bonds

    # -- plans ---------------------------------------------------------------------------
    def plan(self, *inputs: torch.Tensor | Sequence[int]) -> Plan:
        """The plan ``forward`` runs for inputs of these shapes (tensors, or shapes — then as
        in training: gradients recorded). With tensors, the grad mode in force now counts."""
        if len(inputs) != len(self.inputs):
            raise TnvizError(
                f"plan() takes one tensor or shape per input ({', '.join(self.inputs)}); got {len(inputs)}",
                token=self.inputs[len(inputs)] if len(inputs) < len(self.inputs) else str(len(inputs)),
            )
        if all(isinstance(t, torch.Tensor) for t in inputs) and inputs:
            key = self._signature(inputs)  # type: ignore[arg-type]
        else:
            shapes = tuple(tuple(int(d) for d in (t.shape if isinstance(t, torch.Tensor) else t)) for t in inputs)
            key = (shapes, None, None, "contiguous", self._cost_basis(()))
        entry = self._programs.get(key)
        if entry is not None:
            return entry[0]
        return self._choose(key, [tuple(s) for s in key[0]], None)[0]

    def _shapes(self, input_shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
        given = dict(zip(self.inputs, input_shapes))
        return tuple(given[n] if n in given else _ints(self.weights[n].shape) for n in self._order)

    def _parameter_tensors(self) -> dict[str, torch.Tensor]:
        """The parameter tensors by name, as forward reads them. ``ParameterDict``'s own access
        goes through ``Module.__getattr__`` once per name — 5 µs for a layer of two factors, read
        three times a call, a fifth of a small layer's Python overhead; its ``_parameters`` is what
        that access reads, tensors swapped in by ``functional_call`` included. Where a name is no
        longer there — a parametrization (``torch.nn.utils.parametrize``, ``weight_norm``) or
        ``torch.nn.utils.prune`` moved it — each is read as ``weights[name]`` reads it."""
        weights = self.weights
        params = weights._parameters
        if type(weights) is nn.ParameterDict and all(name in params for name in weights):
            return params  # type: ignore[return-value]
        return {name: weights[name] for name in weights}

    def _records_grad(self, inputs: Sequence[torch.Tensor], params: Iterable[torch.Tensor]) -> bool:
        if not torch.is_grad_enabled():
            return False
        bias = self.bias
        return (
            any(t.requires_grad for t in inputs)
            or any(p.requires_grad for p in params)
            or (bias is not None and bias.requires_grad)
        )

    def _signature(self, inputs: Sequence[torch.Tensor], params: dict[str, torch.Tensor] | None = None) -> tuple:
        """What a plan is chosen for: shapes, dtype, device, memory format, grad mode. Plain
        Python values, so that the module pickles and torch.compile guards on them. ``params``:
        :meth:`_parameter_tensors`, where the caller has read them already."""
        shapes = tuple(_ints(t.shape) for t in inputs)
        params = self._parameter_tensors() if params is None else params
        # a network of parameters alone (inputs=()) runs in its parameters' dtype and device
        first = inputs[0] if inputs else next(iter(params.values()))
        return (shapes, str(first.dtype), str(first.device), _layout(first), self._cost_basis(inputs, params))

    def _cost_basis(self, inputs: Sequence[torch.Tensor], params: dict[str, torch.Tensor] | None = None) -> str:
        """How a plan is priced: ``"grad"`` (gradients recorded: every step counts),
        ``"cached"`` (no gradient, the kernel cache serves the parameter-only steps) or
        ``"uncached"`` (no gradient, but tracing, compiling or vmap: no cache)."""
        values = (self._parameter_tensors() if params is None else params).values()
        if self._records_grad(inputs, values):
            return "grad"
        return "cached" if _plain(values) else "uncached"

    def _planned(self, setting: Any, shapes: Sequence[tuple[int, ...]], itemsize: int, layout: str) -> Plan:
        try:
            return plan_for(self.diagram, self._shapes(shapes), None, setting, self.inputs, itemsize, layout=layout)
        except TnvizError as err:
            given = ", ".join(f"{n}={tuple(s)}" for n, s in zip(self.inputs, shapes))
            raise err.with_context(spec=self.diagram.to_spec(), shapes=given) from None

    def candidates(self, *inputs: torch.Tensor | Sequence[int]) -> dict[str, Plan]:
        """The plans ``"auto"`` and ``"measure"`` weigh for inputs of these shapes (and, for
        tensors, their memory layout): the planner's choice, the kernel reconstructed first, and
        left to right (each where legal)."""
        shapes = [tuple(int(d) for d in (t.shape if isinstance(t, torch.Tensor) else t)) for t in inputs]
        first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        itemsize = first.element_size() if first is not None else 4
        return self._candidates(shapes, itemsize, _layout(first) if first is not None else "contiguous")

    def _candidates(self, shapes: Sequence[tuple[int, ...]], itemsize: int, layout: str) -> dict[str, Plan]:
        found: dict[str, Plan] = {"auto": self._planned("auto", shapes, itemsize, layout)}
        for setting in CANDIDATES[1:]:
            try:
                plan = self._planned(setting, shapes, itemsize, layout)
            except TnvizError:
                continue  # illegal for this diagram (a parameter is a signal)
            if all(plan.tree != other.tree for other in found.values()):
                found[setting] = plan
        return found

    def _choose(self, key: tuple, shapes: list[tuple[int, ...]], probe: Sequence[torch.Tensor] | None):
        """(plan, setting) for an input signature: the layer's setting, or for "auto" the
        candidate of least cost by the planner's one cost model — without a gradient the
        steps on the parameters alone are free after the first call (the kernel cache), so
        their cost is left out; for "measure" the fastest when timed on ``probe``."""
        itemsize, layout = _itemsize(key), key[3]
        if self.optimize not in ("auto", "measure"):
            return self._planned(self.optimize, shapes, itemsize, layout), self.optimize
        options = self._candidates(shapes, itemsize, layout)
        if self.optimize == "measure" and probe is not None:
            times = {name: _time_plan(plan, probe, self, key[-1]) for name, plan in options.items()}
            self.measurements[key] = times
            name = min(times, key=times.__getitem__)
        else:
            cached = key[-1] == "cached"  # else every step runs on each call
            name = min(options, key=lambda n: options[n].input_cost if cached else options[n].cost)
        return options[name], name

    # -- running -------------------------------------------------------------------------
    def _run_network(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The network on ``inputs`` plus the bias: the plan chosen for their signature."""
        params = self._parameter_tensors()
        key = self._signature(inputs, params)
        if torch.compiler.is_compiling():
            _prepare_in_compile(self._registry_id, key)  # planned outside the traced code
        entry = self._programs.get(key)
        given = dict(zip(self.inputs, inputs))
        tensors = [given[n] if n in given else params[n] for n in self._order]
        if entry is None:
            entry = self._prepare(key, inputs)
        cache = self._kernel_cache if key[-1] == "cached" else None
        y = entry[1](tensors, self.bias, cache)
        if key[3] == "channels_last" and y.dim() == inputs[0].dim():  # as torch.nn's convolutions
            memory_format = memory_format_of(inputs[0])
            if not y.is_contiguous(memory_format=memory_format):
                y = y.contiguous(memory_format=memory_format)
        return y

    def _prepare(self, key: tuple, probe: Sequence[torch.Tensor] | None) -> tuple[Plan, Program]:
        """Plan and compile for an input signature: sliced where its intermediates would not fit
        in memory, refused where not even that fits."""
        plan, _ = self._choose(key, [tuple(s) for s in key[0]], probe)
        plan = plan_within_budget(plan, _itemsize(key), torch.device(key[2]))
        entry = self._programs[key] = (plan, program_for(plan))
        return entry

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.inputs):
            raise TnvizError(
                f"forward got {len(inputs)} tensor(s); expected {len(self.inputs)} ({', '.join(self.inputs)})",
                token=str(len(inputs)),
                spec=self.diagram.to_spec(),
            )
        for name, t in zip(self.inputs, inputs):
            if not isinstance(t, torch.Tensor):
                raise TnvizError(f"input {name!r} is a {type(t).__name__}; expected a torch.Tensor", token=name)
        return self._run_network(inputs)

    def extra_repr(self) -> str:
        text = f"{self.diagram.to_spec()!r}, inputs={self.inputs}"
        if self.bias is not None:
            text += ", bias=True"
        if self.optimize != "auto":
            text += f", optimize={self.optimize!r}"
        return text


_CACHES = ("_programs", "_kernel_cache", "_registry_id")
# The live networks by a number of their own, so that torch.compile can plan for one through
# a function it calls rather than traces (see _prepare_in_compile).
_NETWORKS: weakref.WeakValueDictionary[int, TensorNetwork] = weakref.WeakValueDictionary()
_NEXT_ID = itertools.count()


def _register(net: TensorNetwork) -> int:
    number = next(_NEXT_ID)
    _NETWORKS[number] = net
    return number


@torch.compiler.assume_constant_result
def _prepare_in_compile(number: int, key: tuple) -> int:
    """Plan ``key`` for network ``number`` when torch.compile first meets it. Dynamo runs this
    once, at trace time, as a constant — tracing the planner's Python instead took about 3 s a
    layer (55 s for a compressed ResNet-20) and its cache write recompiled the graph after the
    first step. A network already planned for ``key`` (one eager call first) is left alone."""
    net = _NETWORKS.get(number)
    if net is not None and key not in net._programs:
        net._prepare(key, None)
    return 0


def _ints(shape: Sequence[Any]) -> tuple[int, ...]:
    """A shape as Python ints. While tracing, torch.jit records sizes as tensors; the trace is
    for this shape, as the plan is (a new shape needs a new trace)."""
    if torch.jit.is_tracing():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return tuple(int(d) for d in shape)
    return tuple(int(d) for d in shape)


def _layout(tensor: torch.Tensor) -> str:
    """The planner's name for a tensor's memory layout (see :data:`tnviz.core.plan.LAYOUTS`)."""
    return "channels_last" if memory_format_of(tensor) is not torch.contiguous_format else "contiguous"


def _itemsize(key: tuple) -> int:
    """Bytes per element of a signature's dtype (4 where only shapes were given)."""
    return torch.empty((), dtype=getattr(torch, key[1].split(".")[-1])).element_size() if key[1] else 4


def _check_setting(optimize: LayerOptimize) -> None:
    if isinstance(optimize, str) and optimize not in LAYER_SETTINGS:
        # checked when the module is built, not at the first forward
        raise TnvizError(
            f"unknown optimize={optimize!r}; expected one of {', '.join(LAYER_SETTINGS)} or a path of pairs",
            token=optimize,
        )


def _plain(params: Iterable[torch.Tensor]) -> bool:
    """Whether a kernel cache may hold what these parameters give: real tensors with storage
    (not while tracing, compiling or exporting, nor under vmap or grad transforms)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    wrapped = torch._C._functorch.is_functorch_wrapped_tensor
    return all(type(p) in (torch.Tensor, nn.Parameter) and p.device.type != "meta" and not wrapped(p) for p in params)


def _time_plan(plan: Plan, inputs: Sequence[torch.Tensor], net: TensorNetwork, basis: str, repeats: int = 3) -> float:
    """Best of ``repeats`` timings of ``plan`` on ``inputs`` (forward, and backward when
    gradients are recorded; the gradients are returned, never accumulated into ``.grad``).
    The host waits for the device here only, once per input signature."""
    program = program_for(plan)
    probes = [t.detach().requires_grad_(t.requires_grad) for t in inputs]
    given = dict(zip(net.inputs, probes))
    tensors = [given[n] if n in given else net.weights[n] for n in net._order]
    grad = basis == "grad"
    cache = KernelCache() if basis == "cached" else None
    wrt = [t for t in [*probes, *net.weights.values()] if t.requires_grad]

    def once() -> None:
        y = program(tensors, net.bias, cache)
        if grad and wrt:
            torch.autograd.grad(y, wrt, torch.ones_like(y), allow_unused=True)

    once()  # warm-up: allocator, kernel choice, the kernel cache
    best = math.inf
    for _ in range(repeats):
        _sync(inputs[0].device)
        start = time.perf_counter()
        once()
        _sync(inputs[0].device)
        best = min(best, time.perf_counter() - start)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _kernel_extent(d: Diagram, index: str, inputs: tuple[str, ...]) -> int:
    """Combined kernel length along a convolution index (the parameters' part of it)."""
    lengths = [d.size(index, t) or 1 for t in d.holders(index) if t not in inputs]
    return max(1, sum(lengths) - len(lengths) + 1) if lengths else 1
