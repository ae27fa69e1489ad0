"""Authentication through real clients: header SigV4, presigned URLs, chunked uploads, errors per service."""

from __future__ import annotations

import time

import pytest
import requests
from botocore.exceptions import ClientError


def _error(call) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def test_cli_get_caller_identity(nimbus):
    result = nimbus.aws("sts", "get-caller-identity", "--output", "json")
    assert '"Account": "000000000000"' in result.stdout


@pytest.mark.parametrize(
    "service, call, code, status",
    [
        ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch", 403),
        ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch", 403),
        ("ec2", lambda c: c.describe_regions(), "AuthFailure", 401),
        ("kms", lambda c: c.list_keys(), "InvalidSignatureException", 400),
    ],
)
def test_wrong_secret_is_refused(nimbus, service, call, code, status):
    error = _error(lambda: call(nimbus.client(service, secret="not-the-secret")))
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize(
    "service, call, code",
    [
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId"),
        ("s3", lambda c: c.list_buckets(), "InvalidAccessKeyId"),
        ("ec2", lambda c: c.describe_regions(), "AuthFailure"),
        ("kms", lambda c: c.list_keys(), "UnrecognizedClientException"),
    ],
)
def test_unknown_access_key_is_refused(nimbus, service, call, code):
    error = _error(lambda: call(nimbus.client(service, key="AKIANOSUCHKEY0000000")))
    assert error.response["Error"]["Code"] == code


def test_unknown_region_is_refused(nimbus):
    error = _error(lambda: nimbus.client("sts", region="xx-nowhere-1").get_caller_identity())
    assert "valid region" in error.response["Error"]["Message"]


def test_cli_wrong_secret(nimbus):
    env = nimbus.cli_env()
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    import subprocess

    from nimbus_process import aws_cli

    result = subprocess.run([aws_cli(), "--endpoint-url", nimbus.endpoint, "sts", "get-caller-identity"],
                            env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr


def test_anonymous_requests(nimbus):
    sts = requests.post(nimbus.endpoint, data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert sts.status_code == 403
    assert "MissingAuthenticationToken" in sts.text
    s3 = requests.get(f"{nimbus.endpoint}/some-bucket/key")
    assert s3.status_code == 403 and "<Code>AccessDenied</Code>" in s3.text


def test_presigned_urls(nimbus):
    s3 = nimbus.client("s3")
    s3.create_bucket(Bucket="presign")
    s3.put_object(Bucket="presign", Key="doc.txt", Body=b"signed bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "doc.txt"}, ExpiresIn=60)
    assert requests.get(url).content == b"signed bytes"
    tampered = url.replace("doc.txt", "other.txt")
    response = requests.get(tampered)
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "presign", "Key": "up.txt"}, ExpiresIn=60)
    assert requests.put(put_url, data=b"uploaded").status_code == 200
    assert s3.get_object(Bucket="presign", Key="up.txt")["Body"].read() == b"uploaded"
    wrong_method = requests.delete(url)
    assert wrong_method.status_code == 403
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "doc.txt"}, ExpiresIn=1)
    time.sleep(1.5)  # presigned expiry is real time, as in AWS
    response = requests.get(expired)
    assert response.status_code == 403 and "expired" in response.text.lower()
    # SigV4 presigned URLs: at most 7 days, expiry and tampering enforced the same way.
    v4 = nimbus.client("s3", signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "doc.txt"}, ExpiresIn=60)
    assert "X-Amz-Signature=" in url and requests.get(url).content == b"signed bytes"
    assert requests.get(url.replace("doc.txt", "other.txt")).status_code == 403
    too_long = v4.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "doc.txt"}, ExpiresIn=604801)
    response = requests.get(too_long)
    assert response.status_code == 400 and "AuthorizationQueryParametersError" in response.text


def test_trailing_checksum_is_verified(nimbus):
    """boto3 ≥ 1.36 streams aws-chunked bodies with a trailing CRC32; a bad one is refused."""
    import botocore.awsrequest
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    s3 = nimbus.client("s3")
    s3.create_bucket(Bucket="chunky")
    body = b"0123456789" * 100
    good_crc = "wOmIBQ=="  # not the CRC32 of body
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\nx-amz-checksum-crc32:" + good_crc.encode() + b"\r\n\r\n"
    request = botocore.awsrequest.AWSRequest(
        method="PUT", url=f"{nimbus.endpoint}/chunky/obj", data=chunked,
        headers={"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                 "x-amz-decoded-content-length": str(len(body)), "x-amz-trailer": "x-amz-checksum-crc32"},
    )
    SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    response = requests.put(prepared.url, data=chunked, headers=dict(prepared.headers))
    assert response.status_code == 400 and "BadDigest" in response.text
    assert _error(lambda: s3.head_object(Bucket="chunky", Key="obj")).response["Error"]["Code"] == "404"
