"""Private files and directories: backups, journals and reports are readable by their owner only."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parent as 0700 whatever the umask; an existing leaf is made 0700.

    Parents that already exist keep their mode (they are the user's, e.g. the plan's directory).
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another thread meanwhile
            directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)
    if path not in missing and path.is_dir():
        os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, mode: str = "wb", *, encoding: str | None = None) -> IO[Any]:
    """open() whose file, when created or rewritten, is 0600 whatever the umask.

    `mode` is one of "wb", "ab", "w", "a" (text modes take `encoding`, utf-8 by default).
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding=encoding or "utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: bytes | str, *, atomic: bool = True) -> Path:
    """Write a whole small file as 0600 (via `<name>.tmp` and a rename when `atomic`)."""
    path = Path(path)
    target = path.with_name(path.name + ".tmp") if atomic else path
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open_private(target, "wb") as fh:
            fh.write(payload)
        if atomic:
            os.replace(target, path)
    except BaseException:
        if atomic:
            target.unlink(missing_ok=True)
        raise
    return path


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC, EDQUOT, or EFBIG (RLIMIT_FSIZE / a file system's maximum file size)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def directory_problem(path: Path) -> str | None:
    """Why files cannot be written under `path` (created if missing), or None: a part of it is
    not a directory, it is not writable, or on a read-only file system. Reads only."""
    probe = existing_ancestor(path)
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    if os.statvfs(probe).f_flag & os.ST_RDONLY:
        return f"{probe} is on a read-only file system"
    return None


def existing_ancestor(path: Path) -> Path:
    """`path` itself, or its nearest parent that exists (where it would be created)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def free_bytes(path: Path) -> int:
    """Free space where `path` is (or would be created)."""
    return shutil.disk_usage(existing_ancestor(path)).free
