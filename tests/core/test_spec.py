import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tnviz import Diagram, TnvizError
from tnviz.core.ellipsis import expand_ellipsis
from tnviz.core.spec import ELLIPSIS, Operand, Spec, default_names, format_spec
from tnviz.core.spec_parser import parse_spec


def test_named_and_compact_forms_agree():
    named = parse_spec("A: b s x y, B: t s x y -> b t x y | x y")
    compact = parse_spec("bsxy,tsxy->btxy|xy")
    assert named == compact
    assert format_spec(compact) == "bsxy,tsxy->btxy|xy"
    assert format_spec(compact, compact=False) == "A: b s x y, B: t s x y -> b t x y | x y"


def test_groups_are_row_major_modes():
    spec = parse_spec("X: b (s1 s2 s3) x y, A1: r s1 t1 -> b (t1) x y")
    assert spec.operands[0].modes == (("b",), ("s1", "s2", "s3"), ("x",), ("y",))
    assert spec.operands[0].indices == ("b", "s1", "s2", "s3", "x", "y")
    assert parse_spec("b(st)xy,stu->bu").operands[0].modes == (("b",), ("s", "t"), ("x",), ("y",))


def test_default_names_skip_taken_ones():
    assert default_names(3, {"B"}) == ["A", "C", "D"]
    assert [op.name for op in parse_spec("ij,jk,kl->il").operands] == ["A", "B", "C"]
    assert [op.name for op in parse_spec("i j, j k -> i k").operands] == ["A", "B"]


def test_implicit_output_is_numpy_style():
    assert parse_spec("ij,jk").output.indices == ("i", "k")
    assert parse_spec("ba").output.indices == ("a", "b")


def test_named_scalar_and_named_output():
    spec = parse_spec("c:, X: i -> Y: i")
    assert spec.operands[0].modes == ()
    assert spec.output.name == "Y"
    assert format_spec(spec) == "c:, X: i -> Y: i"


@pytest.mark.parametrize(
    "text",
    [
        "X: b s x y, K: t s x y -> b t x y | x y",
        "bsxy,tsxy->btxy|xy",
        "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y",
        "ij,jk->ik",
        "i->",
        "b(gs)xy,gtsxy->b(gt)xy|xy",
        "Input: batch chan, Weight: out chan -> Y: batch out",
    ],
)
def test_print_parse_round_trip(text):
    spec = parse_spec(text)
    assert parse_spec(format_spec(spec)) == spec
    assert parse_spec(format_spec(spec, compact=False)) == spec
    assert Diagram.parse(Diagram.parse(text).to_spec()) == Diagram.parse(text)


def test_compact_refused_for_long_names():
    with pytest.raises(TnvizError, match="compact"):
        format_spec(parse_spec("X: s1 s2 -> s1"), compact=True)


# --- helpers ---------------------------------------------------------------------------------------


def _error(text):
    with pytest.raises(TnvizError) as info:
        parse_spec(text)
    return info.value


def _assert_caret(err, text, token, position):
    """The error names ``token`` at ``position`` and draws its caret there."""
    assert err.token == token, str(err)
    assert err.position == position, str(err)
    assert text[position : position + len(token)] == token
    caret_line = str(err).splitlines()[2]
    assert caret_line.index("^") == len("          ") + position


def _modes(text):
    spec = parse_spec(text)
    return [op.modes for op in spec.operands], spec.output.modes


# --- 1. named or compact, per spec ------------------------------------------------------------------


def test_named_spec_refuses_an_unnamed_operand():
    text = "A: i r, B j r, C: k r -> i j k"
    err = _error(text)
    assert "operand 2 ('B j r') has no 'Name:'" in err.message
    assert "expected e.g. 'B: j r'" in err.message
    assert "all named or all compact" in err.message
    _assert_caret(err, text, "B j r", 8)


