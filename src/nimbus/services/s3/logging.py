"""Server access logging: one line per request in AWS's format, delivered as objects.

Lines are buffered per target bucket and prefix and delivered by the S3 controller
on the simulation clock (AWS delivers within minutes; tests move the clock), each
delivery one object named ``<TargetPrefix>YYYY-mm-dd-HH-MM-SS-<16 hex>``.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

_VERBS = (("Get", "GET"), ("Head", "HEAD"), ("List", "GET"), ("Put", "PUT"), ("Create", "PUT"), ("Upload", "PUT"),
          ("Copy", "PUT"), ("Delete", "DELETE"), ("Complete", "POST"), ("Abort", "DELETE"))


def _operation(name: str, params: dict[str, Any]) -> str:
    """REST.GET.OBJECT, REST.PUT.VERSIONING ... as AWS names operations in access logs."""
    verb, rest = "POST", name
    for prefix, method in _VERBS:
        if name.startswith(prefix):
            verb, rest = method, name[len(prefix):]
            break
    if name in ("GetObject", "HeadObject", "PutObject", "DeleteObject", "CopyObject"):
        return f"REST.{verb}.OBJECT"
    for word in ("Bucket", "Object"):
        if rest.startswith(word) and rest != word:
            rest = rest[len(word):]
    return f"REST.{verb}.{(rest or 'BUCKET').upper()}"


def format_line(ctx: Any, params: dict[str, Any], status: int, code: str, result: Any) -> str:
    now = datetime.fromtimestamp(ctx.clock.time(), tz=timezone.utc)
    from .access import canonical_user_id

    bucket = params.get("Bucket", "-")
    owner = ctx.store.read.get("s3:bucket", bucket) or {}
    requester = ctx.principal.arn if ctx.account_id else "-"
    key = params.get("Key")
    sent = "-"
    size = "-"
    if isinstance(result, dict):
        if result.get("ContentLength") is not None and ctx.operation == "GetObject":
            sent = str(result["ContentLength"])
            size = sent
    uri = f"/{bucket}/{quote(key)}" if key else f"/{bucket}"
    fields = [
        canonical_user_id(owner.get("owner", "")), bucket, now.strftime("[%d/%b/%Y:%H:%M:%S +0000]"), ctx.source_ip or "-",
        requester, ctx.request_id, _operation(ctx.operation, params), quote(key) if key else "-",
        f'"{ctx.operation} {uri} HTTP/1.1"', str(status), code if code != "-" else "-", sent, size, "1", "-", '"-"',
        f'"{ctx.user_agent or "-"}"', params.get("VersionId") or "-", "-", "SigV4" if ctx.account_id else "-", "-",
        "AuthHeader" if ctx.account_id else "-", ctx.host or "-", "TLSv1.3" if ctx.secure else "-", "-", "-",
    ]
    return " ".join(fields)


def object_name(prefix: str, now: float) -> str:
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{prefix}{stamp}-{secrets.token_hex(8).upper()}"


__all__ = ["format_line", "object_name", "time"]
