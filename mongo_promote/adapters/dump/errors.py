"""What can be wrong with a dump, as typed errors (each an OperationFailed or UsageError with its exit code)."""

from __future__ import annotations

from pathlib import Path

from mongo_promote.errors import OperationFailed, UsageError


class DumpFormatError(OperationFailed):
    """A dump file is malformed (bad length prefix, truncated document, corrupt gzip, bad JSON)."""

    code = "backup_invalid"

    def __init__(self, message: str, *, path: Path | str | None = None, offset: int | None = None):
        super().__init__(message)
        self.path = path
        self.offset = offset


class DumpVerificationError(OperationFailed):
    """A dump does not match its manifest; `.problems` lists every mismatch, one per line."""

    code = "backup_invalid"

    def __init__(self, root: Path, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"backup {root} failed verification ({len(problems)} problem(s)):\n{lines}"
        )
        self.root = root
        self.problems = problems


class ManifestMissing(OperationFailed):
    """The directory has no manifest.json: a plain mongodump dump, or one we never finished."""

    code = "backup_invalid"


class DumpExists(UsageError):
    """The output directory already holds a dump (or other files): a backup never overwrites one."""

    code = "backup_exists"


class DumpIncomplete(OperationFailed):
    """A dump whose writing never finished (its INCOMPLETE marker is still there): not restorable."""

    code = "backup_incomplete"


class DumpDiskFull(OperationFailed):
    """The disk filled up while a dump was written; the partial dump was removed."""

    code = "disk_full"


class DumpEncrypted(UsageError):
    """The dump is encrypted (age) and no identity was given to read it."""

    code = "backup_encrypted"
