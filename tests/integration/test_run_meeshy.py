"""The Meeshy promotion end to end through the CLI, on real servers, checked byte by byte.

One scale-1 promotion (dry-run first) is shared by every test here (the `meeshy_run` session
fixture in conftest.py); each test checks one promise of DESIGN.md §5 / issue 3 against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from mongo_promote.demo.generator import LEGACY_COLLECTIONS, NEW_IN_SOURCE, SOURCE_COLLECTIONS
from mongo_promote.dumpfmt import verify_dump
from mongo_promote.plan import bundled_plan_path, load_plan
from tests.integration.conftest import (
    SOURCE_INDEXES,
    MeeshyRun,
    explain,
    index_specs,
    invoke,
    json_out,
    run_artifacts,
    snapshot,
)

pytestmark = pytest.mark.integration

TZ: CodecOptions[Any] = CodecOptions(tz_aware=True)
PLAIN: CodecOptions[Any] = CodecOptions()
EMBED_SOURCE = "MessageTranslation"
TRANSFORMED = {"Message", "MessageAttachment"}
COPIED = [n for n in SOURCE_COLLECTIONS if n != EMBED_SOURCE]
COPIED_PLAIN = [n for n in COPIED if n not in TRANSFORMED]
# Production collections the plan must not touch: legacy ones and the target's own child collection.
UNTOUCHED = [*LEGACY_COLLECTIONS, EMBED_SOURCE]
FIELD_ORDER = [
    "text",
    "translationModel",
    "confidenceScore",
    "createdAt",
    "updatedAt",
    "isEncrypted",
    "encryptionKeyId",
    "encryptionIv",
    "encryptionAuthTag",
]
STAGING = "staging.meeshy.me"


@pytest.fixture(scope="module")
def done(meeshy_run: MeeshyRun) -> MeeshyRun:
    assert meeshy_run.run.exit_code == 0, explain(meeshy_run.run)
    return meeshy_run


@pytest.fixture(scope="module")
def report(done: MeeshyRun) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(json_out(done.run)["report"]).read_text())
    return data


def decoded(raws: list[bytes], codec: CodecOptions[Any] = TZ) -> dict[Any, dict[str, Any]]:
    docs = (bson.decode(raw, codec_options=codec) for raw in raws)
    return {doc["_id"]: doc for doc in docs}


def first_present(doc: dict[str, Any], names: list[str]) -> Any:
    for name in names:
        if doc.get(name) is not None:
            return doc[name]
    return None


def expected_translations(run: MeeshyRun) -> tuple[dict[Any, dict[str, Any]], dict[str, int]]:
    """What the plan says each Message must carry, computed here from the source's raw children."""
    messages = set(decoded(run.source_before["Message"]))
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    orphans = 0
    for child in decoded(run.source_before[EMBED_SOURCE]).values():
        if child["messageId"] not in messages:
            orphans += 1
            continue
        key = first_present(child, ["targetLanguage", "language"])
        groups.setdefault((child["messageId"], key), []).append(child)
    expected: dict[Any, dict[str, Any]] = {}
    for (message_id, key), children in groups.items():
        winner = max(children, key=lambda c: c["updatedAt"])
        value = {
            "text": first_present(winner, ["translatedText", "translatedContent", "content"]),
            "translationModel": winner.get("translationModel", "basic"),
            "confidenceScore": winner["confidenceScore"],
            "createdAt": winner["createdAt"],
            "updatedAt": winner["updatedAt"],
        }
        for name in FIELD_ORDER[5:]:
            if name in winner:
                value[name] = winner[name]
        expected.setdefault(message_id, {})[key] = value
    duplicates = sum(len(c) - 1 for c in groups.values())
    return expected, {"orphans": orphans, "duplicates": duplicates, "pairs": len(groups)}


