"""What the demo shows, through its view (`api.DemoView`): the commands' own renderings, short
(the inventory's totals, the dry-run without its table, only what is not ok); -v shows all."""

from __future__ import annotations

from mongo_promote import api
from mongo_promote.cli.render import dryrun
from mongo_promote.cli.render.checks import validation
from mongo_promote.cli.render.inventory import inventory_table
from mongo_promote.cli.render.summary import run_summary
from mongo_promote.console import Output, human_bytes
from mongo_promote.state.report import RunSummary


class DemoTables:
    """The demo's inventory, dry-run, validation and, last, the run's summary, as `inspect`,
    `run --dry-run`, `validate` and `run` print them (shortened)."""

    def __init__(self, out: Output, *, keep: bool = False) -> None:
        self.out = out
        self.keep = keep  # the servers stay up: the undo command is worth printing

    def inventory(self, inventory: api.Inventory) -> None:
        if self.out.verbose:
            self.out.table(inventory_table(inventory))
            return
        for side in (inventory.source, inventory.target):
            docs = sum(c.count for c in side.collections)
            size = sum(c.size for c in side.collections)
            self.out.info(
                f"  {side.uri} db={side.database}: {len(side.collections)} collections, "
                f"{docs:,} documents, {human_bytes(size)}"
            )
        classes: dict[str, int] = {}
        for c in {
            c.name: c for s in (inventory.source, inventory.target) for c in s.collections
        }.values():
            classes[c.cls] = classes.get(c.cls, 0) + 1
        self.out.info(
            "  by class: "
            + ", ".join(f"{n} {cls}" for cls, n in sorted(classes.items()))
            + " (`mongo-promote inspect` lists them)"
        )

    def dry_run(self, dry_run: api.DryRun) -> None:
        verbose = self.out.verbose  # the run prints its steps: here the plan's summary suffices
        dryrun.dry_run(self.out, dry_run, table=verbose, actions=verbose)

    def summary(self, summary: RunSummary) -> None:
        run_summary(self.out, summary, undo=self.keep)

    def validation(self, report: api.ValidationReport) -> None:
        validation(self.out, report)
