"""Amazon S3: buckets, objects, ranges, listings and multipart uploads.

Records: ``s3:bucket`` (scope "", bucket names are global), ``s3:object`` (scope =
bucket, key = object key, in byte order for listings), ``s3:upload`` and ``s3:part``
for multipart uploads.  An object's bytes are one or more immutable blobs: a
multipart object keeps its parts' blobs as they were uploaded, so completing an upload
of any size copies nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from ...auth.checksums import new_checksum
from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...protocol.http import FileBody
from ...state import Txn
from ..base import Provider
from . import listing
from .names import check_bucket_name
from .ranges import parse_range

BUCKET = "s3:bucket"
OBJECT = "s3:object"
UPLOAD = "s3:upload"
PART = "s3:part"

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
MAX_SINGLE_PUT = 5 * 1024**3
CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
# Headers stored with an object and returned on GET/HEAD.
STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires")


def canonical_user_id(account_id: str) -> str:
    return hashlib.sha256(f"nimbus-canonical-user:{account_id}".encode()).hexdigest()


def _no_such_bucket(bucket: str) -> ServiceError:
    return ServiceError("NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": bucket})


def _no_such_key(key: str) -> ServiceError:
    return ServiceError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


def _http_date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return parsedate_to_datetime(str(value))


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = [c.strip() for c in condition.split(",")]
    return "*" in wanted or etag in wanted or etag.strip('"') in [w.strip('"') for w in wanted]


class S3Provider(Provider):
    service = "s3"

    # -- buckets ------------------------------------------------------------------

    def _bucket(self, txn: Txn, ctx: RequestContext, name: str) -> dict[str, Any]:
        bucket = txn.get(BUCKET, name)
        if bucket is None:
            raise _no_such_bucket(name)
        if bucket["owner"] != ctx.account_id:
            # Cross-account access needs a bucket policy or ACL (the IAM issue decides those).
            raise ServiceError("AccessDenied", "Access Denied", 403)
        return bucket

    def create_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        check_bucket_name(name)
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
        record = {
            "name": name,
            "owner": ctx.account_id,
            "region": region,
            "created": ctx.clock.time(),
            "object_ownership": params.get("ObjectOwnership", "BucketOwnerEnforced"),
        }
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
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"])
        return {"BucketRegion": bucket["region"], "BucketArn": f"arn:aws:s3:::{bucket['name']}"}

    def get_bucket_location(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(ctx.store.read, ctx, params["Bucket"])
        region = bucket["region"]
        return {"LocationConstraint": "" if region == "us-east-1" else region}

    def list_buckets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
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
            self._bucket(txn, ctx, name)
            if next(txn.scan_keys(OBJECT, name), None) is not None:
                raise ServiceError("BucketNotEmpty", "The bucket you tried to delete is not empty", 409,
                                   fields={"BucketName": name})
            uploads = [key for key in txn.scan_keys(UPLOAD, name)]
            for upload_id in uploads:
                self._drop_upload(txn, ctx, name, upload_id)
            txn.delete(BUCKET, name)
        return {}

    def _owner(self, account_id: str) -> dict[str, str]:
        return {"ID": canonical_user_id(account_id), "DisplayName": f"account-{account_id}"}

    # -- objects ------------------------------------------------------------------

    async def put_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket_name, key = params["Bucket"], params["Key"]
        self._check_key(key)
        self._bucket(ctx.store.read, ctx, bucket_name)
        written = await self._receive(ctx, params, limit=MAX_SINGLE_PUT)
        etag = f'"{written["md5"]}"'
        doc = {
            "parts": [[written["blob"], written["size"]]],
            "size": written["size"],
            "etag": etag,
            "modified": ctx.clock.time(),
            "content_type": params.get("ContentType") or "binary/octet-stream",
            "headers": {h: _header_text(params[h]) for h in STORED_HEADERS if params.get(h) is not None},
            "meta": params.get("Metadata") or {},
            "checksums": written["checksums"],
            "storage_class": params.get("StorageClass") or "STANDARD",
        }
        try:
            with ctx.store.transaction() as txn:
                self._bucket(txn, ctx, bucket_name)  # it may have gone while the body streamed
                previous = txn.get(OBJECT, key, bucket_name)
                self._check_write_conditions(params, previous, key)
                txn.put(OBJECT, key, doc, bucket_name)
        except BaseException:
            ctx.blobs.delete(written["blob"])
            raise
        self._release(ctx, previous)
        result: dict[str, Any] = {"ETag": etag}
        result.update({f"Checksum{alg}": value for alg, value in written["checksums"].items()})
        if written["checksums"]:
            result["ChecksumType"] = "FULL_OBJECT"
        return result

    def _check_write_conditions(self, params: dict[str, Any], previous: dict | None, key: str) -> None:
        if params.get("IfNoneMatch") is not None and previous is not None:
            raise ServiceError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
                               fields={"Condition": "If-None-Match"})
        if params.get("IfMatch") is not None:
            if previous is None:
                raise _no_such_key(key)
            if not _etag_matches(params["IfMatch"], previous["etag"]):
                raise ServiceError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                   412, fields={"Condition": "If-Match"})

    def _check_key(self, key: str) -> None:
        if not key:
            raise ServiceError("InvalidArgument", "Object key must not be empty", 400)
        if len(key.encode("utf-8")) > 1024:
            raise ServiceError("KeyTooLongError", "Your key is too long", 400)

    async def _receive(self, ctx: RequestContext, params: dict[str, Any], *, limit: int) -> dict[str, Any]:
        """Stream the request body into a blob, checking Content-MD5 and checksums."""
        body = params.get("Body")
        declared = {alg: params[f"Checksum{alg}"] for alg in CHECKSUM_ALGORITHMS if params.get(f"Checksum{alg}")}
        wanted = set(declared)
        algorithm = (params.get("ChecksumAlgorithm") or "").upper()
        if algorithm:
            if algorithm not in CHECKSUM_ALGORITHMS:
                raise ServiceError("InvalidRequest", f"Checksum algorithm {algorithm} is not supported", 400)
            wanted.add(algorithm)
        trailer_sums: dict[str, str] = {}
        hashers = {alg: new_checksum(alg) for alg in wanted}
        if body is None:
            from ...protocol.http import BytesStream

            body = BytesStream(b"")
        try:
            written = await ctx.blobs.write(body, hashers=hashers, limit=limit)
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

    def _release(self, ctx: RequestContext, doc: dict[str, Any] | None) -> None:
        """Delete the bytes of a record that no longer exists (after its transaction)."""
        if doc:
            for blob_id, _ in doc.get("parts", []):
                ctx.blobs.delete(blob_id)

    def _object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        read = ctx.store.read
        self._bucket(read, ctx, params["Bucket"])
        doc = read.get(OBJECT, params["Key"], params["Bucket"])
        if doc is None:
            raise _no_such_key(params["Key"])
        return doc

    def _check_read_conditions(self, params: dict[str, Any], doc: dict[str, Any]) -> None:
        etag = doc["etag"]
        modified = datetime.fromtimestamp(int(doc["modified"]), tz=timezone.utc)
        if params.get("IfMatch") is not None and not _etag_matches(params["IfMatch"], etag):
            raise ServiceError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
                               fields={"Condition": "If-Match"})
        if params.get("IfUnmodifiedSince") is not None and params.get("IfMatch") is None:
            if modified > _http_date(params["IfUnmodifiedSince"]):
                raise ServiceError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                   412, fields={"Condition": "If-Unmodified-Since"})
        if params.get("IfNoneMatch") is not None:
            if _etag_matches(params["IfNoneMatch"], etag):
                raise ServiceError("NotModified", "Not Modified", 304, headers={"ETag": etag})
        elif params.get("IfModifiedSince") is not None and modified <= _http_date(params["IfModifiedSince"]):
            raise ServiceError("NotModified", "Not Modified", 304, headers={"ETag": etag})

    def _describe(self, doc: dict[str, Any], params: dict[str, Any], *, ranged: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "ETag": doc["etag"],
            "LastModified": datetime.fromtimestamp(int(doc["modified"]), tz=timezone.utc),
            "ContentLength": doc["size"],
            "ContentType": doc.get("content_type", "binary/octet-stream"),
            "AcceptRanges": "bytes",
            "Metadata": doc.get("meta", {}),
        }
        result.update(doc.get("headers", {}))
        if doc.get("storage_class", "STANDARD") != "STANDARD":
            result["StorageClass"] = doc["storage_class"]
        if len(doc["parts"]) > 1 or doc.get("parts_count"):
            result["PartsCount"] = doc.get("parts_count", len(doc["parts"]))
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
        doc = self._object(ctx, params)
        self._check_read_conditions(params, doc)
        span = parse_range(params.get("Range"), doc["size"])
        result = self._describe(doc, params, ranged=span is not None)
        if span is not None:
            first, last = span
            result["ContentLength"] = last - first + 1
            result["ContentRange"] = f"bytes {first}-{last}/{doc['size']}"
        return result

    def get_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._object(ctx, params)
        self._check_read_conditions(params, doc)
        size = doc["size"]
        span = parse_range(params.get("Range"), size)
        result = self._describe(doc, params, ranged=span is not None)
        first, last = span if span is not None else (0, size - 1)
        if span is not None:
            result["ContentRange"] = f"bytes {first}-{last}/{size}"
            result["ContentLength"] = last - first + 1
            result["NimbusStatusCode"] = 206
        result["Body"] = FileBody(self._segments(ctx, doc, first, last))
        return result

    def _segments(self, ctx: RequestContext, doc: dict[str, Any], first: int, last: int) -> list:
        """Open the blobs covering bytes first..last (now, while the record is current)."""
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
                segments.append((open(ctx.blobs.path(blob_id), "rb"), offset, length))
        except BaseException:
            for f, _, _ in segments:
                f.close()
            raise
        return segments

    def delete_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key = params["Bucket"], params["Key"]
        with ctx.store.transaction() as txn:
            self._bucket(txn, ctx, bucket)
            previous = txn.get(OBJECT, key, bucket)
            if previous is not None and params.get("IfMatch") is not None and not _etag_matches(params["IfMatch"], previous["etag"]):
                raise ServiceError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)
            txn.delete(OBJECT, key, bucket)
        self._release(ctx, previous)
        return {}

    # -- listings -----------------------------------------------------------------

    def _entry(self, key: str, doc: dict[str, Any], encode: bool, owner: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "Key": _url_encode(key) if encode else key,
            "LastModified": datetime.fromtimestamp(int(doc["modified"]), tz=timezone.utc),
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
        record = self._bucket(read, ctx, bucket)
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
        record = self._bucket(read, ctx, bucket)
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

    # -- multipart uploads ----------------------------------------------------------

    def create_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key = params["Bucket"], params["Key"]
        self._check_key(key)
        upload_id = secrets.token_urlsafe(48)
        algorithm = (params.get("ChecksumAlgorithm") or "").upper() or None
        with ctx.store.transaction() as txn:
            self._bucket(txn, ctx, bucket)
            txn.put(UPLOAD, upload_id, {
                "key": key,
                "initiated": ctx.clock.time(),
                "owner": ctx.account_id,
                "content_type": params.get("ContentType") or "binary/octet-stream",
                "headers": {h: _header_text(params[h]) for h in STORED_HEADERS if params.get(h) is not None},
                "meta": params.get("Metadata") or {},
                "storage_class": params.get("StorageClass") or "STANDARD",
                "checksum_algorithm": algorithm,
            }, bucket)
        result = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        if algorithm:
            result["ChecksumAlgorithm"] = algorithm
            result["ChecksumType"] = params.get("ChecksumType") or "COMPOSITE"
        return result

    def _upload(self, txn: Txn, ctx: RequestContext, bucket: str, key: str, upload_id: str) -> dict[str, Any]:
        self._bucket(txn, ctx, bucket)
        upload = txn.get(UPLOAD, upload_id, bucket)
        if upload is None or upload["key"] != key:
            raise ServiceError("NoSuchUpload",
                               "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
                               404, fields={"UploadId": upload_id})
        return upload

    async def upload_part(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        number = params["PartNumber"]
        if not 1 <= number <= MAX_PART_NUMBER:
            raise ServiceError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400,
                               fields={"ArgumentName": "partNumber", "ArgumentValue": str(number)})
        self._upload(ctx.store.read, ctx, bucket, key, upload_id)
        written = await self._receive(ctx, params, limit=MAX_SINGLE_PUT)
        etag = f'"{written["md5"]}"'
        scope = f"{bucket}/{upload_id}"
        part_key = f"{number:05d}"
        try:
            with ctx.store.transaction() as txn:
                self._upload(txn, ctx, bucket, key, upload_id)
                previous = txn.get(PART, part_key, scope)
                txn.put(PART, part_key, {"blob": written["blob"], "size": written["size"], "etag": etag,
                                          "modified": ctx.clock.time(), "checksums": written["checksums"]}, scope)
        except BaseException:
            ctx.blobs.delete(written["blob"])
            raise
        if previous:
            ctx.blobs.delete(previous["blob"])
        result: dict[str, Any] = {"ETag": etag}
        result.update({f"Checksum{alg}": value for alg, value in written["checksums"].items()})
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
            upload = self._upload(txn, ctx, bucket, key, upload_id)
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
                "storage_class": upload["storage_class"],
                "parts_count": len(chosen),
            }
            algorithm = upload.get("checksum_algorithm")
            if algorithm and all(algorithm in d.get("checksums", {}) for d in chosen):
                combined = new_checksum(algorithm)
                for d in chosen:
                    combined.update(base64.b64decode(d["checksums"][algorithm]))
                doc["checksums"] = {algorithm: f"{combined.b64digest()}-{len(chosen)}"}
                doc["checksum_type"] = "COMPOSITE"
            txn.put(OBJECT, key, doc, bucket)
            used = {d["blob"] for d in chosen}
            unused = [d["blob"] for d in stored.values() if d["blob"] not in used]
            for number in stored:
                txn.delete(PART, f"{number:05d}", scope)
            txn.delete(UPLOAD, upload_id, bucket)
        for blob_id in unused:
            ctx.blobs.delete(blob_id)
        self._release(ctx, previous)
        result = {
            "Location": f"{ctx.runtime.config.endpoint}/{bucket}/{key}",
            "Bucket": bucket,
            "Key": key,
            "ETag": etag,
        }
        for alg, value in doc["checksums"].items():
            result[f"Checksum{alg}"] = value
            result["ChecksumType"] = "COMPOSITE"
        return result

    def _drop_upload(self, txn: Txn, ctx: RequestContext, bucket: str, upload_id: str) -> list[str]:
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
            self._upload(txn, ctx, bucket, key, upload_id)
            blobs = self._drop_upload(txn, ctx, bucket, upload_id)
        for blob_id in blobs:
            ctx.blobs.delete(blob_id)
        return {}

    def list_parts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
        read = ctx.store.read
        upload = self._upload(read, ctx, bucket, key, upload_id)
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
                 "LastModified": datetime.fromtimestamp(int(d["modified"]), tz=timezone.utc),
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
        self._bucket(read, ctx, bucket)
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


def _header_text(value: Any) -> str:
    if isinstance(value, datetime):
        from ...protocol.values import format_rfc822

        return format_rfc822(value)
    return str(value)


def _url_encode(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/")
