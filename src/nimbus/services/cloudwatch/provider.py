"""Amazon CloudWatch metrics: PutMetricData, ListMetrics, GetMetricStatistics, GetMetricData.

The gateway speaks the three wire protocols CloudWatch accepts (RPC v2 CBOR, JSON and
query); this module is the logic, once.  Storage layout: see ``metrics.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ..base import Provider
from . import expressions
from .metrics import (
    store,
    DATA_KIND,
    LIST_VISIBLE_SECONDS,
    METRIC_KIND,
    RETENTION_SECONDS,
    _count,
    add_statistic_set,
    add_values,
    bucket_aggregates,
    merge,
    data_key,
    metric_hash,
    metric_key,
    namespace_prefix,
    new_agg,
    statistic,
)

UNITS = frozenset(
    [
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
        "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
        "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
        "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
        "Count/Second", "None",
    ]
)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")
QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")

MAX_METRIC_DATA = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
VALUE_LIMIT = 2.0**360
LIST_PAGE = 500
MAX_STATISTICS_DATAPOINTS = 1440
PAST_LIMIT = 14 * 86400
FUTURE_LIMIT = 2 * 3600
HIGH_RES_PERIODS = (1, 5, 10, 20, 30)


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message)


def _missing(message: str) -> ServiceError:
    return ServiceError("MissingParameter", message)


def _combination(message: str) -> ServiceError:
    return ServiceError("InvalidParameterCombination", message)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _check_name(value: str, param: str, limit: int = 255) -> None:
    if not isinstance(value, str) or not value or len(value) > limit or not value.strip():
        raise _invalid(f"The value {value!r} for parameter {param} is invalid: it must be 1 to {limit} characters.")


def _check_value(value: float, param: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise _invalid(f"The value {value} for parameter {param} is invalid.")
    if abs(value) > VALUE_LIMIT:
        raise _invalid(
            f"The value {value} for parameter {param} is invalid: values must be in the range of -2^360 to 2^360."
        )


def _check_namespace(namespace: str) -> None:
    _check_name(namespace, "Namespace")
    if namespace.startswith(":"):
        raise _invalid(f"The value {namespace} for parameter Namespace is invalid.")
    if namespace.startswith("AWS/"):
        raise _invalid(
            f"The value {namespace} for parameter Namespace is invalid: namespaces starting with 'AWS/' are reserved for AWS services."
        )


def _check_dimensions(dimensions: list[dict[str, Any]], param: str, *, filters: bool = False) -> None:
    limit = 10 if filters else MAX_DIMENSIONS
    if len(dimensions) > limit:
        raise _invalid(f"The collection {param} must not have a size greater than {limit}.")
    seen: set[str] = set()
    for i, dim in enumerate(dimensions, 1):
        name = dim.get("Name")
        if name is None:
            raise _missing(f"The parameter {param}.member.{i}.Name is required.")
        _check_name(name, f"{param}.member.{i}.Name")
        if name.startswith(":"):
            raise _invalid(f"The value {name} for parameter {param}.member.{i}.Name is invalid.")
        value = dim.get("Value")
        if value is None and not filters:
            raise _missing(f"The parameter {param}.member.{i}.Value is required.")
        if value is not None:
            _check_name(value, f"{param}.member.{i}.Value", 1024)
        if name in seen and not filters:
            raise _invalid(f"The dimension name {name} appears more than once in {param}.")
        seen.add(name)


def _check_unit(unit: str | None, param: str) -> None:
    if unit is not None and unit not in UNITS:
        raise _invalid(f"The value {unit} for parameter {param} is invalid.")


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_token(token: str, code: str = "InvalidParameterValue") -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(payload, dict):
            return payload
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise ServiceError(code, f"The value {token} for parameter NextToken is invalid.")


class CloudWatchProvider(Provider):
    service = "cloudwatch"
    model_constraints = False  # it words its own validation errors, as AWS does

    def resource_counts(self) -> dict[str, int]:
        return {"metric": self.runtime.store.read.count(METRIC_KIND)}

    # -- PutMetricData -------------------------------------------------------------------

    def put_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        namespace = params["Namespace"]
        _check_namespace(namespace)
        data = list(params.get("MetricData") or [])
        entity_data = params.get("EntityMetricData") or []
        for entity in entity_data:
            data.extend(entity.get("MetricData") or [])
        if not data:
            raise _missing("The parameter MetricData is required.")
        if len(data) > MAX_METRIC_DATA:
            raise _invalid(f"The collection MetricData must not have a size greater than {MAX_METRIC_DATA}.")

        now = ctx.clock.time()
        # (metric key, minute) → {offset: {unit: agg}}; metric key → its description
        pending: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        metrics: dict[str, dict[str, Any]] = {}
        for i, datum in enumerate(data, 1):
            key, ts, offset, unit, agg = self._datum(namespace, datum, f"MetricData.member.{i}", now)
            metrics.setdefault(
                key,
                {"Namespace": namespace, "MetricName": datum["MetricName"], "Dimensions": datum.get("Dimensions") or []},
            )
            minute = int(ts // 60) * 60
            slot = pending.setdefault((key, minute), {}).setdefault(str(offset), {})
            if unit in slot:
                merge(slot[unit], agg)
            else:
                slot[unit] = agg

        with ctx.store.transaction() as txn:
            store(txn, ctx.scope, metrics, pending, now)
        return {}

    def _datum(self, namespace: str, datum: dict[str, Any], path: str, now: float) -> tuple[str, float, int, str, dict[str, Any]]:
        name = datum.get("MetricName")
        if name is None:
            raise _missing(f"The parameter {path}.MetricName is required.")
        _check_name(name, f"{path}.MetricName")
        dimensions = datum.get("Dimensions") or []
        _check_dimensions(dimensions, f"{path}.Dimensions")
        unit = datum.get("Unit") or "None"
        _check_unit(unit, f"{path}.Unit")
        resolution = datum.get("StorageResolution", 60)
        if resolution not in (1, 60):
            raise _invalid(
                f"The value {resolution} for parameter {path}.StorageResolution is invalid: valid values are 1 and 60."
            )
        ts = _epoch(datum["Timestamp"]) if datum.get("Timestamp") is not None else now
        if ts < now - PAST_LIMIT:
            raise _invalid(f"The parameter {path}.Timestamp must specify a time no more than two weeks in the past.")
        if ts > now + FUTURE_LIMIT:
            raise _invalid(f"The parameter {path}.Timestamp must specify a time no more than two hours in the future.")

        value, stats, values = datum.get("Value"), datum.get("StatisticValues"), datum.get("Values")
        counts = datum.get("Counts")
        given = [n for n, v in (("Value", value), ("StatisticValues", stats), ("Values", values)) if v is not None]
        if len(given) > 1:
            raise _combination(
                f"The parameters {path}.{given[0]} and {path}.{given[1]} are mutually exclusive and you have specified both."
            )
        if counts is not None and values is None:
            raise _combination(f"The parameter {path}.Counts requires {path}.Values.")
        agg = new_agg()
        if value is not None:
            _check_value(value, f"{path}.Value")
            add_values(agg, [float(value)], [1.0])
        elif stats is not None:
            for member in ("SampleCount", "Sum", "Minimum", "Maximum"):
                if stats.get(member) is None:
                    raise _missing(f"The parameter {path}.StatisticValues.{member} is required.")
                _check_value(stats[member], f"{path}.StatisticValues.{member}")
            if stats["SampleCount"] <= 0:
                raise _invalid(f"The value {stats['SampleCount']} for parameter {path}.StatisticValues.SampleCount is invalid.")
            if stats["Minimum"] > stats["Maximum"]:
                raise _invalid(
                    f"The parameters {path}.StatisticValues.Minimum must be less than or equal to {path}.StatisticValues.Maximum."
                )
            add_statistic_set(agg, {k: float(stats[k]) for k in ("SampleCount", "Sum", "Minimum", "Maximum")})
        elif values is not None:
            if len(values) > MAX_VALUES:
                raise _invalid(f"The collection {path}.Values must not have a size greater than {MAX_VALUES}.")
            if counts is not None and len(counts) != len(values):
                raise _invalid(f"The parameters {path}.Values and {path}.Counts must be of the same size.")
            for j, v in enumerate(values, 1):
                _check_value(v, f"{path}.Values.member.{j}")
            for j, c in enumerate(counts or [], 1):
                _check_value(c, f"{path}.Counts.member.{j}")
                if c < 0:
                    raise _invalid(f"The value {c} for parameter {path}.Counts.member.{j} is invalid.")
            add_values(agg, [float(v) for v in values], [float(c) for c in counts] if counts is not None else [1.0] * len(values))
        else:
            raise _missing(f"At least one of the parameters {path}.Value, {path}.StatisticValues or {path}.Values must be specified.")
        offset = int(ts) % 60 if resolution == 1 else 0
        return metric_key(namespace, name, dimensions), ts, offset, unit, agg

    # -- ListMetrics ---------------------------------------------------------------------

    def list_metrics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        namespace = params.get("Namespace")
        name = params.get("MetricName")
        filters = params.get("Dimensions") or []
        if namespace is not None:
            _check_name(namespace, "Namespace")
        if name is not None:
            _check_name(name, "MetricName")
        _check_dimensions(filters, "Dimensions", filters=True)
        recently = params.get("RecentlyActive")
        if recently is not None and recently != "PT3H":
            raise _invalid(f"The value {recently} for parameter RecentlyActive is invalid: the only valid value is PT3H.")
        after = None
        if params.get("NextToken"):
            after = _decode_token(params["NextToken"]).get("k")
            if not isinstance(after, str):
                raise _invalid(f"The value {params['NextToken']} for parameter NextToken is invalid.")
        now = ctx.clock.time()
        horizon = now - (3 * 3600 if recently else LIST_VISIBLE_SECONDS)
        prefix = namespace_prefix(namespace) if namespace is not None else ""
        metrics: list[dict[str, Any]] = []
        next_token = None
        for key, record in ctx.store.read.scan(METRIC_KIND, ctx.scope, prefix=prefix, start_after=after):
            if record.get("last", 0) < horizon:
                continue
            if name is not None and record["MetricName"] != name:
                continue
            if filters and not _matches(record["Dimensions"], filters):
                continue
            if len(metrics) == LIST_PAGE:
                next_token = _encode_token({"k": last_key})
                break
            metrics.append(
                {"Namespace": record["Namespace"], "MetricName": record["MetricName"], "Dimensions": record["Dimensions"]}
            )
            last_key = key
        result: dict[str, Any] = {"Metrics": metrics}
        if params.get("IncludeLinkedAccounts"):
            result["OwningAccounts"] = [ctx.account_id] * len(metrics)
        if next_token:
            result["NextToken"] = next_token
        return result

    # -- GetMetricStatistics -------------------------------------------------------------

    def get_metric_statistics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        namespace, name = params["Namespace"], params["MetricName"]
        _check_name(namespace, "Namespace")
        _check_name(name, "MetricName")
        dimensions = params.get("Dimensions") or []
        _check_dimensions(dimensions, "Dimensions")
        unit = params.get("Unit")
        _check_unit(unit, "Unit")
        stats = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not stats and not extended:
            raise _missing("Must specify either Statistics or ExtendedStatistics.")
        if stats and extended:
            raise _combination("The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.")
        if len(stats) > 5:
            raise _invalid("The collection Statistics must not have a size greater than 5.")
        if len(extended) > 10:
            raise _invalid("The collection ExtendedStatistics must not have a size greater than 10.")
        for i, s in enumerate(stats, 1):
            if s not in STATISTICS:
                raise _invalid(f"The value {s} for parameter Statistics.member.{i} is invalid.")
        for i, s in enumerate(extended, 1):
            if not PERCENTILE.match(s):
                raise _invalid(f"The value {s} for parameter ExtendedStatistics.member.{i} is invalid.")
        period = params["Period"]
        _check_period(period, "Period")
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        if start >= end:
            raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
        requested = math.ceil((end - start) / period)
        if requested > MAX_STATISTICS_DATAPOINTS:
            raise _combination(
                f"You have requested up to {requested} datapoints, which exceeds the limit of {MAX_STATISTICS_DATAPOINTS}. "
                "You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            )
        now = ctx.clock.time()
        datapoints: list[dict[str, Any]] = []
        window = _window(start, end, period, now)
        if window is not None:
            lo, hi = window
            mhash = metric_hash(metric_key(namespace, name, dimensions))
            buckets = bucket_aggregates(ctx.store.read, ctx.scope, mhash, lo, hi, period, unit)
            for (bucket, u), agg in sorted(buckets.items()):
                point: dict[str, Any] = {"Timestamp": _dt(bucket), "Unit": u}
                for s in stats:
                    value = statistic(agg, s)
                    if value is not None:
                        point[s] = _count(value) if s == "SampleCount" else value
                if extended:
                    ext = {s: v for s in extended if (v := statistic(agg, s)) is not None}
                    if ext:
                        point["ExtendedStatistics"] = ext
                datapoints.append(point)
        return {"Label": name, "Datapoints": datapoints}

    # -- GetMetricData -------------------------------------------------------------------

    def get_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queries = params["MetricDataQueries"]
        if not queries:
            raise _validation("The collection MetricDataQueries must contain at least 1 item.")
        if len(queries) > 500:
            raise _validation("The collection MetricDataQueries must not have a size greater than 500.")
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        if start >= end:
            raise _validation("The parameter StartTime must be less than the parameter EndTime.")
        scan_by = params.get("ScanBy") or "TimestampDescending"
        if scan_by not in ("TimestampDescending", "TimestampAscending"):
            raise _validation(f"The value {scan_by} for parameter ScanBy is invalid.")
        max_points = params.get("MaxDatapoints") or 100800
        if max_points < 1:
            raise _validation(f"The value {max_points} for parameter MaxDatapoints is invalid.")
        offset = 0
        if params.get("NextToken"):
            offset = _decode_token(params["NextToken"], "InvalidNextToken").get("o", 0)
            if not isinstance(offset, int) or offset < 0:
                raise ServiceError("InvalidNextToken", "The service couldn't process the pagination token.")

        ids: dict[str, dict[str, Any]] = {}
        for i, query in enumerate(queries, 1):
            qid = query.get("Id")
            if not qid or not QUERY_ID.match(qid) or len(qid) > 255:
                raise _validation(
                    f"The value {qid} for parameter MetricDataQueries.member.{i}.Id is invalid: it must start with a "
                    "lowercase letter and contain only letters, numbers and underscores."
                )
            if qid in ids:
                raise _validation(f"The values for parameter id in MetricDataQueries are not unique: {qid}.")
            has_stat, has_expr = query.get("MetricStat") is not None, query.get("Expression") is not None
            if has_stat == has_expr:
                raise _validation(
                    f"Exactly one of MetricStat and Expression must be specified in MetricDataQueries.member.{i}."
                )
            ids[qid] = query
        if not any(q.get("ReturnData", True) for q in queries):
            raise _validation("At least one of the MetricDataQueries must have ReturnData set to true.")

        now = ctx.clock.time()
        series: dict[str, dict[int, float]] = {}

        def stat_series(query: dict[str, Any], path: str) -> dict[int, float]:
            ms = query["MetricStat"]
            metric = ms.get("Metric") or {}
            ns, mname = metric.get("Namespace"), metric.get("MetricName")
            if not ns or not mname:
                raise _validation(f"The parameter {path}.MetricStat.Metric must name a Namespace and a MetricName.")
            dims = metric.get("Dimensions") or []
            _check_dimensions(dims, f"{path}.MetricStat.Metric.Dimensions")
            period, stat, unit = ms.get("Period"), ms.get("Stat"), ms.get("Unit")
            _check_period(period, f"{path}.MetricStat.Period", code="ValidationError")
            if stat not in STATISTICS and not PERCENTILE.match(stat or ""):
                raise _validation(f"The value {stat} for parameter {path}.MetricStat.Stat is invalid.")
            if unit is not None and unit not in UNITS:
                raise _validation(f"The value {unit} for parameter {path}.MetricStat.Unit is invalid.")
            window = _window(start, end, period, now)
            if window is None:
                return {}
            lo, hi = window
            buckets = bucket_aggregates(
                ctx.store.read, ctx.scope, metric_hash(metric_key(ns, mname, dims)), lo, hi, period, unit
            )
            merged: dict[int, dict[str, Any]] = {}
            for (bucket, _u), agg in buckets.items():
                merge(merged.setdefault(bucket, new_agg()), agg)
            out = {}
            for bucket, agg in merged.items():
                value = statistic(agg, stat)
                if value is not None:
                    out[bucket] = value
            return out

        resolving: set[str] = set()

        def resolve(qid: str) -> dict[int, float]:
            if qid in series:
                return series[qid]
            if qid in resolving:
                raise _validation(f"Circular dependency in MetricDataQueries involving {qid}.")
            resolving.add(qid)
            query = ids[qid]
            path = f"MetricDataQueries.member.{queries.index(query) + 1}"
            if query.get("MetricStat") is not None:
                result = stat_series(query, path)
            else:
                try:
                    result = expressions.evaluate(query["Expression"], resolve, set(ids) - {qid})
                except expressions.ExpressionError as exc:
                    raise _validation(f"Error in expression '{qid}': {exc}") from exc
            resolving.discard(qid)
            series[qid] = result
            return result

        results = []
        budget_skip, budget_left = offset, max_points
        truncated = False
        for query in queries:
            if not query.get("ReturnData", True):
                resolve(query["Id"])
                continue
            points = sorted(resolve(query["Id"]).items(), reverse=scan_by == "TimestampDescending")
            if budget_skip >= len(points):
                budget_skip -= len(points)
                page: list[tuple[int, float]] = []
            else:
                page = points[budget_skip:]
                budget_skip = 0
            status = "Complete"
            if len(page) > budget_left:
                page = page[:budget_left]
                status = "PartialData"
                truncated = True
            budget_left -= len(page)
            label = query.get("Label")
            if not label:
                label = query["MetricStat"]["Metric"]["MetricName"] if query.get("MetricStat") else query["Id"]
            results.append(
                {
                    "Id": query["Id"],
                    "Label": label,
                    "Timestamps": [_dt(t) for t, _ in page],
                    "Values": [v for _, v in page],
                    "StatusCode": status,
                    "Messages": [],
                }
            )
        output: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if truncated:
            output["NextToken"] = _encode_token({"o": offset + max_points})
        return output


def _validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400)


def _matches(dimensions: list[dict[str, str]], filters: list[dict[str, Any]]) -> bool:
    have = {d["Name"]: d["Value"] for d in dimensions}
    for f in filters:
        if f["Name"] not in have:
            return False
        if f.get("Value") is not None and have[f["Name"]] != f["Value"]:
            return False
    return True


def _check_period(period: Any, param: str, code: str = "InvalidParameterValue") -> None:
    if not isinstance(period, int) or period < 1 or (period not in HIGH_RES_PERIODS and period % 60):
        raise ServiceError(
            code,
            f"The value {period} for parameter {param} is invalid: valid values are 1, 5, 10, 20, 30, 60 and any multiple of 60.",
        )


def _window(start: float, end: float, period: int, now: float) -> tuple[int, int] | None:
    """[start, end) aligned as CloudWatch aligns it, or None when the period is too fine.

    Data older than 3 hours is kept at one-minute resolution, older than 15 days at five
    minutes, older than 63 days at one hour; asking those ranges for finer periods
    returns nothing, as in AWS.  Start times round down to the same granularity.
    """
    age = now - start
    if age > 63 * 86400:
        granularity = 3600
    elif age > 15 * 86400:
        granularity = 300
    elif age > 3 * 3600:
        granularity = 60
    else:
        granularity = 1 if period < 60 else 60
    if period % granularity:
        return None
    lo = int(start) - int(start) % granularity
    lo = max(lo, int(now - RETENTION_SECONDS))
    hi = math.ceil(end)
    return lo, hi
