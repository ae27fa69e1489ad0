"""Deterministic random values for botocore shapes (the conformance suite's input).

``ShapeGen(seed).value(shape)`` returns a value shaped like ``shape`` that botocore's
client serializers accept (``include_validation=False``) and that survives the wire:
strings carry tricky characters (spaces, unicode, ``&<>"'``, ``/``, ``+``, ``%``) where
the wire allows them, and stay within what is legal in URI labels, host labels and
HTTP headers elsewhere.  The top-level member's ``location`` decides the context.

Timestamps have second precision, or millisecond precision when the caller's
``ms_ok(shape, location)`` says the wire format keeps it (botocore's default client
serializers keep sub-seconds only in ISO 8601; epoch numbers and RFC 822 are whole
seconds).
"""

from __future__ import annotations

import random
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.model import Shape

# Characters for free text (XML, JSON, CBOR, form bodies, query strings).  No control
# characters and no CR: XML 1.0 normalizes CR/LF, so no XML protocol can keep them.
TEXT_POOL = (
    ["a", "b", "Z", "0", "9", "-", "_", ".", "~"] * 3
    + [" ", "&", "<", ">", '"', "'", "/", "+", "%", "=", "?", "#", ",", ";", ":", "*", "\t", "\n"]
    + ["é", "ß", "日", "本", "€", "😀", "Ω"]
)
# URI labels: anything botocore percent-encodes; "." and ".." segments are left out
# because HTTP servers may normalize them away.
URI_POOL = ["a", "b", "Z", "0", "9", "-", "_", "~", " ", "&", "+", "%", "=", "'", "é", "日", "😀", ":", "@", "!"]
# Header values: visible ASCII and inner spaces (RFC 9110 field-value, no obs-text).
HEADER_POOL = [chr(c) for c in range(0x21, 0x7F)] + [" "] * 3
HOST_POOL = list("abcdefghijklmnopqrstuvwxyz0123456789")
KEY_POOL = list("abcdefghijklmnopqrstuvwxyz0123456789-")

EPOCH_MIN = datetime(2001, 1, 1, tzinfo=timezone.utc)


def seed_for(*parts: str) -> int:
    """A stable seed (``hash()`` is salted per process)."""
    return zlib.crc32("/".join(parts).encode())


