"""Parse and print the tnviz spec language (standard library only).

A spec is a generalized einsum string::

    "X: b s x y, K: t s x y -> b t x y | x y"     named form
    "bsxy,tsxy->btxy|xy"                          compact form (one index per character)
    "X: b (s1 s2) x y, ... -> ..."                ( ... ) merges indices row-major into one mode

The parser knows syntax only; roles and sizes live in :mod:`tnviz.core.diagram`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tnviz.errors import TnvizError

__all__ = ["Operand", "Spec", "parse_spec", "format_spec", "default_names", "MAX_CONV_INDICES"]

MAX_CONV_INDICES = 3  # F.conv1d/2d/3d: a step convolves at most three indices at once

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NAME_PREFIX = re.compile(r"\s*([^\s:,()|]+)\s*:")

Mode = tuple[str, ...]  # one mode of a tensor: a single index, or a row-major group


@dataclass(frozen=True)
class Operand:
    """One tensor of a spec: a name and its modes (each a tuple of index names)."""

    name: str
    modes: tuple[Mode, ...]

    @property
    def indices(self) -> tuple[str, ...]:
        """The flat indices, groups expanded in row-major order."""
        return tuple(i for mode in self.modes for i in mode)


@dataclass(frozen=True)
class Spec:
    """A parsed spec: operands, output, convolution indices."""

    operands: tuple[Operand, ...]
    output: Operand
    conv: tuple[str, ...]


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


def _fail(message: str, text: str, position: int, token: str) -> TnvizError:
    return TnvizError(message, token=token, spec=text, position=position)


def _parse_modes(text: str, start: int, end: int, where: str, allow_groups: bool = True) -> tuple[Mode, ...]:
    """Parse the index list ``text[start:end]`` into modes."""
    body = text[start:end]
    compact = not any(ch.isspace() for ch in body.strip())
    modes: list[Mode] = []
    group: list[str] | None = None
    group_start = -1
    pos = start
    while pos < end:
        ch = text[pos]
        if ch.isspace():
            pos += 1
            continue
        if ch == "(":
            if not allow_groups:
                raise _fail(f"groups '( ... )' are not allowed in {where}", text, pos, "(")
            if group is not None:
                raise _fail(f"nested '(' in {where}; expected ')' first", text, pos, "(")
            group, group_start = [], pos
            pos += 1
            continue
        if ch == ")":
            if group is None:
                raise _fail(f"unbalanced ')' in {where}; no '(' opened it", text, pos, ")")
            if not group:
                raise _fail(f"empty group '()' in {where}; expected at least one index", text, group_start, "()")
            modes.append(tuple(group))
            group = None
            pos += 1
            continue
        if ch == ".":
            raise _fail(f"ellipsis '...' is not supported in {where}; name every index", text, pos, "...")
        if compact:
            if not ("a" <= ch <= "z" or "A" <= ch <= "Z"):
                raise _fail(
                    f"unknown character {ch!r} in {where}; the compact form takes one letter per index",
                    text,
                    pos,
                    ch,
                )
            token, token_end = ch, pos + 1
        else:
            token_end = pos
            while token_end < end and not text[token_end].isspace() and text[token_end] not in "()":
                token_end += 1
            token = text[pos:token_end]
            if not _IDENT.match(token):
                bad = next((c for c in token if not (c.isalnum() or c == "_")), token[0])
                raise _fail(
                    f"bad index {token!r} in {where} (unknown character {bad!r}); "
                    "expected an identifier such as 's' or 's1'",
                    text,
                    pos,
                    token,
                )
        if group is not None:
            group.append(token)
        else:
            modes.append((token,))
        pos = token_end
    if group is not None:
        raise _fail(f"unbalanced '(' in {where}; expected ')' closing the group", text, group_start, "(")
    return tuple(modes)


def _split(text: str, start: int, end: int, sep: str) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` at ``sep`` (outside nothing: separators are never nested)."""
    parts, pos = [], start
    while True:
        nxt = text.find(sep, pos, end)
        if nxt < 0:
            parts.append((pos, end))
            return parts
        parts.append((pos, nxt))
        pos = nxt + len(sep)


