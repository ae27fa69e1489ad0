"""Scalar conversions shared by every protocol: timestamps, blobs, booleans, numbers.

Providers exchange Python values: ``datetime`` (aware, UTC) for timestamps, ``bytes`` for
blobs, ``bool``/``int``/``float``/``str`` for the rest.  These helpers turn wire text
into those values (raising ``WireValueError`` with a message a person can act on) and
back.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from botocore.model import Shape


class WireValueError(ValueError):
    """A value on the wire does not fit its shape; the protocol maps it to its error."""


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_timestamp(text: str | int | float, fmt: str | None = None) -> datetime:
    """Parse any timestamp form AWS clients send (ISO 8601, epoch seconds, RFC 822)."""
    if isinstance(text, (int, float)):
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    value = text.strip()
    try:
        if fmt == "unixTimestamp" or _looks_numeric(value):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        if fmt == "rfc822" or (value[:3].isalpha() and "," in value[:5]):
            return parsedate_to_datetime(value).astimezone(timezone.utc)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, OverflowError, TypeError, IndexError) as exc:
        raise WireValueError(f"'{text}' is not a valid timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _looks_numeric(value: str) -> bool:
    return bool(value) and (value[0].isdigit() or value[0] == "-") and value.replace(".", "", 1).lstrip("-").isdigit()


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return parse_timestamp(str(value))


def format_iso8601(value: Any) -> str:
    dt = as_datetime(value).astimezone(timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_rfc822(value: Any) -> str:
    return format_datetime(as_datetime(value).astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def epoch_seconds(value: Any) -> int | float:
    dt = as_datetime(value)
    seconds = (dt - _EPOCH).total_seconds()
    return int(seconds) if seconds == int(seconds) else round(seconds, 3)


def format_timestamp(value: Any, fmt: str) -> str | int | float:
    """Format for ``fmt`` in botocore's spelling: iso8601, rfc822, unixTimestamp."""
    if fmt == "unixTimestamp":
        return epoch_seconds(value)
    if fmt == "rfc822":
        return format_rfc822(value)
    return format_iso8601(value)


def decode_base64(text: str | bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WireValueError("Invalid base64 encoding") from exc


def encode_base64(value: bytes | str) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode("ascii")


def parse_boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise WireValueError(f"'{text}' is not a valid boolean (expected true or false)")


def parse_integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise WireValueError(f"'{text}' is not a valid integer") from exc


def parse_float(text: str) -> float:
    stripped = text.strip()
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    if stripped in special:
        return special[stripped]
    try:
        return float(stripped)
    except ValueError as exc:
        raise WireValueError(f"'{text}' is not a valid number") from exc


def format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value)) if not float(value).is_integer() else str(float(value))


def scalar_from_text(shape: Shape, text: str, timestamp_default: str = "iso8601") -> Any:
    """A scalar from text found in a query string, form field, header or XML node."""
    kind = shape.type_name
    if kind == "string":
        return text
    if kind in ("integer", "long", "short", "byte"):
        return parse_integer(text)
    if kind == "boolean":
        return parse_boolean(text)
    if kind in ("float", "double"):
        return parse_float(text)
    if kind == "timestamp":
        return parse_timestamp(text, shape.serialization.get("timestampFormat", timestamp_default))
    if kind == "blob":
        return decode_base64(text)
    if kind == "bigdecimal" or kind == "biginteger":
        return text
    return text


def scalar_to_text(shape: Shape, value: Any, timestamp_default: str = "iso8601") -> str:
    """The text form of a scalar for XML, form bodies, headers and query strings."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", timestamp_default)))
    if kind == "blob":
        return encode_base64(value)
    if kind in ("float", "double"):
        return format_float(value)
    return str(value)
