"""Plan transforms applied to shadow collections: `embed` (fold a child collection), `rewrite`."""

from mongo_promote.transforms.embed import (
    EmbedError,
    EmbedStats,
    embed_into_shadow,
    iter_folded,
    plan_embed,
)
from mongo_promote.transforms.rewrite import (
    RewriteError,
    RewriteStats,
    plan_rewrite,
    rewrite_shadow,
)

__all__ = [
    "EmbedError",
    "EmbedStats",
    "RewriteError",
    "RewriteStats",
    "embed_into_shadow",
    "iter_folded",
    "plan_embed",
    "plan_rewrite",
    "rewrite_shadow",
]