def _parse_named(text: str, start: int, end: int, where: str) -> tuple[str | None, int]:
    """Return an optional ``Name:`` prefix of ``text[start:end]`` and where the indices begin."""
    match = _NAME_PREFIX.match(text, start, end)
    if not match:
        return None, start
    name = match.group(1)
    if not _IDENT.match(name):
        raise _fail(
            f"bad tensor name {name!r} in {where}; expected an identifier such as 'X' or 'K1'",
            text,
            match.start(1),
            name,
        )
    return name, match.end()


def parse_spec(text: str) -> Spec:
    """Parse a spec string into a :class:`Spec` (syntax only).

    Args:
        text: the spec, e.g. ``"X: b s x y, K: t s x y -> b t x y | x y"``.

    Returns:
        The parsed :class:`Spec`. Without ``->`` the output is numpy's implicit one:
        the indices held by exactly one operand, sorted.

    Raises:
        TnvizError: on a syntax error, naming the token and its position.

    Example:
        >>> parse_spec("ij,jk->ik").output.modes
        (('i',), ('k',))
    """
    if not isinstance(text, str):
        raise TnvizError(f"a spec must be a string, got {type(text).__name__}", token=repr(text))
    if not text.strip():
        raise TnvizError("empty spec; expected operands such as 'ij,jk->ik'", token="", spec=text, position=0)
    for pos, ch in enumerate(text):
        if ch not in "(),:|->_. \t\n" and not ch.isalnum():
            raise _fail(f"unknown character {ch!r} in spec", text, pos, ch)
    bar = text.find("|")
    if bar >= 0 and text.find("|", bar + 1) >= 0:
        second = text.find("|", bar + 1)
        raise _fail("more than one '|' in spec; expected one before the convolution indices", text, second, "|")
    main_end = bar if bar >= 0 else len(text)
    arrow = text.find("->")
    if arrow >= 0 and text.find("->", arrow + 2) >= 0:
        second = text.find("->", arrow + 2)
        raise _fail("more than one '->' in spec", text, second, "->")
    if arrow > main_end:
        raise _fail("'|' must come after the output ('-> ... | conv indices')", text, bar, "|")
    inputs_end = arrow if arrow >= 0 else main_end
    for pos in range(inputs_end):
        if text[pos] == "-" and text[pos : pos + 2] != "->":
            raise _fail("unknown character '-' in spec; did you mean '->'?", text, pos, "-")
        if text[pos] == ">":
            raise _fail("unknown character '>' in spec; did you mean '->'?", text, pos, ">")

    operands: list[tuple[str | None, tuple[Mode, ...], int]] = []
    for k, (a, b) in enumerate(_split(text, 0, inputs_end, ",")):
        where = f"operand {k + 1}"
        if not text[a:b].strip():
            raise _fail(f"empty {where}; expected its indices (a scalar needs a name: 'c:')", text, a, ",")
        name, body = _parse_named(text, a, b, where)
        if ":" in text[body:b]:
            colon = text.index(":", body, b)
            raise _fail(f"misplaced ':' in {where}; expected 'Name: indices'", text, colon, ":")
        operands.append((name, _parse_modes(text, body, b, where), a))

    taken = {name for name, _, _ in operands if name is not None}
    seen: dict[str, int] = {}
    for name, _, a in operands:
        if name is not None:
            if name in seen:
                raise _fail(f"tensor name {name!r} used twice; names must be unique", text, text.find(name, a), name)
            seen[name] = a
    defaults = iter(default_names(len(operands), taken))
    ops = tuple(Operand(name if name is not None else next(defaults), modes) for name, modes, _ in operands)

    for (_, _, a), op in zip(operands, ops):
        counts: dict[str, int] = {}
        for i in op.indices:
            counts[i] = counts.get(i, 0) + 1
        for i, c in counts.items():
            if c > 1:
                raise _fail(
                    f"index {i!r} appears twice in tensor {op.name!r}; diagonals are not supported, "
                    "expected each index once per tensor",
                    text,
                    _find_index(text, i, a),
                    i,
                )

    if arrow >= 0:
        out_start, out_end = arrow + 2, main_end
        out_name, body = _parse_named(text, out_start, out_end, "the output")
        if ":" in text[body:out_end]:
            colon = text.index(":", body, out_end)
            raise _fail("misplaced ':' in the output; expected 'Name: indices'", text, colon, ":")
        out_modes = _parse_modes(text, body, out_end, "the output")
        if out_name is not None and out_name in {op.name for op in ops}:
            raise _fail(
                f"output name {out_name!r} is also an input's name", text, text.find(out_name, out_start), out_name
            )
        flat = [i for m in out_modes for i in m]
        seen_out: set[str] = set()
        for i in flat:
            if i in seen_out:
                raise _fail(
                    f"index {i!r} appears twice in the output; expected each output index once",
                    text,
                    _find_index(text, i, out_start, nth=2),
                    i,
                )
            seen_out.add(i)
        held = {i for op in ops for i in op.indices}
        for i in flat:
            if i not in held:
                raise _fail(
                    f"output index {i!r} is in no input; expected an index of some operand",
                    text,
                    _find_index(text, i, out_start),
                    i,
                )
        output = Operand(out_name or "out", out_modes)
    else:
        counts = {}
        for op in ops:
            for i in op.indices:
                counts[i] = counts.get(i, 0) + 1
        output = Operand("out", tuple((i,) for i in sorted(i for i, c in counts.items() if c == 1)))

    conv: tuple[str, ...] = ()
    if bar >= 0:
        conv_modes = _parse_modes(text, bar + 1, len(text), "the convolution indices", allow_groups=False)
        conv = tuple(m[0] for m in conv_modes)
        if not conv:
            raise _fail("no convolution index after '|'; expected e.g. '| x y'", text, bar, "|")
        seen_conv: set[str] = set()
        for i in conv:
            if i in seen_conv:
                raise _fail(
                    f"convolution index {i!r} listed twice after '|'", text, _find_index(text, i, bar, nth=2), i
                )
            seen_conv.add(i)
        if len(conv) > MAX_CONV_INDICES:
            raise _fail(
                f"{len(conv)} convolution indices; at most {MAX_CONV_INDICES} are supported (F.conv1d/2d/3d)",
                text,
                _find_index(text, conv[MAX_CONV_INDICES], bar),
                conv[MAX_CONV_INDICES],
            )
        for i in conv:
            holders = [op for op in ops if i in op.indices]
            if len(holders) < 2:
                raise _fail(
                    f"convolution index {i!r} is held by {len(holders)} operand(s); "
                    "expected a signal and at least one kernel",
                    text,
                    _find_index(text, i, bar),
                    i,
                )
            for op in holders:
                for mode in op.modes:
                    if i in mode and len(mode) > 1:
                        raise _fail(
                            f"convolution index {i!r} sits inside a group of tensor {op.name!r}; "
                            "expected it as a mode of its own",
                            text,
                            _find_index(text, i, 0),
                            i,
                        )
        for mode in output.modes:
            for i in mode:
                if i in conv and len(mode) > 1:
                    raise _fail(
                        f"convolution index {i!r} sits inside a group of the output; expected a mode of its own",
                        text,
                        _find_index(text, i, arrow),
                        i,
                    )
    return Spec(ops, output, conv)


