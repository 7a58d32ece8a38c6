"""`history`: every run under a state directory, read tolerantly from its journal and report, with
the links between them (a rollback or cleanup names the run it acted on; a restore, the backup),
each run's attempts (the first, then one per --resume), and which run's collections production
holds now (`current_holders`: from the journals, the last cutover not undone)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mongo_promote.state.context import RunPaths
from mongo_promote.state.journal import Journal, Kind, journal_of, run_ids
from mongo_promote.state.report import Status, seconds_between


@dataclass
class RunEntry:
    run_id: str
    command: str  # run, backup, restore, rollback, cleanup, refresh (unknown: no readable header)
    status: str  # as its report says (state.report.Status); unknown when missing or torn
    started_at: str | None  # its first attempt's start
    duration_s: float | None  # first start to last end, resumes included
    backup_dir: str | None
    acted_on: str | None = None  # the run this one rolled back, cleaned up after, or restored
    restored_from: str | None = None  # restore and rollback: the backup directory they loaded
    acted_on_by: list[dict[str, str]] = field(default_factory=list)  # {run_id, command}
    # {started_at, finished_at, outcome, error}: outcome succeeded, failed, interrupted (None:
    # still going, or a crash not resumed)
    attempts: list[dict[str, Any]] = field(default_factory=list)

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
    attempts = [asdict(a) for a in journal.attempts()]
    started = (
        (attempts[0]["started_at"] if attempts else None)
        or report.get("started_at")
        or (header.at if header else None)
    )
    finished = report.get("finished_at") or journal.ended_at()
    backup = (report.get("backup") or {}).get("dir") or _journal_backup(journal)
    return RunEntry(
        run_id=run_id,
        command=command,
        status=str(report.get("status") or Status.UNKNOWN),
        started_at=started,
        duration_s=seconds_between(started, finished),
        backup_dir=backup,
        acted_on=header.acted_on if header else None,
        restored_from=(header.backup or None) if header else None,
        attempts=attempts,
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


def current_holders(base: Path, entries: list[RunEntry]) -> dict[str, str]:
    """Which run's content each collection of production holds now, from the journals alone:
    the last run or restore that cut it over and was not rolled back since. A rollback puts back
    what a collection held before the run it undoes (so neither that run nor any after it holds
    it); a rollback of that rollback gives it back to the run it had undone. Collections no
    recorded run cut over are absent."""
    holders: dict[str, list[str]] = {}  # collection -> run ids, oldest first
    undid: dict[str, str] = {}  # rollback id -> the run it undid
    for entry in entries:
        journal = journal_of(base, entry.run_id)
        header = journal.find_header()
        if header is None or header.command in ("backup", "refresh"):
            continue
        touched = [c.collection for c in journal.cutovers()]
        dropped = [c.collection for c in journal.acted_on() if c.kind == Kind.DROP and c.dropped]
        if header.command == "rollback" and header.rolls_back:
            _undo(holders, header.rolls_back, undid.get(header.rolls_back), touched + dropped)
            undid[entry.run_id] = header.rolls_back
            continue
        for name in touched:
            holders.setdefault(name, []).append(entry.run_id)
        for name in dropped:
            holders.pop(name, None)  # dropped: nobody's any more
    return {name: runs[-1] for name, runs in holders.items() if runs}


def _undo(
    holders: dict[str, list[str]], undone: str, undone_undid: str | None, names: list[str]
) -> None:
    """A rollback of run `undone` put these collections back as they were before it."""
    for name in names:
        runs = holders.setdefault(name, [])
        if undone_undid is not None:  # a rollback of a rollback: that rollback's run is back
            runs.append(undone_undid)
        elif undone in runs:
            del runs[runs.index(undone) :]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _journal_backup(journal: Journal) -> str | None:
    backup = journal.backup_of()
    return backup.dir if backup is not None else None
