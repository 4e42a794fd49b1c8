"""The paper's convolutional layers, 8→8 3×3, built by tnviz's own formats (one definition of
each: ``tnviz/core/formats``) at small fixed ranks, for the planner's tests."""

from tnviz.core.formats import LayerConfig, get_format

# ranks and channel factors small enough for exhaustive plan checks
RANKS = {
    "dense": {},
    "cp": {"r": 6},
    "tk": {"p": 4, "q": 4},
    "tt": {"r1": 3, "r2": 3, "r3": 3},
    "tr": {"r0": 2, "r1": 3, "r2": 3, "r3": 3},
    "mcp": {"r": 5},
    "mtk": {"p1": 2, "p2": 3, "q1": 2, "q2": 3},
    "mtt": {"r1": 3, "r2": 3},
    "mtr": {"r0": 2, "r1": 3, "r2": 3},
}
FACTORS = {"mcp": (2, 2, 2), "mtk": (2, 4), "mtt": (2, 4), "mtr": (2, 4)}
LAYERS = sorted(RANKS)


def built(name, channels=8):
    """The named format's BuiltLayer for a ``channels``→``channels`` 3×3 convolution."""
    factors = FACTORS.get(name)
    config = LayerConfig(
        channels,
        channels,
        (3, 3),
        order=len(factors) if factors else 3,
        in_factors=factors,
        out_factors=factors,
    )
    return get_format(name).build(config, RANKS[name])


def bound(name, batch=4, channels=8, length=10, padding=1):
    """The named layer's Diagram bound for a batch of ``channels``-channel ``length``² images."""
    return built(name, channels).diagram(padding=padding).bind({}, shapes={"X": (batch, channels, length, length)})
