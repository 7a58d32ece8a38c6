"""Collection options (validator, collation, capped, ...): which a target is expected to drop, and
which a collection it holds lacks or holds otherwise than expected (no server needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongo_promote.adapters.mongo import Capabilities

# The options validation holds a shadow to (what listCollections shows); the rest (storage
# engine settings, index defaults) are the server's business.
OPTION_KEYS = (
    "validator",
    "validationLevel",
    "validationAction",
    "collation",
    "capped",
    "size",
    "max",
    "timeseries",
    "clusteredIndex",
    "changeStreamPreAndPostImages",
)
# an option that only means something with another: lost with it
_WITH = {"validationLevel": "validator", "validationAction": "validator", "size": "capped",
         "max": "capped"}  # fmt: skip


def checked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of OPTION_KEYS among `options` (a source's, a backup's)."""
    return {k: v for k, v in options.items() if k in OPTION_KEYS}


def expected_losses(options: Mapping[str, Any], caps: Capabilities) -> list[str]:
    """The options a collection created with `options` would lose on this target, as its
    capabilities tell (probed on a run; expected from its version in a dry-run): a validator
    neither `create` nor `collMod` keeps, a capped size or a collation `create` drops.
    Options no probe tries (timeseries, clusteredIndex, ...) are checked on the shadow itself."""
    kept = set(caps.create_keeps) | ({"validator"} if caps.coll_mod_validator else set())
    probed = {"validator", "capped", "collation"}
    lost = []
    for key in checked_options(options):
        head = _WITH.get(key, key)
        if head in probed and head not in kept:
            lost.append(key)
    return lost


def differences(expected: Mapping[str, Any], kept: Mapping[str, Any]) -> list[str]:
    """The options of `expected` that `kept` (a shadow's, from listCollections) lacks or holds
    otherwise. A server may add defaults (a collation's every field, a time series' bucket
    span): what was asked must be there, extra fields are not a difference."""
    return [k for k, v in checked_options(expected).items() if k not in kept or not _holds(kept[k], v)]


def _holds(have: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and _holds(have[k], v) for k, v in want.items()
        )
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(
            _holds(h, w) for h, w in zip(have, want, strict=True)
        )
    if isinstance(want, bool) or isinstance(have, bool):
        return have is want
    return bool(have == want)
