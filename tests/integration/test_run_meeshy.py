"""The Meeshy promotion end to end through the CLI, on real servers, checked byte by byte.

One scale-1 promotion (dry-run first) is shared by every test here (the `meeshy_run` session
fixture in conftest.py); each test checks one promise of DESIGN.md §5 / issue 3 against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from mongo_promote.adapters.dump import verify_dump
from mongo_promote.demo.generator import (
    DROPPED_IN_TARGET,
    LEGACY_COLLECTIONS,
    NEW_IN_SOURCE,
    SNAKE_CASE_MODELS,
    SOURCE_COLLECTIONS,
    URL_FIELDS,
)
from mongo_promote.domain.plan import bundled_plan_path, load_plan
from tests.integration.conftest import (
    SOURCE_INDEXES,
    MeeshyRun,
    by_kept_collection,
    explain,
    index_specs,
    invoke,
    json_out,
    live_part,
    run_artifacts,
    snapshot,
)

pytestmark = pytest.mark.integration

TZ: CodecOptions[Any] = CodecOptions(tz_aware=True)
PLAIN: CodecOptions[Any] = CodecOptions()
EMBED_SOURCE = "MessageTranslation"
TRANSFORMED = {"Message", *URL_FIELDS}
COPIED = [n for n in SOURCE_COLLECTIONS if n != EMBED_SOURCE]
COPIED_PLAIN = [n for n in COPIED if n not in TRANSFORMED]
# Production collections the plan must not touch: legacy ones, the target's own child collection,
# and the models the schema dropped (only production has them: nothing to copy).
UNTOUCHED = [*LEGACY_COLLECTIONS, EMBED_SOURCE, *DROPPED_IN_TARGET]
# infrastructure/scripts/mongodb-add-conversation-indexes.js, index by index
SCRIPT_INDEXES = {
    ("ConversationMember", "idx_member_user_active_conv"): (
        ("userId", 1),
        ("isActive", 1),
        ("conversationId", 1),
    ),
    ("Message", "idx_message_conv_notdeleted_created"): (
        ("conversationId", 1),
        ("isDeleted", 1),
        ("createdAt", -1),
    ),
    ("Conversation", "idx_conversation_active_lastmsg"): (("isActive", 1), ("lastMessageAt", -1)),
    ("ConversationReadCursor", "idx_cursor_user_conv"): (("userId", 1), ("conversationId", 1)),
    ("UserConversationPreferences", "idx_userprefs_user_conv"): (
        ("userId", 1),
        ("conversationId", 1),
    ),
    ("Conversation", "idx_conversation_type_active_lastmsg"): (
        ("type", 1),
        ("isActive", 1),
        ("lastMessageAt", -1),
    ),
}
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


@dataclass
class Folds:
    """What the plan says each Message must carry, computed here from the source's raw documents.

    `children`: message -> language -> the value folded from the winning child (on_duplicate_key
    latest). `expected`: message -> the whole map once the children meet the entries the message
    already had (on_existing latest: the newer updatedAt wins; an exact tie keeps the existing
    entry; a side without updatedAt loses to a side with one; neither: the child wins).
    `contested`: (message, language) -> "kept" or "replaced", for keys on both sides."""

    children: dict[Any, dict[str, dict[str, Any]]]
    expected: dict[Any, dict[str, Any]]
    existing: dict[Any, dict[str, Any]]
    contested: dict[tuple[Any, str], str]
    orphans: int
    duplicates: int
    pairs: int


def child_wins(existing: dict[str, Any], child: dict[str, Any]) -> bool:
    """on_existing: latest, written out independently of the tool."""
    old, new = existing.get("updatedAt"), child.get("updatedAt")
    if old is None or new is None:
        return old is None
    return bool(new > old)


def expected_folds(run: MeeshyRun) -> Folds:
    messages = decoded(run.source_before["Message"])
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    orphans = 0
    for child in decoded(run.source_before[EMBED_SOURCE]).values():
        if child["messageId"] not in messages:
            orphans += 1
            continue
        key = first_present(child, ["targetLanguage", "language"])
        groups.setdefault((child["messageId"], key), []).append(child)
    folded: dict[Any, dict[str, dict[str, Any]]] = {}
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
        folded.setdefault(message_id, {})[key] = value
    existing = {i: m["translations"] for i, m in messages.items() if "translations" in m}
    expected: dict[Any, dict[str, Any]] = {}
    contested: dict[tuple[Any, str], str] = {}
    for message_id in set(folded) | set(existing):
        merged = dict(existing.get(message_id, {}))
        for key, value in folded.get(message_id, {}).items():
            if key in merged:
                wins = child_wins(merged[key], value)
                contested[message_id, key] = "replaced" if wins else "kept"
                if not wins:
                    continue
            merged[key] = value
        expected[message_id] = merged
    duplicates = sum(len(c) - 1 for c in groups.values())
    return Folds(folded, expected, existing, contested, orphans, duplicates, len(groups))


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
        "${MEESHY_RESTART_GATEWAY:-ssh ${MEESHY_REMOTE_HOST} "
        "'cd /opt/meeshy && docker compose restart gateway'}"
    ]
    assert report["hooks"][0]["ok"] and "gateway-restart" in report["hooks"][0]["output"]


def test_plain_collections_are_byte_identical_to_the_source(done: MeeshyRun) -> None:
    for name in COPIED_PLAIN:
        assert done.target_after[name] == done.source_before[name], name


def test_translations_are_folded_into_messages(done: MeeshyRun, report: dict[str, Any]) -> None:
    folds = expected_folds(done)
    source = decoded(done.source_before["Message"], PLAIN)
    target_raw = {bson.decode(r)["_id"]: r for r in done.target_after["Message"]}
    assert set(target_raw) == set(source)
    seen = {"basic": 0, "encrypted": 0}
    for message_id, raw in target_raw.items():
        got = bson.decode(raw, codec_options=TZ)
        if message_id not in folds.children:
            # no child: the message is left exactly as it was (no empty map, existing map kept)
            assert raw == bson.encode(source[message_id]), message_id
            continue
        translations = got.pop("translations")
        # the rest of the message is the source document, key order and types included
        plain = dict(source[message_id])
        plain.pop("translations", None)
        assert bson.encode(bson.decode(bson.encode(got), codec_options=PLAIN)) == bson.encode(plain)
        # keys only one side has: every child's language, every existing entry's language
        expected = folds.expected[message_id]
        assert set(translations) == set(expected), message_id
        for lang, value in translations.items():
            if (message_id, lang) in folds.contested:
                continue  # test_on_existing_latest_keeps_the_newer_entry_both_ways
            assert value == expected[lang], (message_id, lang)
            if lang in folds.children[message_id]:
                assert list(value) == [f for f in FIELD_ORDER if f in value], (message_id, lang)
                seen["basic"] += value["translationModel"] == "basic"
                seen["encrypted"] += value.get("isEncrypted") is True
    # the data really exercised the fallbacks and the optional encryption fields
    assert seen["basic"] > 0 and seen["encrypted"] > 0
    encrypted = [
        v for m in folds.children.values() for v in m.values() if v.get("isEncrypted") is True
    ]
    assert all(
        {"encryptionKeyId", "encryptionIv", "encryptionAuthTag"} <= set(v) for v in encrypted
    )
    children = list(decoded(done.source_before[EMBED_SOURCE]).values())
    # the schema's field is the main one; the historical names are there too, all folded
    for name in ("translatedContent", "translatedText", "content"):
        assert any(name in c for c in children), name
    assert sum("translatedContent" in c for c in children) > len(children) // 2
    assert any("targetLanguage" not in c for c in children)
    # the runbook's script read `translatedText` only (or `content`): most texts came from neither
    texts = [v["text"] for m in folds.children.values() for v in m.values()]
    assert all(isinstance(t, str) and t for t in texts)

    embed = next(t for t in report["transforms"] if t.get("embed") == EMBED_SOURCE)
    assert folds.pairs == sum(len(m) for m in folds.children.values())
    kept = {pair for pair, outcome in folds.contested.items() if outcome == "kept"}
    replaced = {pair for pair, outcome in folds.contested.items() if outcome == "replaced"}
    # every (parent, key) pair a child brought is either written or loses to a newer existing entry
    assert embed["existing_kept"] == len(kept) > 0
    assert embed["existing_replaced"] == len(replaced) > 0
    assert embed["folded"] == folds.pairs - len(kept)
    written = {m for m, langs in folds.children.items() if any((m, k) not in kept for k in langs)}
    assert embed["parents_updated"] == len(written)


def test_on_existing_latest_keeps_the_newer_entry_both_ways(done: MeeshyRun) -> None:
    """Staging messages already had translations.<lang>: the newer updatedAt wins on both sides
    (an older existing entry is replaced, a newer or equally new one is kept, an entry without
    updatedAt loses). Needs the embed's `on_existing` (default latest)."""
    folds = expected_folds(done)
    target = decoded(done.target_after["Message"])
    outcomes = {"kept": 0, "replaced": 0}
    ties = undated = 0
    for (message_id, lang), outcome in folds.contested.items():
        existing = folds.existing[message_id][lang]
        child = folds.children[message_id][lang]
        assert target[message_id]["translations"][lang] == folds.expected[message_id][lang]
        assert target[message_id]["translations"][lang] == (
            existing if outcome == "kept" else child
        ), (message_id, lang, outcome)
        outcomes[outcome] += 1
        ties += existing.get("updatedAt") == child["updatedAt"]
        undated += "updatedAt" not in existing
    # both directions, the exact tie and the side without updatedAt all occurred
    assert outcomes["kept"] > 0 and outcomes["replaced"] > 0
    assert ties > 0 and undated > 0


