"""Plan transforms, applied while copying into the shadows: `embed` (fold a child collection), `rewrite`."""

from mongo_promote.domain.transforms.effects import expected_effects
from mongo_promote.domain.transforms.fold import EmbedError, EmbedStats
from mongo_promote.domain.transforms.rewrite import RewriteStats
from mongo_promote.domain.transforms.stream import FoldMerge, StreamTransformer

__all__ = [
    "EmbedError",
    "EmbedStats",
    "FoldMerge",
    "RewriteStats",
    "StreamTransformer",
    "expected_effects",
]
