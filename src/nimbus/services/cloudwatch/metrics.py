"""How CloudWatch keeps metric data: identities, per-minute records, aggregation.

A metric is namespace + name + its dimensions (sorted by name).  Its identity is a JSON
array, which orders metrics by namespace first so ``ListMetrics`` with a namespace is a
prefix scan.  Datapoints are kept as one record per metric per minute (kind
``cloudwatch:metric-data``, key ``<metric hash>/<minute epoch>``): inside, sub-buckets
per second offset (0 for standard resolution, the second for high resolution), and per
unit an aggregate ``{n, s, lo, hi, v}`` where ``v`` maps each distinct value to its
count (kept for percentiles; ``None`` once a statistic set made them unknowable).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable

METRIC_KIND = "cloudwatch:metric"
DATA_KIND = "cloudwatch:metric-data"

RETENTION_SECONDS = 455 * 86400  # 15 months
LIST_VISIBLE_SECONDS = 14 * 86400  # ListMetrics hides metrics idle for two weeks


def metric_key(namespace: str, name: str, dimensions: Iterable[dict[str, str]]) -> str:
    dims = sorted(([d["Name"], d["Value"]] for d in dimensions), key=lambda p: p[0])
    return json.dumps([namespace, name, dims], separators=(",", ":"), ensure_ascii=False)


def namespace_prefix(namespace: str) -> str:
    return "[" + json.dumps(namespace, ensure_ascii=False) + ","


def metric_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def data_key(mhash: str, minute: int) -> str:
    return f"{mhash}/{minute:011d}"


def minute_of(key: str) -> int:
    return int(key.rsplit("/", 1)[1])


# -- aggregates ------------------------------------------------------------------------


def new_agg() -> dict[str, Any]:
    return {"n": 0.0, "s": 0.0, "lo": None, "hi": None, "v": {}}


def add_values(agg: dict[str, Any], values: list[float], counts: list[float]) -> None:
    for value, count in zip(values, counts):
        if count <= 0:
            continue
        agg["n"] += count
        agg["s"] += value * count
        agg["lo"] = value if agg["lo"] is None else min(agg["lo"], value)
        agg["hi"] = value if agg["hi"] is None else max(agg["hi"], value)
        if agg["v"] is not None:
            k = repr(float(value))
            agg["v"][k] = agg["v"].get(k, 0) + count


def add_statistic_set(agg: dict[str, Any], stats: dict[str, float]) -> None:
    n, total, lo, hi = stats["SampleCount"], stats["Sum"], stats["Minimum"], stats["Maximum"]
    if n <= 0:
        return
    # Percentiles stay known only when every sample of the set had the same value.
    if lo == hi and math.isclose(total, lo * n, rel_tol=1e-9, abs_tol=1e-9):
        add_values(agg, [lo], [n])
        return
    agg["n"] += n
    agg["s"] += total
    agg["lo"] = lo if agg["lo"] is None else min(agg["lo"], lo)
    agg["hi"] = hi if agg["hi"] is None else max(agg["hi"], hi)
    agg["v"] = None


def merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    if not other["n"]:
        return
    into["n"] += other["n"]
    into["s"] += other["s"]
    into["lo"] = other["lo"] if into["lo"] is None else min(into["lo"], other["lo"])
    into["hi"] = other["hi"] if into["hi"] is None else max(into["hi"], other["hi"])
    if into["v"] is None or other["v"] is None:
        into["v"] = None
    else:
        for k, c in other["v"].items():
            into["v"][k] = into["v"].get(k, 0) + c


def percentile(agg: dict[str, Any], p: float) -> float | None:
    """Nearest-rank percentile, or None when the raw values are unknown."""
    if agg["v"] is None or not agg["n"]:
        return None
    items = sorted((float(k), c) for k, c in agg["v"].items())
    if p <= 0:
        return items[0][0]
    rank = math.ceil(p / 100.0 * agg["n"])
    seen = 0.0
    for value, count in items:
        seen += count
        if seen >= rank - 1e-9:
            return value
    return items[-1][0]


def statistic(agg: dict[str, Any], stat: str) -> float | None:
    n = agg["n"]
    if stat == "SampleCount":
        return n
    if stat == "Sum":
        return agg["s"]
    if stat == "Average":
        return agg["s"] / n if n else None
    if stat == "Minimum":
        return agg["lo"]
    if stat == "Maximum":
        return agg["hi"]
    if stat.startswith("p"):
        return percentile(agg, float(stat[1:]))
    return None


def _count(n: float) -> float | int:
    return int(n) if float(n).is_integer() else n


def bucket_aggregates(
    txn: Any,
    scope: str,
    mhash: str,
    start: int,
    end: int,
    period: int,
    unit: str | None,
) -> dict[tuple[int, str], dict[str, Any]]:
    """Aggregates per (bucket start, unit) of one metric over [start, end)."""
    buckets: dict[tuple[int, str], dict[str, Any]] = {}
    first_minute = start - start % 60
    prefix = f"{mhash}/"
    for key, doc in txn.scan(DATA_KIND, scope, prefix=prefix, start_after=data_key(mhash, first_minute - 1)):
        minute = minute_of(key)
        if minute >= end:
            break
        for offset, units in doc["b"].items():
            t = minute + int(offset)
            if t < start or t >= end:
                continue
            bucket = start + ((t - start) // period) * period
            for u, agg in units.items():
                if unit is not None and u != unit:
                    continue
                target = buckets.get((bucket, u))
                if target is None:
                    target = buckets[(bucket, u)] = new_agg()
                merge(target, agg)
    return buckets


__all__ = [
    "DATA_KIND",
    "METRIC_KIND",
    "add_statistic_set",
    "add_values",
    "bucket_aggregates",
    "data_key",
    "metric_hash",
    "metric_key",
    "namespace_prefix",
    "new_agg",
    "statistic",
    "_count",
]


# -- storing datapoints -------------------------------------------------------------------

# (metric key, minute) → {second offset: {unit: aggregate}}
Pending = dict[tuple[str, int], dict[str, dict[str, Any]]]


def store(txn: Any, scope: str, described: dict[str, dict[str, Any]], pending: Pending, now: float) -> None:
    """Merge aggregated datapoints into the per-minute records, registering new metrics.

    ``described`` maps each metric key to ``{"Namespace", "MetricName", "Dimensions"}``.
    Every writer of metric data goes through here: ``PutMetricData``, and AWS services
    publishing their own ``AWS/...`` metrics (:func:`publish`).
    """
    for key, desc in described.items():
        mhash = metric_hash(key)
        record = txn.get(METRIC_KIND, key, scope)
        if record is None:
            record = {
                "Namespace": desc["Namespace"],
                "MetricName": desc["MetricName"],
                "Dimensions": sorted(
                    ({"Name": d["Name"], "Value": d["Value"]} for d in desc["Dimensions"]), key=lambda d: d["Name"]
                ),
                "hash": mhash,
                "created": now,
                "purged": now,
            }
        record["last"] = now
        if now - record.get("purged", 0) > 86400:
            _purge(txn, scope, mhash, now)
            record["purged"] = now
        txn.put(METRIC_KIND, key, record, scope)
    for (key, minute), offsets in pending.items():
        dkey = data_key(metric_hash(key), minute)
        doc = txn.get(DATA_KIND, dkey, scope) or {"b": {}}
        for offset, units in offsets.items():
            slot = doc["b"].setdefault(offset, {})
            for unit, agg in units.items():
                if unit in slot:
                    merge(slot[unit], agg)
                else:
                    slot[unit] = agg
        txn.put(DATA_KIND, dkey, doc, scope)


def publish(
    txn: Any, scope: str, namespace: str, values: Iterable[tuple[str, list[dict[str, str]], float, str]], now: float
) -> None:
    """An AWS service's own metrics (``AWS/Route53``, ``AWS/RDS`` ...), one value each at ``now``:
    ``values`` yields (metric name, dimensions, value, unit)."""
    described: dict[str, dict[str, Any]] = {}
    pending: Pending = {}
    minute = int(now // 60) * 60
    for name, dimensions, value, unit in values:
        key = metric_key(namespace, name, dimensions)
        described[key] = {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions}
        agg = new_agg()
        add_values(agg, [float(value)], [1.0])
        slot = pending.setdefault((key, minute), {}).setdefault("0", {})
        if unit in slot:
            merge(slot[unit], agg)
        else:
            slot[unit] = agg
    store(txn, scope, described, pending, now)


def _purge(txn: Any, scope: str, mhash: str, now: float) -> None:
    """Forget datapoints past the 15-month retention."""
    cutoff = now - RETENTION_SECONDS
    stale = []
    for key in txn.scan_keys(DATA_KIND, scope, prefix=f"{mhash}/"):
        if int(key.rsplit("/", 1)[1]) >= cutoff:
            break
        stale.append(key)
    for key in stale:
        txn.delete(DATA_KIND, key, scope)
