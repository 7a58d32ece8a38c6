"""Typed failures that carry the exit code the CLI must return (DESIGN.md §3) and a stable `code`
name (`{"error": {"code", "exit", "message"}}` under --json: `cli.common.fail`)."""

from __future__ import annotations


class PromoteError(Exception):
    """Base of every expected failure; the CLI prints the message and exits with `exit_code`."""

    exit_code = 1
    code = "failed"  # stable, snake_case: what a script matches on (never the message)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperationFailed(PromoteError):
    """The operation ran and failed, or validation found differences."""

    exit_code = 1


class ValidationFailed(OperationFailed):
    """Validation found differences (a failed check of severity error)."""

    code = "validation_failed"


class PlanMoved(OperationFailed):
    """A saved plan (`run --from`) no longer matches the plan file, the inventory or the data."""

    code = "plan_moved"


class UsageError(PromoteError):
    """Bad usage: nothing was touched."""

    exit_code = 2
    code = "usage"


class PathError(UsageError):
    """A path the user gave (or the plan names) cannot be used: not a directory, not writable,
    no room. Nothing was touched."""

    code = "bad_path"


class MissingVariables(UsageError):
    """Commands of the plan (hooks, freeze) or its health checks need variables that are unset."""

    code = "missing_variables"


class PlanError(UsageError):
    """An invalid plan file, located by file, line and field so it can be fixed at once."""

    code = "invalid_plan"

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        where = f"{path}:{line}" if line else path
        what = f"{field}: {problem}" if field else problem
        super().__init__(f"invalid plan {where}: {what}")
        self.path, self.line, self.field, self.problem = path, line, field, problem


class ServerUnreachable(PromoteError):
    """A server could not be reached or refused authentication."""

    exit_code = 3
    code = "unreachable"


class LockHeld(PromoteError):
    """Another run holds the promotion lock on the target."""

    exit_code = 4
    code = "lock_held"


class Interrupted(PromoteError):
    """The user interrupted; the target is consistent and `--resume` continues."""

    exit_code = 130
    code = "interrupted"


class LockLost(LockHeld):
    """This run's lease was taken by another run or could not be renewed: stop before cutover."""

    code = "lock_lost"
