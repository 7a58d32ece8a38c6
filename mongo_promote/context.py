"""What every step of a run shares: the plan, both connections, capabilities, the run id and its clock."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from mongo_promote.conn import RAW, Capabilities
from mongo_promote.console import Output
from mongo_promote.errors import Interrupted
from mongo_promote.plan import LoadedPlan, Plan

SHADOW_INFIX = "__promote_"
ASIDE_INFIX = "__old_"


def new_run_id(now: datetime | None = None) -> str:
    """`YYYYMMDD-HHMMSS-xxxx`: sorts by time, and two runs in the same second still differ."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def run_clock() -> datetime:
    """The run's `$now`: one timestamp, truncated to what BSON dates store (milliseconds)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class RunContext:
    loaded: LoadedPlan
    run_id: str
    source_client: MongoClient[Any]
    target_client: MongoClient[Any]
    source_caps: Capabilities
    target_caps: Capabilities
    out: Output
    run_dir: Path
    now: datetime = field(default_factory=run_clock)
    workers: int = 4
    dry_run: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    fallbacks: list[str] = field(default_factory=list)

    @property
    def plan(self) -> Plan:
        return self.loaded.plan

    @property
    def source_db(self) -> Database[Any]:
        """Reads return RawBSONDocument: documents travel as bytes, never decoded."""
        return self.source_client.get_database(self.plan.source.database, codec_options=RAW)

    @property
    def target_db(self) -> Database[Any]:
        return self.target_client.get_database(self.plan.target.database, codec_options=RAW)

    def shadow_name(self, name: str) -> str:
        return f"{name}{SHADOW_INFIX}{self.run_id}"

    def aside_name(self, name: str) -> str:
        return f"{name}{ASIDE_INFIX}{self.run_id}"

    def check_cancelled(self) -> None:
        """Long loops call this between batches so Ctrl-C stops work promptly and cleanly."""
        if self.cancel.is_set():
            raise Interrupted("interrupted by the user")

    def fallback(self, note: str) -> None:
        """A feature the server lacks and what we did instead; it goes into the report."""
        if note not in self.fallbacks:
            self.fallbacks.append(note)
            self.out.warn(note)
