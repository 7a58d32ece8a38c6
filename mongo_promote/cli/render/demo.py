"""What the demo shows, through its view (`api.DemoView`): the same tables the commands print."""

from __future__ import annotations

from mongo_promote import api
from mongo_promote.cli.render import dryrun
from mongo_promote.cli.render.checks import validation_table
from mongo_promote.cli.render.inventory import inventory_table
from mongo_promote.cli.render.summary import run_summary
from mongo_promote.console import Output
from mongo_promote.state.report import RunSummary


class DemoTables:
    """The demo's inventory, dry-run, run summary and validation, as `inspect`, `run --dry-run`,
    `run` and `validate` print them."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def inventory(self, inventory: api.Inventory) -> None:
        self.out.table(inventory_table(inventory))

    def dry_run(self, dry_run: api.DryRun) -> None:
        dryrun.dry_run(self.out, dry_run)

    def summary(self, summary: RunSummary) -> None:
        run_summary(self.out, summary)

    def validation(self, report: api.ValidationReport) -> None:
        self.out.table(validation_table(report))