def test_named_spec_refuses_an_unnamed_first_or_compact_operand():
    text = "ij, B: jk, kl -> il"
    err = _error(text)
    assert "operand 1 ('ij') has no 'Name:'" in err.message
    assert "'A: ij'" in err.message  # the suggestion uses a free default name
    _assert_caret(err, text, "ij", 0)
    text = "A: ij,   jk -> ik"
    _assert_caret(_error(text), text, "jk", 9)


def test_named_spec_refuses_an_empty_unnamed_operand():
    text = "A: i, , B: j -> i"
    err = _error(text)
    assert "operand 2 is empty" in err.message and "'c:'" in err.message
    _assert_caret(err, text, ",", 6)


def test_output_may_be_named_or_not_and_unnamed_specs_are_as_before():
    spec = parse_spec("ij,jk -> Y: ik")
    assert spec.output == Operand("Y", (("i",), ("k",)))
    assert parse_spec("X: i j, W: j k -> i k").output.name == "out"
    assert _modes("i j, j k -> i k") == ([(("i",), ("j",)), (("j",), ("k",))], (("i",), ("k",)))
    # Without names spaces mean nothing, as in torch.einsum: "b ij" is b, i, j ...
    assert _modes("b ij, b jk -> b ik")[0][0] == (("b",), ("i",), ("j",))
    # ... and an identifier longer than a letter needs the named form.
    err = _error("s1 s2, s2 t -> s1 t")
    assert "'1'" in err.message and "name the tensors" in err.message


# --- 2. named indices may hold digits ---------------------------------------------------------------


def test_named_index_lists_without_spaces():
    spec = parse_spec("T0: i0 i1, T1: i1 -> i0")
    assert spec.operands == (Operand("T0", (("i0",), ("i1",))), Operand("T1", (("i1",),)))
    assert spec.output.modes == (("i0",),)
    # letters only and no spaces: one letter per index, as before
    assert _modes("X: bsxy, K: tsxy -> btxy")[0][0] == (("b",), ("s",), ("x",), ("y",))
    # a digit or an underscore makes one identifier
    assert _modes("X: s_a, Y: s_a -> s_a") == ([(("s_a",),), (("s_a",),)], (("s_a",),))
    assert _modes("X: a1b, Y: a1b -> Z: a1b")[1] == (("a1b",),)
    assert _modes("X: b(st)xy, Y: st -> b")[0][0] == (("b",), ("s", "t"), ("x",), ("y",))
    assert _modes("X: (s1 s2) x, Y: s1 -> x")[0][0] == (("s1", "s2"), ("x",))


def test_named_conv_indices_may_hold_digits():
    spec = parse_spec("X: b x0, K: t x0 -> b t x0 | x0")
    assert spec.conv == ("x0",)


def test_compact_form_still_refuses_digits():
    text = "bs1,s->b"
    err = _error(text)
    assert "unknown character '1'" in err.message
    assert "the compact form takes one letter per index" in err.message
    _assert_caret(err, text, "1", 2)
    text = "ij->i1"
    _assert_caret(_error(text), text, "1", 5)


def test_named_bad_index_names_the_token():
    text = "X: 1i, Y: j -> j"
    err = _error(text)
    assert "bad index '1i'" in err.message
    _assert_caret(err, text, "1i", 3)


# --- 3. scalars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,operands,output",
    [
        ("a,->a", [(("a",),), ()], (("a",),)),
        (",ab,->ab", [(), (("a",), ("b",)), ()], (("a",), ("b",))),
        (",,->", [(), (), ()], ()),
        ("a, ->a", [(("a",),), ()], (("a",),)),
        (",", [(), ()], ()),
        ("ab->", [(("a",), ("b",))], ()),
        ("c:, X: i -> i", [(), (("i",),)], (("i",),)),
        ("c: ->", [()], ()),
    ],
)
def test_scalar_operands(text, operands, output):
    assert _modes(text) == (operands, output)


