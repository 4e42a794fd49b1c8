"""Code in: a Diagram from an einsum equation or from the einsum call a user already has —
``np.einsum``, ``torch.einsum``, ``opt_einsum.contract`` (with its path) — the tensors named as
the call names them. Standard library only: the call is read with :mod:`ast`, never run.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.core.plan.search import path_tree
from tnviz.core.spec import Spec, default_names, is_name
from tnviz.core.spec_parser import parse_spec
from tnviz.errors import TnvizError

__all__ = ["from_einsum", "read_einsum_call"]

Path = list[tuple[int, ...]]


def from_einsum(
    source: str,
    *shapes: Any,
    names: Sequence[str] | None = None,
    with_path: bool = False,
) -> Diagram | tuple[Diagram, Path | None]:
    """A Diagram of an einsum equation or of an einsum call's source text.

    Args:
        source: an equation in numpy's form (``"ab,bc->ac"``, opt_einsum's symbols beyond the 52
            letters included) or a call, e.g. ``'opt_einsum.contract("ab,bc->ac", A, B,
            optimize=[(0, 1)])'`` or ``'torch.einsum("ij,jk", x, w)'``: the tensors take the
            names of the call's arguments (others get A, B, …), a literal ``optimize=`` path
            is read and checked.
        *shapes: one shape (or anything with ``.shape``: an array, a tensor) per operand, to
            bind the sizes; none to leave them unbound.
        names: the tensors' names (instead of the call's or A, B, …).
        with_path: also return the call's path (``None`` when it gives none), to plan with:
            ``d.plan(optimize=path)``.

    Returns:
        The Diagram, or ``(diagram, path)`` with ``with_path=True``.

    Example:
        >>> d, path = from_einsum('oe.contract("ab,bc->ac", A, W, optimize=[(0, 1)])', with_path=True)
        >>> d.to_spec(), path
        ('A: a b, W: b c -> a c', [(0, 1)])
    """
    equation, call_names, path = read_einsum_call(source)
    try:
        spec = parse_spec(equation)
    except TnvizError as err:
        raise err.with_context(spec=equation) from None
    count = len(spec.operands)
    chosen = list(names) if names is not None else call_names
    if len(chosen) not in (0, count) or (names is not None and len(chosen) != count):
        raise TnvizError(
            f"{len(chosen)} tensor names for {count} operands of {equation!r}",
            token=str(len(chosen)),
            spec=equation,
        )
    if chosen or not any(":" in part for part in equation.split("->")[0].split(",")):
        spec = _renamed(spec, chosen or [None] * count)  # a named spec keeps its own names
    diagram = Diagram.from_spec(spec)
    if path is not None:
        try:  # the planner's own reading of a path: what it accepts here, d.plan(optimize=path) runs
            path_tree(count, path)
        except TnvizError as err:
            raise err.with_context(spec=equation) from None
    if shapes:
        if len(shapes) != count:
            raise TnvizError(
                f"{len(shapes)} shapes for {count} operands of {equation!r}", token=str(len(shapes)), spec=equation
            )
        given = {}
        for op, shape in zip(spec.operands, shapes):
            try:
                given[op.name] = tuple(int(n) for n in getattr(shape, "shape", shape))
            except (TypeError, ValueError):
                raise TnvizError(
                    f"shape of {op.name!r} is {shape!r}; expected a tuple of ints or an array", token=op.name
                ) from None
        diagram = diagram.bind(shapes=given)
    return (diagram, path) if with_path else diagram


def read_einsum_call(source: str) -> tuple[str, list[str | None], Path | None]:
    """``(equation, argument names, path)`` of an einsum call's source, or of a bare equation
    (then no names and no path). An argument that is not a plain name gets ``None``."""
    if not isinstance(source, str):
        raise TnvizError(f"expected an einsum equation or call as text, got {type(source).__name__}", token="source")
    text = source.strip()
    if "(" not in text:
        return text, [], None
    try:  # a named spec with grouped modes, "A: (i j) k, …", is an equation too
        parse_spec(text)
        return text, [], None
    except TnvizError:
        pass
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise TnvizError(
            f"cannot read {text!r} as Python: {err.msg}", token=text[max((err.offset or 1) - 1, 0) :][:20] or text
        ) from None
    call = tree.body
    while _is_reshape(call) and isinstance(call.func.value, ast.Call):  # to_einsum's "….reshape(…)"
        call = call.func.value
    if not isinstance(call, ast.Call):
        raise TnvizError(f"expected an einsum call such as np.einsum('ij,jk', A, B); got {text!r}", token=text[:20])
    if not call.args or not (isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        raise TnvizError(
            "expected the equation as the call's first argument, a string (the interleaved form "
            "einsum(A, [0, 1], B, [1, 2]) is not read)",
            token=ast.unparse(call.args[0]) if call.args else ast.unparse(call.func),
        )
    operands = call.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (ast.List, ast.Tuple)):  # torch.einsum(eq, [A, B])
        operands = operands[0].elts
    names = [_argument_name(arg) for arg in operands]
    path = None
    for keyword in call.keywords:
        if keyword.arg == "optimize" and isinstance(keyword.value, (ast.List, ast.Tuple)):
            try:
                value = ast.literal_eval(keyword.value)
            except ValueError:
                raise TnvizError(
                    "optimize= must be a literal path such as [(0, 1), (0, 1)]", token=ast.unparse(keyword.value)
                ) from None
            path = [tuple(pair) if isinstance(pair, (list, tuple)) else pair for pair in value]
            if path and path[0] == "einsum_path":  # numpy's einsum_path output
                path = path[1:]
    return call.args[0].value, names, path


def _is_reshape(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "reshape"


def _argument_name(node: ast.AST) -> str | None:
    """A plain name, or the name a ``name.reshape(…)`` argument reshapes; else None."""
    while _is_reshape(node):
        node = node.func.value  # type: ignore[attr-defined]
    return node.id if isinstance(node, ast.Name) and is_name(node.id) else None


def _renamed(spec: Spec, names: Sequence[str | None]) -> Spec:
    """The spec with its operands named: a given name once (a tensor used twice gets ``A_2``),
    the rest A, B, … not yet taken."""
    taken: set[str] = set()
    chosen: list[str | None] = []
    for name in names:
        if name is None:
            chosen.append(None)
            continue
        if not is_name(name):
            raise TnvizError(f"tensor name {name!r} is not an identifier (ASCII letters, digits, _)", token=str(name))
        unique, k = name, 1
        while unique in taken:
            k += 1
            unique = f"{name}_{k}"
        taken.add(unique)
        chosen.append(unique)
    fresh = iter(default_names(chosen.count(None), taken))
    operands = tuple(
        dataclasses.replace(op, name=next(fresh) if name is None else name) for op, name in zip(spec.operands, chosen)
    )
    return dataclasses.replace(spec, operands=operands)
