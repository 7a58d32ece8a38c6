"""Tables and summary lines the commands print: rendering only, from the library's results."""

from __future__ import annotations

from typing import Protocol

from rich.table import Table

from mongo_promote import api
from mongo_promote.adapters.servers import LocalServer
from mongo_promote.console import Output, human_bytes

INVENTORY_COLUMNS = (
    "collection",
    "class",
    "where",
    "source docs",
    "target docs",
    "source size",
    "target size",
    "indexes",
)


def inventory_table(inv: api.Inventory) -> Table:
    source, target = inv.source.by_name(), inv.target.by_name()
    table = Table(
        title=f"source {inv.source.uri} db={inv.source.database}  →  "
        f"target {inv.target.uri} db={inv.target.database}"
    )
    for column in INVENTORY_COLUMNS:
        table.add_column(
            column, justify="right" if "docs" in column or "size" in column else "left"
        )
    for name in sorted(set(source) | set(target)):
        s, t = source.get(name), target.get(name)
        info = s or t
        assert info is not None
        where = "both" if s and t else ("new in source" if s else "only in target")
        table.add_row(
            name,
            info.cls,
            where,
            f"{s.count:,}" if s else "-",
            f"{t.count:,}" if t else "-",
            human_bytes(s.size) if s else "-",
            human_bytes(t.size) if t else "-",
            ", ".join(info.indexes),
        )
    return table


def validation_table(report: api.ValidationReport) -> Table:
    table = Table(title="validation: " + ("passed" if report.passed else "FAILED"))
    for column in ("check", "collection", "result", "detail"):
        table.add_column(column)
    for c in report.checks:
        result = "ok" if c.passed else ("warning" if c.severity == "warning" else "FAILED")
        table.add_row(c.kind, c.collection, result, c.detail)
    return table


class DemoTables:
    """The demo's view: its inventory and validation as the tables `inspect` and `validate` print."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def inventory(self, inventory: api.Inventory) -> None:
        self.out.table(inventory_table(inventory))

    def validation(self, report: api.ValidationReport) -> None:
        self.out.table(validation_table(report))


class Restored(Protocol):
    collections: list[str]
    documents: int
    dropped: list[str]

    def to_json(self) -> dict[str, object]: ...


def restored(out: Output, result: Restored, json_out: bool) -> None:
    """What `restore` and `rollback` print."""
    if json_out:
        out.emit_json(result.to_json())
        return
    if getattr(result, "nothing_to_do", None):
        return  # the command said why it touched nothing
    out.info(
        f"restored {len(result.collections)} collection(s), {result.documents:,} documents"
        + (f"; dropped {', '.join(result.dropped)}" if result.dropped else "")
    )


def server_uris(pair: list[LocalServer]) -> dict[str, str]:
    by_role = {s.role: s.uri for s in pair}
    return {"source_uri": by_role.get("staging", ""), "target_uri": by_role.get("production", "")}


def server_pair(out: Output, pair: list[LocalServer], json_out: bool) -> None:
    """The two local servers, and the exports that point the bundled plan at them."""
    if json_out:
        out.emit_json(server_uris(pair))
        return
    for server in pair:
        out.info(f"{server.role:<10} {server.kind:<8} {server.uri}  (data {server.data_dir})")
    uris = server_uris(pair)
    out.info(
        f"\nexport STAGING_MONGO_URI={uris['source_uri']}\nexport PROD_MONGO_URI={uris['target_uri']}"
    )
