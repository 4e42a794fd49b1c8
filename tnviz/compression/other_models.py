"""Networks unlike the paper's, to compress as a user's own: what the test suite and
``benchmarks/compress_models.py`` run ``compress`` on besides the reference networks.

* :class:`MobileNetLike` — MobileNet-v2's inverted residual blocks (1×1 expand, depthwise 3×3,
  1×1 project) and a grouped convolution: what ``compress`` keeps dense, and why.
* :class:`Encoder` — a small transformer encoder (``nn.TransformerEncoderLayer``): attention's
  projections and the feed-forward Linears.
* :class:`AudioNet` — ``Conv1d`` features and :class:`ScaledLinear`, a Linear subclass with a
  forward of its own (replacing it would drop the scale, so it stays dense).
"""

from __future__ import annotations

from torch import nn

__all__ = ["InvertedResidual", "MobileNetLike", "Encoder", "ScaledLinear", "AudioNet"]


class InvertedResidual(nn.Module):
    """MobileNet-v2's block: expand 1×1, depthwise 3×3, project 1×1."""

    def __init__(self, channels: int, expand: int):
        super().__init__()
        hidden = channels * expand
        self.conv = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return x + self.conv(x)


class MobileNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = nn.Sequential(InvertedResidual(16, 4), InvertedResidual(16, 4))
        self.grouped = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.grouped(self.blocks(self.stem(x)))
        return self.head(x.mean((2, 3)))


class Encoder(nn.Module):
    """A small transformer encoder: token embedding, two encoder layers, a classifier."""

    def __init__(self, width: int = 32, batch_first: bool = True):
        super().__init__()
        self.embed = nn.Embedding(50, width)
        layer = nn.TransformerEncoderLayer(width, 4, 64, dropout=0.0, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.classify = nn.Linear(width, 3)

    def forward(self, tokens, mask=None):
        return self.classify(self.encoder(self.embed(tokens), src_key_padding_mask=mask).mean(1))


class ScaledLinear(nn.Linear):
    """A Linear subclass with a forward of its own (replacing it would drop the scale)."""

    def forward(self, x):
        return 2.0 * super().forward(x)


class AudioNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 9, stride=2), nn.ReLU(), nn.Conv1d(16, 32, 5), nn.ReLU(), nn.Conv1d(32, 32, 5)
        )
        self.scaled = ScaledLinear(32, 32)
        self.out = nn.Linear(32, 5)

    def forward(self, x):
        return self.out(self.scaled(self.features(x).mean(-1)))
