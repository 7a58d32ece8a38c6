"""Read-only inventory of both sides: every collection, its class under the plan, counts, sizes, indexes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from mongo_promote.adapters.mongo import collection_stats, long_operation
from mongo_promote.domain.names import is_tool_collection, kept
from mongo_promote.domain.plan import Plan
from mongo_promote.redact import redact_uri


@dataclass
class CollectionInfo:
    name: str
    cls: str
    count: int
    size: int
    indexes: list[str]
    options: dict[str, Any]
    in_source: bool
    in_target: bool
    index_specs: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["class"] = data.pop("cls")
        data.pop("index_specs")
        return data


@dataclass
class SideInventory:
    uri: str  # already redacted
    database: str
    collections: list[CollectionInfo]

    def by_name(self) -> dict[str, CollectionInfo]:
        return {c.name: c for c in self.collections}

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "database": self.database,
            "collections": [c.to_json() for c in self.collections],
        }


@dataclass
class Inventory:
    source: SideInventory
    target: SideInventory

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.to_json(), "target": self.target.to_json()}


def collection_names(db: Database[Any], *, with_kept: bool = False) -> list[str]:
    """Application collections only: no system.* namespaces, no views, no collection of the
    tool (shadows, asides; the kept ones too unless `with_kept`: previous, kept aside)."""
    return sorted(collection_specs(db, with_kept=with_kept))


def collection_specs(db: Database[Any], *, with_kept: bool = False) -> dict[str, dict[str, Any]]:
    """Application collections (as `collection_names`) and the options the server kept for each,
    from one listCollections."""
    found = {}
    for spec in db.list_collections():
        name = spec["name"]
        if name.startswith("system.") or spec.get("type", "collection") != "collection":
            continue
        if not is_tool_collection(name) or (with_kept and kept(name) is not None):
            found[name] = dict(spec.get("options", {}))
    return found


def collection_size(db: Database[Any], name: str) -> int:
    """Uncompressed data size; 0 where the server can't tell (it is informative only)."""
    return collection_stats(db, name)[1]


def counted(coll: Collection[Any], expected: int) -> int:
    """How many documents `coll` holds, for a check against `expected`: the server's stored count
    when it agrees (no scan), otherwise a counting scan decides. Servers keep that count with
    every write (MongoDB's can be off after an unclean shutdown; a pass would then need it off
    by exactly the difference), and the checks that use this have a content hash behind them."""
    stored, size = collection_stats(coll.database, coll.name)
    if stored == expected:
        return expected
    with long_operation(coll, size=size, documents=max(stored or 0, expected)):
        return coll.count_documents({})


def describe(
    db: Database[Any],
    name: str,
    plan: Plan,
    *,
    in_source: bool,
    in_target: bool,
    options: dict[str, Any],
) -> CollectionInfo:
    """What the analysis shows of one collection. Its count is the server's stored one when it
    has one (informative: shown, and used to order and size the work; every check counts again).
    `options`: what listCollections shows for it (read once for the whole database)."""
    coll = db[name]
    index_specs = [dict(ix) for ix in coll.list_indexes()]
    stored, size = collection_stats(db, name)
    kept_one = kept(name)
    return CollectionInfo(
        name=name,
        cls=kept_one.cls if kept_one is not None else plan.classify(name),
        count=stored if stored is not None else _count(coll, size),
        size=size,
        indexes=[ix["name"] for ix in index_specs],
        options=options,
        in_source=in_source,
        in_target=in_target,
        index_specs=index_specs,
    )


def _count(coll: Collection[Any], size: int) -> int:
    """A counting scan where the server keeps no count (bounded by the collection's size)."""
    with long_operation(coll, size=size, documents=0):
        return coll.count_documents({})


def take_inventory(
    plan: Plan, source_db: Database[Any], target_db: Database[Any], *, with_kept: bool = False
) -> Inventory:
    """One listCollections per side (names and options), then per collection its collStats and
    listIndexes, asked side by side; `with_kept` (inspect): the target's previous and kept-aside
    collections too, each under its own class."""
    source_specs = collection_specs(source_db)
    target_specs = collection_specs(target_db, with_kept=with_kept)

    def side(db: Database[Any], uri: str, specs: dict[str, dict[str, Any]]) -> SideInventory:
        # Two round trips per collection: asked side by side, they cost one collection's worth.
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="inventory") as pool:
            infos = list(
                pool.map(
                    lambda n: describe(
                        db,
                        n,
                        plan,
                        in_source=n in source_specs,
                        in_target=n in target_specs,
                        options=specs[n],
                    ),
                    sorted(specs),
                )
            )
        return SideInventory(redact_uri(uri), db.name, infos)

    return Inventory(
        side(source_db, plan.source.uri, source_specs),
        side(target_db, plan.target.uri, target_specs),
    )
