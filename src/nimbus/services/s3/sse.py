"""Server-side encryption of object bytes: SSE-S3, SSE-KMS and SSE-C.

Every encrypted object has a 256-bit data key.  SSE-S3 wraps it (AES-GCM) with a
per-account master key kept in the state store (kind ``s3:master-key``); SSE-KMS gets
it from the KMS provider (GenerateDataKey, in process) and keeps only KMS's ciphertext;
SSE-C uses the customer's key, of which only an HMAC is kept.

A blob is encrypted in independent chunks of ``CHUNK`` plaintext bytes, each sealed
with AES-256-GCM under a per-blob key (HMAC-SHA256(data key, blob id)) with the chunk
index as nonce, so a ranged GET decrypts only the chunks it needs, memory stays
bounded, and a chunk cannot be moved to another place or blob undetected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...errors import ServiceError

CHUNK = 256 * 1024
TAG = 16
MASTER_KIND = "s3:master-key"
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


@dataclass
class Encryption:
    """What a write or read needs: the record stored with the object and the data key."""

    record: dict[str, Any]  # stored with the object (no secret in it)
    data_key: bytes


def _invalid(message: str, name: str | None = None, value: str | None = None) -> ServiceError:
    fields = {}
    if name:
        fields = {"ArgumentName": name, "ArgumentValue": value or ""}
    return ServiceError("InvalidArgument", message, 400, fields=fields)


# -- keys --------------------------------------------------------------------------------


def master_key(ctx: Any, account_id: str) -> bytes:
    cache = ctx.runtime.__dict__.setdefault("_s3_master_keys", {})
    key = cache.get(account_id)
    if key is None:
        stored = ctx.store.read.get(MASTER_KIND, account_id)
        if stored is None:
            with ctx.store.transaction() as txn:
                stored = txn.get(MASTER_KIND, account_id)
                if stored is None:
                    stored = {"key": base64.b64encode(os.urandom(32)).decode()}
                    txn.put(MASTER_KIND, account_id, stored)
        key = cache[account_id] = base64.b64decode(stored["key"])
    return key


def _wrap(master: bytes, data_key: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(master).encrypt(nonce, data_key, b"nimbus-s3-sse")).decode()


def _unwrap(master: bytes, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    return AESGCM(master).decrypt(raw[:12], raw[12:], b"nimbus-s3-sse")


def customer_key(ctx: Any, params: dict[str, Any], *, prefix: str = "") -> bytes | None:
    """The SSE-C key of a request (``prefix`` = "CopySource" for a copy's source), checked."""
    algorithm = params.get(f"{prefix}SSECustomerAlgorithm")
    key_b64 = params.get(f"{prefix}SSECustomerKey")
    md5_b64 = params.get(f"{prefix}SSECustomerKeyMD5")
    if algorithm is None and key_b64 is None and md5_b64 is None:
        return None
    if not ctx.secure:
        raise ServiceError("InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.", 400)
    if algorithm is None:
        raise _invalid("Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
                       "x-amz-server-side-encryption-customer-algorithm", "null")
    if algorithm != "AES256":
        raise _invalid("The encryption algorithm specified is not valid.", "x-amz-server-side-encryption-customer-algorithm", algorithm)
    if key_b64 is None:
        raise _invalid("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
                       "x-amz-server-side-encryption-customer-algorithm", algorithm)
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise _invalid("The secret key was invalid for the specified algorithm.", "x-amz-server-side-encryption-customer-key", "")
    digest = base64.b64encode(hashlib.md5(key).digest()).decode()
    if md5_b64 is not None and md5_b64 != digest:
        raise _invalid("The calculated MD5 hash of the key did not match the hash that was provided.",
                       "x-amz-server-side-encryption-customer-key-MD5", "")
    return key


def _key_hmac(ctx: Any, account_id: str, key: bytes) -> str:
    return hmac.new(master_key(ctx, account_id), b"sse-c|" + key, hashlib.sha256).hexdigest()


def _kms(ctx: Any, key_ref: str | None) -> tuple[Any, Any]:
    provider = ctx.runtime.provider("kms")
    region = ctx.region
    if key_ref and key_ref.startswith("arn:"):
        parts = key_ref.split(":")
        if len(parts) > 4 and parts[3]:
            region = parts[3]
    return provider, replace(ctx, service="kms", region=region)


def _kms_error(error: ServiceError) -> ServiceError:
    status = {"NotFoundException": 400, "DisabledException": 400, "KMSInvalidStateException": 400,
              "InvalidCiphertextException": 400, "AccessDeniedException": 403}.get(error.code, 400)
    return ServiceError(f"KMS.{error.code}", error.message, status)


def plan_write(ctx: Any, params: dict[str, Any], bucket: dict[str, Any], key: str) -> Encryption | None:
    """The encryption a new object gets: from the request's headers, else the bucket default."""
    ssec = customer_key(ctx, params)
    algorithm = params.get("ServerSideEncryption")
    kms_key = params.get("SSEKMSKeyId")
    if ssec is not None:
        if algorithm or kms_key:
            raise _invalid("Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
                           "x-amz-server-side-encryption", algorithm or "")
        record = {"type": "SSE-C", "key_hmac": _key_hmac(ctx, bucket["owner"], ssec),
                  "key_md5": base64.b64encode(hashlib.md5(ssec).digest()).decode()}
        return Encryption(record, ssec)
    bucket_key = params.get("BucketKeyEnabled")
    if algorithm is None:
        if kms_key:
            raise _invalid("Specifying a KMS key ID requires aws:kms server side encryption", "x-amz-server-side-encryption-aws-kms-key-id", kms_key)
        default = ((bucket.get("encryption") or {}).get("Rules") or [{}])[0]
        by_default = default.get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = by_default.get("SSEAlgorithm")
        kms_key = by_default.get("KMSMasterKeyID")
        if bucket_key is None:
            bucket_key = default.get("BucketKeyEnabled")
        if algorithm is None:
            return None
    if algorithm not in SSE_ALGORITHMS:
        raise _invalid("The encryption method specified is not supported", "x-amz-server-side-encryption", algorithm)
    if algorithm == "AES256":
        if params.get("SSEKMSKeyId"):
            raise _invalid("Specifying a KMS key ID requires aws:kms server side encryption", "x-amz-server-side-encryption-aws-kms-key-id", kms_key or "")
        data_key = os.urandom(32)
        return Encryption({"type": "AES256", "wrapped": _wrap(master_key(ctx, bucket["owner"]), data_key)}, data_key)
    context = {"aws:s3:arn": f"arn:aws:s3:::{bucket['name']}" if bucket_key else f"arn:aws:s3:::{bucket['name']}/{key}"}
    extra = params.get("SSEKMSEncryptionContext")
    if extra:
        if not isinstance(extra, dict):
            try:
                import json

                extra = json.loads(base64.b64decode(extra))
            except Exception:
                raise _invalid("The encryption context is not valid JSON.", "x-amz-server-side-encryption-context", "") from None
        context.update(extra)
    provider, kctx = _kms(ctx, kms_key)
    try:
        if not kms_key:
            kms_key = provider.aws_managed_key_arn(kctx, "s3")
        result = provider.generate_data_key(kctx, {"KeyId": kms_key, "KeySpec": "AES_256", "EncryptionContext": context})
    except ServiceError as error:
        raise _kms_error(error) from None
    record = {"type": algorithm, "kms_key": result["KeyId"], "wrapped": base64.b64encode(result["CiphertextBlob"]).decode(),
              "context": context, "bucket_key": bool(bucket_key)}
    return Encryption(record, result["Plaintext"])


def open_key(ctx: Any, record: dict[str, Any] | None, params: dict[str, Any], owner: str, *, prefix: str = "") -> bytes | None:
    """The data key of a stored object for a read (SSE-C: checks the request's key)."""
    if not record:
        if customer_key(ctx, params, prefix=prefix) is not None:
            raise ServiceError("InvalidRequest", "The encryption parameters are not applicable to this object.", 400)
        return None
    kind = record["type"]
    if kind == "SSE-C":
        key = customer_key(ctx, params, prefix=prefix)
        if key is None:
            raise ServiceError("InvalidRequest", "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.", 400)
        if not hmac.compare_digest(_key_hmac(ctx, owner, key), record["key_hmac"]):
            raise ServiceError("AccessDenied", "Access Denied", 403)
        return key
    if customer_key(ctx, params, prefix=prefix) is not None:
        raise ServiceError("InvalidRequest", "The encryption parameters are not applicable to this object.", 400)
    if kind == "AES256":
        return _unwrap(master_key(ctx, owner), record["wrapped"])
    provider, kctx = _kms(ctx, record.get("kms_key"))
    try:
        result = provider.decrypt(kctx, {"CiphertextBlob": base64.b64decode(record["wrapped"]),
                                         "EncryptionContext": record.get("context") or {}})
    except ServiceError as error:
        raise _kms_error(error) from None
    return result["Plaintext"]


def response_fields(record: dict[str, Any] | None) -> dict[str, Any]:
    if not record:
        return {}
    if record["type"] == "SSE-C":
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": record["key_md5"]}
    fields: dict[str, Any] = {"ServerSideEncryption": record["type"]}
    if record["type"] != "AES256":
        fields["SSEKMSKeyId"] = record["kms_key"]
        if record.get("bucket_key"):
            fields["BucketKeyEnabled"] = True
    return fields


# -- bytes -------------------------------------------------------------------------------


def _blob_cipher(data_key: bytes, blob_id: str) -> AESGCM:
    return AESGCM(hmac.new(data_key, blob_id.encode(), hashlib.sha256).digest())


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def stored_size(plain_size: int) -> int:
    chunks = (plain_size + CHUNK - 1) // CHUNK
    return plain_size + chunks * TAG


class _Sealer:
    """Seals a blob's bytes in CHUNK-sized AES-GCM frames (nonce = frame index), so a
    ranged read opens only the frames it needs."""

    def __init__(self, data_key: bytes, blob_id: str) -> None:
        self._cipher = _blob_cipher(data_key, blob_id)
        self._index = 0
        self._pending = bytearray()

    def _seal(self, chunk: bytes | memoryview) -> bytes:
        sealed = self._cipher.encrypt(_nonce(self._index), bytes(chunk), None)
        self._index += 1
        return sealed

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        frames = []
        whole = len(self._pending) - len(self._pending) % CHUNK
        view = memoryview(self._pending)
        for start in range(0, whole, CHUNK):
            frames.append(self._seal(view[start : start + CHUNK]))
        view.release()
        del self._pending[:whole]
        return b"".join(frames)

    def finish(self) -> bytes:
        return self._seal(self._pending) if self._pending else b""


async def write_encrypted(blobs: Any, stream: Any, data_key: bytes, *, hashers: dict[str, Any], limit: int | None) -> Any:
    """Like BlobStore.write, but the file holds ciphertext; digests are of the plaintext."""
    return await blobs.write(stream, hashers=hashers, limit=limit, encoder=lambda blob_id: _Sealer(data_key, blob_id))


def decrypt_range(f: Any, blob_id: str, data_key: bytes, plain_size: int, offset: int, length: int) -> AsyncIterator[bytes]:
    """Plaintext bytes offset..offset+length of an encrypted blob (file already open)."""
    cipher = _blob_cipher(data_key, blob_id)

    async def chunks() -> AsyncIterator[bytes]:
        first, end = offset, offset + length
        index = first // CHUNK
        while index * CHUNK < end:
            start = index * CHUNK
            plain_len = min(CHUNK, plain_size - start)
            f.seek(index * (CHUNK + TAG))
            sealed = f.read(plain_len + TAG)
            try:
                plain = cipher.decrypt(_nonce(index), sealed, None)
            except InvalidTag:
                raise ServiceError("InternalError", "Stored object bytes failed their integrity check.", 500) from None
            lo = max(first - start, 0)
            hi = min(end - start, plain_len)
            yield plain[lo:hi] if (lo or hi != plain_len) else plain
            index += 1

    return chunks()