def test_an_empty_input_list_is_one_scalar_as_in_torch():
    # torch.einsum("->", t) and torch.einsum("", t) take one scalar operand.
    for text in ("->", "  -> ", ""):
        spec = parse_spec(text)
        assert [op.modes for op in spec.operands] == [()] and spec.output.modes == ()
    text = "| x"
    err = _error(text)
    assert "no operand before '|'" in err.message
    _assert_caret(err, text, "|", 0)


# --- 4. repeated indices within one operand ---------------------------------------------------------


def test_repeated_indices_are_traces_and_diagonals():
    assert _modes("aab,bc->ac") == ([(("a",), ("a",), ("b",)), (("b",), ("c",))], (("a",), ("c",)))
    assert _modes("ii->i") == ([(("i",), ("i",))], (("i",),))
    assert _modes("A: i i -> i") == ([(("i",), ("i",))], (("i",),))
    assert _modes("X: (a b) c c, Y: c -> a b")[0][0] == (("a", "b"), ("c",), ("c",))
    op = parse_spec("abab,b->a").operands[0]
    assert op.indices == ("a", "b", "a", "b")
    assert op.unique_indices == ("a", "b")
    assert parse_spec("X: (s t) u s2 u -> s").operands[0].unique_indices == ("s", "t", "u", "s2")


def test_repeated_conv_index_in_one_operand_is_an_error():
    text = "bsxx,tsx->btx|x"
    err = _error(text)
    assert "convolution index 'x' appears twice in tensor 'A'" in err.message
    assert "held once per tensor" in err.message
    _assert_caret(err, text, "x", 3)
    text = "X: b x0 x0, K: t x0 -> b t x0 | x0"
    _assert_caret(_error(text), text, "x0", 8)


@pytest.mark.parametrize(
    "text,position",
    [
        ("A: (i i) j -> j", 6),  # twice inside one group: caret on the second
        ("A: i (i j) -> j", 6),  # a group holds an index that is also a mode of its own
        ("A: (i j) i -> j", 4),
        ("i(ij)->j", 2),
    ],
)
def test_repeated_index_in_a_group_is_an_error(text, position):
    err = _error(text)
    assert "index 'i' repeats inside tensor 'A'" in err.message
    assert "expected a repeated (diagonal) index as a mode of its own" in err.message
    _assert_caret(err, text, "i", position)


def test_output_may_not_repeat_an_index():
    text = "ii->ii"
    err = _error(text)
    assert "index 'i' appears twice in the output" in err.message
    _assert_caret(err, text, "i", 5)


# --- 5. implicit output -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,output",
    [
        ("ii", ()),
        ("Ba", ("B", "a")),
        ("aB", ("B", "a")),
        ("iij,jk", ("k",)),
        ("ij,jk", ("i", "k")),
        ("ba", ("a", "b")),
        ("...ij,...jk", ("...", "i", "k")),
        ("ab...", ("...", "a", "b")),
        ("ij,...j", ("...", "i")),
        ("X: s2 s1 s10, Y: s1", ("s10", "s2")),
    ],
)
def test_implicit_output_counts_repeats_and_sorts_by_ascii(text, output):
    spec = parse_spec(text)
    assert spec.output.indices == output
    assert spec.output.name == "out"


# --- 6. ellipsis ------------------------------------------------------------------------------------


def test_ellipsis_is_a_mode_of_its_own():
    assert ELLIPSIS == "..."
    compact = parse_spec("...ij,...jk->...ik")
    named = parse_spec("A: ... i j, B: ... j k -> ... i k")
    assert compact == named
    assert compact.operands[0].modes == (("...",), ("i",), ("j",))
    assert compact.operands[0].has_ellipsis and compact.output.has_ellipsis
    assert _modes("A: i ... j -> j")[0][0] == (("i",), ("...",), ("j",))
    assert _modes("A: ...i0 -> ... i0") == ([(("...",), ("i0",))], (("...",), ("i0",)))
    assert _modes("a...b,b->a")[0][0] == (("a",), ("...",), ("b",))
    assert _modes("...,...->...") == ([(("...",),), (("...",),)], (("...",),))
    # an output without '...' sums the ellipsis dimensions
    assert _modes("...ij,jk->ik")[1] == (("i",), ("k",))