def test_existing_translation_for_a_language_no_child_has_survives(done: MeeshyRun) -> None:
    folds = expected_folds(done)
    target = decoded(done.target_after["Message"])
    survivors = 0
    for message_id, entries in folds.existing.items():
        for lang, entry in entries.items():
            if lang not in folds.children.get(message_id, {}):
                assert target[message_id]["translations"][lang] == entry, (message_id, lang)
                survivors += 1
    assert survivors > 0
    # including on messages that also received children
    assert any(
        set(entries) - set(folds.children.get(m, {})) and m in folds.children
        for m, entries in folds.existing.items()
    )


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


def test_plan_rewrites_every_url_field_of_the_generator(done: MeeshyRun) -> None:
    plan = load_plan(bundled_plan_path(), env=done.env).plan
    declared = {r.collection: list(r.fields) for r in plan.rewrites}
    assert declared == done.manifest["urls"]["fields"]
    assert all(r.find == STAGING and r.replace == "meeshy.me" for r in plan.rewrites)


@pytest.mark.parametrize("collection", sorted(URL_FIELDS))
def test_urls_rewritten_and_nothing_else(
    done: MeeshyRun, report: dict[str, Any], collection: str
) -> None:
    source = decoded(done.source_before[collection], PLAIN)
    target = decoded(done.target_after[collection], PLAIN)
    assert set(target) == set(source)
    changed = 0
    for _id, doc in source.items():
        assert bson.encode(target[_id]) == bson.encode(rewrite(doc)), _id
        changed += target[_id] != doc
    urls = done.manifest["urls"]["collections"][collection]
    assert changed == urls["documents_with_staging"] > 0
    stats = next(t for t in report["transforms"] if t.get("rewrite") == collection)
    assert stats["documents_changed"] == urls["documents_with_staging"]
    assert stats["occurrences"] == urls["occurrences"]
    assert stats["remaining"] == 0


