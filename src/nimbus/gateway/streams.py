"""Adapters between aiohttp's request stream and the protocol layer's ``ByteStream``."""

from __future__ import annotations

from aiohttp import StreamReader

from ..errors import ServiceError


class RequestBodyStream:
    """The raw request body, read incrementally, checked against Content-Length."""

    def __init__(self, content: StreamReader, expected_length: int | None) -> None:
        self._content = content
        self._expected = expected_length
        self.received = 0

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            data = await self._content.read()
        else:
            data = await self._content.read(n) if n else b""
        if data:
            self.received += len(data)
        elif self._expected is not None and self.received < self._expected:
            raise ServiceError(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                400,
            )
        return data


async def read_body(content: StreamReader, limit: int) -> bytes:
    """A whole small body (non-streaming operations), refusing bodies over ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ServiceError(
                "RequestEntityTooLarge", f"The request body exceeds the limit of {limit} bytes.", 413
            )
        chunks.append(chunk)
