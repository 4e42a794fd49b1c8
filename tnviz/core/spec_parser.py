"""Parse the tnviz spec language (standard library only) into a :class:`~tnviz.core.spec.Spec`.

A spec is a generalized einsum string::

    "X: b s x y, K: t s x y -> b t x y | x y"     named form
    "bsxy,tsxy->btxy|xy"                          compact form (one letter per index)
    "X: b (s1 s2) x y, ... -> ..."                ( ... ) merges indices row-major into one mode

Rules:

* **Named or compact, per spec.** A spec is *named* when any input has a ``Name:`` prefix;
  then every input must have one. The output may be named (``-> Y: b t``) or not.
  A spec without names takes one letter per index, spaces meaning nothing, as in
  ``torch.einsum`` (``"ij,jk"``, ``"b ij, b jk"``).
* **Indices.** In a named spec an index list with spaces holds identifiers (``s1``,
  ``batch``); one without spaces is read one letter per index when it is letters only
  (``"X: bsxy"`` holds four indices) and as one identifier when it holds a digit or an
  underscore (``"T0: i0"``). The compact form takes one symbol per index: an ASCII letter
  or, as opt_einsum's symbols beyond the 52 letters (``get_symbol(52)`` is ``'À'``), any
  non-ASCII character but a space (``'×'`` too); ASCII digits and punctuation are refused.
* **Scalars.** ``"c:"`` in the named form, an empty operand in the compact form
  (``",ab->ab"``); ``"->"`` and ``""`` are one scalar operand, as in ``torch.einsum``.
* **Traces and diagonals.** An index may repeat within one operand (``"ii->i"``,
  ``"aab,bc->ac"``), as in ``torch.einsum``; not inside a group, not a convolution
  index; in the output only in the named form (``"A: i -> i i"``: the values on the
  diagonal, zeros elsewhere).
* **Broadcast outputs.** In the named form an output index held by no operand repeats the
  result along it (``"A: i -> i j"``); its size must be bound.
* **Ellipsis.** ``...`` stands for leading/any batch dimensions, at most once per tensor
  (``"...ij,...jk->...ik"``), not in a group nor after ``|``. It is kept as the mode
  ``(ELLIPSIS,)``; :func:`~tnviz.core.ellipsis.expand_ellipsis` replaces it by fresh indices once the shapes
  are known (numpy broadcasting, as ``torch.einsum``).
* **Implicit output.** Without ``->`` the output is numpy's: ``...`` first when some input
  has it, then the indices that occur exactly once in the inputs (repeats within an
  operand count), sorted by ASCII (``"Ba"`` and ``"aB"`` both give ``B a``).
* **Convolution.** Indices after ``|`` are convolved (at most :data:`MAX_CONV_INDICES`),
  each held by two or more inputs, at most once per tensor.

The parser knows syntax only; roles and sizes live in :mod:`tnviz.core.diagram`.
"""

from __future__ import annotations

import re

from tnviz.core.spec import (
    ELLIPSIS,
    ELLIPSIS_MODE,
    IDENTIFIER,
    MAX_CONV_INDICES,
    Mode,
    Operand,
    Spec,
    default_names,
    is_symbol,
)
from tnviz.errors import TnvizError

__all__ = ["parse_spec"]

_NAME_PREFIX = re.compile(r"\s*([^\s:,()|]+)\s*:")


def _fail(message: str, text: str, position: int, token: str) -> TnvizError:
    return TnvizError(message, token=token, spec=text, position=position)


Positions = tuple[tuple[int, ...], ...]  # the offset of every index token, shaped like the modes


