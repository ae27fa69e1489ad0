"""aws-chunked decoding: bodies from real boto3 clients, the AWS documented example, tampering."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import zlib
import base64
from datetime import datetime, timezone

import pytest
from multidict import CIMultiDict

from nimbus.auth.checksums import checksum_b64
from nimbus.auth.chunked import AwsChunkedStream
from nimbus.auth.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    parse_sigv4,
    signing_key,
    verify_sigv4,
)
from nimbus.auth.testing import sign_chunked_body, to_http_request
from nimbus.errors import ServiceError
from nimbus.protocol.http import BytesStream, HttpRequest
from nimbus.auth.testing import TEST_SECRET_KEY as SK, boto3_client as client, capture

NOW = lambda: datetime.now(timezone.utc)  # noqa: E731


class TrickleStream:
    """Returns the body in small, irregular pieces (chunk boundaries split anywhere)."""

    def __init__(self, data: bytes, seed: int = 1, max_piece: int = 7) -> None:
        self._data = data
        self._pos = 0
        self._rnd = random.Random(seed)
        self._max = max_piece

    async def read(self, n: int = -1) -> bytes:
        k = self._rnd.randint(1, self._max)
        if n >= 0:
            k = min(k, n)
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


def drain(stream: AwsChunkedStream, piece: int = 65536) -> bytes:
    async def go():
        out = []
        while True:
            b = await stream.read(piece)
            if not b:
                return b"".join(out)
            out.append(b)

    return asyncio.run(go())


def boto3_put(body: bytes, **kwargs) -> HttpRequest:
    return to_http_request(capture(client("s3"), "put_object", Bucket="bkt", Key="k", Body=body, **kwargs), stream=True)


# ------------------------------------------------------------------ boto3 unsigned trailer


@pytest.mark.parametrize("algorithm", [None, "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_boto3_put_object_streaming_unsigned_trailer(algorithm):
    data = os.urandom(3 * 1024 * 1024 + 17)
    kwargs = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    req = boto3_put(data, **kwargs)
    assert req.headers["x-amz-content-sha256"] == STREAMING_UNSIGNED_TRAILER
    cred = parse_sigv4(req)
    key = verify_sigv4(req, cred, SK, now=NOW())
    s = AwsChunkedStream.for_request(req, cred, key)
    assert drain(s) == data
    algo = algorithm or "CRC32"
    assert s.checksums[algo] == checksum_b64(algo, data)
    assert s.trailers[f"x-amz-checksum-{algo.lower()}"] == s.checksums[algo]


def test_boto3_body_split_at_every_boundary():
    data = os.urandom(5000)
    req = boto3_put(data)
    raw = asyncio.run(req.stream.read())
    cred = parse_sigv4(req)
    for seed in range(5):
        s = AwsChunkedStream(TrickleStream(raw, seed), STREAMING_UNSIGNED_TRAILER, decoded_length=5000,
                             trailer_names=["x-amz-checksum-crc32"])
        assert drain(s, piece=3) == data
    assert cred is not None


def test_bad_trailing_crc():
    data = b"hello world" * 1000
    req = boto3_put(data)
    raw = asyncio.run(req.stream.read())
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))
    bad = base64.b64encode(((zlib.crc32(data) + 1) & 0xFFFFFFFF).to_bytes(4, "big"))
    assert good in raw
    s = AwsChunkedStream(BytesStream(raw.replace(good, bad)), STREAMING_UNSIGNED_TRAILER,
                         decoded_length=len(data), trailer_names=["x-amz-checksum-crc32"])
    with pytest.raises(ServiceError) as ei:
        drain(s)
    assert (ei.value.code, ei.value.status) == ("BadDigest", 400)
    assert ei.value.message == "The CRC32 you specified did not match the calculated checksum."


def test_truncated_and_wrong_length():
    data = b"x" * 10000
    req = boto3_put(data)
    raw = asyncio.run(req.stream.read())
    for cut in (5, 100, len(raw) - 40):
        s = AwsChunkedStream(BytesStream(raw[:cut]), STREAMING_UNSIGNED_TRAILER, decoded_length=len(data),
                             trailer_names=["x-amz-checksum-crc32"])
        with pytest.raises(ServiceError) as ei:
            drain(s)
        assert ei.value.code in ("IncompleteBody", "MalformedTrailerError")
    for dl in (len(data) - 1, len(data) + 1):
        s = AwsChunkedStream(BytesStream(raw), STREAMING_UNSIGNED_TRAILER, decoded_length=dl)
        with pytest.raises(ServiceError) as ei:
            drain(s)
        assert ei.value.code == "IncompleteBody"
    s = AwsChunkedStream(BytesStream(b"zz\r\nabc\r\n0\r\n\r\n"), STREAMING_UNSIGNED_TRAILER)
    with pytest.raises(ServiceError):
        drain(s)


def test_missing_declared_trailer():
    s = AwsChunkedStream(BytesStream(b"3\r\nabc\r\n0\r\n\r\n"), STREAMING_UNSIGNED_TRAILER, decoded_length=3,
                         trailer_names=["x-amz-checksum-crc32"])
    with pytest.raises(ServiceError) as ei:
        drain(s)
    assert ei.value.code == "MalformedTrailerError"


# ------------------------------------------------------------------ signed chunks


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def aws_example_request(body: bytes) -> HttpRequest:
    """The S3 docs' chunked-upload example (sigv4-streaming, "Example: PUT Object")."""
    h = CIMultiDict(
        {
            "Host": "s3.amazonaws.com",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class,"
            "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            "x-amz-content-sha256": STREAMING_SIGNED,
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            "Content-Length": "66824",
        }
    )
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", "", h, stream=BytesStream(body), host="s3.amazonaws.com")


