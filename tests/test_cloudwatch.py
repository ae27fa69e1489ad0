"""CloudWatch metrics through all three of its wire protocols (RPC v2 CBOR, JSON, query) and the CLI."""

from __future__ import annotations

import json
import math
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

MODEL = botocore.session.get_session().get_service_model("cloudwatch")
PROTOCOLS = ("smithy-rpc-v2-cbor", "json", "query")


def call(nimbus, protocol: str, operation: str, params: dict, region: str = "us-east-1") -> tuple[int, dict]:
    """One CloudWatch request in ``protocol``, serialized, signed and parsed by botocore itself."""
    op = MODEL.operation_model(operation)
    request = create_serializer(protocol, include_validation=True).serialize_to_request(params, op)
    prepare_request_dict(request, endpoint_url=nimbus.endpoint)
    aws_request = create_request_object(request)
    SigV4Auth(Credentials("test", "test"), "monitoring", region).add_auth(aws_request)
    prepared = aws_request.prepare()
    response = requests.request(prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body, timeout=10)
    parsed = create_parser(protocol).parse(
        {"status_code": response.status_code, "headers": response.headers, "body": response.content},
        op.output_shape,
    )
    if protocol == "smithy-rpc-v2-cbor":
        assert response.headers.get("smithy-protocol") == "rpc-v2-cbor"
    elif protocol == "query":
        assert response.headers["Content-Type"].startswith("text/xml")
    else:
        assert "json" in response.headers["Content-Type"]
    return response.status_code, parsed


def server_now(nimbus) -> datetime:
    with urllib.request.urlopen(f"{nimbus.endpoint}/_nimbus/clock", timeout=5) as r:
        return datetime.fromisoformat(json.loads(r.read())["now"])


def minute_floor(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


@pytest.fixture
def ns() -> str:
    return f"Nimbus/Test/{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("writer", PROTOCOLS)
def test_put_in_one_protocol_read_in_the_others(nimbus, ns, writer):
    now = server_now(nimbus)
    ts = minute_floor(now) - timedelta(minutes=2)
    status, _ = call(
        nimbus,
        writer,
        "PutMetricData",
        {
            "Namespace": ns,
            "MetricData": [
                {"MetricName": "Latency", "Dimensions": [{"Name": "Svc", "Value": "api"}, {"Name": "Az", "Value": "a"}],
                 "Timestamp": ts, "Value": 10.0, "Unit": "Milliseconds"},
                {"MetricName": "Latency", "Dimensions": [{"Name": "Az", "Value": "a"}, {"Name": "Svc", "Value": "api"}],
                 "Timestamp": ts + timedelta(seconds=20), "Values": [20.0, 30.0], "Counts": [1.0, 2.0], "Unit": "Milliseconds"},
                {"MetricName": "Requests", "Timestamp": ts, "StatisticValues":
                    {"SampleCount": 4, "Sum": 40, "Minimum": 5, "Maximum": 15}, "Unit": "Count"},
            ],
        },
    )
    assert status == 200
    for reader in PROTOCOLS:
        status, listed = call(nimbus, reader, "ListMetrics", {"Namespace": ns})
        assert status == 200
        metrics = sorted(listed["Metrics"], key=lambda m: m["MetricName"])
        assert [m["MetricName"] for m in metrics] == ["Latency", "Requests"]
        assert metrics[0]["Dimensions"] == [{"Name": "Az", "Value": "a"}, {"Name": "Svc", "Value": "api"}]
        assert metrics[1].get("Dimensions", []) == []

        status, stats = call(
            nimbus, reader, "GetMetricStatistics",
            {"Namespace": ns, "MetricName": "Latency", "Dimensions": [{"Name": "Svc", "Value": "api"}, {"Name": "Az", "Value": "a"}],
             "StartTime": ts - timedelta(minutes=5), "EndTime": ts + timedelta(minutes=5), "Period": 60,
             "Statistics": ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]},
        )
        assert status == 200
        assert stats["Label"] == "Latency"
        (point,) = stats["Datapoints"]
        assert point["Timestamp"] == ts
        assert point["SampleCount"] == 4 and point["Sum"] == 90 and point["Average"] == 22.5
        assert point["Minimum"] == 10 and point["Maximum"] == 30 and point["Unit"] == "Milliseconds"

        status, stats = call(
            nimbus, reader, "GetMetricStatistics",
            {"Namespace": ns, "MetricName": "Requests", "StartTime": ts, "EndTime": ts + timedelta(minutes=1),
             "Period": 60, "Statistics": ["Average", "Sum"], "Unit": "Count"},
        )
        assert [(p["Average"], p["Sum"]) for p in stats["Datapoints"]] == [(10, 40)]


