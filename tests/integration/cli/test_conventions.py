"""Issue 19, "conventions missing": `--version`; shell completion; `--help` readable at 80 columns
(option names whole, no `<bool>`) with an example and the exit codes; `-v`/`-q` on every command;
JSON outputs with `schema_version`, snake_case keys and fixed statuses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from mongo_promote import __version__
from mongo_promote.cli import app
from tests.integration.cli.conftest import Promoted
from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import explain, invoke, json_out

pytestmark = pytest.mark.integration

STATUSES = {
    "running",
    "succeeded",
    "failed",
    "interrupted",
    "failed_during_cutover",
    "cut_over_hook_failed",
    "cut_over_freeze_end_failed",
    "failed_after_cutover",
    "post_checks_failed",
    "dry_run",
    "nothing_to_do",
    "refused",
    "unknown",
}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def commands() -> dict[str, Any]:
    """Every command (Typer's click objects), by its full name (`servers stop`)."""
    root: Any = typer.main.get_command(app)
    found: dict[str, Any] = {}
    for name, command in root.commands.items():
        if hasattr(command, "commands"):  # a group: servers
            found.update({f"{name} {sub}": c for sub, c in command.commands.items()})
        else:
            found[name] = command
    return found


def test_version_and_completion() -> None:
    version = invoke(["--version"])
    assert (version.exit_code, version.stdout) == (0, f"mongo-promote {__version__}\n")
    completion = invoke(["--show-completion", "bash"])
    assert completion.exit_code == 0 and "complete" in completion.stdout, explain(completion)


def test_every_help_reads_at_80_columns_with_an_example_and_the_exit_codes() -> None:
    for name, command in {"": None, **commands()}.items():
        result = invoke([*name.split(), "--help"], {"COLUMNS": "80"})
        assert result.exit_code == 0, explain(result)
        text = result.stdout
        assert max(len(line) for line in text.splitlines()) <= 80, name
        assert "<bool>" not in text and "…" not in text
        assert re.search(r"Example:\n +mongo-promote ", text) and "Exit codes: 0 " in text, name
        for param in command.params if command else []:
            for option in param.opts:
                assert option in text, f"{name}: {option} cut or missing"


def test_every_command_takes_verbose_and_quiet() -> None:
    for name, command in commands().items():
        options = {o for p in command.params for o in p.opts}
        assert {"-v", "--verbose", "-q", "--quiet"} <= options, name


def keys_of(data: Any, path: str = "") -> list[str]:
    """Every key of a JSON document except those that name data (collections, paths)."""
    if isinstance(data, list):
        return [k for item in data for k in keys_of(item, path)]
    if not isinstance(data, dict):
        return []
    named = path.rsplit(".", 1)[-1] in {
        "counts", "hashes", "collections", "changes", "paths", "samples", "fingerprints",
        "indexes", "options", "timings", "content_hashes", "copies", "inventory", "keys",
        "capabilities", "key", "source", "target", "checks", "fields", "partial_filter_expression",
        "long_operations", "option_losses",
    }  # fmt: skip
    found = [] if named else list(data)
    for key, value in data.items():
        found += keys_of(value, f"{path}.{key}")
    return found


def test_json_outputs_have_a_schema_version_snake_case_keys_and_fixed_statuses(
    promoted: Promoted, dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=2, target=1)
    plan = orders_plan(tmp_path, dbs)
    documents = {
        "inspect": invoke(["inspect", "--plan", str(plan), "--json"]),
        "dry-run": invoke(["run", "--plan", str(plan), "--dry-run", "--json"]),
        "validate": invoke(["validate", "--plan", str(plan), "--json"]),
        "cleanup": promoted.cli("cleanup", "--dry-run", "--json"),
        "history": promoted.cli("history", "--json"),
        "rollback": promoted.cli("rollback", "--dry-run", "--json"),
        "error": invoke(["run", "--plan", str(tmp_path / "none.yaml"), "--json"]),
    }
    for name, result in documents.items():
        data = json_out(result)
        assert next(iter(data)) == "schema_version" and data["schema_version"] == 1, name
        bad = [k for k in keys_of(data) if not SNAKE.match(k)]
        assert not bad, (name, bad)
    statuses = [json_out(documents["dry-run"])["status"], json_out(documents["cleanup"])["status"]]
    statuses += [r["status"] for r in json_out(documents["history"])["runs"]]
    statuses += [json_out(documents["rollback"])["status"]]
    assert set(statuses) <= STATUSES, statuses
