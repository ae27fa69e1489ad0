"""Decoding of ``Content-Encoding: aws-chunked`` request bodies (S3 streaming uploads).

Wire formats (S3 API reference, "sigv4-streaming" and "sigv4-streaming-trailers";
botocore.httpchecksum.AwsChunkedWrapper for the unsigned form):

``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``::

    <hex-size>;chunk-signature=<sig>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n\\r\\n

  each chunk's string to sign is ``AWS4-HMAC-SHA256-PAYLOAD\\n<timestamp>\\n<scope>\\n
  <previous signature>\\n<sha256("")>\\n<sha256(data)>``, chained from the seed
  signature (the request's Authorization signature).

``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``: the same, then trailer lines
``x-amz-checksum-crc32:<b64>\\r\\n`` and ``x-amz-trailer-signature:<sig>\\r\\n\\r\\n``
where the trailer string to sign is ``AWS4-HMAC-SHA256-TRAILER\\n<timestamp>\\n<scope>\\n
<final chunk signature>\\n<sha256("x-amz-checksum-crc32:<b64>\\n")>``.

``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (boto3 >= 1.36 default for PutObject/UploadPart)::

    <hex-size>\\r\\n<data>\\r\\n ... 0\\r\\nx-amz-checksum-crc32:<b64>\\r\\n\\r\\n

Memory stays bounded by one raw read (default 1 MiB + a little) whatever the chunk
size: data is handed out as it arrives and hashed incrementally.  Every check that
can fail (a chunk's signature, the trailer signature, trailing checksums, the decoded
length) runs before the ``read`` that hands out the last bytes of that chunk returns,
and all of them before EOF is reported, so a consumer that writes to a temporary
blob and commits only after reading EOF (or exactly ``decoded_length`` bytes) never
commits a tampered body.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

from ..errors import ServiceError
from ..protocol.http import ByteStream, HttpRequest
from .checksums import bad_digest, new_checksum, normalize_algorithm
from .errors import auth_error
from .sigv4 import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    SigV4Credential,
)

_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)
_MAX_LINE = 4096  # a chunk header or trailer line longer than this is malformed
_MAX_TRAILERS = 16 * 1024
_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")
_EMPTY_HASH_LINE = f"\n{EMPTY_SHA256}\n"


def incomplete_body(detail: str = "") -> ServiceError:
    # S3: 400 IncompleteBody "You did not provide the number of bytes specified by the
    # Content-Length HTTP header" (the decoded length, for aws-chunked bodies)
    return ServiceError(
        "IncompleteBody",
        detail or "You did not provide the number of bytes specified by the Content-Length HTTP header",
        400,
        sender_fault=True,
    )


def malformed_encoding(detail: str) -> ServiceError:
    return ServiceError(
        "InvalidRequest", f"Malformed aws-chunked request body: {detail}", 400, sender_fault=True
    )


def malformed_trailer() -> ServiceError:
    return ServiceError(
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform to our published schema.",
        400,
        sender_fault=True,
    )


class AwsChunkedStream:
    """A ``ByteStream`` yielding the decoded bytes of an aws-chunked body."""

    def __init__(
        self,
        raw: ByteStream,
        mode: str,
        *,
        signing_key: bytes | None = None,
        seed_signature: str | None = None,
        amz_date: str | None = None,
        scope: str | None = None,
        decoded_length: int | None = None,
        trailer_names: Iterable[str] = (),
        checksum_algorithms: Iterable[str] = (),
        service: str = "s3",
        read_size: int = (1 << 20) + 512,
    ) -> None:
        if mode not in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
            raise ValueError(f"not an aws-chunked mode: {mode!r}")
        self._raw = raw
        self.mode = mode
        self._signed = mode != STREAMING_UNSIGNED_TRAILER
        if self._signed and not (signing_key and seed_signature and amz_date and scope):
            raise ValueError("signed aws-chunked modes need signing_key, seed_signature, amz_date and scope")
        self._key = signing_key or b""
        self._prev_sig = seed_signature or ""
        self._sts_prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n"
        self._amz_date = amz_date
        self._scope = scope
        self._service = service
        self.decoded_length = decoded_length
        self._read_size = read_size
        self.trailer_names = [t.strip().lower() for t in trailer_names if t.strip()]
        algos: list[str] = []
        for name in list(checksum_algorithms) + [
            t for t in self.trailer_names if t.startswith("x-amz-checksum-")
        ]:
            try:
                a = normalize_algorithm(name)
            except ValueError:
                raise ServiceError(
                    "InvalidRequest",
                    f"Value for x-amz-trailer header is invalid: {name}",
                    400,
                    sender_fault=True,
                ) from None
            if a not in algos:
                algos.append(a)
        self._checksums = [new_checksum(a) for a in algos]
        self._buf = b""
        self._pos = 0
        self._state = _HEADER
        self._remaining = 0
        self._chunk_sig = ""
        self._chunk_hash = None
        self._decoded = 0
        self._trailer_sig: str | None = None
        self._trailer_bytes = 0
        self._eof = False
        self.trailers: dict[str, str] = {}
        self.checksums: dict[str, str] = {}

    @classmethod
    def for_request(
        cls,
        request: HttpRequest,
        cred: SigV4Credential | None,
        signing_key: bytes | None,
        *,
        checksum_algorithms: Iterable[str] = (),
    ) -> "AwsChunkedStream":
        """Build the decoder from a request's headers (x-amz-content-sha256,
        x-amz-decoded-content-length, x-amz-trailer) and its verified credential."""
        h = request.headers
        mode = h.get("X-Amz-Content-SHA256", "")
        dl = h.get("X-Amz-Decoded-Content-Length")
        decoded_length = None
        if dl is not None:
            try:
                decoded_length = int(dl)
            except ValueError:
                raise ServiceError(
                    "InvalidArgument", "x-amz-decoded-content-length must be a number", 400, sender_fault=True
                ) from None
        elif mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
            # S3: "MissingContentLength"/411 when x-amz-decoded-content-length is absent
            raise ServiceError(
                "MissingContentLength", "You must provide the Content-Length HTTP header.", 411, sender_fault=True
            )
        trailer = h.get("X-Amz-Trailer", "")
        return cls(
            request.body_stream(),
            mode,
            signing_key=signing_key,
            seed_signature=cred.signature if cred else None,
            amz_date=cred.timestamp if cred else None,
            scope=cred.scope if cred else None,
            decoded_length=decoded_length,
            trailer_names=[t for t in trailer.split(",") if t.strip()],
            checksum_algorithms=checksum_algorithms,
            service=cred.service if cred else "s3",
        )

    # ------------------------------------------------------------------ reading

    async def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while True:
                p = await self.read(1 << 22)
                if not p:
                    return b"".join(parts)
                parts.append(p)
        if n == 0:
            return b""
        while True:
            if self._state == _DATA:
                buf = self._buf
                avail = len(buf) - self._pos
                if avail <= 0:
                    if not await self._fill():
                        raise incomplete_body()
                    continue
                take = self._remaining
                if take > n:
                    take = n
                if take > avail:
                    take = avail
                if self._pos == 0 and take == len(buf):
                    out = buf
                    self._buf = b""
                else:
                    out = buf[self._pos : self._pos + take]
                    self._pos += take
                if self._chunk_hash is not None:
                    self._chunk_hash.update(out)
                for c in self._checksums:
                    c.update(out)
                self._remaining -= take
                self._decoded += take
                if self._remaining == 0:
                    self._state = _DATA_END
                    # verify this chunk (and, at the end, the trailers) before its
                    # last bytes are handed out
                    await self._advance_to_data()
                return out
            if self._state == _DONE:
                return b""
            await self._advance_to_data()

    async def __aiter__(self):
        while True:
            piece = await self.read(self._read_size)
            if not piece:
                return
            yield piece

    # ------------------------------------------------------------------ internals

    async def _fill(self) -> bool:
        """Append one raw read to the buffer; False at EOF."""
        if self._eof:
            return False
        data = await self._raw.read(self._read_size)
        if not data:
            self._eof = True
            return False
        if self._pos >= len(self._buf):
            self._buf = data
        else:
            self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    async def _line(self) -> bytes | None:
        """The next CRLF-terminated line (without CRLF); None at a clean EOF."""
        while True:
            i = self._buf.find(b"\r\n", self._pos)
            if i >= 0:
                line = self._buf[self._pos : i]
                self._pos = i + 2
                return line
            if len(self._buf) - self._pos > _MAX_LINE:
                raise malformed_encoding("chunk header too long")
            if not await self._fill():
                if self._pos < len(self._buf):
                    # a last line without CRLF
                    line = self._buf[self._pos :]
                    self._pos = len(self._buf)
                    return line
                return None

    async def _advance_to_data(self) -> None:
        """Run the state machine until data is pending or the body is complete."""
        while True:
            st = self._state
            if st == _DATA:
                if self._remaining > 0:
                    return
                self._state = _DATA_END
                continue
            if st == _DONE:
                return
            if st == _DATA_END:
                while len(self._buf) - self._pos < 2:
                    if not await self._fill():
                        raise incomplete_body()
                if self._buf[self._pos : self._pos + 2] != b"\r\n":
                    raise malformed_encoding("chunk data not followed by CRLF")
                self._pos += 2
                if self._signed:
                    self._verify_chunk(self._chunk_hash.hexdigest())  # type: ignore[union-attr]
                self._state = _HEADER
                continue
            if st == _HEADER:
                line = await self._line()
                if line is None:
                    raise incomplete_body()
                self._start_chunk(line)
                continue
            if st == _TRAILER:
                line = await self._line()
                if line is None or not line:
                    # blank line (or EOF, tolerated) ends the trailers
                    self._finish()
                    return
                self._trailer_line(line)
                continue

    def _start_chunk(self, line: bytes) -> None:
        size_part, _, ext = line.partition(b";")
        size_part = size_part.strip()
        if not size_part or len(size_part) > 16 or not _HEXDIGITS.issuperset(size_part):
            raise malformed_encoding("invalid chunk size")
        size = int(size_part, 16)
        if self._signed:
            sig = b""
            for item in ext.split(b";"):
                k, _, v = item.partition(b"=")
                if k.strip() == b"chunk-signature":
                    sig = v.strip()
            if not sig:
                raise auth_error("bad_signature", self._service)
            self._chunk_sig = sig.decode("ascii", "replace")
        if self.decoded_length is not None and self._decoded + size > self.decoded_length:
            raise incomplete_body(
                "The decoded body is longer than the x-amz-decoded-content-length header says"
            )
        if size == 0:
            if self._signed:
                self._verify_chunk(EMPTY_SHA256)
            self._state = _TRAILER
            return
        self._remaining = size
        self._chunk_hash = hashlib.sha256() if self._signed else None
        self._state = _DATA

    def _verify_chunk(self, data_hash: str) -> None:
        sts = f"{self._sts_prefix}{self._prev_sig}{_EMPTY_HASH_LINE}{data_hash}"
        expected = hmac.new(self._key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self._chunk_sig):
            raise auth_error(
                "bad_signature",
                self._service,
                fields={"StringToSign": sts, "SignatureProvided": self._chunk_sig},
            )
        self._prev_sig = self._chunk_sig

    def _trailer_line(self, line: bytes) -> None:
        self._trailer_bytes += len(line)
        if self._trailer_bytes > _MAX_TRAILERS:
            raise malformed_trailer()
        name, sep, value = line.partition(b":")
        if not sep:
            raise malformed_trailer()
        k = name.strip().lower().decode("latin-1")
        v = value.strip().decode("latin-1")
        if k == "x-amz-trailer-signature":
            self._trailer_sig = v
        else:
            self.trailers[k] = v

    def _finish(self) -> None:
        self._state = _DONE
        if self.mode == STREAMING_SIGNED_TRAILER and (self.trailers or self._trailer_sig is not None):
            canon = "".join(f"{k}:{v}\n" for k, v in self.trailers.items())
            sts = (
                f"AWS4-HMAC-SHA256-TRAILER\n{self._amz_date}\n{self._scope}\n{self._prev_sig}\n"
                f"{hashlib.sha256(canon.encode('latin-1')).hexdigest()}"
            )
            expected = hmac.new(self._key, sts.encode(), hashlib.sha256).hexdigest()
            if self._trailer_sig is None or not hmac.compare_digest(expected, self._trailer_sig):
                raise auth_error(
                    "bad_signature",
                    self._service,
                    fields={"StringToSign": sts, "SignatureProvided": self._trailer_sig or ""},
                )
        elif self.mode == STREAMING_SIGNED and self.trailers:
            raise malformed_trailer()
        for name in self.trailer_names:
            if name not in self.trailers:
                raise malformed_trailer()
        if self.decoded_length is not None and self._decoded != self.decoded_length:
            raise incomplete_body()
        self.checksums = {c.algorithm: c.b64digest() for c in self._checksums}
        for k, v in self.trailers.items():
            if k.startswith("x-amz-checksum-"):
                try:
                    algo = normalize_algorithm(k)
                except ValueError:
                    raise malformed_trailer() from None
                if self.checksums.get(algo) != v:
                    raise bad_digest(algo)

    @property
    def decoded_bytes(self) -> int:
        return self._decoded