@pytest.mark.parametrize(
    "text,message,token,position",
    [
        ("...i...->i", "ellipsis '...' appears twice in operand 1", "...", 4),
        ("...i->......i", "ellipsis '...' appears twice in the output", "...", 9),
        ("ij->...i", "ellipsis '...' in the output but in no operand", "...", 4),
        ("A: (... i) -> i", "ellipsis '...' inside a group", "...", 4),
        ("...sx,tsx->...tx|...", "ellipsis '...' is not allowed in the convolution indices", "...", 17),
        ("..i->i", "stray '.'", ".", 0),
        ("i.j->i", "stray '.'", ".", 1),
    ],
)
def test_ellipsis_errors(text, message, token, position):
    err = _error(text)
    assert message in err.message
    _assert_caret(err, text, token, position)


def test_expand_ellipsis_without_ellipsis_is_identity():
    spec = parse_spec("ij,jk->ik")
    assert expand_ellipsis(spec, [(2, 3), (3, 4)]) is spec


def test_expand_ellipsis_batch_dims():
    spec = expand_ellipsis(parse_spec("...ij,...jk->...ik"), [(5, 2, 3), (3, 4)])
    assert format_spec(spec) == "A: _e0 i j, B: j k -> _e0 i k"
    spec = expand_ellipsis(parse_spec("A: i ... j -> ... i j"), [(2, 3, 4, 5)])
    assert spec.operands[0].modes == (("i",), ("_e0",), ("_e1",), ("j",))
    assert spec.output.modes == (("_e0",), ("_e1",), ("i",), ("j",))
    assert ELLIPSIS not in {i for op in (*spec.operands, spec.output) for i in op.indices}


def test_expand_ellipsis_broadcasts_size_one_to_private_indices():
    spec = expand_ellipsis(parse_spec("...ij,...jk->...ik"), [(7, 1, 2, 3), (5, 3, 4)])
    assert spec.operands[0].modes == (("_e0",), ("_e1_A",), ("i",), ("j",))
    assert spec.operands[1].modes == (("_e1",), ("j",), ("k",))
    assert spec.output.modes == (("_e0",), ("_e1",), ("i",), ("k",))
    # size 1 everywhere: shared, no private index
    spec = expand_ellipsis(parse_spec("...i,...i->...i"), [(1, 2), (1, 2)])
    assert spec.operands[0].modes == spec.operands[1].modes == (("_e0",), ("i",))


def test_expand_ellipsis_without_ellipsis_in_the_output_sums_it():
    spec = expand_ellipsis(parse_spec("...i->i"), [(2, 3, 4)])
    assert spec.operands[0].modes == (("_e0",), ("_e1",), ("i",))
    assert spec.output.modes == (("i",),)


def test_expand_ellipsis_covering_no_dimension():
    spec = expand_ellipsis(parse_spec("...ij,jk->...ik"), [(2, 3), (3, 4)])
    assert format_spec(spec) == "ij,jk->ik"


def test_expand_ellipsis_picks_fresh_names():
    spec = expand_ellipsis(parse_spec("A: _e0 ..., B: _e0 -> ..."), [(2, 3), (2,)])
    assert spec.operands[0].modes == (("_e0",), ("__e0",))
    assert spec.output.modes == (("__e0",),)