def test_boto3_default_client_and_cli(nimbus, ns):
    cw = nimbus.client("cloudwatch")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Cli", "Value": 1.5, "Dimensions": [{"Name": "K", "Value": "v"}]}])
    result = nimbus.aws("cloudwatch", "list-metrics", "--namespace", ns, "--output", "json")
    metrics = json.loads(result.stdout)["Metrics"]
    assert metrics == [{"Namespace": ns, "MetricName": "Cli", "Dimensions": [{"Name": "K", "Value": "v"}]}]
    now = server_now(nimbus)
    out = nimbus.aws(
        "cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Cli", "--dimensions", "Name=K,Value=v",
        "--start-time", (now - timedelta(minutes=5)).isoformat(), "--end-time", (now + timedelta(minutes=1)).isoformat(),
        "--period", "60", "--statistics", "Maximum", "--output", "json",
    )
    assert [p["Maximum"] for p in json.loads(out.stdout)["Datapoints"]] == [1.5]
    bad = nimbus.aws("cloudwatch", "put-metric-data", "--namespace", "AWS/EC2", "--metric-name", "x", "--value", "1", check=False)
    assert bad.returncode != 0 and "InvalidParameterValue" in bad.stderr


def test_periods_percentiles_units_and_dimension_filters(nimbus, ns):
    cw = nimbus.client("cloudwatch")
    base = minute_floor(server_now(nimbus)) - timedelta(minutes=10)
    base = base - timedelta(minutes=base.minute % 2)  # an even minute: two-minute buckets line up
    data = [{"MetricName": "M", "Dimensions": [{"Name": "Host", "Value": "h1"}], "Timestamp": base + timedelta(seconds=i * 6),
             "Value": float(i + 1), "Unit": "Count"} for i in range(20)]  # 10 per minute, over two minutes
    data.append({"MetricName": "M", "Dimensions": [{"Name": "Host", "Value": "h1"}], "Timestamp": base, "Value": 1000.0, "Unit": "Bytes"})
    data.append({"MetricName": "M", "Dimensions": [{"Name": "Host", "Value": "h2"}, {"Name": "Role", "Value": "web"}],
                 "Timestamp": base, "Value": 1.0})
    cw.put_metric_data(Namespace=ns, MetricData=data)
    query = dict(Namespace=ns, MetricName="M", Dimensions=[{"Name": "Host", "Value": "h1"}],
                 StartTime=base, EndTime=base + timedelta(minutes=2))
    per_minute = cw.get_metric_statistics(Period=60, Statistics=["Sum", "SampleCount"], Unit="Count", **query)["Datapoints"]
    assert sorted((p["Timestamp"], p["Sum"], p["SampleCount"]) for p in per_minute) == [
        (base, 55.0, 10.0), (base + timedelta(minutes=1), 155.0, 10.0)]
    two = cw.get_metric_statistics(Period=120, Statistics=["Maximum"], Unit="Count", **query)["Datapoints"]
    assert [(p["Timestamp"], p["Maximum"]) for p in two] == [(base, 20.0)]
    # Without a Unit, each unit is its own datapoint.
    mixed = cw.get_metric_statistics(Period=120, Statistics=["Maximum"], **query)["Datapoints"]
    assert sorted((p["Unit"], p["Maximum"]) for p in mixed) == [("Bytes", 1000.0), ("Count", 20.0)]
    pct = cw.get_metric_statistics(Period=120, ExtendedStatistics=["p50", "p90", "p100"], Unit="Count", **query)["Datapoints"]
    assert pct[0]["ExtendedStatistics"] == {"p50": 10.0, "p90": 18.0, "p100": 20.0}
    # Sub-minute periods see nothing for data older than three hours, and exact dimensions only.
    assert cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=base, EndTime=base + timedelta(minutes=2),
                                    Period=60, Statistics=["Sum"])["Datapoints"] == []
    listed = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Role"}])["Metrics"]
    assert [m["Dimensions"] for m in listed] == [[{"Name": "Host", "Value": "h2"}, {"Name": "Role", "Value": "web"}]]
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Host", "Value": "h1"}])["Metrics"][0]["Dimensions"] == [
        {"Name": "Host", "Value": "h1"}]
    assert cw.list_metrics(Namespace=ns, MetricName="Other")["Metrics"] == []


