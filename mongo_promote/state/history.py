"""`history`: every run under a state directory, read tolerantly from its journal and report, with
the links between them (a rollback or cleanup names the run it acted on; a restore, the backup)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mongo_promote.state.context import RunPaths
from mongo_promote.state.journal import Journal, journal_of, run_ids


@dataclass
class RunEntry:
    run_id: str
    command: str  # run, restore, rollback, cleanup, refresh (unknown: no readable header)
    status: str  # as its report says; unknown when the report is missing or torn
    started_at: str | None
    duration_s: float | None
    backup_dir: str | None
    acted_on: str | None = None  # the run this one rolled back, cleaned up after, or restored
    restored_from: str | None = None  # restore and rollback: the backup directory they loaded
    acted_on_by: list[dict[str, str]] = field(default_factory=list)  # {run_id, command}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_history(base: Path) -> list[RunEntry]:
    """Oldest first. Nothing here raises on a damaged run directory: it is listed as far as readable."""
    entries = sorted(
        (_entry(base, run_id) for run_id in run_ids(base)),
        key=lambda e: (e.started_at or "", e.run_id),  # two runs may start in the same second
    )
    _link(entries)  # links in the same order: what acted first comes first
    return entries


def _entry(base: Path, run_id: str) -> RunEntry:
    report = _read_json(RunPaths.under(base, run_id).report_json)
    journal = journal_of(base, run_id)
    header = journal.find_header()
    if header is not None:
        command = header.command
    elif run_id.startswith("refresh-") or report.get("command") == "refresh-staging":
        command = "refresh"
    else:
        command = "unknown"
    started = report.get("started_at") or (header.at if header else None) or None
    finished = report.get("finished_at") or journal.ended_at()
    backup = (report.get("backup") or {}).get("dir") or _journal_backup(journal)
    return RunEntry(
        run_id=run_id,
        command=command,
        status=str(report.get("status") or "unknown"),
        started_at=started,
        duration_s=_seconds(started, finished),
        backup_dir=backup,
        acted_on=header.acted_on if header else None,
        restored_from=(header.backup or None) if header else None,
    )


def _link(entries: list[RunEntry]) -> None:
    """Both ways: a rollback/cleanup names its run; a restore names the backup it loaded."""
    by_id = {e.run_id: e for e in entries}
    by_backup = {str(Path(e.backup_dir).resolve()): e for e in entries if e.backup_dir}
    for entry in entries:
        if entry.command == "restore" and entry.acted_on is None:
            entry.acted_on = _restored_run(entry, by_backup)
        target = by_id.get(entry.acted_on or "")
        if target is not None:
            target.acted_on_by.append({"run_id": entry.run_id, "command": entry.command})


def _restored_run(entry: RunEntry, by_backup: dict[str, RunEntry]) -> str | None:
    if not entry.restored_from:
        return None
    source = by_backup.get(str(Path(entry.restored_from).resolve()))
    return source.run_id if source is not None and source is not entry else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _journal_backup(journal: Journal) -> str | None:
    backup = journal.backup_of()
    return backup.dir if backup is not None else None


def _seconds(started: str | None, finished: str | None) -> float | None:
    try:
        if started and finished:
            delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
            return round(delta.total_seconds(), 3)
    except (TypeError, ValueError):
        pass
    return None
