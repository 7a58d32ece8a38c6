"""Replace a substring in chosen string fields (staging.meeshy.me -> meeshy.me): pure core + driver.

Paths follow MongoDB's dotted-path rules (an array met on the way is traversed, an array at the
end has its strings rewritten), so the server-side `$regex` pre-filter selects exactly the
documents the pure functions would change. `"*"` alone means every string value, except `_id`.
Inside a path, a `*` segment is every key of the document at that level (`translations.*.url`:
the `url` of every entry of the map `translations`); as the last segment, every string below at
any depth (`metadata.*`). Keys are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bson.codec_options import CodecOptions, DatetimeConversion
from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from mongo_promote.errors import OperationFailed
from mongo_promote.plan import RewriteSpec

EVERYWHERE = "*"
SAMPLE_LIMIT = 20
SHOWN_CHARS = 200
# FerretDB 1.24 (SQLite) never answers an `update` command of 100 statements or more.
UPDATES_PER_COMMAND = 64

# Documents are decoded only to be re-encoded field by field: keep out-of-range dates as they are.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(
    datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

Progress = Callable[[int], None]
# (concrete dotted path, string) -> the string to store there
Visit = Callable[[str, str], str]

_REGEX_SPECIAL = set("\\.^$|?*+()[]{}-/")


class RewriteError(OperationFailed):
    """The server refused a rewrite write."""


@dataclass
class RewriteResult:
    """What one document needs: top-level field -> new value (`$set`), and where it changed."""

    changes: dict[str, Any]
    fields_changed: list[str]
    occurrences: int


@dataclass
class RewriteStats:
    """What a rewrite did; `remaining` counts documents where `find` survives (replace contains
    it, or a replacement recreated it), which validation would then flag."""

    documents_scanned: int = 0
    documents_changed: int = 0
    fields_changed: int = 0
    occurrences: int = 0
    remaining: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view for report.json."""
        data = asdict(self)
        data["samples"] = [{**s, "_id": _shown(s["_id"])} for s in self.samples]
        return data


# ---------------------------------------------------------------- pure core


def rewrite_value(value: Any, find: str, replace: str) -> tuple[Any, int]:
    """(new value, replacements) for a string, left to right without overlap; others unchanged."""
    if not isinstance(value, str) or find not in value:
        return value, 0
    return value.replace(find, replace), value.count(find)


def rewrite_document(
    doc: Mapping[str, Any], fields: Sequence[str], find: str, replace: str
) -> RewriteResult:
    """The `$set` that rewrites `find` in `fields` of `doc`; `doc` itself is not modified.

    Each string position is rewritten at most once, even when listed paths overlap, so a
    replacement that contains `find` is not applied twice.
    """
    changed: list[str] = []
    count = 0
    seen: set[str] = set()

    def visit(path: str, text: str) -> str:
        nonlocal count
        if path in seen:
            return text
        seen.add(path)
        new, n = rewrite_value(text, find, replace)
        if n:
            changed.append(path)
            count += n
        return new

    changes = _apply(doc, fields, visit)
    return RewriteResult(changes, changed, count)


def find_remaining(doc: Mapping[str, Any], fields: Sequence[str], find: str) -> list[str]:
    """Concrete dotted paths (array indexes included) in `fields` whose string still has `find`."""
    found: list[str] = []

    def visit(path: str, text: str) -> str:
        if find in text and path not in found:
            found.append(path)
        return text

    _apply(doc, fields, visit)
    return found


def _apply(doc: Mapping[str, Any], fields: Sequence[str], visit: Visit) -> dict[str, Any]:
    """Top-level field -> new value for every top-level field whose content `visit` changed."""
    if EVERYWHERE in fields:
        return _apply_everywhere(doc, visit)
    changes: dict[str, Any] = {}
    for path in dict.fromkeys(fields):
        top, *rest = path.split(".")
        tops = [k for k in doc if k != "_id"] if top == EVERYWHERE else [top]
        for key in tops:
            if key == "_id" or key not in doc:
                continue
            current = changes.get(key, doc[key])
            new = _along(current, rest, key, visit)
            if new is not current:
                changes[key] = new
    return changes


def _apply_everywhere(doc: Mapping[str, Any], visit: Visit) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "_id":
            continue
        new = _everywhere(value, key, visit)
        if new is not value:
            changes[key] = new
    return changes


