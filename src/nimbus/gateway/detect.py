"""Which service a request is for: credential scope, X-Amz-Target, path, host, Action.

AWS tells services apart by endpoint host name; Nimbus serves every service on one
endpoint, so it reads the same hints an AWS front end would, most reliable first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from ..auth.sigv4 import credential_scope_service
from ..errors import ServiceError
from ..protocol.http import HttpRequest
from .. import services

_AWS_HOST = re.compile(r"^(?:(?P<bucket>.+)\.)?(?P<svc>s3|s3-control|[a-z0-9-]+?)(?:[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d))?\.amazonaws\.com$")


@dataclass
class Target:
    service: str
    region: str | None  # from the credential scope or host; None: use the default
    bucket: str | None = None  # S3 virtual-hosted bucket taken from the Host header
    website: bool = False


def _host_without_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def s3_host_bucket(host: str, hostname: str) -> tuple[str | None, str | None, bool]:
    """(bucket, region, is_website) from a virtual-hosted S3 Host header."""
    host = _host_without_port(host)
    suffix = "." + hostname
    if host.endswith(suffix):
        prefix = host[: -len(suffix)]
        website = re.match(r"^(?P<bucket>.+)\.s3-website[.-](?P<region>[a-z0-9-]+)$", prefix)
        if website:
            return website["bucket"], website["region"], True
        virtual = re.match(r"^(?P<bucket>.+)\.s3(?:\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d))?$", prefix)
        if virtual:
            return virtual["bucket"], virtual["region"], False
        if prefix == "s3" or prefix.startswith("s3."):
            return None, None, False
        return prefix, None, False  # <bucket>.localhost
    match = _AWS_HOST.match(host)
    if match and match["svc"] in ("s3",) and match["bucket"]:
        return match["bucket"], match["region"], False
    website = re.match(r"^(?P<bucket>.+)\.s3-website[.-](?P<region>[a-z0-9-]+)\.amazonaws\.com$", host)
    if website:
        return website["bucket"], website["region"], True
    return None, None, False


def detect(request: HttpRequest, hostname: str) -> Target:
    scope = credential_scope_service(request)
    if scope is not None:
        region, signing = scope
        candidates = services.by_signing_name().get(signing)
        if candidates is None:
            raise ServiceError(
                "NotImplemented", f"Nimbus does not implement the AWS service that signs as '{signing}'.", 501
            )
        service = _pick(candidates, request)
        bucket, _, website = s3_host_bucket(request.host, hostname) if service == "s3" else (None, None, False)
        return Target(service, region, bucket, website)

    target = request.headers.get("X-Amz-Target")
    if target:
        prefix = target.rpartition(".")[0]
        service = services.by_target_prefix().get(prefix)
        if service:
            return Target(service, None)

    path = request.path
    if path.startswith("/service/") and "/operation/" in path:
        service = services.by_target_prefix().get(path.split("/")[2])
        if service:
            return Target(service, None)

    host = _host_without_port(request.host)
    bucket, region, website = s3_host_bucket(request.host, hostname)
    if bucket is not None:
        return Target("s3", region, bucket, website)
    match = _AWS_HOST.match(host)
    if match:
        service = services.by_endpoint_prefix().get(match["svc"])
        if service:
            return Target(service, match["region"])

    if "Action=" in request.query or (
        request.method == "POST" and "x-www-form-urlencoded" in request.headers.get("Content-Type", "")
    ):
        form = _form(request)
        action = form.get("Action")
        if action in services.UNSIGNED_ACTIONS:
            return Target(services.UNSIGNED_ACTIONS[action], None)
        service = services.by_api_version().get(form.get("Version", ""))
        if action and service:
            return Target(service, None)  # unsigned: answered with the service's auth error

    return Target("s3", None)  # anonymous S3 requests carry no other hint


def _form(request: HttpRequest) -> dict[str, str]:
    form = request.query_dict()
    if request.body:
        form.update(parse_qsl(request.body.decode("utf-8", "replace")))
    return form


def _pick(candidates: list[str], request: HttpRequest) -> str:
    if len(candidates) == 1:
        return candidates[0]
    if "s3" in candidates:
        if request.path.startswith("/v20180820/") or "x-amz-account-id" in request.headers:
            return "s3control"
        return "s3"
    if "elbv2" in candidates:
        return "elbv2" if _form(request).get("Version") == "2015-12-01" else "elb"
    return candidates[0]