def strings(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_no_staging_host_left_anywhere_in_promoted_collections(done: MeeshyRun) -> None:
    """A direct scan of every string (and key) of every collection the run wrote."""
    scanned = 0
    for name in COPIED:
        for raw in done.target_after[name]:
            doc = bson.decode(raw, codec_options=PLAIN)
            left = [s for s in strings(doc) if STAGING in s]
            assert not left, (name, doc["_id"], left[:3])
            assert STAGING.encode() not in raw, (name, doc["_id"])
            scanned += 1
    assert scanned == sum(len(done.target_after[n]) for n in COPIED) > 0
    # while staging really had them, in every collection that holds URLs
    for name in URL_FIELDS:
        assert any(STAGING.encode() in raw for raw in done.source_before[name]), name


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


def test_the_six_indexes_of_the_script_are_present(done: MeeshyRun, servers: Any) -> None:
    plan = load_plan(bundled_plan_path(), env=done.env).plan
    declared = {
        (collection, ix.name): tuple(ix.keys.items())
        for collection, indexes in plan.indexes.items()
        for ix in indexes
    }
    assert declared == SCRIPT_INDEXES
    target = index_specs(servers.target[done.name])
    for (collection, name), keys in SCRIPT_INDEXES.items():
        present = {n: k for n, k, _ in target[collection]}
        assert present.get(name) == keys, (collection, name, present)


def test_live_snake_case_collections_promoted(done: MeeshyRun) -> None:
    for name in SNAKE_CASE_MODELS:
        assert name in done.target_before and name in done.source_before, name
        assert done.target_before[name] != done.source_before[name], name
        assert done.target_after[name] == done.source_before[name], name
    by_name = {a["name"]: a for a in json_out(done.dry_run)["actions"]["collections"]}
    assert all(by_name[n]["action"] == "replace" for n in SNAKE_CASE_MODELS)


def test_legacy_and_target_only_collections_untouched(done: MeeshyRun, servers: Any) -> None:
    for name in UNTOUCHED:
        assert name in done.target_before, name
        assert done.target_after[name] == done.target_before[name], name
    indexes = index_specs(servers.target[done.name])
    for name in UNTOUCHED:
        assert indexes[name] == done.target_indexes_before[name], name
    # every collection the plan does not copy is left exactly as it was
    assert set(live_part(done.target_after)) == set(done.target_before) | set(NEW_IN_SOURCE)
    # each one it replaced is kept, byte for byte, until cleanup (keep_previous)
    replaced = {n for n in done.target_before if n in done.source_before and n not in UNTOUCHED}
    kept = by_kept_collection(done.target_after)
    assert set(kept) == replaced and kept == {n: done.target_before[n] for n in replaced}


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
    assert out["status"] == "dry_run" and out["run_id"] is None
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
    for collection, urls in done.manifest["urls"]["collections"].items():
        rewrite_plan = next(t for t in actions["transforms"] if t.get("rewrite") == collection)
        assert rewrite_plan["documents_changed"] == urls["documents_with_staging"], collection
        assert rewrite_plan["occurrences"] == urls["occurrences"], collection
    for collection, name in SCRIPT_INDEXES:
        assert name in actions["indexes"][collection], (collection, name)
    kinds = {x["name"]: x["cls"] for x in actions["left_alone"]}
    assert {kinds[n] for n in LEGACY_COLLECTIONS if n != "MessageAttachment_backup_urls"} == {
        "legacy"
    }
    assert not set(SNAKE_CASE_MODELS) & set(kinds)
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


def test_the_run_journalled_exactly_the_actions_the_dry_run_listed(done: MeeshyRun) -> None:
    """One algorithm: the dry-run prints the runner's own plan, and the run applies that plan."""
    planned = json_out(done.dry_run)["actions"]["planned"]
    run_id = json_out(done.run)["run_id"]
    journal = done.state_dir / "runs" / run_id / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    started = [(e["step"], e["key"]) for e in events if e["event"] == "action_started"]
    finished = [e["key"] for e in events if e["event"] == "action_finished"]

    assert [(a["step"], a["key"]) for a in planned] == started
    # the backup runs beside the shadow-building steps: it may finish after them, never after
    # the first action that needs it (the pre-pass: the bundled plan has a write freeze) starts
    assert [a["key"] for a in planned if a["key"] != "backup"] == [
        k for k in finished if k != "backup"
    ]
    assert finished.count("backup") == 1
    order = [(e["event"], e["key"]) for e in events if e["event"].startswith("action_")]
    assert order.index(("action_finished", "backup")) < order.index(("action_started", "pre-pass"))
    keys = [a["key"] for a in planned]
    assert keys[:4] == ["preflight", "precheck", "backup", "copy"]
    # the bundled plan freezes (and checks the freeze held), then gates with rollback
    assert keys[-3:] == ["caught-up", "freeze-held", "health-gate"]
    assert {f"indexes:{n}" for n in COPIED} | {f"cutover:{n}" for n in COPIED} <= set(keys)
    # the frozen section, in the decided order, the freeze commands listed
    frozen = ["validate", "pre-pass", "freeze:start", "catch-up", f"cutover:{COPIED[0]}",
              "post-checks", "freeze:end", "hook:after_cutover:0", "caught-up"]  # fmt: skip
    assert [keys.index(k) for k in frozen] == sorted(keys.index(k) for k in frozen)
    assert "drift-guard" not in keys
    described = {a["key"]: a["description"] for a in planned}
    assert "MEESHY_FREEZE_START" in described["freeze:start"]


def test_the_bundled_plan_s_freeze_ran_around_the_catch_up_and_the_cutover(
    done: MeeshyRun, report: dict[str, Any]
) -> None:
    """The tests' freeze commands stop nothing (SAFE_ENV: echo): nothing wrote, nothing caught up."""
    freeze = report["freeze"]
    assert [c["output"].strip() for c in freeze["commands"]["start"]] == ["freeze-start"]
    assert [c["output"].strip() for c in freeze["commands"]["end"]] == ["freeze-end"]
    assert freeze["window_s"] > 0 and freeze["caught_up"] == {}
    assert not any(e["changed"] for e in freeze["catch_up"].values())
    assert sorted(freeze["catch_up"]) == sorted(n for n in COPIED if n in done.target_before)
    assert freeze["estimate_s"] > 0 and freeze["estimate"]["dominated_by"]
