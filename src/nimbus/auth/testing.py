"""Helpers for tests: turn botocore-signed requests into ``HttpRequest`` values, and
build SigV4-signed aws-chunked bodies (botocore itself only emits the unsigned form).

Not used by the server.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict

from ..protocol.http import HttpRequest
from .sigv4 import EMPTY_SHA256, chunk_string_to_sign


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        out = []
        while True:
            piece = body.read(1 << 20)
            if not piece:
                break
            out.append(piece if isinstance(piece, bytes) else piece.encode())
        return b"".join(out)
    raise TypeError(f"unsupported body {type(body)!r}")


def to_http_request(req: Any, *, stream: bool = False) -> HttpRequest:
    """An ``HttpRequest`` as the gateway would build it from what botocore sends.

    ``req`` is a botocore ``AWSRequest`` / ``AWSPreparedRequest`` (anything with
    ``method``, ``url``, ``headers``, ``body``).  The Host header is added the way
    urllib3 adds it (the URL's netloc).
    """
    from ..protocol.http import BytesStream

    from botocore.awsrequest import AWSRequest

    if isinstance(req, AWSRequest):
        req = req.prepare()
    parts = urlsplit(req.url)
    headers: CIMultiDict[str] = CIMultiDict()
    for k, v in req.headers.items():
        headers.add(k, v.decode("latin-1") if isinstance(v, bytes) else v)
    if "Host" not in headers:
        headers["Host"] = parts.netloc
    body = _body_bytes(req.body)
    return HttpRequest(
        method=req.method,
        path=parts.path or "/",
        query=parts.query,
        headers=headers,
        body=b"" if stream else body,
        stream=BytesStream(body) if stream else None,
        host=parts.netloc,
        secure=parts.scheme == "https",
    )


def sign_chunked_body(
    data: bytes,
    *,
    chunk_size: int,
    signing_key: bytes,
    seed_signature: str,
    timestamp: str,
    scope: str,
    trailers: list[tuple[str, str]] | None = None,
) -> bytes:
    """Encode ``data`` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] (S3 sigv4-streaming)."""
    out = []
    prev = seed_signature
    pos = 0
    while True:
        piece = data[pos : pos + chunk_size]
        pos += len(piece)
        sts = chunk_string_to_sign(timestamp, scope, prev, hashlib.sha256(piece).hexdigest())
        sig = hmac.new(signing_key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(b"%x;chunk-signature=%s\r\n" % (len(piece), sig.encode()))
        if piece:
            out.append(piece + b"\r\n")
        prev = sig
        if not piece:
            break
    if trailers is None:
        out.append(b"\r\n")
        return b"".join(out)
    canon = "".join(f"{k.lower()}:{v.strip()}\n" for k, v in trailers)
    sts = f"AWS4-HMAC-SHA256-TRAILER\n{timestamp}\n{scope}\n{prev}\n{hashlib.sha256(canon.encode()).hexdigest()}"
    tsig = hmac.new(signing_key, sts.encode(), hashlib.sha256).hexdigest()
    for k, v in trailers:
        out.append(f"{k}:{v}\r\n".encode())
    out.append(f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode())
    return b"".join(out)




# ---------------------------------------------------------------- real boto3 clients

TEST_ACCESS_KEY, TEST_SECRET_KEY = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


class Captured(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def capture(client: Any, method: str, **kwargs: Any) -> Any:
    """The ``AWSPreparedRequest`` a real boto3 client would send (stopped before the wire)."""

    def hook(request: Any, **_: Any) -> None:
        raise Captured(request)

    client.meta.events.register("before-send", hook)
    try:
        getattr(client, method)(**kwargs)
    except Captured as e:
        return e.request
    finally:
        client.meta.events.unregister("before-send", hook)
    raise AssertionError("request was not sent")


def boto3_client(
    service: str,
    *,
    endpoint: str = "https://nimbus.test:4566",
    token: str | None = None,
    access_key: str = TEST_ACCESS_KEY,
    secret_key: str = TEST_SECRET_KEY,
    **config: Any,
) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        config=Config(**config) if config else None,
    )
