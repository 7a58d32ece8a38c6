"""The run lock fences on a real server: live leases are never taken, dead ones at once, a lost lease is seen."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from mongo_promote.errors import LockHeld, LockLost
from mongo_promote.state.lock import RunLock, server_now
from tests.integration.conftest import lock_doc


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def key(fresh_name: Any) -> str:
    return str(fresh_name("lock"))


def test_a_live_lease_is_never_taken_not_even_by_the_same_run(servers: Any, key: str) -> None:
    first = RunLock(servers.target, key, "run-a")
    first.acquire()
    try:
        for run_id in ("run-a", "run-b"):  # a resume of the live run is refused too
            with pytest.raises(LockHeld) as refused:
                RunLock(servers.target, key, run_id).acquire()
            assert refused.value.exit_code == 4
            text = refused.value.message
            assert "run-a" in text and socket.gethostname() in text and str(os.getpid()) in text
            assert "since" in text
        first.check()  # still ours
    finally:
        first.release()
    assert servers.target.mongo_promote.locks.find_one({"_id": key}) is None


def test_a_dead_holder_on_this_host_is_replaced_at_once(servers: Any, key: str) -> None:
    doc = {**lock_doc(key, "crashed", dt.timedelta(minutes=10)), "host": socket.gethostname()}
    doc["pid"] = _dead_pid()
    servers.target.mongo_promote.locks.insert_one(doc)
    lock = RunLock(servers.target, key, "crashed")  # its --resume, right after the crash
    lock.acquire()
    try:
        held = servers.target.mongo_promote.locks.find_one({"_id": key})
        assert held["pid"] == os.getpid() and held["token"] == lock.token
    finally:
        lock.release()


def test_a_live_holder_elsewhere_waits_for_expiry(servers: Any, key: str) -> None:
    locks = servers.target.mongo_promote.locks
    locks.insert_one(lock_doc(key, "other", dt.timedelta(minutes=10)))
    with pytest.raises(LockHeld, match="elsewhere"):
        RunLock(servers.target, key, "mine").acquire()
    assert locks.find_one({"_id": key})["run_id"] == "other"
    locks.update_one({"_id": key}, {"$set": {"lease_expires_at": server_now(servers.target)}})
    lock = RunLock(servers.target, key, "mine")
    lock.acquire()
    lock.release()


def test_lease_times_come_from_the_server_clock(servers: Any, key: str) -> None:
    lock = RunLock(servers.target, key, "r", lease=dt.timedelta(seconds=30))
    before = server_now(servers.target)
    lock.acquire()
    try:
        held = lock.holder()
        assert held is not None and held.acquired_at is not None
        assert before - dt.timedelta(seconds=1) <= held.acquired_at <= server_now(servers.target)
        assert held.lease_expires_at - held.acquired_at == dt.timedelta(seconds=30)
    finally:
        lock.release()


def test_a_stolen_lease_is_seen_by_check_and_by_the_renewer(servers: Any, key: str) -> None:
    events: list[str] = []
    lock = RunLock(servers.target, key, "r", lease=dt.timedelta(seconds=1.5), on_lost=events.append)
    lock.acquire()
    try:
        time.sleep(1.2)
        lock.check()  # renewed in the background meanwhile: still held
        servers.target.mongo_promote.locks.update_one(
            {"_id": key}, {"$set": {"run_id": "thief", "token": "stolen"}}
        )
        deadline = time.monotonic() + 5
        while lock.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.lost is not None and events == [lock.lost]
        with pytest.raises(LockLost, match="thief") as lost:
            lock.check()
        assert lost.value.exit_code == 4
    finally:
        lock.release()
    # release never deletes the lock another run holds now
    assert servers.target.mongo_promote.locks.find_one({"_id": key})["run_id"] == "thief"


def test_the_fence_between_renewals_reads_the_token_and_sees_a_stolen_lease(
    servers: Any, key: str
) -> None:
    lock = RunLock(servers.target, key, "r")
    lock.acquire()
    locks = servers.target.mongo_promote.locks
    try:
        until = locks.find_one({"_id": key})["lease_expires_at"]
        lock.fence()  # just acquired: no renewal, the token read
        assert locks.find_one({"_id": key})["lease_expires_at"] == until
        time.sleep(0.05)
        lock.check()  # the full check renews
        assert locks.find_one({"_id": key})["lease_expires_at"] > until
        locks.update_one({"_id": key}, {"$set": {"run_id": "thief", "token": "stolen"}})
        with pytest.raises(LockLost, match="thief") as lost:
            lock.fence()
        assert lost.value.exit_code == 4 and lock.lost is not None
    finally:
        lock.release()
    assert locks.find_one({"_id": key})["run_id"] == "thief"


def test_an_expired_own_lease_fails_the_check(servers: Any, key: str) -> None:
    lock = RunLock(servers.target, key, "r")
    lock.acquire()
    try:
        lock._stop.set()  # the renewer died with the network
        servers.target.mongo_promote.locks.update_one(
            {"_id": key}, {"$set": {"lease_expires_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}}
        )
        with pytest.raises(LockLost):
            lock.check()
    finally:
        lock.release()
