"""The one place output goes through: human text on stdout (stderr under --json), JSON on stdout."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bson import json_util
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from mongo_promote.errors import UsageError
from mongo_promote.redact import redact_data, redact_text

_RELAXED = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)
# Every JSON document the commands print carries it (first key); raised when a key is renamed or
# removed, or a status value changes. Keys are snake_case; statuses are fixed snake_case words.
SCHEMA_VERSION = 1


class Output:
    """Keeps --json output machine-clean: every human line goes to stderr when JSON is on."""

    def __init__(
        self, *, json_mode: bool = False, verbose: bool = False, quiet: bool = False
    ) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self.quiet = quiet
        self.human = Console(
            stderr=json_mode, highlight=False, soft_wrap=True, width=_width(json_mode)
        )
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(True))

    def info(self, text: str) -> None:
        if not self.quiet:
            self.human.print(redact_text(text))

    def step(self, number: int | str, title: str) -> None:
        self.info(f"[bold cyan]STEP {number}[/]: {title}")

    def detail(self, text: str) -> None:
        if self.verbose and not self.quiet:
            self.human.print(f"[dim]{redact_text(text)}[/]")

    def warn(self, text: str) -> None:
        self.errors.print(f"[yellow]warning:[/] {redact_text(text)}")

    def error(self, text: str) -> None:
        """One line, shown as written (never read as markup: `[errno 111]` stays)."""
        self.errors.print(Text.assemble(("error:", "bold red"), " ", redact_text(text)))

    def traceback(self, text: str) -> None:
        """A traceback (--debug), as written, dimmed, on stderr."""
        self.errors.print(Text(redact_text(text), style="dim"))

    def table(self, table: Table) -> None:
        if not self.quiet:
            self.human.print(table)

    @contextmanager
    def progress(self, text: str) -> Iterator[Callable[[str], None]]:
        """A transient status line (a spinner on a terminal); yields the function that updates it."""
        with self.human.status(text) as status:
            yield lambda update: status.update(update)

    @contextmanager
    def bars(self) -> Iterator[Bars | None]:
        """A bar per item while the block runs, on a terminal only (None elsewhere, or quiet)."""
        if not self.human.is_terminal or self.quiet:
            yield None
            return
        bars = Bars(self.human)
        with bars.progress:
            yield bars

    def emit_json(self, data: Any) -> None:
        """One JSON document on stdout, `schema_version` first."""
        if isinstance(data, dict):
            data = {"schema_version": SCHEMA_VERSION, **data}
        sys.stdout.write(to_json(redact_data(data)) + "\n")
        sys.stdout.flush()


class _DocRate(ProgressColumn):
    """Documents per second (Rich's own speed column assumes bytes)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        average = task.completed / elapsed if elapsed else None
        speed = average if task.finished else (task.speed or average)
        return Text(f"{speed:,.0f} docs/s" if speed else "- docs/s", style="progress.data.speed")


class Bars:
    """Live bars, one per item: documents done of the total, bytes, docs/s, time left."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[size]}"),
            _DocRate(),
            TimeRemainingColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def add(self, name: str, total: int | None) -> Callable[[int, int], None]:
        """A bar for `name`; returns the function that moves it to (documents, bytes)."""
        task = self.progress.add_task(name, total=total or None, size="0 B")
        self.tasks[name] = task

        def update(docs: int, size: int) -> None:
            self.progress.update(task, completed=docs, size=human_bytes(size))

        return update

    def finish(self, name: str, docs: int, size: int) -> None:
        self.progress.update(self.tasks[name], total=docs, completed=docs, size=human_bytes(size))


def confirm_once(
    question: str,
    confirm: Callable[[str], bool] | None,
    *,
    yes: bool,
    details: Sequence[str] = (),
) -> None:
    """Destructive commands ask once, showing `details` (the plan's summary, one line each)
    above a one-line question; with no terminal there is nobody to ask, so --yes is required."""
    if yes:
        return
    if confirm is None:
        raise UsageError(f"{question} Standard input is not interactive: pass --yes to proceed.")
    if not confirm("\n".join([*details, question])):
        raise UsageError("cancelled: nothing was changed")


def _width(stderr: bool) -> int | None:
    """Piped output (CI logs, `| less`) gets wide tables instead of Rich's 80-column default;
    COLUMNS, when set, wins (a terminal's own width, or a test's)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = sys.stderr if stderr else sys.stdout
    return None if stream.isatty() else 160


def to_json(data: Any) -> str:
    """JSON for humans and machines: BSON types in relaxed Extended JSON, stable key order."""
    return json.dumps(json.loads(json_util.dumps(data, json_options=_RELAXED)), indent=2)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_duration(seconds: float) -> str:
    """`4.2s`, `2m`, `1m30s`, `1h05m`: a bound or a wait as an operator says it."""
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