def _find_index(text: str, index: str, start: int, nth: int = 1) -> int:
    """Best-effort position of the ``nth`` occurrence of ``index`` as a token at or after ``start``."""
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(index)}(?![A-Za-z0-9_])") if len(index) > 1 else None
    found = 0
    pos = start
    while True:
        if pattern is not None:
            m = pattern.search(text, pos)
            p = m.start() if m else -1
        else:
            p = text.find(index, pos)
        if p < 0:
            return start
        found += 1
        if found == nth:
            return p
        pos = p + 1


def _can_be_compact(spec: Spec) -> bool:
    indices = {i for op in (*spec.operands, spec.output) for i in op.indices} | set(spec.conv)
    if any(len(i) != 1 or not i.isalpha() for i in indices):
        return False
    defaults = default_names(len(spec.operands))
    return [op.name for op in spec.operands] == defaults and spec.output.name == "out"


def _format_modes(modes: tuple[Mode, ...], compact: bool) -> str:
    sep = "" if compact else " "
    parts = [mode[0] if len(mode) == 1 else "(" + sep.join(mode) + ")" for mode in modes]
    return sep.join(parts)


def format_spec(spec: Spec, compact: bool | None = None) -> str:
    """Print a :class:`Spec` back as a string; ``parse_spec(format_spec(s)) == s``.

    Args:
        spec: the parsed spec.
        compact: force the compact (``"ij,jk->ik"``) or named form; by default compact
            when every index is one letter and every tensor has its default name.

    Returns:
        The spec string.

    Example:
        >>> format_spec(parse_spec("X: i j, Y: j k -> i k"))
        'X: i j, Y: j k -> i k'
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
