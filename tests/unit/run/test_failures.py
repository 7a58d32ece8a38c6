"""How the runner names a failure: exit code, cause and the command that continues or undoes it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pymongo.errors import (
    AutoReconnect,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from mongo_promote.errors import Interrupted, OperationFailed
from mongo_promote.run.failures import classify


def ctx() -> Any:
    side = SimpleNamespace
    plan = SimpleNamespace(
        source=side(uri="mongodb://u:s3cret@src:1/", database="staging"),
        target=side(uri="mongodb://u:s3cret@prod:1/", database="meeshy"),
    )
    return SimpleNamespace(plan=plan, run_id="R1", source_client=None, target_client=None)


def named(exc: BaseException, where: str = "before") -> Any:
    return classify(exc, ctx(), where, resume="run --resume R1", rollback="rollback --run R1")


def test_network_loss_is_exit_3_with_the_resume_command_even_when_wrapped() -> None:
    for cause, said in (
        (AutoReconnect("connection closed"), "lost the connection"),
        (ServerSelectionTimeoutError("no server"), "cannot reach a server"),
        (NetworkTimeout("127.0.0.1:1: timed out"), "did not answer"),
    ):
        try:
            try:
                raise cause
            except Exception as inner:
                raise OperationFailed("copy of Message failed") from inner
        except OperationFailed as wrapped:
            error = named(wrapped)
        assert error.exit_code == 3
        assert said in error.message and "run --resume R1" in error.message
        assert "production untouched" in error.message


def test_permission_denied_says_which_role_on_which_database() -> None:
    refused = OperationFailure(
        'not authorized on mongo_promote to execute command { insert: "locks" }',
        code=13,
        details={
            "errmsg": 'not authorized on mongo_promote to execute command { insert: "locks" }'
        },
    )
    error = named(refused, "start")
    assert error.exit_code == 3
    assert "`readWrite` on 'mongo_promote'" in error.message and "'insert'" in error.message
    target = OperationFailure(
        "x",
        code=13,
        details={"errmsg": "not authorized on meeshy to execute command { renameCollection: 1 }"},
    )
    assert "`readWrite` on 'meeshy' (the target)" in named(target, "cutover").message


def test_a_failure_during_cutover_names_the_renames_made_and_both_ways_out() -> None:
    error = classify(
        RuntimeError("boom"), ctx(), "cutover", resume="run --resume R1",
        rollback="rollback --run R1", renamed=["People"],
    )  # fmt: skip
    assert error.exit_code == 1
    assert "renames already made: People" in error.message
    assert "run --resume R1" in error.message and "rollback --run R1" in error.message
    assert "s3cret" not in error.message


def test_an_interrupt_is_130() -> None:
    assert named(KeyboardInterrupt()).exit_code == Interrupted.exit_code == 130
