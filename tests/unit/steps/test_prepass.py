"""The pre-pass's estimate of a write freeze's window, from measured rates: its parts, what
dominates it, and the sentence the run prints (and stops with, over max_window)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mongo_promote.adapters.mongo import expected_capabilities
from mongo_promote.steps.prepass import Rates, estimate_window

MB = 1 << 20  # human_bytes counts in MiB


def ctx(flavour: str) -> Any:
    version = "7.0.0" if flavour == "mongod" else "7.0.42"
    return SimpleNamespace(target_caps=expected_capabilities(flavour, version), workers=4)


def test_the_window_is_the_catch_up_the_looks_and_the_renames() -> None:
    rates = Rates(read_bps=10 * MB, backup_bps=2 * MB, rename_s=0.01, stats_s=0.002)
    sizes = {"Message": 40 * MB, "User": 5 * MB, "Conversation": 5 * MB}
    estimate = estimate_window(ctx("mongod"), rates, sizes, ["Message"], ["NewOne"])
    assert estimate.parts == {
        "read": 1.0,  # 10 MB unchanged at 10 MB/s
        "rewrite": 20.0,  # 40 MB changed, read and rewritten at the backup's 2 MB/s
        "renames": 0.04,  # 4 collections, one atomic rename each
        "looks": 0.016,  # 4 collections, one look each at its rename, four more 4 at a time
    }
    assert estimate.seconds == 21.056 and estimate.dominated_by == "rewrite"
    assert estimate.describe().startswith(
        "21.1 s, dominated by reading and rewriting into the backup the 1 changed one(s) "
        "(40.0 MB at 2.0 MB/s): 20.0 s"
    )
    assert "not counted: the freeze's own commands" in estimate.describe()


def test_without_drop_target_each_collection_costs_three_renames() -> None:
    rates = Rates(read_bps=1 * MB, backup_bps=1 * MB, rename_s=0.1, stats_s=0.0)
    estimate = estimate_window(ctx("ferretdb"), rates, {"A": 0, "B": 0}, [], [])
    assert estimate.parts["renames"] == 0.6 and estimate.dominated_by == "renames"
    assert estimate.to_json()["seconds"] == estimate.seconds