def test_high_resolution_metrics(nimbus, ns):
    start = server_now(nimbus).replace(microsecond=0) - timedelta(minutes=1)
    data = [{"MetricName": "Hi", "Timestamp": start + timedelta(seconds=s), "Value": float(s), "StorageResolution": 1}
            for s in range(10)]
    assert call(nimbus, "smithy-rpc-v2-cbor", "PutMetricData", {"Namespace": ns, "MetricData": data})[0] == 200
    status, out = call(nimbus, "query", "GetMetricStatistics", {
        "Namespace": ns, "MetricName": "Hi", "StartTime": start, "EndTime": start + timedelta(seconds=10),
        "Period": 5, "Statistics": ["Sum"]})
    assert status == 200
    assert sorted((p["Timestamp"], p["Sum"]) for p in out["Datapoints"]) == [
        (start, 10.0), (start + timedelta(seconds=5), 35.0)]


def test_get_metric_data_with_math(nimbus, ns):
    base = minute_floor(server_now(nimbus)) - timedelta(minutes=3)
    cw = nimbus.client("cloudwatch")
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "A", "Timestamp": base, "Value": 4.0},
        {"MetricName": "A", "Timestamp": base + timedelta(minutes=1), "Value": 6.0},
        {"MetricName": "B", "Timestamp": base, "Value": 1.0},
        {"MetricName": "B", "Timestamp": base + timedelta(minutes=1), "Value": 3.0},
    ])
    queries = [
        {"Id": "a", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "A"}, "Period": 60, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "b", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "B"}, "Period": 60, "Stat": "Average"}, "Label": "bee"},
        {"Id": "ratio", "Expression": "100 * b / a"},
        {"Id": "total", "Expression": "SUM([a, b])"},
    ]
    for protocol in PROTOCOLS:
        status, out = call(nimbus, protocol, "GetMetricData", {
            "MetricDataQueries": queries, "StartTime": base, "EndTime": base + timedelta(minutes=2),
            "ScanBy": "TimestampAscending"})
        assert status == 200, out
        results = {r["Id"]: r for r in out["MetricDataResults"]}
        assert set(results) == {"b", "ratio", "total"}
        assert results["b"]["Label"] == "bee" and results["b"]["Values"] == [1.0, 3.0]
        assert results["b"]["Timestamps"] == [base, base + timedelta(minutes=1)]
        assert results["ratio"]["Values"] == [25.0, 50.0]
        assert results["total"]["Values"] == [5.0, 9.0]
        assert all(r["StatusCode"] == "Complete" for r in results.values())
    paged = cw.get_metric_data(MetricDataQueries=queries[:2], StartTime=base, EndTime=base + timedelta(minutes=2), MaxDatapoints=1)
    assert paged["MetricDataResults"][0]["StatusCode"] == "PartialData" and "NextToken" in paged
    rest = cw.get_metric_data(MetricDataQueries=queries[:2], StartTime=base, EndTime=base + timedelta(minutes=2),
                              MaxDatapoints=1, NextToken=paged["NextToken"])
    assert paged["MetricDataResults"][0]["Values"] + rest["MetricDataResults"][0]["Values"] == [3.0, 1.0]
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(MetricDataQueries=[{"Id": "Bad-Id", "Expression": "1"}], StartTime=base, EndTime=base + timedelta(minutes=1))
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_list_metrics_pagination(nimbus, ns):
    # botocore gzips PutMetricData bodies over 10 KiB; see test_gzip_compressed_put_metric_data.
    cw = nimbus.client("cloudwatch")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": f"m{i:04d}", "Value": 1.0} for i in range(501)])
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500 and first["NextToken"]
    status, second = call(nimbus, "query", "ListMetrics", {"Namespace": ns, "NextToken": first["NextToken"]})
    assert status == 200 and len(second["Metrics"]) == 1 and "NextToken" not in second
    names = {m["MetricName"] for m in first["Metrics"] + second["Metrics"]}
    assert len(names) == 501
    # Metrics are per region.
    assert nimbus.client("cloudwatch", region="eu-west-1").list_metrics(Namespace=ns)["Metrics"] == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "params, code",
    [
        ({"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "x", "Value": 1.0}]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1.0, "StatisticValues":
            {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]}, "InvalidParameterCombination"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x"}]}, "MissingParameter"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 2.0**400}]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1.0, "StorageResolution": 5}]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1.0, "Unit": "Furlongs"}]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1.0,
            "Dimensions": [{"Name": f"d{i}", "Value": "v"} for i in range(31)]}]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": f"x{i}", "Value": 1.0} for i in range(1001)]}, "InvalidParameterValue"),
        ({"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": 1.0,
            "Timestamp": datetime(2001, 1, 1, tzinfo=timezone.utc)}]}, "InvalidParameterValue"),
    ],
    ids=["aws-namespace", "value-and-stats", "no-value", "too-large", "resolution", "unit", "counts-size",
         "31-dimensions", "1001-items", "too-old"],
)
def test_put_metric_data_validation(nimbus, protocol, params, code):
    status, out = call(nimbus, protocol, "PutMetricData", params)
    assert status == 400
    assert out["Error"]["Code"] == code, out


