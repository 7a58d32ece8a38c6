"""Plan parsing: the bundled plan, env expansion, classification, and every error located by line."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from mongo_promote.domain.plan import bundled_plan_path, load_plan
from mongo_promote.errors import PlanError

ENV = {
    "STAGING_MONGO_URI": "mongodb://staging:27017",
    "PROD_MONGO_URI": "mongodb://prod:27017",
    "MEESHY_REMOTE_HOST": "ops@meeshy-host.invalid",  # the freeze's ssh has no default
}

HEADER = """\
version: 1
source: {uri: "mongodb://a:1", database: app}
target: {uri: "mongodb://b:1", database: app}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "promote.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path, env: dict[str, str] | None = None) -> PlanError:
    with pytest.raises(PlanError) as info:
        load_plan(path, env=env or {})
    assert info.value.exit_code == 2
    assert str(path) in info.value.message
    return info.value


def test_bundled_meeshy_plan_loads_with_uris_from_the_environment() -> None:
    plan = load_plan(bundled_plan_path(), env=ENV).plan
    assert plan.source.uri == "mongodb://staging:27017"
    assert plan.target.database == "meeshy"
    embed = plan.embeds[0]
    assert (embed.source, embed.into, embed.as_field) == (
        "MessageTranslation",
        "Message",
        "translations",
    )
    assert embed.key.source == ["targetLanguage", "language"]
    assert embed.fields["text"].source == ["translatedText", "translatedContent", "content"]
    assert embed.fields["translationModel"].default == "basic"
    assert embed.fields["translationModel"].has_default
    assert not embed.fields["confidenceScore"].has_default
    assert embed.fields["isEncrypted"].optional
    assert plan.rewrites[0].find == "staging.meeshy.me"
    assert plan.cleanup.min_age == timedelta(hours=48)
    assert [i.name for i in plan.indexes["Message"]] == ["idx_message_conv_notdeleted_created"]


SEED_COLLECTIONS = (
    "AdminAuditLog AffiliateRelation AffiliateToken AnonymousParticipant Community CommunityMember "
    "Conversation ConversationMember ConversationPreference ConversationReadCursor "
    "ConversationShareLink FriendRequest Mention Message MessageAttachment MessageReadStatus "
    "MessageStatus Notification Reaction TrackingLink TrackingLinkClick TypingIndicator User "
    "UserConversationCategory UserConversationPreferences UserPreference UserStats"
).split()
SEED_LEGACY = (
    "call_participants call_sessions old_message_status MessageAttachment_backup_urls "
    "user_conversation_categories user_conversation_preferences"
).split()


def test_classification_of_the_seed_collections() -> None:
    plan = load_plan(bundled_plan_path(), env=ENV).plan
    assert len(SEED_COLLECTIONS) == 27
    assert {plan.classify(n) for n in SEED_COLLECTIONS} == {"copy"}
    assert plan.classify("MessageTranslation") == "embed_source"
    assert not plan.copies("MessageTranslation")  # keep_source: false
    assert plan.classify("MessageAttachment_backup_urls") == "excluded"
    assert {plan.classify(n) for n in SEED_LEGACY if n != "MessageAttachment_backup_urls"} == {
        "legacy"
    }
    assert all(any(p.matches(n) for p in plan.collections.legacy) for n in SEED_LEGACY)
    assert plan.classify("someThing") == "unmatched"
    assert plan.classify("Message__promote_20260101-000000-abcd") == "unmatched"


