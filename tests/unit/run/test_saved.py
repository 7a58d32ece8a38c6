"""Saved plans (`run --dry-run --save`, `run --from`): what moved, in words (issue 19)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mongo_promote.errors import UsageError
from mongo_promote.run.saved import SavedPlan, read_saved, save, what_moved


def reviewed() -> SavedPlan:
    return SavedPlan(
        run_id="20250101-000000-abcd",
        plan="/p/promote.yaml",
        plan_sha256="ab",
        plan_fingerprint="f1",
        options={"workers": 4, "allow_target_drift": False, "run_hooks": True},
        inventory={"source": {"Orders": "copy"}, "target": {"Orders": "copy", "old": "legacy"}},
        actions=[{"step": 3, "key": "copy", "description": "copy 1 collection(s)"}],
        fingerprints={"source": {"Orders": "5:aa"}, "target": {"Orders": "2:bb"}},
        saved_at="2025-01-01T00:00:00+00:00",
    )


def test_nothing_moved_and_each_kind_of_move_is_named() -> None:
    saved = reviewed()
    assert what_moved(saved, reviewed()) == []
    now = replace(
        reviewed(),
        inventory={"source": {"Orders": "copy", "New": "copy"}, "target": {"Orders": "copy"}},
        fingerprints={"source": {"Orders": "5:cc"}, "target": {"Orders": "3:bb"}},
    )
    assert what_moved(saved, now) == [
        "the source's inventory changed (new New)",
        "the target's inventory changed (gone old)",
        "source collection Orders changed (5 documents, content differs)",
        "production collection Orders changed (2 documents then, 3 documents now)",
    ]
    other = replace(reviewed(), actions=[{"step": 3, "key": "copy", "description": "copy 2"}])
    assert what_moved(saved, other) == ["the actions changed: copy 2"]


def test_a_saved_plan_is_private_and_read_back_whole(tmp_path: Path) -> None:
    path = save(tmp_path / "plan.json", reviewed())
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_saved(path) == reviewed()
    (tmp_path / "other.json").write_text('{"kind": "something else"}')
    with pytest.raises(UsageError, match="is not a saved plan"):
        read_saved(tmp_path / "other.json")
    with pytest.raises(UsageError, match="cannot read the saved plan"):
        read_saved(tmp_path / "missing.json")
