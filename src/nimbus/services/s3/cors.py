"""CORS for S3: preflight ``OPTIONS`` answers and headers on actual responses.

Rules come from the bucket's CORS configuration; the first rule whose origin, method
and (for preflights) requested headers all match wins, as in S3.  No configuration or
no matching rule: a preflight is refused (403) and actual responses get no CORS headers.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from ...errors import ServiceError

BUCKET = "s3:bucket"
_REFUSED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
            "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
            "by the resource's CORS spec.")


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]").replace("?", "[?]"))


def match_rule(rules: list[dict[str, Any]], origin: str, method: str, headers: list[str]) -> dict[str, Any] | None:
    for rule in rules:
        if not any(_like(o, origin) for o in rule.get("AllowedOrigins") or []):
            continue
        if method not in (rule.get("AllowedMethods") or []):
            continue
        allowed = rule.get("AllowedHeaders") or []
        if all(any(_like(a, h, case=False) for a in allowed) for h in headers):
            return rule
    return None


def _headers_for(rule: dict[str, Any], origin: str) -> dict[str, str]:
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    out = {
        "Access-Control-Allow-Origin": "*" if wildcard else origin,
        "Access-Control-Allow-Methods": ", ".join(rule["AllowedMethods"]),
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if not wildcard:
        out["Access-Control-Allow-Credentials"] = "true"
    if rule.get("ExposeHeaders"):
        out["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
    if rule.get("MaxAgeSeconds") is not None:
        out["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
    return out


def preflight(store: Any, bucket_name: str | None, headers: Any) -> dict[str, str]:
    """Headers of a successful preflight answer; raises S3's error otherwise."""
    origin = headers.get("Origin")
    method = headers.get("Access-Control-Request-Method")
    if not origin:
        raise ServiceError("BadRequest", "Insufficient information. Origin request header needed.", 400)
    if not method:
        raise ServiceError("BadRequest", "Insufficient information. Access-Control-Request-Method request header needed.", 400)
    bucket = store.read.get(BUCKET, bucket_name) if bucket_name else None
    if bucket is None:
        raise ServiceError("NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": bucket_name or ""})
    rules = bucket.get("cors")
    if not rules:
        raise ServiceError("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", 403,
                           fields={"Method": method, "ResourceType": "BUCKET"})
    requested = [h.strip() for h in headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
    rule = match_rule(rules, origin, method, requested)
    if rule is None:
        raise ServiceError("AccessForbidden", _REFUSED, 403, fields={"Method": method, "ResourceType": "OBJECT"})
    out = _headers_for(rule, origin)
    if requested:
        out["Access-Control-Allow-Headers"] = ", ".join(h.lower() for h in requested)
    return out


def actual_headers(store: Any, bucket_name: str | None, method: str, headers: Any) -> dict[str, str]:
    """CORS headers to add to an actual (non-preflight) response, or none."""
    origin = headers.get("Origin")
    if not origin or not bucket_name:
        return {}
    bucket = store.read.get(BUCKET, bucket_name)
    if not bucket or not bucket.get("cors"):
        return {}
    rule = match_rule(bucket["cors"], origin, method, [])
    if rule is None:
        return {}
    return _headers_for(rule, origin)
