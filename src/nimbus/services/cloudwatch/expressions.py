"""A small subset of CloudWatch metric math: arithmetic and SUM/AVG/MIN/MAX/ABS.

Expressions combine other queries by Id: ``m1 + m2``, ``100 * m1 / m2``, ``SUM([m1, m2])``,
``ABS(m1 - m2)``.  Time series are aligned by timestamp; a timestamp missing from one
operand is dropped, as is a division by zero.  Anything else (``METRICS()``, ``FILL``,
Metrics Insights ``SELECT``) is refused with a message that says so.
"""

from __future__ import annotations

import ast
import operator
from typing import Callable, Union

Series = dict[int, float]
Value = Union[Series, float, list]


class ExpressionError(ValueError):
    pass


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _binary(op: Callable[[float, float], float], left: Value, right: Value) -> Value:
    def apply(a: float, b: float) -> float | None:
        try:
            return op(a, b)
        except (ZeroDivisionError, OverflowError):
            return None

    if isinstance(left, dict) and isinstance(right, dict):
        out = {t: apply(left[t], right[t]) for t in left.keys() & right.keys()}
    elif isinstance(left, dict):
        out = {t: apply(v, right) for t, v in left.items()}  # type: ignore[arg-type]
    elif isinstance(right, dict):
        out = {t: apply(left, v) for t, v in right.items()}  # type: ignore[arg-type]
    else:
        value = apply(left, right)  # type: ignore[arg-type]
        if value is None:
            raise ExpressionError("division by zero")
        return value
    return {t: v for t, v in out.items() if v is not None}


def _reduce(name: str, items: list[Value]) -> Series:
    series = [s for s in items if isinstance(s, dict)]
    if not series:
        raise ExpressionError(f"{name} needs at least one time series")
    stamps = set().union(*(s.keys() for s in series))
    out: Series = {}
    for t in stamps:
        values = [s[t] for s in series if t in s]
        if name == "SUM":
            out[t] = sum(values)
        elif name == "AVG":
            out[t] = sum(values) / len(values)
        elif name == "MIN":
            out[t] = min(values)
        else:
            out[t] = max(values)
    return out


def evaluate(expression: str, resolve: Callable[[str], Series], known: set[str]) -> Series:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"unsupported or malformed expression {expression!r}") from exc

    def walk(node: ast.AST) -> Value:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in known:
                raise ExpressionError(f"unknown metric or expression id {node.id!r}")
            return resolve(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _binary(_BINARY[type(node.op)], walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            return _binary(operator.mul, value, -1.0 if isinstance(node.op, ast.USub) else 1.0)
        if isinstance(node, ast.List):
            return [walk(e) for e in node.elts]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name = node.func.id
            args = [walk(a) for a in node.args]
            if name in ("SUM", "AVG", "MIN", "MAX") and len(args) == 1:
                items = args[0] if isinstance(args[0], list) else [args[0]]
                return _reduce(name, items)
            if name == "ABS" and len(args) == 1:
                value = args[0]
                if isinstance(value, dict):
                    return {t: abs(v) for t, v in value.items()}
                if isinstance(value, float):
                    return abs(value)
            raise ExpressionError(f"function {name} is not supported by Nimbus")
        raise ExpressionError(f"unsupported or malformed expression {expression!r}")

    result = walk(tree)
    if not isinstance(result, dict):
        raise ExpressionError("the expression must produce a time series")
    return result
