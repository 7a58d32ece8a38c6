"""The run journal, `runs/<id>/journal.jsonl`: the one module that writes and reads its records.

Writers name events by the constants below; readers ask the typed queries of `Journal`
(`header`, `finished_actions`, `cutovers`, `backup_of`, `acted_on`, ...) and, across a state
directory, `open_journal`, `latest_run`, `rolled_back_by`. No other module parses a line, an
event name or an action key."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote.errors import UsageError
from mongo_promote.files import open_private, private_dir
from mongo_promote.redact import redact_data
from mongo_promote.state.context import RunPaths, runs_dir

# ---------------------------------------------------------------- the records, one name each

RUN_STARTED = "run_started"  # the header (`Header`): what the run was asked to do
RUN_RESUMED = "run_resumed"
RUN_FAILED = "run_failed"  # status, error
RUN_FINISHED = "run_finished"  # status: a finished run is never resumed
ACTION_STARTED = "action_started"  # the action (`ActionRef`: key, step, kind, phase, collection)
ACTION_FINISHED = "action_finished"  # the same, shadow (its work lives in shadows), result
ON_FAILURE_HOOK = "on_failure_hook"  # key, and result or error
SHADOWS_DROPPED = "shadows_dropped"  # a failure before cutover dropped every shadow
SHADOWS_STALE = "shadows_stale"  # collections: shadows a resume found stale (dropped, redone)
COPIED = "copied"  # collection, and the copy step's entry (count, content_hash, ...)
CUTOVER_FINGERPRINT = "cutover_fingerprint"  # collection, content_hash: right before its rename
CUTOVER_DRIFT = "cutover_drift"  # collection, problem, overridden
# collection, kept_as, kept_uuid, installed_uuid, installed_count, kept_fingerprint (`Renames`),
# installed_fingerprint (a swap's, when known): right before the renames of a cutover that keeps
# what it replaces (a rollback's swaps are planned in its header, which stands for these records)
CUTOVER_RENAMES = "cutover_renames"
# collections: this run's own renames were undone (steps.swap.undo_renames); its cutover
# actions count as not done (`--resume` cuts over again) and it acted on nothing
CUTOVER_UNDONE = "cutover_undone"
LOCK_LOST = "lock_lost"  # reason
# The write freeze (issue 17): a span runs from the first FREEZE_STARTED after the last
# FREEZE_ENDED (a resume runs freeze.start again inside the same span) to FREEZE_ENDED.
FREEZE_STARTED = "freeze_started"  # launching freeze.start (again, on resume); skipped: --no-hooks
FREEZE_ENDED = "freeze_ended"  # freeze.end returned, every command ok: the application writes again
FREEZE_KEPT = (
    "freeze_kept"  # a failure left production part-way cut over: the freeze NOT ended; why
)
CAUGHT_UP = "caught_up"  # collection, and the catch-up's entry (changed, content_hash, stats, ...)
JOURNAL_REPAIRED = "journal_repaired"  # dropped_bytes: the torn last line a crash left


class Kind:
    """The kinds of action the queries look for (a step's `kind`; other steps name their own)."""

    BACKUP = "backup"  # its result: {"backup": the backup's record} (`Backup`)
    CUTOVER = "cutover"  # one per collection renamed in (and one, without, for the asides)
    DROP = "drop"  # one per collection dropped; its result: {"dropped": it was there}
    FREEZE_START = "freeze-start"  # the freeze's start commands (one action)
    FREEZE_END = "freeze-end"  # the freeze's end commands (one action)
    CATCH_UP = "catch-up"  # a freeze's catch-up (one action; CAUGHT_UP records per collection)


_CUTOVER_PHASE = "cutover"  # the step phase whose actions change production (state.step.Phase)


@dataclass(frozen=True)
class ActionRef:
    """An action as its two records name it: its key (stable across a resume), the step number
    the run prints, its step's kind and phase, and the collection it acts on (None: no one)."""

    key: str
    step: int
    kind: str
    phase: str
    collection: str | None


# ---------------------------------------------------------------- what the queries return


@dataclass(frozen=True)
class Header:
    """What a run was asked to do: its journal's first record."""

    run_id: str
    command: str  # run, restore, rollback, cleanup
    at: str  # when the journal began (ISO 8601)
    plan: str | None
    fingerprint: str | None  # the plan's: a resume under another plan is refused
    backup: str | None  # restore, rollback: the backup they load
    only: list[str] | None  # restore, rollback: the collections they load (None: every one)
    drop: list[str]  # restore, rollback: the collections they drop; cleanup: the ones it drops
    rolls_back: str | None  # rollback: the run it undoes
    cleans_up: str | None  # cleanup: the run it follows
    fields: dict[str, Any]  # every field as recorded (the command's own: to continue it with)

    @property
    def now(self) -> datetime:
        """The run's one `$now`, the same across resumes."""
        try:
            return datetime.fromisoformat(str(self.fields["now"]))
        except (KeyError, ValueError) as exc:
            raise UsageError(f"run {self.run_id}: its journal records no $now") from exc

    @property
    def acted_on(self) -> str | None:
        """The run this one rolled back or cleaned up after."""
        return self.rolls_back or self.cleans_up


@dataclass(frozen=True)
class Backup:
    """The backup a run took of what it changes (its backup action's result)."""

    dir: str
    replaced: list[str]  # collections the run replaces (a rollback loads them back)
    created: list[str]  # collections the run creates (a rollback drops them)
    content_hashes: dict[str, str]  # "<count>:<hex>" per collection (its manifest has them too)


@dataclass(frozen=True)
class Cutover:
    """A collection a run renamed in, journalled as done."""

    collection: str
    at: datetime  # when the rename was journalled
    fingerprint: str | None  # content hash "<count>:<hex>" journalled right before the rename


@dataclass(frozen=True)
class Renames:
    """The renames of one collection that keep what they replace (a cutover with keep_previous,
    a rollback's swap), journalled before the first of them: where the live collection goes and
    what the name holds after. UUIDs are listCollections' `info.uuid` (hex), None where the
    server gives none or there is no such collection."""

    collection: str
    kept_as: str | None  # where the live collection is kept (None: the name was free)
    kept_uuid: str | None
    installed_uuid: str | None  # what the name holds after (None: nothing, a rollback took it out)
    installed_count: int | None
    # the kept collection's content hash "<count>:<hex>", when known without reading it (the
    # run's backup of it; what the rolled-back run installed): cleanup's "changed since" baseline
    kept_fingerprint: str | None
    at: datetime  # when the renames were about to start

    @classmethod
    def of(cls, event: dict[str, Any]) -> Renames:
        count = event.get("installed_count")
        return cls(
            str(event.get("collection")),
            _text(event.get("kept_as")),
            _text(event.get("kept_uuid")),
            _text(event.get("installed_uuid")),
            None if count is None else int(count),
            _text(event.get("kept_fingerprint")),
            datetime.fromisoformat(str(event["at"])),
        )


@dataclass(frozen=True)
class Change:
    """A collection whose cutover or drop a run started: the journal's part of what it changed
    in production (an unfinished one: the server tells how far it got)."""

    collection: str
    kind: str  # Kind.CUTOVER or Kind.DROP
    finished: bool
    dropped: bool  # a finished drop that found the collection there
    fingerprint: str | None  # a cutover's content hash journalled before its rename
    renames: Renames | None = None  # renames that kept what they replaced


@dataclass(frozen=True)
class Attempt:
    """One go at a run: the first, then one per `--resume`. `outcome` is succeeded, failed or
    interrupted (an attempt that ended without a word, killed, and was resumed, counts as
    interrupted); None while it is still going (or a crash nobody resumed yet)."""

    started_at: str
    finished_at: str | None
    outcome: str | None
    error: str | None


@dataclass(frozen=True)
class Span:
    """Something the run did from one time to another, for its timeline: an action in its
    step's lane (`lane` = the step's kind), or one collection on the worker that did it
    (`lane` = the worker thread, e.g. copy_0, backup_1). `finished_at` None: it never finished
    (the action that failed, or one interrupted)."""

    step: int
    lane: str
    label: str
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class Freeze:
    """The run's latest write-freeze span, as journalled (none: `started_at` is None)."""

    started_at: str | None  # the span's first launch of freeze.start (ISO 8601 UTC)
    ended_at: str | None  # when freeze.end returned, every command ok (None: not ended)
    # each collection the span's catch-up finished, by collection: the catch-up's entry
    caught_up: dict[str, dict[str, Any]]

    @property
    def holding(self) -> bool:
        """freeze.start ran and freeze.end has not (yet) ended it: the application is stopped."""
        return self.started_at is not None and self.ended_at is None


# ---------------------------------------------------------------- the journal


class Journal:
    """`journal.jsonl`: one line per completed unit of work, written only after the unit is verified.

    The file is private (0600 in a 0700 run directory) and every string in it is scrubbed of known
    secrets. A line torn by a crash is repaired before the next record is appended, and readers
    skip an unreadable line instead of losing every record after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._checked = False

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> Journal:
        private_dir(path.parent)
        journal = cls(path)
        journal.record(RUN_STARTED, **header)
        return journal

    # ------------------------------------------------------------ writing

    def record(self, event: str, **data: Any) -> None:
        self.record_all([(event, data)])

    def record_all(self, records: list[tuple[str, dict[str, Any]]], *, sync: bool = True) -> None:
        """Records appended in order, one line each, written and fsynced together (a cutover
        journals every collection's fingerprint before its first rename with one fsync).
        `sync=False`: not fsynced now (the next synced record makes it durable): only for a
        record whose loss a resume recovers from the server's state."""
        at = datetime.now(UTC).isoformat()
        lines = "".join(
            json.dumps(redact_data({"event": event, "at": at, **data}), default=str) + "\n"
            for event, data in records
        )
        with self._lock:
            repaired = self._repair_torn_tail() if not self._checked else None
            self._checked = True
            with open_private(self.path, "a") as fh:
                if repaired is not None:
                    note = {"event": JOURNAL_REPAIRED, "at": datetime.now(UTC).isoformat()}
                    fh.write(json.dumps({**note, "dropped_bytes": repaired}) + "\n")
                fh.write(lines)
                fh.flush()
                if sync:
                    os.fsync(fh.fileno())

    def action_started(self, action: ActionRef) -> None:
        self.record(ACTION_STARTED, **asdict(action))

    def action_finished(
        self, action: ActionRef, *, shadow: bool, result: dict[str, Any], sync: bool = True
    ) -> None:
        """`shadow`: the action's work lives in shadows (forgotten once they are dropped).
        `sync=False`: see `record_all` (a rename's, redone or recognised on resume)."""
        self.record_all(
            [(ACTION_FINISHED, {**asdict(action), "shadow": shadow, "result": result})], sync=sync
        )

    def _repair_torn_tail(self) -> int | None:
        """A crash mid-write leaves a last line without its newline: complete it when it is a whole
        record, else cut it off (that unit of work was never recorded). Returns bytes dropped."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            return None
        with open(self.path, "rb+") as fh:
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                return None
            start = 0  # journals are small: kilobytes
            fh.seek(start)
            tail = fh.read()
            cut = tail.rfind(b"\n") + 1
            fragment = tail[cut:]
            if _parses(fragment):
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
                dropped = 0
            else:
                fh.truncate(start + cut)
                dropped = len(fragment)
            fh.flush()
            os.fsync(fh.fileno())
        return dropped

    # ------------------------------------------------------------ reading

    def events(self) -> list[dict[str, Any]]:
        """Every readable record, in order (for the queries below, and for people and tests)."""
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # torn by a crash (the last line) or damaged: later records still count
            if isinstance(event, dict) and "event" in event:
                events.append(event)
        return events

    def find_header(self) -> Header | None:
        """The header, or None when no readable record starts the run (never raises)."""
        record = next((e for e in self.events() if e["event"] == RUN_STARTED), None)
        return None if record is None else _header(record)

    def header(self) -> Header:
        header = self.find_header()
        if header is None:
            raise UsageError(f"{self.path} has no {RUN_STARTED} record")
        return header

    def is_finished(self) -> bool:
        """The run ended (succeeded, or its post-checks failed): it cannot be resumed."""
        return any(e["event"] == RUN_FINISHED for e in self.events())

    def ended_at(self) -> str | None:
        """When the run last finished or failed (ISO 8601), if it did."""
        ends = [e.get("at") for e in self.events() if e["event"] in (RUN_FINISHED, RUN_FAILED)]
        return str(ends[-1]) if ends and ends[-1] else None

    def attempts(self) -> list[Attempt]:
        """Every attempt of the run, in order: the first, then each resume."""
        attempts: list[dict[str, Any]] = []
        last_at = ""
        for e in self.events():
            at = str(e.get("at", ""))
            if e["event"] in (RUN_STARTED, RUN_RESUMED):
                if attempts and attempts[-1]["outcome"] is None:  # killed, then resumed
                    attempts[-1].update(finished_at=last_at or None, outcome="interrupted")
                attempts.append({"started_at": at, "finished_at": None, "outcome": None})
            elif e["event"] in (RUN_FAILED, RUN_FINISHED) and attempts:
                status = str(e.get("status", ""))
                outcome = (
                    "succeeded"
                    if e["event"] == RUN_FINISHED and status == "succeeded"
                    else "interrupted"
                    if status == "interrupted"
                    else "failed"
                )
                error = e.get("error")
                attempts[-1].update(finished_at=at, outcome=outcome, error=error)
            last_at = at or last_at
        return [
            Attempt(a["started_at"], a["finished_at"], a["outcome"], _text(a.get("error")))
            for a in attempts
        ]

    def spans(self) -> list[Span]:
        """The run's timeline: each action (its last start to its finish), each collection the
        backup dumped and the copy copied, on its worker."""
        events = self.events()
        started: dict[str, tuple[ActionRef, str]] = {}
        finished: dict[str, str] = {}
        workers: list[Span] = []
        for e in events:
            if e["event"] == ACTION_STARTED:
                started[_action(e).key] = (_action(e), str(e["at"]))
                finished.pop(_action(e).key, None)
            elif e["event"] == ACTION_FINISHED:
                ref = _action(e)
                finished[ref.key] = str(e["at"])
                for name, timing in _dict(_dict(e.get("result")).get("timings")).items():
                    t = _dict(timing)
                    workers.append(
                        Span(ref.step, str(t.get("worker") or ref.kind), name, *_span(t))
                    )
            elif e["event"] == COPIED and e.get("started_at"):
                step = next((a.step for a, _ in started.values() if a.kind == "copy"), 0)
                lane = str(e.get("worker") or "copy")
                workers.append(Span(step, lane, str(e.get("collection")), *_span(e)))
        actions = [
            Span(ref.step, ref.kind, ref.collection or "", at, finished.get(key))
            for key, (ref, at) in started.items()
        ]
        return sorted(actions, key=lambda s: s.started_at) + workers

    def windows(self) -> dict[str, tuple[str, str | None]]:
        """When production was being changed: `cutover` (first rename started to last done) and
        `freeze` (the application's writes stopped to resumed), as far as they happened."""
        found: dict[str, tuple[str, str | None]] = {}
        freeze = self.freeze()
        if freeze.started_at is not None:
            found["freeze"] = (freeze.started_at, freeze.ended_at)
        for e in self.events():
            at = str(e.get("at", ""))
            if e["event"] in (ACTION_STARTED, ACTION_FINISHED):
                if _action(e).phase != _CUTOVER_PHASE:
                    continue
                first = found.get("cutover", (at, None))[0]
                done = at if e["event"] == ACTION_FINISHED else found.get("cutover", (at, None))[1]
                found["cutover"] = (first, done)
        return found

    def finished_actions(self) -> dict[str, dict[str, Any]]:
        """Each action's result by key, for actions journalled as finished, minus the work on
        shadows that were dropped since (`--resume` skips these)."""
        done: dict[str, dict[str, Any]] = {}
        for event in self.events():
            if event["event"] == ACTION_FINISHED:
                done[_action(event).key] = event
            elif event["event"] == SHADOWS_DROPPED:
                done = {k: e for k, e in done.items() if not e.get("shadow")}
            elif event["event"] == CUTOVER_UNDONE:
                done = {k: e for k, e in done.items() if _action(e).phase != _CUTOVER_PHASE}
        return {key: _dict(e.get("result")) for key, e in done.items()}

    def started_cutover(self) -> bool:
        """An action that changes production (a rename, a drop) was started."""
        started = (_action(e) for e in self._current() if e["event"] == ACTION_STARTED)
        return any(a.phase == _CUTOVER_PHASE for a in started)

    def copied(self) -> dict[str, dict[str, Any]]:
        """Each collection's copy journalled when it ended, by collection: the copy step's entry."""
        return {
            str(e.get("collection", "")): _entry(e) for e in self.events() if e["event"] == COPIED
        }

    def freeze(self) -> Freeze:
        """The latest freeze span: when it started, whether it ended, what its catch-up did."""
        started: str | None = None
        ended: str | None = None
        caught: dict[str, dict[str, Any]] = {}
        for e in self.events():
            if e["event"] == FREEZE_STARTED and (started is None or ended is not None):
                started, ended, caught = str(e.get("at")), None, {}
            elif e["event"] == FREEZE_ENDED and started is not None:
                ended = str(e.get("at"))
            elif e["event"] == CAUGHT_UP and started is not None and ended is None:
                caught[str(e.get("collection"))] = _entry(e)
        return Freeze(started, ended, caught)

    def fingerprint_of(self, collection: str) -> str | None:
        """The content hash journalled right before `collection`'s rename, if any."""
        return _fingerprints(self._current()).get(collection)

    def renames(self) -> dict[str, Renames]:
        """The renames that kept what they replaced, latest per collection."""
        return {
            r.collection: r
            for r in (Renames.of(e) for e in self._current() if e["event"] == CUTOVER_RENAMES)
        }

    def kept(self) -> dict[str, Renames]:
        """Each collection this run kept (previous or taken out), by the name it is kept under."""
        return {r.kept_as: r for r in self.renames().values() if r.kept_as is not None}

    def cutovers(self) -> list[Cutover]:
        """The collections the run renamed in, journalled as done, in order."""
        events = self._current()
        prints = _fingerprints(events)
        done = [(_action(e), e) for e in events if e["event"] == ACTION_FINISHED]
        return [
            Cutover(a.collection, datetime.fromisoformat(str(e["at"])), prints.get(a.collection))
            for a, e in done
            if a.kind == Kind.CUTOVER and a.collection is not None
        ]

    def backup_of(self) -> Backup | None:
        """The backup the run took (journalled as done), if it took one; a collection a freeze's
        catch-up rewrote in it has the hash it was caught up to."""
        done = [
            e
            for e in self.events()
            if e["event"] == ACTION_FINISHED and _action(e).kind == Kind.BACKUP
        ]
        info = _dict(_dict(done[-1].get("result")).get("backup")) if done else {}
        if not info.get("dir"):
            return None
        hashes = dict(info.get("content_hashes") or {})
        for e in self.events():
            if e["event"] == CAUGHT_UP and e.get("content_hash"):
                hashes[str(e.get("collection"))] = str(e["content_hash"])
        return Backup(
            str(info["dir"]),
            list(info.get("replaced") or []),
            list(info.get("created") or []),
            hashes,
        )

    def acted_on(self) -> list[Change]:
        """Every collection whose cutover or drop the run started, once, in the order started."""
        events = self._current()
        prints = _fingerprints(events)
        renames = self.renames()
        finished = {_action(e).key: e for e in events if e["event"] == ACTION_FINISHED}
        started = [_action(e) for e in events if e["event"] == ACTION_STARTED]
        changes: dict[str, Change] = {}
        for a in started:
            if a.kind not in (Kind.CUTOVER, Kind.DROP) or a.collection is None or a.key in changes:
                continue
            done = finished.get(a.key)
            dropped = a.kind == Kind.DROP and bool(_dict((done or {}).get("result")).get("dropped"))
            fingerprint = prints.get(a.collection) if a.kind == Kind.CUTOVER else None
            kept = renames.get(a.collection) if a.kind == Kind.CUTOVER else None
            changes[a.key] = Change(
                a.collection, a.kind, done is not None, dropped, fingerprint, kept
            )
        return list(changes.values())

    def _current(self) -> list[dict[str, Any]]:
        """The records since this run last undid its own renames (all of them if it never did,
        with the renames a rollback's header plans: see `_planned_renames`)."""
        events = self.events()
        undone = [i for i, e in enumerate(events) if e["event"] == CUTOVER_UNDONE]
        if undone:
            return events[undone[-1] + 1 :]
        return [*_planned_renames(events), *events]


def _header(record: dict[str, Any]) -> Header:
    fields = {k: v for k, v in record.items() if k not in ("event", "at")}
    only = record.get("only")
    return Header(
        run_id=str(record.get("run_id", "")),
        command=str(record.get("command", "run")),  # journals from before restore: a run
        at=str(record.get("at", "")),
        plan=_text(record.get("plan")),
        fingerprint=_text(record.get("fingerprint")),
        backup=_text(record.get("backup")),
        only=None if only is None else [str(n) for n in only],
        drop=[str(n) for n in record.get("drop") or []],
        rolls_back=_text(record.get("rolls_back")),
        cleans_up=_text(record.get("cleans_up")),
        fields=fields,
    )


def _action(event: dict[str, Any]) -> ActionRef:
    """The action an action record names. Journals written before these records carried the
    action's kind, phase and collection name them by its key, "<kind>" or "<kind>:<collection>"."""
    key = str(event.get("key", ""))
    step = int(event.get("step") or 0)
    if "kind" in event:
        collection = event.get("collection")
        return ActionRef(
            key, step, str(event["kind"]), str(event.get("phase", "")), _text(collection)
        )
    kind, _, rest = key.partition(":")
    collection = rest if rest and key != f"{Kind.CUTOVER}:asides" else None
    phase = _CUTOVER_PHASE if kind in (Kind.CUTOVER, Kind.DROP) else ""
    return ActionRef(key, step, kind, phase, collection)


def _planned_renames(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rollback's header lists its swaps (`steps/swap.Swap.to_json`: collection, take_out,
    put_back, live_uuid, put_back_uuid, put_back_count, kept_fingerprint, put_back_fingerprint),
    journalled before any rename: each is that collection's `cutover_renames` record."""
    header = next((e for e in events if e["event"] == RUN_STARTED), None)
    if header is None:
        return []
    records = []
    for swap in header.get("swaps") or []:
        take, put = swap.get("take_out"), swap.get("put_back")
        records.append(
            {
                "event": CUTOVER_RENAMES,
                "at": header.get("at"),
                "collection": swap.get("collection"),
                "kept_as": take,
                "kept_uuid": swap.get("live_uuid") if take else None,
                "installed_uuid": swap.get("put_back_uuid") if put else None,
                "installed_count": swap.get("put_back_count") if put else None,
                "kept_fingerprint": swap.get("kept_fingerprint") if take else None,
                "installed_fingerprint": swap.get("put_back_fingerprint") if put else None,
            }
        )
    return records


def _fingerprints(events: list[dict[str, Any]]) -> dict[str, str]:
    """The latest fingerprint journalled before each collection's rename: a cutover's (the
    shadow's content hash), or a swap's (`installed_fingerprint` of its renames, when known)."""
    found = {}
    for e in events:
        if e["event"] == CUTOVER_FINGERPRINT:
            found[str(e.get("collection"))] = str(e.get("content_hash"))
        elif e["event"] == CUTOVER_RENAMES and e.get("installed_fingerprint"):
            found[str(e.get("collection"))] = str(e["installed_fingerprint"])
    return found


def _span(record: dict[str, Any]) -> tuple[str, str | None]:
    return str(record.get("started_at")), _text(record.get("finished_at"))
def _entry(event: dict[str, Any]) -> dict[str, Any]:
    """A per-collection record's own fields (COPIED, CAUGHT_UP)."""
    return {k: v for k, v in event.items() if k not in ("event", "at", "collection")}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _parses(fragment: bytes) -> bool:
    try:
        return isinstance(json.loads(fragment), dict)
    except ValueError:
        return False


# ---------------------------------------------------------------- the runs of a state directory


def run_ids(base: Path) -> list[str]:
    """Every run directory under `base` (the plan's directory or --state-dir), by name."""
    directory = runs_dir(base)
    return sorted(d.name for d in directory.iterdir() if d.is_dir()) if directory.is_dir() else []


def journal_of(base: Path, run_id: str) -> Journal:
    """Run `run_id`'s journal, as it is (none written yet: no records)."""
    return Journal(RunPaths.under(base, run_id).journal)


def open_journal(base: Path, run_id: str) -> Journal:
    journal = journal_of(base, run_id)
    if not journal.path.exists():
        raise UsageError(f"no run {run_id} under {runs_dir(base)} (nothing to resume or roll back)")
    return journal


def latest_run(base: Path, *, command: str = "run") -> str | None:
    """The newest run of `command` (run, restore, rollback) under base, by the time its journal
    began (ids sort by the second only: two runs in one second are told apart by their journal)."""
    started = []
    for run_id in run_ids(base):
        header = journal_of(base, run_id).find_header()
        if header is not None and header.command == command:
            started.append((header.at, run_id))
    return max(started)[1] if started else None


def rolled_back_by(base: Path, run_id: str) -> str | None:
    """The finished rollback of run `run_id` under base, if any (the latest)."""
    for other in reversed(run_ids(base)):
        journal = journal_of(base, other)
        header = journal.find_header()
        if header is not None and header.rolls_back == run_id and journal.is_finished():
            return other
    return None
