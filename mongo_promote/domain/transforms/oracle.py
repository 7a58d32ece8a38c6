"""The plan's transforms again, on decoded documents: the reference the run's byte edits are held to.

The copy edits raw bytes (`bsonbytes.with_map`) and re-encodes only what a rewrite changes; this
module does the same work the plain way, on a decoded `dict`, the way a `$set` would. The copy
checks each document it transformed against it as the bytes pass (`Verification`), and
`validate` recomputes whole collections with it after the fact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.errors import InvalidBSON

from mongo_promote.domain.plan import EmbedSpec, RewriteSpec
from mongo_promote.domain.transforms.bsonbytes import CODEC, SAMPLE_LIMIT, jsonable
from mongo_promote.domain.transforms.fold import MAX_BSON_SIZE, Entry, fitting, settle
from mongo_promote.domain.transforms.rewrite import rewrite_document

Folded = Sequence[tuple[EmbedSpec, Mapping[str, Entry]]]  # each embed with this parent's entries


def apply_fold(
    doc: dict[str, Any], spec: EmbedSpec, entries: Mapping[str, Entry], *, fit: bool = True
) -> None:
    """What `$set: {"<as>.<key>": value}` does for the keys `on_existing` lets through, on the
    decoded document: a missing or null map set whole, any other non-map value left alone.
    With `fit` and an `on_oversize` that lets a run go on, a document past 16 MB gets only the
    entries that fit, measured on its encoding (`fold.fitting`)."""
    current = doc.get(spec.as_field)
    if current is not None and not isinstance(current, dict):
        return  # reported by the embed and left alone
    values = settle(current, entries, spec.on_existing).values
    if fit and values and spec.on_oversize != "fail":

        def fits(chosen: dict[str, dict[str, Any]]) -> bool:
            trial = {**doc, spec.as_field: {**(current or {}), **chosen}}
            return len(bson.encode(trial, codec_options=CODEC)) <= MAX_BSON_SIZE

        if not fits(values):
            values = fitting(values, fits, spec.on_oversize)
    if current is None:
        if values:  # entries all left out (on_oversize): the parent stays as it was
            doc[spec.as_field] = values
    else:
        current.update(values)


def apply_rewrites(doc: dict[str, Any], rewrites: Sequence[RewriteSpec]) -> None:
    for rewrite in rewrites:
        doc.update(rewrite_document(doc, rewrite.fields, rewrite.find, rewrite.replace).changes)


def expected(
    doc: dict[str, Any], folded: Folded, rewrites: Sequence[RewriteSpec], *, fit: bool = True
) -> dict[str, Any]:
    """`doc` as the pipeline must leave it: folds first, then rewrites. Edited in place: callers
    decode a document for this alone (a deep copy cost a quarter of validation's CPU). `fit`:
    apply `on_oversize` (not when `folded` holds the entries a copy already chose to write)."""
    for spec, entries in folded:
        if entries:
            apply_fold(doc, spec, entries, fit=fit)
    apply_rewrites(doc, rewrites)
    return doc


def difference(want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    keys = [k for k in dict.fromkeys([*want, *have]) if want.get(k) != have.get(k)]
    if keys:
        return f"fields differ: {', '.join(map(str, keys[:5]))}"
    return "same values, different key order or types"


@dataclass
class Verification:
    """Each document the copy transformed, held to the decoded reference before it is inserted.

    With the content hash of the bytes inserted (checked against the target by validation) this
    proves target == transform(source) without reading the source a second time."""

    checked: int = 0
    pairs: int = 0  # embedded (parent, key) entries among them
    mismatched: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    def check(
        self, source: bytes, output: bytes, folded: Folded, rewrites: Sequence[RewriteSpec]
    ) -> None:
        try:
            doc = bson.decode(source, codec_options=CODEC)
        except (InvalidBSON, UnicodeDecodeError):
            return  # copied unchanged and reported by the transformer (`unreadable`)
        self.pairs += sum(len(entries) for _, entries in folded)
        want = expected(doc, folded, rewrites, fit=False)  # the entries the copy wrote
        self.checked += 1
        encoded = bson.encode(want, codec_options=CODEC)
        if encoded == output:
            return
        # Bytes a decode/encode round trip does not reproduce (a DBRef's key order, a repeated
        # key) differ on both sides alike: compare the output through the same round trip.
        have = bson.decode(output, codec_options=CODEC)
        if bson.encode(have, codec_options=CODEC) == encoded:
            return
        self.mismatched += 1
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append(
                jsonable({"_id": want.get("_id"), "problem": difference(want, have)})
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "pairs": self.pairs,
            "mismatched": self.mismatched,
            "samples": self.samples,
        }
