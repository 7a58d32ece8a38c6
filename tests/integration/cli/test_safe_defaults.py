"""Issue 19, "the bundled plan points at production by default" and "the prompt names no hook":
with no MEESHY_* variable set, `run --plan meeshy` stops before any connection (exit 2, naming
every missing variable at once); `inspect` and the dry-run say what is missing; `--no-hooks` runs;
the prompt is the plan's summary, hooks included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mongo_promote.cli.run as run_command
from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import (
    SAFE_ENV,
    explain,
    footprint,
    invoke,
    json_out,
    meeshy_env,
)

pytestmark = pytest.mark.integration

UNSET = dict.fromkeys(SAFE_ENV, None)  # no MEESHY_* variable, as on a fresh machine


def meeshy(dbs: Any, tmp_path: Path) -> dict[str, Any]:
    """The bundled plan against this test's databases, every MEESHY_* variable unset."""
    env = {**meeshy_env(dbs.servers, dbs.name, tmp_path / "backups"), **UNSET}
    env["MEESHY_BACKUP_DIR"] = str(tmp_path / "backups")
    return env


def test_run_with_the_bundled_plan_and_no_host_set_stops_before_any_connection(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=2, target=1)
    before = footprint(dbs.servers, dbs.name)
    state = tmp_path / "state"
    # the URIs point nowhere: a connection would fail with exit 3, not 2
    env = {**meeshy(dbs, tmp_path), "PROD_MONGO_URI": "mongodb://127.0.0.1:1/"}
    result = invoke(["run", "--plan", "meeshy", "--state-dir", str(state), "--yes"], env)
    assert result.exit_code == 2, explain(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MEESHY_REMOTE_HOST (hooks.after_cutover[0], line " in lines[0]
    assert "--no-hooks" in lines[0] and "nothing was touched" in lines[0]
    assert footprint(dbs.servers, dbs.name) == before and not state.exists()


def test_every_missing_variable_is_named_at_once(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=2, target=1)
    plan = orders_plan(tmp_path, dbs)
    plan.write_text(
        plan.read_text().replace(
            'hooks: {after_cutover: ["echo restarted"]}\n',
            "hooks:\n"
            '  before_backup: ["echo start ${CHAT_URL}"]\n'
            '  after_cutover: ["echo ${DEPLOY_HOST} restart", "${NOTIFY:-echo ${ONCALL}}"]\n',
        )
    )
    result = invoke(["run", "--plan", str(plan), "--yes"])
    assert result.exit_code == 2, explain(result)
    line = result.stderr.strip()
    for name in ("CHAT_URL", "DEPLOY_HOST", "ONCALL"):
        assert f"{name} (hooks." in line
    dry = invoke(["run", "--plan", str(plan), "--dry-run", "--json"])
    assert dry.exit_code == 0, explain(dry)
    summary = json_out(dry)["actions"]["summary"]
    assert "CHAT_URL" in summary["missing"] and "ONCALL" in summary["missing"]
    assert "CHAT_URL" in dry.stderr  # and said on the console
    inspected = invoke(["inspect", "--plan", str(plan), "--json"])
    missing = {m["name"] for m in json_out(inspected)["missing_variables"]}
    assert missing == {"CHAT_URL", "DEPLOY_HOST", "ONCALL"}
    assert "DEPLOY_HOST" in invoke(["inspect", "--plan", str(plan)]).stderr
    no_hooks = invoke(["run", "--plan", str(plan), "--yes", "--no-hooks", "--json"])
    assert no_hooks.exit_code == 0, explain(no_hooks)
    told = {"CHAT_URL": "http://chat.invalid", "DEPLOY_HOST": "h.invalid", "NOTIFY": "true"}
    ran = invoke(["run", "--plan", str(plan), "--yes", "--json"], told)
    assert ran.exit_code == 0, explain(ran)  # ONCALL is not needed: NOTIFY replaces its default


def test_the_prompt_is_the_plans_summary_and_names_the_hook(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_orders(dbs, source=3, target=2)
    dbs.source.Fresh.insert_one({"new": True})
    plan = orders_plan(tmp_path, dbs)
    plan.write_text(plan.read_text().replace("include: [Orders]", "include: [Orders, Fresh]"))
    asked: list[str] = []

    def answer_no(question: str) -> bool:
        asked.append(question)
        return False

    monkeypatch.setattr(run_command, "confirmer", lambda: answer_no)
    before = footprint(dbs.servers, dbs.name)
    result = invoke(["run", "--plan", str(plan)])
    assert result.exit_code == 2 and "cancelled" in result.stderr, explain(result)
    assert footprint(dbs.servers, dbs.name) == before
    [prompt] = asked
    lines = prompt.splitlines()
    assert lines[0].startswith("Plan: 1 to create, 1 to replace, 0 left alone in mongodb://")
    assert lines[1].startswith(f"backup: to {tmp_path}/backups/")
    assert lines[2] == "hooks: after_cutover `echo restarted` (5m)"
    assert lines[-1].startswith("Apply this plan to mongodb://") and lines[-1].endswith("?")
    assert max(len(line) for line in lines) < 200
