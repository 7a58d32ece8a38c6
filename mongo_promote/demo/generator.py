"""Deterministic, streaming generator of realistic Meeshy staging and production data."""

# ruff: noqa: RUF001  (the multilingual phrases use fullwidth punctuation and Cyrillic on purpose)

from __future__ import annotations

import base64
import hashlib
import math
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import bson
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.code import Code
from bson.raw_bson import RawBSONDocument

from mongo_promote.adapters.mongo import probe_capabilities, raw_batches
from mongo_promote.domain.names import TOOL_DATABASE

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

Doc = dict[str, Any]

# Staging follows packages/shared/prisma/schema.prisma: PascalCase models, plus three live models
# whose @@map gives them snake_case names (NotificationPreference, UserPreference, UserPreferences).
SNAKE_CASE_MODELS: tuple[str, ...] = (
    "notification_preferences",
    "user_preference",
    "user_preferences",
)
SOURCE_COLLECTIONS: tuple[str, ...] = (
    "AdminAuditLog",
    "AffiliateRelation",
    "AffiliateToken",
    "AnonymousParticipant",
    "AttachmentReaction",
    "AttachmentStatusEntry",
    "CallParticipant",
    "CallSession",
    "Community",
    "CommunityMember",
    "Conversation",
    "ConversationMember",
    "ConversationPreference",
    "ConversationReadCursor",
    "ConversationShareLink",
    "FriendRequest",
    "Mention",
    "Message",
    "MessageAttachment",
    "MessageStatusEntry",
    "MessageTranslation",
    "Notification",
    "Reaction",
    "TrackingLink",
    "TrackingLinkClick",
    "User",
    "UserConversationCategory",
    "UserConversationPreferences",
    "UserStats",
    *SNAKE_CASE_MODELS,
)
LEGACY_COLLECTIONS: tuple[str, ...] = (
    "call_participants",
    "call_sessions",
    "old_message_status",
    "MessageAttachment_backup_urls",
    "user_conversation_categories",
    "user_conversation_preferences",
)
# Models the schema has dropped: production still holds them, staging no longer does.
DROPPED_IN_TARGET: tuple[str, ...] = ("MessageReadStatus", "MessageStatus", "TypingIndicator")
NEW_IN_SOURCE: tuple[str, ...] = (
    "AttachmentReaction",
    "AttachmentStatusEntry",
    "CallParticipant",
    "CallSession",
    "ConversationReadCursor",
    "MessageStatusEntry",
    "UserConversationCategory",
    "UserConversationPreferences",
)

TRANSLATIONS_AT_SCALE_1 = 2787
STAGING_HOST = "staging.meeshy.me"
PROD_HOST = "meeshy.me"
# Every field of the schema that holds a URL, in the plan's path syntax ("*": every map key; last
# in a path: every string below). Staging hosts are planted in each of them, and nowhere else.
URL_FIELDS: dict[str, tuple[str, ...]] = {
    "Community": ("avatar", "banner"),
    "Conversation": ("avatar", "banner"),
    "MessageAttachment": ("fileUrl", "thumbnailUrl", "translations.*.url", "metadata.*"),
    "Notification": ("senderAvatar",),
    "TrackingLink": ("shortUrl",),
    "User": ("avatar", "banner"),
}

# Documents per collection at scale 1; every count scales linearly (minimum one document).
_SOURCE_SIZES: dict[str, int] = {
    "AdminAuditLog": 40,
    "AffiliateRelation": 25,
    "AffiliateToken": 12,
    "AnonymousParticipant": 20,
    "AttachmentReaction": 40,
    "AttachmentStatusEntry": 200,
    "CallParticipant": 40,
    "CallSession": 15,
    "Community": 8,
    "CommunityMember": 50,
    "Conversation": 40,
    "ConversationMember": 200,
    "ConversationPreference": 80,
    "ConversationReadCursor": 180,
    "ConversationShareLink": 15,
    "FriendRequest": 70,
    "Mention": 120,
    "Message": 1500,
    "MessageAttachment": 300,
    "MessageStatusEntry": 900,
    "MessageTranslation": TRANSLATIONS_AT_SCALE_1,
    "Notification": 500,
    "Reaction": 400,
    "TrackingLink": 20,
    "TrackingLinkClick": 150,
    "User": 60,
    "UserConversationCategory": 30,
    "UserConversationPreferences": 90,
    "UserStats": 60,
    "notification_preferences": 40,  # one per user at most (userId is unique)
    "user_preference": 45,  # unique (userId, key)
    "user_preferences": 50,  # one per user at most (userId is unique)
}
# Production: an older, smaller copy of most collections, the models the schema dropped, and the
# legacy snake_case ones.
_TARGET_SIZES: dict[str, int] = {
    **{
        name: max(1, size * 2 // 3)
        for name, size in _SOURCE_SIZES.items()
        if name not in NEW_IN_SOURCE and name != "MessageTranslation"
    },
    "MessageTranslation": 1650,
    "MessageReadStatus": 400,
    "MessageStatus": 600,
    "TypingIndicator": 7,
    "call_participants": 30,
    "call_sessions": 12,
    "old_message_status": 80,
    "MessageAttachment_backup_urls": 40,
    "user_conversation_categories": 12,
    "user_conversation_preferences": 25,
}
_ORPHANS_AT_SCALE_1 = 10
_DUPLICATES_AT_SCALE_1 = 8

_BASE = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
_END = datetime(2026, 1, 26, 20, 0, tzinfo=UTC)
_SPAN_MS = int((_END - _BASE).total_seconds() * 1000)
_LAUNCH_MS = 20 * 86_400_000  # users, communities and conversations exist before the traffic
_EARLY = frozenset(
    ("User", "Community", "CommunityMember", "Conversation", "ConversationMember", "AffiliateToken")
)

LANGS = ("fr", "en", "es", "de", "it", "pt", "ar", "zh", "ja", "ru")
_LANG_WEIGHTS = (30, 25, 10, 7, 5, 8, 5, 4, 3, 3)  # Meeshy started in French-speaking countries
_PHRASES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Salut ! Tu es dispo ce soir ?",
        "On se retrouve au café à 18 h.",
        "Merci beaucoup, c'était génial !",
        "Je t'envoie le document tout de suite.",
        "On mange où demain ?",
        "Ça marche, à tout à l'heure.",
        "Joyeux anniversaire ! Passe une merveilleuse journée.",
        "La réunion est déplacée à lundi.",
    ),
    "en": (
        "Hi! Are you free tonight?",
        "Let's meet at the café at 6 pm.",
        "Thanks a lot, it was great!",
        "I'm sending you the document right now.",
        "Where are we eating tomorrow?",
        "Sounds good, see you later.",
        "Happy birthday! Have a wonderful day.",
        "The meeting has been moved to Monday.",
    ),
    "es": (
        "¡Hola! ¿Estás libre esta noche?",
        "Nos vemos en la cafetería a las 6.",
        "¡Muchas gracias, fue genial!",
        "Te envío el documento ahora mismo.",
        "¿Dónde comemos mañana?",
        "Vale, nos vemos luego.",
        "¡Feliz cumpleaños! Que tengas un día maravilloso.",
        "La reunión se ha movido al lunes.",
    ),
    "de": (
        "Hallo! Hast du heute Abend Zeit?",
        "Treffen wir uns um 18 Uhr im Café.",
        "Vielen Dank, es war großartig!",
        "Ich schicke dir das Dokument sofort.",
        "Wo essen wir morgen?",
        "Alles klar, bis später.",
        "Alles Gute zum Geburtstag! Hab einen wunderschönen Tag.",
        "Das Meeting wurde auf Montag verschoben.",
    ),
    "it": (
        "Ciao! Sei libero stasera?",
        "Ci vediamo al bar alle 18.",
        "Grazie mille, è stato fantastico!",
        "Ti mando subito il documento.",
        "Dove mangiamo domani?",
        "Va bene, a dopo.",
        "Buon compleanno! Passa una giornata meravigliosa.",
        "La riunione è stata spostata a lunedì.",
    ),
    "pt": (
        "Olá! Você está livre hoje à noite?",
        "Vamos nos encontrar no café às 18h.",
        "Muito obrigado, foi ótimo!",
        "Estou te enviando o documento agora.",
        "Onde vamos comer amanhã?",
        "Combinado, até logo.",
        "Feliz aniversário! Tenha um dia maravilhoso.",
        "A reunião foi transferida para segunda-feira.",
    ),
    "ar": (
        "مرحبا! هل أنت متفرغ الليلة؟",
        "لنلتقِ في المقهى الساعة السادسة.",
        "شكرا جزيلا، كان رائعا!",
        "سأرسل لك المستند الآن.",
        "أين سنأكل غدا؟",
        "حسنا، أراك لاحقا.",
        "عيد ميلاد سعيد! أتمنى لك يوما رائعا.",
        "تم نقل الاجتماع إلى يوم الاثنين.",
    ),
    "zh": (
        "你好！你今晚有空吗？",
        "我们六点在咖啡馆见。",
        "非常感谢，太棒了！",
        "我现在就把文件发给你。",
        "我们明天在哪儿吃饭？",
        "好的，待会儿见。",
        "生日快乐！祝你度过美好的一天。",
        "会议改到星期一了。",
    ),
    "ja": (
        "こんにちは！今夜は空いてる？",
        "6時にカフェで会おう。",
        "本当にありがとう、最高だった！",
        "今すぐ資料を送るね。",
        "明日はどこで食べる？",
        "了解、またあとで。",
        "お誕生日おめでとう！素敵な一日を。",
        "会議は月曜日に変更になりました。",
    ),
    "ru": (
        "Привет! Ты свободен сегодня вечером?",
        "Встретимся в кафе в шесть.",
        "Большое спасибо, было здорово!",
        "Сейчас отправлю тебе документ.",
        "Где поедим завтра?",
        "Договорились, до встречи.",
        "С днём рождения! Чудесного тебе дня.",
        "Встреча перенесена на понедельник.",
    ),
}
_EMOJI = ("", "", "", " 😀", " 🎉", " ❤️", " 👍🏽", " 🇫🇷", " 👨‍👩‍👧", " 🚀🔥")
_PEOPLE = (
    ("Amélie", "Dubois", "amelie"),
    ("Jean-Luc", "Martin", "jluc"),
    ("Sofía", "García", "sofia"),
    ("Jürgen", "Müller", "jurgen"),
    ("Giulia", "Rossi", "giulia"),
    ("João", "Silva", "joao"),
    ("Fatima", "Al-Hassan", "fatima"),
    ("Wei", "王", "wei"),
    ("Yuki", "田中", "yuki"),
    ("Дмитрий", "Иванов", "dmitri"),
    ("Aïssatou", "N'Diaye", "aissatou"),
    ("Kwame", "Mensah", "kwame"),
    ("Zoë", "O'Connor", "zoe"),
    ("Chloé", "Lefèvre", "chloe"),
)
_CITIES = (
    ("FR", "Paris", 2.3522, 48.8566),
    ("SN", "Dakar", -17.4677, 14.7167),
    ("CM", "Douala", 9.7679, 4.0511),
    ("US", "New York", -74.006, 40.7128),
    ("BR", "São Paulo", -46.6333, -23.5505),
    ("JP", "東京", 139.6917, 35.6895),
    ("DE", "München", 11.582, 48.1351),
    ("CI", "Abidjan", -4.0083, 5.36),
)
_MEDIA = {
    "image": (("image/jpeg", "jpg"), ("image/png", "png"), ("image/webp", "webp")),
    "video": (("video/mp4", "mp4"), ("video/quicktime", "mov")),
    "audio": (("audio/webm", "webm"), ("audio/mpeg", "mp3")),
    "file": (("application/pdf", "pdf"), ("application/zip", "zip"), ("text/csv", "csv")),
}
_MODELS = ("basic", "medium", "premium")