class ShapeGen:
    def __init__(
        self,
        seed: int,
        *,
        ms_ok: Callable[[Shape, str | None], bool] = lambda shape, location: False,
        max_depth: int = 5,
        optional_p: float = 0.6,
        empty_lists: bool = True,
        empty_maps: bool = True,
    ) -> None:
        self.rng = random.Random(seed)
        self.ms_ok = ms_ok
        self.max_depth = max_depth
        self.optional_p = optional_p
        # Flattened form protocols cannot carry some empty containers (see the suite).
        self.empty_lists = empty_lists
        self.empty_maps = empty_maps

    # -- entry points -----------------------------------------------------------

    def value(self, shape: Shape, location: str | None = None, depth: int = 0) -> Any:
        kind = shape.type_name
        method = getattr(self, f"_gen_{kind}", None)
        if method is None:
            raise TypeError(f"no generator for shape type {kind} ({shape.name})")
        return method(shape, location, depth)

    def top(self, shape: Shape) -> dict[str, Any]:
        """An input/output structure: top-level members carry their HTTP location."""
        return self._gen_structure(shape, None, 0, top=True)

    # -- composites -------------------------------------------------------------

    def _gen_structure(self, shape: Shape, location: str | None, depth: int, top: bool = False) -> Any:
        if shape.is_document_type:
            return self._document()
        members = shape.members
        if shape.metadata.get("union"):
            names = [n for n, m in members.items() if not m.metadata.get("eventstream")]
            name = self.rng.choice(names)
            return {name: self.value(members[name], location, depth + 1)}
        required = set(shape.required_members)
        result: dict[str, Any] = {}
        for name, member in members.items():
            if member.serialization.get("eventstream") or getattr(member, "is_event_stream", False):
                continue
            if name not in required:
                if depth >= self.max_depth:
                    continue
                if self.rng.random() > self.optional_p:
                    continue
            member_location = member.serialization.get("location") if top else location
            if top and member.serialization.get("hostLabel"):
                member_location = "hostLabel"
            result[name] = self.value(member, member_location, depth + 1)
        if not result and members and not top:
            # At least one member: an empty structure is rarely interesting, and the
            # flattened form protocols cannot tell it from an absent one.
            candidates = [n for n, m in members.items() if not m.serialization.get("eventstream")]
            name = self.rng.choice(candidates)
            result[name] = self.value(members[name], location, self.max_depth)
        return result

    def _gen_list(self, shape: Shape, location: str | None, depth: int) -> list[Any]:
        lo = shape.metadata.get("min", 0)
        if not self.empty_lists or location == "header":
            lo = max(lo, 1)
        hi = shape.metadata.get("max", 3)
        if depth >= self.max_depth:
            hi = lo
        n = self.rng.randint(lo, max(lo, min(hi, 3)))
        item_location = "header-item" if location == "header" else location
        return [self.value(shape.member, item_location, depth + 1) for _ in range(n)]

    def _gen_map(self, shape: Shape, location: str | None, depth: int) -> dict[Any, Any]:
        lo = shape.metadata.get("min", 0)
        if not self.empty_maps or location == "headers":
            lo = max(lo, 1)
        hi = lo if depth >= self.max_depth else 3
        n = self.rng.randint(lo, max(lo, min(hi, shape.metadata.get("max", 3))))
        result: dict[Any, Any] = {}
        for _ in range(n * 2):
            if len(result) >= n:
                break
            if location == "headers":
                key = "".join(self.rng.choice(KEY_POOL[:-1]) for _ in range(self.rng.randint(1, 6)))
                result[key] = self._string(shape.value, "header")
            elif location == "querystring":
                key = "q" + "".join(self.rng.choice(KEY_POOL) for _ in range(self.rng.randint(1, 6)))
                value_shape = shape.value
                if value_shape.type_name == "list":
                    result[key] = [self._string(value_shape.member, None) for _ in range(self.rng.randint(1, 2))]
                else:
                    result[key] = self._string(value_shape, None)
            else:
                key = self.value(shape.key, location, depth + 1)
                result[key] = self.value(shape.value, location, depth + 1)
        return result

    def _document(self) -> Any:
        return {"s": self._text(0, 6, TEXT_POOL), "n": self.rng.randint(-5, 500), "b": True, "l": [1, "x"]}

    # -- scalars ----------------------------------------------------------------

    def _gen_string(self, shape: Shape, location: str | None, depth: int) -> Any:
        if location in ("header", "header-item") and shape.serialization.get("jsonvalue"):
            return {"k": self._text(0, 5, TEXT_POOL), "n": self.rng.randint(0, 9)}
        return self._string(shape, location)

    def _string(self, shape: Shape, location: str | None) -> str:
        enum = shape.enum
        if enum:
            return self.rng.choice(enum)
        lo = shape.metadata.get("min", 0)
        hi = shape.metadata.get("max", 12)
        if location in ("uri", "hostLabel"):
            lo = max(lo, 1)  # an empty label leaves an empty path segment
        if location == "header-item":
            lo = max(lo, 1)  # empty items vanish from a comma-separated header list
        lo = min(lo, 40)
        hi = max(lo, min(hi, 12))
        if location == "hostLabel":
            return self._text(lo, hi, HOST_POOL)
        if location == "uri":
            return self._text(lo, hi, URI_POOL)
        if location in ("header", "header-item"):
            text = self._text(lo, hi, HEADER_POOL)
            # Leading and trailing whitespace is not part of a header field value;
            # list items are trimmed too.
            text = text.strip() or "x" * max(lo, 1)
            if len(text) < lo:
                text = text + "x" * (lo - len(text))
            return text
        return self._text(lo, hi, TEXT_POOL)

    def _text(self, lo: int, hi: int, pool: list[str]) -> str:
        return "".join(self.rng.choice(pool) for _ in range(self.rng.randint(lo, hi)))

    def _int_range(self, shape: Shape, default_lo: int, default_hi: int) -> tuple[int, int]:
        lo = shape.metadata.get("min", default_lo)
        hi = shape.metadata.get("max", default_hi)
        lo = int(max(lo, -(2**31)))
        hi = int(min(hi, 2**31 - 1))
        return lo, max(lo, hi)

    def _gen_integer(self, shape: Shape, location: str | None, depth: int) -> int:
        if location == "statusCode":
            return self.rng.choice([200, 201, 202, 206])
        lo, hi = self._int_range(shape, -1000, 100000)
        return self.rng.randint(lo, min(hi, lo + 100000))

    _gen_short = _gen_integer
    _gen_byte = _gen_integer

    def _gen_long(self, shape: Shape, location: str | None, depth: int) -> int:
        lo = shape.metadata.get("min", -(2**40))
        hi = shape.metadata.get("max", 2**53)
        lo, hi = int(max(lo, -(2**53))), int(min(hi, 2**53))
        if self.rng.random() < 0.5:
            return self.rng.randint(lo, max(lo, min(hi, lo + 1000)))
        return self.rng.randint(lo, max(lo, hi))

    def _gen_boolean(self, shape: Shape, location: str | None, depth: int) -> bool:
        return self.rng.random() < 0.5

    def _gen_float(self, shape: Shape, location: str | None, depth: int) -> float:
        # Finite values with an exact short decimal form (and exact in binary), so that
        # every text and binary encoding keeps them bit for bit.
        lo = shape.metadata.get("min", -1e6)
        hi = shape.metadata.get("max", 1e6)
        value = self.rng.choice([0.0, 0.5, -2.25, 1024.125, 3.0, 1e-3, 12345.0625, 7.0e20])
        return float(value) if lo <= value <= hi else float(lo)

    _gen_double = _gen_float

    def _gen_timestamp(self, shape: Shape, location: str | None, depth: int) -> datetime:
        seconds = self.rng.randint(0, 30 * 365 * 86400)
        value = EPOCH_MIN + timedelta(seconds=seconds)
        if location not in ("header", "header-item") and self.ms_ok(shape, location) and self.rng.random() < 0.7:
            value += timedelta(milliseconds=self.rng.randint(1, 999))
        return value

    def _gen_blob(self, shape: Shape, location: str | None, depth: int) -> bytes:
        lo = shape.metadata.get("min", 0)
        n = self.rng.randint(lo, max(lo, min(shape.metadata.get("max", 12), 12)))
        return bytes(self.rng.randrange(256) for _ in range(n))

    def _gen_bigdecimal(self, shape: Shape, location: str | None, depth: int) -> str:
        return "1.5"

    _gen_biginteger = _gen_bigdecimal