def _parse_modes(
    text: str,
    start: int,
    end: int,
    where: str,
    *,
    named: bool,
    allow_groups: bool = True,
    allow_ellipsis: bool = True,
) -> tuple[tuple[Mode, ...], Positions]:
    """Parse the index list ``text[start:end]`` into modes and the offsets of their tokens."""
    body = text[start:end].strip()
    # Without names every letter is an index and spaces mean nothing, as in torch.einsum
    # ("b ij" holds b, i, j). A named spec's index list with spaces holds identifiers; one
    # without is letters ("bsxy"), unless a digit or underscore makes it one identifier ("i0").
    letters = not named or not (any(ch.isspace() for ch in body) or any(ch.isdigit() or ch == "_" for ch in body))
    modes: list[Mode] = []
    positions: list[tuple[int, ...]] = []
    group: list[str] | None = None
    group_pos: list[int] = []
    group_start = -1
    ellipsis_at = -1
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
            group, group_pos, group_start = [], [], pos
            pos += 1
            continue
        if ch == ")":
            if group is None:
                raise _fail(f"unbalanced ')' in {where}; no '(' opened it", text, pos, ")")
            if not group:
                raise _fail(f"empty group '()' in {where}; expected at least one index", text, group_start, "()")
            modes.append(tuple(group))
            positions.append(tuple(group_pos))
            group = None
            pos += 1
            continue
        if ch == ".":
            if text[pos : pos + 3] != ELLIPSIS or pos + 3 > end:
                raise _fail(f"stray '.' in {where}; expected an ellipsis '...'", text, pos, ".")
            if not allow_ellipsis:
                raise _fail(f"ellipsis '...' is not allowed in {where}; expected index names", text, pos, ELLIPSIS)
            if group is not None:
                raise _fail(
                    f"ellipsis '...' inside a group in {where}; expected it as a mode of its own, outside '( ... )'",
                    text,
                    pos,
                    ELLIPSIS,
                )
            if ellipsis_at >= 0:
                raise _fail(
                    f"ellipsis '...' appears twice in {where}; expected at most one per tensor", text, pos, ELLIPSIS
                )
            ellipsis_at = pos
            modes.append(ELLIPSIS_MODE)
            positions.append((pos,))
            pos += 3
            continue
        if letters:
            if not is_symbol(ch):
                hint = "" if named else " (name the tensors, e.g. 'A: i0 j', for longer indices)"
                raise _fail(
                    f"unknown character {ch!r} in {where}; the compact form takes one letter per index "
                    f"(or a non-ASCII symbol){hint}",
                    text,
                    pos,
                    ch,
                )
            token, token_end = ch, pos + 1
        else:
            token_end = pos
            while token_end < end and not text[token_end].isspace() and text[token_end] not in "().":
                token_end += 1
            token = text[pos:token_end]
            if not IDENTIFIER.match(token):
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
            group_pos.append(pos)
        else:
            modes.append((token,))
            positions.append((pos,))
        pos = token_end
    if group is not None:
        raise _fail(f"unbalanced '(' in {where}; expected ')' closing the group", text, group_start, "(")
    return tuple(modes), tuple(positions)


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


def _parse_named(text: str, start: int, end: int, where: str) -> tuple[str | None, int, int]:
    """Return an optional ``Name:`` prefix of ``text[start:end]``, its offset, and where the indices begin."""
    match = _NAME_PREFIX.match(text, start, end)
    if not match:
        return None, start, start
    name = match.group(1)
    if not IDENTIFIER.match(name):
        raise _fail(
            f"bad tensor name {name!r} in {where}; expected an identifier such as 'X' or 'K1'",
            text,
            match.start(1),
            name,
        )
    return name, match.start(1), match.end()


def _flat(modes: tuple[Mode, ...], positions: Positions) -> list[tuple[str, int, bool]]:
    """(index, offset, inside a group) for every index token, ellipsis left out."""
    return [
        (i, p, len(mode) > 1) for mode, pos in zip(modes, positions) for i, p in zip(mode, pos) if mode != ELLIPSIS_MODE
    ]


