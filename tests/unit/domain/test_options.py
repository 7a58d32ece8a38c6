"""Collection options: which ones a target is expected to drop, which ones a shadow lacks, and the
plan's policy for them (`collections.options`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mongo_promote.adapters.mongo import expected_capabilities
from mongo_promote.domain.options import differences, expected_losses
from mongo_promote.domain.plan import load_plan
from mongo_promote.errors import PlanError

OPTIONS = {
    "validator": {"x": {"$exists": True}},
    "validationLevel": "strict",
    "collation": {"locale": "fr"},
    "capped": True,
    "size": 4096,
    "storageEngine": {"wiredTiger": {}},  # the server's business: never compared
}


def test_what_each_kind_of_target_is_expected_to_drop() -> None:
    mongod = expected_capabilities("mongod", "7.0")
    v1 = expected_capabilities("ferretdb", "7.0", major=1)
    v2 = expected_capabilities("ferretdb", "7.0", major=2)
    assert expected_losses(OPTIONS, mongod) == []
    assert expected_losses(OPTIONS, v1) == ["validator", "validationLevel", "collation"]
    # v2 drops validators at create, but collMod sets them again
    assert expected_losses(OPTIONS, v2) == ["collation", "capped", "size"]
    assert expected_losses({"timeseries": {"timeField": "t"}}, v1) == []  # checked on the shadow


def test_a_shadow_must_hold_what_was_asked_and_may_hold_the_server_s_defaults() -> None:
    kept = {
        "collation": {"locale": "fr", "strength": 3, "caseLevel": False},
        "capped": True,
        "size": 4096.0,
        "validator": {"x": {"$exists": True}},
        "validationLevel": "moderate",
    }
    assert differences(OPTIONS, kept) == ["validationLevel"]
    assert differences({"capped": True}, {"capped": 1}) == ["capped"]  # a flag is a flag
    assert differences({"collation": {"locale": "fr"}}, {}) == ["collation"]


def plan(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "promote.yaml"
    path.write_text(
        "version: 1\n"
        'source: {uri: "mongodb://a:1", database: app}\n'
        'target: {uri: "mongodb://b:1", database: app}\n' + extra
    )
    return path


def test_the_plan_s_options_policy_one_for_all_or_by_name_and_pattern(tmp_path: Path) -> None:
    every = load_plan(plan(tmp_path, "collections: {options: best_effort}\n"), env={}).plan
    assert every.collections.options_policy("Anything") == "best_effort"
    named = load_plan(
        plan(tmp_path, "collections: {options: {Log: best_effort, 're:^Audit.*': best_effort}}\n"),
        env={},
    ).plan
    policy = named.collections.options_policy
    assert (policy("Log"), policy("AuditTrail"), policy("Message")) == (
        "best_effort",
        "best_effort",
        "exact",
    )
    assert load_plan(plan(tmp_path, ""), env={}).plan.collections.options_policy("Log") == "exact"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("collections: {options: lenient}\n", "collections.options"),
        ("collections: {options: {'re:(': best_effort}}\n", "bad regular expression"),
    ],
)
def test_a_bad_options_policy_is_located(tmp_path: Path, extra: str, problem: str) -> None:
    path = plan(tmp_path, extra)
    with pytest.raises(PlanError) as info:
        load_plan(path, env={})
    assert f"{path}:4" in info.value.message and problem in info.value.message
