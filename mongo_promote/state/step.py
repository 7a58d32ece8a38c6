"""The shape every step has: `plan(ctx)` lists its actions (reads only), `apply(ctx, action)` does one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import ActionRef, Freeze, Journal
from mongo_promote.state.lock import RunLock
from mongo_promote.state.report import RunReport

# JSON data an applied action hands back: journalled with its finish, and given back on resume.
Result = dict[str, Any]
Phase = Literal["before", "cutover", "after", "on_failure"]


@dataclass(frozen=True)
class Action:
    """One unit of work: plain data, printed by the dry-run and journalled by the run under `key`."""

    step: int  # the step number as the run prints it (its stage's position: see in_stages)
    key: str  # stable across a resume: "backup", "indexes:Message", "cutover:Message", ...
    description: str
    collection: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "key": self.key, "description": self.description}


class Step(Protocol):
    """A stage of a run. Phases: `before` cutover (a failure drops the shadows, production untouched),
    `cutover` (signals wait until it is over) and `after` (production already cut over);
    `on_failure` actions are applied only when the run fails or is interrupted."""

    number: int  # set by in_stages from the step's position in its sequence
    title: str
    kind: str  # journalled with each action: what the journal's queries look for (journal.Kind)
    phase: Phase
    builds_shadows: bool  # its work is lost when the shadows are dropped
    overlaps: bool  # may run beside the following actions that only build shadows
    uninterruptible: bool  # Ctrl-C and SIGTERM wait until its action is done (freeze.end)
    # its action's finish may be journalled without an fsync of its own (the next record's makes
    # it durable): a resume that does not find it sees from the server that it is done (a rename)
    finish_unsynced: bool

    def plan(self, ctx: RunContext) -> list[Action]: ...

    def apply(self, ctx: RunContext, action: Action) -> Result: ...

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        """A finished action skipped on `--resume`: take back what its result says."""


class RenameGuard(Protocol):
    """Inside a write freeze, the look at a live collection right before its rename, in place of
    re-hashing it: the catch-up's read was that look (steps/catchup.py says what it sees)."""

    def problem(self, ctx: RunContext, name: str) -> str | None:
        """What changed in `name` since the catch-up read it (None: nothing seen)."""


@dataclass(frozen=True)
class Planned:
    """One planned action of a run and the step that applies it."""

    step: Step
    action: Action

    @property
    def ref(self) -> ActionRef:
        """The action as the journal records it."""
        a = self.action
        return ActionRef(a.key, a.step, self.step.kind, self.step.phase, a.collection)


@dataclass
class RunState:
    """What the steps of one run hand each other; rebuilt from journalled results on resume."""

    report: RunReport
    shadows: list[str]  # collections this run builds shadows of (dropped on failure)
    backed_up: dict[str, str] = field(default_factory=dict)  # content hash per backed-up collection
    # each copied collection's journal entry: content hashes of the source as read and of the
    # documents written, the transformed documents' verification (steps/copy.py)
    copied: dict[str, dict[str, Any]] = field(default_factory=dict)
    # content hash of each shadow as validation read it (cutover journals it as the fingerprint)
    shadow_hashes: dict[str, str] = field(default_factory=dict)
    # shadows read back as soon as their copy finished, for validation (steps/validate/content.ReadBack);
    # in memory only: a resumed run reads them again
    read_backs: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # documents in each checked shadow
    dropped: list[str] = field(default_factory=list)  # collections a rollback dropped
    # a write freeze: each replaced collection's content hash when the pre-pass read it (live),
    # and the guard the catch-up leaves for the renames inside the freeze
    prepass: dict[str, str] = field(default_factory=dict)
    rename_guard: RenameGuard | None = None
    journal: Journal | None = None  # set by the runner: steps journal their sub-units in it
    # set by the runner to the lock's check: raises LockLost unless this run still holds its lease
    fence: Callable[[], None] = field(default=lambda: None)
    # set by the runner: the lease this run holds (the health gate's rollback runs under it)
    lock: RunLock | None = None

    def record(self, event: str, **data: Any) -> None:
        if self.journal is not None:
            self.journal.record(event, **data)

    def freeze_span(self) -> Freeze:
        """The run's latest write-freeze span, as journalled (before a resume too)."""
        return self.journal.freeze() if self.journal is not None else Freeze(None, None, {})

    def journalled_result(self, key: str) -> Result:
        """The result journalled when action `key` last finished (empty: never finished)."""
        return self.journal.finished_actions().get(key, {}) if self.journal is not None else {}

    def renamed(self) -> set[str]:
        """The collections this run renamed in so far (before a resume too)."""
        done = {c["collection"] for c in self.report.cutover}
        return done | ({c.collection for c in self.journal.cutovers()} if self.journal else set())

    def journalled_copies(self) -> dict[str, dict[str, Any]]:
        """The copies this run journalled (before a resume too), by collection."""
        return self.journal.copied() if self.journal is not None else {}

    def journalled_fingerprint(self, name: str) -> str | None:
        """The content hash journalled right before `name`'s rename, if any."""
        return self.journal.fingerprint_of(name) if self.journal is not None else None


class StepBase:
    """Defaults for a step: before cutover, nothing to take back on resume."""

    number = 0  # set by in_stages
    title = ""
    kind = ""
    phase: Phase = "before"
    builds_shadows = False
    overlaps = False
    uninterruptible = False
    finish_unsynced = False

    def __init__(self, state: RunState) -> None:
        self.state = state

    def action(self, key: str, description: str, collection: str | None = None) -> Action:
        return Action(self.number, key, description, collection)

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        return None


def in_stages(*stages: Sequence[Step], listed_last: Sequence[Step] = ()) -> list[Step]:
    """The steps of a sequence in order, each numbered by the position of its stage (the steps
    printed under one number, from 1), so reordering a stage edits one place. `listed_last`
    (the on_failure hooks, applied only when a run fails) follow under the last stage's number."""
    for number, stage in enumerate(stages, 1):
        for step in stage:
            step.number = number
    for step in listed_last:
        step.number = len(stages)
    return [step for stage in stages for step in stage] + list(listed_last)
