"""Typed failures that carry the exit code the CLI must return (DESIGN.md §3)."""

from __future__ import annotations


class PromoteError(Exception):
    """Base of every expected failure; the CLI prints the message and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperationFailed(PromoteError):
    """The operation ran and failed, or validation found differences."""

    exit_code = 1


class UsageError(PromoteError):
    """Bad usage: nothing was touched."""

    exit_code = 2


class PlanError(UsageError):
    """An invalid plan file, located by file, line and field so it can be fixed at once."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        where = f"{path}:{line}" if line else path
        what = f"{field}: {problem}" if field else problem
        super().__init__(f"invalid plan {where}: {what}")
        self.path, self.line, self.field, self.problem = path, line, field, problem


class ServerUnreachable(PromoteError):
    """A server could not be reached or refused authentication."""

    exit_code = 3


class LockHeld(PromoteError):
    """Another run holds the promotion lock on the target."""

    exit_code = 4


class Interrupted(PromoteError):
    """The user interrupted; the target is consistent and `--resume` continues."""

    exit_code = 130


class LockLost(LockHeld):
    """This run's lease was taken by another run or could not be renewed: stop before cutover."""
