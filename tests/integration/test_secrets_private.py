"""Secrets stay secret and files stay private in a real run: escaped passwords, a hook's secret, umask 022."""

from __future__ import annotations

import gzip
import json
import os
import stat
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import explain, invoke, write_plan
from tests.integration.test_run_safety import PEOPLE_PLAN, run_args, seed_small

PASSWORD = "P@ss/w0rd:Zq81"  # escaped in the URI as P%40ss%2Fw0rd%3AZq81
HOOK_SECRET = "hook-S3cret-value-77"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _forms(secret: str) -> list[str]:
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]


@pytest.fixture
def cred(credential_servers: Any) -> Iterator[tuple[Any, str]]:
    """The credential-accepting pair and a fresh database name on it, dropped afterwards."""
    name = f"s_{uuid.uuid4().hex[:10]}"
    yield credential_servers, name
    credential_servers.source.drop_database(name)
    credential_servers.target.drop_database(name)
    credential_servers.target.mongo_promote.locks.delete_many({"_id": name})


def test_a_run_shows_and_stores_no_secret_and_writes_private_files(
    cred: tuple[Any, str], tmp_path: Path, umask_022: None
) -> None:
    servers, name = cred
    seed_small(servers, name)
    escaped = urllib.parse.quote_plus(PASSWORD)

    def with_password(uri: str) -> str:
        return uri.replace("mongodb://", f"mongodb://promoter:{escaped}@") + "?authMechanism=PLAIN"

    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    text = plan.read_text().replace(f'"{servers.source_uri}"', '"${SRC_URI}"')
    text = text.replace(f'"{servers.target_uri}"', '"${DST_URI}"')
    hook = 'printf %s "${HOOK_SECRET}" | wc -c; echo "token=${HOOK_SECRET}"'
    # while the run and its hook are alive, every process's command line, as `ps` shows it
    ps_out = tmp_path / "ps.txt"
    hook_ps = f'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done > {ps_out} 2>/dev/null; true'
    text = text.replace('["echo restarted"]', json.dumps([hook, hook_ps]))
    plan.write_text(text)
    state = tmp_path / "state"
    env = {
        "SRC_URI": with_password(servers.source_uri),
        "DST_URI": with_password(servers.target_uri),
        "HOOK_SECRET": HOOK_SECRET,
    }

    result = invoke(run_args(plan, state, "--yes", "-v"), env)

    assert result.exit_code == 0, explain(result)
    (run_dir,) = (state / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    hook_result, ps_result = report["hooks"]
    assert ps_result["ok"], ps_result
    process_list = ps_out.read_text()
    assert "mongo_promote" in process_list or "pytest" in process_list  # it did list processes
    assert hook_result["command"] == hook  # as written in the plan
    assert hook_result["ok"] and "token=***" in hook_result["output"]
    assert str(len(HOOK_SECRET)) in hook_result["output"]  # the hook did see the value
    assert "promoter:***@" in report["target"]["uri"]

    shown = result.stdout + result.stderr + process_list
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".bson.gz") for p in files)
    for secret in (PASSWORD, HOOK_SECRET):
        for form in _forms(secret):
            assert form not in shown, form
            for path in files:
                data = path.read_bytes()
                if path.suffix == ".gz":
                    data = gzip.decompress(data)
                assert form.encode() not in data, (form, path)

    # private whatever the umask: every directory 0700, every file 0600
    for path in [run_dir, *state.rglob("*")]:
        if path.relative_to(state).parts[0] not in ("runs", "backups"):
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_password_on_the_command_line_is_warned_about_and_never_shown(
    cred: tuple[Any, str], tmp_path: Path
) -> None:
    servers, name = cred
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    escaped = urllib.parse.quote_plus(PASSWORD)
    uri = servers.target_uri.replace("mongodb://", f"mongodb://promoter:{escaped}@")
    result = invoke(
        ["inspect", "--plan", str(plan), "--json", "--target-uri", uri + "?authMechanism=PLAIN"]
    )
    assert result.exit_code == 0, explain(result)
    assert "process list" in result.stderr and "uri_file" in result.stderr
    for form in _forms(PASSWORD):
        assert form not in result.stdout + result.stderr


def test_an_encrypted_backup_restores_with_the_identity_and_only_with_it(
    servers: Any, fresh_name: Any, tmp_path: Path, umask_022: None
) -> None:
    from pyrage import x25519

    from mongo_promote import api
    from mongo_promote.adapters.dump import DumpEncrypted, verify_dump
    from mongo_promote.console import Output
    from mongo_promote.domain.plan import load_plan
    from tests.integration.conftest import snapshot

    name = fresh_name()
    seed_small(servers, name)
    identity = x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"{identity}\n")
    plan = write_plan(
        tmp_path / "plan.yaml",
        servers,
        name,
        PEOPLE_PLAN + f"backup: {{dir: ./b, encrypt_to: [{identity.to_public()}]}}\n",
    )
    loaded = load_plan(plan, env={})
    before = snapshot(servers.target[name])
    out = Output(quiet=True)

    result = api.backup(loaded, out, api.BackupOptions(state_dir=tmp_path))
    backup = Path(result.backup.dir)
    files = sorted(p.name for p in (backup / name).iterdir())
    assert files and all(f.endswith((".bson.gz.age", ".metadata.json.gz.age")) for f in files)
    assert verify_dump(backup).encryption is not None  # checked without the key
    for path in backup.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path

    servers.target[name].People.insert_one({"_id": 999, "email": "later@example.org"})
    with pytest.raises(DumpEncrypted, match="--identity"):
        api.restore(loaded, out, api.RestoreOptions(backup, yes=True))
    api.restore(loaded, out, api.RestoreOptions(backup, yes=True, identity=key))
    assert snapshot(servers.target[name]) == before
