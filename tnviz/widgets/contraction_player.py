"""ContractionPlayer: a contraction plan played step by step on the drawing, beside another plan."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import ipywidgets as W

from tnviz.core.diagram import Diagram
from tnviz.core.inputs import default_inputs
from tnviz.core.plan import opt_einsum_path
from tnviz.core.playback import Frame, frames
from tnviz.errors import TnvizError
from tnviz.widgets._common import add_classes, error_html, figure_png, html_table, rebounded

__all__ = ["ContractionPlayer", "COMPARISONS"]

MARGIN = 0.5  # layout units around the whole network's picture, for the frames after it
# What the second panel can play: tnviz's searches, and opt_einsum's own path.
COMPARISONS = ("none", "left-to-right", "greedy", "hyper", "reconstruct", "opt_einsum")


class ContractionPlayer(W.VBox):
    """Play a diagram's contraction plan one step at a time: the two operands of the next step
    in green on the drawing, then merged into the intermediate ``T{k}`` where they stood; each
    step's FLOPs and result size and the running totals (FLOPs so far, elements alive, peak) —
    beside a second plan (left-to-right by default) played in step, to show why the order matters.

    Args:
        diagram: a Diagram or spec; sizes must be bound (or given by ``sizes``).
        sizes: sizes to bind, in any form :meth:`Diagram.parse` accepts.
        optimize: the first plan's setting (as :meth:`Diagram.plan`).
        compare: the second plan: one of :data:`COMPARISONS` (``"opt_einsum"``:
            ``opt_einsum.contract_path``'s path, for diagrams without convolution; ``"none"``:
            one panel).

    Attributes (read them in tests): ``plans`` (name → Plan), ``frames`` (name → list of
    :class:`~tnviz.core.playback.Frame`), ``step`` (the slider: steps taken), ``last_steps``
    (name → the step count each plan has), ``message``.

    CSS classes: ``tn-contraction-player`` (the whole), ``tn-player-step`` (the slider),
    ``tn-player-play``, ``tn-player-compare`` (the dropdown), ``tn-player-error``,
    ``tn-player-panel`` (one per plan, holding ``tn-player-caption``, ``tn-player-picture`` and
    ``tn-player-figures``).

    Example:
        >>> from tnviz.templates import mps, norm
        >>> player = ContractionPlayer(norm(mps(5, bond=4)))
        >>> player.step.value = player.step.max  # played to its end
        >>> player.frames["auto"][-1].diagram.tensor_names
        ('T9',)
    """

    def __init__(
        self,
        diagram: Diagram | str,
        sizes: Mapping[str, Any] | None = None,
        optimize: Any = "auto",
        compare: str = "left-to-right",
    ) -> None:
        diagram = Diagram.parse(diagram) if isinstance(diagram, str) else diagram
        if not isinstance(diagram, Diagram):
            raise TnvizError(f"expected a Diagram or a spec, got {type(diagram).__name__}", token="diagram")
        self.diagram = diagram.bind(sizes) if sizes else diagram
        if not self.diagram.is_bound:
            raise TnvizError("bind the sizes first (sizes=…): a plan is made for sizes", token="sizes")
        self.optimize = optimize
        self.plans: dict[str, Any] = {}
        self.frames: dict[str, list[Frame]] = {}
        self.message = ""
        self._pictures: dict[tuple[str, int], bytes] = {}
        self._extents: dict[str, tuple[float, float, float, float]] = {}
        self._positions = _base_positions(self.diagram)
        self.step = W.IntSlider(value=0, min=0, max=1, description="step", continuous_update=True)
        self.play = W.Play(value=0, min=0, max=1, interval=1200, description="play")
        self._link = W.jslink((self.play, "value"), (self.step, "value"))
        self.compare_box = W.Dropdown(description="beside", options=COMPARISONS, value=_checked(compare))
        self.panels = W.HBox(layout=W.Layout(flex_flow="row wrap", width="100%"))
        self.error_label = W.HTML()
        add_classes(
            "tn-player-",
            (
                (self.step, "step"),
                (self.play, "play"),
                (self.compare_box, "compare"),
                (self.error_label, "error"),
            ),
        )
        self._controls = W.HBox([self.play, self.step, self.compare_box], layout=W.Layout(flex_flow="row wrap"))
        super().__init__([self._controls, self.error_label, self.panels])
        self.add_class("tn-contraction-player")
        self._panels: dict[str, tuple[W.HTML, W.Image, W.HTML]] = {}
        self.step.observe(self._step_changed, names="value")
        self._set_plans(compare)
        self.compare_box.observe(lambda change: self._set_plans(change["new"]), names="value")

    # --- plans ------------------------------------------------------------------------------
    def _set_plans(self, compare: str) -> None:
        self.plans = {
            "auto" if self.optimize == "auto" else str(self.optimize): self.diagram.plan(optimize=self.optimize)
        }
        self.message = ""
        if compare != "none":
            second = compare if compare not in self.plans else f"{compare} (beside)"
            try:
                self.plans[second] = _comparison_plan(self.diagram, compare)
            except TnvizError as err:
                self.message = f"{compare}: {err.message}"
        self.frames = {name: frames(plan) for name, plan in self.plans.items()}
        self.last_steps = {name: len(f) - 1 for name, f in self.frames.items()}
        longest = max(self.last_steps.values())
        children = []
        self._panels = {}
        for name in self.plans:
            caption = W.HTML()
            caption.add_class("tn-player-caption")
            picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
            picture.add_class("tn-player-picture")
            figures = W.HTML()
            figures.add_class("tn-player-figures")
            panel = W.VBox(
                [caption, picture, figures], layout=W.Layout(flex="1 1 360px", min_width="300px", max_width="620px")
            )
            panel.add_class("tn-player-panel")
            self._panels[name] = (caption, picture, figures)
            children.append(panel)
        self.panels.children = children
        self.error_label.value = error_html(self.message) if self.message else ""
        self._bound_steps(max(longest, 1))  # after the panels: a lowered step shows the new plans
        self._show()

    def _bound_steps(self, last: int) -> None:
        """The step slider and the play button end at ``last`` (a new slider where that moved)."""
        slider = rebounded(self.step, self._controls, 0, last)
        self.play.max = last
        if slider is not self.step:
            self._link.close()
            self.step = slider
            self.play.value = slider.value
            self._link = W.jslink((self.play, "value"), (slider, "value"))
            slider.observe(self._step_changed, names="value")

    def _step_changed(self, change: dict) -> None:
        if change["new"] >= self.step.max and self.play.playing:
            # Stopped here, before the last frame is sent: the Play button would otherwise stop only
            # at its next tick, and a step taken back before then (a key, a drag) would play on.
            self.play.playing = False
        self._show()

    # --- one frame --------------------------------------------------------------------------
    def _show(self) -> None:
        for name, (caption, picture, figures) in self._panels.items():
            frame = self.frames[name][min(self.step.value, self.last_steps[name])]
            plan = self.plans[name]
            if frame.following is None:
                text = f"{name}: done in {frame.done} steps, {plan.flops:,} FLOPs"
            else:
                text = f"{name}: next {' · '.join(frame.following_operands)} (in green)"
            caption.value = f"<b>{html.escape(text)}</b>"
            picture.value = self._picture(name, frame)
            figures.value = self._figures(name, frame)

    def _picture(self, name: str, frame: Frame) -> bytes:
        key = (name, frame.done)
        if key not in self._pictures:
            from tnviz.render import draw
            from tnviz.render.scene import build_scene, make_style

            plan = self.plans[name]
            pinned = self._pinned(frame)
            inputs = [t for t, members in frame.members.items() if set(members) & set(plan.inputs)]
            if name not in self._extents:  # every frame framed as the first: one size, one scale
                first = self.frames[name][0]
                style = make_style({"pinned": self._pinned(first), "inputs": list(self.plans[name].inputs)})
                x0, y0, x1, y1 = build_scene(first.diagram, style).bounds()  # laid out, not drawn
                # room for an intermediate's legs and labels where it sits on the hull
                self._extents[name] = (x0 - MARGIN, y0 - MARGIN, x1 + MARGIN, y1 + MARGIN)
            fig = draw(
                frame.diagram,
                pinned=pinned,
                highlight=frame.following_operands,
                inputs=inputs,
                extent=self._extents[name],
            )
            self._pictures[key] = figure_png(fig, tight=False)
        return self._pictures[key]

    def _pinned(self, frame: Frame) -> dict[str, tuple[float, float]]:
        """Each tensor where it stands in the whole network; an intermediate at the centre of what it merged."""
        return {t: _centre([self._positions[m] for m in members]) for t, members in frame.members.items()}

    def _figures(self, name: str, frame: Frame) -> str:
        plan = self.plans[name]
        total = max(plan.flops, 1)
        rows = []
        if frame.step is not None:
            before = self.frames[name][frame.done - 1].following_operands
            made = f"{frame.result} = {' · '.join(before)}"
            rows.append(("step", f"{frame.done} of {len(plan.steps)}: {made}"))
            rows.append(("its FLOPs", f"{frame.step.flops:,}"))
            held = " ".join(frame.step.indices) or "a scalar"
            rows.append(("its result", f"{frame.step.size:,} element{'s' * (frame.step.size != 1)} ({held})"))
        else:
            rows.append(("step", f"0 of {len(plan.steps)}: the network as drawn"))
        rows += [
            ("FLOPs so far", f"{frame.flops_done:,} of {plan.flops:,} ({100 * frame.flops_done / total:.0f} %)"),
            ("alive now", f"{frame.live_elements:,} elements"),
            ("peak so far", f"{frame.peak_elements:,} elements (plan's peak {plan.peak_elements:,})"),
        ]
        return html_table(["", html.escape(name)], rows, css_class="tn-table")


def _checked(compare: str) -> str:
    if compare not in COMPARISONS:
        raise TnvizError(f"compare={compare!r}; expected one of {', '.join(COMPARISONS)}", token=str(compare))
    return compare


def _comparison_plan(diagram: Diagram, compare: str) -> Any:
    if compare != "opt_einsum":
        return diagram.plan(optimize=compare)
    return diagram.plan(optimize=opt_einsum_path(diagram))


def _base_positions(diagram: Diagram) -> dict[str, tuple[float, float]]:
    """Where each tensor sits in the drawing of the whole network (every frame pins its
    tensors there, an intermediate at the centre of what it merged)."""
    from tnviz.render.layout import layout

    positions = layout(diagram, inputs=default_inputs(diagram)).positions
    return {name: positions[name] for name in diagram.tensor_names}


def _centre(points: list[tuple[float, float]]) -> tuple[float, float]:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
