"""The run report (report.json for machines, report.md for people) and a finished run's summary.

report.md reads top down: a summary that fits one screen, the run's timeline (a Mermaid `gantt`,
which GitHub and GitLab draw: a bar per step and per worker, the cutover and freeze windows
marked), then every detail in a collapsed `<details>` section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from mongo_promote.console import human_bytes, to_json
from mongo_promote.domain.names import PREVIOUS_INFIX
from mongo_promote.files import private_dir, write_private
from mongo_promote.redact import redact_data, redact_text


class Status(StrEnum):
    """A run's status, as report.json, `--json` and `history` give it (fixed snake_case words)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # before cutover: production untouched
    INTERRUPTED = "interrupted"
    FAILED_DURING_CUTOVER = "failed_during_cutover"
    CUT_OVER_HOOK_FAILED = "cut_over_hook_failed"
    CUT_OVER_FREEZE_END_FAILED = "cut_over_freeze_end_failed"  # the application not restarted
    FAILED_AFTER_CUTOVER = "failed_after_cutover"
    POST_CHECKS_FAILED = "post_checks_failed"
    ROLLED_BACK_BY_HEALTH_GATE = "rolled_back_by_health_gate"  # production as before the run
    HEALTH_GATE_FAILED = "health_gate_failed"  # still cut over (health_gate: report)
    HEALTH_GATE_ROLLBACK_FAILED = "health_gate_rollback_failed"
    FREEZE_NOT_HELD = "freeze_not_held"  # cut over; written to during the freeze (backup fixed)
    DRY_RUN = "dry_run"  # nothing written
    NOTHING_TO_DO = "nothing_to_do"
    REFUSED = "refused"
    UNKNOWN = "unknown"  # a run directory whose report is missing or torn


@dataclass
class RunReport:
    """Filled step by step; saved after every step so a crash still leaves a readable account."""

    run_id: str
    plan: str
    plan_fingerprint: str
    source: dict[str, Any]
    target: dict[str, Any]
    status: str = Status.RUNNING
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    resumed: bool = False
    # the first go and one per --resume: {started_at, finished_at, outcome, error}
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # each step: {number, title, started_at, finished_at, seconds}
    steps: list[dict[str, Any]] = field(default_factory=list)
    # what the run did when, from its journal (state.journal.Span), and the windows in which
    # production was being changed: {"cutover": [start, end], "freeze": [start, end]}
    timeline: list[dict[str, Any]] = field(default_factory=list)
    windows: dict[str, list[str | None]] = field(default_factory=dict)
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
    # the write freeze (issue 17): started_at, ended_at, window_s, caught_up, estimate_s, commands...
    freeze: dict[str, Any] = field(default_factory=dict)
    left_alone: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    undo: str | None = None  # the command that undoes what this run did to production

    def collection(self, name: str) -> dict[str, Any]:
        return self.collections.setdefault(name, {})

    def keep(self, infix: str, collection: str, kept_as: str) -> None:
        """A live collection renamed aside and kept (`infix`: names.KEPT_INFIXES)."""
        (self.kept_previous if infix == PREVIOUS_INFIX else self.kept_aside)[collection] = kept_as

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Status) else v for k, v in self.__dict__.items()}

    def save(self, json_path: Path, md_path: Path) -> None:
        """report.json and report.md, private (0600 in a 0700 directory), scrubbed of secrets."""
        private_dir(json_path.parent)
        write_private(json_path, to_json(redact_data(self.to_dict())) + "\n")
        write_private(md_path, redact_text(render_markdown(self)))

    def not_ok(self) -> dict[str, str]:
        """Collections whose check is anything but ok, with it."""
        return {
            name: str(c["check"])
            for name, c in sorted(self.collections.items())
            if c.get("check") not in (None, "ok")
        }


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


def seconds_between(started: str | None, finished: str | None) -> float | None:
    """Seconds from one ISO 8601 time to another (None when either is missing or unreadable)."""
    try:
        if started and finished:
            delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
            return round(delta.total_seconds(), 3)
    except (TypeError, ValueError):
        pass
    return None


# ---------------------------------------------------------------- report.md


