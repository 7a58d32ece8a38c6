"""`history`: every run under a state directory, read tolerantly from its journal and report, with
the links between them (a rollback or cleanup names the run it acted on; a restore, the backup)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mongo_promote.state.journal import Journal, runs_dir

# header key of each command's journal that names the run it acted on
LINKS = {"rollback": "rolls_back", "cleanup": "cleans_up"}


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
    directory = runs_dir(base)
    if not directory.is_dir():
        return []
    entries = sorted(
        (_entry(d) for d in directory.iterdir() if d.is_dir()),
        key=lambda e: (e.started_at or "", e.run_id),  # two runs may start in the same second
    )
    _link(entries)  # links in the same order: what acted first comes first
    return entries


def _entry(run_dir: Path) -> RunEntry:
    report = _read_json(run_dir / "report.json")
    events = Journal(run_dir / "journal.jsonl").events()
    header = next((e for e in events if e.get("event") == "run_started"), {})
    if header:
        command = str(header.get("command", "run"))
    elif run_dir.name.startswith("refresh-") or report.get("command") == "refresh-staging":
        command = "refresh"
    else:
        command = "unknown"
    started = report.get("started_at") or header.get("at")
    finished = report.get("finished_at") or _last_end(events)
    backup = (report.get("backup") or {}).get("dir") or _journal_backup(events)
    acted_on = header.get(LINKS.get(command, ""))
    return RunEntry(
        run_id=run_dir.name,
        command=command,
        status=str(report.get("status") or "unknown"),
        started_at=started,
        duration_s=_seconds(started, finished),
        backup_dir=backup,
        acted_on=str(acted_on) if acted_on else None,
        restored_from=str(header["backup"]) if header.get("backup") else None,
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


def _last_end(events: list[dict[str, Any]]) -> str | None:
    ends = [e.get("at") for e in events if e.get("event") in ("run_finished", "run_failed")]
    return str(ends[-1]) if ends and ends[-1] else None


def _journal_backup(events: list[dict[str, Any]]) -> str | None:
    for e in events:
        if e.get("event") == "action_finished" and e.get("key") == "backup":
            return str(((e.get("result") or {}).get("backup") or {}).get("dir") or "") or None
    return None


def _seconds(started: str | None, finished: str | None) -> float | None:
    try:
        if started and finished:
            delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
            return round(delta.total_seconds(), 3)
    except (TypeError, ValueError):
        pass
    return None
