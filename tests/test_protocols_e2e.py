"""Every protocol end to end through a real server, and AWS-shaped errors for bad input."""

from __future__ import annotations

import json

import cbor2
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

CREDS = Credentials("test", "test")


def signed(nimbus, service: str, method: str, path: str = "/", body: bytes = b"", headers: dict | None = None,
           region: str = "us-east-1") -> requests.Response:
    """Send a hand-made (possibly malformed) request with a valid signature."""
    request = AWSRequest(method=method, url=f"{nimbus.endpoint}{path}", data=body, headers=headers or {})
    SigV4Auth(CREDS, service, region).add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, data=body, headers=dict(prepared.headers))


def test_unimplemented_operation_answers_501_naming_it(nimbus):
    with pytest.raises(ClientError) as info:
        nimbus.client("ec2").describe_capacity_reservation_fleets()
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Error"]["Code"] == "NotImplemented"
    assert "ec2:DescribeCapacityReservationFleets" in error["Error"]["Message"]


def test_unimplemented_operation_through_the_cli(nimbus):
    result = nimbus.aws("ec2", "describe-transit-gateways", check=False)
    assert result.returncode != 0
    assert "NotImplemented" in result.stderr and "DescribeTransitGateways" in result.stderr


def test_known_service_without_provider_answers_501(nimbus):
    with pytest.raises(ClientError) as info:
        nimbus.client("acm").list_certificates()
    assert info.value.response["Error"]["Code"] == "NotImplemented"
    assert "acm:ListCertificates" in info.value.response["Error"]["Message"]


def test_handler_bug_is_internal_failure_with_request_id(fresh_nimbus):
    server = fresh_nimbus(NIMBUS_FAULT_INJECTION="sts:GetCallerIdentity,s3:ListBuckets")
    for service, call in (("sts", lambda c: c.get_caller_identity()), ("s3", lambda c: c.list_buckets())):
        with pytest.raises(ClientError) as info:
            call(server.client(service))
        response = info.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert response["Error"]["Code"] == "InternalFailure"
        assert response["ResponseMetadata"]["RequestId"]
    assert "fault injected" in server.log() and "Traceback" in server.log()