def render_markdown(report: RunReport) -> str:
    lines = [f"# mongo-promote run {report.run_id}: {report.status}", ""]
    lines += _summary(report)
    lines += _timeline(report)
    lines += ["", "## Details", ""]
    lines += _details("Collections", _collections_table(report), len(report.collections))
    lines += _details("Validation", _validation_table(report.validation))
    lines += _details("Cutover", _cutover_table(report.cutover), len(report.cutover))
    lines += _details("Hooks", _hooks(report.hooks), len(report.hooks))
    lines += _details("Transforms", _transforms_table(report.transforms), len(report.transforms))
    lines += _details("Indexes", _indexes_table(report.indexes), len(report.indexes))
    lines += _details("Attempts", _attempts_table(report.attempts), len(report.attempts))
    lines += _details("Steps", _steps_table(report.steps), len(report.steps))
    lines += _details("Drift guard", _bullets(report.drift))
    lines += _details("Write freeze", _bullets(report.freeze))
    lines += _details(
        "Kept previous collections (rollback swaps them back)",
        _bullets(report.kept_previous),
        len(report.kept_previous),
    )
    lines += _details(
        "Kept aside (taken out of production by this rollback)",
        _bullets(report.kept_aside),
        len(report.kept_aside),
    )
    lines += _details("Health gate", _bullets(report.health_gate))
    lines += _details("Left alone", _left_alone_table(report.left_alone), len(report.left_alone))
    lines += _details("Preflight", _bullets(report.preflight))
    lines += _details("Capabilities", _capabilities_table(report.capabilities))
    return "\n".join(lines) + "\n"