# ---------------------------------------------------------------- determinism primitives


@lru_cache(maxsize=4096)
def _oid_prefix(seed: int, side: str, coll: str) -> tuple[bytes, int]:
    """The 5 'process' bytes and the counter start of a collection's ObjectIds, like a driver."""
    digest = hashlib.blake2b(f"{seed}/{side}/{coll}/oid".encode(), digest_size=8).digest()
    return digest[:5], int.from_bytes(digest[5:], "big")


def _dbl(x: float, digits: int = 4) -> float:
    """A rounded double that is never -0.0 (FerretDB turns -0 into 0 and checksums would differ)."""
    return round(x, digits) + 0.0


def _later(dt: datetime, r: random.Random, max_hours: float) -> datetime:
    """A moment shortly after `dt`, at whole milliseconds."""
    return dt + timedelta(milliseconds=r.randint(1_000, max(1_001, int(max_hours * 3_600_000))))


@dataclass(frozen=True)
class _Ctx:
    """One side of the dataset: ids and references are pure functions of (seed, side, i)."""

    seed: int
    side: str
    full_bson: bool
    sizes: Mapping[str, int]
    scale: float = 1

    @property
    def old(self) -> bool:
        """Production holds older shapes of the documents."""
        return self.side == "target"

    def n(self, coll: str) -> int:
        return self.sizes[coll]

    def h(self, *parts: object) -> int:
        """A 64-bit hash: lets any collection derive facts about document i without storing it."""
        key = "/".join(str(p) for p in (self.seed, self.side, *parts)).encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")

    def rng(self, coll: str) -> random.Random:
        """Sequential RNG for a collection's private attributes (a str seed is hashed: stable)."""
        return random.Random(f"{self.seed}/{self.side}/{coll}")

    def when(self, coll: str, i: int) -> datetime:
        """Creation time of document i, increasing with i: the social graph first, then activity."""
        n = max(self.sizes.get(coll, 1), 1)
        frac = (i % n + (self.h(coll, "t", i) % 1000) / 1000) / n
        start, span = (0, _LAUNCH_MS) if coll in _EARLY else (_LAUNCH_MS, _SPAN_MS - _LAUNCH_MS)
        return _BASE + timedelta(milliseconds=start + int(frac * span))

    def oid(self, coll: str, i: int, at: datetime | None = None) -> ObjectId:
        """ObjectId of document i: creation second, per-collection prefix, unique counter."""
        prefix, start = _oid_prefix(self.seed, self.side, coll)
        ts = int((at or self.when(coll, i)).timestamp())
        counter = (start + i) & 0xFFFFFF
        return ObjectId(ts.to_bytes(4, "big") + prefix + counter.to_bytes(3, "big"))

    def uuid(self, *parts: object) -> Binary:
        """A deterministic UUIDv4 stored as BSON Binary subtype 4."""
        raw = hashlib.blake2b("/".join(map(str, (self.seed, *parts))).encode(), digest_size=16)
        return Binary.from_uuid(uuid.UUID(bytes=raw.digest(), version=4))


# ---------------------------------------------------------------- shared relationships


def _user_lang(ctx: _Ctx, u: int) -> str:
    """A user's system language, weighted like Meeshy's audience."""
    x = ctx.h("User", "lang", u) % sum(_LANG_WEIGHTS)
    for lang, weight in zip(LANGS, _LANG_WEIGHTS, strict=True):
        if x < weight:
            return lang
        x -= weight
    return LANGS[0]


def _member(ctx: _Ctx, j: int) -> tuple[int, int]:
    """(conversation, user) of ConversationMember j: conversations get members round-robin."""
    convs, users = ctx.n("Conversation"), ctx.n("User")
    c, k = j % convs, j // convs
    return c, (c * 7 + k * 13) % users


def _user_in(ctx: _Ctx, c: int, pick: int) -> int:
    """A user who is a member of conversation c (members of c are j = c, c+C, c+2C...)."""
    convs, members = ctx.n("Conversation"), ctx.n("ConversationMember")
    count = (members - c + convs - 1) // convs if c < members else 0
    if count <= 0:
        return c % ctx.n("User")
    return _member(ctx, c + (pick % count) * convs)[1]


@dataclass(frozen=True)
class _Msg:
    """Facts about message i that other collections need (who, where, when, what)."""

    conv: int
    sender: int
    lang: str
    phrase: int
    emoji: str
    kind: str
    at: datetime


def _message_kind(ctx: _Ctx, i: int) -> str:
    """About a fifth of messages carry media (i % 5 == 2) so attachments can find them by index."""
    if i % 5 != 2:
        return "text"
    return ("image", "image", "image", "video", "audio", "file")[ctx.h("Message", "kind", i) % 6]


def _msg(ctx: _Ctx, i: int) -> _Msg:
    x = ctx.h("Message", "who", i)
    conv, sender = _member(ctx, x % ctx.n("ConversationMember"))
    lang = _user_lang(ctx, sender) if (x >> 20) % 100 < 85 else LANGS[(x >> 28) % len(LANGS)]
    phrase = (x >> 36) % len(_PHRASES["en"])
    emoji = _EMOJI[(x >> 44) % len(_EMOJI)]
    return _Msg(conv, sender, lang, phrase, emoji, _message_kind(ctx, i), ctx.when("Message", i))


def _media_message(ctx: _Ctx, pick: int) -> int:
    """Index of a message that carries media (messages 2, 7, 12...)."""
    count = (ctx.n("Message") + 2) // 5
    return 5 * (pick % count) + 2 if count else 0


def _ref(ctx: _Ctx, coll: str, pick: int) -> ObjectId:
    """Id of some existing document of `coll`."""
    return ctx.oid(coll, pick % ctx.n(coll))


def _person(u: int) -> tuple[str, str, str]:
    first, last, handle = _PEOPLE[u % len(_PEOPLE)]
    return first, last, f"{handle}{u}"


def _ip(r: random.Random) -> str:
    """An address from the documentation ranges (RFC 5737 / RFC 3849), never a real one."""
    if r.random() < 0.2:
        return f"2001:db8::{r.randint(1, 0xFFFF):x}"
    return f"{r.choice(('192.0.2', '198.51.100', '203.0.113'))}.{r.randint(1, 254)}"


def _host(ctx: _Ctx, r: random.Random, sub: str = "") -> str:
    """The host of a URL: staging mostly (the data lived there), some already on production;
    production itself only ever has its own hosts. `sub`: "gate.", "static." or ""."""
    staging = not ctx.old and r.random() < 0.8
    return f"{sub}{STAGING_HOST if staging else PROD_HOST}"


def _image_url(ctx: _Ctx, r: random.Random, kind: str, name: str, empty: float) -> str | None:
    """An uploaded picture (avatar, banner) or None, as the gateway serves them."""
    if r.random() < empty:
        return None
    return f"https://{_host(ctx, r, 'static.')}/u/{kind}/{name}.webp"


# ---------------------------------------------------------------- users and social graph


