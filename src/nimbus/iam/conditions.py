"""Policy ``Condition`` blocks compiled into predicates over a request context.

Every operator of the IAM JSON policy reference: String*, Numeric*, Date*, Bool,
BinaryEquals, IpAddress/NotIpAddress, Arn*, the ``…IfExists`` suffix, ``Null`` and the
``ForAnyValue:`` / ``ForAllValues:`` set qualifiers.  Semantics ("Condition operators"
and "Multivalued context keys" pages of the IAM user guide):

- blocks are ANDed, keys in a block are ANDed, values for one key are ORed;
- a key missing from the request: positive operators are false, negated ones
  (``StringNotEquals`` …) true, ``…IfExists`` true, ``Null: true`` true;
- ``ForAnyValue``: some request value matches (false when the key is missing/empty);
  ``ForAllValues``: every request value matches (true when missing/empty).

The context is any object with ``get(key) -> str | list[str] | None``; keys are looked
up case-insensitively (callers store them lower-cased).  Policy variables in condition
values (``${aws:username}``) are substituted from the same context.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from datetime import datetime, timezone
from typing import Any, Callable

_VAR = re.compile(r"\$\{([^}]*)\}")

_BASES = {
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike",
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals",
    "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
    "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
    "Null",
}
_NEGATED = {
    "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals",
    "DateNotEquals", "NotIpAddress", "ArnNotEquals", "ArnNotLike",
}
# negated operator -> its positive form
_POSITIVE = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _parse_date(value: str) -> float | None:
    value = str(value).strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        text = value.replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    from .policy import glob_match

    return glob_match(pattern, value, ignore_case)


def _arn_like(pattern: str, value: str) -> bool:
    p_parts = pattern.split(":", 5)
    v_parts = value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return _like(pattern, value)
    return all(_like(p, v) for p, v in zip(p_parts, v_parts))


def _ip_in(network: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _positive_test(op: str) -> Callable[[str, str], bool]:
    """(policy value, request value) -> match, for a positive base operator."""
    if op == "StringEquals":
        return lambda p, v: p == v
    if op == "StringEqualsIgnoreCase":
        return lambda p, v: p.lower() == v.lower()
    if op == "StringLike":
        return lambda p, v: _like(p, v)
    if op == "NumericEquals":
        return lambda p, v: (a := _num(p)) is not None and (b := _num(v)) is not None and a == b
    if op == "NumericLessThan":
        return lambda p, v: (a := _num(p)) is not None and (b := _num(v)) is not None and b < a
    if op == "NumericLessThanEquals":
        return lambda p, v: (a := _num(p)) is not None and (b := _num(v)) is not None and b <= a
    if op == "NumericGreaterThan":
        return lambda p, v: (a := _num(p)) is not None and (b := _num(v)) is not None and b > a
    if op == "NumericGreaterThanEquals":
        return lambda p, v: (a := _num(p)) is not None and (b := _num(v)) is not None and b >= a
    if op == "DateEquals":
        return lambda p, v: (a := _parse_date(p)) is not None and (b := _parse_date(v)) is not None and a == b
    if op == "DateLessThan":
        return lambda p, v: (a := _parse_date(p)) is not None and (b := _parse_date(v)) is not None and b < a
    if op == "DateLessThanEquals":
        return lambda p, v: (a := _parse_date(p)) is not None and (b := _parse_date(v)) is not None and b <= a
    if op == "DateGreaterThan":
        return lambda p, v: (a := _parse_date(p)) is not None and (b := _parse_date(v)) is not None and b > a
    if op == "DateGreaterThanEquals":
        return lambda p, v: (a := _parse_date(p)) is not None and (b := _parse_date(v)) is not None and b >= a
    if op == "Bool":
        return lambda p, v: str(p).lower() == str(v).lower()
    if op == "BinaryEquals":
        def binary(p: str, v: str) -> bool:
            try:
                return base64.b64decode(p) == base64.b64decode(v)
            except ValueError:
                return p == v
        return binary
    if op == "IpAddress":
        return _ip_in
    if op == "ArnEquals":
        return lambda p, v: p == v
    if op == "ArnLike":
        return _arn_like
    raise ValueError(f"Invalid Condition type : {op}.")


def _check_values(op: str, values: list[str]) -> None:
    for v in values:
        if op.startswith("Numeric") and _num(v) is None:
            raise ValueError(f"Syntax errors in policy. Invalid number for {op}: {v}")
        if op.startswith("Date") and "${" not in v and _parse_date(v) is None:
            raise ValueError(f"Syntax errors in policy. Invalid date for {op}: {v}")
        if op in ("IpAddress", "NotIpAddress") and "${" not in v:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                raise ValueError(f"Syntax errors in policy. Invalid IP address for {op}: {v}") from None
        if op == "Bool" and "${" not in v and v.lower() not in ("true", "false"):
            raise ValueError(f"Syntax errors in policy. Invalid boolean for Bool: {v}")
        if op == "Null" and v.lower() not in ("true", "false"):
            raise ValueError(f"Syntax errors in policy. Invalid value for Null: {v}")


def _values(raw: Any) -> list[str]:
    if isinstance(raw, list):
        out = []
        for v in raw:
            if isinstance(v, (dict, list)) or v is None:
                raise ValueError("Syntax errors in policy. Condition values must be strings, numbers or booleans.")
            out.append(_scalar(v))
        return out
    if isinstance(raw, dict) or raw is None:
        raise ValueError("Syntax errors in policy. Condition values must be strings, numbers or booleans.")
    return [_scalar(raw)]


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _resolve(value: str, context: Any) -> str | None:
    if "${" not in value:
        return value
    from .policy import substitute

    resolved = substitute(value, context)
    if resolved is None:
        return None
    return resolved.replace("\x00", "*").replace("\x01", "?")


def compile_conditions(block: Any) -> Callable[[Any], bool]:
    """Validate a Condition element and return ``predicate(context) -> bool``."""
    if not isinstance(block, dict):
        raise ValueError("Syntax errors in policy. The Condition element must be an object.")
    tests: list[Callable[[Any], bool]] = []
    for operator, keys in block.items():
        qualifier = ""
        op = operator
        if ":" in op:
            qualifier, _, op = op.partition(":")
            if qualifier not in ("ForAnyValue", "ForAllValues"):
                raise ValueError(f"Invalid Condition type : {operator}.")
        if_exists = op.endswith("IfExists") and op != "IfExists"
        base = op[: -len("IfExists")] if if_exists else op
        if base not in _BASES or (base == "Null" and if_exists):
            raise ValueError(f"Invalid Condition type : {operator}.")
        if not isinstance(keys, dict) or not keys:
            raise ValueError(f"Syntax errors in policy. Condition operator {operator} needs keys.")
        for key, raw in keys.items():
            values = _values(raw)
            _check_values(base, values)
            tests.append(_compile_one(base, qualifier, if_exists, key.lower(), values))
    if len(tests) == 1:
        return tests[0]
    return lambda context: all(t(context) for t in tests)


def _compile_one(base: str, qualifier: str, if_exists: bool, key: str, values: list[str]) -> Callable[[Any], bool]:
    if base == "Null":
        want_absent = [v.lower() == "true" for v in values]

        def null(context: Any) -> bool:
            value = context.get(key)
            absent = value is None or value == [] or value == ""
            return any(absent == w for w in want_absent)

        return null

    negated = base in _NEGATED
    test = _positive_test(_POSITIVE.get(base, base))
    dynamic = any("${" in v for v in values)

    def policy_values(context: Any) -> list[str]:
        if not dynamic:
            return values
        out = []
        for v in values:
            r = _resolve(v, context)
            if r is not None:
                out.append(r)
        return out

    def any_match(request_value: str, pvalues: list[str]) -> bool:
        return any(test(p, request_value) for p in pvalues)

    def check(context: Any) -> bool:
        value = context.get(key)
        if value is None or (isinstance(value, list) and not value):
            if qualifier == "ForAllValues":
                return True
            if qualifier == "ForAnyValue":
                return False
            return if_exists or negated
        pvalues = policy_values(context)
        request_values = value if isinstance(value, list) else [value]
        request_values = [_scalar(v) for v in request_values]
        if qualifier == "ForAnyValue":
            if negated:
                return any(not any_match(v, pvalues) for v in request_values)
            return any(any_match(v, pvalues) for v in request_values)
        if qualifier == "ForAllValues":
            if negated:
                return all(not any_match(v, pvalues) for v in request_values)
            return all(any_match(v, pvalues) for v in request_values)
        # single-valued use: any request value matching counts (AWS treats a list as a set)
        matched = any(any_match(v, pvalues) for v in request_values)
        return not matched if negated else matched

    return check


__all__ = ["compile_conditions"]
