"""EC2 resource ids: ``<prefix>-`` + 17 lowercase hex digits, as AWS issues them."""

from __future__ import annotations

import re
import secrets

_ID = re.compile(r"^([a-z]+(?:-[a-z]+)*)-([0-9a-f]{8}|[0-9a-f]{17})$")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def is_id(value: str, prefix: str) -> bool:
    """Whether ``value`` is well formed for ``prefix`` (8 or 17 hex digits, as AWS accepts)."""
    match = _ID.match(value)
    return bool(match) and match.group(1) == prefix


def prefix_of(value: str) -> str | None:
    match = _ID.match(value)
    return match.group(1) if match else None
