"""S3 Signature Version 2 (``Authorization: AWS key:sig`` and ``?AWSAccessKeyId=&Signature=&Expires=``).

Why this exists: boto3 1.43's ``generate_presigned_url`` for S3 still produces SigV2
query URLs unless the client is configured with ``signature_version='s3v4'``
(``https://.../b/k?AWSAccessKeyId=AK&Signature=...&Expires=...``), and S3 still honours
them, so refusing SigV2 would break the most common presigned-URL code.  The string to
sign is built with botocore's own ``HmacV1Auth`` helpers (canonical resource with the
sub-resources of interest, ``x-amz-*`` headers, Content-MD5, Content-Type, Date or
Expires).

``parse_sigv4`` keeps raising ``InvalidRequest`` for SigV2; the gateway calls
``parse_sigv2`` first for S3 requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult

from botocore.auth import HmacV1Auth
from botocore.compat import HTTPHeaders

from ..errors import ServiceError
from ..protocol.http import HttpRequest
from .errors import auth_error
from .sigv4 import MAX_SKEW

_UTC = timezone.utc


@dataclass(frozen=True)
class SigV2Credential:
    access_key: str
    signature: str  # base64
    presigned: bool
    expires: int | None  # epoch seconds (presigned)
    date: datetime | None  # request date (header auth)
    session_token: str | None
    service: str = "s3"
    region: str | None = None


def parse_sigv2(request: HttpRequest) -> SigV2Credential | None:
    """The SigV2 credential of an S3 request, None when it carries no SigV2 auth."""
    auth = request.headers.get("Authorization")
    if auth is not None:
        if not auth.startswith("AWS "):
            return None
        ak, sep, sig = auth[4:].strip().rpartition(":")
        if not sep or not ak or not sig:
            raise auth_error("malformed", "s3", "expected 'AWS AccessKeyId:Signature'")
        h = request.headers
        raw = h.get("x-amz-date") or h.get("Date")
        date = None
        if raw:
            try:
                date = parsedate_to_datetime(raw)
                if date.tzinfo is None:
                    date = date.replace(tzinfo=_UTC)
            except (TypeError, ValueError):
                date = None
        if date is None:
            raise ServiceError(
                "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403, sender_fault=True
            )
        return SigV2Credential(ak, sig, False, None, date, h.get("x-amz-security-token"))
    q = request.query
    if not q or "Signature=" not in q or "AWSAccessKeyId=" not in q:
        return None
    params = request.query_dict()
    if "AWSAccessKeyId" not in params or "Signature" not in params:
        return None
    if "Expires" not in params:
        raise ServiceError(
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            403,
            sender_fault=True,
        )
    try:
        expires = int(params["Expires"])
    except ValueError:
        raise ServiceError("AccessDenied", "Invalid date (should be seconds since epoch): " + params["Expires"],
                           403, sender_fault=True) from None
    # a '+' left unencoded in the base64 signature arrives as a space
    sig = params["Signature"].replace(" ", "+")
    token = params.get("x-amz-security-token") or request.headers.get("x-amz-security-token")
    return SigV2Credential(params["AWSAccessKeyId"], sig, True, expires, None, token)


class _Signer(HmacV1Auth):
    def __init__(self, date_line: str) -> None:
        super().__init__(None)
        self._date_line = date_line

    def _get_date(self) -> str:
        return self._date_line


def string_to_sign_v2(request: HttpRequest, cred: SigV2Credential, *, bucket_in_host: str | None = None) -> str:
    headers = HTTPHeaders()
    for k, v in request.headers.items():
        lk = k.lower()
        if lk.startswith("x-amz-") or lk in ("content-md5", "content-type"):
            headers[lk] = v
    if cred.presigned:
        # presigning moves x-amz-*, Content-MD5 and Content-Type into the query
        for k, v in request.query_params:
            lk = k.lower()
            if lk.startswith("x-amz-") or lk in ("content-md5", "content-type"):
                if lk in headers:
                    del headers[lk]
                headers[lk] = v
        date_line = str(cred.expires)
    else:
        date_line = "" if "x-amz-date" in headers else request.headers.get("Date", "")
    path = request.path or "/"
    auth_path = f"/{bucket_in_host}{path}" if bucket_in_host else None
    split = SplitResult("", "", path, request.query, "")
    signer = _Signer(date_line)
    return signer.canonical_string(request.method, split, headers, auth_path=auth_path)


def verify_sigv2(
    request: HttpRequest,
    cred: SigV2Credential,
    secret_key: str,
    *,
    now: datetime,
    bucket_in_host: str | None = None,
) -> None:
    """Check an S3 SigV2 signature (``bucket_in_host`` for virtual-hosted requests)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=_UTC)
    if not cred.presigned and cred.date is not None:
        delta = now - cred.date
        if delta > MAX_SKEW or -delta > MAX_SKEW:
            raise auth_error(
                "skewed",
                "s3",
                fields={
                    "RequestTime": request.headers.get("x-amz-date") or request.headers.get("Date", ""),
                    "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "MaxAllowedSkewMilliseconds": "900000",
                },
            )
    sts = string_to_sign_v2(request, cred, bucket_in_host=bucket_in_host)
    expected = base64.b64encode(
        hmac.new(secret_key.encode("utf-8"), sts.encode("utf-8"), hashlib.sha1).digest()
    ).decode("ascii")
    if not hmac.compare_digest(expected, cred.signature):
        raise auth_error(
            "bad_signature",
            "s3",
            fields={
                "AWSAccessKeyId": cred.access_key,
                "StringToSign": sts,
                "SignatureProvided": cred.signature,
                "StringToSignBytes": sts.encode().hex(" ", 1),
            },
        )
    if cred.presigned and cred.expires is not None and now.timestamp() > cred.expires:
        raise auth_error(
            "expired",
            "s3",
            fields={
                "Expires": datetime.fromtimestamp(cred.expires, _UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )


__all__ = ["SigV2Credential", "parse_sigv2", "verify_sigv2", "string_to_sign_v2"]