def test_expand_ellipsis_errors():
    spec = parse_spec("...ij,...jk->...ik")
    with pytest.raises(TnvizError) as info:
        expand_ellipsis(spec, [(3, 2, 3), (4, 3, 4)])
    assert "'A'" in info.value.message and "'B'" in info.value.message
    assert "size 3" in info.value.message and "size 4" in info.value.message
    with pytest.raises(TnvizError) as info:
        expand_ellipsis(parse_spec("...ijk->i"), [(2, 2)])
    assert info.value.token == "A"
    assert "(2, 2)" in info.value.message and "'... i j k'" in info.value.message
    with pytest.raises(TnvizError, match="one shape per operand"):
        expand_ellipsis(spec, [(2, 3)])


def test_expand_ellipsis_agrees_with_torch_einsum():
    import torch

    cases = [
        ("...ij,...jk->...ik", [(7, 1, 2, 3), (5, 3, 4)]),
        ("...ij,...jk->ik", [(2, 2, 3), (2, 3, 4)]),
        ("i...,...i", [(3, 1, 4), (2, 4, 3)]),
        ("...ii->...i", [(2, 3, 3)]),
        ("a...b,b...->...", [(2, 3, 1, 4), (4, 5)]),
    ]
    gen = torch.Generator().manual_seed(0)
    for text, shapes in cases:
        tensors = [torch.randn(*s, generator=gen, dtype=torch.float64) for s in shapes]
        expected = torch.einsum(text, *tensors)
        spec = expand_ellipsis(parse_spec(text), shapes)
        letters = {}
        for op in (*spec.operands, spec.output):
            for i in op.indices:
                letters.setdefault(i, "abcdefghijklmnopqrstuvwxyz"[len(letters)])
        lettered = ",".join("".join(letters[i] for i in op.indices) for op in spec.operands)
        lettered += "->" + "".join(letters[i] for i in spec.output.indices)
        assert torch.allclose(torch.einsum(lettered, *tensors), expected), text


# --- 7. printing round trip -------------------------------------------------------------------------

