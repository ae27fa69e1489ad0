"""What the gateway hands to S3 before its normal pipeline: website hosts, CORS, POST forms.

The gateway calls ``intercept`` for every S3 request; it answers website-host requests
(HTML), CORS preflights (``OPTIONS``) and browser form uploads (multipart POST to a
bucket), and returns None for everything else.  ``add_cors`` adds CORS headers to an
actual S3 response when the bucket's rules allow the request's origin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from ...protocol.http import HttpRequest, HttpResponse
from . import cors


def bucket_of(http: HttpRequest, target: Any) -> str | None:
    if target.bucket is not None:
        return target.bucket
    path = (http.path or "/").lstrip("/")
    name = unquote(path.split("/", 1)[0])
    return name or None


async def intercept(runtime: Any, http: HttpRequest, target: Any, content: Any, request_id: str) -> HttpResponse | None:
    if target.website:
        from .website import Website

        return await Website(runtime, http, target.bucket, target.region, request_id).serve()
    if http.method == "OPTIONS":
        headers = cors.preflight(runtime.store, bucket_of(http, target), http.headers)
        headers["x-amz-request-id"] = request_id
        headers["Content-Length"] = "0"
        return HttpResponse(200, CIMultiDict(headers), b"")
    if (http.method == "POST" and "multipart/form-data" in http.headers.get("Content-Type", "")
            and "Authorization" not in http.headers):
        bucket = bucket_of(http, target)
        rest = (http.path or "/").lstrip("/")
        if bucket and (target.bucket is not None and rest == "" or target.bucket is None and "/" not in rest.rstrip("/")):
            from .post import handle

            record = runtime.store.read.get("s3:bucket", bucket)
            region = record["region"] if record else runtime.config.region
            if record is None:
                from ...errors import ServiceError

                raise ServiceError("NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": bucket})
            return await handle(runtime, http, content, bucket, region, request_id)
    return None


def add_cors(runtime: Any, http: HttpRequest, target: Any, response: HttpResponse) -> None:
    if "Origin" not in http.headers or target.website:
        return
    try:
        extra = cors.actual_headers(runtime.store, bucket_of(http, target), http.method, http.headers)
    except Exception:  # CORS decoration must never break a response
        return
    for name, value in extra.items():
        response.headers[name] = value
