"""`run`: preflight, backup, copy into shadows, transform, index, validate, drift guard, cutover, report."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote.conn import detect_capabilities, redact_text, redact_uri, refuse_sharded
from mongo_promote.console import confirm_once
from mongo_promote.context import RunContext, new_run_id
from mongo_promote.errors import Interrupted, OperationFailed, PromoteError, UsageError
from mongo_promote.inventory import take_inventory
from mongo_promote.journal import Journal, RunLock, open_journal
from mongo_promote.plan import LoadedPlan, bundled_plan_path
from mongo_promote.report import RunReport, summary_table
from mongo_promote.steps import cutover as cutover_step
from mongo_promote.steps.analyse import Actions, analyse
from mongo_promote.steps.drift import check_drift
from mongo_promote.steps.hooks import run_hook


@dataclass
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    resume: str | None = None
    workers: int = 4
    keep_shadows: bool = False
    allow_target_drift: bool = False
    run_hooks: bool = True
    state_dir: Path | None = None
    confirm: Callable[[str], bool] | None = None  # None: stdin is not interactive


@dataclass
class RunOutcome:
    run_id: str | None
    status: str
    backup_dir: str | None
    report: str | None
    validation_passed: bool | None
    dry_run: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "backup_dir": self.backup_dir,
            "report": self.report,
            "validation": {"passed": self.validation_passed},
        }
        if self.dry_run is not None:
            data["actions"] = self.dry_run
        return data


def base_dir(loaded: LoadedPlan, state_dir: Path | None) -> Path:
    """Runs live next to the plan (or --state-dir); the bundled plan's runs go to the current directory."""
    if state_dir:
        return state_dir
    if loaded.path == bundled_plan_path().resolve():
        return Path.cwd()
    return loaded.path.parent


def run(loaded: LoadedPlan, options: RunOptions, out: Any) -> RunOutcome:
    from mongo_promote.api import clients

    plan = loaded.plan
    with clients(plan) as (source, target):
        source_caps, target_caps = detect_capabilities(source), detect_capabilities(target)
        refuse_sharded(target_caps, "target")
        out.step(1, "preflight: plan valid, both servers reachable, capabilities detected")
        out.detail(
            f"source {source_caps.flavour} {source_caps.version} ({source_caps.topology}); "
            f"target {target_caps.flavour} {target_caps.version} ({target_caps.topology})"
        )
        inventory = take_inventory(plan, source[plan.source.database], target[plan.target.database])
        actions = analyse(plan, inventory)
        run_id = options.resume or new_run_id()
        ctx = RunContext(
            loaded,
            run_id,
            source,
            target,
            source_caps,
            target_caps,
            out,
            base_dir(loaded, options.state_dir) / "runs" / run_id,
            workers=options.workers,
            dry_run=options.dry_run,
        )
        if options.dry_run:
            from mongo_promote.steps.dryrun import describe_dry_run

            return describe_dry_run(ctx, actions)
        _confirm(ctx, actions, options)
        lock = RunLock(target, plan.target.database, run_id)
        lock.acquire()
        try:
            return Promotion(ctx, actions, options).execute()
        finally:
            lock.release()


def _confirm(ctx: RunContext, actions: Actions, options: RunOptions) -> None:
    question = (
        f"Replace {len(actions.replaced)} and create {len(actions.created)} collections in "
        f"{redact_uri(ctx.plan.target.uri)} database {ctx.plan.target.database!r}?"
    )
    confirm_once(question, options.confirm, yes=options.yes)


