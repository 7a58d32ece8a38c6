"""What a command will do to production, in a few lines, before it writes (Terraform-style): the
plan summary `run --dry-run` prints and `run` asks about, and the one of `restore`/`rollback`.

Commands are shown as written in the plan (`${VAR}` unexpanded), whole. The freeze and health
gate lines read `Plan.freeze` / `Plan.health_gate` when the plan model has them (issue 17): see
`freeze_line` and `health_gate_line`, the two functions that describe them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from mongo_promote.console import human_bytes
from mongo_promote.domain.analysis import Actions
from mongo_promote.domain.plan import HOOK_STAGES, MissingVariable, Plan, describe_missing
from mongo_promote.redact import redact_uri
from mongo_promote.state.context import RunContext


@dataclass
class PlanSummary:
    """`run`'s plan: what it creates, replaces, leaves alone, where the backup goes, which
    commands it runs around production (one line each)."""

    target: str  # redacted URI and database
    create: list[str]
    replace: list[str]
    left_alone: list[str]
    backup_dir: str
    backup_bytes: int
    hooks: str
    freeze: str | None = None  # None: the plan model has no freeze (yet)
    health_gate: str | None = None
    missing: str | None = None  # unset variables the commands or checks need

    def lines(self) -> list[str]:
        lines = [
            f"Plan: {len(self.create)} to create, {len(self.replace)} to replace, "
            f"{len(self.left_alone)} left alone in {self.target}",
            f"backup: to {self.backup_dir} (about {human_bytes(self.backup_bytes)} before "
            "compression)",
            f"hooks: {self.hooks}",
        ]
        lines += [f"freeze: {self.freeze}"] if self.freeze is not None else []
        lines += [f"health gate: {self.health_gate}"] if self.health_gate is not None else []
        lines += [f"missing: {self.missing}"] if self.missing else []
        return lines

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "lines": self.lines()}


def plan_summary(
    ctx: RunContext, analysis: Actions, *, run_hooks: bool, backup_dir: Path | None = None
) -> PlanSummary:
    plan = ctx.plan
    missing = ctx.loaded.missing_for(*run_needs(plan)) if run_hooks else []
    return PlanSummary(
        target=f"{redact_uri(plan.target.uri)} database {plan.target.database!r}",
        create=analysis.created,
        replace=analysis.replaced,
        left_alone=[x.name for x in analysis.left_alone],
        backup_dir=str(backup_dir or ctx.paths.backup_dir),
        backup_bytes=analysis.backup_bytes,
        hooks=hooks_line(plan, run_hooks=run_hooks),
        freeze=freeze_line(plan),
        health_gate=health_gate_line(plan),
        missing=describe_missing(missing) if missing else None,
    )


def run_needs(plan: Plan, gate: str | None = None) -> list[str]:
    """What a run's commands read from the environment: its hooks, its freeze commands, and,
    with a health gate (issue 17's `health_gate: report|rollback`; `gate`: the run's
    `--health-gate`, instead of the plan's), its health checks' URLs."""
    gate = gate or getattr(plan, "health_gate", None)
    return ["hooks", "freeze", *(["health"] if gate not in (None, "off") else [])]


def without_them(missing: Iterable[MissingVariable]) -> str:
    """How to run without the commands that need unset variables: `--health-gate off` when only
    the gate's health checks need them, else `--no-hooks` (and the gate off too if it needs some)."""
    scopes = {m.scope for m in missing}
    if scopes == {"health"}:
        return "pass --health-gate off to run without the health gate's checks"
    gate = " (and --health-gate off without the gate's checks)" if "health" in scopes else ""
    return f"pass --no-hooks to run without the hooks{gate}"


def hooks_line(plan: Plan, *, run_hooks: bool) -> str:
    """Every hook command, whole and as written, with its stage and timeout."""
    hooks = [h for stage in HOOK_STAGES for h in plan.hooks.stage(stage)]
    if not hooks:
        return "none"
    listed = "; ".join(f"{h.stage} `{h.command}` ({_duration(h.timeout_s)})" for h in hooks)
    return f"skipped (--no-hooks): {listed}" if not run_hooks else listed


def freeze_line(plan: Plan) -> str | None:
    """The freeze (issue 17: `freeze: {start, end, max_window}`): its commands and window; None
    while the plan model has no `freeze` field, "none" when the plan has none."""
    if "freeze" not in type(plan).model_fields:
        return None
    freeze = getattr(plan, "freeze", None)
    if not freeze:
        return "none (the application keeps writing; the drift guard stops a cutover it would lose)"
    start = "; ".join(f"`{_command(c)}`" for c in getattr(freeze, "start", []) or [])
    end = "; ".join(f"`{_command(c)}`" for c in getattr(freeze, "end", []) or [])
    window = getattr(freeze, "max_window", None)
    limit = f", at most {_duration(window)}" if window is not None else ""
    return f"start {start or 'nothing'}, end {end or 'nothing'}{limit}"


def health_gate_line(plan: Plan) -> str | None:
    """The health gate (issue 17: `health_gate: off|report|rollback`) and the checks it runs;
    None while the plan model has no `health_gate` field."""
    if "health_gate" not in type(plan).model_fields:
        return None
    gate = str(getattr(plan, "health_gate", None) or "off")
    if gate == "off" or not plan.health:
        return "off"
    checks = ", ".join(f"{c.name} {c.url}" for c in plan.health)
    return f"{gate}: after the freeze ends, {checks}"


def _command(command: Any) -> str:
    return str(getattr(command, "run", None) or getattr(command, "command", None) or command)


def _duration(value: float | timedelta) -> str:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


# ---------------------------------------------------------------- restore and rollback


@dataclass
class RestoreSummary:
    """What a restore or rollback does, collection by collection."""

    title: str  # "rollback of run R from DIR" / "restore of DIR"
    target: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # (collection, what happens)
    backup_dir: str = ""  # where what it replaces is backed up first
    left_alone: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. the plan's write freeze around it

    def lines(self) -> list[str]:
        renamed = sum(1 for _, what in self.rows if what.startswith(("swapped back", "taken out")))
        dropped = sum(1 for _, what in self.rows if what.startswith("dropped"))
        restored = len(self.rows) - renamed - dropped
        counts = f"{restored} to restore, {dropped} to drop"
        if renamed:
            counts = f"{renamed} by renames (kept, never dropped), " + counts
        return [
            f"Plan: {self.title}: {counts}, {self.left_alone} left alone in {self.target}",
            *self.notes,
            *([f"backup of what it replaces: to {self.backup_dir}"] if restored or dropped else []),
            *(f"  {name}: {what}" for name, what in self.rows),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "target": self.target,
            "collections": [{"collection": n, "what": w} for n, w in self.rows],
            "backup_dir": self.backup_dir,
            "left_alone": self.left_alone,
            "notes": self.notes,
            "lines": self.lines(),
        }
