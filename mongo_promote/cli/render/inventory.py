"""What `inspect` and `servers` show: the inventory of both sides, the local servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mongo_promote.adapters.servers import LocalServer
from mongo_promote.console import Output, human_bytes

if TYPE_CHECKING:
    from mongo_promote import api

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