class Promotion:
    """One run, step by step; each finished unit is journalled so `--resume` can skip it."""

    def __init__(self, ctx: RunContext, actions: Actions, options: RunOptions) -> None:
        self.ctx = ctx
        self.actions = actions
        self.options = options
        self.journal = self._open_journal()
        self.report = self._new_report()
        self.backed_up: dict[str, str] = {}
        self.copy_hashes: dict[str, str] = {}

    # ------------------------------------------------------------------ set-up

    def _open_journal(self) -> Journal:
        ctx = self.ctx
        if not self.options.resume:
            return Journal.create(
                ctx.run_dir,
                {
                    "run_id": ctx.run_id,
                    "plan": str(ctx.loaded.path),
                    "fingerprint": ctx.loaded.fingerprint,
                    "now": ctx.now.isoformat(),
                    "target_database": ctx.plan.target.database,
                },
            )
        journal = open_journal(ctx.run_dir.parent.parent, ctx.run_id)
        header = journal.header()
        if header["fingerprint"] != ctx.loaded.fingerprint:
            raise UsageError(
                f"run {ctx.run_id} was made with a different plan (fingerprint "
                f"{header['fingerprint']}, now {ctx.loaded.fingerprint}): refusing to resume"
            )
        if journal.has("run_finished"):
            raise UsageError(f"run {ctx.run_id} already finished: nothing to resume")
        ctx.now = datetime.fromisoformat(header["now"])  # one $now per run, also across a resume
        journal.record("run_resumed")
        return journal

    def _new_report(self) -> RunReport:
        ctx = self.ctx
        report = RunReport(
            run_id=ctx.run_id,
            plan=str(ctx.loaded.path),
            plan_fingerprint=ctx.loaded.fingerprint,
            source={"uri": redact_uri(ctx.plan.source.uri), "database": ctx.plan.source.database},
            target={"uri": redact_uri(ctx.plan.target.uri), "database": ctx.plan.target.database},
            resumed=bool(self.options.resume),
            capabilities={"source": ctx.source_caps.to_dict(), "target": ctx.target_caps.to_dict()},
            left_alone=[asdict(x) for x in self.actions.left_alone],
            preflight={
                "source_access": "read only: the tool sends no write to the source",
                "lock": f"held by this run in {ctx.plan.target.database!r} (mongo_promote.locks)",
                "collections_to_replace": self.actions.replaced,
                "collections_to_create": self.actions.created,
                "workers": ctx.workers,
            },
        )
        for a in self.actions.collections:
            report.collection(a.name).update(
                action=a.action, source_count=a.source_count, target_count_before=a.target_count
            )
        return report

    # ------------------------------------------------------------------ the run

    def execute(self) -> RunOutcome:
        try:
            with _sigint_as_cancel(self.ctx):
                if self.journal.has("cutover"):
                    # Resuming an interrupted cutover: the remaining shadows were validated before
                    # it began, and live collections already swapped would look like drift.
                    self.ctx.out.info("cutover had started: finishing it")
                else:
                    self._before_cutover()
        except (PromoteError, Exception, KeyboardInterrupt) as exc:
            self._abort(exc)
            raise _as_promote_error(exc, self.ctx) from exc
        try:
            with _sigint_deferred(self.ctx):
                self._cutover()
        except Exception as exc:
            self.report.status = "failed during cutover"
            self.report.error = (
                f"{redact_text(str(exc), self.ctx.plan.source.uri, self.ctx.plan.target.uri)}; "
                f"finished renames are journalled: `--resume {self.ctx.run_id}` completes the "
                f"cutover, `rollback --run {self.ctx.run_id}` undoes it"
            )
            self.journal.record("run_failed", error=self.report.error)
            self._save()
            raise OperationFailed(self.report.error) from exc
        self._after_cutover()
        return RunOutcome(
            self.ctx.run_id,
            self.report.status,
            self.report.backup.get("dir"),
            str(self.ctx.run_dir / "report.json"),
            True,
        )

    def _before_cutover(self) -> None:
        from mongo_promote.steps.validate import validate_shadows

        self._backup()
        self._copy()
        self._index()
        self.ctx.out.step(5, "validate the shadows against the source")
        validation = validate_shadows(self.ctx, self.actions, self.copy_hashes)
        self.report.validation = validation.to_json()
        for name, check in validation.collection_checks().items():
            self.report.collection(name)["check"] = check
        self._save()
        if not validation.passed:
            raise OperationFailed("validation failed before cutover: " + validation.summary())
        self.journal.record("validated")
        self._drift_guard()

    def _abort(self, exc: BaseException) -> None:
        names = [a.name for a in self.actions.collections]
        if not self.options.keep_shadows:
            dropped = cutover_step.drop_shadows(self.ctx, names)
            self.ctx.out.info(f"dropped {len(dropped)} shadow collection(s); production untouched")
            self.journal.record("shadows_dropped")
        else:
            self.ctx.out.info(
                f"shadows kept (--keep-shadows); `mongo-promote run --resume "
                f"{self.ctx.run_id}` continues from them"
            )
        self.report.status = (
            "interrupted" if isinstance(exc, Interrupted | KeyboardInterrupt) else "failed"
        )
        self.report.error = redact_text(
            str(exc) or type(exc).__name__, self.ctx.plan.source.uri, self.ctx.plan.target.uri
        )
        self.journal.record("run_failed", error=self.report.error)
        self._save()

    # ------------------------------------------------------------------ steps

    def _backup(self) -> None:
        from mongo_promote.steps.backup import backup_collections

        ctx, done = self.ctx, self.journal.done("backup_done")
        if "" in done:
            self.report.backup = done[""]["backup"]
            self.backed_up = self.report.backup["content_hashes"]
            ctx.out.step(2, f"backup already taken and verified: {self.report.backup['dir']}")
            return
        out_dir = self._backup_dir()
        ctx.out.step(2, f"backup the target ({len(self.actions.backup)} collections) to {out_dir}")
        result = backup_collections(
            ctx,
            self.actions.backup,
            out_dir,
            replaced=self.actions.replaced,
            created=self.actions.created,
            expected_bytes=self.actions.backup_bytes,
        )
        self.report.backup = result.to_json()
        self.backed_up = self.report.backup["content_hashes"]
        self.journal.record("backup_done", backup=self.report.backup)
        self._save()

    def _backup_dir(self) -> Path:
        configured = Path(self.ctx.plan.backup.dir).expanduser()
        root = (
            configured
            if configured.is_absolute()
            else base_dir(self.ctx.loaded, self.options.state_dir) / configured
        )
        return root / self.ctx.run_id

    def _copy(self) -> None:
        from mongo_promote.steps.copy import copy_all

        ctx = self.ctx
        finished = self._finished_copies()
        todo = [a for a in self.actions.collections if a.name not in finished]
        ctx.out.step(
            3,
            f"copy {len(todo)} collection(s) into shadows, transforming on the way"
            f"{f' ({len(finished)} already copied)' if finished else ''}",
        )

        def on_done(result: Any) -> None:
            self.copy_hashes[result.name] = result.content_hash
            self.journal.record(
                "copied",
                collection=result.name,
                count=result.count,
                bytes=result.bytes,
                content_hash=result.content_hash,
                transforms=result.transforms,
            )
            self.report.transforms.extend(result.transforms)
            self.report.collection(result.name).update(
                bytes=result.bytes,
                copy_seconds=round(result.seconds, 3),
                docs_per_second=round(result.count / result.seconds) if result.seconds else None,
            )

        copy_all(ctx, todo, on_done=on_done)
        self._save()

    def _finished_copies(self) -> set[str]:
        """A copy counts on resume only if its shadow is still there, whole."""
        finished = set()
        for name, entry in self.journal.done("copied").items():
            shadow = self.ctx.target_db[self.ctx.shadow_name(name)]
            if shadow.count_documents({}) == entry["count"]:
                finished.add(name)
                self.copy_hashes[name] = entry["content_hash"]
                self.report.transforms.extend(entry.get("transforms", []))
        return finished

    def _index(self) -> None:
        from mongo_promote.steps.indexes import build_indexes

        ctx, done = self.ctx, self.journal.done("indexed")
        todo = [a for a in self.actions.collections if a.name not in done]
        ctx.out.step(4, f"build indexes on {len(todo)} shadow collection(s)")
        for action in todo:
            ctx.check_cancelled()
            result = build_indexes(ctx, action, ctx.shadow_name(action.name))
            self.report.indexes[action.name] = _stats_json(result)
            self.journal.record("indexed", collection=action.name, built=result.built)
        self._save()

    def _drift_guard(self) -> None:
        ctx = self.ctx
        ctx.out.step(6, "drift guard: production unchanged since its backup?")
        drifted = check_drift(ctx, self.backed_up, self.actions.replaced)
        self.report.drift = {
            "checked": self.actions.replaced,
            "changed": [asdict(d) for d in drifted],
            "overridden": bool(drifted and self.options.allow_target_drift),
        }
        if drifted and not self.options.allow_target_drift:
            names = ", ".join(d.collection for d in drifted)
            raise OperationFailed(
                f"production changed since its backup in: {names}; cutover would overwrite those "
                "writes. Run again (a new backup), or pass --allow-target-drift to override"
            )

    def _cutover(self) -> None:
        ctx, done = self.ctx, self.journal.done("cutover")
        ctx.out.step(7, f"cutover: {len(self.actions.collections)} rename(s), one per collection")
        for action in self.actions.collections:
            if action.name in done:
                self.report.cutover.append(done[action.name]["result"])
                continue
            result = cutover_step.install(ctx, action.name)
            self.report.cutover.append(asdict(result))
            self.journal.record("cutover", collection=action.name, result=asdict(result))
        self.journal.record("cutover_done")
        self._save()

    def _after_cutover(self) -> None:
        ctx = self.ctx
        aside = cutover_step.drop_asides(ctx, [a.name for a in self.actions.collections])
        if aside:
            ctx.out.detail(
                f"dropped the old live copies: {', '.join(aside)} (they are in the backup)"
            )
        self._hooks()
        self._post_checks()
        self.report.status = "succeeded" if self.report.post_checks.get("passed") else "failed"
        self.report.finished_at = _now_iso()
        self.journal.record("run_finished", status=self.report.status)
        self._save()
        ctx.out.table(summary_table(self.report))
        ctx.out.info(f"report: {ctx.run_dir / 'report.md'}")
        if self.report.status != "succeeded":
            raise OperationFailed(f"post-cutover checks failed: {self.report.post_checks}")

    def _hooks(self) -> None:
        hooks = self.ctx.plan.hooks
        if not hooks.after_cutover:
            return
        if not self.options.run_hooks:
            self.report.hooks.append({"skipped": "--no-hooks", "commands": hooks.after_cutover})
            return
        for command in hooks.after_cutover:
            self.ctx.out.info(f"  hook: {redact_text(command)}")
            result = run_hook(
                command,
                hooks.timeout.total_seconds(),
                env=self.ctx.loaded.command_env(),
                secrets=self.ctx.loaded.secrets,
            )
            self.report.hooks.append({**asdict(result), "ok": result.ok})
            if not result.ok:
                self.ctx.out.warn(f"hook failed ({result.exit_code}): {command}")

    def _post_checks(self) -> None:
        """The live collections now hold what the shadows held."""
        db = self.ctx.target_db
        expected = {
            a.name: self.report.validation.get("counts", {}).get(a.name)
            for a in self.actions.collections
        }
        problems = []
        for name, count in expected.items():
            live = db[name].count_documents({})
            self.report.collection(name)["target_count_after"] = live
            if count is not None and live != count:
                problems.append(f"{name}: {live} documents, expected {count}")
        self.report.post_checks = {"passed": not problems, "problems": problems}

    def _save(self) -> None:
        self.report.fallbacks = list(self.ctx.fallbacks)
        self.report.save(self.ctx.run_dir)


