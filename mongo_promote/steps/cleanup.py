"""`cleanup`: which target collections go (legacy, replaced embed sources, the previous and kept-aside
collections of runs and rollbacks), its guards, and its steps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import Manifest
from mongo_promote.adapters.mongo import content_hash
from mongo_promote.checksum import hashed_count
from mongo_promote.domain.inventory import collection_names, collection_size
from mongo_promote.domain.names import UNDONE_INFIX, kept
from mongo_promote.domain.plan import Plan
from mongo_promote.errors import OperationFailed, UsageError
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import Backup, Header, Journal, journal_of
from mongo_promote.state.report import RunSummary
from mongo_promote.state.step import Action, Result, RunState, Step, StepBase, in_stages
from mongo_promote.steps.backup import BackupStep
from mongo_promote.steps.preflight import PreflightStep
from mongo_promote.steps.restore import DropStep


def cleanup_names(plan: Plan, present: list[str]) -> list[str]:
    """DESIGN.md §4: every target collection matching `legacy` (whatever its class), and the embed
    sources the new schema replaced (`keep_source: false`)."""
    legacy = plan.collections.legacy
    replaced = {e.source for e in plan.embeds if not e.keep_source}
    return [n for n in present if n in replaced or any(p.matches(n) for p in legacy)]


@dataclass
class AfterRun:
    """What cleanup needs to know of the run it follows: when it cut over, what its backup holds."""

    run_id: str
    cutover_at: datetime
    backup_dir: str
    hashes: dict[str, str]  # content hash "<count>:<hex>" per collection, from the manifest


def after_run(journal: Journal, database: str) -> AfterRun:
    """When run `journal` cut over (its last rename) and what its backup holds."""
    run_id = journal.header().run_id
    cutovers = journal.cutovers()
    if not cutovers:
        raise OperationFailed(f"run {run_id} never cut over: there is nothing to clean up after it")
    backup = journal.backup_of()
    if backup is None:
        raise OperationFailed(f"run {run_id} took no backup: cleanup has nothing to compare with")
    cutover_at = max(c.at for c in cutovers)
    return AfterRun(run_id, cutover_at, backup.dir, backup_hashes(backup, database))


def backup_hashes(backup: Backup, database: str) -> dict[str, str]:
    """Per-collection hashes of a run's backup, from its manifest (the journal's copy if it is gone)."""
    try:
        manifest = Manifest.load(Path(backup.dir))
    except (OperationFailed, OSError):
        return dict(backup.content_hashes)
    return {e.name: e.content_hash for e in manifest.collections if e.database == database}


def kept_collections(ctx: RunContext, run_id: str) -> dict[str, str | None]:
    """The collections the tool kept (names.KEPT_INFIXES) that cleanup after run `run_id` drops:
    the previous collections of that run and of earlier ones, and what the rollbacks of those
    runs took out of production (their rollbacks' too). Each with its content hash when it was
    kept, from the journal of the run that kept it (None: no such journal in this state
    directory: refused unless forced). Reads only."""
    base = ctx.paths.base
    found: dict[str, str | None] = {}
    for name in ctx.target_db.list_collection_names():
        k = kept(name)
        if k is None:
            continue
        owner = _owner(base, k.run_id) if k.cls == KEPT_ASIDE else k.run_id
        if owner is not None and owner > run_id:
            continue  # a later run's: cleaned up after that one
        found[name] = kept_hash(base, name)
    return found


def kept_hash(base: Path, name: str) -> str | None:
    """A kept collection's content hash when it was kept, from the journal of the run that kept
    it (None: not a kept name, or no such journal in this state directory)."""
    k = kept(name)
    record = journal_of(base, k.run_id).kept().get(name) if k is not None else None
    return record.kept_fingerprint if record is not None else None


KEPT_ASIDE = "kept_aside"  # names.KEPT_CLASSES: what a rollback took out of production


def _owner(base: Path, rollback_id: str) -> str | None:
    """The run a rollback (of a rollback ...) undid in the end (None: no journal to tell)."""
    run_id = rollback_id
    for _ in range(16):
        header = journal_of(base, run_id).find_header()
        if header is None:
            return None
        if header.rolls_back is None:
            return run_id
        run_id = header.rolls_back
    return None


@dataclass
class Candidate:
    """A collection cleanup would drop, and what each guard says about it."""

    name: str
    count: int
    size: int
    at_backup: str | None  # its content hash in the run's backup, or when kept (None: unknown)
    now: str
    forced: bool
    cls: str = "legacy"  # legacy (and replaced embed sources), previous, kept_aside

    @property
    def changed(self) -> bool:
        return self.at_backup != self.now

    @property
    def guard(self) -> str:
        if self.cls != "legacy":
            return self._kept_guard()
        if not self.changed:
            return "unchanged since the run's backup"
        what = (
            "not in the run's backup"
            if self.at_backup is None
            else "changed since the run's backup"
        )
        if self.forced:
            return f"{what}: dropped anyway (--force-collection)"
        return f"{what}: refused (something may still use it; --force-collection {self.name})"

    def _kept_guard(self) -> str:
        """A previous or kept-aside collection: unchanged since it was kept, or not."""
        if not self.changed:
            return "unchanged since it was kept" + (
                " (what the run installed: the application wrote nothing to it before the "
                "rollback took it out)"
                if self.cls == KEPT_ASIDE
                else " (as the run's backup holds it)"
            )
        if self.at_backup is None:
            what = "kept by a run whose journal is not in this state directory"
        elif self.cls == KEPT_ASIDE:
            rollback = self.name.rpartition(UNDONE_INFIX)[2]
            what = (
                f"written to since the cutover ({hashed_count(self.at_backup):,} document(s) then, "
                f"{self.count:,} now): the application's writes the rollback took out of "
                f"production (`validate --run {rollback}` lists them)"
            )
        else:
            what = "changed since it was kept"
        if self.forced:
            return f"{what}: dropped anyway (--force-collection)"
        return f"{what}: refused (--force-collection {self.name})"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed, "guard": self.guard}


@dataclass
class AgeGuard:
    cutover_at: datetime
    min_age: timedelta
    now: datetime
    ignored: bool

    @property
    def allowed_at(self) -> datetime:
        return self.cutover_at + self.min_age

    @property
    def refuses(self) -> bool:
        return self.now < self.allowed_at and not self.ignored

    def describe(self) -> str:
        when = f"{self.allowed_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.now >= self.allowed_at:
            return f"cutover {_human(self.now - self.cutover_at)} ago: allowed since {when}"
        wait = f"allowed from {when} (in {_human(self.allowed_at - self.now)})"
        return f"cleanup.min_age {_human(self.min_age)} not reached: {wait}" + (
            "; --ignore-age overrides" if self.ignored else ""
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cutover_at": self.cutover_at.isoformat(),
            "min_age_s": self.min_age.total_seconds(),
            "allowed_at": self.allowed_at.isoformat(),
            "ignored": self.ignored,
            "refuses": self.refuses,
            "detail": self.describe(),
        }


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


@dataclass
class Chosen:
    """What cleanup would drop after a run, and what its guards say: shown before anything goes."""

    names: list[str]  # every collection cleanup drops (DESIGN.md §4)
    age: AgeGuard
    found: list[Candidate]


def choose(
    ctx: RunContext, after: AfterRun, forced: set[str], *, ignore_age: bool, dry_run: bool
) -> Chosen:
    """The collections cleanup drops after `after`, guarded: `forced` must name some of them, and
    the run's cutover must be cleanup.min_age old (unless `ignore_age`; a dry-run only says so).
    Reads only."""
    kept_ones = kept_collections(ctx, after.run_id)
    names = cleanup_names(ctx.plan, collection_names(ctx.target_db)) + sorted(kept_ones)
    if forced - set(names):
        raise UsageError(
            f"--force-collection {', '.join(sorted(forced - set(names)))}: not a collection "
            f"cleanup would drop (those are: {', '.join(names) or 'none'})"
        )
    age = AgeGuard(after.cutover_at, ctx.plan.cleanup.min_age, datetime.now(UTC), ignore_age)
    if age.refuses and not dry_run:
        raise OperationFailed(f"cleanup refused: {age.describe()} (or pass --ignore-age)")
    return Chosen(names, age, candidates(ctx, names, {**after.hashes, **kept_ones}, forced))


def refuse_changed(found: list[Candidate]) -> None:
    """A collection written since the run's backup is not dropped, unless forced by name."""
    changed = [c.name for c in found if c.changed and not c.forced]
    if changed:
        raise OperationFailed(
            f"cleanup refused: {', '.join(changed)} changed since the run's backup (something "
            "may still write to it); nothing was dropped. To drop one anyway: "
            + " ".join(f"--force-collection {n}" for n in changed)
        )


def candidates(
    ctx: RunContext, names: list[str], hashes: dict[str, str | None], forced: set[str]
) -> list[Candidate]:
    """Count, size and content hash of each collection now (reads only, streaming raw BSON),
    against `hashes` (the run's backup; a kept collection's hash when it was kept)."""
    found = []
    for name in names:
        ctx.check_cancelled()
        now = content_hash(ctx.target_db[name])
        k = kept(name)
        found.append(
            Candidate(
                name,
                now.count,
                collection_size(ctx.target_db, name),
                hashes.get(name),
                now.hexdigest(),
                name in forced,
                k.cls if k is not None else "legacy",
            )
        )
    return found


def resumed_candidates(
    journal: Journal, header: Header, after: AfterRun, base: Path
) -> list[Candidate]:
    """An interrupted cleanup's collections as it chose them (its journal's header: names and
    --force-collection), with what its own backup holds of each when it got that far (a kept
    collection against its hash when it was kept, as the first go compared it)."""
    backup = journal.backup_of()
    held = backup.content_hashes if backup is not None else {}
    forced = set(header.fields.get("force") or [])
    found = []
    for name in header.drop:
        k = kept(name)
        at_backup = kept_hash(base, name) if k is not None else after.hashes.get(name)
        now = held.get(name) or at_backup or ""
        found.append(
            Candidate(
                name,
                hashed_count(now) if now else 0,
                0,
                at_backup,
                now,
                name in forced,
                k.cls if k is not None else "legacy",
            )
        )
    return found


def cleanup_steps(ctx: RunContext, state: RunState, chosen: list[Candidate]) -> list[Step]:
    """Preflight; a backup of what goes; that backup still matches the run's; the drops."""
    names = [c.name for c in chosen]
    for c in chosen:
        state.report.collection(c.name).update(action="drop", target_count_before=c.count)
    checks = {"collections_to_drop": names, "guards": {c.name: c.guard for c in chosen}}
    return in_stages(
        [PreflightStep(state, checks)],
        [BackupStep(state, names, replaced=names, created=[])],
        [UnchangedStep(state, chosen)],
        [DropLegacyStep(state, names)],
    )


class UnchangedStep(StepBase):
    """One action: what was just backed up is what the run's backup held (closes the race between
    the guard and the backup): a collection written meanwhile stops the cleanup before any drop."""

    title = "check the backup against the run's backup"
    kind = "unchanged"

    def __init__(self, state: RunState, chosen: list[Candidate]) -> None:
        super().__init__(state)
        self.chosen = chosen

    def plan(self, ctx: RunContext) -> list[Action]:
        return [self.action("unchanged", "compare each backed-up collection with the run's backup")]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        moved = [
            c.name
            for c in self.chosen
            if not c.forced and self.state.backed_up.get(c.name) != c.at_backup
        ]
        if moved:
            raise OperationFailed(
                f"written to since the run's backup: {', '.join(moved)}; nothing dropped "
                "(--force-collection NAME drops one anyway)"
            )
        return {}


class DropLegacyStep(DropStep):
    """One action per collection: dropped (signals wait: a drop is not interrupted half-way),
    only while it holds what the cleanup's backup holds: a write since (a cleanup resumed
    hours later, a writer racing it) stops the cleanup before that drop."""

    title = "drop the legacy, replaced and kept collections (backed up)"

    def apply(self, ctx: RunContext, action: Action) -> Result:
        name = str(action.collection)
        backed_up = self.state.backed_up.get(name)
        present = bool(ctx.target_db.list_collection_names(filter={"name": name}))
        if present and backed_up is not None:
            now = content_hash(ctx.target_db[name]).hexdigest()
            if now != backed_up:
                raise OperationFailed(
                    f"{name} was written to since the cleanup's backup ({hashed_count(backed_up):,} "
                    f"document(s) then, {hashed_count(now):,} now): not dropped, and nothing "
                    "after it; run cleanup again (a new backup) to drop it"
                )
        return super().apply(ctx, action)

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        super().resume(ctx, action, result)
        self.state.report.collection(str(action.collection))["dropped"] = result["dropped"]


@dataclass
class CleanupResult:
    """What cleanup did (or, dry-run, would do); `status` as the run report's, or dry_run,
    nothing_to_do, refused."""

    after_run: str
    status: str
    age: dict[str, Any]
    collections: list[dict[str, Any]]
    run_id: str | None = None
    dropped: list[str] = field(default_factory=list)
    backup_dir: str | None = None
    report: str | None = None
    restore: str | None = None  # the command that brings every dropped collection back
    summary: RunSummary | None = None  # the cleanup run's, for people (not in its JSON)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "summary"}
        return {**data, "status": str(self.status)}
