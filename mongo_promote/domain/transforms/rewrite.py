"""The rewrite transform: replace a substring in chosen string fields (staging.meeshy.me -> meeshy.me).

Paths follow MongoDB's dotted-path rules (an array met on the way is traversed, an array at the
end has its strings rewritten). `"*"` alone means every string value, except `_id`. Inside a path,
a `*` segment is every key of the document at that level (`translations.*.url`: the `url` of every
entry of the map `translations`); as the last segment, every string below at any depth
(`metadata.*`). Keys are never rewritten. Pure: the streaming driver (transforms/stream.py) applies
it to documents on the way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mongo_promote.domain.plan import RewriteSpec
from mongo_promote.domain.transforms.bsonbytes import SAMPLE_LIMIT, get_path

EVERYWHERE = "*"
SHOWN_CHARS = 200

# (concrete dotted path, string) -> the string to store there
Visit = Callable[[str, str], str]


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


# ---------------------------------------------------------------- statistics


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
    before = get_path(doc, path)[1]
    after = get_path(result.changes, path)[1]
    return {
        "_id": doc.get("_id"),
        "fields": result.fields_changed[:10],
        "before": _shown(before),
        "after": _shown(after),
    }


def _shown(value: Any) -> Any:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