def _summary(report: RunReport) -> list[str]:
    """One screen: a two-column table of what happened, then what is not ok."""
    rows = [("status", f"**{report.status}**" + _attempts_note(report.attempts))]
    rows.append(("plan", f"`{report.plan}` (fingerprint {report.plan_fingerprint})"))
    rows.append(("source", f"{report.source.get('uri')} `{report.source.get('database')}`"))
    rows.append(("target", f"{report.target.get('uri')} `{report.target.get('database')}`"))
    took = seconds_between(report.started_at, report.finished_at)
    rows.append(
        ("time", f"{report.started_at} → {report.finished_at or '-'}" + _seconds_note(took))
    )
    if report.backup:
        b = report.backup
        rows.append(
            (
                "backup",
                f"`{b.get('dir')}` ({human_bytes(b.get('bytes', 0))}, verified: {b.get('verified')})",
            )
        )
    rows.append(("collections", _collections_line(report)))
    if report.validation:
        rows.append(("validation", _validation_line(report.validation)))
    if report.cutover or report.windows.get("cutover"):
        rows.append(("cutover", _cutover_line(report)))
    if report.freeze:
        rows.append(("freeze", freeze_line(report.freeze)))
    if report.hooks:
        rows.append(("hooks", _hooks_line(report.hooks)))
    if report.health_gate:
        rows.append(("health gate", health_gate_line(report.health_gate)))
    if report.fallbacks:
        rows.append(("fallbacks", "; ".join(report.fallbacks)))
    if report.error:
        rows.append(("error", _cell(report.error)))
    if report.undo:
        rows.append(("to undo", f"`{report.undo}`"))
    lines = ["| | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in rows)]
    not_ok = report.not_ok()
    if not_ok:
        lines += ["", "Not ok: " + "; ".join(f"{name} {check}" for name, check in not_ok.items())]
    return lines


def _attempts_note(attempts: list[dict[str, Any]]) -> str:
    if len(attempts) < 2:
        return ""
    outcomes = ", ".join(str(a.get("outcome") or "running") for a in attempts)
    return f" after {len(attempts)} attempts ({outcomes})"


def _seconds_note(seconds: float | None) -> str:
    return "" if seconds is None else f" ({seconds:,.1f} s)"


def _collections_line(report: RunReport) -> str:
    actions = [c.get("action") for c in report.collections.values()]
    counts = {a: actions.count(a) for a in ("create", "replace", "restore") if a in actions}
    what = ", ".join(f"{n} {a}d" if a != "restore" else f"{n} restored" for a, n in counts.items())
    copied = sum(int(c.get("source_count") or 0) for c in report.collections.values())
    size = sum(int(c.get("bytes") or 0) for c in report.collections.values())
    left = f", {len(report.left_alone)} left alone" if report.left_alone else ""
    return f"{what or 'none'}{left}; {copied:,} documents, {human_bytes(size)} written"


def _validation_line(validation: dict[str, Any]) -> str:
    checks = validation.get("checks") or []
    failed = [c for c in checks if not c.get("passed") and c.get("severity") != "warning"]
    warned = [c for c in checks if not c.get("passed") and c.get("severity") == "warning"]
    verdict = "passed" if validation.get("passed") else "FAILED"
    return f"{verdict}: {len(checks)} checks, {len(failed)} failed, {len(warned)} warning(s)"


def _cutover_line(report: RunReport) -> str:
    start, end = report.windows.get("cutover", [None, None])
    windows = [c["window_ms"] for c in report.cutover if c.get("window_ms") is not None]
    how = f"; renamed aside: a name was missing at most {max(windows):.0f} ms" if windows else ""
    return f"{len(report.cutover)} rename(s){_seconds_note(seconds_between(start, end))}{how}"


def _hooks_line(hooks: list[dict[str, Any]]) -> str:
    parts = []
    for h in hooks:
        result = "skipped" if h.get("skipped") else ("ok" if h.get("ok") else "FAILED")
        parts.append(f"{h.get('stage')} {result}")
    return ", ".join(parts)


def health_gate_line(gate: dict[str, Any]) -> str:
    """The health gate in one line: its mode, its verdict, the rollback it made (if any)."""
    verdict = "passed" if gate.get("passed") else "FAILED"
    text = f"{gate.get('mode')}: {verdict}"
    if gate.get("rollback_run_id"):
        text += f"; rolled back by run {gate['rollback_run_id']}"
    if gate.get("rollback_error"):
        text += f"; rollback failed: {gate['rollback_error']}"
    return text


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def freeze_line(freeze: dict[str, Any]) -> str:
    """The write freeze in one line: its window and the writes it caught up (report.md, console)."""
    window = freeze.get("window_s")
    if freeze.get("kept"):
        text = f"write freeze NOT ended (the application is still stopped): {freeze['kept']}"
    elif window is None and freeze.get("started_at"):
        text = "write freeze started, not ended"
    elif window is None:
        return "write freeze: not started" + (
            f" (estimated {freeze['estimate_s']:g} s)"
            if freeze.get("estimate_s") is not None
            else ""
        )
    else:
        text = f"write freeze window {window:.2f} s"
    if freeze.get("estimate_s") is not None:
        text += f" (estimated {freeze['estimate_s']:g} s)"
    if freeze.get("skipped"):
        text += f"; freeze commands skipped ({freeze['skipped']}): the application was not stopped"
    caught = freeze.get("caught_up")
    if caught:
        text += "; caught up " + ", ".join(
            f"{name} ({caught_up_counts(c)})" for name, c in sorted(caught.items())
        )
    elif caught is not None:
        text += "; no write to catch up"
    return text


def caught_up_counts(c: dict[str, Any]) -> str:
    """`12 inserted, 7 changed, 1 deleted` (or the counts before and at the freeze)."""
    if c.get("inserted") is None:
        return f"{figure(c.get('documents_before'))} -> {figure(c.get('documents_at_freeze'))} documents"
    return f"{c['inserted']:,} inserted, {c['changed']:,} changed, {c['deleted']:,} deleted"



# ---------------------------------------------------------------- the timeline


def _timeline(report: RunReport) -> list[str]:
    """A Mermaid gantt: a bar per step, one per worker (its first to its last collection), and
    the windows in which production was being changed."""
    bars = _timeline_bars(report)
    if not bars:
        return []
    lines = ["", "## Timeline", "", "```mermaid", "gantt"]
    lines += [f"    title run {report.run_id}", "    dateFormat x", "    axisFormat %H:%M:%S"]
    for section, rows in bars.items():
        lines.append(f"    section {section}")
        lines += [f"    {label} :{tag}{start}, {end}" for label, tag, start, end in rows]
    return [*lines, "```"]


def _timeline_bars(report: RunReport) -> dict[str, list[tuple[str, str, int, int]]]:
    last = _ms(report.finished_at) or max(
        (_ms(s.get("finished_at")) or _ms(s.get("started_at")) or 0 for s in report.timeline),
        default=0,
    )
    bars: dict[str, list[tuple[str, str, int, int]]] = {}
    for step in report.steps:
        start = _ms(step.get("started_at"))
        if start is not None:
            end = _ms(step.get("finished_at"))
            tag = "" if end is not None else "crit, "
            label = _label(f"{step['number']} {step['title'].split(':')[0]}")
            bars.setdefault("steps", []).append((label, tag, start, max(end or last, start + 1)))
    workers: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    for span in report.timeline:
        start, end = _ms(span.get("started_at")), _ms(span.get("finished_at"))
        if not span.get("label") or start is None or not _is_worker(span["lane"]):
            continue
        edges = workers.setdefault(span["lane"], [start, end or start])
        edges[0], edges[1] = min(edges[0], start), max(edges[1], end or start)
        counts[span["lane"]] = counts.get(span["lane"], 0) + 1
    for lane, (start, end) in sorted(workers.items()):
        label = _label(f"{lane} ({counts[lane]} collections)")
        bars.setdefault("workers", []).append((label, "", start, max(end, start + 1)))
    for name, (start_at, end_at) in report.windows.items():
        start = _ms(start_at)
        if start is not None:
            end = _ms(end_at) or last
            bars.setdefault("production", []).append(
                (f"{name} window", "crit, ", start, max(end, start + 1))
            )
    return bars


def _is_worker(lane: str) -> bool:
    head, _, number = lane.rpartition("_")
    return bool(head) and number.isdigit()


def _label(text: str) -> str:
    """Mermaid reads `:` and `#` in a task name as syntax."""
    return text.replace(":", " ").replace("#", " ").strip()


def _ms(iso: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000) if iso else None
    except ValueError:
        return None


# ---------------------------------------------------------------- details


def _details(title: str, body: list[str], count: int | None = None) -> list[str]:
    if not body:
        return []
    summary = f"{title} ({count})" if count is not None else title
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return []
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
    ]


