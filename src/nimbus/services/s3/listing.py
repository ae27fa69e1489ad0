"""Ordered walks over a bucket's keys with prefix, delimiter and markers (S3 listings).

Keys come from the store in byte order; a delimiter rolls keys up into common
prefixes, and the walk then jumps past the whole prefix with one new scan instead of
reading every key beneath it, so listing a folder of a million objects costs one row.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterator

from ...errors import ServiceError
from ...state import Txn

# Greater than any character in a key: a cursor of ``prefix + PAST`` skips the prefix.
PAST = "\U0010ffff"
OBJECT_KIND = "s3:object"


@dataclass
class Entry:
    key: str  # the object key, or the common prefix
    doc: dict[str, Any] | None  # None for a common prefix

    @property
    def is_prefix(self) -> bool:
        return self.doc is None


def walk(txn: Txn, bucket: str, *, prefix: str, delimiter: str, after: str | None, kind: str = OBJECT_KIND) -> Iterator[tuple[Entry, str]]:
    """(entry, cursor) in listing order; resuming after ``cursor`` continues the walk."""
    cursor = after
    while True:
        scanned = 0
        for key, doc in txn.scan(kind, bucket, prefix=prefix, start_after=cursor, limit=1000):
            scanned += 1
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    cursor = common + PAST
                    yield Entry(common, None), cursor
                    break  # rescan from past the whole common prefix
            cursor = key
            yield Entry(key, doc), cursor
        if scanned == 0:
            return


def page(
    txn: Txn, bucket: str, *, prefix: str, delimiter: str, after: str | None, max_keys: int, kind: str = OBJECT_KIND
) -> tuple[list[Entry], str | None]:
    """Up to ``max_keys`` entries and the cursor to continue from (None: nothing more)."""
    entries: list[Entry] = []
    last_cursor: str | None = None
    if max_keys <= 0:
        return entries, None
    for entry, cursor in walk(txn, bucket, prefix=prefix, delimiter=delimiter, after=after, kind=kind):
        if len(entries) == max_keys:
            return entries, last_cursor
        entries.append(entry)
        last_cursor = cursor
    return entries, None


def encode_token(cursor: str) -> str:
    return base64.urlsafe_b64encode(cursor.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise ServiceError("InvalidArgument", "The continuation token provided is incorrect", 400,
                           fields={"ArgumentName": "continuation-token"}) from exc