ROUND_TRIP = [
    "a,->a",
    ",ab,->ab",
    ",,->",
    "c:, X: i -> i",
    "c: ->",
    "c: -> Y:",
    "X: i, s: -> Y: i",
    "aab,bc->ac",
    "ii->i",
    "ii->",
    "ii",
    "abab,b->a",
    "A: i i -> i",
    "T: i0 i0 j -> j",
    "T0: i0 i1, T1: i1 -> i0",
    "X: s_1, Y: s_1 -> s_1",
    "X: batch chan, W: out chan -> batch out",
    "X: batch chan -> ( batch )",
    "X: batch -> Y: batch",
    "...ij,...jk->...ik",
    "...ij,jk->ik",
    "A: ... i j, B: ... j k -> ... i k",
    "X: ... i0, Y: i0 -> ...",
    "a...b,b->a...",
    "...",
    "...,...->...",
    "Ba",
    "aB",
    "ij,jk",
    "b(st)xy,stu->bu",
    "...b(st)x,tx->...bx|x",
    "X: b x0, K: t x0 -> b t x0 | x0",
    "bsxy,tsxy->btxy|xy",
    "X: b b (s1 s2) x, A1: s1 t1 x -> b t1 x | x",
    "i j, j k -> i k",
    "ij,jk -> Y: ik",
    "a,,b->ab",
    "Input: batch chan, Weight: out chan -> Y: batch out",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip_new_syntax(text):
    spec = parse_spec(text)
    assert parse_spec(format_spec(spec)) == spec
    assert parse_spec(format_spec(spec, compact=False)) == spec


@pytest.mark.parametrize(
    "text,printed",
    [
        ("a,->a", "a,->a"),
        (",ab,->ab", ",ab,->ab"),
        ("A: i i -> i", "ii->i"),
        ("A: ... i j, B: ... j k -> ... i k", "...ij,...jk->...ik"),
        ("c:, X: i -> i", "c:, X: i -> i"),
        ("c: ->", "c: ->"),
        ("T0: i0 i1, T1: i1 -> i0", "T0: i0 i1, T1: i1 -> i0"),
        ("X: ... i0, Y: i0 -> ...", "X: ... i0, Y: i0 -> ..."),
        ("X: batch chan, Y: ( chan ) -> Z: ( batch )", "X: batch chan, Y: ( chan ) -> Z: ( batch )"),
    ],
)
def test_format_spec_prints_the_new_syntax(text, printed):
    assert format_spec(parse_spec(text)) == printed


def test_a_lone_long_index_prints_as_a_group_of_one():
    # "batch" alone without spaces reads one letter per index (as "bsxy" does); "( batch )" is the index
    assert _modes("X: ( batch ) chan -> ( batch )") == ([(("batch",), ("chan",))], (("batch",),))
    err = _error("X: batch chan -> batch")
    assert err.token == "b"


def test_compact_refused_for_a_lone_scalar():
    spec = Spec((Operand("A", ()),), Operand("out", ()), ())
    assert format_spec(spec) == "A: ->"
    assert parse_spec(format_spec(spec)) == spec
    with pytest.raises(TnvizError, match="compact"):
        format_spec(spec, compact=True)


_INDEX_POOL = ["a", "b", "c", "i", "j", "B", "s1", "t_2", "batch", "x0", "_k"]


@st.composite
def _specs(draw):
    """Random valid specs: scalars, repeats, groups, ellipsis, long indices, names or not."""
    count = draw(st.integers(1, 4))
    operands = []
    for _ in range(count):
        modes = []
        for _ in range(draw(st.integers(0, 4))):
            used = {i for m in modes for i in m}
            grouped = {i for m in modes if len(m) > 1 for i in m}
            if draw(st.integers(0, 4)) == 0:  # a group: its indices appear once in the operand
                free = [i for i in _INDEX_POOL if i not in used]
                modes.append(tuple(draw(st.lists(st.sampled_from(free), min_size=2, max_size=3, unique=True))))
            else:  # a single index, possibly a repeat (a diagonal)
                modes.append((draw(st.sampled_from([i for i in _INDEX_POOL if i not in grouped])),))
        if draw(st.booleans()):
            modes.insert(draw(st.integers(0, len(modes))), (ELLIPSIS,))
        operands.append(tuple(modes))
    if count == 1 and not operands[0]:
        operands[0] = (("i",),)
    held = sorted({i for modes in operands for m in modes for i in m} - {ELLIPSIS})
    out = [(i,) for i in draw(st.lists(st.sampled_from(held), unique=True))] if held else []
    if any((ELLIPSIS,) in modes for modes in operands) and draw(st.booleans()):
        out.insert(draw(st.integers(0, len(out))), (ELLIPSIS,))
    if draw(st.booleans()):
        names, out_name = default_names(count), "out"
    else:
        pool = st.sampled_from(["X", "W", "K1", "T_0", "c", "Big"])
        names = draw(st.lists(pool, min_size=count, max_size=count, unique=True))
        out_name = draw(st.sampled_from(["out", "Y", "Z9"]))
    operands = tuple(Operand(n, modes) for n, modes in zip(names, operands))
    return Spec(operands, Operand(out_name, tuple(out)), ())


@settings(max_examples=300, deadline=None)
@given(_specs())
def test_round_trip_property(spec):
    printed = format_spec(spec)
    assert parse_spec(printed) == spec, printed
    assert parse_spec(format_spec(spec, compact=False)) == spec


def test_einsum_letters_are_torchs_52_and_the_53rd_index_is_named():
    from tnviz.core.spec import EINSUM_LETTERS, einsum_letters

    names = [f"i{k}" for k in range(53)]
    assert einsum_letters(names[:52]) == dict(zip(names, EINSUM_LETTERS)) and len(EINSUM_LETTERS) == 52
    with pytest.raises(TnvizError, match="a step with 53 indices; torch.einsum takes at most 52") as err:
        einsum_letters(names, "a step")
    assert err.value.token == "i52"
