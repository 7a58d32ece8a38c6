"""What a run does to each collection, decided from the inventory alone (pure: no server, no writes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mongo_promote.domain.inventory import CollectionInfo, Inventory
from mongo_promote.domain.plan import Plan


@dataclass
class CollectionAction:
    """One collection the run builds in a shadow and installs at cutover."""

    name: str
    action: Literal["create", "replace"]
    source_count: int
    source_size: int
    target_count: int | None
    target_size: int | None
    source_indexes: list[dict[str, Any]] = field(repr=False)
    source_options: dict[str, Any]
    transforms: list[str] = field(default_factory=list)
    declared_indexes: list[str] = field(default_factory=list)

    @property
    def transformed(self) -> bool:
        return bool(self.transforms)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["source_indexes"] = [ix["name"] for ix in self.source_indexes]
        return data


@dataclass
class LeftAlone:
    name: str
    cls: str
    where: str
    reason: str


@dataclass
class Actions:
    collections: list[CollectionAction]
    left_alone: list[LeftAlone]
    backup: list[str]  # target collections the backup holds
    backup_bytes: int

    def by_name(self) -> dict[str, CollectionAction]:
        return {a.name: a for a in self.collections}

    @property
    def replaced(self) -> list[str]:
        return [a.name for a in self.collections if a.action == "replace"]

    @property
    def created(self) -> list[str]:
        return [a.name for a in self.collections if a.action == "create"]

    def to_json(self) -> dict[str, Any]:
        return {
            "collections": [a.to_json() for a in self.collections],
            "left_alone": [asdict(x) for x in self.left_alone],
            "backup": {"collections": self.backup, "bytes": self.backup_bytes},
        }


def analyse(plan: Plan, inventory: Inventory) -> Actions:
    """Every source collection the plan copies becomes an action; everything else is left alone."""
    source, target = inventory.source.by_name(), inventory.target.by_name()
    actions = [
        _action(plan, s, target.get(name)) for name, s in source.items() if plan.copies(name)
    ]
    acted = {a.name for a in actions}
    left = [
        _left_alone(plan, name, name in source, name in target)
        for name in sorted(set(source) | set(target))
        if name not in acted
    ]
    backup = sorted(target)
    return Actions(actions, left, backup, sum(t.size for t in target.values()))


def _action(plan: Plan, src: CollectionInfo, tgt: CollectionInfo | None) -> CollectionAction:
    transforms = [
        f"embed {e.source} as {e.as_field}.<{'|'.join(e.key.source)}>"
        for e in plan.embeds
        if e.into == src.name
    ]
    transforms += [
        f"rewrite {r.find!r} -> {r.replace!r} in {', '.join(r.fields)}"
        for r in plan.rewrites
        if r.collection == src.name
    ]
    return CollectionAction(
        name=src.name,
        action="replace" if tgt else "create",
        source_count=src.count,
        source_size=src.size,
        target_count=tgt.count if tgt else None,
        target_size=tgt.size if tgt else None,
        source_indexes=src.index_specs,
        source_options=src.options,
        transforms=transforms,
        declared_indexes=[
            ix.name or default_index_name(ix.keys) for ix in plan.indexes.get(src.name, [])
        ],
    )


def default_index_name(keys: Mapping[str, Any] | list[tuple[str, Any]]) -> str:
    """The name MongoDB gives an unnamed index: `a_1_b_-1`."""
    pairs = keys.items() if isinstance(keys, Mapping) else keys
    return "_".join(f"{k}_{v}" for k, v in pairs)


def _left_alone(plan: Plan, name: str, in_source: bool, in_target: bool) -> LeftAlone:
    cls = plan.classify(name)
    where = "both" if in_source and in_target else ("source only" if in_source else "target only")
    reasons = {
        "embed_source": "folded into its parent (keep_source: false); cleanup drops it later",
        "excluded": "excluded by the plan",
        "legacy": "legacy: untouched now, `cleanup` drops it after min_age",
        "unmatched": "not selected by the plan",
        "copy": "only in the target: nothing to copy",
    }
    return LeftAlone(name, cls, where, reasons[cls])