def test_query_unknown_action(nimbus):
    response = signed(nimbus, "sts", "POST", body=b"Action=Frobnicate&Version=2011-06-15",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "<Code>InvalidAction</Code>" in response.text


def test_query_missing_required_member(nimbus):
    response = signed(nimbus, "sts", "POST", body=b"Action=AssumeRole&Version=2011-06-15",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "<Code>ValidationError</Code>" in response.text
    assert "roleArn" in response.text


def test_ec2_missing_parameter_and_bad_value(nimbus):
    response = signed(nimbus, "ec2", "POST", body=b"Action=DescribeRegions&Version=2016-11-15&AllRegions=maybe",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "<Code>InvalidParameterValue</Code>" in response.text
    assert "<RequestID>" in response.text


def test_json_malformed_body(nimbus):
    response = signed(nimbus, "kms", "POST", body=b"{not json",
                      headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    assert response.status_code == 400
    assert response.json()["__type"].endswith("SerializationException")


def test_json_wrong_type_and_missing_member(nimbus):
    wrong = signed(nimbus, "kms", "POST", body=json.dumps({"Limit": "ten"}).encode(),
                   headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    assert wrong.status_code == 400 and "SerializationException" in wrong.json()["__type"]
    missing = signed(nimbus, "kms", "POST", body=b"{}",
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.DescribeKey"})
    assert missing.status_code == 400 and missing.json()["__type"] == "ValidationException"
    assert "keyId" in missing.json()["message"]


def test_json_unknown_operation(nimbus):
    response = signed(nimbus, "kms", "POST", body=b"{}",
                      headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Frobnicate"})
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"


def test_cbor_malformed_body(nimbus):
    response = signed(nimbus, "monitoring", "POST", path="/service/GraniteServiceVersion20100801/operation/ListMetrics",
                      body=b"\xff\xff\x00garbage", headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"})
    assert response.status_code == 400
    assert "SerializationException" in cbor2.loads(response.content)["__type"]


def test_rest_xml_malformed_xml(nimbus):
    response = signed(nimbus, "s3", "PUT", path="/malformed-config-bucket", body=b"<CreateBucketConfiguration><Loc",
                      headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert response.status_code == 400 and "<Code>MalformedXML</Code>" in response.text
    assert signed(nimbus, "s3", "HEAD", path="/malformed-config-bucket",
                  headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}).status_code == 404, "nothing was created"


def test_bad_content_md5_stores_nothing(nimbus):
    s3 = nimbus.client("s3")
    s3.create_bucket(Bucket="digest-bucket")
    import base64
    import hashlib

    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="digest-bucket", Key="k", Body=b"these bytes", ContentMD5=wrong)
    assert info.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="digest-bucket", Key="k", Body=b"these bytes", ContentMD5="not-base64!")
    assert info.value.response["Error"]["Code"] == "InvalidDigest"
    assert s3.list_objects_v2(Bucket="digest-bucket")["KeyCount"] == 0


def test_truncated_body_stores_nothing(nimbus):
    import socket
    from urllib.parse import urlparse

    s3 = nimbus.client("s3")
    s3.create_bucket(Bucket="truncated-bucket")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "truncated-bucket", "Key": "cut"}, ExpiresIn=60)
    parsed = urlparse(url)
    with socket.create_connection(("127.0.0.1", nimbus.port)) as sock:
        sock.sendall(f"PUT {parsed.path}?{parsed.query} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: 1000\r\n\r\n".encode() + b"x" * 10)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        try:
            sock.recv(4096)
        except OSError:
            pass
    assert s3.list_objects_v2(Bucket="truncated-bucket")["KeyCount"] == 0


def test_oversized_headers_are_refused(nimbus):
    response = requests.get(f"{nimbus.endpoint}/", headers={"X-Big": "a" * 70000})
    assert 400 <= response.status_code < 500


def test_cloudwatch_all_three_protocols(nimbus):
    """The CBOR client (boto3's default), JSON and query all reach the same metrics."""
    cw = nimbus.client("cloudwatch")
    cw.put_metric_data(Namespace="Nimbus/Proto", MetricData=[{"MetricName": "Hits", "Value": 1.0}])
    json_response = signed(
        nimbus, "monitoring", "POST", body=json.dumps({"Namespace": "Nimbus/Proto"}).encode(),
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"},
    )
    assert json_response.status_code == 200, json_response.text
    assert json_response.json()["Metrics"][0]["MetricName"] == "Hits"
    query_response = signed(
        nimbus, "monitoring", "POST", body=b"Action=ListMetrics&Version=2010-08-01&Namespace=Nimbus%2FProto",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert query_response.status_code == 200, query_response.text
    assert "<MetricName>Hits</MetricName>" in query_response.text
    cbor_metrics = cw.list_metrics(Namespace="Nimbus/Proto")["Metrics"]
    assert [m["MetricName"] for m in cbor_metrics] == ["Hits"]


def test_model_constraints_checked_like_aws(nimbus):
    """Coral-style services refuse values outside the model's enums and ranges before any handler runs."""
    response = signed(nimbus, "kms", "POST", body=json.dumps({"KeySpec": "AES_512", "Description": "x" * 8193}).encode(),
                      headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.CreateKey"})
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "ValidationException"
    assert body["message"].startswith("2 validation errors detected: ")
    assert "Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [" in body["message"]
    assert "at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192" in body["message"]
    limit = signed(nimbus, "kms", "POST", body=json.dumps({"Limit": 5000}).encode(),
                   headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    assert limit.status_code == 400 and "Member must have value less than or equal to 1000" in limit.json()["message"]
    assert nimbus.client("kms").list_keys(Limit=1000)["ResponseMetadata"]["HTTPStatusCode"] == 200
