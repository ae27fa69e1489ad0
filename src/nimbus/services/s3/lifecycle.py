"""The S3 controller: lifecycle rules and access-log delivery, on the simulation clock.

Lifecycle actions follow AWS's timing: an object becomes eligible at the midnight UTC
after ``created + Days``; noncurrent versions count from when they were superseded;
incomplete multipart uploads from their initiation.  Locked versions (retention or
legal hold) are never expired.  ``tick(now)`` catches up however far the clock jumped.
"""

from __future__ import annotations

import math
from typing import Any

from . import versions
from .versions import OBJECT, VERSION

BUCKET = "s3:bucket"
UPLOAD = "s3:upload"
DAY = 86400.0


def _eligible(since: float, days: int) -> float:
    return math.ceil((since + days * DAY) / DAY) * DAY


def _filter(rule: dict[str, Any]) -> tuple[str, list[dict[str, str]], int | None, int | None]:
    flt = rule.get("Filter") or {}
    both = flt.get("And") or {}
    prefix = rule.get("Prefix") or flt.get("Prefix") or both.get("Prefix") or ""
    tags = ([flt["Tag"]] if flt.get("Tag") else []) + list(both.get("Tags") or [])
    greater = flt.get("ObjectSizeGreaterThan", both.get("ObjectSizeGreaterThan"))
    less = flt.get("ObjectSizeLessThan", both.get("ObjectSizeLessThan"))
    return prefix, tags, greater, less


def _matches(doc: dict[str, Any], tags: list[dict[str, str]], greater: int | None, less: int | None) -> bool:
    if tags:
        have = {t["Key"]: t["Value"] for t in doc.get("tags", [])}
        if any(have.get(t["Key"]) != t.get("Value") for t in tags):
            return False
    size = doc.get("size", 0)
    if greater is not None and not size > greater:
        return False
    if less is not None and not size < less:
        return False
    return True


def _locked(doc: dict[str, Any], now: float) -> bool:
    return doc.get("legal_hold") == "ON" or (bool(doc.get("lock_mode")) and doc.get("lock_until", 0) > now)


class S3Controller:
    interval = 60.0

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def tick(self, now: float) -> None:
        provider = self.runtime.provider("s3")
        if provider is None:
            return
        provider.deliver_logs(now)
        for name, bucket in list(self.runtime.store.read.scan(BUCKET)):
            rules = [r for r in bucket.get("lifecycle") or [] if r.get("Status") == "Enabled"]
            for rule in rules:
                self._apply(provider, bucket, rule, now)

    def _apply(self, provider: Any, bucket: dict[str, Any], rule: dict[str, Any], now: float) -> None:
        store, blobs = self.runtime.store, self.runtime.blobs
        name = bucket["name"]
        prefix, tags, greater, less = _filter(rule)
        released: list[dict[str, Any]] = []
        expiration = rule.get("Expiration") or {}
        if expiration.get("Days") or expiration.get("Date"):
            date = expiration.get("Date")
            for key, doc in list(store.read.scan(OBJECT, name, prefix=prefix)):
                due = date["$dt"] if isinstance(date, dict) else _eligible(doc["modified"], expiration["Days"])
                if now < due or not _matches(doc, tags, greater, less):
                    continue
                with store.transaction() as txn:
                    current = txn.get(BUCKET, name)
                    doc = txn.get(OBJECT, key, name)
                    if current is None or doc is None:
                        continue
                    if not current.get("versioning"):
                        if _locked(doc, now):
                            continue
                        txn.delete(OBJECT, key, name)
                        released.append(doc)
                    else:
                        marker = {"delete_marker": True, "modified": now, "owner": current["owner"]}
                        released += versions.commit(txn, current, key, marker)
        noncurrent = rule.get("NoncurrentVersionExpiration") or {}
        sweep_markers = expiration.get("ExpiredObjectDeleteMarker") or noncurrent or expiration.get("Days")
        if (noncurrent or sweep_markers) and bucket.get("versioning"):
            days = noncurrent.get("NoncurrentDays")
            keep = noncurrent.get("NewerNoncurrentVersions") or 0
            groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for row, doc in store.read.scan(VERSION, name, prefix=prefix):
                groups.setdefault(versions.split_row(row), []).append((row, doc))
            for key, rows in groups.items():
                doomed = []
                if days:
                    for index in range(1, len(rows)):
                        row, doc = rows[index]
                        since = rows[index - 1][1]["modified"]
                        if index - 1 < keep or now < _eligible(since, days) or _locked(doc, now):
                            continue
                        if doc.get("delete_marker") or _matches(doc, tags, greater, less):
                            doomed.append(row)
                remaining = [r for r in rows if r[0] not in doomed]
                if expiration.get("ExpiredObjectDeleteMarker") and len(remaining) == 1 and remaining[0][1].get("delete_marker"):
                    doomed.append(remaining[0][0])
                if not doomed:
                    continue
                with store.transaction() as txn:
                    current = txn.get(BUCKET, name)
                    if current is None:
                        break
                    for row in doomed:
                        doc = txn.get(VERSION, row, name)
                        if doc is not None:
                            versions.remove(txn, current, key, row)
                            released.append(doc)
        abort = rule.get("AbortIncompleteMultipartUpload") or {}
        if abort.get("DaysAfterInitiation"):
            for upload_id, doc in list(store.read.scan(UPLOAD, name)):
                if doc["key"].startswith(prefix) and now >= _eligible(doc["initiated"], abort["DaysAfterInitiation"]):
                    with store.transaction() as txn:
                        if txn.get(UPLOAD, upload_id, name) is None:
                            continue
                        for blob_id in provider._drop_upload(txn, None, name, upload_id):
                            blobs.delete(blob_id)
        for doc in released:
            for blob_id, _ in doc.get("parts", []):
                blobs.delete(blob_id)
