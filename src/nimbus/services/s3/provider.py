"""Amazon S3: buckets, objects, versions, encryption, access control and multipart uploads.

Records: ``s3:bucket`` (scope "", bucket names are global; its configuration —
versioning, policy, ACL, CORS, website, lifecycle, logging, encryption, object lock,
tags, Block Public Access — are fields of the record), ``s3:object`` (scope = bucket,
key = object key, in byte order for listings: the current version), ``s3:version``
(every version once versioning is on, see versions.py), ``s3:upload`` and ``s3:part``
for multipart uploads.  An object's bytes are one or more immutable blobs: a
multipart object keeps its parts' blobs as they were uploaded, so completing an upload
of any size copies nothing.  Encrypted objects' blobs hold ciphertext (sse.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import secrets
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, AsyncIterator
from urllib.parse import parse_qsl, quote, unquote, urlencode

from ...auth.checksums import new_checksum
from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...protocol.http import BytesStream, FileBody, IterBody
from ...state import Txn
from ..base import Provider
from . import access, listing, sse, versions
from .bucket_config import BucketConfigMixin
from .names import check_bucket_name
from .ranges import parse_range
from .versions import OBJECT, SEP, VERSION

BUCKET = "s3:bucket"
UPLOAD = "s3:upload"
PART = "s3:part"

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
MAX_SINGLE_PUT = 5 * 1024**3
CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
# Headers stored with an object and returned on GET/HEAD.
STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires",
                  "WebsiteRedirectLocation")
DEFAULT_BPA = {f: True for f in access.BPA_FIELDS}

canonical_user_id = access.canonical_user_id


def _no_such_bucket(bucket: str) -> ServiceError:
    return ServiceError("NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": bucket})


def _no_such_key(key: str) -> ServiceError:
    return ServiceError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


def _access_denied() -> ServiceError:
    return ServiceError("AccessDenied", "Access Denied", 403)


def _precondition(condition: str) -> ServiceError:
    return ServiceError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
                        fields={"Condition": condition})


def _http_date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return parsedate_to_datetime(str(value))


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc)


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = [c.strip() for c in condition.split(",")]
    return "*" in wanted or etag in wanted or etag.strip('"') in [w.strip('"') for w in wanted]


def parse_tagging(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    tags = [{"Key": k, "Value": v} for k, v in parse_qsl(text, keep_blank_values=True)]
    check_tags(tags, object_tags=True)
    return tags


def check_tags(tags: list[dict[str, Any]], *, object_tags: bool) -> None:
    limit = 10 if object_tags else 50
    if len(tags) > limit:
        raise ServiceError("BadRequest" if object_tags else "InvalidTag",
                           "Object tags cannot be greater than 10" if object_tags else "Bucket tag count cannot be greater than 50", 400)
    seen = set()
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value", "")
        if not key or len(key) > 128 or len(value or "") > 256:
            raise ServiceError("InvalidTag", "The TagKey you have provided is invalid" if not key or len(key) > 128 else "The TagValue you have provided is invalid", 400)
        if key.lower().startswith("aws:"):
            raise ServiceError("InvalidTag", "Your TagKey cannot be prefixed with aws:", 400)
        if key in seen:
            raise ServiceError("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
        seen.add(key)


class PlainStream:
    """A ByteStream over an async iterator of chunks (an object's plaintext, for copies)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    async def read(self, n: int = -1) -> bytes:
        if not self._buffer:
            try:
                self._buffer = await self._chunks.__anext__()
            except StopAsyncIteration:
                return b""
        if n < 0 or n >= len(self._buffer):
            data, self._buffer = self._buffer, b""
            return data
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data


class S3Provider(BucketConfigMixin, Provider):
    service = "s3"

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        self._policies: dict[str, dict] = {}
        self._log_targets: dict[str, dict[str, str]] | None = None
        self._log_buffer: dict[tuple[str, str], list[str]] = {}
        self._wrapped: dict[str, Any] = {}

    # -- access --------------------------------------------------------------------

    def _policy(self, text: str) -> dict:
        doc = self._policies.get(text)
        if doc is None:
            import json

            try:
                doc = json.loads(text)
            except ValueError:
                doc = {}
            if len(self._policies) > 1000:
                self._policies.clear()
            self._policies[text] = doc
        return doc

    def request_context(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Condition keys of this request, as S3 bucket policies see them."""
        context: dict[str, Any] = {
            "aws:SecureTransport": "true" if ctx.secure else "false",
            "aws:SourceIp": ctx.source_ip,
            "aws:PrincipalAccount": ctx.account_id or None,
            "aws:PrincipalArn": ctx.principal.arn if ctx.account_id else None,
        }
        if params.get("ServerSideEncryption"):
            context["s3:x-amz-server-side-encryption"] = params["ServerSideEncryption"]
        if params.get("SSEKMSKeyId"):
            context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = params["SSEKMSKeyId"]
        if params.get("SSECustomerAlgorithm"):
            context["s3:x-amz-server-side-encryption-customer-algorithm"] = params["SSECustomerAlgorithm"]
        if params.get("ACL"):
            context["s3:x-amz-acl"] = params["ACL"]
        if params.get("Prefix") is not None:
            context["s3:prefix"] = params["Prefix"]
        return {k: v for k, v in context.items() if v is not None}

    def _bucket(self, txn: Txn, ctx: RequestContext, name: str, params: dict[str, Any] | None = None,
                key: str | None = None, trust_engine: bool = True) -> dict[str, Any]:
        """The bucket record, once the caller may act on it (owner, bucket policy, ACL)."""
        bucket = txn.get(BUCKET, name)
        if bucket is None:
            raise _no_such_bucket(name)
        owner = bucket["owner"] == ctx.account_id
        policy = bucket.get("policy")
        if owner and not policy:
            return bucket
        decided = ctx.extra.get("iam")  # the IAM engine already weighed policies and ACLs
        if decided is not None and trust_engine and getattr(decided[2], "allowed", False):
            return bucket
        action = access.actions_of(ctx.operation)
        if ctx.operation == "GetObject" and params and params.get("VersionId"):
            action = "s3:GetObjectVersion"
        if key is None and params is not None:
            key = params.get("Key")
        resource = f"arn:aws:s3:::{name}" + (f"/{key}" if key is not None else "")
        decision = None
        if policy:
            settings = access.effective_bpa(txn, bucket)
            parsed = self._policy(policy)
            if not (settings["RestrictPublicBuckets"] and access.is_public_policy(parsed) and not owner
                    and ctx.principal.kind == "anonymous"):
                decision = access.policy_decision(parsed, principal_arn=ctx.principal.arn, account_id=ctx.account_id,
                                                  action=action, resource=resource,
                                                  context=self.request_context(ctx, params or {}))
        if decision == "Deny":
            raise _access_denied()
        if owner or decision == "Allow":
            return bucket
        if bucket.get("object_ownership") != "BucketOwnerEnforced" and not access.effective_bpa(txn, bucket)["IgnorePublicAcls"]:
            permission = "WRITE" if action in ("s3:PutObject", "s3:DeleteObject") else "READ"
            if access.acl_allows(bucket.get("acl"), ctx.principal, permission):
                return bucket
            if action == "s3:GetObject" and key is not None:
                doc = txn.get(OBJECT, key, name)
                if doc and access.acl_allows(doc.get("acl"), ctx.principal, "READ"):
                    return bucket
        raise _access_denied()

    def _owned_bucket(self, txn: Txn, ctx: RequestContext, name: str) -> dict[str, Any]:
        """Bucket configuration operations: the owner only (unless a policy allows)."""
        return self._bucket(txn, ctx, name)

    # -- server access logging -------------------------------------------------------

    def handler(self, operation: str):
        cache = self.__dict__.setdefault("_wrapped", {})  # (feature listing builds providers bare)
        wrapped = cache.get(operation)
        if wrapped is not None:
            return wrapped
        inner = super().handler(operation)
        if inner is None:
            return None

        def logged(ctx: RequestContext, params: dict[str, Any]):
            targets = self._logging_targets()
            bucket = params.get("Bucket")
            if not targets or bucket not in targets:
                return inner(ctx, params)
            try:
                result = inner(ctx, params)
            except ServiceError as error:
                self._log_request(ctx, params, error.status or 400, error.code, None)
                raise
            if inspect.isawaitable(result):
                return self._await_logged(result, ctx, params)
            self._log_request(ctx, params, 200, "-", result)
            return result

        cache[operation] = logged
        return logged

    async def _await_logged(self, result, ctx, params):
        try:
            value = await result
        except ServiceError as error:
            self._log_request(ctx, params, error.status or 400, error.code, None)
            raise
        self._log_request(ctx, params, 200, "-", value)
        return value

    def _logging_targets(self) -> dict[str, dict[str, str]]:
        if self._log_targets is None:
            targets = {}
            for name, doc in self.runtime.store.read.scan(BUCKET):
                enabled = (doc.get("logging") or {}).get("LoggingEnabled")
                if enabled:
                    targets[name] = enabled
            self._log_targets = targets
        return self._log_targets

    def _log_request(self, ctx: RequestContext, params: dict[str, Any], status: int, code: str, result: Any) -> None:
        from .logging import format_line

        target = self._logging_targets().get(params["Bucket"])
        if not target:
            return
        line = format_line(ctx, params, status, code, result)
        self._log_buffer.setdefault((target["TargetBucket"], target.get("TargetPrefix", "")), []).append(line)

    # -- buckets ------------------------------------------------------------------

    def create_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        check_bucket_name(name)
        if ctx.principal.kind == "anonymous":
            raise _access_denied()
        config = params.get("CreateBucketConfiguration") or {}
        constraint = config.get("LocationConstraint")
        if constraint == "EU":
            constraint = "eu-west-1"
        if constraint:
            if constraint == "us-east-1":
                raise ServiceError("InvalidLocationConstraint", "The specified location-constraint is not valid", 400,
                                   fields={"LocationConstraint": constraint})
            if constraint != ctx.region:
                raise ServiceError(
                    "IllegalLocationConstraintException",
                    f"The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to.",
                    400,
                )
        elif ctx.region != "us-east-1":
            raise ServiceError(
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.",
                400,
            )
        region = constraint or "us-east-1"
        ownership = params.get("ObjectOwnership", "BucketOwnerEnforced")
        if ownership not in ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"):
            raise ServiceError("InvalidArgument", "Invalid x-amz-object-ownership header", 400)
        acl = None
        if params.get("ACL") or any(params.get(g) for g in ("GrantFullControl", "GrantRead", "GrantReadACP", "GrantWrite", "GrantWriteACP")):
            if ownership == "BucketOwnerEnforced" and params.get("ACL") not in (None, "private", "bucket-owner-full-control"):
                raise ServiceError("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
            acl = access.canned_acl(params["ACL"], ctx.account_id) if params.get("ACL") else access.grants_from_headers(params, ctx.account_id)
        record: dict[str, Any] = {
            "name": name,
            "owner": ctx.account_id,
            "region": region,
            "created": ctx.clock.time(),
            "object_ownership": ownership,
            "public_access_block": dict(DEFAULT_BPA),
        }
        if acl is not None:
            if access.is_public_acl(acl):
                record.pop("public_access_block")  # a bucket created public-read (ObjectWriter) starts without BPA
            record["acl"] = acl
        if params.get("ObjectLockEnabledForBucket"):
            record["versioning"] = "Enabled"
            record["object_lock"] = {"ObjectLockEnabled": "Enabled"}
        with ctx.store.transaction() as txn:
            existing = txn.get(BUCKET, name)
            if existing is not None:
                if existing["owner"] != ctx.account_id:
                    raise ServiceError("BucketAlreadyExists",
                                       "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                                       409, fields={"BucketName": name})
                if existing["region"] == "us-east-1" and region == "us-east-1":
                    return {"Location": f"/{name}"}  # us-east-1 answers 200 to its owner, as AWS does
                raise ServiceError("BucketAlreadyOwnedByYou",
                                   "Your previous request to create the named bucket succeeded and you already own it.",
                                   409, fields={"BucketName": name})
            txn.put(BUCKET, name, record)
        return {"Location": f"/{name}", "BucketArn": f"arn:aws:s3:::{name}"}

    def head_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"], params)
        return {"BucketRegion": bucket["region"], "BucketArn": f"arn:aws:s3:::{bucket['name']}"}

    def get_bucket_location(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"], params)
        region = bucket["region"]
        return {"LocationConstraint": "" if region == "us-east-1" else region}

    def list_buckets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.principal.kind == "anonymous":
            raise _access_denied()
        max_buckets = params.get("MaxBuckets")
        if max_buckets is not None and not 1 <= max_buckets <= 10000:
            raise ServiceError("InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000", 400)
        prefix = params.get("Prefix") or ""
        after = listing.decode_token(params["ContinuationToken"]) if params.get("ContinuationToken") else None
        region = params.get("BucketRegion")
        buckets = []
        next_token = None
        for name, doc in ctx.store.read.scan(BUCKET, prefix=prefix, start_after=after):
            if doc["owner"] != ctx.account_id or (region and doc["region"] != region):
                continue
            if max_buckets is not None and len(buckets) == max_buckets:
                next_token = listing.encode_token(buckets[-1]["Name"])
                break
            buckets.append({"Name": name, "CreationDate": doc["created"], "BucketRegion": doc["region"],
                            "BucketArn": f"arn:aws:s3:::{name}"})
        result: dict[str, Any] = {"Buckets": buckets, "Owner": self._owner(ctx.account_id)}
        if prefix:
            result["Prefix"] = prefix
        if next_token:
            result["ContinuationToken"] = next_token
        return result

    def delete_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        with ctx.store.transaction() as txn:
            bucket = self._bucket(txn, ctx, name, params)
            if bucket["owner"] != ctx.account_id:
                raise _access_denied()
            if next(txn.scan_keys(OBJECT, name), None) is not None or next(txn.scan_keys(VERSION, name), None) is not None:
                raise ServiceError("BucketNotEmpty", "The bucket you tried to delete is not empty", 409,
                                   fields={"BucketName": name})
            uploads = [key for key in txn.scan_keys(UPLOAD, name)]
            blobs = []
            for upload_id in uploads:
                blobs += self._drop_upload(txn, ctx, name, upload_id)
            txn.delete(BUCKET, name)
        for blob_id in blobs:
            ctx.blobs.delete(blob_id)
        if self._log_targets is not None:
            self._log_targets.pop(name, None)
        return {}

    def _owner(self, account_id: str) -> dict[str, str]:
        return access.owner_of(account_id)

    # -- objects ------------------------------------------------------------------

    def _object_acl(self, ctx: RequestContext, bucket: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        canned = params.get("ACL")
        acl = None
        if canned:
            acl = access.canned_acl(canned, ctx.account_id or bucket["owner"], bucket["owner"])
        else:
            acl = access.grants_from_headers(params, ctx.account_id or bucket["owner"])
        if acl is None:
            return None
        if bucket.get("object_ownership") == "BucketOwnerEnforced":
            if canned in ("private", "bucket-owner-full-control"):
                return None
            raise ServiceError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
        if access.is_public_acl(acl) and access.effective_bpa(ctx.store.read, bucket)["BlockPublicAcls"]:
            raise _access_denied()
        if canned == "private" and ctx.account_id == bucket["owner"]:
            return None
        return acl

    def _lock_fields(self, ctx: RequestContext, bucket: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("ObjectLockMode")
        until = params.get("ObjectLockRetainUntilDate")
        hold = params.get("ObjectLockLegalHoldStatus")
        lock_config = bucket.get("object_lock")
        if (mode or until or hold) and not lock_config:
            raise ServiceError("InvalidRequest", "Bucket is missing Object Lock Configuration", 400)
        fields: dict[str, Any] = {}
        if mode or until:
            if not (mode and until):
                raise ServiceError("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied", 400)
            if mode not in ("GOVERNANCE", "COMPLIANCE"):
                raise ServiceError("InvalidArgument", "Unknown wormMode directive.", 400)
            until_epoch = _http_date(until).timestamp()
            if until_epoch <= ctx.clock.time():
                raise ServiceError("InvalidArgument", "The retain until date must be in the future!", 400)
            fields["lock_mode"], fields["lock_until"] = mode, until_epoch
        elif lock_config:
            rule = (lock_config.get("Rule") or {}).get("DefaultRetention")
            if rule:
                days = rule.get("Days") or 0
                years = rule.get("Years") or 0
                fields["lock_mode"] = rule["Mode"]
                fields["lock_until"] = ctx.clock.time() + days * 86400 + years * 365 * 86400
        if hold:
            if hold not in ("ON", "OFF"):
                raise ServiceError("InvalidArgument", "Unknown legal hold status.", 400)
            fields["legal_hold"] = hold
        return fields

    def _object_headers(self, params: dict[str, Any]) -> dict[str, str]:
        return {h: _header_text(params[h]) for h in STORED_HEADERS if params.get(h) is not None}

    async def put_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket_name, key = params["Bucket"], params["Key"]
        self._check_key(key)
        bucket = self._bucket(ctx.store.read, ctx, bucket_name, params)
        acl = self._object_acl(ctx, bucket, params)
        lock = self._lock_fields(ctx, bucket, params)
        tags = parse_tagging(params.get("Tagging"))
        storage_class = params.get("StorageClass") or "STANDARD"
        enc = sse.plan_write(ctx, params, bucket, key)
        written = await self._receive(ctx, params, limit=MAX_SINGLE_PUT, enc=enc)
        etag = f'"{written["md5"]}"'
        doc: dict[str, Any] = {
            "parts": [[written["blob"], written["size"]]],
            "size": written["size"],
            "etag": etag,
            "modified": ctx.clock.time(),
            "content_type": params.get("ContentType") or "binary/octet-stream",
        }
        headers = self._object_headers(params)
        if headers:
            doc["headers"] = headers
        if params.get("Metadata"):
            doc["meta"] = params["Metadata"]
        if written["checksums"]:
            doc["checksums"] = written["checksums"]
        if storage_class != "STANDARD":
            doc["storage_class"] = storage_class
        if enc is not None:
            doc["sse"] = enc.record
        if tags:
            doc["tags"] = tags
        if acl is not None:
            doc["acl"] = acl
        if ctx.account_id and ctx.account_id != bucket["owner"] and bucket.get("object_ownership") == "ObjectWriter":
            doc["owner"] = ctx.account_id
        doc.update(lock)
        try:
            with ctx.store.transaction() as txn:
                bucket = self._bucket(txn, ctx, bucket_name, params)  # it may have gone while the body streamed
                previous = txn.get(OBJECT, key, bucket_name)
                self._check_write_conditions(params, previous, key)
                released = versions.commit(txn, bucket, key, doc)
        except BaseException:
            ctx.blobs.delete(written["blob"])
            raise
        self._release(ctx, released)
        result: dict[str, Any] = {"ETag": etag}
        result.update({f"Checksum{alg}": value for alg, value in written["checksums"].items()})
        if written["checksums"]:
            result["ChecksumType"] = "FULL_OBJECT"
        if "version_id" in doc:
            result["VersionId"] = doc["version_id"]
        result.update(sse.response_fields(doc.get("sse")))
        return result

    def _check_write_conditions(self, params: dict[str, Any], previous: dict | None, key: str) -> None:
        if params.get("IfNoneMatch") is not None and previous is not None:
            raise _precondition("If-None-Match")
        if params.get("IfMatch") is not None:
            if previous is None:
                raise _no_such_key(key)
            if not _etag_matches(params["IfMatch"], previous["etag"]):
                raise _precondition("If-Match")

    def _check_key(self, key: str) -> None:
        if not key:
            raise ServiceError("InvalidArgument", "Object key must not be empty", 400)
        if len(key.encode("utf-8")) > 1024:
            raise ServiceError("KeyTooLongError", "Your key is too long", 400)

    async def _receive(self, ctx: RequestContext, params: dict[str, Any], *, limit: int,
                       enc: sse.Encryption | None = None, body: Any = None) -> dict[str, Any]:
        """Stream the request body into a blob, checking Content-MD5 and checksums."""
        if body is None:
            body = params.get("Body")
        declared = {alg: params[f"Checksum{alg}"] for alg in CHECKSUM_ALGORITHMS if params.get(f"Checksum{alg}")}
        wanted = set(declared)
        algorithm = (params.get("ChecksumAlgorithm") or "").upper()
        if algorithm:
            if algorithm not in CHECKSUM_ALGORITHMS:
                raise ServiceError("InvalidRequest", f"Checksum algorithm {algorithm} is not supported", 400)
            wanted.add(algorithm)
        hashers = {alg: new_checksum(alg) for alg in wanted}
        if body is None:
            body = BytesStream(b"")
        try:
            if enc is None:
                written = await ctx.blobs.write(body, hashers=hashers, limit=limit)
            else:
                written = await sse.write_encrypted(ctx.blobs, body, enc.data_key, hashers=hashers, limit=limit)
        except OverflowError:
            raise ServiceError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", 400) from None
        trailer_sums = {k.upper(): v for k, v in getattr(body, "checksums", {}).items()}
        try:
            md5_b64 = params.get("ContentMD5")
            if md5_b64 is not None:
                try:
                    claimed = base64.b64decode(md5_b64, validate=True)
                except (binascii.Error, ValueError):
                    claimed = b""
                if len(claimed) != 16:
                    raise ServiceError("InvalidDigest", "The Content-MD5 you specified was invalid.", 400,
                                       fields={"Content-MD5": md5_b64})
                if claimed.hex() != written.md5_hex:
                    raise ServiceError("BadDigest", "The Content-MD5 you specified did not match what we received.", 400,
                                       fields={"ExpectedDigest": claimed.hex(), "CalculatedDigest": base64.b64encode(bytes.fromhex(written.md5_hex)).decode()})
            computed = {alg: h.b64digest() for alg, h in written.extra.items()}
            for alg, value in declared.items():
                if computed.get(alg) != value:
                    raise ServiceError("BadDigest", f"The {alg} you specified did not match the calculated checksum.", 400)
            computed.update({k: v for k, v in trailer_sums.items() if k in CHECKSUM_ALGORITHMS})
        except BaseException:
            ctx.blobs.delete(written.blob_id)
            raise
        return {"blob": written.blob_id, "size": written.size, "md5": written.md5_hex, "checksums": computed}

    def _release(self, ctx: Any, docs: list[dict[str, Any] | None] | dict[str, Any] | None) -> None:
        """Delete the bytes of records that no longer exist (after their transaction)."""
        if docs is None:
            return
        if isinstance(docs, dict):
            docs = [docs]
        for doc in docs:
            if doc:
                for blob_id, _ in doc.get("parts", []):
                    ctx.blobs.delete(blob_id)

    def _read_object(self, ctx: RequestContext, params: dict[str, Any], trust_engine: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        """(bucket, version) a GET/HEAD reads, honouring VersionId and delete markers."""
        read = ctx.store.read
        name, key = params["Bucket"], params["Key"]
        bucket = self._bucket(read, ctx, name, params, trust_engine=trust_engine)
        version_id = params.get("VersionId")
        if version_id:
            versions.check_version_id(version_id)
            if not bucket.get("versioning"):
                doc = read.get(OBJECT, key, name) if version_id == "null" else None
                if doc is None:
                    raise ServiceError("NoSuchVersion", "The specified version does not exist.", 404,
                                       fields={"Key": key, "VersionId": version_id})
                return bucket, doc
            found = versions.find(read, name, key, version_id)
            if found is None:
                raise ServiceError("NoSuchVersion", "The specified version does not exist.", 404,
                                   fields={"Key": key, "VersionId": version_id})
            doc = found[1]
            if doc.get("delete_marker"):
                raise ServiceError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                                   headers={"x-amz-delete-marker": "true", "x-amz-version-id": version_id,
                                            "Last-Modified": _rfc822(doc["modified"])},
                                   fields={"Method": "GET", "ResourceType": "DeleteMarker"})
            return bucket, doc
        doc = read.get(OBJECT, key, name)
        if doc is None:
            headers = {}
            if bucket.get("versioning"):
                top = versions.newest(read, name, key)
                if top is not None and top[1].get("delete_marker"):
                    headers = {"x-amz-delete-marker": "true", "x-amz-version-id": top[1]["version_id"]}
            error = _no_such_key(key)
            error.headers.update(headers)
            raise error
        return bucket, doc

    def _check_read_conditions(self, params: dict[str, Any], doc: dict[str, Any], prefix: str = "") -> None:
        etag = doc["etag"]
        modified = _dt(doc["modified"])
        if_match = params.get(f"{prefix}IfMatch")
        if if_match is not None and not _etag_matches(if_match, etag):
            raise _precondition("If-Match")
        if params.get(f"{prefix}IfUnmodifiedSince") is not None and if_match is None:
            if modified > _http_date(params[f"{prefix}IfUnmodifiedSince"]):
                raise _precondition("If-Unmodified-Since")
        not_modified = (ServiceError("NotModified", "Not Modified", 304, headers={"ETag": etag}) if not prefix
                        else _precondition("x-amz-copy-source-If-None-Match"))
        if params.get(f"{prefix}IfNoneMatch") is not None:
            if _etag_matches(params[f"{prefix}IfNoneMatch"], etag):
                raise not_modified
        elif params.get(f"{prefix}IfModifiedSince") is not None and modified <= _http_date(params[f"{prefix}IfModifiedSince"]):
            raise not_modified

    def _describe(self, doc: dict[str, Any], params: dict[str, Any], *, ranged: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "ETag": doc["etag"],
            "LastModified": _dt(doc["modified"]),
            "ContentLength": doc["size"],
            "ContentType": doc.get("content_type", "binary/octet-stream"),
            "AcceptRanges": "bytes",
            "Metadata": doc.get("meta", {}),
        }
        result.update(doc.get("headers", {}))
        if "version_id" in doc:
            result["VersionId"] = doc["version_id"]
        if doc.get("storage_class", "STANDARD") != "STANDARD":
            result["StorageClass"] = doc["storage_class"]
        if len(doc["parts"]) > 1 or doc.get("parts_count"):
            result["PartsCount"] = doc.get("parts_count", len(doc["parts"]))
        if doc.get("sse"):
            result.update(sse.response_fields(doc["sse"]))
        if doc.get("tags"):
            result["TagCount"] = len(doc["tags"])
        if doc.get("lock_mode"):
            result["ObjectLockMode"] = doc["lock_mode"]
            result["ObjectLockRetainUntilDate"] = _dt(doc["lock_until"])
        if doc.get("legal_hold"):
            result["ObjectLockLegalHoldStatus"] = doc["legal_hold"]
        if params.get("ChecksumMode") == "ENABLED" and not ranged:  # a range has no whole-object checksum
            for alg, value in doc.get("checksums", {}).items():
                result[f"Checksum{alg}"] = value
            if doc.get("checksums"):
                result["ChecksumType"] = doc.get("checksum_type", "FULL_OBJECT")
        overrides = {
            "ResponseCacheControl": "CacheControl",
            "ResponseContentDisposition": "ContentDisposition",
            "ResponseContentEncoding": "ContentEncoding",
            "ResponseContentLanguage": "ContentLanguage",
            "ResponseContentType": "ContentType",
            "ResponseExpires": "Expires",
        }
        for param, field in overrides.items():
            if params.get(param) is not None:
                result[field] = _header_text(params[param])
        return result

    def head_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, doc = self._read_object(ctx, params)
        if (doc.get("sse") or {}).get("type") == "SSE-C" or params.get("SSECustomerKey"):
            sse.open_key(ctx, doc.get("sse"), params, bucket["owner"])
        self._check_read_conditions(params, doc)
        span = parse_range(params.get("Range"), doc["size"])
        result = self._describe(doc, params, ranged=span is not None)
        if span is not None:
            first, last = span
            result["ContentLength"] = last - first + 1
            result["ContentRange"] = f"bytes {first}-{last}/{doc['size']}"
        return result

    def get_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, doc = self._read_object(ctx, params)
        data_key = sse.open_key(ctx, doc.get("sse"), params, bucket["owner"])
        self._check_read_conditions(params, doc)
        size = doc["size"]
        span = parse_range(params.get("Range"), size)
        result = self._describe(doc, params, ranged=span is not None)
        first, last = span if span is not None else (0, size - 1)
        if span is not None:
            result["ContentRange"] = f"bytes {first}-{last}/{size}"
            result["ContentLength"] = last - first + 1
            result["NimbusStatusCode"] = 206
        result["Body"] = self.body(ctx, doc, first, last, data_key)
        return result

    def body(self, ctx: Any, doc: dict[str, Any], first: int, last: int, data_key: bytes | None):
        segments = self._segments(ctx, doc, first, last)
        if data_key is None:
            return FileBody(segments)
        return _DecryptingBody(segments, data_key, last - first + 1 if doc["size"] else 0)

    def _segments(self, ctx: Any, doc: dict[str, Any], first: int, last: int) -> list:
        """Open the blobs covering bytes first..last (now, while the record is current).

        Each segment is (file, offset, length, blob id, blob plaintext size)."""
        segments = []
        position = 0
        try:
            for blob_id, size in doc["parts"]:
                start, end = position, position + size - 1
                position += size
                if end < first or start > last or size == 0:
                    continue
                offset = max(first, start) - start
                length = min(last, end) - (start + offset) + 1
                segments.append((open(ctx.blobs.path(blob_id), "rb"), offset, length, blob_id, size))
        except BaseException:
            for segment in segments:
                segment[0].close()
            raise
        if not doc.get("sse"):
            return [s[:3] for s in segments]
        return segments

    def plaintext(self, ctx: Any, doc: dict[str, Any], data_key: bytes | None, first: int = 0, last: int | None = None) -> PlainStream:
        last = doc["size"] - 1 if last is None else last
        body = self.body(ctx, doc, first, last, data_key)

        async def chunks():
            try:
                async for chunk in body:
                    yield chunk
            finally:
                await body.close()

        return PlainStream(chunks())

    # -- deletes, object lock, MFA delete ------------------------------------------------

    def _check_lock(self, ctx: RequestContext, doc: dict[str, Any], bypass: bool) -> None:
        if doc.get("legal_hold") == "ON":
            raise ServiceError("AccessDenied", "Access Denied because object protected by object lock.", 403)
        if doc.get("lock_mode") and doc.get("lock_until", 0) > ctx.clock.time():
            if doc["lock_mode"] == "COMPLIANCE" or not bypass:
                raise ServiceError("AccessDenied", "Access Denied because object protected by object lock.", 403)

    def _check_mfa(self, ctx: RequestContext, bucket: dict[str, Any], params: dict[str, Any]) -> None:
        if bucket.get("mfa_delete") != "Enabled":
            return
        self.verify_mfa(ctx, params.get("MFA"))
        params["_mfa_ok"] = True

    def verify_mfa(self, ctx: RequestContext, header: str | None) -> None:
        if not header:
            raise ServiceError("AccessDenied", "Mfa Authentication must be used for this request", 403)
        serial, _, code = header.strip().rpartition(" ")
        try:
            from ...iam.mfa import verify_totp
        except ImportError:
            raise ServiceError("AccessDenied", "MFA devices are not available yet (the IAM engine provides them).", 403) from None
        ok = verify_totp(ctx.store, ctx.account_id, serial.strip(), code.strip(), ctx.clock.time())
        if not ok:
            raise ServiceError("AccessDenied", "Mfa Authentication must be used for this request", 403)

    def _delete(self, ctx: RequestContext, txn: Txn, bucket: dict[str, Any], key: str, params: dict[str, Any],
                version_id: str | None) -> tuple[dict[str, Any], list]:
        """Delete one key or version; (result fields, records whose bytes to release)."""
        name = bucket["name"]
        bypass = bool(params.get("BypassGovernanceRetention"))
        status = bucket.get("versioning")
        if version_id:
            versions.check_version_id(version_id)
            if bucket.get("mfa_delete") == "Enabled" and not params.get("_mfa_ok"):
                raise ServiceError("AccessDenied", "Mfa Authentication must be used for this request", 403)
            if not status:
                doc = txn.get(OBJECT, key, name) if version_id == "null" else None
                if doc is None:
                    return {"VersionId": version_id}, []
                txn.delete(OBJECT, key, name)
                return {"VersionId": "null"}, [doc]
            found = versions.find(txn, name, key, version_id)
            if found is None:
                return {"VersionId": version_id}, []
            row, doc = found
            if not doc.get("delete_marker"):
                self._check_lock(ctx, doc, bypass)
            versions.remove(txn, bucket, key, row)
            result: dict[str, Any] = {"VersionId": version_id}
            if doc.get("delete_marker"):
                result["DeleteMarker"] = True
                return result, []
            return result, [doc]
        previous = txn.get(OBJECT, key, name)
        if previous is not None and params.get("IfMatch") is not None and not _etag_matches(params["IfMatch"], previous["etag"]):
            raise _precondition("If-Match")
        if not status:
            if previous is None:
                return {}, []
            txn.delete(OBJECT, key, name)
            return {}, [previous]
        marker = {"delete_marker": True, "modified": ctx.clock.time(), "owner": ctx.account_id or bucket["owner"]}
        released = versions.commit(txn, bucket, key, marker)
        return {"DeleteMarker": True, "VersionId": marker["version_id"]}, released

    def delete_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket_name, key = params["Bucket"], params["Key"]
        if params.get("VersionId"):
            self._check_mfa(ctx, self._bucket(ctx.store.read, ctx, bucket_name, params), params)
        with ctx.store.transaction() as txn:
            bucket = self._bucket(txn, ctx, bucket_name, params)
            result, released = self._delete(ctx, txn, bucket, key, params, params.get("VersionId"))
        self._release(ctx, released)
        return result

    def delete_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket_name = params["Bucket"]
        request = params.get("Delete") or {}
        objects = request.get("Objects") or []
        if not objects or len(objects) > 1000:
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        deleted, errors, released = [], [], []
        record = self._bucket(ctx.store.read, ctx, bucket_name, params)
        if any(item.get("VersionId") for item in objects):
            self._check_mfa(ctx, record, params)
        for item in objects:
            key = item.get("Key", "")
            try:
                with ctx.store.transaction() as txn:
                    bucket = self._bucket(txn, ctx, bucket_name, params, key=key)
                    result, gone = self._delete(ctx, txn, bucket, key, params, item.get("VersionId"))
                released += gone
                entry: dict[str, Any] = {"Key": key}
                if item.get("VersionId"):
                    entry["VersionId"] = item["VersionId"]
                if result.get("DeleteMarker"):
                    entry["DeleteMarker"] = True
                    entry["DeleteMarkerVersionId"] = result["VersionId"]
                deleted.append(entry)
            except ServiceError as error:
                errors.append({"Key": key, "VersionId": item.get("VersionId"), "Code": error.code, "Message": error.message})
        self._release(ctx, released)
        out: dict[str, Any] = {"Errors": [{k: v for k, v in e.items() if v is not None} for e in errors]}
        if not request.get("Quiet"):
            out["Deleted"] = deleted
        return out

    # -- copies ---------------------------------------------------------------------

    def _copy_source(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any], bytes | None]:
        source = params["CopySource"]
        if isinstance(source, dict):
            src_bucket, src_key, src_version = source["Bucket"], source["Key"], source.get("VersionId")
        else:
            path, _, query = source.partition("?")
            path = unquote(path.lstrip("/"))
            src_bucket, _, src_key = path.partition("/")
            src_version = dict(parse_qsl(query)).get("versionId")
            if not src_bucket or not src_key:
                raise ServiceError("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", 400,
                                   fields={"ArgumentName": "x-amz-copy-source", "ArgumentValue": source})
        read_params = {"Bucket": src_bucket, "Key": src_key}
        if src_version:
            read_params["VersionId"] = src_version
        saved = ctx.operation
        ctx.operation = "GetObject"
        try:
            bucket, doc = self._read_object(ctx, read_params, trust_engine=False)
        finally:
            ctx.operation = saved
        self._check_read_conditions(params, doc, prefix="CopySource")
        data_key = sse.open_key(ctx, doc.get("sse"), params, bucket["owner"], prefix="CopySource")
        return bucket, src_key, doc, data_key

    async def copy_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket_name, key = params["Bucket"], params["Key"]
        self._check_key(key)
        src_bucket, src_key, src, data_key = self._copy_source(ctx, params)
        bucket = self._bucket(ctx.store.read, ctx, bucket_name, params)
        directive = params.get("MetadataDirective") or "COPY"
        if directive not in ("COPY", "REPLACE"):
            raise ServiceError("InvalidArgument", "Unknown metadata directive.", 400)
        same = src_bucket["name"] == bucket_name and src_key == key
        changes_encryption = any(params.get(p) for p in ("ServerSideEncryption", "SSECustomerKey", "SSEKMSKeyId", "StorageClass", "WebsiteRedirectLocation"))
        if same and directive == "COPY" and not changes_encryption and not (bucket.get("encryption") and not src.get("sse")):
            raise ServiceError("InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.", 400)
        acl = self._object_acl(ctx, bucket, params)
        lock = self._lock_fields(ctx, bucket, params)
        enc = sse.plan_write(ctx, params, bucket, key)
        stream = self.plaintext(ctx, src, data_key)
        written = await self._receive(ctx, {"ChecksumAlgorithm": params.get("ChecksumAlgorithm")}, limit=MAX_SINGLE_PUT, enc=enc, body=stream)
        if directive == "COPY":
            meta_source = {"content_type": src.get("content_type", "binary/octet-stream"), "headers": src.get("headers", {}), "meta": src.get("meta", {})}
        else:
            meta_source = {"content_type": params.get("ContentType") or "binary/octet-stream", "headers": self._object_headers(params),
                           "meta": params.get("Metadata") or {}}
        tagging = params.get("TaggingDirective") or "COPY"
        tags = src.get("tags", []) if tagging == "COPY" else parse_tagging(params.get("Tagging"))
        doc: dict[str, Any] = {"parts": [[written["blob"], written["size"]]], "size": written["size"],
                               "etag": f'"{written["md5"]}"', "modified": ctx.clock.time(), **meta_source}
        if written["checksums"]:
            doc["checksums"] = written["checksums"]
        if params.get("StorageClass") and params["StorageClass"] != "STANDARD":
            doc["storage_class"] = params["StorageClass"]
        if enc is not None:
            doc["sse"] = enc.record
        if tags:
            doc["tags"] = tags
        if acl is not None:
            doc["acl"] = acl
        doc.update(lock)
        try:
            with ctx.store.transaction() as txn:
                bucket = self._bucket(txn, ctx, bucket_name, params)
                self._check_write_conditions(params, txn.get(OBJECT, key, bucket_name), key)
                released = versions.commit(txn, bucket, key, doc)
        except BaseException:
            ctx.blobs.delete(written["blob"])
            raise
        self._release(ctx, released)
        result: dict[str, Any] = {"CopyObjectResult": {"ETag": doc["etag"], "LastModified": _dt(doc["modified"]),
                                                       **{f"Checksum{a}": v for a, v in written["checksums"].items()}}}
        if "version_id" in src:
            result["CopySourceVersionId"] = src["version_id"]
        if "version_id" in doc:
            result["VersionId"] = doc["version_id"]
        result.update(sse.response_fields(doc.get("sse")))
        return result

    # -- object subresources: tags, ACLs, retention, legal hold ------------------------

    def _version_change(self, ctx: RequestContext, params: dict[str, Any], change) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            bucket = self._bucket(txn, ctx, params["Bucket"], params)
            version_id = params.get("VersionId")
            if version_id:
                versions.check_version_id(version_id)
            return versions.update(txn, bucket, params["Key"], version_id, change)

    def _read_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._read_object(ctx, params)[1]

    def put_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = (params.get("Tagging") or {}).get("TagSet") or []
        check_tags(tags, object_tags=True)

        def change(doc):
            doc["tags"] = tags

        doc = self._version_change(ctx, params, change)
        return {"VersionId": doc["version_id"]} if "version_id" in doc else {}

    def get_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._read_version(ctx, params)
        result: dict[str, Any] = {"TagSet": doc.get("tags", [])}
        if "version_id" in doc:
            result["VersionId"] = doc["version_id"]
        return result

    def delete_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._version_change(ctx, params, lambda d: d.pop("tags", None))
        return {"VersionId": doc["version_id"]} if "version_id" in doc else {}

    def put_object_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"], params)
        acl = self._acl_input(ctx, bucket, params, owner_account=bucket["owner"])

        def change(doc):
            if acl is None:
                doc.pop("acl", None)
            else:
                doc["acl"] = acl

        self._version_change(ctx, params, change)
        return {}

    def get_object_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, doc = self._read_object(ctx, params)
        acl = doc.get("acl") or access.canned_acl("private", doc.get("owner") or bucket["owner"])
        return {"Owner": acl["Owner"], "Grants": acl["Grants"]}

    def put_object_retention(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"], params)
        if not bucket.get("object_lock"):
            raise ServiceError("InvalidRequest", "Bucket is missing Object Lock Configuration", 400)
        retention = params.get("Retention") or {}
        mode = retention.get("Mode")
        until = retention.get("RetainUntilDate")
        if mode and mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        until_epoch = _http_date(until).timestamp() if until else None
        now = ctx.clock.time()
        bypass = bool(params.get("BypassGovernanceRetention"))

        def change(doc):
            current_until = doc.get("lock_until", 0)
            if doc.get("lock_mode") and current_until > now:
                shortening = until_epoch is None or until_epoch < current_until or mode != doc["lock_mode"]
                if shortening and (doc["lock_mode"] == "COMPLIANCE" or not bypass):
                    raise ServiceError("AccessDenied", "Access Denied because object protected by object lock.", 403)
            if until_epoch is not None and until_epoch <= now:
                raise ServiceError("InvalidArgument", "The retain until date must be in the future!", 400)
            if mode:
                doc["lock_mode"], doc["lock_until"] = mode, until_epoch
            else:
                doc.pop("lock_mode", None)
                doc.pop("lock_until", None)

        self._version_change(ctx, params, change)
        return {}

    def get_object_retention(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, doc = self._read_object(ctx, params)
        if not bucket.get("object_lock"):
            raise ServiceError("InvalidRequest", "Bucket is missing Object Lock Configuration", 400)
        if not doc.get("lock_mode"):
            raise ServiceError("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration", 404)
        return {"Retention": {"Mode": doc["lock_mode"], "RetainUntilDate": _dt(doc["lock_until"])}}

    def put_object_legal_hold(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"], params)
        if not bucket.get("object_lock"):
            raise ServiceError("InvalidRequest", "Bucket is missing Object Lock Configuration", 400)
        status = (params.get("LegalHold") or {}).get("Status")
        if status not in ("ON", "OFF"):
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        self._version_change(ctx, params, lambda doc: doc.__setitem__("legal_hold", status))
        return {}

    def get_object_legal_hold(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, doc = self._read_object(ctx, params)
        if not bucket.get("object_lock"):
            raise ServiceError("InvalidRequest", "Bucket is missing Object Lock Configuration", 400)
        if not doc.get("legal_hold"):
            raise ServiceError("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration", 404)
        return {"LegalHold": {"Status": doc["legal_hold"]}}

    def get_object_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, doc = self._read_object(ctx, params)
        if (doc.get("sse") or {}).get("type") == "SSE-C":
            sse.open_key(ctx, doc["sse"], params, bucket["owner"])
        wanted = set(params.get("ObjectAttributes") or [])
        result: dict[str, Any] = {"LastModified": _dt(doc["modified"])}
        if "version_id" in doc:
            result["VersionId"] = doc["version_id"]
        if "ETag" in wanted:
            result["ETag"] = doc["etag"].strip('"')
        if "ObjectSize" in wanted:
            result["ObjectSize"] = doc["size"]
        if "StorageClass" in wanted:
            result["StorageClass"] = doc.get("storage_class", "STANDARD")
        if "Checksum" in wanted and doc.get("checksums"):
            result["Checksum"] = {f"Checksum{a}": v for a, v in doc["checksums"].items()}
            result["Checksum"]["ChecksumType"] = doc.get("checksum_type", "FULL_OBJECT")
        if "ObjectParts" in wanted and doc.get("parts_count"):
            result["ObjectParts"] = {"TotalPartsCount": doc["parts_count"]}
        return result

    # -- listings -----------------------------------------------------------------

    def _entry(self, key: str, doc: dict[str, Any], encode: bool, owner: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "Key": _url_encode(key) if encode else key,
            "LastModified": _dt(doc["modified"]),
            "ETag": doc["etag"],
            "Size": doc["size"],
            "StorageClass": doc.get("storage_class", "STANDARD"),
        }
        if doc.get("checksums"):
            item["ChecksumAlgorithm"] = sorted(doc["checksums"])
            item["ChecksumType"] = doc.get("checksum_type", "FULL_OBJECT")
        if owner:
            item["Owner"] = self._owner(owner)
        return item

    def _list_params(self, params: dict[str, Any]) -> tuple[str, str, int, bool]:
        max_keys = params.get("MaxKeys")
        if max_keys is None:
            max_keys = 1000
        if max_keys < 0:
            raise ServiceError("InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647", 400)
        encoding = params.get("EncodingType")
        if encoding is not None and encoding != "url":
            raise ServiceError("InvalidArgument", "Invalid Encoding Method specified in Request", 400)
        return params.get("Prefix") or "", params.get("Delimiter") or "", min(max_keys, 1000), encoding == "url"

    def list_objects_v2(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = params["Bucket"]
        prefix, delimiter, max_keys, encode = self._list_params(params)
        read = ctx.store.read
        record = self._bucket(read, ctx, bucket, params)
        token = params.get("ContinuationToken")
        after = listing.decode_token(token) if token else params.get("StartAfter") or None
        entries, cursor = listing.page(read, bucket, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
        owner = record["owner"] if params.get("FetchOwner") else None
        result: dict[str, Any] = {
            "Name": bucket,
            "Prefix": _url_encode(prefix) if encode else prefix,
            "MaxKeys": max_keys,
            "KeyCount": len(entries),
            "IsTruncated": cursor is not None,
            "Contents": [self._entry(e.key, e.doc, encode, owner) for e in entries if not e.is_prefix],
            "CommonPrefixes": [{"Prefix": _url_encode(e.key) if encode else e.key} for e in entries if e.is_prefix],
        }
        if delimiter:
            result["Delimiter"] = _url_encode(delimiter) if encode else delimiter
        if encode:
            result["EncodingType"] = "url"
        if token:
            result["ContinuationToken"] = token
        if params.get("StartAfter"):
            result["StartAfter"] = _url_encode(params["StartAfter"]) if encode else params["StartAfter"]
        if cursor is not None:
            result["NextContinuationToken"] = listing.encode_token(cursor)
        return result

    def list_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = params["Bucket"]
        prefix, delimiter, max_keys, encode = self._list_params(params)
        read = ctx.store.read
        record = self._bucket(read, ctx, bucket, params)
        marker = params.get("Marker") or ""
        entries, cursor = listing.page(read, bucket, prefix=prefix, delimiter=delimiter, after=marker or None, max_keys=max_keys)
        result: dict[str, Any] = {
            "Name": bucket,
            "Prefix": prefix,
            "Marker": marker,
            "MaxKeys": max_keys,
            "IsTruncated": cursor is not None,
            "Contents": [self._entry(e.key, e.doc, encode, record["owner"]) for e in entries if not e.is_prefix],
            "CommonPrefixes": [{"Prefix": _url_encode(e.key) if encode else e.key} for e in entries if e.is_prefix],
        }
        if delimiter:
            result["Delimiter"] = delimiter
            if cursor is not None and entries:
                result["NextMarker"] = entries[-1].key
        if encode:
            result["EncodingType"] = "url"
        return result

    def list_object_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        prefix, delimiter, max_keys, encode = self._list_params(params)
        read = ctx.store.read
        bucket = self._bucket(read, ctx, name, params)
        key_marker = params.get("KeyMarker") or ""
        version_marker = params.get("VersionIdMarker") or ""
        if version_marker and not key_marker:
            raise ServiceError("InvalidArgument", "A version-id marker cannot be specified without a key marker.", 400)
        versioned = bool(bucket.get("versioning"))
        kind = VERSION if versioned else OBJECT
        after = None
        if key_marker:
            after = key_marker + (SEP if versioned else "") + "\U0010ffff"
            if version_marker and versioned:
                found = versions.find(read, name, key_marker, version_marker)
                if found is None:
                    versions.check_version_id(version_marker)
                after = found[0] if found else after
        entries, cursor = listing.page(read, name, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys, kind=kind)
        result: dict[str, Any] = {"Name": name, "Prefix": prefix, "MaxKeys": max_keys, "KeyMarker": key_marker,
                                  "VersionIdMarker": version_marker, "IsTruncated": cursor is not None,
                                  "Versions": [], "DeleteMarkers": [], "CommonPrefixes": []}
        if delimiter:
            result["Delimiter"] = delimiter
        if encode:
            result["EncodingType"] = "url"
        previous_key = None
        last_key = last_version = None
        for entry in entries:
            if entry.is_prefix:
                result["CommonPrefixes"].append({"Prefix": _url_encode(entry.key) if encode else entry.key})
                last_key, last_version = entry.key, None
                continue
            key = versions.split_row(entry.key) if versioned else entry.key
            doc = entry.doc
            is_latest = key != previous_key
            if is_latest and versioned and previous_key is None and after and after.startswith(key + SEP) and version_marker:
                is_latest = False  # continuing inside a key: its newest version was on an earlier page
            previous_key = key
            version_id = doc.get("version_id", "null")
            owner = self._owner(doc.get("owner") or bucket["owner"])
            shown_key = _url_encode(key) if encode else key
            if doc.get("delete_marker"):
                result["DeleteMarkers"].append({"Key": shown_key, "VersionId": version_id, "IsLatest": is_latest,
                                                "LastModified": _dt(doc["modified"]), "Owner": owner})
            else:
                item = self._entry(key, doc, encode, doc.get("owner") or bucket["owner"])
                item.update({"VersionId": version_id, "IsLatest": is_latest})
                result["Versions"].append(item)
            last_key, last_version = key, version_id
        if cursor is not None and last_key is not None:
            result["NextKeyMarker"] = last_key
            if last_version is not None:
                result["NextVersionIdMarker"] = last_version
        return result

    # -- multipart uploads ----------------------------------------------------------

    def create_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket_name, key = params["Bucket"], params["Key"]
        self._check_key(key)
        bucket = self._bucket(ctx.store.read, ctx, bucket_name, params)
        acl = self._object_acl(ctx, bucket, params)
        lock = self._lock_fields(ctx, bucket, params)
        tags = parse_tagging(params.get("Tagging"))
        enc = sse.plan_write(ctx, params, bucket, key)
        upload_id = secrets.token_urlsafe(48)
        algorithm = (params.get("ChecksumAlgorithm") or "").upper() or None
        record = {
            "key": key,
            "initiated": ctx.clock.time(),
            "owner": ctx.account_id or bucket["owner"],
            "content_type": params.get("ContentType") or "binary/octet-stream",
            "headers": self._object_headers(params),
            "meta": params.get("Metadata") or {},
            "storage_class": params.get("StorageClass") or "STANDARD",
            "checksum_algorithm": algorithm,
        }
        if enc is not None:
            record["sse"] = enc.record
        if tags:
            record["tags"] = tags
        if acl is not None:
            record["acl"] = acl
        record.update(lock)
        with ctx.store.transaction() as txn:
            self._bucket(txn, ctx, bucket_name, params)
            txn.put(UPLOAD, upload_id, record, bucket_name)
        result = {"Bucket": bucket_name, "Key": key, "UploadId": upload_id}
        if algorithm:
            result["ChecksumAlgorithm"] = algorithm
            result["ChecksumType"] = params.get("ChecksumType") or "COMPOSITE"
        result.update(sse.response_fields(record.get("sse")))
        return result

    def _upload(self, txn: Txn, ctx: RequestContext, bucket: str, key: str, upload_id: str,
                params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._bucket(txn, ctx, bucket, params, key=key)
        upload = txn.get(UPLOAD, upload_id, bucket)
        if upload is None or upload["key"] != key:
            raise ServiceError("NoSuchUpload",
                               "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
                               404, fields={"UploadId": upload_id})
        return upload

    def _part_number(self, number: int) -> None:
        if not 1 <= number <= MAX_PART_NUMBER:
            raise ServiceError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400,
                               fields={"ArgumentName": "partNumber", "ArgumentValue": str(number)})

    async def _store_part(self, ctx: RequestContext, params: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        etag = f'"{written["md5"]}"'
        scope = f"{bucket}/{upload_id}"
        part_key = f"{params['PartNumber']:05d}"
        try:
            with ctx.store.transaction() as txn:
                self._upload(txn, ctx, bucket, key, upload_id, params)
                previous = txn.get(PART, part_key, scope)
                txn.put(PART, part_key, {"blob": written["blob"], "size": written["size"], "etag": etag,
                                          "modified": ctx.clock.time(), "checksums": written["checksums"]}, scope)
        except BaseException:
            ctx.blobs.delete(written["blob"])
            raise
        if previous:
            ctx.blobs.delete(previous["blob"])
        return {"etag": etag, "modified": ctx.clock.time()}

    async def upload_part(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        self._part_number(params["PartNumber"])
        upload = self._upload(ctx.store.read, ctx, bucket, key, upload_id, params)
        enc = None
        if upload.get("sse"):
            enc = sse.Encryption(upload["sse"], sse.open_key(ctx, upload["sse"], params, self._bucket_owner(ctx, bucket)))
        elif sse.customer_key(ctx, params) is not None:
            raise ServiceError("InvalidRequest", "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.", 400)
        written = await self._receive(ctx, params, limit=MAX_SINGLE_PUT, enc=enc)
        stored = await self._store_part(ctx, params, written)
        result: dict[str, Any] = {"ETag": stored["etag"]}
        result.update({f"Checksum{alg}": value for alg, value in written["checksums"].items()})
        result.update(sse.response_fields(upload.get("sse")))
        return result

    def _bucket_owner(self, ctx: RequestContext, name: str) -> str:
        doc = ctx.store.read.get(BUCKET, name)
        return doc["owner"] if doc else ctx.account_id

    async def upload_part_copy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        self._part_number(params["PartNumber"])
        src_bucket, _, src, data_key = self._copy_source(ctx, params)
        upload = self._upload(ctx.store.read, ctx, bucket, key, upload_id, params)
        first, last = 0, src["size"] - 1
        if params.get("CopySourceRange"):
            text = params["CopySourceRange"]
            try:
                unit, _, spec = text.partition("=")
                a, _, b = spec.partition("-")
                first, last = int(a), int(b)
                if unit != "bytes" or first > last:
                    raise ValueError
            except ValueError:
                raise ServiceError("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", 400) from None
            if last >= src["size"]:
                raise ServiceError("InvalidRange", "The requested range is not satisfiable", 416)
        enc = None
        if upload.get("sse"):
            enc = sse.Encryption(upload["sse"], sse.open_key(ctx, upload["sse"], params, self._bucket_owner(ctx, bucket)))
        stream = self.plaintext(ctx, src, data_key, first, last) if src["size"] else BytesStream(b"")
        written = await self._receive(ctx, {}, limit=MAX_SINGLE_PUT, enc=enc, body=stream)
        stored = await self._store_part(ctx, params, written)
        result: dict[str, Any] = {"CopyPartResult": {"ETag": stored["etag"], "LastModified": _dt(stored["modified"])}}
        if "version_id" in src:
            result["CopySourceVersionId"] = src["version_id"]
        result.update(sse.response_fields(upload.get("sse")))
        return result

    def complete_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        requested = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not requested:
            raise ServiceError("MalformedXML",
                               "The XML you provided was not well-formed or did not validate against our published schema", 400)
        numbers = [p.get("PartNumber") for p in requested]
        if any(n is None for n in numbers) or numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise ServiceError("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.", 400,
                               fields={"UploadId": upload_id})
        scope = f"{bucket}/{upload_id}"
        with ctx.store.transaction() as txn:
            upload = self._upload(txn, ctx, bucket, key, upload_id, params)
            if (upload.get("sse") or {}).get("type") == "SSE-C":
                sse.open_key(ctx, upload["sse"], params, self._bucket_owner(ctx, bucket))
            bucket_doc = txn.get(BUCKET, bucket)
            stored = {int(k): doc for k, doc in txn.scan(PART, scope)}
            chosen = []
            for index, part in enumerate(requested):
                doc = stored.get(part["PartNumber"])
                if doc is None or (part.get("ETag") and part["ETag"].strip('"') != doc["etag"].strip('"')):
                    raise ServiceError("InvalidPart",
                                       "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                                       400, fields={"UploadId": upload_id, "PartNumber": part["PartNumber"]})
                if index < len(requested) - 1 and doc["size"] < MIN_PART_SIZE:
                    raise ServiceError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", 400,
                                       fields={"ProposedSize": doc["size"], "MinSizeAllowed": MIN_PART_SIZE,
                                               "PartNumber": part["PartNumber"], "ETag": doc["etag"]})
                chosen.append(doc)
            digest = hashlib.md5(b"".join(bytes.fromhex(d["etag"].strip('"')) for d in chosen)).hexdigest()
            etag = f'"{digest}-{len(chosen)}"'
            previous = txn.get(OBJECT, key, bucket)
            self._check_write_conditions(params, previous, key)
            doc = {
                "parts": [[d["blob"], d["size"]] for d in chosen],
                "size": sum(d["size"] for d in chosen),
                "etag": etag,
                "modified": ctx.clock.time(),
                "content_type": upload["content_type"],
                "headers": upload["headers"],
                "meta": upload["meta"],
                "checksums": {},
                "parts_count": len(chosen),
            }
            if upload["storage_class"] != "STANDARD":
                doc["storage_class"] = upload["storage_class"]
            for field in ("sse", "tags", "acl", "lock_mode", "lock_until", "legal_hold"):
                if upload.get(field) is not None:
                    doc[field] = upload[field]
            algorithm = upload.get("checksum_algorithm")
            if algorithm and all(algorithm in d.get("checksums", {}) for d in chosen):
                combined = new_checksum(algorithm)
                for d in chosen:
                    combined.update(base64.b64decode(d["checksums"][algorithm]))
                doc["checksums"] = {algorithm: f"{combined.b64digest()}-{len(chosen)}"}
                doc["checksum_type"] = "COMPOSITE"
            released = versions.commit(txn, bucket_doc, key, doc)
            used = {d["blob"] for d in chosen}
            unused = [d["blob"] for d in stored.values() if d["blob"] not in used]
            for number in stored:
                txn.delete(PART, f"{number:05d}", scope)
            txn.delete(UPLOAD, upload_id, bucket)
        for blob_id in unused:
            ctx.blobs.delete(blob_id)
        self._release(ctx, released)
        result = {
            "Location": f"{ctx.runtime.config.endpoint}/{bucket}/{quote(key)}",
            "Bucket": bucket,
            "Key": key,
            "ETag": etag,
        }
        if "version_id" in doc:
            result["VersionId"] = doc["version_id"]
        for alg, value in doc["checksums"].items():
            result[f"Checksum{alg}"] = value
            result["ChecksumType"] = "COMPOSITE"
        result.update(sse.response_fields(doc.get("sse")))
        return result

    def _drop_upload(self, txn: Txn, ctx: Any, bucket: str, upload_id: str) -> list[str]:
        scope = f"{bucket}/{upload_id}"
        blobs = []
        for number, doc in list(txn.scan(PART, scope)):
            blobs.append(doc["blob"])
            txn.delete(PART, number, scope)
        txn.delete(UPLOAD, upload_id, bucket)
        return blobs

    def abort_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        with ctx.store.transaction() as txn:
            self._upload(txn, ctx, bucket, key, upload_id, params)
            blobs = self._drop_upload(txn, ctx, bucket, upload_id)
        for blob_id in blobs:
            ctx.blobs.delete(blob_id)
        return {}

    def list_parts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        read = ctx.store.read
        upload = self._upload(read, ctx, bucket, key, upload_id, params)
        max_parts = min(params.get("MaxParts") or 1000, 1000)
        marker = params.get("PartNumberMarker")
        after = f"{int(marker):05d}" if marker else None
        parts = list(read.scan(PART, f"{bucket}/{upload_id}", start_after=after, limit=max_parts + 1))
        truncated = len(parts) > max_parts
        parts = parts[:max_parts]
        result: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "MaxParts": max_parts,
            "IsTruncated": truncated,
            "Parts": [
                {"PartNumber": int(n), "ETag": d["etag"], "Size": d["size"],
                 "LastModified": _dt(d["modified"]),
                 **{f"Checksum{a}": v for a, v in d.get("checksums", {}).items()}}
                for n, d in parts
            ],
            "Owner": self._owner(upload["owner"]),
            "Initiator": self._owner(upload["owner"]),
            "StorageClass": upload["storage_class"],
        }
        if marker:
            result["PartNumberMarker"] = str(marker)
        if truncated and parts:
            result["NextPartNumberMarker"] = str(int(parts[-1][0]))
        return result

    def list_multipart_uploads(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = params["Bucket"]
        read = ctx.store.read
        self._bucket(read, ctx, bucket, params)
        prefix = params.get("Prefix") or ""
        max_uploads = min(params.get("MaxUploads") or 1000, 1000)
        uploads = sorted(
            ((doc["key"], upload_id, doc) for upload_id, doc in read.scan(UPLOAD, bucket) if doc["key"].startswith(prefix)),
            key=lambda item: (item[0], item[2]["initiated"]),
        )
        key_marker = params.get("KeyMarker")
        if key_marker:
            uploads = [u for u in uploads if u[0] > key_marker]
        truncated = len(uploads) > max_uploads
        uploads = uploads[:max_uploads]
        result: dict[str, Any] = {
            "Bucket": bucket,
            "MaxUploads": max_uploads,
            "IsTruncated": truncated,
            "Uploads": [
                {"Key": key, "UploadId": upload_id,
                 "Initiated": datetime.fromtimestamp(doc["initiated"], tz=timezone.utc),
                 "StorageClass": doc["storage_class"], "Owner": self._owner(doc["owner"]),
                 "Initiator": self._owner(doc["owner"])}
                for key, upload_id, doc in uploads
            ],
        }
        if prefix:
            result["Prefix"] = prefix
        if truncated and uploads:
            result["NextKeyMarker"] = uploads[-1][0]
            result["NextUploadIdMarker"] = uploads[-1][1]
        return result

    def resource_counts(self) -> dict[str, int]:
        read = self.runtime.store.read
        return {"buckets": read.count(BUCKET), "objects": read.count(OBJECT)}


class _DecryptingBody(IterBody):
    """An encrypted object's bytes, decrypted chunk by chunk as they are sent."""

    def __init__(self, segments: list, data_key: bytes, length: int) -> None:
        self.segments = segments
        self.length = length
        self._key = data_key

    async def __aiter__(self):  # type: ignore[override]
        for f, offset, length, blob_id, size in self.segments:
            async for chunk in sse.decrypt_range(f, blob_id, self._key, size, offset, length):
                yield chunk

    async def close(self) -> None:
        for segment in self.segments:
            segment[0].close()


def _header_text(value: Any) -> str:
    if isinstance(value, datetime):
        from ...protocol.values import format_rfc822

        return format_rfc822(value)
    return str(value)


def _rfc822(epoch: float) -> str:
    return _header_text(_dt(epoch))


def _url_encode(value: str) -> str:
    return quote(value, safe="/")


__all__ = ["S3Provider", "canonical_user_id", "urlencode"]


def _deliver_logs(self: S3Provider, now: float) -> None:
    """Write buffered access-log lines as objects into their target buckets."""
    from .logging import object_name

    buffer, self._log_buffer = self._log_buffer, {}
    store, blobs = self.runtime.store, self.runtime.blobs
    for (target, prefix), lines in buffer.items():
        data = ("\n".join(lines) + "\n").encode()
        blob_id = blobs.write_bytes(data)
        doc = {"parts": [[blob_id, len(data)]], "size": len(data), "etag": f'"{hashlib.md5(data).hexdigest()}"',
               "modified": now, "content_type": "text/plain"}
        with store.transaction() as txn:
            bucket = txn.get(BUCKET, target)
            released = versions.commit(txn, bucket, object_name(prefix, now), doc) if bucket else None
        if bucket is None:
            blobs.delete(blob_id)
        self._release(self.runtime, released)


S3Provider.deliver_logs = _deliver_logs  # type: ignore[attr-defined]
