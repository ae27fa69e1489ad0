"""S3 buckets and objects through boto3, the AWS CLI and plain HTTP."""

from __future__ import annotations

import filecmp
import hashlib
import os

import pytest
import requests
from botocore.exceptions import ClientError


def code_of(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


@pytest.fixture
def s3(nimbus):
    return nimbus.client("s3")


@pytest.fixture
def bucket(s3, request):
    name = request.node.name.lower().replace("_", "-")[:40].strip("-") + "-bkt"
    s3.create_bucket(Bucket=name)
    return name


def test_bucket_life_cycle(s3):
    s3.create_bucket(Bucket="life-cycle-bucket")
    assert "life-cycle-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    head = s3.head_bucket(Bucket="life-cycle-bucket")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    s3.delete_bucket(Bucket="life-cycle-bucket")
    assert code_of(lambda: s3.head_bucket(Bucket="life-cycle-bucket")) == "404"
    assert code_of(lambda: s3.delete_bucket(Bucket="life-cycle-bucket")) == "NoSuchBucket"


@pytest.mark.parametrize("name", ["ab", "UpperCase", "under_score", "-start", "192.168.1.1", "a..b", "x" * 64, "xn--punycode"])
def test_invalid_bucket_names(s3, name):
    assert code_of(lambda: s3.create_bucket(Bucket=name)) == "InvalidBucketName"


def test_bucket_regions(nimbus):
    eu = nimbus.client("s3", region="eu-west-1")
    eu.create_bucket(Bucket="eu-bucket-nimbus", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket="eu-bucket-nimbus")["LocationConstraint"] == "eu-west-1"
    assert code_of(lambda: eu.create_bucket(Bucket="eu-bucket-nimbus", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})) == "BucketAlreadyOwnedByYou"
    assert code_of(lambda: eu.create_bucket(Bucket="eu-no-constraint")) == "IllegalLocationConstraintException"
    assert code_of(lambda: eu.create_bucket(Bucket="eu-wrong", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})) == "IllegalLocationConstraintException"
    us = nimbus.client("s3")
    us.create_bucket(Bucket="us-twice")
    us.create_bucket(Bucket="us-twice")  # us-east-1 answers its owner with 200, as AWS does


def test_objects_round_trip_with_metadata(s3, bucket):
    key = "dir/ünïcødé key with spaces+plus&amp.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"payload", ContentType="text/plain",
                  Metadata={"colour": "blue"}, CacheControl="max-age=60", ContentDisposition="inline")
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"payload"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["CacheControl"] == "max-age=60" and got["ContentDisposition"] == "inline"
    assert got["ETag"] == '"%s"' % hashlib.md5(b"payload").hexdigest()
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 7 and head["ETag"] == got["ETag"]
    s3.delete_object(Bucket=bucket, Key=key)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key=key)) == "NoSuchKey"
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key=key)) == "404"
    s3.delete_object(Bucket=bucket, Key=key)  # deleting a missing key succeeds, as in AWS


def test_overwrite_replaces_bytes(s3, bucket, nimbus):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_ranges(s3, bucket):
    data = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10200-")["Body"].read() == data[10200:]
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data)}-")) == "InvalidRange"


def test_conditional_reads(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"cond"
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch='"nope"')) == "PreconditionFailed"
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)) == "304"
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"x", IfNoneMatch="*")) == "PreconditionFailed"


def test_list_objects_v2_pagination_and_delimiters(s3, bucket):
    keys = [f"photos/2024/{i:03d}.jpg" for i in range(25)] + ["photos/readme.txt", "videos/a.mp4", "top.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    seen, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "MaxKeys": 7}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        seen += [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["top.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["photos/", "videos/"]
    nested = s3.list_objects_v2(Bucket=bucket, Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["photos/2024/"]
    assert [c["Key"] for c in nested["Contents"]] == ["photos/readme.txt"]
    paged = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert paged["IsTruncated"] and paged["KeyCount"] == 1
    rest = s3.list_objects_v2(Bucket=bucket, Delimiter="/", ContinuationToken=paged["NextContinuationToken"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["videos/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="photos/2024/020.jpg", MaxKeys=3)
    assert [c["Key"] for c in after["Contents"]] == ["photos/2024/021.jpg", "photos/2024/022.jpg", "photos/2024/023.jpg"]
    v1 = s3.list_objects(Bucket=bucket, Prefix="videos/")
    assert [c["Key"] for c in v1["Contents"]] == ["videos/a.mp4"]
    paginator = s3.get_paginator("list_objects")
    assert sum(len(p.get("Contents", [])) for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 4})) == len(keys)


def test_delete_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code_of(lambda: s3.delete_bucket(Bucket=bucket)) == "BucketNotEmpty"


def test_multipart_rules(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"a" * 1024)["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"b" * 1024)["ETag"]
    parts = [{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]
    assert code_of(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                                        MultipartUpload={"Parts": parts})) == "EntityTooSmall"
    assert code_of(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                                        MultipartUpload={"Parts": parts[::-1]})) == "InvalidPartOrder"
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    assert code_of(lambda: s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)) == "NoSuchUpload"


def test_multipart_etag_and_bytes(s3, bucket):
    first, second = os.urandom(5 * 1024 * 1024), os.urandom(1234)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=first)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=2, Body=second)["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    expected = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(second).digest()).hexdigest() + "-2"
    assert done["ETag"] == f'"{expected}"'
    body = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert body == first + second
    across = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={len(first) - 3}-{len(first) + 2}")["Body"].read()
    assert across == (first + second)[len(first) - 3 : len(first) + 3]
    assert s3.head_object(Bucket=bucket, Key="big")["PartsCount"] == 2


def test_cli_cp_100_mib_round_trip(nimbus, tmp_path):
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1024 * 1024))
    nimbus.aws("s3", "mb", "s3://cli-big-bucket")
    nimbus.aws("s3", "cp", str(source), "s3://cli-big-bucket/big.bin")
    listing = nimbus.aws("s3", "ls", "s3://cli-big-bucket/")
    assert "big.bin" in listing.stdout and str(100 * 1024 * 1024) in listing.stdout
    back = tmp_path / "back.bin"
    nimbus.aws("s3", "cp", "s3://cli-big-bucket/big.bin", str(back))
    assert filecmp.cmp(source, back, shallow=False)


def test_virtual_hosted_style_by_host_header(nimbus, s3, bucket):
    s3.put_object(Bucket=bucket, Key="vh.txt", Body=b"virtual")
    # Sign for <bucket>.localhost, then connect to 127.0.0.1 with that Host header
    # (machines whose resolver knows *.localhost can use the URL as it is).
    virtual = nimbus.client("s3", s3={"addressing_style": "virtual"}, signature_version="s3v4")
    url = virtual.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "vh.txt"}, ExpiresIn=60)
    from urllib.parse import urlparse

    parsed = urlparse(url)
    assert parsed.hostname == f"{bucket}.localhost"
    response = requests.get(f"http://127.0.0.1:{nimbus.port}{parsed.path}?{parsed.query}", headers={"Host": parsed.netloc})
    assert response.status_code == 200 and response.content == b"virtual"
