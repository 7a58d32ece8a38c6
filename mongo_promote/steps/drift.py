"""STEP 7: before cutover, prove production still holds what the backup holds, or stop and say what moved."""

from __future__ import annotations

from dataclasses import dataclass

from mongo_promote.checksum import collection_content_hash
from mongo_promote.context import RunContext


@dataclass
class Drift:
    collection: str
    backed_up: str  # content hash "<count>:<hex>" at backup time
    now: str


def check_drift(ctx: RunContext, backed_up: dict[str, str], names: list[str]) -> list[Drift]:
    """Re-fingerprint each live collection cutover will replace; a write since the backup would be lost."""
    drifted = []
    for name in names:
        if name not in backed_up:
            continue
        ctx.check_cancelled()
        now = collection_content_hash(ctx.target_db[name]).hexdigest()
        if now != backed_up[name]:
            drifted.append(Drift(name, backed_up[name], now))
    return drifted