def test_env_default_and_expansion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        source: {uri: "${SRC:-mongodb://a:1}", database: "${DB:-app}"}
        target: {uri: "mongodb://${HOST}:1", database: app}
        """,
    )
    plan = load_plan(path, env={"HOST": "b"}).plan
    assert (plan.source.uri, plan.source.database, plan.target.uri) == (
        "mongodb://a:1",
        "app",
        "mongodb://b:1",
    )


def test_unset_env_variable_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace('"mongodb://b:1"', '"${PROD_URI}"'))
    err = error_of(path)
    assert err.line == 3 and err.field == "target.uri"
    assert "PROD_URI" in err.message


def test_uri_override_wins_over_unset_variable(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace('"mongodb://b:1"', '"${PROD_URI}"'))
    plan = load_plan(path, env={}, target_uri="mongodb://c:1").plan
    assert plan.target.uri == "mongodb://c:1"


@pytest.mark.parametrize(
    ("extra", "line", "field", "needle"),
    [
        (
            "collections:\n  include: ['re:(open']\n",
            5,
            "collections.include[0]",
            "regular expression",
        ),
        ("colections: {}\n", 4, "colections", "unknown key"),
        ("backup: {dir: x, gzip: maybe}\n", 4, "backup.gzip", "boolean"),
        ("cleanup:\n  min_age: soon\n", 5, "cleanup.min_age", "duration"),
        ("indexes:\n  X:\n    - {keys: {a: 2}}\n", 6, "indexes.X[0].keys", "direction"),
        (
            "transforms:\n  - embed: {from: A, into: B, key: {from: k}, as: t, fields: {}}\n",
            5,
            "transforms[0].embed.match",
            "missing",
        ),
        (
            "transforms:\n  - rewrite: {collection: C, fields: [a], find: x, replace: y, colour: 1}\n",
            5,
            "transforms[0].rewrite.colour",
            "unknown key",
        ),
        ("transforms:\n  - shuffle: {}\n", 5, "transforms[0]", "embed or rewrite"),
        ("health:\n  - {name: g, url: 'ftp://x'}\n", 5, "health[0].url", "pattern"),
        (
            "validate:\n  references:\n    - {from: Message, to: Conversation._id}\n",
            6,
            "validate.references[0].from",
            "pattern",
        ),
        ("freeze:\n  start: [stop-app]\n", 4, "freeze.end", "required field is missing"),
        ("freeze:\n  end: [start-app]\n", 4, "freeze.start", "required field is missing"),
        ("freeze:\n  end: [x]\n  start: []\n", 6, "freeze.start", "at least 1"),
        ("freeze: {start: [x], end: [y], max_window: soon}\n", 4, "freeze.max_window", "duration"),
        (
            "freeze: {start: [{run: x, timeout: 0s}], end: [y]}\n",
            4,
            "freeze.start[0].timeout",
            "positive",
        ),
        ("freeze: {start: [x], end: [y], hold: 1}\n", 4, "freeze.hold", "unknown key"),
    ],
)
def test_invalid_plans_name_file_line_and_field(
    tmp_path: Path, extra: str, line: int, field: str, needle: str
) -> None:
    err = error_of(write(tmp_path, HEADER + extra))
    assert (err.line, err.field) == (line, field), err.message
    assert needle in err.message.lower()
    assert f"promote.yaml:{line}:" in err.message


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, HEADER + "collections: [a\n"))
    assert err.line is not None and err.line >= 4
    assert "invalid YAML" in err.message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, HEADER + "version: 1\n"))
    assert "invalid YAML" in err.message and err.line == 4


def test_wrong_version_and_missing_sections(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "version: 2\ntarget: {uri: 'mongodb://b:1', database: x}\n"))
    assert err.line == 1 and err.field == "version"
    assert "source" in err.message  # the second problem is listed too


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "- a\n- b\n")).line == 1
    with pytest.raises(PlanError, match="file not found"):
        load_plan(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("mongodb://localhost:27017", "mongodb://127.0.0.1:27017/?w=majority"),
        ("mongodb://h1:1,h2:2/?replicaSet=rs", "mongodb://u:p@h2:2"),
    ],
)
def test_source_and_target_same_database_same_server_refused(
    tmp_path: Path, source: str, target: str
) -> None:
    path = write(
        tmp_path,
        f"""\
        version: 1
        source: {{uri: "{source}", database: meeshy}}
        target:
          uri: "{target}"
          database: meeshy
        """,
    )
    err = error_of(path)
    assert (err.line, err.field) == (5, "target.database")
    assert "same database on the same server" in err.message
    assert ":p@" not in err.message


def test_same_server_other_database_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        source: {uri: "mongodb://localhost:27017", database: staging}
        target: {uri: "mongodb://localhost:27017", database: prod}
        """,
    )
    assert load_plan(path, env={}).plan.target.database == "prod"


def test_fingerprint_ignores_uris_but_not_content(tmp_path: Path) -> None:
    a = load_plan(write(tmp_path, HEADER), env={}).fingerprint
    b = load_plan(write(tmp_path, HEADER.replace("b:1", "c:9")), env={}).fingerprint
    c = load_plan(write(tmp_path, HEADER + "cleanup: {min_age: 1h}\n"), env={}).fingerprint
    assert a == b != c


def test_freeze_commands_are_hooks_with_their_own_default_timeout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "freeze:\n"
        + '  start: ["ssh ${HOST} stop", {run: "wait-for-it", timeout: 5s}]\n'
        + "  end: start-it\n"
        + "  max_window: 90s\n"
        + "  timeout: 1m\n",
    )
    loaded = load_plan(path, env={"HOST": "ops@h.invalid"})
    freeze = loaded.plan.freeze
    assert freeze is not None and freeze.max_window == timedelta(seconds=90)
    assert [(h.stage, h.command, h.timeout_s) for h in freeze.start] == [
        ("freeze.start", "ssh ${HOST} stop", 60.0),  # kept as written: the shell expands it
        ("freeze.start", "wait-for-it", 5.0),
    ]
    assert [h.command for h in freeze.end] == ["start-it"]
    assert loaded.command_variables == {"HOST": "ops@h.invalid"}
    unset = load_plan(path, env={})  # the variable it needs, unset: missing, by line (`run`
    assert [(m.name, m.field, m.line) for m in unset.missing_for("freeze")] == [  # refuses it)
        ("HOST", "freeze.start[0]", 5)
    ]
    assert load_plan(write(tmp_path, HEADER), env={}).plan.freeze is None


# ---------------------------------------------------------------- secrets: hooks, URI sources


