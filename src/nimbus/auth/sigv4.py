"""AWS Signature Version 4 verification (Authorization header and presigned query).

The canonical request is built exactly as botocore's signers build it (the clients'
own source of truth), reusing botocore's helpers where they are cheap:

* path: non-S3 services sign ``quote(normalize_url_path(raw_path), safe='/~')`` —
  ``botocore.auth.SigV4Auth._normalize_url_path`` — i.e. the percent-encoded path is
  encoded a second time and dot segments / double slashes are removed.  S3 signers
  (``S3SigV4Auth``, ``S3SigV4QueryAuth``, S3 Express) sign the path as sent, encoded
  once; we re-encode it per RFC 3986 (uppercase hex, unreserved kept) and fall back to
  the raw path when a client signed an unusual but equivalent spelling.
* query: every name and value URI-encoded (``quote(safe='-_.~')``), sorted by name
  then value; ``X-Amz-Signature`` left out for presigned URLs.
* headers: only those named in ``SignedHeaders`` (a client may sign headers botocore
  would not, e.g. ``user-agent``), value whitespace collapsed as
  ``SigV4Auth._header_value`` does, repeated headers joined by ``,``.
* payload: the ``x-amz-content-sha256`` value for S3 (``UNSIGNED-PAYLOAD`` for S3
  presigned URLs); otherwise the SHA-256 of the body.

The unit tests compare :func:`canonical_request` with botocore's own
``SigV4Auth.canonical_request`` for requests botocore signed, so the two stay in step.
Building the string directly instead of instantiating ``AWSRequest``/``HTTPHeaders``
keeps a verify at ~10 µs (see the report in tests/unit/test_auth_sigv4.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Mapping
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

from ..errors import ServiceError
from ..protocol.http import HttpRequest
from .errors import auth_error, is_s3, service_family

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})
# SigV4a (ECDSA) streaming modes exist too; Nimbus does not verify SigV4a.
SPECIAL_PAYLOADS = STREAMING_MODES | {UNSIGNED_PAYLOAD}
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

MAX_SKEW = timedelta(minutes=15)  # AWS allows 15 minutes either way
MAX_PRESIGN_EXPIRES = 604800  # 7 days (SigV4 presigned URL limit)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")
_UTC = timezone.utc

CREDENTIAL_FORMAT = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"'


@dataclass(frozen=True)
class SigV4Credential:
    access_key: str
    date: str  # yyyymmdd from the credential scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: datetime  # aware (UTC)
    presigned: bool
    expires: int | None
    session_token: str | None
    content_sha256: str | None
    # the request timestamp exactly as used in the string to sign (yyyymmddTHHMMSSZ)
    timestamp: str = field(default="", repr=False)

    @property
    def scope(self) -> str:
        """``date/region/service/aws4_request`` (the credential scope)."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


# ---------------------------------------------------------------- parsing helpers


