"""The run lock: a lease in the target's `mongo_promote.locks`, timed by the server's clock, that keeps
two runs apart and fences every rename."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from mongo_promote.adapters.shell import process_alive
from mongo_promote.domain.names import TOOL_DATABASE
from mongo_promote.errors import LockHeld, LockLost, UsageError

LOCKS = "locks"
LEASE = timedelta(seconds=60)
# `fence()` renews on the server at most this often (seconds); between renewals each rename's
# fence is one read of the lock's token
FENCE_INTERVAL = 1.0


@dataclass
class LockInfo:
    run_id: str
    host: str
    pid: int | None
    acquired_at: datetime | None
    lease_expires_at: datetime
    token: str | None = None

    def describe(self) -> str:
        since = f"{self.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if self.acquired_at else "?"
        return (
            f"run {self.run_id} (host {self.host}, pid {self.pid}, since "
            f"{since}, lease until "
            f"{self.lease_expires_at:%H:%M:%S} UTC)"
        )

    def provably_gone(self) -> bool:
        """Its process ran on this machine and no longer runs (a crash, a kill -9), or it is
        this very process, whose run ended without reaching the server to release it."""
        if self.host != socket.gethostname() or not isinstance(self.pid, int) or self.pid <= 0:
            return False
        if self.pid == os.getpid() and self.token in _ABANDONED:
            return True
        return not process_alive(self.pid)


# Tokens of leases this process's runs are done with but could not release (the server was
# unreachable): a later run in the same process (a library user, a test) may take them at once.
_ABANDONED: set[str | None] = set()


def server_now(client: MongoClient[Any]) -> datetime:
    """The target server's clock (`hello.localTime`, which FerretDB v1 answers too): every lease
    is compared with one clock, whatever the clocks of the machines running the tool say."""
    reply = client.admin.command("hello")
    local = reply.get("localTime")
    if not isinstance(local, datetime):
        local = client.admin.command("serverStatus").get("localTime")
    if not isinstance(local, datetime):
        raise UsageError("the target server reports no localTime: cannot time the run's lease")
    return _utc(local)


class RunLock:
    """A lease in the target's `mongo_promote.locks`, timed by the server's clock.

    - A live lease is never taken over, not even by `--resume` of the same run (exit 4, naming
      the holder). A lease that expired, or whose holder is provably gone (same host, process no
      longer running), is taken at once, by compare-and-swap on the holder's token.
    - While the run lives, a thread renews the lease (every LEASE/3). A renewal that finds the
      lease taken, or that cannot reach the server before the lease ends, marks the lock lost:
      `lost` says why, `on_lost(reason)` is called once (the runner journals `lock.lost`), and
      `check()` raises LockLost from then on.
    - `check()` is the fence: call it before cutover. It renews the lease on the server only if
      this run still holds it unexpired, and raises LockLost otherwise.
    - `fence()` is the same check before each rename, renewing by time: when the last renewal is
      younger than FENCE_INTERVAL (a cutover's renames follow one another within milliseconds,
      and the lease cannot have ended since), one read that the lock still holds this run's token
      (a lease taken meanwhile stops the run before the rename); otherwise `check()`.
    """

    def __init__(
        self,
        client: MongoClient[Any],
        database: str,
        run_id: str,
        *,
        lease: timedelta = LEASE,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.coll = client[TOOL_DATABASE][LOCKS]
        self.client = client
        self.key = database
        self.run_id = run_id
        self.lease = lease
        self.on_lost = on_lost
        self.token = secrets.token_hex(8)
        self.lost: str | None = None
        self._held = False
        self._valid_until = 0.0  # time.monotonic() by which the last renewal's lease ends
        self._renewed_at = 0.0  # time.monotonic() when the last renewal was asked
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> LockInfo | None:
        return _lock_info(self.coll.find_one({"_id": self.key}))

    def live_holder(self) -> LockInfo | None:
        """The holder `acquire` would refuse (exit 4): a lease not expired by the server's clock,
        whose process may still be alive. Reads only (the dry-run asks)."""
        current = self.holder()
        if current is None or current.provably_gone():
            return None
        return current if current.lease_expires_at > server_now(self.client) else None

    def acquire(self) -> None:
        asked = time.monotonic()
        now = server_now(self.client)
        doc = {
            "_id": self.key,
            "run_id": self.run_id,
            "token": self.token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "acquired_at": now,
            "lease_expires_at": now + self.lease,
        }
        try:
            self.coll.insert_one(doc)
        except DuplicateKeyError:
            self._take_over(doc, now)
        with self._state:
            self._held, self.lost = True, None
            self._valid_until = asked + self.lease.total_seconds()
            self._renewed_at = asked
        self._start_renewing()

    def _take_over(self, doc: dict[str, Any], now: datetime) -> None:
        """Only an expired lease or a provably dead holder's; compare-and-swap on what we read."""
        raw = self.coll.find_one({"_id": self.key})
        current = _lock_info(raw)
        if raw is None or current is None:
            return self._insert_again(doc)
        expired = current.lease_expires_at <= now
        if not expired and not current.provably_gone():
            same = " (this very run: it is still alive)" if current.run_id == self.run_id else ""
            raise LockHeld(
                f"another run holds the lock on database {self.key!r}{same}: "
                f"{current.describe()}; it is renewed while that run lives"
            )
        match = {k: raw[k] for k in ("_id", "run_id", "token", "lease_expires_at") if k in raw}
        swapped = self.coll.find_one_and_update(
            match, {"$set": {k: v for k, v in doc.items() if k != "_id"}}
        )
        if swapped is None:
            raise LockHeld(f"another run took the lock on database {self.key!r} just now")

    def _insert_again(self, doc: dict[str, Any]) -> None:
        try:
            self.coll.insert_one(doc)
        except DuplicateKeyError:
            raise LockHeld(f"another run took the lock on database {self.key!r} just now") from None

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="lock-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                self._renew()
            except LockLost:
                return
            except Exception as exc:  # a network blip: retried until the lease would end
                if time.monotonic() >= self._valid_until:
                    self._mark_lost(f"lease not renewed before it ended ({type(exc).__name__})")
                    return

    def _renew(self) -> None:
        """Extend the lease if this run still holds it unexpired (server clock), else LockLost."""
        asked = time.monotonic()
        now = server_now(self.client)
        result = self.coll.update_one(
            {"_id": self.key, "token": self.token, "lease_expires_at": {"$gt": now}},
            {"$set": {"lease_expires_at": now + self.lease}},
        )
        if result.matched_count == 0:
            holder = self.holder()
            who = holder.describe() if holder else "nobody (the lock document is gone)"
            self._mark_lost(f"the lease was taken or expired; now held by {who}")
            raise LockLost(self._lost_message())
        with self._state:
            self._valid_until = asked + self.lease.total_seconds()
            self._renewed_at = asked

    def _mark_lost(self, reason: str) -> None:
        with self._state:
            first = self.lost is None
            self.lost = self.lost or reason
        if first and self.on_lost is not None:
            with contextlib.suppress(Exception):  # reporting the loss must not hide it
                self.on_lost(reason)

    def _lost_message(self) -> str:
        return (
            f"run {self.run_id} lost its lock on database {self.key!r}: {self.lost}; "
            "stopped before touching production further"
        )

    def check(self) -> None:
        """The fence before cutover and before each rename: LockLost unless this run still holds
        an unexpired lease on the server (which this call also renews)."""
        if not self._held:
            raise LockLost(f"run {self.run_id} does not hold the lock on database {self.key!r}")
        if self.lost is not None:
            raise LockLost(self._lost_message())
        try:
            self._renew()
        except LockLost:
            raise
        except Exception as exc:
            if time.monotonic() >= self._valid_until:
                self._mark_lost(f"lease not renewable ({type(exc).__name__})")
                raise LockLost(self._lost_message()) from None
            raise

    def fence(self) -> None:
        """`check()` before one rename of many, renewing by time (see the class's docstring):
        one round trip instead of two (the server's clock, then the renewal)."""
        if self._held and self.lost is None:
            with self._state:
                since = time.monotonic() - self._renewed_at
                left = self._valid_until - time.monotonic()
            if since < FENCE_INTERVAL and left > self.lease.total_seconds() / 2:
                if self.coll.find_one({"_id": self.key, "token": self.token}, {"_id": 1}):
                    return
                holder = self.holder()
                who = holder.describe() if holder else "nobody (the lock document is gone)"
                self._mark_lost(f"the lease was taken; now held by {who}")
                raise LockLost(self._lost_message())
        self.check()

    def abandon(self) -> None:
        """The run is over and the server unreachable: no release is tried (`release` then does
        nothing); the lease ends by itself, and a later run in this process or on this host,
        where this process is gone, takes it at once (`LockInfo.provably_gone`)."""
        self._stop.set()
        if self._held:
            self._held = False
            _ABANDONED.add(self.token)

    def release(self) -> None:
        self._stop.set()
        if self._thread and self._held:  # abandoned: its renewal may be stuck on a dead server
            self._thread.join(timeout=5)
        held, self._held = self._held, False
        if held:
            try:
                self.coll.delete_one({"_id": self.key, "token": self.token})
            except Exception:
                _ABANDONED.add(self.token)
                raise


def _lock_info(doc: dict[str, Any] | None) -> LockInfo | None:
    if not doc:
        return None
    # Only run_id and the lease are essential: a lock written by hand or by another version
    # of the tool still means "held".
    acquired = doc.get("acquired_at")
    expires = doc.get("lease_expires_at")
    return LockInfo(
        str(doc.get("run_id", "?")),
        str(doc.get("host", "?")),
        doc.get("pid"),
        _utc(acquired) if isinstance(acquired, datetime) else None,
        _utc(expires) if isinstance(expires, datetime) else datetime.max.replace(tzinfo=UTC),
        doc.get("token"),
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
