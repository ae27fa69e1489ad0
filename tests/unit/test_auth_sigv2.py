"""S3 SigV2: boto3's generate_presigned_url still emits SigV2 URLs by default."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nimbus.auth.sigv2 import parse_sigv2, verify_sigv2
from nimbus.auth.sigv4 import parse_sigv4
from nimbus.auth.testing import to_http_request
from nimbus.errors import ServiceError
from nimbus.auth.testing import TEST_ACCESS_KEY as AK, TEST_SECRET_KEY as SK, boto3_client as client, capture

NOW = lambda: datetime.now(timezone.utc)  # noqa: E731


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_default_boto3_presigned_url_is_sigv2_and_verifies(style):
    c = client("s3", s3={"addressing_style": style})
    url = c.generate_presigned_url(
        "get_object",
        Params={"Bucket": "bkt", "Key": "a b/ü+c.txt", "ResponseContentType": "text/plain"},
        ExpiresIn=120,
    )
    assert "AWSAccessKeyId=" in url
    req = to_http_request(AWSRequest("GET", url, headers={}))
    bucket = "bkt" if style == "virtual" else None
    with pytest.raises(ServiceError) as ei:
        parse_sigv4(req)
    assert ei.value.code == "InvalidRequest"
    cred = parse_sigv2(req)
    assert cred is not None and cred.presigned and cred.access_key == AK
    verify_sigv2(req, cred, SK, now=NOW(), bucket_in_host=bucket)
    with pytest.raises(ServiceError) as ei:
        verify_sigv2(req, cred, SK + "x", now=NOW(), bucket_in_host=bucket)
    assert (ei.value.code, ei.value.status) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ServiceError) as ei:
        verify_sigv2(dataclasses.replace(req, path=req.path + "x"), cred, SK, now=NOW(), bucket_in_host=bucket)
    assert ei.value.code == "SignatureDoesNotMatch"
    with pytest.raises(ServiceError) as ei:
        verify_sigv2(req, cred, SK, now=NOW() + timedelta(seconds=200), bucket_in_host=bucket)
    assert (ei.value.code, ei.value.status, ei.value.message) == ("AccessDenied", 403, "Request has expired")


def test_presigned_put_with_token_and_content_type():
    c = client("s3", token="TOK/+=")
    url = c.generate_presigned_url(
        "put_object", Params={"Bucket": "bkt", "Key": "k", "ContentType": "image/png"}, ExpiresIn=60
    )
    req = to_http_request(AWSRequest("PUT", url, headers={"Content-Type": "image/png"}, data=b"x"))
    cred = parse_sigv2(req)
    assert cred.session_token == "TOK/+="
    verify_sigv2(req, cred, SK, now=NOW())


def test_sigv2_header_auth():
    r = AWSRequest("PUT", "https://nimbus.test/bkt/k%20y?acl", headers={"x-amz-acl": "private", "Content-Type": "text/plain"}, data=b"")
    HmacV1Auth(Credentials(AK, SK)).add_auth(r)
    req = to_http_request(r)
    cred = parse_sigv2(req)
    assert not cred.presigned
    verify_sigv2(req, cred, SK, now=NOW())
    with pytest.raises(ServiceError) as ei:
        verify_sigv2(req, cred, SK, now=NOW() + timedelta(minutes=20))
    assert ei.value.code == "RequestTimeTooSkewed"


def test_not_sigv2():
    req = to_http_request(capture(client("s3"), "list_buckets"))
    assert parse_sigv2(req) is None
