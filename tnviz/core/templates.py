"""Networks people draw, as Diagrams with their sizes bound: matrix product states and operators,
projected entangled pair states, tree tensor networks, a layer of any format — and the norm
⟨ψ|ψ⟩ of a state. Standard library only.

Names follow one scheme so that networks compose: a state's physical legs are ``p1, p2, …``
(``p{r}_{c}`` on a grid), an operator's outgoing legs ``q…``; bonds are ``b…`` (an MPO's
``w…``), tensors ``A…`` (an MPO's ``W…``, a tree's ``T…``).

Example:
    >>> from tnviz.templates import mps, norm
    >>> mps(4, bond=3).to_spec()
    'A1: p1 b1, A2: b1 p2 b2, A3: b2 p3 b3, A4: b3 p4 -> p1 p2 p3 p4'
    >>> norm(mps(4, bond=3)).plan(objective="flops").flops
    444
"""

from __future__ import annotations

from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError

__all__ = ["mps", "mpo", "peps", "ttn", "mera", "layer", "norm"]


def _positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TnvizError(f"{name}={value!r}: expected a positive int", token=repr(value))


def _chain(tensor: str, sites: int, legs: list[list[str]], bond: str, periodic: bool) -> list[str]:
    """One operand per site: [left bond] + legs + [right bond]; a ring joins the ends."""
    ops = []
    for k in range(1, sites + 1):
        left = [f"{bond}{k - 1}"] if k > 1 else ([f"{bond}{sites}"] if periodic else [])
        right = [f"{bond}{k}"] if k < sites or periodic else []
        ops.append(f"{tensor}{k}: " + " ".join(left + legs[k - 1] + right))
    return ops


def mps(sites: int, bond: int = 2, phys: int = 2, periodic: bool = False) -> Diagram:
    """A matrix product state (tensor train) of ``sites`` tensors, physical legs open.

    Args:
        sites: the number of tensors (at least 2; 3 when ``periodic``).
        bond: the bond dimension.
        phys: the physical dimension.
        periodic: a ring (periodic boundary) instead of an open chain.

    Example:
        >>> mps(3).to_spec()
        'A1: p1 b1, A2: b1 p2 b2, A3: b2 p3 -> p1 p2 p3'
    """
    return _matrix_product("an MPS", "A", "b", "p", sites, bond, phys, periodic)


def mpo(sites: int, bond: int = 2, phys: int = 2, periodic: bool = False) -> Diagram:
    """A matrix product operator: site k maps ``p{k}`` to ``q{k}``; bonds ``w…``.

    Example:
        >>> mpo(2).to_spec()
        'W1: p1 q1 w1, W2: w1 p2 q2 -> p1 p2 q1 q2'
    """
    return _matrix_product("an MPO", "W", "w", "pq", sites, bond, phys, periodic)


def _matrix_product(
    what: str, tensor: str, bond_name: str, legs: str, sites: int, bond: int, phys: int, periodic: bool
) -> Diagram:
    """A chain (or ring) of tensors ``{tensor}k``, each with the physical legs ``{leg}k`` for
    every letter of ``legs`` and bonds ``{bond_name}k`` to its neighbours."""
    _positive(sites=sites, bond=bond, phys=phys)
    if sites < (3 if periodic else 2):
        raise TnvizError(f"sites={sites}: {what} needs at least {3 if periodic else 2}", token=str(sites))
    site_legs = [[f"{leg}{k}" for leg in legs] for k in range(1, sites + 1)]
    ops = _chain(tensor, sites, site_legs, bond_name, periodic)
    out = " ".join(f"{leg}{k}" for leg in legs for k in range(1, sites + 1))
    sizes = {f"{leg}{k}": phys for k in range(1, sites + 1) for leg in legs}
    sizes.update({f"{bond_name}{k}": bond for k in range(1, sites + periodic)})
    return _bound(", ".join(ops) + " -> " + out, sizes)


def peps(rows: int, cols: int, bond: int = 2, phys: int = 2) -> Diagram:
    """A projected entangled pair state on a ``rows`` × ``cols`` grid (open boundary): tensor
    ``A{r}_{c}`` holds ``p{r}_{c}`` and the bonds to its neighbours (``h…`` across, ``v…`` down).

    Example:
        >>> peps(2, 2).to_spec()
        'A1_1: p1_1 h1_1 v1_1, A1_2: p1_2 h1_1 v1_2, A2_1: p2_1 h2_1 v1_1, A2_2: p2_2 h2_1 v1_2 -> p1_1 p1_2 p2_1 p2_2'
    """
    _positive(rows=rows, cols=cols, bond=bond, phys=phys)
    if rows * cols < 2:
        raise TnvizError(f"a {rows}×{cols} PEPS has one tensor; expected at least two", token=f"{rows}x{cols}")
    ops, out, sizes = [], [], {}
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            legs = [f"p{r}_{c}"]
            legs += [f"h{r}_{c - 1}"] if c > 1 else []
            legs += [f"h{r}_{c}"] if c < cols else []
            legs += [f"v{r - 1}_{c}"] if r > 1 else []
            legs += [f"v{r}_{c}"] if r < rows else []
            ops.append(f"A{r}_{c}: " + " ".join(legs))
            out.append(f"p{r}_{c}")
            sizes.update({leg: bond for leg in legs[1:]})
            sizes[f"p{r}_{c}"] = phys
    return _bound(", ".join(ops) + " -> " + " ".join(out), sizes)