def _collections_table(report: RunReport) -> list[str]:
    columns = [
        "collection",
        "action",
        "source",
        "target before",
        "target after",
        "bytes",
        "copy s",
        "check",
    ]
    rows = [
        [
            name,
            c.get("action", ""),
            figure(c.get("source_count")),
            figure(c.get("target_count_before")),
            figure(c.get("target_count_after")),
            figure(c.get("bytes")),
            c.get("copy_seconds", "-"),
            c.get("check", "-"),
        ]
        for name, c in sorted(report.collections.items())
    ]
    return _table(columns, rows)


def _validation_table(validation: dict[str, Any]) -> list[str]:
    rows = [
        [
            c.get("kind"),
            c.get("collection"),
            "ok"
            if c.get("passed")
            else ("warning" if c.get("severity") == "warning" else "FAILED"),
            c.get("detail"),
        ]
        for c in validation.get("checks") or []
    ]
    return _table(["check", "collection", "result", "detail"], rows)


def _cutover_table(cutover: list[dict[str, Any]]) -> list[str]:
    rows = [
        [c.get("collection"), c.get("method"), c.get("window_ms", "-"), c.get("drift") or ""]
        for c in cutover
    ]
    return _table(["collection", "how", "window ms", "drift"], rows)


def _hooks(hooks: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for h in hooks:
        if h.get("skipped"):
            lines += [
                f"- {h.get('stage')}: skipped ({h['skipped']}): "
                + ", ".join(f"`{c}`" for c in h.get("commands", []))
            ]
            continue
        code = "timed out" if h.get("timed_out") else f"exit {h.get('exit_code')}"
        lines += [f"- {h.get('stage')}: `{h.get('command')}`: {code}, {h.get('seconds')} s"]
        if str(h.get("output") or "").strip():
            lines += [
                "",
                "  ````text",
                *("  " + x for x in str(h["output"]).rstrip().splitlines()),
                "  ````",
            ]
    return lines


def _indexes_table(indexes: dict[str, Any]) -> list[str]:
    rows = [
        [
            name,
            ", ".join(str(n) for n in i.get("built") or []) or "-",
            "; ".join(str(s) for s in i.get("skipped") or []),
        ]
        for name, i in sorted(indexes.items())
        if isinstance(i, dict)
    ]
    return _table(["collection", "built", "skipped"], rows)


def _attempts_table(attempts: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            i,
            a.get("started_at"),
            a.get("finished_at") or "-",
            a.get("outcome") or "running",
            a.get("error") or "",
        ]
        for i, a in enumerate(attempts, 1)
    ]
    return _table(["#", "started", "finished", "outcome", "error"], rows)


def _steps_table(steps: list[dict[str, Any]]) -> list[str]:
    rows = [[s.get("number"), s.get("title"), s.get("seconds", "-")] for s in steps]
    return _table(["step", "title", "seconds"], rows)


def _left_alone_table(left: list[dict[str, Any]]) -> list[str]:
    rows = [[x.get("name"), x.get("cls"), x.get("where"), x.get("reason")] for x in left]
    return _table(["collection", "class", "where", "why"], rows)


def _transforms_table(transforms: list[dict[str, Any]]) -> list[str]:
    """A row per transform: what it does and its figures (the samples are in report.json)."""
    rows = []
    for t in transforms:
        what = (
            f"embed {t['embed']} into {t.get('into')}.{t.get('as')}"
            if "embed" in t
            else f"rewrite {t.get('find')!r} -> {t.get('replace')!r} in {t.get('rewrite')}"
        )
        figures = ", ".join(
            f"{k.replace('_', ' ')} {v:,}"
            for k, v in t.items()
            if isinstance(v, int) and not isinstance(v, bool) and v
        )
        samples = sum(len(v) for k, v in t.items() if k.endswith("samples") and isinstance(v, list))
        rows.append([what, figures, f"{samples} in report.json" if samples else "-"])
    return _table(["transform", "figures", "samples"], rows)


def _bullets(data: dict[str, Any]) -> list[str]:
    """A small mapping, a line per key (lists on one line)."""
    return [f"- {k}: {_value(v)}" for k, v in data.items()]


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items()) or "none"
    return str(value)


def _capabilities_table(capabilities: dict[str, Any]) -> list[str]:
    """Each capability of both servers side by side (probed on the target by commands that write)."""
    source, target = capabilities.get("source") or {}, capabilities.get("target") or {}
    rows = [
        [name, _value(source.get(name, "-")), _value(target.get(name, "-"))]
        for name in dict.fromkeys([*source, *target])
    ]
    return _table(["capability", "source", "target"], rows)
