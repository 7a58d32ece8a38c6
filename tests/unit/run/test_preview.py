"""What a run needs from the environment before it connects (`run.preview.run_needs`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from mongo_promote.domain.plan import MissingVariable
from mongo_promote.run.preview import run_needs, without_them


@pytest.mark.parametrize(
    ("in_plan", "option", "health_needed"),
    [
        ("rollback", None, True),  # the plan's gate asks the health checks: their URLs needed
        ("report", None, True),
        ("off", None, False),
        (None, None, False),
        ("rollback", "off", False),  # `run --health-gate off`: the URLs are not read
        ("off", "rollback", True),  # `--health-gate rollback` on a plan without a gate
    ],
)
def test_the_health_urls_are_needed_only_when_a_gate_runs(
    in_plan: str | None, option: str | None, health_needed: bool
) -> None:
    plan = cast(Any, SimpleNamespace(health_gate=in_plan))
    needs = run_needs(plan, option)
    assert needs[:2] == ["hooks", "freeze"]
    assert ("health" in needs) is health_needed


@pytest.mark.parametrize(
    ("fields", "advice"),
    [
        (["health[0].url"], "pass --health-gate off to run without the health gate's checks"),
        (["freeze.start[0]"], "pass --no-hooks to run without the hooks"),
        (
            ["hooks.after_cutover[0]", "health[1].url"],
            "pass --no-hooks to run without the hooks (and --health-gate off without the gate's "
            "checks)",
        ),
    ],
)
def test_the_advice_names_the_option_that_runs_without_what_is_unset(
    fields: list[str], advice: str
) -> None:
    missing = [MissingVariable("URL", f, 1) for f in fields]
    assert without_them(missing) == advice
