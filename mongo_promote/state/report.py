"""The run report (report.json for machines, report.md for people) and a finished run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote.console import human_bytes, to_json
from mongo_promote.domain.names import PREVIOUS_INFIX
from mongo_promote.files import private_dir, write_private
from mongo_promote.redact import redact_data, redact_text


@dataclass
class RunReport:
    """Filled step by step; saved after every step so a crash still leaves a readable account."""

    run_id: str
    plan: str
    plan_fingerprint: str
    source: dict[str, Any]
    target: dict[str, Any]
    status: str = "running"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    resumed: bool = False
    capabilities: dict[str, Any] = field(default_factory=dict)
    preflight: dict[str, Any] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    backup: dict[str, Any] = field(default_factory=dict)
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    transforms: list[dict[str, Any]] = field(default_factory=list)
    indexes: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    cutover: list[dict[str, Any]] = field(default_factory=list)
    # a run's cutover with keep_previous: each replaced collection and where it is kept
    kept_previous: dict[str, str] = field(default_factory=dict)
    # a rollback: each collection it took out of production and where it is kept
    kept_aside: dict[str, str] = field(default_factory=dict)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    post_checks: dict[str, Any] = field(default_factory=dict)
    health_gate: dict[str, Any] = field(
        default_factory=dict
    )  # mode, passed, checks, rollback_run_id
    left_alone: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    undo: str | None = None  # the command that undoes what this run did to production

    def collection(self, name: str) -> dict[str, Any]:
        return self.collections.setdefault(name, {})

    def keep(self, infix: str, collection: str, kept_as: str) -> None:
        """A live collection renamed aside and kept (`infix`: names.KEPT_INFIXES)."""
        (self.kept_previous if infix == PREVIOUS_INFIX else self.kept_aside)[collection] = kept_as

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def save(self, json_path: Path, md_path: Path) -> None:
        """report.json and report.md, private (0600 in a 0700 directory), scrubbed of secrets."""
        private_dir(json_path.parent)
        write_private(json_path, to_json(redact_data(self.to_dict())) + "\n")
        write_private(md_path, redact_text(render_markdown(self)))


@dataclass
class RunSummary:
    """What a finished run shows a person: its report (one row per collection, how to undo it)
    and where report.md is."""

    report: RunReport
    report_md: str


def figure(value: Any) -> str:
    """A count as people read it (1,200), "-" when unknown."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def render_markdown(report: RunReport) -> str:
    lines = [
        f"# mongo-promote run {report.run_id}",
        "",
        f"- status: **{report.status}**",
        f"- plan: `{report.plan}` (fingerprint {report.plan_fingerprint})",
        f"- source: {report.source.get('uri')} db `{report.source.get('database')}`",
        f"- target: {report.target.get('uri')} db `{report.target.get('database')}`",
        f"- started {report.started_at}, finished {report.finished_at or '-'}",
    ]
    if report.backup:
        lines.append(
            f"- backup: `{report.backup.get('dir')}` ({human_bytes(report.backup.get('bytes', 0))}, "
            f"verified: {report.backup.get('verified')})"
        )
    if report.error:
        lines += ["", f"**error:** {report.error}"]
    if report.undo:
        lines += ["", f"**to undo:** `{report.undo}`"]
    lines += [
        "",
        "## Collections",
        "",
        "| collection | action | source | target before | target after | bytes | copy s | check |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for name, c in sorted(report.collections.items()):
        lines.append(
            f"| {name} | {c.get('action', '')} | {figure(c.get('source_count'))} | "
            f"{figure(c.get('target_count_before'))} | {figure(c.get('target_count_after'))} | "
            f"{figure(c.get('bytes'))} | {c.get('copy_seconds', '-')} | {c.get('check', '-')} |"
        )
    lines += _section("Preflight", report.preflight)
    lines += _section("Transforms", report.transforms)
    lines += _section("Validation", report.validation)
    lines += _section("Drift guard", report.drift)
    lines += _section("Cutover", report.cutover)
    lines += _section("Kept previous collections (rollback swaps them back)", report.kept_previous)
    lines += _section("Kept aside (taken out of production by this rollback)", report.kept_aside)
    lines += _section("Hooks", report.hooks)
    lines += _section("Health gate", report.health_gate)
    lines += _section(
        "Capabilities and fallbacks",
        {"capabilities": report.capabilities, "fallbacks": report.fallbacks},
    )
    lines += _section("Left alone", report.left_alone)
    return "\n".join(lines) + "\n"


def _section(title: str, data: Any) -> list[str]:
    if not data:
        return []
    return ["", f"## {title}", "", "```json", to_json(data), "```"]