def _unnamed_error(text: str, k: int, a: int, b: int, taken: set[str]) -> TnvizError:
    """The error for operand ``k`` (0-based) of a named spec that has no ``Name:``."""
    raw = text[a:b].strip()
    tail = "a spec is all named or all compact"
    if not raw:
        token = "->" if text.startswith("->", b) else text[b : b + 1]
        return _fail(
            f"operand {k + 1} is empty and has no 'Name:'; the other operands are named, so expected "
            f"a named scalar such as 'c:' ({tail})",
            text,
            b,
            token,
        )
    words = raw.split(None, 1)
    if len(words) == 2 and IDENTIFIER.match(words[0]) and words[0] not in taken:
        suggestion = f"{words[0]}: {words[1]}"
    else:
        suggestion = f"{default_names(1, taken)[0]}: {raw}"
    return _fail(
        f"operand {k + 1} ({raw!r}) has no 'Name:'; the other operands are named, so expected e.g. "
        f"{suggestion!r} ({tail})",
        text,
        a + len(text[a:b]) - len(text[a:b].lstrip()),
        raw,
    )


def _separators(text: str) -> tuple[int, int, int, int]:
    """Where ``|`` and ``->`` are (or -1), where the inputs and the output end; unknown
    characters and misplaced separators raise."""
    for pos, ch in enumerate(text):
        if ch not in "(),:|->_. \t\n" and not ch.isalnum() and not is_symbol(ch):
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
    return bar, arrow, main_end, inputs_end


def _parse_inputs(text: str, inputs_end: int, arrow: int) -> tuple[list[Operand], list[Positions], bool]:
    """The input operands (named or given default names), each one's index positions, and
    whether the spec is named."""
    parts = _split(text, 0, inputs_end, ",")
    if len(parts) == 1 and not text[:inputs_end].strip() and arrow < 0:
        # ("->" alone is one scalar operand, as in torch.einsum; a bare "| x" has none.)
        raise _fail("no operand before '|'; expected e.g. 'bsx,tsx->btx|x'", text, inputs_end, "|")

    heads: list[tuple[str | None, int, int]] = []
    for k, (a, b) in enumerate(parts):
        where = f"operand {k + 1}"
        name, name_pos, body = _parse_named(text, a, b, where)
        if ":" in text[body:b]:
            colon = text.index(":", body, b)
            raise _fail(f"misplaced ':' in {where}; expected 'Name: indices'", text, colon, ":")
        heads.append((name, name_pos, body))

    named = any(name is not None for name, _, _ in heads)
    taken = {name for name, _, _ in heads if name is not None}
    if named:
        for k, ((name, _, _), (a, b)) in enumerate(zip(heads, parts)):
            if name is None:
                raise _unnamed_error(text, k, a, b, taken)
    seen: set[str] = set()
    for name, name_pos, _ in heads:
        if name is not None:
            if name in seen:
                raise _fail(f"tensor name {name!r} used twice; names must be unique", text, name_pos, name)
            seen.add(name)

    defaults = iter(default_names(len(parts)))
    ops: list[Operand] = []
    op_positions: list[Positions] = []
    for k, ((name, _, body), (_, b)) in enumerate(zip(heads, parts)):
        modes, positions = _parse_modes(text, body, b, f"operand {k + 1}", named=named)
        ops.append(Operand(name if name is not None else next(defaults), modes))
        op_positions.append(positions)

    for op, positions in zip(ops, op_positions):
        flat = _flat(op.modes, positions)
        counts: dict[str, int] = {}
        for i, _, _ in flat:
            counts[i] = counts.get(i, 0) + 1
        for i, p, in_group in flat:
            if in_group and counts[i] > 1:
                first = next(q for j, q, _ in flat if j == i)
                later = [q for j, q, g in flat if j == i and g and q != first]
                raise _fail(
                    f"index {i!r} repeats inside tensor {op.name!r} and sits in a group '( ... )'; "
                    "expected a repeated (diagonal) index as a mode of its own",
                    text,
                    later[0] if later else p,
                    i,
                )
    return ops, op_positions, named