def aws_example_body() -> bytes:
    key = signing_key(AWS_SECRET, "20130524", "us-east-1", "s3")
    return sign_chunked_body(
        b"a" * 66560,
        chunk_size=65536,
        signing_key=key,
        seed_signature="4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        timestamp="20130524T000000Z",
        scope="20130524/us-east-1/s3/aws4_request",
    )


def test_aws_documented_chunked_example():
    body = aws_example_body()
    # the signatures published in the S3 API reference
    assert b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" in body
    assert b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" in body
    assert b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n" in body
    assert len(body) == 66824
    req = aws_example_request(body)
    cred = parse_sigv4(req)
    key = verify_sigv4(req, cred, AWS_SECRET, now=datetime(2013, 5, 24, 0, 1, tzinfo=timezone.utc))
    assert drain(AwsChunkedStream.for_request(req, cred, key)) == b"a" * 66560
    # split reads
    s = AwsChunkedStream.for_request(dataclasses.replace(req, stream=TrickleStream(body, 3, 300)), cred, key)
    assert drain(s, piece=1000) == b"a" * 66560


def test_bad_chunk_signature_and_data():
    body = aws_example_body()
    req = aws_example_request(body)
    cred = parse_sigv4(req)
    key = verify_sigv4(req, cred, AWS_SECRET, now=datetime(2013, 5, 24, 0, 1, tzinfo=timezone.utc))
    bad_sig = body.replace(b"ad80c730a21e", b"ad80c730a21f")
    i = body.index(b"\r\n") + 100
    bad_data = body[:i] + b"b" + body[i + 1 :]
    swapped = body.replace(b"0055627c9e19", b"ad80c730a21e")
    for tampered in (bad_sig, bad_data, swapped):
        s = AwsChunkedStream.for_request(dataclasses.replace(req, stream=BytesStream(tampered)), cred, key)
        with pytest.raises(ServiceError) as ei:
            drain(s)
        assert (ei.value.code, ei.value.status) == ("SignatureDoesNotMatch", 403)
    # the bytes of a chunk are not handed out before its signature is checked
    s = AwsChunkedStream.for_request(dataclasses.replace(req, stream=BytesStream(bad_data)), cred, key)

    async def first_read():
        return await s.read(1 << 20)

    with pytest.raises(ServiceError):
        asyncio.run(first_read())


def test_signed_trailer_mode():
    data = os.urandom(200_000)
    ts, scope = "20240101T000000Z", "20240101/us-east-1/s3/aws4_request"
    key = signing_key(SK, "20240101", "us-east-1", "s3")
    seed = "f" * 64
    crc = checksum_b64("CRC32C", data)
    body = sign_chunked_body(data, chunk_size=65536, signing_key=key, seed_signature=seed, timestamp=ts,
                             scope=scope, trailers=[("x-amz-checksum-crc32c", crc)])

    def stream(raw):
        return AwsChunkedStream(BytesStream(raw), STREAMING_SIGNED_TRAILER, signing_key=key, seed_signature=seed,
                                amz_date=ts, scope=scope, decoded_length=len(data),
                                trailer_names=["x-amz-checksum-crc32c"])

    s = stream(body)
    assert drain(s) == data
    assert s.trailers == {"x-amz-checksum-crc32c": crc} and s.checksums["CRC32C"] == crc
    # a trailer changed in flight breaks the trailer signature
    other = checksum_b64("CRC32C", b"other")
    with pytest.raises(ServiceError) as ei:
        drain(stream(body.replace(crc.encode(), other.encode())))
    assert ei.value.code == "SignatureDoesNotMatch"
    # a correctly signed but wrong checksum is BadDigest
    body2 = sign_chunked_body(data, chunk_size=65536, signing_key=key, seed_signature=seed, timestamp=ts,
                              scope=scope, trailers=[("x-amz-checksum-crc32c", other)])
    with pytest.raises(ServiceError) as ei:
        drain(stream(body2))
    assert ei.value.code == "BadDigest"


def test_signed_chunk_from_verified_request_end_to_end():
    """Seed signature from a real botocore S3SigV4Auth header signature."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = os.urandom(100_000)
    r = AWSRequest("PUT", "https://nimbus.test/bkt/obj", headers={
        "X-Amz-Content-SHA256": STREAMING_SIGNED, "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data))})

    class Streaming(S3SigV4Auth):
        def payload(self, request):
            return STREAMING_SIGNED

    Streaming(Credentials("AK", SK), "s3", "us-east-1").add_auth(r)
    req = to_http_request(r)
    cred = parse_sigv4(req)
    key = verify_sigv4(req, cred, SK, now=NOW())
    body = sign_chunked_body(data, chunk_size=8192, signing_key=key, seed_signature=cred.signature,
                             timestamp=cred.timestamp, scope=cred.scope)
    s = AwsChunkedStream.for_request(dataclasses.replace(req, stream=BytesStream(body)), cred, key,
                                     checksum_algorithms=["SHA256"])
    assert drain(s) == data
    assert s.checksums["SHA256"] == checksum_b64("SHA256", data)
