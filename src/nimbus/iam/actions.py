"""Operation → IAM action, resource ARNs and service condition keys, from data.

One JSON table per service in ``actions/<service>.json`` (the botocore service name)::

    {"prefix": "s3",
     "operations": {
        "GetObject": {"action": "s3:GetObject",
                      "resources": ["arn:{Partition}:s3:::{Bucket}/{Key}"],
                      "conditions": {"s3:VersionId": "VersionId"}},
        ...},
     "conditions": {...keys for every operation...},
     "tags": "Tags"}

An operation missing from the table maps to ``<prefix>:<OperationName>`` on ``*``,
so every provider gets authorization for free.  Resource templates take
``{Param}`` (a top-level input member, dotted paths allowed), ``{Param[]}`` (one ARN
per list item), ``{Param|caller}`` (the caller's own name when absent: GetUser,
CreateAccessKey …), ``{Param|ec2}`` (an EC2 id → ``<type>/<id>``), ``{Param|kmskey}``
(a KMS key id, alias or ARN → the key ARN), plus ``{Region}``, ``{Account}`` and
``{Partition}``; ``"creates": true`` marks operations whose resource the request creates
(S3 CreateBucket: an existing bucket's policy has no say); ``A||B`` takes the first alternative that expands.  A template whose parameter is absent is skipped; with none left the
resource is ``*``.  Tables were written from the Service Authorization Reference.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..regions import partition_of

TABLE_DIR = Path(__file__).with_name("actions")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\[\]]+)(?:\|([a-z0-9]+))?\}")

EC2_ID_TYPES = {
    "i": "instance", "vol": "volume", "snap": "snapshot", "ami": "image", "sg": "security-group",
    "subnet": "subnet", "vpc": "vpc", "igw": "internet-gateway", "rtb": "route-table",
    "eni": "network-interface", "eipalloc": "elastic-ip", "acl": "network-acl", "nat": "natgateway",
    "lt": "launch-template", "key": "key-pair", "dopt": "dhcp-options", "pcx": "vpc-peering-connection",
    "vpce": "vpc-endpoint", "tgw": "transit-gateway", "fl": "vpc-flow-log", "pl": "prefix-list",
}


@dataclass(frozen=True)
class OperationMap:
    action: str
    templates: tuple[str, ...]
    conditions: tuple[tuple[str, str], ...]  # (condition key, param path)
    tags: str | None  # param path of the request's tags (aws:RequestTag / aws:TagKeys)
    creates: bool = False  # the resource is created by the request: no resource policy applies


@functools.lru_cache(maxsize=None)
def load_table(service: str) -> dict[str, Any]:
    path = TABLE_DIR / f"{service}.json"
    if not path.exists():
        return {"prefix": service, "operations": {}}
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=4096)
def operation_map(service: str, operation: str) -> OperationMap:
    table = load_table(service)
    entry = table.get("operations", {}).get(operation, {})
    if isinstance(entry, str):
        entry = {"action": entry}
    action = entry.get("action") or f"{table.get('prefix', service)}:{operation}"
    conditions = dict(table.get("conditions", {}))
    conditions.update(entry.get("conditions", {}))
    return OperationMap(
        action=action,
        templates=tuple(entry.get("resources", ())),
        conditions=tuple(conditions.items()),
        tags=entry.get("tags", table.get("tags")),
        creates=bool(entry.get("creates")),
    )


def _get_path(params: dict[str, Any], path: str) -> Any:
    value: Any = params
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


# Resolvers for ``{Param|name}``: (value, ctx) -> replacement text or None.
_RESOLVERS: dict[str, Callable[[Any, Any], str | None]] = {}


def register_resolver(name: str, resolver: Callable[[Any, Any], str | None]) -> None:
    _RESOLVERS[name] = resolver


def _ec2_id(value: Any, ctx: Any) -> str | None:
    text = str(value)
    prefix = text.split("-", 1)[0]
    kind = EC2_ID_TYPES.get(prefix)
    return f"{kind}/{text}" if kind else None


def _caller(value: Any, ctx: Any) -> str | None:
    return value


_RESOLVERS["ec2"] = _ec2_id


def resources_for(op: OperationMap, params: dict[str, Any], ctx: Any) -> list[str]:
    """The resource ARNs a request acts on (``["*"]`` when the table names none)."""
    if not op.templates:
        return ["*"]
    out: list[str] = []
    for template in op.templates:
        for alternative in template.split("||"):  # the first alternative that expands wins
            expanded = _expand(alternative, params, ctx)
            if expanded:
                out.extend(expanded)
                break
    return out or ["*"]


def _expand(template: str, params: dict[str, Any], ctx: Any) -> list[str]:
    results = [""]
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        literal = template[pos : m.start()]
        pos = m.end()
        name, modifier = m.group(1), m.group(2)
        if name == "Region":
            choices = [ctx.region]
        elif name == "Account":
            choices = [ctx.account_id]
        elif name == "Partition":
            choices = [partition_of(ctx.region)]
        else:
            many = name.endswith("[]")
            value = _get_path(params, name[:-2] if many else name)
            if value in (None, "", []) and modifier == "caller":
                value = ctx.principal.name if ctx.principal.kind == "user" else None
            if value in (None, "", []):
                return []
            items = value if many and isinstance(value, list) else [value]
            choices = []
            for item in items:
                if modifier and modifier != "caller":
                    resolver = _RESOLVERS.get(modifier)
                    text = resolver(item, ctx) if resolver else None
                    if text is None:
                        continue
                    choices.append(text)
                else:
                    choices.append(str(item))
            if not choices:
                return []
        results = [r + literal + c for r in results for c in choices]
    tail = template[pos:]
    return [r + tail for r in results]


def condition_values(op: OperationMap, params: dict[str, Any]) -> dict[str, Any]:
    """Service condition keys (lower-cased) with their request values."""
    out: dict[str, Any] = {}
    for key, path in op.conditions:
        value = _get_path(params, path)
        if value is None:
            continue
        if isinstance(value, list):
            out[key.lower()] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[key.lower()] = "true" if value else "false"
        else:
            out[key.lower()] = str(value)
    return out


def request_tags(op: OperationMap, params: dict[str, Any]) -> dict[str, str] | None:
    """Tags the request sets (``[{Key, Value}]`` lists or ``{k: v}`` maps), or None."""
    if not op.tags:
        return None
    found: dict[str, str] = {}
    any_found = False
    for path in op.tags.split(","):
        path = path.strip()
        many = ".[]." in path
        if many:
            head, _, rest = path.partition(".[].")
            containers = _get_path(params, head) or []
            values = [_get_path(c, rest) for c in containers if isinstance(c, dict)]
        else:
            values = [_get_path(params, path)]
        for value in values:
            if isinstance(value, list):
                any_found = True
                for tag in value:
                    if isinstance(tag, dict) and "Key" in tag:
                        found[str(tag["Key"])] = str(tag.get("Value", ""))
            elif isinstance(value, dict):
                any_found = True
                found.update({str(k): str(v) for k, v in value.items()})
    return found if any_found else None


__all__ = [
    "OperationMap",
    "condition_values",
    "load_table",
    "operation_map",
    "register_resolver",
    "request_tags",
    "resources_for",
]
