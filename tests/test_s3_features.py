"""S3 beyond the basics: versions, encryption, access control, website, CORS, POST, lifecycle.

Driven through boto3, the AWS CLI and plain HTTP (``requests`` as a browser would),
against a real Nimbus process.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError


def error_of(call) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def code_of(call) -> str:
    return error_of(call).response["Error"]["Code"]


@pytest.fixture
def s3(nimbus):
    return nimbus.client("s3")


@pytest.fixture
def bucket(s3, request):
    name = "f-" + request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:45].strip("-")
    s3.create_bucket(Bucket=name)
    return name


def public_read_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def make_public(s3, bucket: str) -> None:
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket))


def s3control_client(nimbus):
    """s3control puts the account id in the host name (<account>.localhost does not resolve
    everywhere): send to 127.0.0.1, keep the signed Host header."""
    control = nimbus.client("s3control")

    def to_loopback(request, **_):
        from urllib.parse import urlsplit

        host = urlsplit(request.url).netloc
        request.headers["Host"] = host
        request.url = request.url.replace(host.split(":")[0], "127.0.0.1", 1)

    control.meta.events.register("before-send.s3-control", to_loopback)
    return control


# -- versioning -------------------------------------------------------------------------


def test_versioning_keeps_and_restores_versions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"two"
    assert s3.get_object(Bucket=bucket, Key="doc.txt", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="doc.txt", VersionId="null")["Body"].read() == b"before versioning"

    marker = s3.delete_object(Bucket=bucket, Key="doc.txt")
    assert marker["DeleteMarker"] is True
    err = error_of(lambda: s3.get_object(Bucket=bucket, Key="doc.txt"))
    assert err.response["Error"]["Code"] == "NoSuchKey"
    assert err.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="doc.txt", VersionId=marker["VersionId"])) == "MethodNotAllowed"

    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing["Versions"]] == [v2, v1, "null"]
    assert listing["DeleteMarkers"][0]["IsLatest"] is True
    assert not any(v["IsLatest"] for v in listing["Versions"])

    # restore by deleting the marker
    s3.delete_object(Bucket=bucket, Key="doc.txt", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"two"
    # permanently delete the newest version: the previous one becomes current
    s3.delete_object(Bucket=bucket, Key="doc.txt", VersionId=v2)
    head = s3.head_object(Bucket=bucket, Key="doc.txt")
    assert head["VersionId"] == v1
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="doc.txt", VersionId="0" * 32)) == "NoSuchVersion"
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="doc.txt", VersionId="bogus")) == "InvalidArgument"


def test_suspended_versioning_writes_null_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"a").get("VersionId", "null") == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"b")
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert ids == ["null", kept]  # the second null write replaced the first
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"b"
    assert code_of(lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Bogus"})) == "MalformedXML"


def test_list_object_versions_paginates(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    expected = []
    for key in ("a", "b", "c"):
        for i in range(3):
            expected.append((key, s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())["VersionId"]))
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    want = sorted(expected, key=lambda kv: (kv[0], -expected.index(kv)))
    assert seen == want


def test_mfa_delete_requires_a_token(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # enabling MFA delete needs x-amz-mfa with a valid device code
    assert code_of(lambda: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})) == "AccessDenied"
    assert code_of(lambda: s3.put_bucket_versioning(
        Bucket=bucket, MFA="arn:aws:iam::000000000000:mfa/nobody 123456",
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})) == "AccessDenied"
    assert "MFADelete" not in s3.get_bucket_versioning(Bucket=bucket)


# -- encryption -----------------------------------------------------------------------------


def _data_files(nimbus) -> list[bytes]:
    out = []
    for root, _, files in os.walk(nimbus.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out.append(f.read())
    return out


def test_sse_s3_and_kms_bytes_on_disk_are_ciphertext(nimbus, s3, bucket):
    secret_a = b"TOP-SECRET-SSE-S3-" + os.urandom(8).hex().encode() * 50
    secret_b = b"TOP-SECRET-SSE-KMS-" + os.urandom(8).hex().encode() * 50
    put = s3.put_object(Bucket=bucket, Key="a", Body=secret_a, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    kms = nimbus.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    put = s3.put_object(Bucket=bucket, Key="b", Body=secret_b, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert put["ServerSideEncryption"] == "aws:kms" and key_id in put["SSEKMSKeyId"]
    got = s3.get_object(Bucket=bucket, Key="b")
    assert got["Body"].read() == secret_b and got["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="a", Range="bytes=18-40")["Body"].read() == secret_a[18:41]
    for blob in _data_files(nimbus):
        assert b"TOP-SECRET-SSE" not in blob
    # a disabled key refuses reads with the KMS error
    kms.disable_key(KeyId=key_id)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="b")) == "KMS.DisabledException"
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)) == "KMS.DisabledException"
    kms.enable_key(KeyId=key_id)
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == secret_b
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="d", Body=b"x", ServerSideEncryption="AES128")) == "InvalidArgument"


def test_default_bucket_encryption_and_large_ranged_reads(nimbus, s3, bucket):
    assert code_of(lambda: s3.get_bucket_encryption(Bucket=bucket)) == "ServerSideEncryptionConfigurationNotFoundError"
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    data = os.urandom(3 * 1024 * 1024 + 123)
    put = s3.put_object(Bucket=bucket, Key="big", Body=data)
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == data
    for first, last in ((0, 0), (262143, 262144), (1000000, 2999999), (len(data) - 10, len(data) - 1)):
        body = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={first}-{last}")["Body"].read()
        assert body == data[first:last + 1]
    # multipart under default encryption, then a copy
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    parts = []
    for n, chunk in enumerate((data[:5 * 1024 * 1024 // 2 * 2], data), start=1):
        pass
    part1 = os.urandom(5 * 1024 * 1024)
    part2 = b"tail"
    for n, chunk in ((1, part1), (2, part2)):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=chunk)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="mp", Range="bytes=5242878-5242881")["Body"].read() == part1[-2:] + b"ta"
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert s3.get_object(Bucket=bucket, Key="mp-copy")["Body"].read() == part1 + part2
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="plain", Body=b"p")


def test_sse_c_refused_over_http_and_works_over_https(nimbus, bucket):
    key = os.urandom(32)
    http = nimbus.client("s3")
    err = error_of(lambda: http.put_object(Bucket=bucket, Key="c", Body=b"customer secret", SSECustomerAlgorithm="AES256", SSECustomerKey=key))
    assert err.response["Error"]["Code"] == "InvalidRequest"
    assert "secure connection" in err.response["Error"]["Message"]
    https = nimbus.client("s3", https=True)
    put = https.put_object(Bucket=bucket, Key="c", Body=b"customer secret " * 100, SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert put["SSECustomerAlgorithm"] == "AES256"
    got = https.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert got["Body"].read() == b"customer secret " * 100
    assert https.head_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)["ContentLength"] == 1600
    assert code_of(lambda: https.get_object(Bucket=bucket, Key="c")) == "InvalidRequest"
    assert code_of(lambda: https.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))) == "AccessDenied"
    assert code_of(lambda: https.put_object(Bucket=bucket, Key="short", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(16))) == "InvalidArgument"
    assert code_of(lambda: https.head_object(Bucket=bucket, Key="short")) == "404"
    for blob in _data_files(nimbus):
        assert b"customer secret" not in blob and key not in blob


# -- access control ---------------------------------------------------------------------------


def test_block_public_access_and_acls(nimbus, s3, bucket):
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    err = error_of(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket)))
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert code_of(lambda: s3.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
    assert code_of(lambda: s3.put_bucket_policy(Bucket=bucket, Policy="{not json")) == "MalformedPolicy"
    assert code_of(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]}))) == "MalformedPolicy"
    # BucketOwnerEnforced (the default) refuses ACLs
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")) == "AccessControlListNotSupported"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    # BlockPublicAcls refuses a public ACL
    assert code_of(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")) == "AccessDenied"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "PublicRead"
    # account-level Block Public Access (s3control) makes the policy status non-public
    control = s3control_client(nimbus)
    control.put_public_access_block(AccountId="000000000000", PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    try:
        assert control.get_public_access_block(AccountId="000000000000")["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
        assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    finally:
        control.delete_public_access_block(AccountId="000000000000")
    assert code_of(lambda: control.get_public_access_block(AccountId="000000000000")) == "NoSuchPublicAccessBlockConfiguration"


def test_anonymous_get_only_what_is_public(nimbus, s3, bucket):
    s3.put_object(Bucket=bucket, Key="page.txt", Body=b"public page")
    url = f"{nimbus.endpoint}/{bucket}/page.txt"
    assert requests.get(url).status_code == 403
    make_public(s3, bucket)
    response = requests.get(url)
    assert response.status_code == 200 and response.content == b"public page"
    assert requests.put(url, data=b"overwrite").status_code == 403
    assert requests.get(f"{nimbus.endpoint}/{bucket}").status_code == 403  # listing is not public


def test_policy_forcing_encryption(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyUnencrypted", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}]}))
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x")) == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ServerSideEncryption="AES256")


# -- presigned URLs and POST ------------------------------------------------------------------


def test_presigned_urls(nimbus, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=60)
    assert requests.get(url).content == b"presigned"
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=1)
    time.sleep(1.1)  # presigned expiry is real time, as in AWS (cannot move it with the clock)
    response = requests.get(expired)
    assert response.status_code == 403 and b"expired" in response.content.lower()
    assert requests.put(url, data=b"x").status_code == 403  # signed for GET, not PUT
    tampered = url.replace("p.txt", "q.txt")
    assert requests.get(tampered).status_code == 403


def test_presigned_post(nimbus, s3, bucket):
    post = s3.generate_presigned_post(bucket, "uploads/${filename}",
                                      Fields={"Content-Type": "text/plain"},
                                      Conditions=[["starts-with", "$key", "uploads/"], {"Content-Type": "text/plain"},
                                                  ["content-length-range", 1, 100]], ExpiresIn=300)
    response = requests.post(post["url"], data=post["fields"], files={"file": ("hello.txt", b"hello form")})
    assert response.status_code == 204, response.text
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"hello form" and got["ContentType"] == "text/plain"
    too_big = requests.post(post["url"], data=post["fields"], files={"file": ("big.txt", b"x" * 101)})
    assert too_big.status_code == 400 and b"EntityTooLarge" in too_big.content
    wrong = dict(post["fields"], **{"Content-Type": "text/html"})
    refused = requests.post(post["url"], data=wrong, files={"file": ("x.txt", b"x")})
    assert refused.status_code == 403 and b"Policy Condition failed" in refused.content, refused.text
    forged = dict(post["fields"], signature=base64.b64encode(b"0" * 20).decode())
    forged_response = requests.post(post["url"], data=forged, files={"file": ("x.txt", b"x")})
    assert forged_response.status_code == 403 and b"SignatureDoesNotMatch" in forged_response.content
    extra = dict(post["fields"], **{"x-amz-meta-sneaky": "1"})
    assert b"Extra input fields" in requests.post(post["url"], data=extra, files={"file": ("x.txt", b"x")}).content
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="uploads/big.txt")) == "404"


# -- website and CORS ----------------------------------------------------------------------


def test_static_website(nimbus, s3, bucket):
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>home</h1>", ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="error.html", Body=b"<h1>oops</h1>", ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="docs/index.html", Body=b"<h1>docs</h1>", ContentType="text/html")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "docs/"}}]})
    assert s3.get_bucket_website(Bucket=bucket)["IndexDocument"]["Suffix"] == "index.html"
    base = f"http://127.0.0.1:{nimbus.port}"
    hosts = (f"{bucket}.s3-website-us-east-1.localhost:{nimbus.port}", f"{bucket}.s3-website.us-east-1.localhost:{nimbus.port}")
    for host in hosts:
        forbidden = requests.get(base + "/", headers={"Host": host})
        assert forbidden.status_code == 403 and forbidden.headers["Content-Type"].startswith("text/html")
        assert b"AccessDenied" in forbidden.content and b"<?xml" not in forbidden.content
    make_public(s3, bucket)
    for host in hosts:
        home = requests.get(base + "/", headers={"Host": host})
        assert home.status_code == 200 and home.content == b"<h1>home</h1>" and home.headers["Content-Type"] == "text/html"
    host = hosts[0]
    assert requests.get(base + "/docs/", headers={"Host": host}).content == b"<h1>docs</h1>"
    moved = requests.get(base + "/docs", headers={"Host": host}, allow_redirects=False)
    assert moved.status_code == 302 and moved.headers["Location"] == "/docs/"
    missing = requests.get(base + "/nothing.html", headers={"Host": host})
    assert missing.status_code == 404 and missing.content == b"<h1>oops</h1>"
    redirected = requests.get(base + "/old/index.html", headers={"Host": host}, allow_redirects=False)
    assert redirected.status_code == 301 and redirected.headers["Location"].endswith("/docs/index.html")
    assert requests.post(base + "/", headers={"Host": host}).status_code == 405
    no_site = requests.get(base + "/", headers={"Host": f"nosuch-bucket-xyz.s3-website-us-east-1.localhost:{nimbus.port}"})
    assert no_site.status_code == 404 and b"NoSuchBucket" in no_site.content
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}})
    everything = requests.get(base + "/a/b", headers={"Host": host}, allow_redirects=False)
    assert everything.status_code == 301 and everything.headers["Location"] == "https://example.com/a/b"
    assert code_of(lambda: s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "a/b"}})) == "InvalidArgument"


def test_cors(nimbus, s3, bucket):
    url = f"{nimbus.endpoint}/{bucket}/obj"
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type,x-amz-meta-a"}
    assert requests.options(url, headers=preflight).status_code == 403  # no configuration
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type", "x-amz-meta-*"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    ok = requests.options(url, headers=preflight)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "PUT" in ok.headers["Access-Control-Allow-Methods"]
    assert ok.headers["Access-Control-Max-Age"] == "600"
    assert "content-type" in ok.headers["Access-Control-Allow-Headers"]
    other = requests.options(url, headers=dict(preflight, Origin="https://evil.test"))
    assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other.headers
    assert requests.options(url, headers=dict(preflight, **{"Access-Control-Request-Method": "DELETE"})).status_code == 403
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"})
    actual = requests.get(signed, headers={"Origin": "https://app.example.com"})
    assert actual.status_code == 200 and actual.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert actual.headers["Access-Control-Expose-Headers"] == "ETag"
    assert "Access-Control-Allow-Origin" not in requests.get(signed, headers={"Origin": "https://evil.test"}).headers
    assert code_of(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})) == "InvalidRequest"
    s3.delete_bucket_cors(Bucket=bucket)
    assert code_of(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"


# -- objects: tags, copies, batch deletes ----------------------------------------------------


def test_tags_copy_and_delete_objects(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "web"}]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source", Metadata={"a": "1"}, ContentType="text/plain", Tagging="x=1&y=2")
    assert s3.get_object(Bucket=bucket, Key="src")["TagCount"] == 2
    assert {t["Key"] for t in s3.get_object_tagging(Bucket=bucket, Key="src")["TagSet"]} == {"x", "y"}
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/src")
    copy = s3.get_object(Bucket=bucket, Key="copy")
    assert copy["Body"].read() == b"source" and copy["Metadata"] == {"a": "1"} and copy["ContentType"] == "text/plain"
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="application/json")
    head = s3.head_object(Bucket=bucket, Key="copy2")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "application/json"
    assert code_of(lambda: s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")) == "InvalidRequest"
    assert code_of(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")) == "NoSuchKey"
    assert code_of(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/src", CopySourceIfMatch='"nope"')) == "PreconditionFailed"
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src"}, {"Key": "copy"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["copy", "never", "src"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["copy2"]
    assert code_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="copy2", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})) == "InvalidTag"


def test_upload_part_copy(s3, bucket):
    data = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled")
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload["UploadId"], PartNumber=1,
                             CopySource=f"{bucket}/big", CopySourceRange="bytes=0-5242879")["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload["UploadId"], PartNumber=2,
                             CopySource=f"{bucket}/big", CopySourceRange=f"bytes=5242880-{len(data) - 1}")["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == data


# -- object lock ---------------------------------------------------------------------------


def test_object_lock(nimbus, s3):
    name = "f-object-lock-bucket"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    now = dt.datetime.fromisoformat(nimbus.advance_clock(0)["now"])  # retention runs on the simulation clock
    until = now + dt.timedelta(days=2)
    v = s3.put_object(Bucket=name, Key="gov", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    assert s3.get_object_retention(Bucket=name, Key="gov")["Retention"]["Mode"] == "GOVERNANCE"
    assert code_of(lambda: s3.delete_object(Bucket=name, Key="gov", VersionId=v)) == "AccessDenied"
    s3.delete_object(Bucket=name, Key="gov")  # a delete marker is always allowed
    s3.delete_object(Bucket=name, Key="gov", VersionId=v, BypassGovernanceRetention=True)
    c = s3.put_object(Bucket=name, Key="comp", Body=b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    assert code_of(lambda: s3.delete_object(Bucket=name, Key="comp", VersionId=c, BypassGovernanceRetention=True)) == "AccessDenied"
    assert code_of(lambda: s3.put_object_retention(Bucket=name, Key="comp", VersionId=c, BypassGovernanceRetention=True,
                                                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})) == "AccessDenied"
    h = s3.put_object(Bucket=name, Key="hold", Body=b"x")["VersionId"]
    s3.put_object_legal_hold(Bucket=name, Key="hold", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=name, Key="hold")["LegalHold"]["Status"] == "ON"
    assert code_of(lambda: s3.delete_object(Bucket=name, Key="hold", VersionId=h)) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=name, Key="hold", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=name, Key="hold", VersionId=h)
    # retention ends on the simulation clock
    nimbus.advance_clock(3 * 86400)
    s3.delete_object(Bucket=name, Key="comp", VersionId=c)
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    d = s3.put_object(Bucket=name, Key="default", Body=b"x")["VersionId"]
    assert s3.head_object(Bucket=name, Key="default")["ObjectLockMode"] == "GOVERNANCE"
    assert code_of(lambda: s3.delete_object(Bucket=name, Key="default", VersionId=d)) == "AccessDenied"
    assert code_of(lambda: s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})) == "InvalidBucketState"


# -- lifecycle and access logs on the clock ---------------------------------------------------


def test_lifecycle_rules_run_on_the_clock(nimbus, s3):
    name = "f-lifecycle-bucket"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 2}},
        {"ID": "mpu", "Status": "Enabled", "Filter": {}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert [r["ID"] for r in rules] == ["logs", "mpu"]
    s3.put_object(Bucket=name, Key="logs/a", Body=b"old")
    s3.put_object(Bucket=name, Key="keep/b", Body=b"kept")
    s3.create_multipart_upload(Bucket=name, Key="pending")
    nimbus.advance_clock(2 * 86400 + 60)
    assert code_of(lambda: s3.get_object(Bucket=name, Key="logs/a")) == "NoSuchKey"  # expired: a delete marker
    assert s3.get_object(Bucket=name, Key="keep/b")["Body"].read() == b"kept"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=name)
    assert len(s3.list_object_versions(Bucket=name, Prefix="logs/").get("Versions", [])) == 1
    nimbus.advance_clock(3 * 86400)
    versions = s3.list_object_versions(Bucket=name, Prefix="logs/")
    assert "Versions" not in versions  # the noncurrent version expired too
    assert code_of(lambda: s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "bad", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}]})) == "InvalidArgument"


def test_server_access_logs_are_delivered(nimbus, s3):
    s3.create_bucket(Bucket="f-logged-bucket")
    s3.create_bucket(Bucket="f-log-target")
    s3.put_bucket_logging(Bucket="f-logged-bucket", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "f-log-target", "TargetPrefix": "access/"}})
    assert s3.get_bucket_logging(Bucket="f-logged-bucket")["LoggingEnabled"]["TargetPrefix"] == "access/"
    s3.put_object(Bucket="f-logged-bucket", Key="seen.txt", Body=b"x")
    s3.get_object(Bucket="f-logged-bucket", Key="seen.txt")["Body"].read()
    code_of(lambda: s3.get_object(Bucket="f-logged-bucket", Key="missing.txt"))
    nimbus.advance_clock(3600)
    objects = s3.list_objects_v2(Bucket="f-log-target", Prefix="access/").get("Contents", [])
    assert objects
    text = b"".join(s3.get_object(Bucket="f-log-target", Key=o["Key"])["Body"].read() for o in objects).decode()
    assert "REST.PUT.OBJECT seen.txt" in text and "REST.GET.OBJECT seen.txt" in text
    assert " 404 NoSuchKey " in text
    assert code_of(lambda: s3.put_bucket_logging(Bucket="f-logged-bucket", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "no-such-target-bucket", "TargetPrefix": ""}})) == "InvalidTargetBucketForLogging"


# -- consistency, CLI sync, restarts -----------------------------------------------------------


def test_strong_consistency_under_concurrent_writers(nimbus, bucket):
    clients = [nimbus.client("s3", max_pool_connections=4) for _ in range(4)]
    keys = [f"hot/{i}" for i in range(4)]
    stop = time.monotonic() + 3.0
    problems: list[str] = []

    def writer(client, seed):
        n = 0
        while time.monotonic() < stop:
            key = keys[(seed + n) % len(keys)]
            if n % 3 == 2:
                client.delete_object(Bucket=bucket, Key=key)
            else:
                body = (f"{seed}:{n}:".encode() * 2000)[: 1000 + n % 7 * 1000]
                client.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"md5": hashlib.md5(body).hexdigest()})
            n += 1

    def reader(client):
        while time.monotonic() < stop:
            listing = client.list_objects_v2(Bucket=bucket, Prefix="hot/").get("Contents", [])
            for item in listing:
                try:
                    got = client.get_object(Bucket=bucket, Key=item["Key"])
                except ClientError:
                    continue  # deleted after the listing: allowed
                body = got["Body"].read()
                if hashlib.md5(body).hexdigest() != got["Metadata"]["md5"] or len(body) != got["ContentLength"]:
                    problems.append(f"torn object {item['Key']}")
                if got["ETag"].strip('"') != hashlib.md5(body).hexdigest():
                    problems.append(f"etag mismatch {item['Key']}")

    threads = [threading.Thread(target=writer, args=(clients[i], i)) for i in range(2)]
    threads += [threading.Thread(target=reader, args=(clients[i],)) for i in range(2, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems[:5]
    # once writers stop, a listing and GETs agree exactly
    s3 = clients[0]
    listed = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="hot/").get("Contents", [])}
    for key in keys:
        if key in listed:
            assert s3.head_object(Bucket=bucket, Key=key)["ETag"] == listed[key]
        else:
            assert code_of(lambda: s3.head_object(Bucket=bucket, Key=key)) == "404"


def test_cli_sync_round_trip(nimbus, tmp_path):
    src = tmp_path / "src"
    for rel, size in (("a.txt", 10), ("dir/b.bin", 70000), ("dir/sub/c.txt", 0), ("big.bin", 9 * 1024 * 1024)):
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    nimbus.aws("s3", "mb", "s3://f-sync-bucket")
    nimbus.aws("s3", "sync", str(src), "s3://f-sync-bucket/tree")
    back = tmp_path / "back"
    nimbus.aws("s3", "sync", "s3://f-sync-bucket/tree", str(back))
    for path in src.rglob("*"):
        if path.is_file():
            assert (back / path.relative_to(src)).read_bytes() == path.read_bytes()
    again = nimbus.aws("s3", "sync", str(src), "s3://f-sync-bucket/tree")
    assert "upload:" not in again.stdout  # nothing changed, nothing sent


def test_everything_survives_a_restart(fresh_nimbus, tmp_path):
    server = fresh_nimbus()
    s3 = server.client("s3")
    s3.create_bucket(Bucket="durable")
    s3.put_bucket_versioning(Bucket="durable", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="durable", Key="k", Body=b"first", ServerSideEncryption="AES256")["VersionId"]
    s3.put_object(Bucket="durable", Key="k", Body=b"second")
    s3.put_bucket_cors(Bucket="durable", CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
    server.kill()
    server = fresh_nimbus(tmp_path / "data")
    s3 = server.client("s3")
    assert s3.get_object(Bucket="durable", Key="k")["Body"].read() == b"second"
    assert s3.get_object(Bucket="durable", Key="k", VersionId=v1)["Body"].read() == b"first"
    assert s3.get_bucket_cors(Bucket="durable")["CORSRules"][0]["AllowedMethods"] == ["GET"]