def test_hook_commands_keep_their_text_and_get_variables_through_the_environment(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        HEADER
        + 'hooks: {after_cutover: [\'printf %s "${SECRET}" | wc -c\', "echo ${NAME:-x}"]}\n'
        + 'backup: {dir: "${BACKUPS}"}\n',
    )
    env = {"SECRET": "p@ss/word:1", "BACKUPS": "/srv/b", "API_TOKEN": "unused-here"}
    loaded = load_plan(path, env=env)
    assert loaded.plan.hooks.after_cutover == ['printf %s "${SECRET}" | wc -c', "echo ${NAME:-x}"]
    assert loaded.plan.backup.dir == "/srv/b"  # expanded everywhere else, as before
    assert loaded.command_variables == {"SECRET": "p@ss/word:1"}
    assert loaded.command_env({"PATH": "/bin"}) == {"PATH": "/bin", "SECRET": "p@ss/word:1"}
    assert "p@ss/word:1" in loaded.secrets and "/srv/b" not in loaded.secrets
    assert "p@ss/word:1" not in repr(loaded)
    # an unset variable without a default in a hook: loaded, recorded by line (`run` refuses it)
    unset = load_plan(path, env={"BACKUPS": "/b"})
    assert [(m.name, m.field, m.line) for m in unset.missing] == [
        ("SECRET", "hooks.after_cutover[0]", 4)
    ]


def test_uri_passwords_and_secret_named_variables_are_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        source: {uri: "mongodb://u:${DB_PASSWORD}@a:1", database: app}
        target: {uri: "${PROD_URI}", database: app}
        """,
    )
    loaded = load_plan(path, env={"DB_PASSWORD": "pw%2Fx1", "PROD_URI": "mongodb://v:Zz9%40q@b:2"})
    assert {"pw%2Fx1", "pw/x1", "Zz9@q", "Zz9%40q"} <= set(loaded.secrets)


def test_uri_from_a_file_in_the_plan_or_given_to_the_loader(tmp_path: Path) -> None:
    (tmp_path / "target.uri").write_text("mongodb://u:s3cret@b:1/?authSource=admin\n")
    path = write(
        tmp_path,
        """\
        version: 1
        source: {uri: "mongodb://a:1", database: app}
        target: {uri_file: target.uri, database: app}
        """,
    )
    loaded = load_plan(path, env={})
    assert loaded.plan.target.uri == "mongodb://u:s3cret@b:1/?authSource=admin"
    assert "s3cret" in loaded.secrets
    other = tmp_path / "other.uri"
    other.write_text("mongodb://c:3\n")
    assert load_plan(path, env={}, target_uri_file=other).plan.target.uri == "mongodb://c:3"
    via_env = load_plan(path, env={"T": "mongodb://d:4"}, target_uri_env="T")
    assert via_env.plan.target.uri == "mongodb://d:4"
    (tmp_path / "target.uri").unlink()
    err = error_of(path)
    assert err.line == 3 and err.field == "target.uri_file" and "cannot read" in err.message


def test_a_password_on_the_command_line_gets_a_warning() -> None:
    from mongo_promote.domain.plan import argv_password_warning

    warning = argv_password_warning("mongodb://u:p%40ss@h", "--target-uri")
    assert warning and "process list" in warning and "p%40ss" not in warning
    assert argv_password_warning("mongodb://h:1", "--target-uri") is None
    assert argv_password_warning(None, "--target-uri") is None


def test_backup_encrypt_to_takes_age_recipients(tmp_path: Path) -> None:
    recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    ok = write(tmp_path, HEADER + f"backup: {{encrypt_to: [{recipient}]}}\n")
    assert load_plan(ok, env={}).plan.backup.encrypt_to == [recipient]
    bad = write(tmp_path, HEADER + "backup: {encrypt_to: [ssh-ed25519 AAAA]}\n")
    assert "age recipient" in error_of(bad).message


def test_cutover_keeps_the_previous_collections_unless_told_and_the_gate_is_off_by_default(
    tmp_path: Path,
) -> None:
    plan = load_plan(write(tmp_path, HEADER), env={}).plan
    assert plan.cutover.keep_previous is True and plan.health_gate == "off"
    told = HEADER + "cutover: {keep_previous: false}\nhealth_gate: report\n"
    told += "health: [{name: gw, url: 'http://127.0.0.1:9/health'}]\n"
    plan = load_plan(write(tmp_path, told), env={}).plan
    assert plan.cutover.keep_previous is False and plan.health_gate == "report"
    bundled = load_plan(bundled_plan_path(), env=ENV).plan
    assert bundled.cutover.keep_previous is True and bundled.health_gate == "rollback"


def test_a_health_gate_needs_health_checks_and_a_known_mode(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, HEADER + "health_gate: rollback\n"))
    assert "health_gate: rollback needs health checks" in error.message
    error = error_of(write(tmp_path, HEADER + "health_gate: sometimes\n"))
    assert "health_gate" in error.message and error.line == 4
    error = error_of(write(tmp_path, HEADER + "cutover: {keep_prev: true}\n"))
    assert "keep_prev" in error.message  # a typo does not silently keep nothing
