from __future__ import annotations

import asyncio
import base64
import hashlib
import os

import pytest

from nimbus.auth import checksums
from nimbus.auth.checksums import HashingStream, checksum_b64, new_checksum, normalize_algorithm
from nimbus.errors import ServiceError
from nimbus.protocol.http import BytesStream

CHECK = b"123456789"
# catalogue check values: CRC-32/ISO-HDLC, CRC-32C (iSCSI), CRC-64/NVME
VECTORS = {
    "CRC32": (0xCBF43926).to_bytes(4, "big"),
    "CRC32C": (0xE3069283).to_bytes(4, "big"),
    "CRC64NVME": (0xAE8B14860A799888).to_bytes(8, "big"),
    "SHA1": hashlib.sha1(CHECK).digest(),
    "SHA256": hashlib.sha256(CHECK).digest(),
}


@pytest.mark.parametrize("algo", sorted(VECTORS))
def test_vectors_incremental(algo):
    c = new_checksum(algo)
    for i in range(len(CHECK)):
        c.update(CHECK[i : i + 1])
    assert c.b64digest() == base64.b64encode(VECTORS[algo]).decode()
    assert checksum_b64(algo.lower(), CHECK) == c.b64digest()


def test_pure_python_fallbacks_match():
    data = os.urandom(3000)
    assert checksums._py_crc32c(data[:1000], checksums._py_crc32c(b"", 0)) is not None
    a = checksums._py_crc32c(data[1000:], checksums._py_crc32c(data[:1000]))
    assert a.to_bytes(4, "big") == base64.b64decode(checksum_b64("CRC32C", data))
    b = checksums._py_crc64nvme(data)
    assert b.to_bytes(8, "big") == base64.b64decode(checksum_b64("CRC64NVME", data))
    assert checksums._py_crc64nvme(CHECK) == 0xAE8B14860A799888


def test_matches_botocore_checksums():
    from botocore.httpchecksum import _CHECKSUM_CLS

    data = os.urandom(100_000)
    for name, cls in _CHECKSUM_CLS.items():
        if name.upper() not in checksums.ALGORITHMS:
            continue
        c = cls()
        c.update(data)
        assert c.b64digest() == checksum_b64(name, data), name


def test_normalize():
    assert normalize_algorithm("x-amz-checksum-crc64nvme") == "CRC64NVME"
    with pytest.raises(ValueError):
        normalize_algorithm("md5")


def test_hashing_stream():
    data = os.urandom(100_000)

    async def drain(s):
        out = []
        while b := await s.read(7000):
            out.append(b)
        return b"".join(out)

    s = HashingStream(BytesStream(data), hashlib.sha256(data).hexdigest(), checksum_algorithms=("CRC32",))
    assert asyncio.run(drain(s)) == data
    assert s.checksums["CRC32"] == checksum_b64("CRC32", data)
    s = HashingStream(BytesStream(data + b"!"), hashlib.sha256(data).hexdigest())
    with pytest.raises(ServiceError) as ei:
        asyncio.run(drain(s))
    assert (ei.value.code, ei.value.status) == ("XAmzContentSHA256Mismatch", 400)
    s = HashingStream(BytesStream(data), hashlib.sha256(data).hexdigest())
    assert asyncio.run(s.read()) == data
