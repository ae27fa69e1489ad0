"""Browser uploads: presigned POST (multipart/form-data to a bucket) with a policy document.

The form's fields are read first (small), then the ``file`` part is streamed straight
into the object, never held whole.  The policy is checked as S3 checks it: signature
(SigV4 ``x-amz-signature`` or SigV2 ``signature``), expiration, every condition
(``eq``, ``starts-with``, ``content-length-range``, exact-match objects) and every form
field covered by a condition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDict

from ...accounts import Principal
from ...auth.sigv4 import signing_key
from ...errors import ServiceError
from ...protocol.http import HttpRequest, HttpResponse
from ...protocol.xml import escape

EXEMPT = {"policy", "x-amz-signature", "signature", "file", "awsaccesskeyid"}
MAX_FIELDS_BYTES = 1 << 20


def _denied(message: str) -> ServiceError:
    return ServiceError("AccessDenied", message, 403)


class _FileStream:
    """The file part as a ByteStream, enforcing content-length-range while it streams."""

    def __init__(self, part: Any, low: int | None, high: int | None) -> None:
        self._part = part
        self._low, self._high = low, high
        self.size = 0

    async def read(self, n: int = -1) -> bytes:
        data = await self._part.read_chunk(1 << 20 if n is None or n < 0 else min(n, 1 << 20))
        self.size += len(data)
        if self._high is not None and self.size > self._high:
            raise ServiceError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400,
                               fields={"MaxSizeAllowed": self._high, "ProposedSize": self.size})
        if not data and self._low is not None and self.size < self._low:
            raise ServiceError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400,
                               fields={"MinSizeAllowed": self._low, "ProposedSize": self.size})
        return data


def _check_conditions(policy: dict[str, Any], fields: dict[str, str], bucket: str) -> tuple[int | None, int | None]:
    values = {k.lower(): v for k, v in fields.items()}
    values["bucket"] = bucket
    covered = {"bucket"}
    low = high = None
    for condition in policy.get("conditions") or []:
        if isinstance(condition, dict):
            for name, wanted in condition.items():
                name = name.lower()
                covered.add(name)
                if values.get(name) != wanted:
                    raise _denied(f'Invalid according to Policy: Policy Condition failed: ["eq", "${name}", "{wanted}"]')
        elif isinstance(condition, list) and len(condition) == 3:
            op = str(condition[0]).lower()
            if op == "content-length-range":
                try:
                    low, high = int(condition[1]), int(condition[2])
                except (TypeError, ValueError):
                    raise ServiceError("InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range.", 400) from None
                continue
            target = str(condition[1])
            if not target.startswith("$"):
                raise ServiceError("InvalidPolicyDocument", f"Invalid Policy: Invalid Simple-Condition: {condition}", 400)
            name = target[1:].lower()
            covered.add(name)
            actual = values.get(name, "")
            wanted = str(condition[2])
            if op == "eq":
                ok = actual == wanted
            elif op == "starts-with":
                if name == "content-type" and "," in actual:
                    ok = all(part.strip().startswith(wanted) for part in actual.split(","))
                else:
                    ok = actual.startswith(wanted)
            else:
                raise ServiceError("InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {condition}", 400)
            if not ok:
                raise _denied(f'Invalid according to Policy: Policy Condition failed: ["{op}", "${name}", "{wanted}"]')
        else:
            raise ServiceError("InvalidPolicyDocument", "Invalid Policy: Invalid Condition.", 400)
    extra = [k for k in values if k not in covered and k not in EXEMPT and not k.startswith("x-ignore-")]
    if extra:
        raise _denied(f"Invalid according to Policy: Extra input fields: {', '.join(sorted(extra))}")
    return low, high


def _verify(runtime: Any, fields: dict[str, str], policy_b64: str) -> Principal:
    lower = {k.lower(): v for k, v in fields.items()}
    if "x-amz-signature" in lower:
        if lower.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise ServiceError("InvalidArgument", "Only AWS4-HMAC-SHA256 is supported", 400)
        parts = (lower.get("x-amz-credential") or "").split("/")
        if len(parts) != 5:
            raise ServiceError("InvalidArgument", "Invalid credential: x-amz-credential", 400)
        access_key, date, region, service, _ = parts
        found = runtime.accounts.lookup(access_key)
        if found is None or not found.active:
            raise ServiceError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403,
                               fields={"AWSAccessKeyId": access_key})
        key = signing_key(found.secret_access_key, date, region, service)
        expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, lower["x-amz-signature"]):
            raise ServiceError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", 403)
        return found.principal
    if "signature" in lower and "awsaccesskeyid" in lower:
        found = runtime.accounts.lookup(lower["awsaccesskeyid"])
        if found is None or not found.active:
            raise ServiceError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403)
        expected = base64.b64encode(hmac.new(found.secret_access_key.encode(), policy_b64.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, lower["signature"]):
            raise ServiceError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", 403)
        return found.principal
    raise ServiceError("InvalidArgument", "Bucket POST must contain a field named 'x-amz-signature'.  If it is specified, please check the order of the fields.", 400,
                       fields={"ArgumentName": "x-amz-signature", "ArgumentValue": ""})


async def handle(runtime: Any, http: HttpRequest, content: Any, bucket: str, region: str, request_id: str) -> HttpResponse:
    from aiohttp import MultipartReader

    from ...gateway.context import RequestContext

    reader = MultipartReader(http.headers, content)
    fields: dict[str, str] = {}
    file_part = None
    filename = ""
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        name = part.name or ""
        if name.lower() == "file":
            file_part, filename = part, part.filename or ""
            break
        value = await part.read(decode=False)
        total += len(value)
        if total > MAX_FIELDS_BYTES:
            raise ServiceError("MaxPostPreDataLengthExceeded", "Your POST request fields preceding the upload file were too large.", 400)
        fields[name] = value.decode("utf-8", "replace")
    if file_part is None:
        raise ServiceError("InvalidArgument", "POST requires exactly one file upload per request.", 400,
                           fields={"ArgumentName": "file", "ArgumentValue": "0"})
    lower = {k.lower(): v for k, v in fields.items()}
    if "key" not in lower:
        raise ServiceError("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", 400,
                           fields={"ArgumentName": "key", "ArgumentValue": ""})
    policy_b64 = lower.get("policy")
    if not policy_b64:
        raise _denied("Bucket POST must contain a field named 'policy' signed by an access key.")
    principal = _verify(runtime, fields, policy_b64)
    try:
        policy = json.loads(base64.b64decode(policy_b64))
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        raise ServiceError("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.", 400) from None
    if expiration <= datetime.now(timezone.utc):
        raise _denied("Invalid according to Policy: Policy expired.")
    key = lower["key"].replace("${filename}", filename)
    lower["key"] = key
    low, high = _check_conditions(policy, {**fields, "key": key}, bucket)
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    meta = {k[len("x-amz-meta-"):]: v for k, v in lower.items() if k.startswith("x-amz-meta-")}
    if meta:
        params["Metadata"] = meta
    for field, param in (("content-type", "ContentType"), ("cache-control", "CacheControl"),
                         ("content-disposition", "ContentDisposition"), ("content-encoding", "ContentEncoding"),
                         ("expires", "Expires"), ("acl", "ACL"), ("x-amz-server-side-encryption", "ServerSideEncryption"),
                         ("x-amz-server-side-encryption-aws-kms-key-id", "SSEKMSKeyId"), ("x-amz-storage-class", "StorageClass"),
                         ("x-amz-website-redirect-location", "WebsiteRedirectLocation"), ("x-amz-checksum-algorithm", "ChecksumAlgorithm")):
        if lower.get(field):
            params[param] = lower[field]
    if lower.get("tagging"):
        from xml.etree import ElementTree

        try:
            root = ElementTree.fromstring(lower["tagging"])
            pairs = [(t.findtext("{*}Key") or t.findtext("Key"), t.findtext("{*}Value") or t.findtext("Value") or "")
                     for t in root.iter() if t.tag.endswith("Tag")]
            from urllib.parse import urlencode

            params["Tagging"] = urlencode(pairs)
        except ElementTree.ParseError:
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", 400) from None
    params["Body"] = _FileStream(file_part, low, high)
    ctx = RequestContext(runtime=runtime, service="s3", operation="PutObject", region=region, principal=principal,
                         request_id=request_id, source_ip=http.remote, secure=http.secure, host=http.host,
                         headers=http.headers)
    provider = runtime.provider("s3")
    result = await provider.handler("PutObject")(ctx, params)
    etag = result["ETag"]
    headers = CIMultiDict({"ETag": etag, "Location": f"{runtime.config.endpoint}/{bucket}/{quote(key)}",
                           "x-amz-request-id": request_id})
    if result.get("VersionId"):
        headers["x-amz-version-id"] = result["VersionId"]
    redirect = lower.get("success_action_redirect") or lower.get("redirect")
    if redirect:
        sep = "&" if "?" in redirect else "?"
        headers["Location"] = f"{redirect}{sep}bucket={quote(bucket)}&key={quote(key)}&etag={quote(etag)}"
        return HttpResponse(303, headers, b"")
    status = lower.get("success_action_status") or "204"
    if status == "201":
        headers["Content-Type"] = "application/xml"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>{escape(headers["Location"])}</Location>'
                f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>")
        return HttpResponse(201, headers, body.encode())
    return HttpResponse(200 if status == "200" else 204, headers, b"")