def _parse_output(text: str, arrow: int, main_end: int, ops: list[Operand], named: bool) -> tuple[Operand, Positions]:
    """The output operand and its index positions; without ``->`` numpy's implicit output."""
    any_ellipsis = any(op.has_ellipsis for op in ops)
    if arrow >= 0:
        out_end = main_end
        out_start = arrow + 2
        out_name, out_name_pos, body = _parse_named(text, out_start, out_end, "the output")
        if ":" in text[body:out_end]:
            colon = text.index(":", body, out_end)
            raise _fail("misplaced ':' in the output; expected 'Name: indices'", text, colon, ":")
        out_modes, out_positions = _parse_modes(text, body, out_end, "the output", named=named)
        if out_name is not None and out_name in {op.name for op in ops}:
            raise _fail(f"output name {out_name!r} is also an input's name", text, out_name_pos, out_name)
        if ELLIPSIS_MODE in out_modes and not any_ellipsis:
            p = out_positions[out_modes.index(ELLIPSIS_MODE)][0]
            raise _fail(
                "ellipsis '...' in the output but in no operand; expected '...' in some input", text, p, ELLIPSIS
            )
        flat_out = _flat(out_modes, out_positions)
        out_counts: dict[str, int] = {}
        for i, _, _ in flat_out:
            out_counts[i] = out_counts.get(i, 0) + 1
        seen_out: set[str] = set()
        for i, p, in_group in flat_out:
            # The named form writes a diagonal output ("-> Y: i i", the values on the diagonal,
            # zeros elsewhere); the compact form raises where torch.einsum raises.
            if i in seen_out and not named:
                raise _fail(
                    f"index {i!r} appears twice in the output; expected each output index once "
                    "(a diagonal output needs the named form, e.g. 'A: i -> i i')",
                    text,
                    p,
                    i,
                )
            if out_counts[i] > 1 and in_group:
                raise _fail(
                    f"index {i!r} repeats in the output and sits in a group '( ... )'; "
                    "expected a repeated (diagonal) index as a mode of its own",
                    text,
                    p,
                    i,
                )
            seen_out.add(i)
        held = {i for op in ops for i in op.indices}
        word = text[body:out_end].strip()
        # "-> batch" reads five letters; when the inputs hold the identifier "batch", that is a slip
        # (write "( batch )"), not a broadcast of b, a, t, c, h.
        slip = named and len(word) > 1 and word in held and any(len(m) == 1 and m[0] != word for m in out_modes)
        for i, p, _ in flat_out:
            # The named form broadcasts an output index held by no operand (its size bound).
            if slip and i not in held:
                raise _fail(
                    f"output index {i!r} is in no input; '{word}' without spaces reads one letter per index, "
                    f"so expected '( {word} )' for the index {word!r}",
                    text,
                    p,
                    i,
                )
            if i not in held and not named:
                raise _fail(
                    f"output index {i!r} is in no input; expected an index of some operand "
                    "(a broadcast output index needs the named form, e.g. 'A: i -> i j')",
                    text,
                    p,
                    i,
                )
        output = Operand(out_name or "out", out_modes)
        output_positions = out_positions
    else:
        counts = {}
        for op in ops:
            for i in op.indices:
                if i != ELLIPSIS:
                    counts[i] = counts.get(i, 0) + 1
        once = tuple((i,) for i in sorted(i for i, c in counts.items() if c == 1))
        output = Operand("out", ((ELLIPSIS_MODE,) if any_ellipsis else ()) + once)
        output_positions = ()
    return output, output_positions