def _along(node: Any, parts: list[str], path: str, visit: Visit) -> Any:
    """Follow `parts` from `node` the way MongoDB resolves a dotted path; returns `node` itself
    when nothing changed, else a copy with only the changed branch rebuilt (key order kept)."""
    if not parts:
        return _terminal(node, path, visit)
    head, rest = parts[0], parts[1:]
    if head == EVERYWHERE:
        return _wildcard(node, rest, path, visit)
    if isinstance(node, Mapping):
        if head not in node:
            return node
        new = _along(node[head], rest, f"{path}.{head}", visit)
        return node if new is node[head] else _with(node, head, new)
    if isinstance(node, list):
        if head.isdigit():
            index = int(head)
            if index >= len(node):
                return node
            new = _along(node[index], rest, f"{path}.{head}", visit)
            return node if new is node[index] else _with(node, index, new)
        return _each(node, path, lambda el, p: _along(el, parts, p, visit), only=Mapping)
    return node


def _wildcard(node: Any, rest: list[str], path: str, visit: Visit) -> Any:
    """A `*` segment: every key of a document (then `rest`); an array met here is traversed like
    any other. Last in the path, it reaches every string below, at any depth."""
    if not rest:
        if isinstance(node, Mapping | list):
            return _everywhere(node, path, visit)
        return node
    if isinstance(node, Mapping):
        changed = {}
        for key, value in node.items():
            new = _along(value, rest, f"{path}.{key}", visit)
            if new is not value:
                changed[key] = new
        return _replaced(node, changed)
    if isinstance(node, list):
        return _each(node, path, lambda el, p: _wildcard(el, rest, p, visit), only=Mapping)
    return node


def _terminal(node: Any, path: str, visit: Visit) -> Any:
    """The end of a path: a string, or an array whose string elements are rewritten."""
    if isinstance(node, str):
        return visit(path, node)
    if isinstance(node, list):
        return _each(node, path, lambda text, p: visit(p, text), only=str)
    return node


def _everywhere(node: Any, path: str, visit: Visit) -> Any:
    """Every string under `node`, through documents and arrays at any depth; keys untouched."""
    if isinstance(node, str):
        return visit(path, node)
    if isinstance(node, Mapping):
        changed = {}
        for key, value in node.items():
            new = _everywhere(value, f"{path}.{key}", visit)
            if new is not value:
                changed[key] = new
        return _replaced(node, changed)
    if isinstance(node, list):
        return _each(node, path, lambda el, p: _everywhere(el, p, visit), only=object)
    return node


def _each(node: list[Any], path: str, fn: Callable[[Any, str], Any], *, only: type) -> list[Any]:
    """Apply `fn` to the elements of type `only`; the same list back when none changed."""
    changed = {}
    for index, element in enumerate(node):
        if isinstance(element, only):
            new = fn(element, f"{path}.{index}")
            if new is not element:
                changed[index] = new
    return _replaced(node, changed)


def _with(container: Any, key: Any, value: Any) -> Any:
    return _replaced(container, {key: value})


def _replaced(container: Any, changed: Mapping[Any, Any]) -> Any:
    """A shallow copy (same type, same key order) with some entries replaced; the original stays
    untouched, and comes back as is when nothing changed (callers test identity)."""
    if not changed:
        return container
    out = container.copy() if hasattr(container, "copy") else dict(container)
    for key, value in changed.items():
        out[key] = value
    return out


# ---------------------------------------------------------------- server side


def server_filter(spec: RewriteSpec) -> dict[str, Any]:
    """Only documents that can change: `$regex` on the listed paths; `"*"` needs a full scan.

    A query cannot say "any key" in the middle of a path, so a path with a `*` segment selects
    the documents that have the part before it (a superset the pure functions then narrow)."""
    if _whole_document(spec.fields):
        return {}
    pattern = regex_literal(spec.find)
    clauses: list[dict[str, Any]] = []
    for path in dict.fromkeys(spec.fields):
        parts = path.split(".")
        if parts[0] == "_id":
            continue
        if EVERYWHERE in parts:
            prefix = ".".join(parts[: parts.index(EVERYWHERE)])
            clause: dict[str, Any] = {prefix: {"$exists": True}}
        else:
            clause = {path: {"$regex": pattern}}
        if clause not in clauses:
            clauses.append(clause)
    if not clauses:
        return {"_id": {"$exists": False}}
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _whole_document(fields: Sequence[str]) -> bool:
    """`"*"`, or a path starting with `*`: any top-level field may change."""
    return any(p.split(".")[0] == EVERYWHERE for p in fields)


def regex_literal(text: str) -> str:
    """A regex matching `text` literally: only metacharacters are escaped, so PCRE (mongod) and
    Go's RE2 (FerretDB) read it the same (re.escape's extra escapes are Python dialect)."""
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in text)


