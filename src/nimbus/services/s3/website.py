"""Static website hosting: ``<bucket>.s3-website[-.]<region>.<host>`` answers with HTML.

Website endpoints serve only what is public (bucket policy or ACLs, Block Public Access
applied), resolve index documents, follow redirect rules and redirect-all, and answer
errors as AWS's HTML pages (or the bucket's error document), never XML.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from ...accounts import ANONYMOUS
from ...errors import ServiceError
from ...protocol.http import HttpRequest, HttpResponse
from . import access
from .ranges import parse_range

BUCKET = "s3:bucket"
OBJECT = "s3:object"
_REASONS = {301: "Moved Permanently", 302: "Found", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 416: "Requested Range Not Satisfiable"}


def error_page(status: int, code: str, message: str, request_id: str, extra: dict[str, str] | None = None) -> bytes:
    title = f"{status} {_REASONS.get(status, 'Error')}"
    items = [f"<li>Code: {html.escape(code)}</li>", f"<li>Message: {html.escape(message)}</li>"]
    items += [f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in (extra or {}).items()]
    items += [f"<li>RequestId: {request_id}</li>", f"<li>HostId: {request_id}</li>"]
    return (f"<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n" + "\n".join(items)
            + "\n</ul>\n<hr/>\n</body>\n</html>\n").encode()


def _html(status: int, body: bytes, head: bool) -> HttpResponse:
    headers = CIMultiDict({"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))})
    return HttpResponse(status, headers, b"" if head else body)


def _redirect(status: int, location: str) -> HttpResponse:
    return HttpResponse(status, CIMultiDict({"Location": location, "Content-Length": "0"}), b"")


class Website:
    def __init__(self, runtime: Any, http: HttpRequest, bucket_name: str, region: str | None, request_id: str) -> None:
        self.runtime = runtime
        self.http = http
        self.bucket_name = bucket_name
        self.region = region or runtime.config.region
        self.request_id = request_id
        self.head = http.method == "HEAD"

    def _ctx(self):
        from ...gateway.context import RequestContext

        return RequestContext(runtime=self.runtime, service="s3", operation="GetObject", region=self.region,
                              principal=ANONYMOUS, request_id=self.request_id, source_ip=self.http.remote,
                              secure=self.http.secure, host=self.http.host, headers=self.http.headers)

    def error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> HttpResponse:
        return _html(status, error_page(status, code, message, self.request_id, extra), self.head)

    async def serve(self) -> HttpResponse:
        read = self.runtime.store.read
        bucket = read.get(BUCKET, self.bucket_name)
        if bucket is None:
            return self.error(404, "NoSuchBucket", "The specified bucket does not exist", {"BucketName": self.bucket_name})
        config = bucket.get("website")
        if not config:
            return self.error(404, "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration",
                              {"BucketName": self.bucket_name})
        if self.http.method not in ("GET", "HEAD"):
            return self.error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                              {"Method": self.http.method, "ResourceType": "OBJECT"})
        redirect_all = config.get("RedirectAllRequestsTo")
        if redirect_all:
            protocol = redirect_all.get("Protocol") or ("https" if self.http.secure else "http")
            return _redirect(301, f"{protocol}://{redirect_all['HostName']}{self.http.path or '/'}")
        key = unquote(self.http.path or "/").lstrip("/")
        suffix = config["IndexDocument"]["Suffix"]
        rule_redirect = self._routing(config, key, None)
        if rule_redirect is not None:
            return rule_redirect
        wanted = key + suffix if key == "" or key.endswith("/") else key
        doc = read.get(OBJECT, wanted, self.bucket_name)
        if not access.anonymous_decision(read, bucket, "s3:GetObject", f"arn:aws:s3:::{self.bucket_name}/{wanted}",
                                         (doc or {}).get("acl"), self._conditions()):
            return self._failure(bucket, config, key, 403, "AccessDenied", "Access Denied")
        if doc is None:
            if not key.endswith("/") and key and read.get(OBJECT, f"{key}/{suffix}", self.bucket_name) is not None:
                return _redirect(302, f"/{key}/")
            return self._failure(bucket, config, key, 404, "NoSuchKey", "The specified key does not exist.", {"Key": wanted})
        if doc.get("headers", {}).get("WebsiteRedirectLocation"):
            return _redirect(301, doc["headers"]["WebsiteRedirectLocation"])
        return self._object(bucket, doc, 200)

    def _conditions(self) -> dict[str, Any]:
        return {"aws:SecureTransport": "true" if self.http.secure else "false", "aws:SourceIp": self.http.remote}

    def _routing(self, config: dict[str, Any], key: str, error_code: int | None) -> HttpResponse | None:
        for rule in config.get("RoutingRules") or []:
            condition = rule.get("Condition") or {}
            prefix = condition.get("KeyPrefixEquals")
            code = condition.get("HttpErrorCodeReturnedEquals")
            if prefix is not None and not key.startswith(prefix):
                continue
            if code is not None and str(code) != str(error_code):
                continue
            if code is None and error_code is not None and prefix is None:
                continue
            redirect = rule["Redirect"]
            if redirect.get("ReplaceKeyWith") is not None:
                new_key = redirect["ReplaceKeyWith"]
            elif redirect.get("ReplaceKeyPrefixWith") is not None:
                new_key = redirect["ReplaceKeyPrefixWith"] + key[len(prefix or ""):]
            else:
                new_key = key
            host = redirect.get("HostName") or self.http.host
            protocol = redirect.get("Protocol") or ("https" if self.http.secure else "http")
            return _redirect(int(redirect.get("HttpRedirectCode") or 301), f"{protocol}://{host}/{new_key}")
        return None

    def _failure(self, bucket: dict[str, Any], config: dict[str, Any], key: str, status: int, code: str, message: str,
                 extra: dict[str, str] | None = None) -> HttpResponse:
        routed = self._routing(config, key, status)
        if routed is not None:
            return routed
        error_key = (config.get("ErrorDocument") or {}).get("Key")
        if error_key:
            read = self.runtime.store.read
            doc = read.get(OBJECT, error_key, self.bucket_name)
            if doc is not None and access.anonymous_decision(read, bucket, "s3:GetObject",
                                                             f"arn:aws:s3:::{self.bucket_name}/{error_key}", doc.get("acl"),
                                                             self._conditions()):
                return self._object(bucket, doc, status)
        return self.error(status, code, message, extra)

    def _object(self, bucket: dict[str, Any], doc: dict[str, Any], status: int) -> HttpResponse:
        from . import sse

        provider = self.runtime.provider("s3")
        ctx = self._ctx()
        try:
            if (doc.get("sse") or {}).get("type") == "SSE-C":
                raise ServiceError("InvalidRequest", "The object was stored using a form of Server Side Encryption.", 400)
            data_key = sse.open_key(ctx, doc.get("sse"), {}, bucket["owner"])
            span = parse_range(self.http.headers.get("Range"), doc["size"]) if status == 200 else None
        except ServiceError as error:
            return self.error(error.status or 400, error.code, error.message)
        first, last = span if span else (0, doc["size"] - 1)
        headers = CIMultiDict({"Content-Type": doc.get("content_type", "binary/octet-stream"), "ETag": doc["etag"],
                               "Accept-Ranges": "bytes"})
        for name, value in (doc.get("meta") or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        for field, header in (("CacheControl", "Cache-Control"), ("ContentDisposition", "Content-Disposition"),
                              ("ContentEncoding", "Content-Encoding"), ("ContentLanguage", "Content-Language")):
            if doc.get("headers", {}).get(field):
                headers[header] = doc["headers"][field]
        if span:
            headers["Content-Range"] = f"bytes {first}-{last}/{doc['size']}"
            status = 206
        if doc["size"] == 0:
            headers["Content-Length"] = "0"
            return HttpResponse(status, headers, b"")
        if self.head:
            headers["Content-Length"] = str(last - first + 1)
            return HttpResponse(status, headers, b"")
        return HttpResponse(status, headers, provider.body(ctx, doc, first, last, data_key))