def _parse_conv(
    text: str,
    bar: int,
    ops: list[Operand],
    op_positions: list[Positions],
    output: Operand,
    output_positions: Positions,
    named: bool,
) -> tuple[str, ...]:
    """The convolution indices after ``|``, each held by a signal and a kernel, once per tensor
    and never in a group."""
    conv_modes, conv_positions = _parse_modes(
        text,
        bar + 1,
        len(text),
        "the convolution indices",
        named=named,
        allow_groups=False,
        allow_ellipsis=False,
    )
    conv = tuple(m[0] for m in conv_modes)
    conv_pos = {}
    if not conv:
        raise _fail("no convolution index after '|'; expected e.g. '| x y'", text, bar, "|")
    for i, (p,) in zip(conv, conv_positions):
        if i in conv_pos:
            raise _fail(f"convolution index {i!r} listed twice after '|'", text, p, i)
        conv_pos[i] = p
    if len(conv) > MAX_CONV_INDICES:
        raise _fail(
            f"{len(conv)} convolution indices; at most {MAX_CONV_INDICES} are supported (F.conv1d/2d/3d)",
            text,
            conv_positions[MAX_CONV_INDICES][0],
            conv[MAX_CONV_INDICES],
        )
    for i in conv:
        holders = [(op, pos) for op, pos in zip(ops, op_positions) if i in op.indices]
        if len(holders) < 2:
            raise _fail(
                f"convolution index {i!r} is held by {len(holders)} operand(s); "
                "expected a signal and at least one kernel",
                text,
                conv_pos[i],
                i,
            )
        for op, positions in holders:
            found = [(p, in_group) for j, p, in_group in _flat(op.modes, positions) if j == i]
            for p, in_group in found:
                if in_group:
                    raise _fail(
                        f"convolution index {i!r} sits inside a group of tensor {op.name!r}; "
                        "expected it as a mode of its own",
                        text,
                        p,
                        i,
                    )
            if len(found) > 1:
                raise _fail(
                    f"convolution index {i!r} appears twice in tensor {op.name!r}; "
                    "a convolution index is held once per tensor",
                    text,
                    found[1][0],
                    i,
                )
    for i, p, in_group in _flat(output.modes, output_positions):
        if i in conv and output.indices.count(i) > 1:
            raise _fail(f"convolution index {i!r} appears twice in the output; expected it once", text, p, i)
        if i in conv and in_group:
            raise _fail(
                f"convolution index {i!r} sits inside a group of the output; expected a mode of its own",
                text,
                p,
                i,
            )
    return conv


def parse_spec(text: str) -> Spec:
    """Parse a spec string into a :class:`Spec` (syntax only).

    The language is described in the module docstring: named (``"X: i j, Y: j k -> i k"``)
    or compact (``"ij,jk->ik"``) per spec, groups ``( ... )``, scalars, repeated indices
    within an operand (traces, diagonals), one ellipsis ``...`` per tensor (kept as the
    mode ``(ELLIPSIS,)``), convolution indices after ``|``.

    Args:
        text: the spec, e.g. ``"X: b s x y, K: t s x y -> b t x y | x y"``.

    Returns:
        The parsed :class:`Spec`. Without ``->`` the output is numpy's implicit one:
        ``...`` if any input has it, then the indices occurring exactly once in the
        inputs (repeats within an operand counted), sorted by ASCII.

    Raises:
        TnvizError: on a syntax error, naming the token and its position.

    Example:
        >>> parse_spec("ij,jk->ik").output.modes
        (('i',), ('k',))
        >>> parse_spec("ii").output.modes
        ()
    """
    if not isinstance(text, str):
        raise TnvizError(f"a spec must be a string, got {type(text).__name__}", token=repr(text))
    if not text.strip():
        # As in numpy and torch.einsum, the empty equation is one scalar operand, returned as is.
        return Spec((Operand("A", ()),), Operand("out", ()), ())
    bar, arrow, main_end, inputs_end = _separators(text)
    ops, op_positions, named = _parse_inputs(text, inputs_end, arrow)
    output, output_positions = _parse_output(text, arrow, main_end, ops, named)
    conv = _parse_conv(text, bar, ops, op_positions, output, output_positions, named) if bar >= 0 else ()
    return Spec(tuple(ops), output, conv)