def _projection(spec: RewriteSpec) -> dict[str, int] | None:
    """Only the top-level fields that can change (plus `_id`); the whole document for `"*"`."""
    if _whole_document(spec.fields):
        return None
    return dict.fromkeys((p.split(".")[0] for p in spec.fields), 1)


def _scan(coll: Collection[Any], spec: RewriteSpec, batch_docs: int) -> Iterator[dict[str, Any]]:
    """Candidates in `_id` order: an update never moves a document ahead of the cursor, so none is
    seen (and rewritten) twice."""
    coll = coll.with_options(codec_options=CODEC)
    yield from coll.find(
        server_filter(spec), _projection(spec), sort=[("_id", 1)], batch_size=batch_docs
    )


def account_rewrite(
    stats: RewriteStats, doc: Mapping[str, Any], spec: RewriteSpec
) -> RewriteResult:
    """Rewrite one document in memory and add it to the stats."""
    result = rewrite_document(doc, spec.fields, spec.find, spec.replace)
    stats.documents_scanned += 1
    if result.changes:
        stats.documents_changed += 1
        stats.fields_changed += len(result.fields_changed)
        stats.occurrences += result.occurrences
        if find_remaining({**doc, **result.changes}, spec.fields, spec.find):
            stats.remaining += 1
        if len(stats.samples) < SAMPLE_LIMIT:
            stats.samples.append(_sample(doc, result))
    return result


def _sample(doc: Mapping[str, Any], result: RewriteResult) -> dict[str, Any]:
    path = result.fields_changed[0]
    before = _at(doc, path)
    after = _at(result.changes, path)
    return {
        "_id": doc.get("_id"),
        "fields": result.fields_changed[:10],
        "before": _shown(before),
        "after": _shown(after),
    }


def _at(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _shown(value: Any) -> Any:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def rewrite_shadow(
    shadow_coll: Collection[Any],
    spec: RewriteSpec,
    *,
    batch_docs: int = 1000,
    progress: Progress | None = None,
) -> RewriteStats:
    """Rewrite `spec.find` in a shadow collection: `$set` of the changed top-level fields only, in
    unordered bulk batches, so untouched fields keep their exact bytes."""
    stats = RewriteStats()
    ops: list[UpdateOne] = []
    for doc in _scan(shadow_coll, spec, batch_docs):
        result = account_rewrite(stats, doc, spec)
        if result.changes:
            ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": result.changes}))
        if len(ops) >= batch_docs:
            _bulk(shadow_coll, ops)
            ops = []
        if progress is not None and stats.documents_scanned % batch_docs == 0:
            progress(batch_docs)
    _bulk(shadow_coll, ops)
    if progress is not None and stats.documents_scanned % batch_docs:
        progress(stats.documents_scanned % batch_docs)
    return stats


def _bulk(coll: Collection[Any], ops: list[UpdateOne]) -> None:
    for start in range(0, len(ops), UPDATES_PER_COMMAND):
        _bulk_command(coll, ops[start : start + UPDATES_PER_COMMAND])


def _bulk_command(coll: Collection[Any], ops: list[UpdateOne]) -> None:
    """One unordered `update` command; every statement must match (the shadow is ours alone)."""
    try:
        result = coll.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])[:3]
        raise RewriteError(
            f"{coll.name}: the server rejected part of the rewrite: {errors}"
        ) from None
    except KeyError as exc:  # pymongo on a FerretDB reply that carries write errors without counts
        raise RewriteError(
            f"{coll.name}: the server rejected part of the rewrite ({exc})"
        ) from None
    if result.matched_count != len(ops):
        raise RewriteError(
            f"{coll.name}: {len(ops) - result.matched_count} documents vanished mid-rewrite"
        )


def plan_rewrite(
    source_coll: Collection[Any], spec: RewriteSpec, *, batch_docs: int = 1000
) -> dict[str, Any]:
    """Dry-run: documents and occurrences `rewrite_shadow` would change, read from the source."""
    stats = RewriteStats()
    for doc in _scan(source_coll, spec, batch_docs):
        account_rewrite(stats, doc, spec)
    result = stats.to_dict()
    result["collection"] = spec.collection
    return result


def iter_remaining(
    docs: Iterable[Mapping[str, Any]], spec: RewriteSpec
) -> Iterator[tuple[Any, list[str]]]:
    """(_id, paths) of every document where `find` is still present: what validation reports."""
    for doc in docs:
        paths = find_remaining(doc, spec.fields, spec.find)
        if paths:
            yield doc.get("_id"), paths