def _parse_amz_date(value: str) -> datetime | None:
    """'20130524T000000Z' -> aware datetime, None if malformed (faster than strptime)."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=_UTC,
        )
    except ValueError:
        return None


def format_amz_date(dt: datetime) -> str:
    return dt.astimezone(_UTC).strftime("%Y%m%dT%H%M%SZ")


def _split_credential(value: str) -> tuple[str, str, str, str] | None:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name)


def _malformed_header(service: str, detail: str) -> ServiceError:
    return auth_error("malformed", service, detail)


def credential_scope_service(request: HttpRequest) -> tuple[str, str] | None:
    """(region, service) from the credential scope, without validating anything.

    Cheap enough for the gateway's service detection; None when the request carries
    no parseable SigV4 credential.
    """
    auth = request.headers.get("Authorization")
    if auth is not None:
        i = auth.find("Credential=")
        if i < 0:
            return None
        cred = auth[i + 11 :]
        j = cred.find(",")
        if j >= 0:
            cred = cred[:j]
        parts = cred.strip().split("/")
    else:
        q = request.query
        if not q or "X-Amz-Credential=" not in q:
            return None
        value = None
        for part in q.split("&"):
            if part.startswith("X-Amz-Credential="):
                value = unquote(part[17:])
                break
        if value is None:
            return None
        parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts[2], parts[3]


# ---------------------------------------------------------------- parse_sigv4


def parse_sigv4(request: HttpRequest, *, service_hint: str | None = None) -> SigV4Credential | None:
    """The SigV4 credential a request carries, or None for an anonymous request.

    ``service_hint`` is the service the gateway detected (used to shape errors when the
    credential scope itself cannot be read; S3 is assumed for SigV2 ``AWS key:sig``).
    Malformed authentication raises the AWS error of that service.
    """
    headers = request.headers
    auth = headers.get("Authorization")
    if auth is not None:
        if auth.startswith(ALGORITHM):
            return _parse_header_auth(request, auth, service_hint)
        if auth.startswith("AWS "):
            # SigV2 header: S3 answers 400 InvalidRequest in SigV4-only regions
            return _raise(auth_error("unsupported", service_hint or "s3"))
        return _raise(auth_error("unsupported", service_hint or "s3"))
    query = request.query
    if query and ("X-Amz-" in query or "Signature=" in query):
        params = request.query_dict()
        if "X-Amz-Algorithm" in params or "X-Amz-Credential" in params or "X-Amz-Signature" in params:
            return _parse_query_auth(request, params, service_hint)
        if "AWSAccessKeyId" in params and "Signature" in params:
            # SigV2 presigned URL (or SigV2 query signing)
            return _raise(auth_error("unsupported", service_hint or "s3"))
    return None


def _raise(err: ServiceError) -> SigV4Credential:
    raise err


def _parse_header_auth(request: HttpRequest, auth: str, hint: str | None) -> SigV4Credential:
    rest = auth[len(ALGORITHM) :]
    parts: dict[str, str] = {}
    if rest[:1] in (" ", ","):
        for item in rest.split(","):
            k, sep, v = item.strip().partition("=")
            if sep:
                parts[k] = v.strip()
    cred_s = parts.get("Credential")
    scope = _split_credential(cred_s) if cred_s else None
    service = scope[3] if scope else (hint or "sts")
    s3 = is_s3(service)
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not parts.get(p)]
    if missing:
        if s3:
            raise _malformed_header(service, f"missing {missing[0]} parameter")
        msg = " ".join(f"Authorization header requires '{p}' parameter." for p in missing)
        raise auth_error("malformed", service, f"{msg} Authorization={auth}")
    if scope is None:
        if s3 or (hint and is_s3(hint)):
            raise _malformed_header(hint or service, f"the Credential is mal-formed; expecting {CREDENTIAL_FORMAT}.")
        raise auth_error("malformed", service, f"Credential should be scoped to a valid region. Authorization={auth}")
    access_key, date, region, service = scope

    headers = request.headers
    raw_date = headers.get("X-Amz-Date")
    if raw_date is not None:
        amz_date = _parse_amz_date(raw_date.strip())
        timestamp = raw_date.strip()
    else:
        amz_date = None
        timestamp = ""
        http_date = headers.get("Date")
        if http_date:
            try:
                amz_date = parsedate_to_datetime(http_date)
                if amz_date.tzinfo is None:
                    amz_date = amz_date.replace(tzinfo=_UTC)
                amz_date = amz_date.astimezone(_UTC)
                timestamp = format_amz_date(amz_date)
            except (TypeError, ValueError):
                amz_date = None
    if amz_date is None:
        if s3:
            raise ServiceError(
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
                403,
                sender_fault=True,
            )
        raise auth_error(
            "malformed",
            service,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={auth}",
        )
    if timestamp[:8] != date:
        if s3:
            raise _malformed_header(service, "Invalid credential date. Date is not the same as X-Amz-Date.")
        raise auth_error(
            "bad_signature",
            service,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{timestamp[:8]}', from '{timestamp}'.",
        )
    signed = [h.strip().lower() for h in parts["SignedHeaders"].split(";")]
    if "host" not in signed and ":authority" not in signed:
        if s3:
            raise _malformed_header(service, "the SignedHeaders must include 'host'.")
        raise auth_error(
            "bad_signature", service, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return SigV4Credential(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=parts["Signature"],
        amz_date=amz_date,
        presigned=False,
        expires=None,
        session_token=headers.get("X-Amz-Security-Token"),
        content_sha256=headers.get("X-Amz-Content-SHA256"),
        timestamp=timestamp,
    )


def _parse_query_auth(request: HttpRequest, params: dict[str, str], hint: str | None) -> SigV4Credential:
    cred_s = params.get("X-Amz-Credential", "")
    scope = _split_credential(cred_s) if cred_s else None
    service = scope[3] if scope else (hint or "s3")
    required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")
    if is_s3(service):
        required += ("X-Amz-Expires",)
    if any(not params.get(p) for p in required):
        # S3's wording (LocalStack snapshot-tests it against AWS)
        if is_s3(service):
            raise auth_error("malformed_query", service)
        raise auth_error(
            "malformed_query",
            service,
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date' and 'X-Amz-SignedHeaders'.",
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise auth_error("malformed_query", service, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    if scope is None:
        raise auth_error(
            "malformed_query",
            service,
            f"Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting {CREDENTIAL_FORMAT}.",
        )
    access_key, date, region, service = scope
    timestamp = params["X-Amz-Date"]
    amz_date = _parse_amz_date(timestamp)
    if amz_date is None:
        raise auth_error(
            "malformed_query",
            service,
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    if timestamp[:8] != date:
        raise auth_error(
            "malformed_query",
            service,
            f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{timestamp[:8]}".',
        )
    expires: int | None = None
    raw_expires = params.get("X-Amz-Expires")
    if raw_expires is not None:
        try:
            expires = int(raw_expires)
        except ValueError:
            raise auth_error("malformed_query", service, "X-Amz-Expires should be a number") from None
        if expires < 0:
            raise auth_error("malformed_query", service, "X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGN_EXPIRES:
            raise auth_error(
                "malformed_query",
                service,
                "X-Amz-Expires must be less than a week (in seconds) that is, the given X-Amz-Expires "
                f"must be less than {MAX_PRESIGN_EXPIRES} seconds",
            )
    signed = [h.strip().lower() for h in params["X-Amz-SignedHeaders"].split(";")]
    content = request.headers.get("X-Amz-Content-SHA256")
    if is_s3(service):
        content = params.get("X-Amz-Content-Sha256") or UNSIGNED_PAYLOAD
    return SigV4Credential(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=params["X-Amz-Signature"],
        amz_date=amz_date,
        presigned=True,
        expires=expires,
        session_token=params.get("X-Amz-Security-Token"),
        content_sha256=content,
        timestamp=timestamp,
    )


# ---------------------------------------------------------------- canonical request


@lru_cache(maxsize=4096)
def _canon_component(s: str) -> str:
    """URI-encode a query name/value as SigV4 wants it (decode first: it arrives encoded)."""
    return quote(unquote(s), safe="-_.~")


def canonical_query_string(raw_query: str, *, drop_signature: bool = False) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        if drop_signature and k == "X-Amz-Signature":
            continue
        pairs.append((_canon_component(k), _canon_component(v)))
    pairs.sort()
    return "&".join([f"{k}={v}" for k, v in pairs])


@lru_cache(maxsize=4096)
def _canonical_path_double(raw_path: str) -> str:
    # botocore.auth.SigV4Auth._normalize_url_path
    return quote(normalize_url_path(raw_path), safe="/~")


@lru_cache(maxsize=4096)
def _canonical_path_s3(raw_path: str) -> str:
    if not raw_path:
        return "/"
    return "/".join([quote(unquote(seg), safe="~") for seg in raw_path.split("/")])


def canonical_path(raw_path: str, service: str) -> str:
    if is_s3(service):
        return _canonical_path_s3(raw_path)
    return _canonical_path_double(raw_path or "/")


def canonical_headers(request: HttpRequest, signed_headers: list[str]) -> str:
    headers = request.headers
    getall = getattr(headers, "getall", None)
    lines = []
    for name in signed_headers:
        if getall is not None:
            values = getall(name, None)
        else:
            v1 = headers.get(name)
            values = None if v1 is None else [v1]
        if values is None:
            if name == "host":
                value = request.host
            else:
                value = ""
        elif len(values) == 1:
            value = " ".join(values[0].split())
        else:
            value = ",".join([" ".join(v.split()) for v in values])
        lines.append(f"{name}:{value}")
    return "\n".join(lines)


def canonical_request(
    request: HttpRequest, cred: SigV4Credential, payload_hash: str, *, raw_path: bool = False
) -> str:
    path = (request.path or "/") if raw_path else canonical_path(request.path, cred.service)
    return "\n".join(
        (
            request.method.upper(),
            path,
            canonical_query_string(request.query, drop_signature=cred.presigned),
            canonical_headers(request, cred.signed_headers) + "\n",
            ";".join(cred.signed_headers),
            payload_hash,
        )
    )


def string_to_sign(cred: SigV4Credential, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{cred.timestamp}\n{cred.scope}\n{digest}"


@lru_cache(maxsize=4096)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")."""
    k = hmac.new(f"AWS4{secret_key}".encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    k = hmac.new(k, region.encode("utf-8"), hashlib.sha256).digest()
    k = hmac.new(k, service.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def _sign(key: bytes, sts: str) -> str:
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- verify


def _fmt(dt: datetime) -> str:
    return format_amz_date(dt)


def _payload_hash(request: HttpRequest, cred: SigV4Credential) -> str:
    cs = cred.content_sha256
    if is_s3(cred.service):
        if cred.presigned:
            return cs or UNSIGNED_PAYLOAD
        if cs is None:
            raise ServiceError(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                400,
                sender_fault=True,
            )
        if cs not in SPECIAL_PAYLOADS and not _HEX64.match(cs):
            raise ServiceError(
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
                "or a valid sha256 value.",
                400,
                sender_fault=True,
                fields={"ArgumentName": "x-amz-content-sha256", "ArgumentValue": cs},
            )
        return cs
    if cs is not None and cs in SPECIAL_PAYLOADS:
        return cs
    if request.stream is None:
        return hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256
    if cs is not None:
        return cs  # streamed body: the caller checks the bytes (HashingStream)
    raise ValueError("payload_hash is required to verify a streamed non-S3 body")


def verify_sigv4(
    request: HttpRequest,
    cred: SigV4Credential,
    secret_key: str,
    *,
    now: datetime,
    payload_hash: str | None = None,
) -> bytes:
    """Check a request's SigV4 signature and its time window; return the signing key.

    ``payload_hash`` overrides the hash the canonical request ends with; by default it
    is ``x-amz-content-sha256`` for S3 (and UNSIGNED-PAYLOAD for S3 presigned URLs)
    and the SHA-256 of ``request.body`` otherwise.  For S3 requests whose body is in
    memory (``stream is None``) the claimed hex digest is also checked against the
    body (``XAmzContentSHA256Mismatch``); streamed bodies are checked by
    ``HashingStream`` / ``AwsChunkedStream``.  The returned key signs aws-chunked
    chunk signatures.
    """
    service = cred.service
    s3 = is_s3(service)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_UTC)

    if not cred.presigned:
        delta = now - cred.amz_date
        if delta > MAX_SKEW or -delta > MAX_SKEW:
            raise _skew_error(cred, now)

    ph = payload_hash if payload_hash is not None else _payload_hash(request, cred)
    key = signing_key(secret_key, cred.date, cred.region, service)
    canonical = canonical_request(request, cred, ph)
    sts = string_to_sign(cred, canonical)
    if not hmac.compare_digest(_sign(key, sts), cred.signature):
        ok = False
        if s3:
            alt = request.path or "/"
            if alt != canonical_path(request.path, service):
                canonical2 = canonical_request(request, cred, ph, raw_path=True)
                ok = hmac.compare_digest(_sign(key, string_to_sign(cred, canonical2)), cred.signature)
        if not ok:
            raise _mismatch_error(cred, canonical, sts)

    if cred.presigned:
        _check_presigned_time(cred, now)
        if s3:
            signed = set(cred.signed_headers)
            unsigned = [
                k.lower()
                for k in request.headers
                if k.lower().startswith("x-amz-")
                and k.lower() not in signed
                and k.lower() != "x-amz-content-sha256"
            ]
            if unsigned:
                raise ServiceError(
                    "AccessDenied",
                    "There were headers present in the request which were not signed",
                    403,
                    sender_fault=True,
                    fields={"HeadersNotSigned": ", ".join(sorted(set(unsigned)))},
                )
    elif s3 and payload_hash is None and request.stream is None:
        cs = cred.content_sha256 or ""
        if _HEX64.match(cs):
            computed = hashlib.sha256(request.body).hexdigest()
            if computed != cs.lower():
                raise ServiceError(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    400,
                    sender_fault=True,
                    fields={"ClientComputedContentSHA256": cs, "S3ComputedContentSHA256": computed},
                )
    return key


def _skew_error(cred: SigV4Credential, now: datetime) -> ServiceError:
    service = cred.service
    family = service_family(service)
    if family == "s3":
        return auth_error(
            "skewed",
            service,
            fields={
                "RequestTime": cred.timestamp,
                "ServerTime": now.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "MaxAllowedSkewMilliseconds": "900000",
            },
        )
    if now > cred.amz_date:
        detail = (
            f"Signature expired: {cred.timestamp} is now earlier than {_fmt(now - MAX_SKEW)} "
            f"({_fmt(now)} - 15 min.)"
        )
    else:
        detail = (
            f"Signature not yet current: {cred.timestamp} is still later than {_fmt(now + MAX_SKEW)} "
            f"({_fmt(now)} + 15 min.)"
        )
    return auth_error("skewed", service, detail)


def _check_presigned_time(cred: SigV4Credential, now: datetime) -> None:
    service = cred.service
    s3 = is_s3(service)
    if cred.amz_date - now > MAX_SKEW:
        if s3:
            raise ServiceError("AccessDenied", "Request is not valid yet", 403, sender_fault=True)
        raise _skew_error(cred, now)
    if cred.expires is None:
        # non-S3 presigned request without X-Amz-Expires: the header rule (15 min)
        if now - cred.amz_date > MAX_SKEW:
            raise _skew_error(cred, now)
        return
    expiry = cred.amz_date + timedelta(seconds=cred.expires)
    if now > expiry:
        if s3:
            raise auth_error(
                "expired",
                service,
                fields={
                    "X-Amz-Expires": str(cred.expires),
                    "Expires": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ServerTime": now.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        raise auth_error(
            "expired",
            service,
            f"Signature expired: {_fmt(expiry)} is now earlier than {_fmt(now)} "
            f"({cred.timestamp} + {cred.expires} sec.)",
        )


def _mismatch_error(cred: SigV4Credential, canonical: str, sts: str) -> ServiceError:
    service = cred.service
    family = service_family(service)
    if family == "s3":
        return auth_error(
            "bad_signature",
            service,
            fields={
                "AWSAccessKeyId": cred.access_key,
                "StringToSign": sts,
                "SignatureProvided": cred.signature,
                "StringToSignBytes": sts.encode().hex(" ", 1),
                "CanonicalRequest": canonical,
                "CanonicalRequestBytes": canonical.encode().hex(" ", 1),
            },
        )
    if family == "ec2":
        return auth_error("bad_signature", service)
    # STS/IAM and the JSON services spell out what they computed
    from .errors import SIGNATURE_MISMATCH_LONG

    detail = (
        f"{SIGNATURE_MISMATCH_LONG}\n\nThe Canonical String for this request should have been\n"
        f"'{canonical}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
    )
    return auth_error("bad_signature", service, detail)


def chunk_string_to_sign(cred_timestamp: str, scope: str, previous_signature: str, chunk_sha256_hex: str) -> str:
    """String to sign of one aws-chunked chunk (S3 "sigv4-streaming")."""
    return (
        f"AWS4-HMAC-SHA256-PAYLOAD\n{cred_timestamp}\n{scope}\n{previous_signature}\n"
        f"{EMPTY_SHA256}\n{chunk_sha256_hex}"
    )
