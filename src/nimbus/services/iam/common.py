"""Helpers shared by the IAM provider's modules: errors, names, ARNs, paging, tags."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from ...errors import ServiceError
from ...iam.policy import PolicyError, parse_document

NAME_RE = re.compile(r"[\w+=,.@-]+\Z")
PATH_RE = re.compile(r"(/|/[\x21-\x7e]*/)\Z")


def no_such_entity(message: str) -> ServiceError:
    return ServiceError("NoSuchEntity", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError("EntityAlreadyExists", message)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceeded", message)


def delete_conflict(message: str) -> ServiceError:
    return ServiceError("DeleteConflict", message)


def invalid_input(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message)


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400, sender_fault=True)


def check_name(value: Any, member: str, max_len: int = 64) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len or not NAME_RE.match(value):
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and {max_len}"
        )
    return value


def check_path(value: Any, member: str = "path") -> str:
    if value is None:
        return "/"
    if not isinstance(value, str) or len(value) > 512 or not PATH_RE.match(value):
        raise validation(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        )
    return value


def validated_policy(text: Any, *, kind: str = "identity", max_size: int | None = None) -> str:
    """The document as stored (validated JSON text) or MalformedPolicyDocument."""
    if not isinstance(text, str):
        raise ServiceError("MalformedPolicyDocument", "Syntax errors in policy.")
    try:
        parse_document(text, kind=kind, max_size=max_size)
    except PolicyError as exc:
        raise ServiceError("MalformedPolicyDocument", str(exc)) from None
    return text


def encoded(document: str) -> str:
    """IAM answers policy documents URL-encoded (botocore decodes them)."""
    return quote(document, safe="")


def dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=timezone.utc) if epoch is not None else None


def iso(epoch: float | None) -> str:
    if epoch is None:
        return "N/A"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    """IAM's Marker/MaxItems paging."""
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            start = int(base64.b64decode(marker).decode())
        except ValueError:
            raise invalid_input("Invalid Marker.") from None
    limit = params.get("MaxItems") or 100
    if not 1 <= limit <= 1000:
        raise validation(f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000")
    chunk = items[start : start + limit]
    out: dict[str, Any] = {key: chunk, "IsTruncated": start + limit < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = base64.b64encode(str(start + limit).encode()).decode()
    return out


def check_tags(tags: Any, existing: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """Merge ``tags`` into ``existing`` (AWS: at most 50, keys ≤128, values ≤256)."""
    merged = {t["Key"]: t["Value"] for t in (existing or [])}
    for tag in tags or []:
        key, value = tag.get("Key"), tag.get("Value", "")
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise invalid_input(f"Invalid tag key: {key}")
        if not isinstance(value, str) or len(value) > 256:
            raise invalid_input(f"Invalid tag value for key {key}")
        merged[key] = value
    if len(merged) > 50:
        raise limit_exceeded("The number of tags has reached the maximum limit.")
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def json_text(doc: Any) -> str:
    return doc if isinstance(doc, str) else json.dumps(doc)
