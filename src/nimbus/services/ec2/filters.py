"""EC2's ``Filters`` parameter: name → values, ``*``/``?`` wildcards, AND across filters.

Each resource type passes a table from filter name to the field it reads; ``tag:Key``
and ``tag-key`` work on any item with a ``Tags`` list.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any, Callable, Iterable

from ...errors import ServiceError

Getter = Callable[[dict[str, Any]], Any]


@lru_cache(maxsize=4096)
def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(value), re.DOTALL)


def _values_of(item: dict[str, Any], field: str | Getter) -> list[str]:
    raw = field(item) if callable(field) else item.get(field)
    if raw is None:
        return []
    if isinstance(raw, (list, tuple, set)):
        return [_text(v) for v in raw]
    return [_text(raw)]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _matches(candidates: Iterable[str], wanted: list[str]) -> bool:
    for value in wanted:
        pattern = _pattern(value) if ("*" in value or "?" in value) else None
        for candidate in candidates:
            if (pattern.match(candidate) if pattern else candidate == value):
                return True
    return False


def apply_filters(
    items: list[dict[str, Any]],
    filters: list[dict[str, Any]] | None,
    fields: dict[str, str | Getter],
) -> list[dict[str, Any]]:
    if not filters:
        return items
    checks: list[tuple[Callable[[dict[str, Any]], list[str]], list[str]]] = []
    for f in filters:
        name = f.get("Name", "")
        values = f.get("Values") or []
        if name.startswith("tag:"):
            key = name[4:]
            checks.append((lambda item, key=key: [t["Value"] for t in item.get("Tags", []) if t["Key"] == key], values))
        elif name == "tag-key":
            checks.append((lambda item: [t["Key"] for t in item.get("Tags", [])], values))
        elif name == "tag-value":
            checks.append((lambda item: [t["Value"] for t in item.get("Tags", [])], values))
        elif name in fields:
            field = fields[name]
            checks.append((lambda item, field=field: _values_of(item, field), values))
        else:
            raise ServiceError("InvalidParameterValue", f"The filter '{name}' is invalid", 400)
    return [item for item in items if all(_matches(get(item), wanted) for get, wanted in checks)]