def _stats_json(stats: Any) -> dict[str, Any]:
    for method in ("to_json", "to_dict"):
        if hasattr(stats, method):
            return dict(getattr(stats, method)())
    return asdict(stats)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _as_promote_error(exc: BaseException, ctx: RunContext) -> PromoteError:
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(f"interrupted; production untouched. `--resume {ctx.run_id}` continues")
    if isinstance(exc, Interrupted):
        return Interrupted(
            f"{exc.message}; production untouched. `--resume {ctx.run_id}` continues"
        )
    if isinstance(exc, PromoteError):
        return exc
    text = redact_text(f"{type(exc).__name__}: {exc}", ctx.plan.source.uri, ctx.plan.target.uri)
    return OperationFailed(f"run {ctx.run_id} failed before cutover ({text}); production untouched")


@contextmanager
def _sigint_as_cancel(ctx: RunContext) -> Iterator[None]:
    """Ctrl-C sets the cancel flag (workers stop between batches) and then interrupts the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        ctx.cancel.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def _sigint_deferred(ctx: RunContext) -> Iterator[None]:
    """During cutover a Ctrl-C waits for the renames to finish: half a cutover helps nobody."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        print("cutover in progress: finishing the renames before stopping", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise Interrupted("interrupted after cutover completed; hooks and post-checks skipped")
