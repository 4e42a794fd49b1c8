"""The spec language's data — :class:`Operand`, :class:`Spec` — and its printing
(:func:`format_spec`, named or compact), with the names and letters the rest of tnviz shares.
Standard library only; :mod:`tnviz.core.spec_parser` reads a spec's text into a :class:`Spec`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from tnviz.errors import TnvizError

__all__ = [
    "Operand",
    "Spec",
    "is_symbol",
    "format_spec",
    "modes_text",
    "default_names",
    "first_free_name",
    "is_name",
    "ELLIPSIS",
    "MAX_CONV_INDICES",
    "EINSUM_LETTERS",
    "einsum_letters",
]

MAX_CONV_INDICES = 3  # F.conv1d/2d/3d: a step convolves at most three indices at once
ELLIPSIS = "..."  # the ellipsis, kept as the one-index mode (ELLIPSIS,) until core.ellipsis expands it

EINSUM_LETTERS = string.ascii_letters  # what torch.einsum's equations may use: 52 letters

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ELLIPSIS_MODE = (ELLIPSIS,)

Mode = tuple[str, ...]  # one mode of a tensor: a single index, or a row-major group


@dataclass(frozen=True)
class Operand:
    """One tensor of a spec: a name and its modes (each a tuple of index names).

    A repeated index (a trace or diagonal) appears once per occurrence; an ellipsis is
    the mode ``(ELLIPSIS,)``.
    """

    name: str
    modes: tuple[Mode, ...]

    @property
    def indices(self) -> tuple[str, ...]:
        """The flat indices, groups expanded in row-major order, repeats kept."""
        return tuple(i for mode in self.modes for i in mode)

    @property
    def unique_indices(self) -> tuple[str, ...]:
        """The flat indices without repeats, in order of first occurrence."""
        return tuple(dict.fromkeys(self.indices))

    @property
    def has_ellipsis(self) -> bool:
        """Whether one mode is the ellipsis ``...``."""
        return ELLIPSIS_MODE in self.modes


@dataclass(frozen=True)
class Spec:
    """A parsed spec: operands, output, convolution indices."""

    operands: tuple[Operand, ...]
    output: Operand
    conv: tuple[str, ...]


def is_name(text: object) -> bool:
    """Whether ``text`` can name a tensor or an index in the named form (an ASCII identifier)."""
    return isinstance(text, str) and bool(IDENTIFIER.match(text))


def first_free_name(candidates: Sequence[str], taken: set[str] | frozenset[str]) -> str:
    """The first of ``candidates`` not in ``taken``, else the first candidate numbered: ``G1``, ``G2``, ….

    Example:
        >>> first_free_name(("G", "dY"), {"G"}), first_free_name("ij", {"i", "j", "i1"})
        ('dY', 'i2')
    """
    for name in candidates:
        if name not in taken:
            return name
    k = 1
    while f"{candidates[0]}{k}" in taken:
        k += 1
    return f"{candidates[0]}{k}"


def default_names(count: int, taken: set[str] = frozenset()) -> list[str]:
    """Default tensor names A, B, C, ... skipping names already taken."""
    names: list[str] = []
    n = 0
    while len(names) < count:
        letter = chr(ord("A") + n % 26)
        name = letter if n < 26 else f"{letter}{n // 26}"
        n += 1
        if name not in taken:
            names.append(name)
    return names


def is_symbol(ch: str) -> bool:
    """One index in the compact form: an ASCII letter, or any non-ASCII character but a space, as
    opt_einsum's ``get_symbol`` hands out beyond the 52 letters (``chr(i + 140)``: ``'À'``, ``'×'``,
    unassigned and invisible code points too)."""
    return "a" <= ch <= "z" or "A" <= ch <= "Z" or (ch > "\x7f" and not ch.isspace())


def _compact_index(index: str) -> bool:
    return index == ELLIPSIS or (len(index) == 1 and is_symbol(index))


def _can_be_compact(spec: Spec) -> bool:
    indices = {i for op in (*spec.operands, spec.output) for i in op.indices} | set(spec.conv)
    if not all(_compact_index(i) for i in indices):
        return False
    if len(spec.operands) == 1 and not spec.operands[0].modes:
        return False  # "->" has no operand; a lone scalar needs its name
    out = spec.output.indices
    held = {i for op in spec.operands for i in op.indices}
    if len(set(out)) < len(out) or not set(out) <= held | {ELLIPSIS}:
        return False  # a diagonal or broadcast output is written in the named form only
    defaults = default_names(len(spec.operands))
    return [op.name for op in spec.operands] == defaults and spec.output.name == "out"


def _format_modes(modes: tuple[Mode, ...], compact: bool) -> str:
    sep = "" if compact else " "
    parts = [mode[0] if len(mode) == 1 else "(" + sep.join(mode) + ")" for mode in modes]
    text = sep.join(parts)
    if not compact and len(parts) == 1 and len(text) > 1 and all(is_symbol(ch) for ch in text):
        return f"( {text} )"  # "batch" alone would read as five letters; a group of one is the index itself
    return text


def modes_text(modes: Sequence[Sequence[str]]) -> str:
    """Modes as written in a spec: ``[["b"], ["s1", "s2"]]`` -> ``"b (s1 s2)"``."""
    return " ".join(m[0] if len(m) == 1 else "(" + " ".join(m) + ")" for m in modes)


def format_spec(spec: Spec, compact: bool | None = None) -> str:
    """Print a :class:`Spec` back as a string; ``parse_spec(format_spec(s)) == s``.

    Scalars print as empty operands in the compact form (``",ab->ab"``) and as ``c:`` in
    the named one; repeated indices and ``...`` print as they stand.

    Args:
        spec: the parsed spec.
        compact: force the compact (``"ij,jk->ik"``) or named form; by default compact
            when every index is one letter (or ``...``) and every tensor has its default name.

    Returns:
        The spec string.

    Example:
        >>> format_spec(parse_spec("X: i j, Y: j k -> i k"))
        'X: i j, Y: j k -> i k'
        >>> format_spec(parse_spec("A: ... i i -> ... i"))
        '...ii->...i'
    """
    if compact is None:
        compact = _can_be_compact(spec)
    if compact and not _can_be_compact(spec):
        raise TnvizError("this spec cannot be written in the compact form (long index or tensor names)")
    if compact:
        inputs = ",".join(_format_modes(op.modes, True) for op in spec.operands)
        text = f"{inputs}->{_format_modes(spec.output.modes, True)}"
        if spec.conv:
            text += "|" + "".join(spec.conv)
        return text
    inputs = ", ".join(f"{op.name}: {_format_modes(op.modes, False)}".rstrip() for op in spec.operands)
    out = _format_modes(spec.output.modes, False)
    head = f"{spec.output.name}: " if spec.output.name != "out" else ""
    text = f"{inputs} -> {head}{out}".rstrip()
    if spec.conv:
        text += " | " + " ".join(spec.conv)
    return text


def einsum_letters(names: Sequence[str], what: str = "an equation") -> dict[str, str]:
    """A torch.einsum letter for each of ``names`` (distinct index names), in order.

    Raises:
        TnvizError: past the 52 letters torch.einsum takes, naming the first index without one.

    Example:
        >>> einsum_letters(["r", "s1"])
        {'r': 'a', 's1': 'b'}
    """
    if len(names) > len(EINSUM_LETTERS):
        raise TnvizError(
            f"{what} with {len(names)} indices; torch.einsum takes at most {len(EINSUM_LETTERS)}",
            token=names[len(EINSUM_LETTERS)],
        )
    return dict(zip(names, EINSUM_LETTERS))
