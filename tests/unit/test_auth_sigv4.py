"""SigV4 verification against requests signed by real botocore clients and signers."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from nimbus.auth.errors import auth_error
from nimbus.auth.sigv4 import (
    SigV4Credential,
    canonical_request,
    credential_scope_service,
    parse_sigv4,
    signing_key,
    verify_sigv4,
)
from nimbus.auth.testing import TEST_ACCESS_KEY, TEST_SECRET_KEY, boto3_client, capture, to_http_request
from nimbus.errors import ServiceError
from nimbus.protocol.http import HttpRequest

AK, SK = TEST_ACCESS_KEY, TEST_SECRET_KEY
NOW = lambda: datetime.now(timezone.utc)  # noqa: E731  (botocore signs with the real clock)
client = boto3_client


def verify(req: HttpRequest, secret: str = SK, now: datetime | None = None) -> SigV4Credential:
    cred = parse_sigv4(req)
    assert cred is not None
    verify_sigv4(req, cred, secret, now=now or NOW())
    return cred


def expect_error(code: str, status: int, fn, *args, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as ei:
        fn(*args, **kwargs)
    assert (ei.value.code, ei.value.status) == (code, status), ei.value
    return ei.value


def with_header(req: HttpRequest, name: str, value: str) -> HttpRequest:
    h = CIMultiDict(req.headers)
    h[name] = value
    return dataclasses.replace(req, headers=h, _query_params=None)


# ------------------------------------------------------------------ real clients


CASES = [
    ("sts", "get_caller_identity", {}),
    ("iam", "list_users", {"PathPrefix": "/a b/ü/"}),
    ("kms", "list_keys", {}),
    ("kms", "encrypt", {"KeyId": "alias/x", "Plaintext": b"\x00\xff secret"}),
    ("ec2", "describe_instances", {"Filters": [{"Name": "tag:Name", "Values": ["a b", "c&d=e"]}]}),
    ("cloudwatch", "list_metrics", {"Namespace": "AWS/EC2"}),
    ("lambda", "get_function", {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f"}),
    ("efs", "describe_file_systems", {"FileSystemId": "fs-123"}),
    ("route53", "list_resource_record_sets", {"HostedZoneId": "Z123", "StartRecordName": "a b.example."}),
    ("s3", "list_objects_v2", {"Bucket": "bkt", "Prefix": "dir with space/ü+=&", "MaxKeys": 5}),
    ("s3", "get_object", {"Bucket": "bkt", "Key": "a b/c+d/ü~!*'()$@&=;:,?#[]%20x//y/../z"}),
    ("s3", "put_object", {"Bucket": "bkt", "Key": "k/é", "Body": b"x" * 1000}),
    ("s3", "put_bucket_tagging", {"Bucket": "bkt", "Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}}),
]


@pytest.mark.parametrize("endpoint", ["https://nimbus.test:4566", "http://localhost:4566"])
@pytest.mark.parametrize("service,method,kwargs", CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_real_client_requests_verify(service, method, kwargs, endpoint):
    req = to_http_request(capture(client(service, endpoint=endpoint), method, **kwargs))
    cred = verify(req)
    assert cred.access_key == AK and cred.region == "us-east-1" and not cred.presigned
    assert credential_scope_service(req) == ("us-east-1", cred.service)
    # the wrong secret fails with the service family's code
    with pytest.raises(ServiceError) as ei:
        verify(req, secret=SK + "x")
    assert ei.value.code in ("SignatureDoesNotMatch", "InvalidSignatureException", "AuthFailure")


def test_s3_virtual_host_and_session_token():
    c = client("s3", token="FwoGZXIvYXdzEXAMPLETOKEN//+=", s3={"addressing_style": "virtual"})
    req = to_http_request(capture(c, "head_object", Bucket="bkt", Key="a/b c"))
    assert req.host.startswith("bkt.")
    cred = verify(req)
    assert cred.session_token == "FwoGZXIvYXdzEXAMPLETOKEN//+="
    assert "x-amz-security-token" in cred.signed_headers


def test_s3_unsigned_payload_over_https():
    c = client("s3", s3={"payload_signing_enabled": False})
    req = to_http_request(capture(c, "put_bucket_tagging", Bucket="b", Tagging={"TagSet": []}))
    cred = verify(req)
    assert cred.content_sha256 in ("UNSIGNED-PAYLOAD",) or len(cred.content_sha256) == 64


# ------------------------------------------------------------------ tampering


def test_tampered_header_query_body():
    req = to_http_request(capture(client("s3"), "list_objects_v2", Bucket="bkt", Prefix="p"))
    verify(req)
    assert "prefix=p" in req.query
    q2 = req.query.replace("prefix=p", "prefix=q")
    expect_error("SignatureDoesNotMatch", 403, verify, dataclasses.replace(req, query=q2, _query_params=None))
    expect_error("SignatureDoesNotMatch", 403, verify, dataclasses.replace(req, path="/other"))
    expect_error("SignatureDoesNotMatch", 403, verify, dataclasses.replace(req, method="DELETE"))
    expect_error("SignatureDoesNotMatch", 403, verify, with_header(req, "Host", "evil.test:4566"))
    # an unsigned header may change freely
    verify(with_header(req, "User-Agent", "curl/8"))

    sts = to_http_request(capture(client("sts"), "get_caller_identity"))
    err = expect_error("SignatureDoesNotMatch", 403, verify, dataclasses.replace(sts, body=sts.body + b"&x=1"))
    assert "The Canonical String for this request should have been" in err.message
    kms = to_http_request(capture(client("kms"), "list_keys"))
    expect_error("InvalidSignatureException", 400, verify, dataclasses.replace(kms, body=b"{\"Limit\": 1}"))
    ec2 = to_http_request(capture(client("ec2"), "describe_vpcs"))
    expect_error("AuthFailure", 401, verify, ec2, SK + "x")


def test_s3_body_hash_mismatch_in_memory():
    req = to_http_request(capture(client("s3", endpoint="http://localhost:4566"), "put_bucket_tagging",
                                  Bucket="b", Tagging={"TagSet": []}))
    verify(req)
    err = expect_error("XAmzContentSHA256Mismatch", 400, verify, dataclasses.replace(req, body=req.body + b" "))
    assert err.fields["ClientComputedContentSHA256"] == req.headers["x-amz-content-sha256"]


def test_s3_missing_content_sha256_header():
    req = to_http_request(capture(client("s3"), "list_buckets"))
    h = CIMultiDict(req.headers)
    del h["x-amz-content-sha256"]
    r2 = dataclasses.replace(req, headers=h)
    expect_error("InvalidRequest", 400, verify, r2)


# ------------------------------------------------------------------ time


@pytest.mark.parametrize(
    "service,method,code,status",
    [
        ("s3", "list_buckets", "RequestTimeTooSkewed", 403),
        ("sts", "get_caller_identity", "SignatureDoesNotMatch", 403),
        ("kms", "list_keys", "InvalidSignatureException", 400),
        ("ec2", "describe_vpcs", "RequestExpired", 400),
        ("lambda", "list_functions", "InvalidSignatureException", 403),
    ],
)
def test_clock_skew(service, method, code, status):
    req = to_http_request(capture(client(service), method))
    verify(req, now=NOW() + timedelta(minutes=14))
    verify(req, now=NOW() - timedelta(minutes=14))
    err = expect_error(code, status, verify, req, now=NOW() + timedelta(minutes=16))
    if service == "sts":
        assert err.message.startswith("Signature expired: ") and err.message.endswith(" - 15 min.)")
    if service == "s3":
        assert err.fields["MaxAllowedSkewMilliseconds"] == "900000"
    err = expect_error(code, status, verify, req, now=NOW() - timedelta(minutes=16))
    if service == "sts":
        assert err.message.startswith("Signature not yet current: ")


# ------------------------------------------------------------------ presigned


def test_s3_presigned_url_from_generate_presigned_url():
    c = client("s3", signature_version="s3v4")
    key = "photos/2024/a b+c ü.jpg"
    url = c.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": key}, ExpiresIn=300)
    req = to_http_request(AWSRequest("GET", url, headers={}))
    cred = verify(req)
    assert cred.presigned and cred.expires == 300 and cred.content_sha256 == "UNSIGNED-PAYLOAD"
    assert credential_scope_service(req) == ("us-east-1", "s3")
    # tampering the key, a parameter, or the expiry
    expect_error("SignatureDoesNotMatch", 403, verify, dataclasses.replace(req, path=req.path + "x"))
    q2 = req.query.replace("X-Amz-Expires=300", "X-Amz-Expires=3000")
    expect_error("SignatureDoesNotMatch", 403, verify, dataclasses.replace(req, query=q2, _query_params=None))
    # expiry
    cred = parse_sigv4(req)
    verify_sigv4(req, cred, SK, now=cred.amz_date + timedelta(seconds=299))
    err = expect_error("AccessDenied", 403, verify_sigv4, req, cred, SK, now=cred.amz_date + timedelta(seconds=301))
    assert err.message == "Request has expired" and err.fields["X-Amz-Expires"] == "300"
    # unsigned x-amz-* headers are refused on presigned requests
    err = expect_error("AccessDenied", 403, verify, with_header(req, "x-amz-acl", "public-read"))
    assert err.fields["HeadersNotSigned"] == "x-amz-acl"


def test_s3_presigned_put_with_token_and_signed_header():
    c = client("s3", token="TOKEN/+=", signature_version="s3v4")
    url = c.generate_presigned_url(
        "put_object", Params={"Bucket": "bkt", "Key": "k", "ContentType": "text/plain"}, ExpiresIn=60
    )
    req = to_http_request(AWSRequest("PUT", url, headers={"Content-Type": "text/plain"}, data=b"anything"))
    cred = verify(req)
    assert cred.session_token == "TOKEN/+="


def test_presigned_expires_limit():
    signer = S3SigV4QueryAuth(Credentials(AK, SK), "s3", "us-east-1", expires=604801)
    r = AWSRequest("GET", "https://nimbus.test/bkt/k", headers={})
    signer.add_auth(r)
    err = expect_error("AuthorizationQueryParametersError", 400, parse_sigv4, to_http_request(r))
    assert "604800" in err.message


def test_presigned_missing_params():
    req = HttpRequest("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00", CIMultiDict(host="h"))
    expect_error("AuthorizationQueryParametersError", 400, parse_sigv4, req)


def test_non_s3_presigned_sts():
    c = client("sts")
    # the model's method (POST) is what boto3 signs unless HttpMethod is given
    url = c.generate_presigned_url("get_caller_identity", ExpiresIn=60)
    cred = verify(to_http_request(AWSRequest("POST", url, headers={})))
    expect_error("SignatureDoesNotMatch", 403, verify, to_http_request(AWSRequest("GET", url, headers={})))
    url = c.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    req = to_http_request(AWSRequest("GET", url, headers={}))
    cred = verify(req)
    assert cred.service == "sts" and cred.presigned and cred.expires == 60
    expect_error("SignatureDoesNotMatch", 403, verify_sigv4, req, cred, SK, now=cred.amz_date + timedelta(seconds=61))


def test_sigv4_query_auth_with_body_params():
    # botocore's SigV4QueryAuth moves form params into the query string
    r = AWSRequest("POST", "https://nimbus.test/", data={"Action": "ListUsers", "Version": "2010-05-08"}, headers={})
    SigV4QueryAuth(Credentials(AK, SK), "iam", "us-east-1", expires=60).add_auth(r)
    verify(to_http_request(r))


# ------------------------------------------------------------------ malformed & anonymous


def test_anonymous_is_none():
    req = HttpRequest("GET", "/bkt/k", "prefix=X-Amz-Algorithm%3Dx", CIMultiDict(host="h"))
    assert parse_sigv4(req) is None
    assert credential_scope_service(req) is None


@pytest.mark.parametrize(
    "auth,service_hint,code,status",
    [
        ("AWS AKIDEXAMPLE:c2lnbmF0dXJl", None, "InvalidRequest", 400),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, SignedHeaders=host", None,
         "AuthorizationHeaderMalformed", 400),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/s3/aws4_request, SignedHeaders=host, Signature=00", "s3",
         "AuthorizationHeaderMalformed", 400),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/sts/aws4_request, Signature=00", None,
         "IncompleteSignature", 400),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/kms/aws4_request, Signature=00", None,
         "IncompleteSignatureException", 400),
        ("Bearer xyz", "s3", "InvalidRequest", 400),
    ],
)
def test_malformed_authorization(auth, service_hint, code, status):
    req = HttpRequest("GET", "/", "", CIMultiDict({"host": "h", "Authorization": auth, "x-amz-date": "20240101T000000Z"}))
    expect_error(code, status, parse_sigv4, req, service_hint=service_hint)


def test_credential_date_must_match():
    r = AWSRequest("GET", "https://nimbus.test/bkt", headers={})
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(r)
    req = to_http_request(r)
    other = "20000101T000000Z"
    expect_error("AuthorizationHeaderMalformed", 400, parse_sigv4, with_header(req, "X-Amz-Date", other))


def test_missing_date():
    auth = "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
    req = HttpRequest("GET", "/", "", CIMultiDict({"host": "h", "Authorization": auth}))
    expect_error("AccessDenied", 403, parse_sigv4, req)


# ------------------------------------------------------------------ canonical request == botocore's


class _Capturing:
    def canonical_request(self, request):  # type: ignore[override]
        cr = super().canonical_request(request)  # type: ignore[misc]
        self.captured = cr
        return cr


class CapturingSigV4(_Capturing, SigV4Auth):
    pass


class CapturingS3(_Capturing, S3SigV4Auth):
    pass


@pytest.mark.parametrize(
    "signer_cls,service,url,method,body",
    [
        (CapturingSigV4, "sts", "https://sts.amazonaws.com/", "POST", b"Action=GetCallerIdentity&Version=2011-06-15"),
        (CapturingSigV4, "lambda", "https://l.test/2015-03-31/functions/arn%3Aaws%3Alambda%3Ax/a%20b//c/./d/../e",
         "GET", b""),
        (CapturingSigV4, "execute-api", "https://api.test/prod/a%2Fb?b=2&a=1&a=0&c=~&d=a%20b", "GET", b""),
        (CapturingS3, "s3", "https://s3.test/bkt/a%20b/c%2Bd//e/./f?list-type=2&prefix=a%2Fb&x=", "GET", b""),
        (CapturingS3, "s3", "https://s3.test/bkt/k", "PUT", b"data"),
    ],
)
def test_canonical_request_matches_botocore(signer_cls, service, url, method, body):
    signer = signer_cls(Credentials(AK, SK, "tok"), service, "eu-west-1")
    r = AWSRequest(method, url, data=body, headers={"X-Amz-Meta-A": "  a   b  ", "Content-Type": "text/plain"})
    signer.add_auth(r)
    req = to_http_request(r)
    cred = parse_sigv4(req)
    payload = cred.content_sha256 or __import__("hashlib").sha256(body).hexdigest()
    assert canonical_request(req, cred, payload) == signer.captured
    verify_sigv4(req, cred, SK, now=NOW())


def test_signing_key_is_cached_and_matches_aws_example():
    # AWS SigV4 docs example: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam
    k = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert k.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    assert signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam") is k


def test_auth_error_table():
    assert (auth_error("unknown_key", "s3").code, auth_error("unknown_key", "s3").status) == ("InvalidAccessKeyId", 403)
    assert (auth_error("unknown_key", "sts").code, auth_error("unknown_key", "sts").status) == (
        "InvalidClientTokenId",
        403,
    )
    assert auth_error("unknown_key", "sts").message == "The security token included in the request is invalid."
    assert (auth_error("unknown_key", "kms").code, auth_error("unknown_key", "kms").status) == (
        "UnrecognizedClientException",
        400,
    )
    assert (auth_error("unknown_key", "ec2").code, auth_error("unknown_key", "ec2").status) == ("AuthFailure", 401)
    assert (auth_error("token_expired", "sts").code, auth_error("token_expired", "sts").status) == ("ExpiredToken", 400)
    assert auth_error("token_expired", "kms").code == "ExpiredTokenException"
    assert (auth_error("missing", "iam").code, auth_error("missing", "iam").status) == (
        "MissingAuthenticationToken",
        403,
    )
    assert auth_error("missing", "s3").code == "AccessDenied"
    assert auth_error("expired", "ec2").code == "RequestExpired"
    assert auth_error("malformed", "s3", "x").message == "The authorization header is malformed; x"
    with pytest.raises(ValueError):
        auth_error("nope", "s3")
