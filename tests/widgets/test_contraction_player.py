"""ContractionPlayer: the slider steps both plans, the pictures keep one size, the figures follow."""

import io

import pytest
from PIL import Image

from tnviz import Diagram, TnvizError
from tnviz.templates import mps, norm
from tnviz.widgets import ContractionPlayer


def _size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_playing_to_the_end_shows_each_step_and_the_totals():
    d = norm(mps(5, bond=4))
    player = ContractionPlayer(d)
    assert set(player.plans) == {"auto", "left-to-right"}
    sizes = set()
    captions = []
    for k in range(player.step.max + 1):
        player.step.value = k
        for name, (caption, picture, _) in player._panels.items():
            sizes.add((name, _size(picture.value)))
            if name == "auto":
                captions.append(caption.value)
    assert len(sizes) == 2  # one picture size per plan: frames never jump
    first = player.frames["auto"][0].following_operands
    assert f"next {' · '.join(first)}" in captions[0]
    assert "done in 9 steps" in captions[-1]
    figures = player._panels["auto"][2].value
    plan = player.plans["auto"]
    assert f"{plan.flops:,} of {plan.flops:,} (100 %)" in figures


def test_the_comparison_can_change_and_opt_einsums_path_is_played():
    player = ContractionPlayer(norm(mps(4, bond=3)), compare="none")
    assert list(player.plans) == ["auto"]
    player.compare_box.value = "opt_einsum"
    assert list(player.plans) == ["auto", "opt_einsum"]
    assert len(player.panels.children) == 2
    assert player.last_steps["opt_einsum"] == len(player.plans["opt_einsum"].steps)


def test_the_step_slider_shown_is_the_one_played_and_linked():
    player = ContractionPlayer(norm(mps(4, bond=3)))
    shown = [player]
    for widget in shown:
        shown.extend(getattr(widget, "children", ()))
    assert player.step in shown and player.step.max == player.play.max == 7
    assert player._link.target == (player.step, "value") and player._link.source == (player.play, "value")
    player.step.value = 7
    assert "done in 7 steps" in player._panels["auto"][0].value


def test_opt_einsum_beside_a_convolution_says_why_not():
    d = Diagram.parse("X: b s x, K: t s x -> b t x | x", sizes={"b": 1, "s": 2, "t": 3, "x": (9, 3)})
    player = ContractionPlayer(d, compare="opt_einsum")
    assert "convolution" in player.message and "tn-error" in player.error_label.value
    assert list(player.plans) == ["auto"]


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ContractionPlayer("A: i j, B: j k -> i k"), "bind the sizes"),
        (lambda: ContractionPlayer(norm(mps(3)), compare="fastest"), "compare='fastest'"),
    ],
)
def test_bad_input_is_refused(make, match):
    with pytest.raises(TnvizError, match=match):
        make()


def test_opt_einsums_path_beside_a_broadcast_output_and_a_setting_beside_itself():
    d = Diagram.parse("A: i r, B: r k -> i k j", sizes={"i": 3, "r": 2, "k": 4, "j": 2})
    player = ContractionPlayer(d, compare="opt_einsum")
    assert player.message == "" and list(player.plans) == ["auto", "opt_einsum"]
    twice = ContractionPlayer(norm(mps(4)), optimize="greedy", compare="greedy")
    assert list(twice.plans) == ["greedy", "greedy (beside)"] and len(twice.panels.children) == 2


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_every_frame_is_drawn_at_the_first_ones_scale():
    player = ContractionPlayer(norm(mps(12)), compare="none")
    seen = set()
    for k in range(player.step.max + 1):
        player.step.value = k
        seen.add(_size(player._panels["auto"][1].value))
    assert len(seen) == 1


def test_play_stops_at_the_last_step_so_a_step_back_stays_back():
    # The Play button would stop only at its next tick after the last step; a key press back
    # before then was played forward again (seen in the browser test under load).
    player = ContractionPlayer(norm(mps(4, bond=3)), compare="none")
    last = player.step.max
    player.play.playing = True
    player.step.value = last - 1
    assert player.play.playing  # still playing before the end
    player.step.value = last
    assert not player.play.playing
    player.step.value = last - 2  # a step back after the end is not undone
    assert player.step.value == last - 2 and not player.play.playing
