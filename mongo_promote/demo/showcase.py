"""The demo's building blocks: its two local servers, seeding with progress, its options and result."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from mongo_promote.adapters.mongo import Bounds
from mongo_promote.adapters.servers import LocalServer, start_pair, temporary_pair
from mongo_promote.console import Output
from mongo_promote.demo.writer import HandshakeWriter, Targets, handshake_commands
from mongo_promote.domain.inventory import Inventory
from mongo_promote.files import private_dir
from mongo_promote.run.dryrun import DryRun
from mongo_promote.state.context import open_clients
from mongo_promote.state.report import RunSummary
from mongo_promote.steps.validate import ValidationReport

SeedProgress = Callable[[str, str, int], None]
# the demo's application: new messages, conversations touched, notifications deleted
MEESHY_WRITES = Targets(insert_into="Message", update_in="Conversation", delete_from="Notification")


class DemoView(Protocol):
    """How the demo shows what it found and did (the CLI draws tables)."""

    def inventory(self, inventory: Inventory) -> None: ...

    def dry_run(self, dry_run: DryRun) -> None: ...

    def summary(self, summary: RunSummary) -> None: ...

    def validation(self, report: ValidationReport) -> None: ...


class NoView:
    """A demo without tables (a library caller that only wants the result)."""

    def inventory(self, inventory: Inventory) -> None:
        pass

    def dry_run(self, dry_run: DryRun) -> None:
        pass

    def summary(self, summary: RunSummary) -> None:
        pass

    def validation(self, report: ValidationReport) -> None:
        pass


@dataclass(frozen=True)
class DemoOptions:
    scale: float = 1
    keep: bool = False
    seed: int = 42
    state_dir: Path = Path("mongo-promote-demo")  # the demo's runs/ and backups/
    engine: str = (
        "ferretdb"  # ferretdb (v1, light) | documentdb (FerretDB v2 + PostgreSQL) | mongod
    )
    view: DemoView = field(default_factory=NoView)  # what shows the demo's tables
    network_timeout: timedelta | None = None  # --network-timeout (None: the plan's, 2m)


@dataclass
class DemoResult:
    run_id: str | None
    status: str
    report: str | None
    backup_dir: str | None
    validation_passed: bool
    kept_servers: list[LocalServer] = field(default_factory=list)  # only with `keep`


# The demo's stand-ins for the bundled plan's commands: local, harmless, and they say so.
DEMO_COMMANDS = {
    "MEESHY_RESTART_GATEWAY": "echo 'demo: here production would restart its gateway (ssh "
    "$MEESHY_REMOTE_HOST ... docker compose restart gateway)'",
}


def demo_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the demo loads the bundled plan with: the process's, minus every MEESHY_*
    variable (a production host or URL set in this shell is never read), plus local commands."""
    base = os.environ if env is None else env
    kept = {k: v for k, v in base.items() if not k.startswith("MEESHY_")}
    return {**kept, **DEMO_COMMANDS}


@contextmanager
def demo_servers(out: Output, options: DemoOptions) -> Iterator[list[LocalServer]]:
    """Staging and production on 127.0.0.1: kept under the state dir, or temporary and deleted."""
    out.step("demo 1", "starting two local servers (staging, production) on 127.0.0.1")
    if options.keep:
        yield start_pair(options.state_dir / "servers", engine=options.engine)
        return
    with (
        tempfile.TemporaryDirectory(prefix="mongo-promote-demo-") as tmp,
        temporary_pair(Path(tmp), engine=options.engine) as (staging, production),
    ):
        out.info(
            f"  staging    {staging.kind} {staging.uri}\n"
            f"  production {production.kind} {production.uri}"
        )
        yield [staging, production]


def seed_servers(
    source_uri: str,
    target_uri: str,
    *,
    source_database: str,
    target_database: str,
    scale: float,
    seed: int,
    progress: SeedProgress | None = None,
    out: Output | None = None,
    network_timeout: timedelta | None = None,
) -> dict[str, Any]:
    """Fill staging and production with the synthetic Meeshy data; returns the generator's manifest.

    With `out`, progress shows as a status line and a one-line summary follows.
    """
    from mongo_promote.demo.generator import generate  # 1,500 lines: only when seeding

    bounds = (
        Bounds(network_timeout.total_seconds(), origin="--network-timeout")
        if network_timeout
        else None
    )
    with (
        open_clients(source_uri, target_uri, bounds) as (source, target),
        _progress_on(out, progress) as report,
    ):
        manifest = generate(
            source[source_database],
            target[target_database],
            seed=seed,
            scale=scale,
            progress=report,
        )
    if out is not None:
        out.info(_seed_summary(manifest, scale, seed))
    return manifest


