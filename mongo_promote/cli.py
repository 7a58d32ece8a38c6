"""The `mongo-promote` command: parses, prints, maps errors to exit codes. No logic of its own."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from mongo_promote import api
from mongo_promote.conn import redact_text
from mongo_promote.console import Output, human_bytes
from mongo_promote.errors import PromoteError, UsageError
from mongo_promote.inventory import Inventory
from mongo_promote.plan import DEFAULT_PLAN_PATH, LoadedPlan, bundled_plan_path, load_plan

app = typer.Typer(
    name="mongo-promote",
    help="Promote a MongoDB database from staging to production: backup, copy into shadow "
    "collections, transform, index, validate, cut over, roll back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
servers_app = typer.Typer(help="Local test servers (staging, production) for the demo and tests.")
app.add_typer(servers_app, name="servers")

PlanOpt = Annotated[
    str,
    typer.Option(
        "--plan", "-p", help="Plan file. 'meeshy' = the bundled Meeshy plan.", show_default=True
    ),
]
SourceUriOpt = Annotated[
    str | None, typer.Option("--source-uri", help="Overrides the plan's source URI.")
]
TargetUriOpt = Annotated[
    str | None, typer.Option("--target-uri", help="Overrides the plan's target URI.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")]

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(func: F) -> F:
    """Every expected failure becomes one red line and its documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PromoteError as exc:
            Output().error(_scrub(exc.message))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Output().error("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _scrub(text: str) -> str:
    """Last line of defence: no URI credentials from the environment ever reach the terminal."""
    uris = [v for k, v in os.environ.items() if "URI" in k.upper() and v.startswith("mongodb")]
    return redact_text(text, *uris)


def _load(plan: str, source_uri: str | None, target_uri: str | None) -> LoadedPlan:
    path = Path(plan)
    if plan == "meeshy" and not path.exists():
        path = bundled_plan_path()
    return load_plan(path, source_uri=source_uri, target_uri=target_uri)


# ------------------------------------------------------------------------------------ inspect


@app.command()
@handles_errors
def inspect(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Inventory and classification of both sides (reads only)."""
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    loaded = _load(plan, source_uri, target_uri)
    inventory = api.inspect(loaded.plan)
    if json_out:
        out.emit_json(inventory.to_json())
    else:
        out.table(inventory_table(inventory))


def inventory_table(inv: Inventory) -> Table:
    source, target = inv.source.by_name(), inv.target.by_name()
    table = Table(
        title=f"source {inv.source.uri} db={inv.source.database}  →  "
        f"target {inv.target.uri} db={inv.target.database}"
    )
    for column in (
        "collection",
        "class",
        "where",
        "source docs",
        "target docs",
        "source size",
        "target size",
        "indexes",
    ):
        table.add_column(
            column, justify="right" if "docs" in column or "size" in column else "left"
        )
    for name in sorted(set(source) | set(target)):
        s, t = source.get(name), target.get(name)
        info = s or t
        assert info is not None
        where = "both" if s and t else ("new in source" if s else "only in target")
        table.add_row(
            name,
            info.cls,
            where,
            f"{s.count:,}" if s else "-",
            f"{t.count:,}" if t else "-",
            human_bytes(s.size) if s else "-",
            human_bytes(t.size) if t else "-",
            ", ".join(info.indexes),
        )
    return table


# ------------------------------------------------------------------------------------ run

StateDirRunOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Where runs/<run-id>/ goes (default: next to the plan)."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _confirmer() -> Callable[[str], bool] | None:
    """Ask on a terminal; with no terminal there is nobody to ask, so destructive commands need --yes."""
    if not sys.stdin.isatty():
        return None
    return lambda question: typer.confirm(question, default=False, err=True)


@app.command()
@handles_errors
def run(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and list actions; write nothing.")
    ] = False,
    yes: YesOpt = False,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue run RUN_ID.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Collections copied at once.")] = 4,
    keep_shadows: Annotated[
        bool, typer.Option(help="On failure keep shadows for --resume.")
    ] = False,
    allow_target_drift: Annotated[
        bool, typer.Option(help="Cut over even if production changed since its backup.")
    ] = False,
    hooks: Annotated[
        bool, typer.Option("--hooks/--no-hooks", help="Run after_cutover hooks.")
    ] = True,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The whole promotion: backup, copy into shadows, transform, index, validate, cut over."""
    from mongo_promote.pipeline import RunOptions
    from mongo_promote.pipeline import run as run_pipeline

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    loaded = _load(plan, source_uri, target_uri)
    options = RunOptions(
        dry_run=dry_run,
        yes=yes,
        resume=resume,
        workers=workers,
        keep_shadows=keep_shadows,
        allow_target_drift=allow_target_drift,
        run_hooks=hooks,
        state_dir=state_dir,
        confirm=_confirmer(),
    )
    outcome = run_pipeline(loaded, options, out)
    if json_out:
        out.emit_json(outcome.to_json())


# ------------------------------------------------------------------------------------ validate, backup, restore


@app.command()
@handles_errors
def validate(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Run whose $now to use (default: the latest).")
    ] = None,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The validation step alone, against the live target (reads only). Exit 1 on differences."""
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    report = api.validate(
        _load(plan, source_uri, target_uri), out, run_id=run_id, state_dir=state_dir
    )
    if json_out:
        out.emit_json(report.to_json())
    else:
        out.table(validation_table(report))
    if not report.passed:
        raise PromoteError(f"validation found differences: {report.summary()}")


def validation_table(report: Any) -> Table:
    table = Table(title="validation: " + ("passed" if report.passed else "FAILED"))
    for column in ("check", "collection", "result", "detail"):
        table.add_column(column)
    for c in report.checks:
        result = "ok" if c.passed else ("warning" if c.severity == "warning" else "FAILED")
        table.add_row(c.kind, c.collection, result, c.detail)
    return table


@app.command()
@handles_errors
def backup(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Backup directory.")] = None,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A verified, mongorestore-compatible backup of the target database (reads only)."""
    out = Output(json_mode=json_out)
    result = api.backup(_load(plan, source_uri, target_uri), out, out_dir, state_dir)
    if json_out:
        out.emit_json(result.to_json())
    else:
        out.info(f"backup written and verified: {result.dir}")


@app.command()
@handles_errors
def restore(
    backup_dir: Annotated[
        Path, typer.Option("--backup", help="Directory from backup or mongodump --gzip.")
    ],
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    collection: Annotated[list[str] | None, typer.Option(help="Only these collections.")] = None,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Put the target back exactly as the backup holds it (verified first, then shadows and cutover)."""
    out = Output(json_mode=json_out)
    result = api.restore(
        _load(plan, source_uri, target_uri),
        out,
        backup_dir,
        confirm=_confirmer(),
        yes=yes,
        only=collection,
    )
    _print_restore(out, result, json_out)


@app.command()
@handles_errors
def rollback(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Run to undo (default: the latest).")
    ] = None,
    state_dir: StateDirRunOpt = None,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Undo a run: restore what it replaced from its backup, drop what it created."""
    out = Output(json_mode=json_out)
    result = api.rollback(
        _load(plan, source_uri, target_uri),
        out,
        run_id=run_id,
        state_dir=state_dir,
        confirm=_confirmer(),
        yes=yes,
    )
    _print_restore(out, result, json_out)


def _print_restore(out: Output, result: Any, json_out: bool) -> None:
    if json_out:
        out.emit_json(result.to_json())
        return
    out.info(
        f"restored {len(result.collections)} collection(s), {result.documents:,} documents"
        + (f"; dropped {', '.join(result.dropped)}" if result.dropped else "")
    )


# ------------------------------------------------------------------------------------ seed


@app.command()
@handles_errors
def seed(
    source_uri: Annotated[str, typer.Option("--source-uri", help="Staging server to fill.")],
    target_uri: Annotated[str, typer.Option("--target-uri", help="Production server to fill.")],
    scale: Annotated[float, typer.Option(help="1 = the seed document's figures.")] = 1,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    database: Annotated[str, typer.Option(help="Database name on both sides.")] = "meeshy",
    manifest: Annotated[Path | None, typer.Option(help="Write the manifest here.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fill both servers with realistic, deterministic Meeshy data (drops what it rewrites)."""
    out = Output(json_mode=json_out, quiet=quiet)
    result = _seed_with_progress(out, source_uri, target_uri, database, scale, seed_value)
    if manifest:
        from mongo_promote.console import to_json

        manifest.write_text(to_json(result) + "\n")
    if json_out:
        out.emit_json(result)


def _seed_with_progress(
    out: Output, source_uri: str, target_uri: str, database: str, scale: float, seed_value: int
) -> dict[str, Any]:
    with out.human.status("seeding ...") as status:

        def progress(side: str, collection: str, n: int) -> None:
            status.update(f"seeding {side}.{collection}: {n:,} documents")

        result = api.seed(
            source_uri,
            target_uri,
            source_database=database,
            target_database=database,
            scale=scale,
            seed=seed_value,
            progress=progress,
        )
    counts = {side: sum(result[side]["collections"].values()) for side in ("source", "target")}
    out.info(
        f"seeded scale {scale:g} (seed {seed_value}): staging {counts['source']:,} documents, "
        f"production {counts['target']:,} documents, "
        f"{result['translations']['total']:,} translations"
    )
    return result


# ------------------------------------------------------------------------------------ servers


StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the servers keep data and state (default ./.mongo-promote/servers).",
    ),
]


@servers_app.command("start")
@handles_errors
def servers_start(
    state_dir: StateDirOpt = None,
    json_out: JsonOpt = False,
    engine: Annotated[
        str, typer.Option(help="ferretdb (v1, SQLite), documentdb (FerretDB v2 + PostgreSQL) or mongod.")
    ] = "ferretdb",
) -> None:
    """Start staging and production on free 127.0.0.1 ports (or show the running ones)."""
    from mongo_promote.servers import default_state_dir, start_pair

    out = Output(json_mode=json_out)
    pair = start_pair(state_dir or default_state_dir(), engine=engine)
    _print_pair(out, pair, json_out)


@servers_app.command("status")
@handles_errors
def servers_status(state_dir: StateDirOpt = None, json_out: JsonOpt = False) -> None:
    """Show the local servers and whether they answer; exit 1 when they are not running."""
    from mongo_promote.servers import default_state_dir, read_pair

    out = Output(json_mode=json_out)
    pair = read_pair(state_dir or default_state_dir())
    running = [s for s in pair if s.alive()]
    if json_out:
        out.emit_json(
            {"running": len(running) == 2, **_uris(running)} if running else {"running": False}
        )
    for server in pair:
        state = "running" if server in running else "not running"
        out.info(f"{server.role:<10} {server.kind:<8} {server.uri}  pid {server.pid}  {state}")
    if len(running) != 2:
        if not pair:
            out.info("no local servers: `mongo-promote servers start`")
        raise typer.Exit(1)


@servers_app.command("stop")
@handles_errors
def servers_stop(state_dir: StateDirOpt = None) -> None:
    """Stop the local servers and delete their data."""
    from mongo_promote.servers import default_state_dir, stop_pair

    stopped = stop_pair(state_dir or default_state_dir())
    Output().info(f"stopped {len(stopped)} server(s)" if stopped else "no local servers running")


def _uris(pair: list[Any]) -> dict[str, str]:
    by_role = {s.role: s.uri for s in pair}
    return {"source_uri": by_role.get("staging", ""), "target_uri": by_role.get("production", "")}


def _print_pair(out: Output, pair: list[Any], json_out: bool) -> None:
    if json_out:
        out.emit_json(_uris(pair))
        return
    for server in pair:
        out.info(f"{server.role:<10} {server.kind:<8} {server.uri}  (data {server.data_dir})")
    uris = _uris(pair)
    out.info(
        f"\nexport STAGING_MONGO_URI={uris['source_uri']}\nexport PROD_MONGO_URI={uris['target_uri']}"
    )


# ------------------------------------------------------------------------------------ demo


@app.command()
@handles_errors
def demo(
    scale: Annotated[float, typer.Option(help="Data scale; 1 = the seed's figures.")] = 1,
    keep: Annotated[bool, typer.Option(help="Leave the servers running and print URIs.")] = False,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where the demo's runs/ and backups/ go.")
    ] = Path("mongo-promote-demo"),
) -> None:
    """The whole Meeshy promotion on two local servers: seed, dry-run, run, validate, report."""
    from mongo_promote.servers import start_pair, temporary_pair

    out = Output()
    out.step("demo 1", "starting two local servers (staging, production) on 127.0.0.1")
    if keep:
        pair = start_pair(state_dir / "servers")
        _demo_on(out, pair[0].uri, pair[1].uri, scale, seed_value, state_dir)
        _print_pair(out, pair, False)
        out.info(
            f"servers left running: `mongo-promote servers stop --state-dir {state_dir / 'servers'}`"
        )
        return
    with (
        tempfile.TemporaryDirectory(prefix="mongo-promote-demo-") as tmp,
        temporary_pair(Path(tmp)) as (staging, production),
    ):
        out.info(
            f"  staging    {staging.kind} {staging.uri}\n"
            f"  production {production.kind} {production.uri}"
        )
        _demo_on(out, staging.uri, production.uri, scale, seed_value, state_dir)
    out.info("servers stopped (use --keep to leave them running)")


def _demo_on(
    out: Output, source_uri: str, target_uri: str, scale: float, seed_value: int, state_dir: Path
) -> None:
    from mongo_promote.pipeline import RunOptions
    from mongo_promote.pipeline import run as run_pipeline

    out.step("demo 2", f"seeding realistic Meeshy data at scale {scale:g}")
    _seed_with_progress(out, source_uri, target_uri, "meeshy", scale, seed_value)
    loaded = load_plan(bundled_plan_path(), source_uri=source_uri, target_uri=target_uri)
    out.step("demo 3", "inventory of both sides under the bundled Meeshy plan")
    out.table(inventory_table(api.inspect(loaded.plan)))
    out.step("demo 4", "dry-run: what the promotion would do (writes nothing)")
    run_pipeline(loaded, RunOptions(dry_run=True, state_dir=state_dir), out)
    out.step("demo 5", "the promotion itself (hooks skipped: they would restart the real gateway)")
    outcome = run_pipeline(loaded, RunOptions(yes=True, run_hooks=False, state_dir=state_dir), out)
    out.step("demo 6", "validation of the live target against the source")
    report = api.validate(loaded, out, run_id=outcome.run_id, state_dir=state_dir)
    out.table(validation_table(report))
    out.info(
        f"\nrun {outcome.run_id}: {outcome.status}; report {outcome.report}; "
        f"backup {outcome.backup_dir}"
    )
    out.info(
        f"undo it with: mongo-promote rollback --plan meeshy --state-dir {state_dir} "
        "(with the servers kept: --keep)"
    )
    if not report.passed:
        raise PromoteError("demo: validation after the run found differences")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except UsageError as exc:  # raised outside a command (should not happen, but keep exit 2)
        Output().error(exc.message)
        sys.exit(2)