def rewrite(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(STAGING, "meeshy.me")
    if isinstance(value, dict):
        return {k: rewrite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite(v) for v in value]
    return value


# ---------------------------------------------------------------- the run itself


def test_run_succeeds_with_reports_backup_and_local_hook(
    done: MeeshyRun, report: dict[str, Any]
) -> None:
    out = json_out(done.run)
    assert set(out) >= {"run_id", "status", "backup_dir", "report", "validation"}
    assert out["status"] == "succeeded"
    assert out["validation"] == {"passed": True}
    run_dir = done.state_dir / "runs" / out["run_id"]
    assert Path(out["report"]) == run_dir / "report.json"
    assert (run_dir / "report.md").is_file() and (run_dir / "report.md").read_text().strip()
    assert (run_dir / "journal.jsonl").is_file()
    assert report["run_id"] == out["run_id"] and report["status"] == "succeeded"

    # the backup exists where the plan put it (MEESHY_BACKUP_DIR) and verifies
    assert Path(out["backup_dir"]) == done.state_dir / "backups" / out["run_id"]
    manifest = verify_dump(Path(out["backup_dir"]))
    backed_up = {e.name: e.count for e in manifest.collections if e.database == done.name}
    assert backed_up == {n: len(docs) for n, docs in done.target_before.items()}

    # the after_cutover hook ran the harmless local command, nothing else; the report shows the
    # command as the plan writes it (the shell expanded the variable)
    assert [h["command"] for h in report["hooks"]] == [
        "${MEESHY_RESTART_GATEWAY:-ssh root@meeshy.me 'cd /opt/meeshy && docker compose restart gateway'}"
    ]
    assert report["hooks"][0]["ok"] and "gateway-restart" in report["hooks"][0]["output"]


def test_plain_collections_are_byte_identical_to_the_source(done: MeeshyRun) -> None:
    for name in COPIED_PLAIN:
        assert done.target_after[name] == done.source_before[name], name


def test_translations_are_folded_into_messages(done: MeeshyRun, report: dict[str, Any]) -> None:
    expected, counts = expected_translations(done)
    source = decoded(done.source_before["Message"], PLAIN)
    target_raw = {bson.decode(r)["_id"]: r for r in done.target_after["Message"]}
    assert set(target_raw) == set(source)
    seen = {"basic": 0, "encrypted": 0, "legacy_text": 0, "legacy_key": 0}
    for message_id, raw in target_raw.items():
        got = bson.decode(raw, codec_options=TZ)
        if message_id not in expected:
            # no child: the message is left exactly as it was (no empty map)
            assert raw == bson.encode(source[message_id]), message_id
            continue
        translations = got.pop("translations")
        # the rest of the message is the source document, key order and types included
        assert bson.encode(bson.decode(bson.encode(got), codec_options=PLAIN)) == bson.encode(
            source[message_id]
        )
        assert translations == expected[message_id], message_id
        for lang, value in translations.items():
            assert list(value) == [f for f in FIELD_ORDER if f in value], (message_id, lang)
            seen["basic"] += value["translationModel"] == "basic"
            seen["encrypted"] += value.get("isEncrypted") is True
    # the data really exercised the fallbacks and the optional encryption fields
    assert seen["basic"] > 0 and seen["encrypted"] > 0
    encrypted = [v for m in expected.values() for v in m.values() if v.get("isEncrypted") is True]
    assert all(
        {"encryptionKeyId", "encryptionIv", "encryptionAuthTag"} <= set(v) for v in encrypted
    )
    children = decoded(done.source_before[EMBED_SOURCE]).values()
    assert any("translatedText" not in c and "translatedContent" in c for c in children)
    assert any("translatedText" not in c and "content" in c for c in children)
    assert any("targetLanguage" not in c for c in children)

    embed = next(t for t in report["transforms"] if t.get("embed") == EMBED_SOURCE)
    assert embed["folded"] == counts["pairs"] == sum(len(m) for m in expected.values())
    assert embed["parents_updated"] == len(expected)


def test_duplicate_winner_kept_and_orphans_reported(
    done: MeeshyRun, report: dict[str, Any]
) -> None:
    manifest = done.manifest["translations"]
    children = {str(k): v for k, v in decoded(done.source_before[EMBED_SOURCE]).items()}
    messages = decoded(done.target_after["Message"])
    assert manifest["duplicate_pairs"] > 0 and manifest["orphans"] > 0
    for winner_id, loser_id in zip(
        manifest["duplicate_winners"], manifest["duplicate_losers"], strict=True
    ):
        winner, loser = children[winner_id], children[loser_id]
        assert winner["messageId"] == loser["messageId"]
        key = first_present(winner, ["targetLanguage", "language"])
        assert key == first_present(loser, ["targetLanguage", "language"])
        folded = messages[winner["messageId"]]["translations"][key]
        win_text = first_present(winner, ["translatedText", "translatedContent", "content"])
        lose_text = first_present(loser, ["translatedText", "translatedContent", "content"])
        assert win_text != lose_text
        assert folded["text"] == win_text and folded["updatedAt"] == winner["updatedAt"]
        texts = [v["text"] for v in messages[winner["messageId"]]["translations"].values()]
        assert lose_text not in texts

    embed = next(t for t in report["transforms"] if t.get("embed") == EMBED_SOURCE)
    assert embed["orphans"] == manifest["orphans"]
    assert embed["duplicates"] == manifest["duplicate_pairs"]
    assert {str(s) for s in embed["orphan_samples"]} <= set(manifest["orphan_ids"]) | set(
        manifest["orphan_message_ids"]
    )
    assert embed["orphan_samples"], "orphans are reported with sample ids"
    # an orphan's message id exists nowhere in production's Message
    assert not set(manifest["orphan_message_ids"]) & {str(k) for k in messages}


def test_attachment_urls_rewritten_and_nothing_else(
    done: MeeshyRun, report: dict[str, Any]
) -> None:
    source = decoded(done.source_before["MessageAttachment"], PLAIN)
    target = decoded(done.target_after["MessageAttachment"], PLAIN)
    assert set(target) == set(source)
    assert all(STAGING.encode() not in raw for raw in done.target_after["MessageAttachment"])
    changed = 0
    for _id, doc in source.items():
        assert bson.encode(target[_id]) == bson.encode(rewrite(doc)), _id
        changed += target[_id] != doc
    urls = done.manifest["urls"]
    assert changed == urls["documents_with_staging"] > 0
    rewrite_stats = next(t for t in report["transforms"] if t.get("rewrite") == "MessageAttachment")
    assert rewrite_stats["documents_changed"] == urls["documents_with_staging"]
    assert rewrite_stats["occurrences"] == urls["occurrences"]
    assert rewrite_stats["remaining"] == 0


def test_declared_and_source_indexes_present(done: MeeshyRun, servers: Any) -> None:
    plan = load_plan(bundled_plan_path(), env=done.env).plan
    target = index_specs(servers.target[done.name])
    assert plan.indexes, "the bundled plan declares indexes"
    for collection, declared in plan.indexes.items():
        present = {name: keys for name, keys, _ in target[collection]}
        for ix in declared:
            assert ix.name in present, (collection, ix.name, present)
            assert present[ix.name] == tuple(ix.keys.items())
    for collection, indexes in SOURCE_INDEXES.items():
        present = {name: keys for name, keys, _ in target[collection]}
        for keys, name in indexes:
            assert present.get(name) == tuple(keys), (collection, name)
    for name in COPIED:
        assert "_id_" in {ix[0] for ix in target[name]}


def test_legacy_and_target_only_collections_untouched(done: MeeshyRun, servers: Any) -> None:
    for name in UNTOUCHED:
        assert name in done.target_before, name
        assert done.target_after[name] == done.target_before[name], name
    indexes = index_specs(servers.target[done.name])
    for name in UNTOUCHED:
        assert indexes[name] == done.target_indexes_before[name], name
    # every collection the plan does not copy is left exactly as it was
    assert set(done.target_after) == set(done.target_before) | set(NEW_IN_SOURCE)


def test_new_collections_created(done: MeeshyRun) -> None:
    for name in NEW_IN_SOURCE:
        assert name not in done.target_before
        assert done.target_after[name] == done.source_before[name]


def test_source_unchanged(done: MeeshyRun, servers: Any) -> None:
    assert done.source_after == done.source_before
    assert index_specs(servers.source[done.name])["Message"] == sorted(
        [("_id_", (("_id", 1),), False)]
        + [(n, tuple(k), False) for k, n in SOURCE_INDEXES["Message"]]
    )


def test_no_shadow_aside_or_lock_left(done: MeeshyRun, servers: Any) -> None:
    assert run_artifacts(servers.target[done.name]) == []
    assert run_artifacts(servers.source[done.name]) == []
    assert servers.target.mongo_promote.locks.find_one({"_id": done.name}) is None


def test_validate_after_the_run_passes(done: MeeshyRun, servers: Any) -> None:
    result = invoke(["validate", "--plan", "meeshy", "--json"], done.env)
    assert result.exit_code == 0, explain(result)
    assert json_out(result)["passed"] is True
    assert snapshot(servers.target[done.name]) == done.target_after  # validate only reads


# ---------------------------------------------------------------- dry-run


def test_dry_run_writes_nothing_anywhere(done: MeeshyRun) -> None:
    assert done.dry_run.exit_code == 0, explain(done.dry_run)
    before_source, before_target = done.servers_before_dry_run
    after_source, after_target = done.servers_after_dry_run
    assert after_source == before_source
    assert after_target == before_target  # including the `mongo_promote` database: no lock
    assert done.files_after_dry_run == []  # no run directory, no backup


def test_dry_run_lists_the_actions(done: MeeshyRun) -> None:
    out = json_out(done.dry_run)
    assert out["status"] == "dry-run" and out["run_id"] is None
    actions = out["actions"]
    by_name = {a["name"]: a for a in actions["collections"]}
    assert set(by_name) == set(COPIED)
    assert {n for n, a in by_name.items() if a["action"] == "create"} == set(NEW_IN_SOURCE)
    assert {n for n, a in by_name.items() if a["action"] == "replace"} == set(COPIED) - set(
        NEW_IN_SOURCE
    )
    sizes = done.manifest["source"]["collections"]
    for name, action in by_name.items():
        assert action["source_count"] == sizes[name], name
        target = done.target_before.get(name)
        assert action["target_count"] == (len(target) if target is not None else None), name
    assert actions["documents_to_copy"] == sum(sizes[n] for n in COPIED)
    left = {x["name"] for x in actions["left_alone"]}
    assert set(UNTOUCHED) <= left
    embed = next(t for t in actions["transforms"] if t.get("embed") == EMBED_SOURCE)
    assert embed["orphans"] == done.manifest["translations"]["orphans"]
    assert embed["duplicates"] == done.manifest["translations"]["duplicate_pairs"]
    rewrite_plan = next(t for t in actions["transforms"] if t.get("rewrite") == "MessageAttachment")
    assert rewrite_plan["documents_changed"] == done.manifest["urls"]["documents_with_staging"]
    assert "idx_message_conv_notdeleted_created" in actions["indexes"]["Message"]
    assert actions["lock_held_by"] is None


def test_raw_documents_are_not_reencoded(done: MeeshyRun) -> None:
    """Documents with no transform keep their bytes even inside the transformed collections."""
    untouched = {
        bson.decode(r)["_id"]: r
        for r in done.source_before["MessageAttachment"]
        if STAGING.encode() not in r
    }
    assert untouched
    target = {RawBSONDocument(r)["_id"]: r for r in done.target_after["MessageAttachment"]}
    for _id, raw in untouched.items():
        assert target[_id] == raw