@contextmanager
def _progress_on(
    out: Output | None, progress: SeedProgress | None
) -> Iterator[SeedProgress | None]:
    if out is None:
        yield progress
        return
    with out.progress("seeding ...") as update:

        def report(side: str, collection: str, n: int) -> None:
            update(f"seeding {side}.{collection}: {n:,} documents")
            if progress is not None:
                progress(side, collection, n)

        yield report


def _seed_summary(manifest: dict[str, Any], scale: float, seed: int) -> str:
    counts = {side: sum(manifest[side]["collections"].values()) for side in ("source", "target")}
    return (
        f"seeded scale {scale:g} (seed {seed}): staging {counts['source']:,} documents, "
        f"production {counts['target']:,} documents, "
        f"{manifest['translations']['total']:,} translations"
    )


@dataclass(frozen=True)
class DemoFreeze:
    """The demo's write freeze: the bundled plan's freeze commands (ssh to the gateway) replaced
    by a flag-file handshake with the demo's own writer; its after_cutover hook by an echo."""

    flag: Path
    ack: Path
    backups: Path

    @classmethod
    def under(cls, state_dir: Path) -> DemoFreeze:
        directory = private_dir(state_dir.resolve() / "freeze")
        freeze = cls(
            directory / "frozen", directory / "frozen.ack", state_dir.resolve() / "backups"
        )
        freeze.flag.unlink(missing_ok=True)
        freeze.ack.unlink(missing_ok=True)
        return freeze

    def env(self, gateway: str) -> dict[str, str]:
        """The environment the demo loads the bundled plan with (`demo_environment`: no MEESHY_*
        variable of this shell), its freeze commands the handshake, its health checks (the
        gate) pointed at the demo's local `gateway` (demo/gateway.py)."""
        start, end = handshake_commands(self.flag, self.ack)
        return {
            **demo_environment(),
            "MEESHY_FREEZE_START": start,
            "MEESHY_FREEZE_END": end,
            "MEESHY_BACKUP_DIR": str(self.backups),
            "MEESHY_GATEWAY_URL": gateway,
            "MEESHY_FRONTEND_URL": gateway,
        }

    def writer(self, target_uri: str, database: str = "meeshy") -> HandshakeWriter:
        """The demo's application, writing once the run's backup is written (so that every
        write it makes before the freeze is one the catch-up must find)."""
        since = time.time()

        def backup_written() -> bool:
            return any(m.stat().st_mtime >= since for m in self.backups.glob("*/manifest.json"))

        return HandshakeWriter(
            target_uri, database, MEESHY_WRITES, flag=self.flag, ack=self.ack, gate=backup_written
        )


def writer_lines(writer: HandshakeWriter, freeze: dict[str, Any]) -> list[str]:
    """What the demo says of its writer against the run's report: the writes caught up, none in
    the window, the writes after it in the promoted collections."""
    if not freeze.get("started_at") or not freeze.get("ended_at"):
        return [f"the writer made {len(writer.writes)} write(s); the freeze did not complete"]
    stopped = datetime.fromisoformat(freeze["start_returned_at"]).timestamp()
    resumed = datetime.fromisoformat(freeze["end_launched_at"]).timestamp()
    before = [w for w in writer.writes if w.ended <= stopped]
    inside = writer.writes_between(stopped, resumed)
    after = writer.writes_after(resumed)
    expected = writer.caught_up(stopped).to_json()
    reported = {
        n: {k: c[k] for k in ("inserted", "changed", "deleted")}
        for n, c in (freeze.get("caught_up") or {}).items()
    }
    verdict = (
        "the report's caught-up writes match"
        if expected == reported
        else f"MISMATCH: the report says {reported}"
    )
    return [
        f"the writer: {len(before)} write(s) before the freeze, by _id {expected}: {verdict}",
        f"  {len(inside)} write(s) inside the window ({freeze['window_s']:.2f} s)",
        f"  {len(after)} write(s) after freeze.end, into the promoted collections",
    ]
