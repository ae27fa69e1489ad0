"""The request pipeline: one aiohttp handler that turns any AWS request into a provider call.

Per request: read the body (or set up its stream) → detect the service → authenticate
(SigV4) → resolve and parse the operation (protocol layer) → authorize → run the
provider's handler → serialize.  Every failure leaves as the protocol's error shape;
a handler bug is logged with its traceback and answered ``InternalFailure``.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import uuid
import zlib
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .. import services
from ..accounts import ANONYMOUS, Principal
from ..auth.checksums import HashingStream
from ..auth.chunked import AwsChunkedStream
from ..auth.errors import auth_error
from ..auth.sigv2 import SigV2Credential, parse_sigv2, verify_sigv2
from ..auth.sigv4 import SigV4Credential, parse_sigv4, verify_sigv4
from ..errors import ServiceError, internal_failure, not_implemented
from ..iam.authorizer import authorize, iam_state, record_request
from ..protocol import get_protocol, protocol_for
from ..protocol.base import Protocol
from ..protocol.http import FileBody, HttpRequest, HttpResponse, OutgoingBody
from ..services.s3 import hooks as s3_hooks
from ..regions import is_region
from .context import RequestContext
from .detect import Target, detect
from .runtime import Runtime
from .streams import RequestBodyStream, read_body

log = logging.getLogger("nimbus.gateway")

STREAMING_MODES = (
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
)


_REQUEST_ID_BASE = uuid.uuid4().hex[:20]
_request_counter = itertools.count()


def _new_request_id() -> str:
    """A UUID-shaped id, unique per process run (uuid4 per request costs ~4 % of a small request)."""
    n = next(_request_counter)
    b = _REQUEST_ID_BASE
    return f"{b[:8]}-{b[8:12]}-{b[12:16]}-{b[16:20]}-{n:012x}"


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self._fallback = get_protocol("query")
        self._faults = runtime.config.faulty_operations

    # -- the request pipeline ------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = _new_request_id()
        http = HttpRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query=request.query_string,
            headers=request.headers,
            host=request.host,
            secure=request.secure,
            remote=request.remote or "",
        )
        model = None
        protocol: Protocol = self._fallback
        # what the audit log records of this request
        target: Target | None = None
        op = None
        region = ""
        principal: Principal | None = None
        credential: SigV4Credential | None = None
        ctx: RequestContext | None = None
        failure: ServiceError | None = None
        try:
            eager = not _may_stream(http)
            if eager:
                http.body = await read_body(request.content, self.config.max_request_body)
            target = detect(http, self.config.hostname)
            model = services.model(target.service)
            protocol = protocol_for(model, http)
            if target.service == "s3":  # website hosts, CORS preflights, browser POST forms
                early = await s3_hooks.intercept(self.runtime, http, target, request.content, request_id)
                if early is not None:
                    s3_hooks.add_cors(self.runtime, http, target, early)
                    return await self._write(request, early)
            legacy = parse_sigv2(http) if target.service == "s3" else None
            credential = None if legacy is not None else parse_sigv4(http, service_hint=target.service)
            region = self._region(target, credential)

            op_request = http
            if target.bucket is not None:
                op_request = replace(http, path="/" + quote(target.bucket, safe="") + (http.path or "/"))
            op = protocol.resolve_operation(model, op_request)
            streaming = _streams_input(op)
            if not eager and not streaming:
                http.body = op_request.body = await read_body(request.content, self.config.max_request_body)

            if streaming:  # the signature covers the claimed hash; the stream checks the bytes
                http.stream = RequestBodyStream(request.content, request.content_length)
            if legacy is not None:  # S3 SigV2, which boto3 still uses for presigned URLs
                principal, signing_key = self._authenticate_v2(http, target, legacy), None
            else:
                principal, signing_key = self._authenticate(http, target, credential)
            if not streaming and target.service != "s3" and "gzip" in http.headers.get("Content-Encoding", ""):
                # Request compression (botocore gzips large PutMetricData bodies); S3
                # keeps Content-Encoding as object metadata and stores bytes as sent.
                op_request.body = http.body = self._gunzip(http.body, protocol)
            if streaming:
                op_request.stream = self._input_stream(http, credential, signing_key)

            params = await protocol.parse(op, op_request)
            provider = self.runtime.provider(target.service)
            protocol.validate(op, params, constraints=getattr(provider, "model_constraints", True))
            ctx = RequestContext(
                runtime=self.runtime,
                service=target.service,
                operation=op.name,
                region=region,
                principal=principal,
                request_id=request_id,
                source_ip=http.remote,
                secure=http.secure,
                user_agent=http.headers.get("User-Agent", ""),
                host=http.host,
                headers=http.headers,
            )
            authorize(ctx, params)
            handler = provider.handler(op.name) if provider is not None else None
            if handler is None:
                raise not_implemented(target.service, op.name)
            if (target.service, op.name) in self._faults:
                raise RuntimeError(f"fault injected into {target.service}:{op.name} (NIMBUS_FAULT_INJECTION)")
            result = handler(ctx, params)
            if inspect.isawaitable(result):
                result = await result
            response = protocol.serialize(op, result, request_id)
        except ServiceError as error:
            failure = error
            response = protocol.serialize_error(model, error, request_id, head=http.method == "HEAD")
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("internal failure handling %s %s (request id %s)", http.method, http.path, request_id)
            failure = internal_failure()
            response = protocol.serialize_error(model, failure, request_id, head=http.method == "HEAD")
        if target is not None:
            try:
                record_request(
                    self.runtime, service=target.service, operation=op.name if op is not None else None,
                    principal=principal, access_key=credential.access_key if credential is not None else "",
                    ctx=ctx, region=region, source_ip=http.remote, user_agent=http.headers.get("User-Agent", ""),
                    request_id=request_id, error=failure,
                )
            except Exception:  # the audit log never fails a request
                log.exception("could not record request %s", request_id)
        if target is not None and target.service == "s3" and "Origin" in http.headers:
            s3_hooks.add_cors(self.runtime, http, target, response)
        return await self._write(request, response)

    def _gunzip(self, body: bytes, protocol: Protocol) -> bytes:
        try:
            decompressor = zlib.decompressobj(wbits=31)
            data = decompressor.decompress(body, self.config.max_request_body + 1)
        except zlib.error as exc:
            raise protocol.malformed_error(f"The request body is not valid gzip: {exc}") from exc
        if len(data) > self.config.max_request_body:
            raise ServiceError("RequestEntityTooLarge", "The decompressed request body is too large.", 413)
        return data

    def _region(self, target: Target, credential: SigV4Credential | None) -> str:
        region = credential.region if credential is not None else (target.region or self.config.region)
        if not is_region(region):
            service = target.service
            if service == "s3":
                raise ServiceError(
                    "AuthorizationHeaderMalformed",
                    f"The authorization header is malformed; the region '{region}' is wrong.",
                    400,
                    fields={"Region": region},
                )
            raise auth_error("bad_signature", service, f"Credential should be scoped to a valid region, not '{region}'.")
        return region

    def _authenticate(
        self, http: HttpRequest, target: Target, credential: SigV4Credential | None
    ) -> tuple[Principal, bytes | None]:
        if credential is None:
            return ANONYMOUS, None
        found = self.runtime.accounts.lookup(credential.access_key)
        if found is None or not found.active:
            raise auth_error("unknown_key", target.service, fields=_key_field(target, credential))
        _check_token(found, credential.session_token, target)
        now = self.runtime.clock.wall_now()
        signing_key = verify_sigv4(http, credential, found.secret_access_key, now=now)
        _check_expiry(found, now, target)
        return found.principal, signing_key

    def _authenticate_v2(self, http: HttpRequest, target: Target, credential: SigV2Credential) -> Principal:
        found = self.runtime.accounts.lookup(credential.access_key)
        if found is None or not found.active:
            raise auth_error("unknown_key", target.service, fields={"AWSAccessKeyId": credential.access_key})
        _check_token(found, credential.session_token, target)
        now = self.runtime.clock.wall_now()
        verify_sigv2(http, credential, found.secret_access_key, now=now, bucket_in_host=target.bucket)
        _check_expiry(found, now, target)
        return found.principal

    def _input_stream(self, http: HttpRequest, credential: SigV4Credential | None, signing_key: bytes | None):
        headers = http.headers
        raw = http.stream
        mode = (credential.content_sha256 if credential else None) or headers.get("x-amz-content-sha256", "")
        if mode in STREAMING_MODES:
            return AwsChunkedStream.for_request(replace(http, stream=raw), credential, signing_key)
        if credential is not None and len(mode) == 64 and not credential.presigned:
            return HashingStream(raw, mode)
        return raw

    # -- writing responses -----------------------------------------------------------

    async def _write(self, request: web.Request, response: HttpResponse) -> web.StreamResponse:
        body = response.body
        headers = response.headers
        headers["Server"] = "Nimbus"
        if isinstance(body, (bytes, bytearray)):
            if request.method == "HEAD":
                resp = web.StreamResponse(status=response.status, headers=headers)
                if "Content-Length" in headers:
                    resp.content_length = int(headers["Content-Length"])
                await resp.prepare(request)
                await resp.write_eof()
                return resp
            headers.pop("Content-Length", None)
            return web.Response(status=response.status, headers=headers, body=bytes(body))
        return await self._write_stream(request, response.status, headers, body)

    async def _write_stream(
        self, request: web.Request, status: int, headers: Any, body: OutgoingBody
    ) -> web.StreamResponse:
        headers.pop("Content-Length", None)
        resp = web.StreamResponse(status=status, headers=headers)
        if body.length is not None:
            resp.content_length = body.length
        try:
            await resp.prepare(request)
            if request.method == "HEAD" or body.length == 0:
                await resp.write_eof()
                return resp
            transport = request.transport
            if isinstance(body, FileBody) and transport is not None and not request.secure:
                # Zero-copy: the kernel moves the bytes (plain HTTP only; TLS must encrypt them).
                loop = asyncio.get_running_loop()
                try:
                    for f, offset, length in body.segments:
                        if length:
                            await loop.sendfile(transport, f, offset, length)
                    await resp.write_eof()
                    return resp
                except NotImplementedError:
                    pass  # an event loop without sendfile (uvloop) raises before sending anything
            async for chunk in body:
                await resp.write(chunk)
            await resp.write_eof()
        finally:
            await body.close()
        return resp

    def close(self) -> None:
        """Buffered audit events reach the store (at shutdown)."""
        iam_state(self.runtime).audit.close()


def _check_token(found, token: str | None, target: Target) -> None:
    """Temporary credentials carry the session token issued with them; others carry none."""
    if (found.session_token is not None or token is not None) and token != found.session_token:
        raise auth_error("token_invalid", target.service)


def _check_expiry(found, now, target: Target) -> None:
    if found.expires is not None and now.timestamp() >= found.expires:
        raise auth_error("token_expired", target.service)  # real time, as in AWS


def _key_field(target: Target, credential: SigV4Credential) -> dict[str, str]:
    return {"AWSAccessKeyId": credential.access_key} if target.service == "s3" else {}


def _may_stream(http: HttpRequest) -> bool:
    """Whether the body might be an S3 object upload (streamed, never read whole)."""
    if http.method not in ("PUT", "POST"):
        return False
    headers = http.headers
    if "X-Amz-Target" in headers or "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        return False
    if "smithy-protocol" in headers:
        return False
    from ..auth.sigv4 import credential_scope_service

    scope = credential_scope_service(http)
    return scope is None or scope[1] == "s3"


def _streams_input(op) -> bool:
    shape = op.input_shape
    if shape is None:
        return False
    payload = shape.serialization.get("payload")
    if payload is None:
        return False
    member = shape.members[payload]
    return member.type_name == "blob" and bool(member.serialization.get("streaming") or op.has_streaming_input)


__all__ = ["Gateway"]