def test_put_metric_data_refuses_nan_in_cbor(nimbus):
    status, out = call(nimbus, "smithy-rpc-v2-cbor", "PutMetricData",
                       {"Namespace": "N", "MetricData": [{"MetricName": "x", "Value": math.nan}]})
    assert status == 400 and out["Error"]["Code"] == "InvalidParameterValue"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"Period": 60 * 1, "hours": 25}, "InvalidParameterCombination"),  # 1,500 datapoints
        ({"Period": 7}, "InvalidParameterValue"),
        ({"swap": True}, "InvalidParameterValue"),
        ({"Statistics": ["Median"]}, "InvalidParameterValue"),
        ({"Statistics": None, "ExtendedStatistics": ["p101"]}, "InvalidParameterValue"),
        ({"ExtendedStatistics": ["p99"]}, "InvalidParameterCombination"),
        ({"Statistics": None}, "MissingParameter"),
    ],
    ids=["too-many-datapoints", "bad-period", "start-after-end", "bad-statistic", "bad-percentile", "both", "neither"],
)
def test_get_metric_statistics_validation(nimbus, change, code):
    now = server_now(nimbus)
    params = {"Namespace": "N", "MetricName": "x", "StartTime": now - timedelta(hours=change.pop("hours", 1)),
              "EndTime": now, "Period": 60, "Statistics": ["Sum"]}
    if change.pop("swap", False):
        params["StartTime"], params["EndTime"] = params["EndTime"], params["StartTime"]
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    for protocol in PROTOCOLS:
        status, out = call(nimbus, protocol, "GetMetricStatistics", params)
        assert status == 400 and out["Error"]["Code"] == code, (protocol, out)
    if code == "InvalidParameterCombination" and "hours" not in change and params["Period"] == 60 and "ExtendedStatistics" not in params:
        assert "exceeds the limit of 1440" in out["Error"]["Message"]


def test_recently_active_and_idle_metrics(fresh_nimbus):
    server = fresh_nimbus()
    cw = server.client("cloudwatch")
    cw.put_metric_data(Namespace="Idle", MetricData=[{"MetricName": "old", "Value": 1.0}])
    server.advance_clock(4 * 3600)
    cw.put_metric_data(Namespace="Idle", MetricData=[{"MetricName": "new", "Value": 1.0}])
    assert [m["MetricName"] for m in cw.list_metrics(Namespace="Idle", RecentlyActive="PT3H")["Metrics"]] == ["new"]
    assert {m["MetricName"] for m in cw.list_metrics(Namespace="Idle")["Metrics"]} == {"new", "old"}
    server.advance_clock(14 * 86400 - 3600)
    assert [m["MetricName"] for m in cw.list_metrics(Namespace="Idle")["Metrics"]] == ["new"]
    with pytest.raises(ClientError) as err:
        cw.list_metrics(RecentlyActive="PT1H")
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    status = json.loads(urllib.request.urlopen(f"{server.endpoint}/_nimbus/status").read())
    assert status["resources"]["cloudwatch"]["metric"] == 2


def test_gzip_compressed_put_metric_data(nimbus, ns):
    """botocore compresses PutMetricData (model trait requestcompression) once the body reaches 10 KiB."""
    cw = nimbus.client("cloudwatch", request_min_compression_size_bytes=1)
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "gz", "Value": 1.0}])
    assert [m["MetricName"] for m in cw.list_metrics(Namespace=ns)["Metrics"]] == ["gz"]