def _user(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    first, last, handle = _person(i)
    at = ctx.when("User", i)
    doc: Doc = {
        "_id": ctx.oid("User", i),
        "username": handle,
        "email": f"{handle}@example.{r.choice(('com', 'org', 'net'))}",
        "firstName": first,
        "lastName": last,
        "displayName": f"{first} {last}",
        "avatar": _image_url(ctx, r, "avatars", f"{handle}_{ctx.h('avatar', i) % 10**6:06d}", 0.4),
        "banner": _image_url(ctx, r, "banners", f"{handle}_{ctx.h('banner', i) % 10**6:06d}", 0.75),
        "phoneNumber": None
        if r.random() < 0.5
        else f"+33 6 {r.randint(10, 99)} 00 00 {i % 100:02d}",
        "password": "$2b$10$" + hashlib.sha256(f"{ctx.seed}{i}".encode()).hexdigest()[:53],
        "role": r.choice(("USER",) * 12 + ("ADMIN", "MODERATOR", "BIGBOSS", "AUDIT", "ANALYST")),
        "isActive": r.random() < 0.93,
        "isOnline": r.random() < 0.2,
        "systemLanguage": _user_lang(ctx, i),
        "regionalLanguage": r.choice(LANGS),
        "autoTranslateEnabled": r.random() < 0.8,
        "emailVerifiedAt": None if r.random() < 0.3 else _later(at, r, 48),
        "createdAt": at,
        "updatedAt": _later(at, r, 2000),
    }
    if ctx.old:
        doc["lastSeen"] = _later(at, r, 4000)
        return doc
    doc.update(
        lastActiveAt=_later(at, r, 4000),
        customDestinationLanguage=None if r.random() < 0.7 else r.choice(LANGS),
        twoFactorEnabled=r.random() < 0.15,
        deviceId=ctx.uuid("device", ctx.side, i),
        profileCompletionRate=_dbl(r.uniform(0.2, 1.0), 2),
        loginCount=Int64(r.randint(1, 5000)),
    )
    return doc


def _user_stats(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    doc: Doc = {
        "_id": ctx.oid("UserStats", i),
        "userId": ctx.oid("User", i % ctx.n("User")),
        "messagesSent": r.randint(0, 4000),
        "messagesReceived": Int64(r.randint(0, 9000)),
        "translationsUsed": r.randint(0, 2500),
        "languagesUsed": r.sample(LANGS, r.randint(1, 4)),
        "totalCallDuration": Int64(r.randint(0, 400_000)),
        "averageResponseTime": _dbl(r.uniform(2, 900), 3),
        "lastActivityAt": _later(ctx.when("UserStats", i), r, 3000),
        "createdAt": ctx.when("UserStats", i),
    }
    if ctx.full_bson:
        doc["walletBalance"] = Decimal128(f"{r.randint(0, 99999)}.{r.randint(0, 99):02d}")
    return doc


def _user_preference(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    users = ctx.n("User")
    key, kind, values = (
        ("theme", "string", ("light", "dark", "system")),
        ("fontSize", "number", ("14", "16", "18")),
        ("notificationSound", "boolean", ("true", "false")),
        ("translationDisplay", "string", ("inline", "tap", "original")),
    )[(i // users) % 4]
    at = ctx.when("user_preference", i)
    return {
        "_id": ctx.oid("user_preference", i),
        "userId": ctx.oid("User", i % users),
        "key": key,
        "value": r.choice(values),
        "valueType": kind,
        "description": None,
        "createdAt": at,
        "updatedAt": _later(at, r, 500),
    }


def _notification_preferences(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    """NotificationPreference (@@map notification_preferences): one per user, mostly defaults."""
    at = ctx.when("notification_preferences", i)
    doc: Doc = {"_id": ctx.oid("notification_preferences", i), "userId": ctx.oid("User", i)}
    for name in (
        "newMessage",
        "messageReply",
        "messageMention",
        "newConversation",
        "conversationInvite",
        "friendRequest",
        "friendRequestAccepted",
        "groupInvite",
        "missedCall",
        "voicemailReceived",
        "soundEnabled",
        "vibrationEnabled",
    ):
        doc[name] = r.random() < 0.9
    dnd = r.random() < 0.25
    doc.update(
        dndEnabled=dnd,
        dndStartTime="22:00" if dnd else None,
        dndEndTime="07:30" if dnd else None,
        emailNotifications=r.random() < 0.6,
        pushNotifications=r.random() < 0.95,
        createdAt=at,
        updatedAt=_later(at, r, 900),
    )
    return doc


def _user_preferences(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    """UserPreferences (@@map user_preferences): one per user, JSON sub-documents."""
    at = ctx.when("user_preferences", i)
    doc: Doc = {
        "_id": ctx.oid("user_preferences", i),
        "userId": ctx.oid("User", i),
        "privacy": {"showOnlineStatus": r.random() < 0.8, "showLastSeen": r.random() < 0.6},
        "audio": {
            "transcriptionEnabled": r.random() < 0.7,
            "ttsVoice": r.choice(("own", "default")),
        },
        "message": {"enterToSend": r.random() < 0.8, "fontSize": r.choice((14, 16, 18))},
        "notification": {"sound": r.choice(("default", "soft", None)), "preview": r.random() < 0.9},
        "application": {
            "theme": r.choice(("light", "dark", "system")),
            "language": _user_lang(ctx, i),
        },
        "createdAt": at,
        "updatedAt": _later(at, r, 900),
    }
    if not ctx.old:
        doc["video"] = {"quality": r.choice(("auto", "720p", "1080p")), "codec": "vp9"}
        doc["document"] = {"autoDownload": r.random() < 0.3, "previewPdf": True}
    return doc


def _friend_request(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    users = ctx.n("User")
    sender = r.randrange(users)
    status = r.choice(("pending", "accepted", "accepted", "rejected"))
    at = ctx.when("FriendRequest", i)
    return {
        "_id": ctx.oid("FriendRequest", i),
        "senderId": ctx.oid("User", sender),
        "receiverId": ctx.oid("User", (sender + 1 + r.randrange(max(users - 1, 1))) % users),
        "message": None if r.random() < 0.6 else _PHRASES[_user_lang(ctx, sender)][0],
        "status": status,
        "respondedAt": None if status == "pending" else _later(at, r, 72),
        "createdAt": at,
        "updatedAt": _later(at, r, 72),
    }


# ---------------------------------------------------------------- communities and conversations


def _community(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("Community", i)
    city = _CITIES[i % len(_CITIES)]
    return {
        "_id": ctx.oid("Community", i),
        "identifier": f"mshy_{city[1].lower().replace(' ', '-')}-{i}",
        "name": f"Meeshy {city[1]}",
        "description": f"Communauté {city[1]} 🌍 — {_PHRASES['en'][i % 8]}",
        "avatar": _image_url(ctx, r, "communities", f"c{i}_avatar", 0.2),
        "banner": _image_url(ctx, r, "communities", f"c{i}_banner", 0.4),
        "isPrivate": r.random() < 0.3,
        "createdBy": _ref(ctx, "User", r.randrange(10**6)),
        "settings": {"allowInvites": r.random() < 0.8, "maxMembers": r.choice((50, 500, 5000))},
        "tags": r.sample(("tech", "music", "travel", "language", "food", "sport"), 2),
        "createdAt": at,
        "updatedAt": _later(at, r, 900),
    }


def _community_member(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("CommunityMember", i)
    return {
        "_id": ctx.oid("CommunityMember", i),
        "communityId": ctx.oid("Community", i % ctx.n("Community")),
        "userId": ctx.oid("User", (i * 11) % ctx.n("User")),
        "role": r.choice(("admin", "moderator", "member", "member", "member")),
        "isActive": r.random() < 0.9,
        "joinedAt": at,
    }


def _conversation(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("Conversation", i)
    kind = r.choice(("direct", "direct", "group", "group", "public", "global"))
    doc: Doc = {
        "_id": ctx.oid("Conversation", i),
        "identifier": f"mshy_{kind}_{i:05d}",
        "type": kind,
        "title": None if kind == "direct" else f"{r.choice(('Famille', 'Projet', 'Voyage'))} {i} ✈️",
        "description": None,
        "avatar": None if kind == "direct" else _image_url(ctx, r, "conversations", f"v{i}", 0.3),
        "banner": None if kind == "direct" else _image_url(ctx, r, "conversations", f"b{i}", 0.6),
        "communityId": None if r.random() < 0.7 else _ref(ctx, "Community", r.randrange(10**6)),
        "isActive": r.random() < 0.9,
        "isArchived": r.random() < 0.08,
        "lastMessageAt": _later(at, r, 24 * 300),
        "memberCount": r.randint(2, 40),
        "createdAt": at,
        "updatedAt": _later(at, r, 24 * 300),
    }
    if not ctx.old:
        doc["encryptionMode"] = r.choice((None, None, "server", "e2ee"))
        doc["settings"] = {"slowModeSeconds": r.choice((0, 0, 10, 30)), "allowReactions": True}
    return doc


def _conversation_member(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    c, u = _member(ctx, i)
    role = (
        "CREATOR"
        if i < ctx.n("Conversation")
        else r.choice(("ADMIN", "MODERATOR") + ("MEMBER",) * 6)
    )
    left = r.random() < 0.07
    at = ctx.when("ConversationMember", i)
    return {
        "_id": ctx.oid("ConversationMember", i),
        "conversationId": ctx.oid("Conversation", c),
        "userId": ctx.oid("User", u),
        "role": role,
        "nickname": None if r.random() < 0.9 else _person(u)[0] + " 🌟",
        "canSendMessage": True,
        "canSendFiles": r.random() < 0.9,
        "canSendImages": r.random() < 0.95,
        "isActive": not left,
        "joinedAt": at,
        "leftAt": _later(at, r, 2000) if left else None,
        "notificationsEnabled": r.random() < 0.85,
    }


def _conversation_preference(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    c, u = _member(ctx, (i * 3) % ctx.n("ConversationMember"))
    muted = r.random() < 0.2
    at = ctx.when("ConversationPreference", i)
    return {
        "_id": ctx.oid("ConversationPreference", i),
        "conversationId": ctx.oid("Conversation", c),
        "userId": ctx.oid("User", u),
        "isPinned": r.random() < 0.15,
        "isMuted": muted,
        "mutedUntil": _later(at, r, 200) if muted and r.random() < 0.5 else None,
        "customName": None,
        "tags": r.sample(("travail", "famille", "amis", "urgent"), r.randint(0, 2)),
        "createdAt": at,
    }


def _read_cursor(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi = ctx.h("ConversationReadCursor", "msg", i) % ctx.n("Message")
    m = _msg(ctx, mi)
    at = _later(m.at, r, 12)
    return {
        "_id": ctx.oid("ConversationReadCursor", i, at),
        "conversationId": ctx.oid("Conversation", m.conv),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i)),
        "lastReadMessageId": ctx.oid("Message", mi),
        "lastReadAt": at,
        "unreadCount": r.choice((0, 0, 0, 1, 3, 12, 99)),
        "version": Int64(r.randint(1, 10**6)),
        "updatedAt": at,
    }


def _share_link(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("ConversationShareLink", i)
    return {
        "_id": ctx.oid("ConversationShareLink", i),
        "linkId": f"mshy_link_{ctx.h('link', i):016x}",
        "identifier": f"invite-{i}",
        "conversationId": ctx.oid("Conversation", r.randrange(ctx.n("Conversation"))),
        "createdBy": _ref(ctx, "User", r.randrange(10**6)),
        "name": r.choice(("Lien public", "Invitation 🎟️", None)),
        "isActive": r.random() < 0.8,
        "maxUses": r.choice((None, 10, 100)),
        "currentUses": r.randint(0, 10),
        "expiresAt": None if r.random() < 0.5 else _later(at, r, 24 * 60),
        "allowAnonymousMessages": r.random() < 0.7,
        "requireNickname": True,
        "allowedLanguages": Regex("^(fr|en|es)$", "i"),
        "createdAt": at,
    }


def _anonymous_participant(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    link = i % ctx.n("ConversationShareLink")
    first, last, handle = _person(i + 7)
    at = ctx.when("AnonymousParticipant", i)
    return {
        "_id": ctx.oid("AnonymousParticipant", i),
        "conversationId": ctx.oid("Conversation", r.randrange(ctx.n("Conversation"))),
        "shareLinkId": ctx.oid("ConversationShareLink", link),
        "firstName": first,
        "lastName": last,
        "username": f"anon_{handle}",
        "language": r.choice(LANGS),
        "sessionToken": f"{ctx.h('session', i):016x}{ctx.h('session2', i):016x}",
        "ipAddress": _ip(r),
        "country": r.choice(_CITIES)[0],
        "isActive": r.random() < 0.6,
        "isOnline": False,
        "canSendMessages": True,
        "joinedAt": at,
        "lastActiveAt": _later(at, r, 48),
    }


def _user_conversation_category(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("UserConversationCategory", i)
    return {
        "_id": ctx.oid("UserConversationCategory", i),
        "userId": ctx.oid("User", i % ctx.n("User")),
        "name": r.choice(("Travail 💼", "Famille 👪", "Amis", "Projets", "家族")),
        "color": f"#{r.randrange(0x1000000):06x}",
        "icon": r.choice(("briefcase", "home", "star", None)),
        "order": i // ctx.n("User"),
        "isExpanded": r.random() < 0.7,
        "createdAt": at,
        "updatedAt": _later(at, r, 100),
    }


def _user_conversation_prefs(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    c, u = _member(ctx, i % ctx.n("ConversationMember"))
    at = ctx.when("UserConversationPreferences", i)
    cats = ctx.n("UserConversationCategory")
    return {
        "_id": ctx.oid("UserConversationPreferences", i),
        "userId": ctx.oid("User", u),
        "conversationId": ctx.oid("Conversation", c),
        "isPinned": r.random() < 0.2,
        "isMuted": r.random() < 0.15,
        "isArchived": r.random() < 0.1,
        "categoryId": None if r.random() < 0.5 else ctx.oid("UserConversationCategory", i % cats),
        "orderInCategory": r.randint(0, 20),
        "tags": [],
        "reaction": r.choice((None, "❤️", "⭐")),
        "createdAt": at,
        "updatedAt": _later(at, r, 100),
    }


# ---------------------------------------------------------------- messages and their satellites


def _message(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    m = _msg(ctx, i)
    deleted, edited = r.random() < 0.03, r.random() < 0.06
    text = _PHRASES[m.lang][m.phrase] + m.emoji
    doc: Doc = {
        "_id": ctx.oid("Message", i),
        "conversationId": ctx.oid("Conversation", m.conv),
        "senderId": ctx.oid("User", m.sender),
        "anonymousSenderId": None,
        "content": "" if m.kind != "text" and r.random() < 0.5 else text,
        "originalLanguage": m.lang,
        "messageType": m.kind,
        "isEdited": edited,
        "editedAt": _later(m.at, r, 2) if edited else None,
        "isDeleted": deleted,
        "deletedAt": _later(m.at, r, 48) if deleted else None,
        "replyToId": ctx.oid("Message", r.randrange(i)) if i and r.random() < 0.12 else None,
        "createdAt": m.at,
        "updatedAt": _later(m.at, r, 3),
    }
    if not ctx.old:
        doc.update(isViewOnce=r.random() < 0.02, viewOnceCount=0, validatedMentions=[])
    if m.kind == "text" and r.random() < 0.03:
        _add_location(ctx, doc, r)
    existing, _, _ = _existing_translations(ctx, i, m)
    if existing is not None:
        doc["translations"] = existing
    return doc


def _add_location(ctx: _Ctx, doc: Doc, r: random.Random) -> None:
    """GeoJSON points everywhere; routes (arrays in arrays) only where the servers keep them."""
    _, city, lon, lat = r.choice(_CITIES)
    doc["location"] = {"type": "Point", "coordinates": [_dbl(lon, 4), _dbl(lat, 4)], "label": city}
    if ctx.full_bson:
        steps = [[_dbl(lon + k * 0.001, 5), _dbl(lat - k * 0.001, 5)] for k in range(3)]
        doc["route"] = {"type": "LineString", "coordinates": steps}


def _attachment_of(ctx: _Ctx, i: int) -> tuple[int, _Msg, datetime, ObjectId]:
    """Message index, message facts, upload time and id of attachment i (pure: others cite it)."""
    mi = _media_message(ctx, ctx.h("MessageAttachment", "msg", i))
    m = _msg(ctx, mi)
    at = m.at + timedelta(milliseconds=1_000 + ctx.h("MessageAttachment", "at", i) % 30_000)
    return mi, m, at, ctx.oid("MessageAttachment", i, at)


def _attachment_urls(ctx: _Ctx, r: random.Random, path: str, kind: str) -> Doc:
    """URLs of one attachment: staging hosts mostly, some already on production, a few mixed."""
    host = _host(ctx, r, "gate.")
    thumb_host = host if r.random() < 0.95 else _host(ctx, r, "gate.")
    base = f"https://{host}/api/attachments"
    visual = kind in ("image", "video")
    source = f"{base}/download/{path}"
    if STAGING_HOST in host and r.random() < 0.5:  # a share redirect repeats the host
        source += f"?redirect=https%3A%2F%2F{host}%2Fshare%2F{path.replace('/', '%2F')}"
    return {
        "fileUrl": f"{base}/file/{path}",
        "thumbnailUrl": f"https://{thumb_host}/api/attachments/thumbnails/{path}.thumb.webp"
        if visual
        else None,
        "source": source,
        "previews": [f"https://{host}/api/attachments/preview/{w}/{path}" for w in (320, 960)]
        if visual
        else [],
        "host": host,
    }


def _attachment_translations(
    ctx: _Ctx, r: random.Random, m: _Msg, path: str, host: str, at: datetime
) -> Doc:
    """Audio translations (map language -> data): most with a URL, a text-only one without."""
    out: Doc = {}
    for p in range(1 + r.randrange(3)):
        lang = _other_lang(m.lang, p)
        entry: Doc = {"type": "audio", "transcription": _PHRASES[lang][m.phrase]}
        if r.random() < 0.85:
            file = f"translated/{path}.{lang}.mp3"
            entry.update(
                path=file,
                url=f"https://{host}/api/attachments/file/{file}",
                durationMs=r.randint(800, 60_000),
                format="mp3",
                cloned=r.random() < 0.4,
                quality=_dbl(r.uniform(0.5, 1.0), 3),
                ttsModel=r.choice(("chatterbox", "xtts")),
            )
        else:
            entry["type"] = "text"
        entry["createdAt"] = _later(at, r, 1)
        out[lang] = entry
    return out


def _attachment(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi, m, at, oid = _attachment_of(ctx, i)
    kind = m.kind if m.kind != "text" else "file"
    mime, ext = r.choice(_MEDIA[kind])
    name = f"{m.at:%Y%m%d}_{ctx.h('file', i):012x}.{ext}"
    path = f"{m.at:%Y/%m}/{ctx.oid('User', m.sender)}/{name}"
    urls = _attachment_urls(ctx, r, path, kind)
    visual = kind in ("image", "video")
    timed = kind in ("audio", "video")
    doc: Doc = {
        "_id": oid,
        "messageId": ctx.oid("Message", mi),
        "fileName": name,
        "originalName": r.choice(("photo", "Présentation finale", "Видео", "会議メモ", "IMG"))
        + f".{ext}",
        "mimeType": mime,
        "fileSize": Int64(r.randint(2_000, 80_000_000)),
        "filePath": f"attachments/{path}",
        "fileUrl": urls["fileUrl"],
        "isForwarded": r.random() < 0.05,
        "width": r.choice((1080, 1920, 3024)) if visual else None,
        "height": r.choice((720, 1080, 4032)) if visual else None,
        "thumbnailPath": f"thumbnails/{path}.thumb.webp" if visual else None,
        "thumbnailUrl": urls["thumbnailUrl"],
        "duration": r.randint(1_000, 600_000) if timed else None,  # milliseconds
        "uploadedBy": ctx.oid("User", m.sender),
        "isAnonymous": False,
        "createdAt": at,
        "metadata": {
            "source": {"url": urls["source"], "provider": "meeshy-storage"},
            "previews": urls["previews"],
            "exif": {"camera": r.choice(("iPhone 15", "Pixel 8", None)), "orientation": 1}
            if kind == "image"
            else None,
        },
    }
    if not ctx.old and kind == "audio":
        doc["transcription"] = {
            "text": _PHRASES[m.lang][m.phrase],
            "language": m.lang,
            "confidence": _dbl(r.uniform(0.6, 0.99), 3),
            "source": r.choice(("mobile", "whisper")),
            "durationMs": doc["duration"],
        }
        doc["translations"] = _attachment_translations(ctx, r, m, path, urls["host"], at)
    return doc


def _read_status(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi = ctx.h("MessageReadStatus", "msg", i) % ctx.n("Message")
    m = _msg(ctx, mi)
    at = _later(m.at, r, 30)
    return {
        "_id": ctx.oid("MessageReadStatus", i, at),
        "messageId": ctx.oid("Message", mi),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i)),
        "conversationId": ctx.oid("Conversation", m.conv),
        "readAt": at,
    }


def _message_status(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi = ctx.h("MessageStatus", "msg", i) % ctx.n("Message")
    m = _msg(ctx, mi)
    status = r.choice(("sent", "delivered", "delivered", "read", "read", "read"))
    delivered = _later(m.at, r, 1) if status != "sent" else None
    return {
        "_id": ctx.oid("MessageStatus", i, m.at),
        "messageId": ctx.oid("Message", mi),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i + 1)),
        "status": status,
        "deliveredAt": delivered,
        "readAt": _later(delivered, r, 10) if delivered and status == "read" else None,
        "updatedAt": _later(m.at, r, 12),
    }


def _message_status_entry(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    """Per-user delivery/read state; unique (messageId, userId): one entry per message here."""
    mi = i % ctx.n("Message")
    m = _msg(ctx, mi)
    delivered = _later(m.at, r, 1)
    read = _later(delivered, r, 10) if r.random() < 0.7 else None
    return {
        "_id": ctx.oid("MessageStatusEntry", i, delivered),
        "messageId": ctx.oid("Message", mi),
        "conversationId": ctx.oid("Conversation", m.conv),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i + 1)),
        "anonymousId": None,
        "deliveredAt": delivered,
        "receivedAt": _later(delivered, r, 0.01),
        "readAt": read,
        "readDurationMs": r.randint(300, 20_000) if read else None,
        "readDevice": r.choice(("ios", "android", "web", "desktop")) if read else None,
        "clientVersion": r.choice(("1.0.0", "1.0.3", "1.1.0")),
        "createdAt": delivered,
        "updatedAt": read or delivered,
    }


def _attachment_status_entry(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    """Per-user state of one attachment; unique (attachmentId, userId): one per attachment."""
    ai = i % ctx.n("MessageAttachment")
    mi, m, at, attachment = _attachment_of(ctx, ai)
    delivered = _later(at, r, 1)
    viewed = _later(delivered, r, 24) if r.random() < 0.8 else None
    audio, video = m.kind == "audio", m.kind == "video"
    return {
        "_id": ctx.oid("AttachmentStatusEntry", i, delivered),
        "attachmentId": attachment,
        "messageId": ctx.oid("Message", mi),
        "conversationId": ctx.oid("Conversation", m.conv),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i + 2)),
        "anonymousId": None,
        "deliveredAt": delivered,
        "viewedAt": viewed,
        "downloadedAt": _later(viewed, r, 2) if viewed and r.random() < 0.3 else None,
        "listenedAt": viewed if audio else None,
        "listenCount": r.randint(1, 4) if audio and viewed else 0,
        "watchedAt": viewed if video else None,
        "watchCount": r.randint(1, 3) if video and viewed else 0,
        "wasZoomed": m.kind == "image" and r.random() < 0.3,
        "pagesViewed": 0,
        "accessDevice": r.choice(("ios", "android", "web")),
        "createdAt": delivered,
        "updatedAt": viewed or delivered,
    }


def _attachment_reaction(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    ai = i % ctx.n("MessageAttachment")
    mi, m, at, attachment = _attachment_of(ctx, ai)
    when = _later(at, r, 30)
    return {
        "_id": ctx.oid("AttachmentReaction", i, when),
        "attachmentId": attachment,
        "messageId": ctx.oid("Message", mi),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i + 3)),
        "anonymousId": None,
        "emoji": r.choice(("🔥", "❤️", "😂", "👏🏿")),
        "createdAt": when,
        "updatedAt": when,
    }


def _call_session_model(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    """CallSession (the model that replaced the legacy call_sessions)."""
    at = ctx.when("CallSession", i)
    conv = r.randrange(ctx.n("Conversation"))
    answered = r.random() < 0.8
    duration = r.randint(5, 3600) if answered else None
    return {
        "_id": ctx.oid("CallSession", i),
        "conversationId": ctx.oid("Conversation", conv),
        "mode": r.choice(("p2p", "p2p", "sfu")),
        "status": "ended" if answered else r.choice(("missed", "rejected")),
        "initiatorId": ctx.oid("User", _user_in(ctx, conv, i)),
        "startedAt": at,
        "answeredAt": at + timedelta(seconds=r.randint(2, 20)) if answered else None,
        "endedAt": at + timedelta(seconds=(duration or 30) + 20),
        "duration": duration,
        "metadata": {"maxParticipants": r.choice((2, 4, 8)), "recordingEnabled": False},
    }


def _call_participant_model(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    session = i % ctx.n("CallSession")
    at = _later(ctx.when("CallSession", session), r, 0.01)
    return {
        "_id": ctx.oid("CallParticipant", i, at),
        "callSessionId": ctx.oid("CallSession", session),
        "userId": _ref(ctx, "User", r.randrange(10**6)),
        "anonymousId": None,
        "role": "initiator" if i < ctx.n("CallSession") else "participant",
        "joinedAt": at,
        "leftAt": _later(at, r, 1),
        "isAudioEnabled": True,
        "isVideoEnabled": r.random() < 0.6,
        "connectionQuality": {
            "latency": r.randint(20, 400),
            "packetLoss": _dbl(r.uniform(0, 0.05), 4),
            "bandwidth": r.randint(300, 5000),
        },
    }


def _mention(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi = ctx.h("Mention", "msg", i) % ctx.n("Message")
    m = _msg(ctx, mi)
    at = _later(m.at, r, 0.001)
    return {
        "_id": ctx.oid("Mention", i, at),
        "messageId": ctx.oid("Message", mi),
        "mentionedUserId": ctx.oid("User", _user_in(ctx, m.conv, i)),
        "mentionedAt": at,
    }


def _reaction(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi = ctx.h("Reaction", "msg", i) % ctx.n("Message")
    m = _msg(ctx, mi)
    at = _later(m.at, r, 20)
    return {
        "_id": ctx.oid("Reaction", i, at),
        "messageId": ctx.oid("Message", mi),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i)),
        "anonymousUserId": None,
        "emoji": r.choice(("❤️", "😂", "👍", "🔥", "😮", "🙏🏾", "🇸🇳")),
        "createdAt": at,
        "updatedAt": at,
    }


def _notification(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    mi = ctx.h("Notification", "msg", i) % ctx.n("Message")
    m = _msg(ctx, mi)
    kind = r.choice(
        ("new_message", "new_message", "mention", "reaction", "friend_request", "system")
    )
    read = r.random() < 0.6
    at = _later(m.at, r, 0.1)
    preview = _PHRASES[m.lang][m.phrase][:32]
    first, last, handle = _person(m.sender)
    conv, message = ctx.oid("Conversation", m.conv), ctx.oid("Message", mi)
    doc: Doc = {
        "_id": ctx.oid("Notification", i, at),
        "userId": ctx.oid("User", _user_in(ctx, m.conv, i)),
        "type": kind,
        "title": f"{first} · Meeshy",
        "content": preview,
        "data": f'{{"conversationId":"{conv}","messageId":"{message}"}}',
        "priority": r.choice(("low", "normal", "normal", "high")),
        "isRead": read,
        "readAt": _later(at, r, 24) if read else None,
        "emailSent": r.random() < 0.1,
        "pushSent": r.random() < 0.7,
        "expiresAt": None,
        "createdAt": at,
        "senderId": ctx.oid("User", m.sender),
        "senderUsername": handle,
        # the sender's avatar as it was when the notification was written
        "senderAvatar": _image_url(ctx, r, "avatars", f"{handle}_{m.sender}", 0.3),
    }
    if ctx.old:
        return doc
    doc.update(
        senderDisplayName=f"{first} {last}",
        senderFirstName=first,
        senderLastName=last,
        messagePreview=preview,
        conversationId=conv,
        messageId=message,
        callSessionId=None,
    )
    return doc


# ---------------------------------------------------------------- administration, affiliates, links


def _audit_log(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    entity = r.choice(("User", "Message", "Conversation"))
    at = ctx.when("AdminAuditLog", i)
    doc: Doc = {
        "_id": ctx.oid("AdminAuditLog", i),
        "adminId": _ref(ctx, "User", r.randrange(10**6)),
        "action": r.choice(("user.ban", "user.unban", "message.delete", "conversation.archive")),
        "entity": entity,
        "entityId": _ref(ctx, entity, r.randrange(10**6)),
        "changes": {"before": {"isActive": True}, "after": {"isActive": False}},
        "reason": r.choice((None, "Spam 🚫", "Demande de l'utilisateur")),
        "ipAddress": _ip(r),
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
        "requestId": ctx.uuid("request", ctx.side, i),
        "oplogTs": Timestamp(int(at.timestamp()), i % 1000 + 1),  # never (0, 0): mongod rewrites it
        "createdAt": at,
    }
    if ctx.full_bson:  # FerretDB v1 stores none of these (JavaScript code drops the connection)
        doc["scope"] = {"from": MinKey(), "to": MaxKey()}
        doc["rule"] = Code("function (u) { return u.reports > 3; }")
    return doc


def _affiliate_token(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("AffiliateToken", i)
    return {
        "_id": ctx.oid("AffiliateToken", i),
        "token": f"aff_{ctx.h('aff', i):016x}",
        "name": r.choice(("Campagne Dakar", "Influenceur 🎤", "Partenaire école")),
        "createdBy": _ref(ctx, "User", r.randrange(10**6)),
        "maxUses": r.choice((None, 50, 500)),
        "currentUses": r.randint(0, 50),
        "isActive": r.random() < 0.8,
        "expiresAt": None if r.random() < 0.5 else _later(at, r, 24 * 90),
        "createdAt": at,
    }


def _affiliate_relation(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("AffiliateRelation", i)
    done = r.random() < 0.6
    doc: Doc = {
        "_id": ctx.oid("AffiliateRelation", i),
        "affiliateTokenId": ctx.oid("AffiliateToken", i % ctx.n("AffiliateToken")),
        "affiliateUserId": _ref(ctx, "User", r.randrange(10**6)),
        "referredUserId": _ref(ctx, "User", r.randrange(10**6)),
        "status": "completed" if done else "pending",
        "completedAt": _later(at, r, 72) if done else None,
        "createdAt": at,
    }
    if ctx.full_bson:
        doc["commissionAmount"] = Decimal128(f"{r.randint(0, 40)}.{r.randint(0, 99):02d}")
    return doc


def _tracking_link(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("TrackingLink", i)
    token = f"{ctx.h('tl', i):x}"[:6]
    return {
        "_id": ctx.oid("TrackingLink", i),
        "token": token,
        "originalUrl": r.choice(
            ("https://example.com/article", "https://example.org/événement?id=42")
        ),
        "shortUrl": f"https://{_host(ctx, r)}/l/{token}",
        "createdBy": _ref(ctx, "User", r.randrange(10**6)),
        "conversationId": ctx.oid("Conversation", r.randrange(ctx.n("Conversation"))),
        "messageId": _ref(ctx, "Message", r.randrange(10**6)),
        "totalClicks": r.randint(0, 500),
        "uniqueClicks": r.randint(0, 200),
        "isActive": True,
        "expiresAt": None,
        "lastClickedAt": _later(at, r, 300),
        "createdAt": at,
    }


def _tracking_click(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    country, city, lon, lat = r.choice(_CITIES)
    doc: Doc = {
        "_id": ctx.oid("TrackingLinkClick", i),
        "trackingLinkId": ctx.oid("TrackingLink", i % ctx.n("TrackingLink")),
        "userId": None if r.random() < 0.5 else _ref(ctx, "User", r.randrange(10**6)),
        "visitorId": ctx.uuid("visitor", ctx.side, i % 97),
        "ipAddress": _ip(r),
        "country": country,
        "city": city,
        "geo": {"type": "Point", "coordinates": [_dbl(lon), _dbl(lat)]},
        "device": r.choice(("mobile", "desktop", "tablet")),
        "browser": r.choice(("Safari", "Chrome", "Firefox")),
        "language": r.choice(LANGS),
        "referrer": r.choice((None, "https://example.net/")),
        "clickedAt": ctx.when("TrackingLinkClick", i),
    }
    if ctx.full_bson:
        doc["heatmap"] = [[r.randint(0, 99), r.randint(0, 99)] for _ in range(3)]
    return doc


def _typing(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    c, u = _member(ctx, r.randrange(ctx.n("ConversationMember")))
    at = ctx.when("TypingIndicator", i)
    return {
        "_id": ctx.oid("TypingIndicator", i),
        "conversationId": ctx.oid("Conversation", c),
        "userId": ctx.oid("User", u),
        "isTyping": r.random() < 0.5,
        "startedAt": at,
        "expiresAt": at + timedelta(seconds=10),
    }


# ---------------------------------------------------------------- translations (the messy part)

# The text field over the model's history: `translatedContent` is the schema's; a minority of
# documents carry older names (the runbook's script read `translatedText`).
_TEXT_FIELDS = (("translatedContent", 85), ("translatedText", 8), ("content", 7))
_HOUR_MS = 3_600_000
_CHILD_MAX_MS = 180_000 + 240 * _HOUR_MS + 1_000  # a child's updatedAt is within this of m.at


@dataclass(frozen=True)
class _TranslationLayout:
    """How many translations, which are orphans or duplicates, and which messages they hang on."""

    total: int
    orphans: int
    duplicates: int
    messages: int
    translated: int  # distinct messages that receive translations
    stride: int  # coprime with `messages`: spreads translations over the messages

    @property
    def normal(self) -> int:
        return self.total - self.orphans - self.duplicates

    def target(self, t: int) -> tuple[int, int]:
        """(message index, pass) of normal translation t; pass p picks the p-th other language."""
        slot, p = t % self.translated, t // self.translated
        return (slot * self.stride + 7) % self.messages, p

    def children(self, mi: int) -> list[int]:
        """The normal translations of message mi, by pass (the inverse of `target`)."""
        slot = ((mi - 7) * pow(self.stride, -1, self.messages)) % self.messages
        return list(range(slot, self.normal, self.translated)) if slot < self.translated else []

    @cached_property
    def duplicate_bases(self) -> dict[int, int]:
        """Normal translation index -> duplicate number, spread evenly through the stream."""
        n = self.normal
        return {(2 * d + 1) * n // (2 * self.duplicates): d for d in range(self.duplicates)}

    def orphan_slots(self) -> dict[int, int]:
        """Normal translation index after which each orphan is emitted."""
        return {(2 * k + 1) * self.normal // (2 * self.orphans) + 1: k for k in range(self.orphans)}


@lru_cache(maxsize=64)
def _layout(total: int, messages: int, scale: float) -> _TranslationLayout:
    """Choose orphans, duplicates and a spread keeping (message, language) pairs unique."""
    orphans = min(max(1, round(_ORPHANS_AT_SCALE_1 * scale)), total // 4)
    duplicates = min(max(1, round(_DUPLICATES_AT_SCALE_1 * scale)), (total - orphans) // 2)
    normal = total - orphans - duplicates
    passes = len(LANGS) - 1  # every other language at most once per message
    translated = min(messages, max(math.ceil(normal / passes), round(messages * 0.7), 1))
    if normal > translated * passes:
        raise ValueError(f"{normal} translations cannot fit on {messages} messages")
    stride = next(
        s for s in range(int(messages * 0.618) | 1, 10 * messages + 2) if math.gcd(s, messages) == 1
    )
    return _TranslationLayout(total, orphans, duplicates, messages, translated, stride)


def _source_layout(ctx: _Ctx) -> _TranslationLayout:
    return _layout(ctx.n("MessageTranslation"), ctx.n("Message"), ctx.scale)


@dataclass
class _Notes:
    """What the streams produced that the manifest reports (ids, styles, URL counts)."""

    orphan_ids: list[str] = field(default_factory=list)
    orphan_message_ids: list[str] = field(default_factory=list)
    duplicate_winners: list[str] = field(default_factory=list)
    duplicate_losers: list[str] = field(default_factory=list)
    styles: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "total",
                "encrypted",
                "without_target_language",
                "without_model",
                "without_is_encrypted",
            ),
            0,
        )
    )
    text_fields: dict[str, int] = field(default_factory=dict)
    encrypted_by_text_field: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("messages", "entries", "older", "newer", "tie", "undated", "other_language"), 0
        )
    )
    messages_with_translations: int = 0
    urls: dict[str, dict[str, int]] = field(default_factory=dict)

    def see_translation(self, doc: Doc) -> None:
        s = self.styles
        s["total"] += 1
        s["encrypted"] += doc.get("isEncrypted") is True
        s["without_target_language"] += "targetLanguage" not in doc
        s["without_model"] += "translationModel" not in doc
        s["without_is_encrypted"] += "isEncrypted" not in doc
        text = next(name for name, _ in _TEXT_FIELDS if name in doc)
        self.text_fields[text] = self.text_fields.get(text, 0) + 1
        if doc.get("isEncrypted") is True:
            self.encrypted_by_text_field[text] = self.encrypted_by_text_field.get(text, 0) + 1

    def see_message(self, doc: Doc, kinds: list[str], has_children: bool) -> None:
        if kinds:
            self.existing["messages"] += 1
            self.existing["entries"] += len(kinds)
            for kind in kinds:
                self.existing[kind] += 1
        self.messages_with_translations += bool(kinds) or has_children

    def see_urls(self, coll: str, doc: Doc) -> None:
        found = sum(s.count(STAGING_HOST) for s in _strings(doc))
        counts = self.urls.setdefault(coll, {"documents_with_staging": 0, "occurrences": 0})
        counts["documents_with_staging"] += found > 0
        counts["occurrences"] += found


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a document, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _ciphertext(ctx: _Ctx, t: int, n: int) -> bytes:
    return hashlib.blake2b(f"{ctx.seed}/cipher/{t}".encode(), digest_size=n).digest()


def _child_times(ctx: _Ctx, t: int, m_at: datetime) -> tuple[datetime, datetime]:
    """createdAt and updatedAt of translation t: pure, so its message can know them."""
    created = m_at + timedelta(milliseconds=2_000 + ctx.h("MessageTranslation", "c", t) % 178_000)
    updated = created + timedelta(
        milliseconds=1_000 + ctx.h("MessageTranslation", "u", t) % (240 * _HOUR_MS)
    )
    return created, updated


def _text_field(ctx: _Ctx, t: int) -> str:
    x = ctx.h("MessageTranslation", "field", t) % 100
    for name, weight in _TEXT_FIELDS:
        if x < weight:
            return name
        x -= weight
    return _TEXT_FIELDS[0][0]


def _translation(ctx: _Ctx, t: int, r: random.Random, mi: int, lang: str, first: bool) -> Doc:
    """Translation t of message mi, in one of the shapes the app wrote over its versions.

    Only a message's first translation may lack `targetLanguage` (older documents said
    `language`), so the unique (messageId, targetLanguage) index holds, null included."""
    m = _msg(ctx, mi)
    created, updated = _child_times(ctx, t, m.at)
    text_field = "translatedContent" if ctx.old else _text_field(ctx, t)
    legacy_key = not ctx.old and first and ctx.h("MessageTranslation", "key", t) % 100 < 12
    doc: Doc = {
        "_id": ctx.oid("MessageTranslation", t, created),
        "messageId": ctx.oid("Message", mi),
        ("language" if legacy_key else "targetLanguage"): lang,
        text_field: _PHRASES[lang][m.phrase] + m.emoji,
    }
    if ctx.old or r.random() < 0.97:
        doc["translationModel"] = r.choice(_MODELS)
    doc["confidenceScore"] = _dbl(r.uniform(0.55, 0.99))
    doc["createdAt"] = created
    doc["updatedAt"] = updated
    if ctx.old or r.random() < 0.9:  # documents older than the field lack it
        _maybe_encrypt(ctx, doc, r, t, text_field)
    return doc


def _maybe_encrypt(ctx: _Ctx, doc: Doc, r: random.Random, t: int, text_field: str) -> None:
    """isEncrypted (default false); a few are encrypted, whatever their text field is called.
    IV and auth tag are base64 strings, as the schema says."""
    if ctx.old or r.random() >= 0.06:
        doc["isEncrypted"] = False
        return
    doc[text_field] = base64.b64encode(_ciphertext(ctx, t + 2 * 10**9, 48)).decode()
    doc["isEncrypted"] = True
    doc["encryptionKeyId"] = f"key_{ctx.h('key', t % 5):012x}"
    doc["encryptionIv"] = base64.b64encode(_ciphertext(ctx, t, 12)).decode()
    doc["encryptionAuthTag"] = base64.b64encode(_ciphertext(ctx, t + 10**9, 16)).decode()


def _duplicate(ctx: _Ctx, t: int, base: Doc, r: random.Random, notes: _Notes | None) -> Doc:
    """Translation t: a second one for the same (message, language) as `base`, older or newer."""
    lang: str = base.get("targetLanguage") or base["language"]
    newer = r.random() < 0.5
    shift = timedelta(hours=r.randint(1, 240), milliseconds=r.randint(1, 999))
    updated = base["updatedAt"] + shift if newer else base["updatedAt"] - shift
    created = min(base["createdAt"], updated)
    dup: Doc = {
        "_id": ctx.oid("MessageTranslation", t, created),
        "messageId": base["messageId"],
        ("language" if r.random() < 0.3 else "targetLanguage"): lang,
        "translatedContent": f"{_PHRASES[lang][t % 8]} (v{2 if newer else 0})",
        "translationModel": r.choice(_MODELS),
        "confidenceScore": _dbl(r.uniform(0.4, 0.9)),
        "createdAt": created,
        "updatedAt": updated,
        "isEncrypted": False,
    }
    if notes is not None:
        winner, loser = (dup, base) if newer else (base, dup)
        notes.duplicate_winners.append(str(winner["_id"]))
        notes.duplicate_losers.append(str(loser["_id"]))
    return dup


def _orphan(ctx: _Ctx, t: int, k: int, r: random.Random, notes: _Notes | None) -> Doc:
    """Translation t, whose message was deleted: its messageId looks real but matches nothing."""
    messages = ctx.n("Message")
    doc = _translation(ctx, t, r, k % messages, r.choice(LANGS), first=False)
    # counter slot `messages + k` is past the last message, so no Message has this id
    doc["messageId"] = ctx.oid("Message", messages + k, ctx.when("Message", (k * 97) % messages))
    if notes is not None:
        notes.orphan_ids.append(str(doc["_id"]))
        notes.orphan_message_ids.append(str(doc["messageId"]))
    return doc


def _source_translations(ctx: _Ctx, notes: _Notes | None) -> Iterator[Doc]:
    lay = _source_layout(ctx)
    r = ctx.rng("MessageTranslation")
    dup_at, orphan_at = lay.duplicate_bases, lay.orphan_slots()
    for t in range(lay.normal + 1):
        if t in orphan_at:  # ids after the normal ones: normal..normal+orphans-1
            k = orphan_at[t]
            yield _seen(_orphan(ctx, lay.normal + k, k, r, notes), notes)
        if t == lay.normal:
            break
        mi, p = lay.target(t)
        doc = _translation(ctx, t, r, mi, _other_lang(_msg(ctx, mi).lang, p), first=p == 0)
        yield _seen(doc, notes)
        if t in dup_at:
            dup_t = lay.normal + lay.orphans + dup_at[t]
            yield _seen(_duplicate(ctx, dup_t, doc, r, notes), notes)


def _other_lang(lang: str, p: int) -> str:
    """The p-th language after `lang` (p < 9): distinct per pass, never the original."""
    return LANGS[(LANGS.index(lang) + 1 + p) % len(LANGS)]


def _seen(doc: Doc, notes: _Notes | None) -> Doc:
    if notes is not None:
        notes.see_translation(doc)
    return doc


def _target_translations(ctx: _Ctx) -> Iterator[Doc]:
    """Production's older child collection: translatedContent everywhere, no encryption."""
    r, messages = ctx.rng("MessageTranslation"), ctx.n("Message")
    for t in range(ctx.n("MessageTranslation")):
        mi, p = t % messages, t // messages
        lang = _other_lang(_msg(ctx, mi).lang, p % (len(LANGS) - 1))
        yield _translation(ctx, t, r, mi, lang, first=p == 0)


# ---------------------------------------------------------------- translations already folded

# What a staging message's existing entry is, compared with the child for the same language.
_EXISTING_KINDS = ("older", "older", "newer", "newer", "tie", "undated", None, None)


def _existing_translations(ctx: _Ctx, mi: int, m: _Msg) -> tuple[Doc | None, list[str], bool]:
    """The `translations` map the application's own migration (or the gateway) already wrote on
    a staging message, the kind of each entry, and whether the message has children.

    Entries are older than the child for their language, newer, exactly as new (a tie), without
    `updatedAt`, or for a language no child has. Their shape is the application's migration's
    (migrate-translations-to-json.js): nulls for absent values, encryption fields always there."""
    lay = _source_layout(ctx)
    children = lay.children(mi)
    x = ctx.h("Message", "existing", mi)
    if ctx.old or x % 100 >= 12:
        return None, [], bool(children)
    duplicated = lay.duplicate_bases
    entries: Doc = {}
    kinds: list[str] = []
    taken = {m.lang}
    for p, t in enumerate(children):
        lang = _other_lang(m.lang, p)
        taken.add(lang)
        kind = _EXISTING_KINDS[(x >> (8 + 3 * p)) % len(_EXISTING_KINDS)]
        if kind is None or t in duplicated:  # duplicates are about the children alone
            continue
        _, child_updated = _child_times(ctx, t, m.at)
        if kind == "older":  # before any child of this message could exist
            updated = m.at + timedelta(milliseconds=ctx.h("existing", "o", mi, p) % 1_000)
        elif kind == "newer":  # after any child of this message
            updated = m.at + timedelta(
                milliseconds=_CHILD_MAX_MS + ctx.h("existing", "n", mi, p) % (48 * _HOUR_MS)
            )
        else:
            updated = child_updated
        entries[lang] = _existing_entry(ctx, mi, m, lang, updated, dated=kind != "undated")
        kinds.append(kind)
    free = [lang for lang in LANGS if lang not in taken]
    if free and (x >> 40) % 3 == 0:  # and one for a language no child has
        lang = free[(x >> 44) % len(free)]
        updated = m.at + timedelta(milliseconds=ctx.h("existing", "x", mi) % (300 * _HOUR_MS))
        entries[lang] = _existing_entry(ctx, mi, m, lang, updated, dated=True)
        kinds.append("other_language")
    return (entries or None), kinds, bool(children)


def _existing_entry(
    ctx: _Ctx, mi: int, m: _Msg, lang: str, updated: datetime, *, dated: bool
) -> Doc:
    x = ctx.h("existing", "entry", mi, lang)
    created = min(updated, m.at + timedelta(milliseconds=x % 1_000))
    text = _PHRASES[lang][m.phrase] + m.emoji
    if not dated:  # an early gateway wrote only these
        return {"text": text, "translationModel": "basic", "createdAt": created}
    return {
        "text": text if x % 4 else text + " ✓",
        "translationModel": _MODELS[(x >> 8) % 3],
        "confidenceScore": None if (x >> 12) % 5 == 0 else _dbl(0.5 + (x >> 16) % 50 / 100),
        "isEncrypted": False,
        "encryptionKeyId": None,
        "encryptionIv": None,
        "encryptionAuthTag": None,
        "createdAt": created,
        "updatedAt": updated,
    }


# ---------------------------------------------------------------- legacy snake_case collections


def _call_session(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("call_sessions", i)
    duration = r.randint(5, 3600)
    return {
        "_id": ctx.oid("call_sessions", i),
        "conversation_id": ctx.oid("Conversation", r.randrange(ctx.n("Conversation"))),
        "initiator_id": _ref(ctx, "User", r.randrange(10**6)),
        "mode": r.choice(("p2p", "sfu")),
        "status": "ended",
        "started_at": at,
        "ended_at": at + timedelta(seconds=duration),
        "duration_seconds": duration,
    }


def _call_participant(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    at = ctx.when("call_participants", i)
    return {
        "_id": ctx.oid("call_participants", i),
        "call_session_id": ctx.oid("call_sessions", i % ctx.n("call_sessions")),
        "user_id": _ref(ctx, "User", r.randrange(10**6)),
        "role": r.choice(("initiator", "participant")),
        "joined_at": at,
        "left_at": _later(at, r, 1),
        "is_audio_enabled": True,
        "is_video_enabled": r.random() < 0.5,
    }


def _old_message_status(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    return {
        "_id": ctx.oid("old_message_status", i),
        "message_id": _ref(ctx, "Message", r.randrange(10**6)),
        "user_id": _ref(ctx, "User", r.randrange(10**6)),
        "status": r.choice(("SENT", "DELIVERED", "READ")),
        "updated_at": ctx.when("old_message_status", i),
    }


def _backup_url(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    path = f"2025/0{1 + i % 9}/{ctx.h('bk', i):012x}.jpg"
    return {
        "_id": ctx.oid("MessageAttachment_backup_urls", i),
        "attachment_id": _attachment_of(ctx, r.randrange(ctx.n("MessageAttachment")))[3],
        "field": r.choice(("fileUrl", "thumbnailUrl")),
        "old_url": f"https://{STAGING_HOST}/api/attachments/file/{path}",
        "new_url": f"https://{PROD_HOST}/api/attachments/file/{path}",
        "backed_up_at": ctx.when("MessageAttachment_backup_urls", i),
    }


def _old_category(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    return {
        "_id": ctx.oid("user_conversation_categories", i),
        "user_id": _ref(ctx, "User", r.randrange(10**6)),
        "name": r.choice(("Travail", "Famille", "Amis")),
        "color": f"#{r.randrange(0x1000000):06x}",
        "sort_order": i,
        "created_at": ctx.when("user_conversation_categories", i),
    }


def _old_conversation_prefs(ctx: _Ctx, i: int, r: random.Random) -> Doc:
    cats = ctx.n("user_conversation_categories")
    return {
        "_id": ctx.oid("user_conversation_preferences", i),
        "user_id": _ref(ctx, "User", r.randrange(10**6)),
        "conversation_id": ctx.oid("Conversation", r.randrange(ctx.n("Conversation"))),
        "is_pinned": r.random() < 0.2,
        "is_muted": r.random() < 0.2,
        "category_id": ctx.oid("user_conversation_categories", i % cats),
        "created_at": ctx.when("user_conversation_preferences", i),
    }


_Builder = Callable[[_Ctx, int, random.Random], Doc]
_BUILDERS: dict[str, _Builder] = {
    "AdminAuditLog": _audit_log,
    "AffiliateRelation": _affiliate_relation,
    "AffiliateToken": _affiliate_token,
    "AnonymousParticipant": _anonymous_participant,
    "AttachmentReaction": _attachment_reaction,
    "AttachmentStatusEntry": _attachment_status_entry,
    "CallParticipant": _call_participant_model,
    "CallSession": _call_session_model,
    "Community": _community,
    "CommunityMember": _community_member,
    "Conversation": _conversation,
    "ConversationMember": _conversation_member,
    "ConversationPreference": _conversation_preference,
    "ConversationReadCursor": _read_cursor,
    "ConversationShareLink": _share_link,
    "FriendRequest": _friend_request,
    "Mention": _mention,
    "Message": _message,
    "MessageAttachment": _attachment,
    "MessageReadStatus": _read_status,
    "MessageStatus": _message_status,
    "MessageStatusEntry": _message_status_entry,
    "Notification": _notification,
    "Reaction": _reaction,
    "TrackingLink": _tracking_link,
    "TrackingLinkClick": _tracking_click,
    "TypingIndicator": _typing,
    "User": _user,
    "UserConversationCategory": _user_conversation_category,
    "UserConversationPreferences": _user_conversation_prefs,
    "UserStats": _user_stats,
    "notification_preferences": _notification_preferences,
    "user_preference": _user_preference,
    "user_preferences": _user_preferences,
    "call_participants": _call_participant,
    "call_sessions": _call_session,
    "old_message_status": _old_message_status,
    "MessageAttachment_backup_urls": _backup_url,
    "user_conversation_categories": _old_category,
    "user_conversation_preferences": _old_conversation_prefs,
}


# ---------------------------------------------------------------- public API


def _scaled(size: int, scale: float) -> int:
    return max(1, round(size * scale))


def _contexts(seed: int, scale: float, full_bson: bool) -> tuple[_Ctx, _Ctx]:
    """Source and target contexts: their sizes, hence every reference, follow from the scale."""
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number, not {scale!r}")
    src = {name: _scaled(_SOURCE_SIZES[name], scale) for name in SOURCE_COLLECTIONS}
    tgt = {name: _scaled(size, scale) for name, size in _TARGET_SIZES.items()}
    return _Ctx(seed, "source", full_bson, src, scale), _Ctx(seed, "target", full_bson, tgt, scale)


def _stream(ctx: _Ctx, coll: str, notes: _Notes | None) -> Iterator[Doc]:
    """A lazy iterator over one collection's documents: nothing is computed before it is pulled."""
    if coll == "MessageTranslation":
        if ctx.old:
            yield from _target_translations(ctx)
        else:
            yield from _source_translations(ctx, notes)
        return
    build, r = _BUILDERS[coll], ctx.rng(coll)
    watch = notes if not ctx.old and coll in _WATCHED else None
    for i in range(ctx.n(coll)):
        doc = build(ctx, i, r)
        if watch is not None:
            if coll == "Message":
                _, kinds, has_children = _existing_translations(ctx, i, _msg(ctx, i))
                watch.see_message(doc, kinds, has_children)
            else:
                watch.see_urls(coll, doc)
        yield doc


# Source collections the manifest reports on (besides MessageTranslation).
_WATCHED = frozenset(("Message", *URL_FIELDS))


def iter_dataset(
    *, seed: int, scale: float, full_bson: bool, notes: _Notes | None = None
) -> Iterator[tuple[str, str, Iterator[Doc]]]:
    """Yields (side, collection, documents), side in {"source", "target"}; documents is lazy.

    Every id and reference is a pure function of (seed, side, collection, index), so any scale
    streams in bounded memory and the same arguments give byte-identical BSON. `notes` gathers
    what the manifest reports as the documents pass.
    """
    for ctx in _contexts(seed, scale, full_bson):
        for coll in ctx.sizes:
            yield ctx.side, coll, _stream(ctx, coll, notes)


def _manifest(seed: int, scale: float, full_bson: bool, notes: _Notes) -> dict:
    src, tgt = _contexts(seed, scale, full_bson)
    translations: dict[str, Any] = {
        "total": notes.styles["total"],
        "orphans": len(notes.orphan_ids),
    }
    translations.update(
        orphan_ids=notes.orphan_ids,
        orphan_message_ids=notes.orphan_message_ids,
        duplicate_pairs=len(notes.duplicate_winners),
        duplicate_losers=notes.duplicate_losers,
        duplicate_winners=notes.duplicate_winners,
        **{k: v for k, v in notes.styles.items() if k != "total"},
        text_fields=dict(sorted(notes.text_fields.items())),
        encrypted_by_text_field=dict(sorted(notes.encrypted_by_text_field.items())),
        # existing Message.translations entries on staging, by how they compare with the child
        existing=dict(notes.existing),
        # messages carrying `translations` once the children are folded in
        messages_with_translations=notes.messages_with_translations,
    )
    return {
        "seed": seed,
        "scale": scale,
        "full_bson": full_bson,
        "source": {"collections": dict(src.sizes)},
        "target": {"collections": dict(tgt.sizes)},
        "translations": translations,
        "urls": {
            "find": STAGING_HOST,
            "replace": PROD_HOST,
            "fields": {coll: list(paths) for coll, paths in URL_FIELDS.items()},
            "collections": {
                coll: dict(notes.urls.get(coll, {"documents_with_staging": 0, "occurrences": 0}))
                for coll in URL_FIELDS
            },
        },
    }


def build_manifest(*, seed: int, scale: float, full_bson: bool) -> dict:
    """What `generate` returns, without a server: only the reported collections are streamed."""
    src, _ = _contexts(seed, scale, full_bson)
    notes = _Notes()
    for coll in ("MessageTranslation", *sorted(_WATCHED)):
        for _ in _stream(src, coll, notes):
            pass
    return _manifest(seed, scale, full_bson, notes)


def stores_every_type(db: Database[Any]) -> bool:
    """Whether the server keeps, byte for byte, the BSON types only the full data set uses
    (Decimal128, MinKey/MaxKey, arrays in arrays; JavaScript code, which the probe does not try,
    is kept by every server measured to pass it): the capability probe's `full_bson`, tried on
    scratch collections of the tool's own database (once per server), never guessed from a name."""
    return probe_capabilities(db.client, TOOL_DATABASE).full_bson


def _insert(
    coll: Collection[Any], docs: Iterator[Doc], batch_bytes: int, tick: Callable[[int], None]
) -> int:
    """Encode each document once and send raw BSON in batches of about `batch_bytes`."""
    done = 0
    encoded = (RawBSONDocument(bson.encode(doc)) for doc in docs)
    for batch, _ in raw_batches(encoded, batch_bytes):
        coll.insert_many(batch, ordered=False)
        done += len(batch)
        tick(done)
    return done


def generate(
    source_db: Database[Any],
    target_db: Database[Any],
    *,
    seed: int = 42,
    scale: float = 1,
    full_bson: bool | None = None,
    batch_bytes: int = 4 * 1024 * 1024,
    progress: Callable[[str, str, int], None] | None = None,
) -> dict:
    """Seed staging (source_db) and production (target_db) with the dataset; return its manifest.

    Every collection name the dataset knows (copy, new and legacy) is dropped on both sides
    first, so the databases hold exactly the dataset whatever ran before. `full_bson=None`
    asks both servers (`stores_every_type`): those types are only used when both keep them.
    """
    if full_bson is None:
        full_bson = stores_every_type(source_db) and stores_every_type(target_db)
    dbs = {"source": source_db, "target": target_db}
    for db in dbs.values():
        for name in (*SOURCE_COLLECTIONS, *DROPPED_IN_TARGET, *LEGACY_COLLECTIONS):
            db.drop_collection(name)
    notes = _Notes()
    counts: dict[str, dict[str, int]] = {"source": {}, "target": {}}
    for side, coll, docs in iter_dataset(seed=seed, scale=scale, full_bson=full_bson, notes=notes):

        def tick(n: int, side: str = side, coll: str = coll) -> None:
            if progress is not None:
                progress(side, coll, n)

        counts[side][coll] = _insert(dbs[side][coll], docs, batch_bytes, tick)
    manifest = _manifest(seed, scale, full_bson, notes)
    for side in ("source", "target"):
        if counts[side] != manifest[side]["collections"]:
            raise RuntimeError(f"generator bug: {side} counts differ from the manifest")
    return manifest