def _levels(what: str, levels: int, bond: int, phys: int) -> None:
    _positive(levels=levels, bond=bond, phys=phys)
    if levels < 2:
        raise TnvizError(f"levels={levels}: {what} needs at least 2 levels", token=str(levels))


def ttn(levels: int, bond: int = 2, phys: int = 2) -> Diagram:
    """A binary tree tensor network with ``2**levels`` physical legs: the leaves ``T{levels}_k``
    hold two physical legs each, every node a bond ``b{level}_{k}`` to its parent, the root
    ``T1_1`` joins the two halves.

    Example:
        >>> ttn(2).to_spec()
        'T1_1: b2_1 b2_2, T2_1: p1 p2 b2_1, T2_2: p3 p4 b2_2 -> p1 p2 p3 p4'
    """
    _levels("a tree", levels, bond, phys)
    ops = ["T1_1: b2_1 b2_2"]
    sizes = {}
    for level in range(2, levels + 1):
        for k in range(1, 2 ** (level - 1) + 1):
            up = f"b{level}_{k}"
            sizes[up] = bond
            if level == levels:
                down = [f"p{2 * k - 1}", f"p{2 * k}"]
                sizes.update({leg: phys for leg in down})
            else:
                down = [f"b{level + 1}_{2 * k - 1}", f"b{level + 1}_{2 * k}"]
            ops.append(f"T{level}_{k}: " + " ".join(down + [up]))
    out = " ".join(f"p{k}" for k in range(1, 2**levels + 1))
    return _bound(", ".join(ops) + " -> " + out, sizes)


def mera(levels: int, bond: int = 2, phys: int = 2) -> Diagram:
    """A binary MERA (open boundary) over ``2**levels`` physical legs: at each level,
    disentanglers ``U{level}_k`` on neighbouring legs (the two ends left alone), then isometries
    ``W{level}_k`` joining pairs into one leg, until a top tensor ``T`` closes the last two.

    Example:
        >>> mera(2).to_spec()
        'U1_1: p2 p3 u1_2 u1_3, W1_1: p1 u1_2 a1_1, W1_2: u1_3 p4 a1_2, T: a1_1 a1_2 -> p1 p2 p3 p4'
    """
    _levels("a MERA", levels, bond, phys)
    legs = [f"p{k}" for k in range(1, 2**levels + 1)]
    sizes = {leg: phys for leg in legs}
    ops = []
    for level in range(1, levels):
        n = len(legs)
        mixed = list(legs)
        for j in range(1, n // 2):  # legs 2j-1 and 2j (0-based) meet in a disentangler
            a, b = 2 * j - 1, 2 * j
            mixed[a], mixed[b] = f"u{level}_{a + 1}", f"u{level}_{b + 1}"
            ops.append(f"U{level}_{j}: {legs[a]} {legs[b]} {mixed[a]} {mixed[b]}")
            sizes.update({mixed[a]: sizes[legs[a]], mixed[b]: sizes[legs[b]]})
        up = []
        for j in range(1, n // 2 + 1):
            leg = f"a{level}_{j}"
            ops.append(f"W{level}_{j}: {mixed[2 * j - 2]} {mixed[2 * j - 1]} {leg}")
            sizes[leg] = bond
            up.append(leg)
        legs = up
    ops.append("T: " + " ".join(legs))
    out = " ".join(f"p{k}" for k in range(1, 2**levels + 1))
    return _bound(", ".join(ops) + " -> " + out, sizes)


def layer(format: str, in_channels: int, out_channels: int, kernel_size: Any = (), **options: Any) -> Diagram:
    """A tensorial layer of a registered format as its diagram, every parameter bound (the batch
    and the image size left to the input).

    Args:
        format: ``dense``, ``svd``, ``cp``, ``tk``, ``tt``, ``tr``, ``mcp``, ``mtk``, ``mtt``,
            ``mtr`` or ``btd``.
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (``()`` for a Linear layer).
        **options: ``rank=`` (one rank, or ``{name: rank}``), ``order=``, ``groups=`` and
            convolution options (``padding=1``, …).

    Example:
        >>> layer("cp", 16, 32, (3, 3), rank=4, padding=1).to_spec()
        'X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y'
    """
    from tnviz.core.formats import LayerConfig, build_layer

    rank = options.pop("rank", None)
    config = {k: options.pop(k) for k in ("order", "groups") if k in options}
    kernel = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    built = build_layer(format, LayerConfig(in_channels, out_channels, kernel, **config), rank)
    return Diagram.parse(built.spec, sizes=built.sizes, **options)


def norm(state: Diagram) -> Diagram:
    """⟨ψ|ψ⟩ of a state (real tensors): the state and a copy whose names end in ``_`` (tensors
    ``A1_``, bonds ``b1_``: the bra), joined at the open legs; a scalar output.

    Example:
        >>> norm(mps(2)).to_spec()
        'A1: p1 b1, A2: b1 p2, A1_: p1 b1_, A2_: b1_ p2 ->'
    """
    legs = set(state.output.indices)
    if not legs:
        raise TnvizError("the diagram has no open legs: nothing to take the norm over", token=state.to_spec())
    ket = [f"{op.name}: " + " ".join(op.indices) for op in state.tensors]
    bra = [f"{op.name}_: " + " ".join(i if i in legs else f"{i}_" for i in op.indices) for op in state.tensors]
    sizes = {**state.sizes, **{f"{i}_": s for i, s in state.sizes.items() if i not in legs}}
    return _bound(", ".join(ket + bra) + " ->", sizes)


def _bound(spec: str, sizes: dict[str, int]) -> Diagram:
    return Diagram.parse(spec, sizes=sizes)
