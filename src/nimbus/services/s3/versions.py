"""Object versions: where each version of a key lives and which one is current.

``s3:object`` (scope = bucket, key = object key) holds the current version of every key
whose newest version is not a delete marker, so listings and plain GETs read one row.
Once a bucket's versioning has been enabled, every version (delete markers included)
is also an ``s3:version`` record keyed ``<key> SEP <inverted sequence><suffix>``: the
versions of a key sort newest first right after it, and a version id names its row
(``<16 hex inverted sequence><16 hex random>``; the ``null`` version's row ends in
``null`` and is found by a short scan of its key's versions).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Any

from ...errors import ServiceError

OBJECT = "s3:object"
VERSION = "s3:version"
SEP = "\x01"
PAST = "\U0010ffff"
_VERSION_ID = re.compile(r"^[0-9a-f]{32}$")
_lock = threading.Lock()
_last = 0


def _inverted() -> str:
    global _last
    with _lock:
        now = max(time.time_ns(), _last + 1)
        _last = now
    return f"{(1 << 64) - 1 - now:016x}"


def new_row(key: str, versioned: bool) -> tuple[str, str]:
    """(row key, version id) of a new version: a fresh id when enabled, "null" when suspended."""
    inverted = _inverted()
    if versioned:
        version_id = inverted + secrets.token_hex(8)
        return key + SEP + version_id, version_id
    return key + SEP + inverted + "null", "null"


def split_row(row: str) -> str:
    return row.rsplit(SEP, 1)[0]


def check_version_id(version_id: str) -> None:
    if version_id != "null" and not _VERSION_ID.match(version_id):
        raise ServiceError("InvalidArgument", "Invalid version id specified", 400,
                           fields={"ArgumentName": "versionId", "ArgumentValue": version_id})


def find(txn: Any, bucket: str, key: str, version_id: str) -> tuple[str, dict[str, Any]] | None:
    if version_id == "null":
        for row, doc in txn.scan(VERSION, bucket, prefix=key + SEP):
            if doc.get("version_id") == "null" and split_row(row) == key:
                return row, doc
        return None
    if not _VERSION_ID.match(version_id):
        return None
    row = key + SEP + version_id
    doc = txn.get(VERSION, row, bucket)
    return (row, doc) if doc is not None else None


def newest(txn: Any, bucket: str, key: str) -> tuple[str, dict[str, Any]] | None:
    for row, doc in txn.scan(VERSION, bucket, prefix=key + SEP, limit=1):
        if split_row(row) == key:
            return row, doc
    return None


def all_of(txn: Any, bucket: str, key: str) -> list[tuple[str, dict[str, Any]]]:
    return [(row, doc) for row, doc in txn.scan(VERSION, bucket, prefix=key + SEP) if split_row(row) == key]


def commit(txn: Any, bucket: dict[str, Any], key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Make ``doc`` the current version of ``key``; the records whose bytes are now unused."""
    name = bucket["name"]
    status = bucket.get("versioning")
    if not status:
        previous = txn.get(OBJECT, key, name)
        doc.pop("version_id", None)
        if doc.get("delete_marker"):
            txn.delete(OBJECT, key, name)
        else:
            txn.put(OBJECT, key, doc, name)
        return [previous] if previous else []
    released = []
    row, version_id = new_row(key, status == "Enabled")
    if version_id == "null":
        old = find(txn, name, key, "null")
        if old is not None:
            txn.delete(VERSION, old[0], name)
            released.append(old[1])
    doc["version_id"] = version_id
    txn.put(VERSION, row, doc, name)
    if doc.get("delete_marker"):
        txn.delete(OBJECT, key, name)
    else:
        txn.put(OBJECT, key, doc, name)
    return released


def remove(txn: Any, bucket: dict[str, Any], key: str, row: str) -> None:
    """Delete one version row and make the next newest version current."""
    name = bucket["name"]
    txn.delete(VERSION, row, name)
    top = newest(txn, name, key)
    if top is None or top[1].get("delete_marker"):
        txn.delete(OBJECT, key, name)
    else:
        txn.put(OBJECT, key, top[1], name)


def update(txn: Any, bucket: dict[str, Any], key: str, version_id: str | None, change) -> dict[str, Any]:
    """Apply ``change(doc)`` to a version (the current one when ``version_id`` is None)."""
    name = bucket["name"]
    if not bucket.get("versioning"):
        doc = txn.get(OBJECT, key, name)
        if doc is None or (version_id not in (None, "null")):
            raise _missing(key, version_id)
        change(doc)
        txn.put(OBJECT, key, doc, name)
        return doc
    if version_id is None:
        current = txn.get(OBJECT, key, name)
        if current is None:
            raise _missing(key, None)
        version_id = current["version_id"]
    found = find(txn, name, key, version_id)
    if found is None or found[1].get("delete_marker"):
        if found is not None:
            raise ServiceError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                               headers={"x-amz-delete-marker": "true"})
        raise _missing(key, version_id)
    row, doc = found
    change(doc)
    txn.put(VERSION, row, doc, name)
    current = txn.get(OBJECT, key, name)
    if current is not None and current.get("version_id") == doc["version_id"]:
        txn.put(OBJECT, key, doc, name)
    return doc


def _missing(key: str, version_id: str | None) -> ServiceError:
    if version_id:
        check_version_id(version_id)
        return ServiceError("NoSuchVersion", "The specified version does not exist.", 404,
                            fields={"Key": key, "VersionId": version_id})
    return ServiceError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


def enable(txn: Any, bucket: dict[str, Any]) -> None:
    """First time versioning is turned on: existing objects become ``null`` versions."""
    name = bucket["name"]
    for key, doc in list(txn.scan(OBJECT, name)):
        row, _ = new_row(key, False)
        doc["version_id"] = "null"
        txn.put(VERSION, row, doc, name)
        txn.put(OBJECT, key, doc, name)
