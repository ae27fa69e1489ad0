"""Model-driven conversion between provider values and JSON/CBOR documents.

``json`` and ``rest-json`` carry blobs as base64 text and timestamps as epoch seconds;
``smithy-rpc-v2-cbor`` carries blobs as byte strings and timestamps as tag-1 epochs.
One ``DocumentCodec`` per flavour compiles each shape once into a converter; shapes
with nothing to convert (no blobs, timestamps or renamed members below them) pass
through untouched, which keeps large listings cheap.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Callable

from botocore.model import Shape

from .values import (
    WireValueError,
    as_datetime,
    decode_base64,
    encode_base64,
    epoch_seconds,
    format_timestamp,
    parse_timestamp,
)

Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _type_error(shape: Shape, value: Any, path: str) -> WireValueError:
    return WireValueError(
        f"Value of type {type(value).__name__} at '{path or shape.name}' cannot be read as {shape.type_name}"
    )


class DocumentCodec:
    def __init__(self, *, binary: bool) -> None:
        # binary=True: CBOR (raw bytes, datetime values); False: JSON (base64, epoch numbers)
        self.binary = binary
        self._out: dict[tuple[int, str], Converter] = {}
        self._trivial: dict[tuple[int, str], bool] = {}

    # -- output ------------------------------------------------------------------

    def _is_trivial(self, shape: Shape, seen: set[Any] | None = None) -> bool:
        """True when values of ``shape`` can be emitted exactly as providers give them."""
        key = _key(shape)
        cached = self._trivial.get(key)
        if cached is not None:
            return cached
        seen = seen or set()
        if key in seen:
            # A cycle: assume the worst, or a shape inside the cycle would be cached as
            # trivial before the cycle's other members (a timestamp ...) are seen.
            return False
        seen.add(key)
        kind = shape.type_name
        if kind == "structure":
            if shape.is_document_type:
                result = True
            else:
                result = all(
                    "name" not in m.serialization and self._is_trivial(m, seen) for m in shape.members.values()
                )
        elif kind == "list":
            result = self._is_trivial(shape.member, seen)
        elif kind == "map":
            result = self._is_trivial(shape.value, seen)
        else:
            result = kind not in ("blob", "timestamp", "float", "double")
        self._trivial[key] = result
        return result

    def to_wire(self, shape: Shape) -> Converter:
        if self._is_trivial(shape):
            return _identity
        kind = shape.type_name
        if kind == "structure":
            cached = self._out.get(_key(shape))
            if cached is not None:
                return cached
            plan: list[tuple[str, str, Converter]] = []

            def convert_structure(value: Any) -> Any:
                result = {}
                for name, wire_name, conv in plan:
                    v = value.get(name)
                    if v is not None:
                        result[wire_name] = conv(v)
                return result

            self._out[_key(shape)] = convert_structure
            for name, member in shape.members.items():
                if member.serialization.get("location"):
                    continue
                plan.append((name, member.serialization.get("name", name), self.to_wire(member)))
            return convert_structure
        if kind == "list":
            item = self.to_wire(shape.member)
            return lambda value: [item(v) for v in value]
        if kind == "map":
            item = self.to_wire(shape.value)
            return lambda value: {k: item(v) for k, v in value.items()}
        if kind == "blob":
            return _identity if self.binary else encode_base64
        if kind == "timestamp":
            if self.binary:
                return as_datetime
            fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
            return lambda value: format_timestamp(value, fmt)
        if kind in ("float", "double"):
            return _float_out if not self.binary else float
        return _identity

    # -- input -------------------------------------------------------------------

    def from_wire(self, shape: Shape, value: Any, path: str = "") -> Any:
        """Convert and type-check a decoded document for ``shape``."""
        if value is None:
            return None
        kind = shape.type_name
        if kind == "structure":
            if shape.is_document_type:
                return value
            if not isinstance(value, dict):
                raise _type_error(shape, value, path)
            result: dict[str, Any] = {}
            for name, member in shape.members.items():
                wire_name = member.serialization.get("name", name)
                if wire_name in value and value[wire_name] is not None:
                    result[name] = self.from_wire(member, value[wire_name], f"{path}.{name}" if path else name)
            return result
        if kind == "list":
            if not isinstance(value, list):
                raise _type_error(shape, value, path)
            return [self.from_wire(shape.member, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise _type_error(shape, value, path)
            return {k: self.from_wire(shape.value, v, f"{path}.{k}") for k, v in value.items()}
        if kind == "string":
            if not isinstance(value, str):
                raise _type_error(shape, value, path)
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _type_error(shape, value, path)
            return value
        if kind in ("integer", "long", "short", "byte"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                raise _type_error(shape, value, path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(shape, value, path)
            return float(value)
        if kind == "timestamp":
            if isinstance(value, datetime):
                return as_datetime(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return parse_timestamp(value)
            if isinstance(value, str):
                return parse_timestamp(value, shape.serialization.get("timestampFormat"))
            raise _type_error(shape, value, path)
        if kind == "blob":
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            if isinstance(value, str):
                return decode_base64(value)
            raise _type_error(shape, value, path)
        return value


def _key(shape: Shape) -> tuple[int, str]:
    """Shape names are unique within one service model only (the codecs are shared)."""
    return (id(shape._shape_resolver), shape.name)


def _float_out(value: Any) -> Any:
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return f


__all__ = ["DocumentCodec", "epoch_seconds"]
