"""Transport-neutral request and response values exchanged with the protocol layer.

The gateway turns an aiohttp request into an ``HttpRequest`` and writes an
``HttpResponse`` back; parsers and serializers see nothing of aiohttp, so the
conformance tests can drive them directly with botocore-built requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, BinaryIO, Mapping, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict, CIMultiDictProxy


@runtime_checkable
class ByteStream(Protocol):
    """A request body read incrementally (an object body is never held whole)."""

    async def read(self, n: int = -1) -> bytes: ...


class BytesStream:
    """A ``ByteStream`` over bytes already in memory."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = len(self._data) - self._pos
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk


@dataclass
class HttpRequest:
    method: str
    path: str  # raw (still percent-encoded) path, without the query string
    query: str  # raw query string
    headers: Mapping[str, str]  # case-insensitive (CIMultiDict)
    body: bytes = b""  # small bodies are read whole; see ``stream``
    stream: ByteStream | None = None  # set instead of body for streamed payloads
    host: str = ""
    secure: bool = False
    remote: str = "127.0.0.1"

    _query_params: list[tuple[str, str]] | None = field(default=None, repr=False)

    @property
    def query_params(self) -> list[tuple[str, str]]:
        if self._query_params is None:
            self._query_params = parse_qsl(self.query, keep_blank_values=True)
        return self._query_params

    def query_dict(self) -> dict[str, str]:
        return dict(self.query_params)

    @property
    def unquoted_path(self) -> str:
        return unquote(self.path)

    def body_stream(self) -> ByteStream:
        return self.stream if self.stream is not None else BytesStream(self.body)


class OutgoingBody:
    """A streamed response body; the gateway writes it without buffering it whole."""

    length: int | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        raise NotImplementedError  # subclasses are async generators

    async def close(self) -> None:
        return None


class FileBody(OutgoingBody):
    """Byte ranges of files already opened by the handler, sent with ``sendfile`` when possible.

    Handlers open the files while they hold a consistent view of the record, so a
    concurrent overwrite that unlinks the old bytes cannot pull them away mid-response.
    """

    def __init__(self, segments: list[tuple[BinaryIO, int, int]]) -> None:
        self.segments = segments  # (open file, offset, length)
        self.length = sum(length for _, _, length in segments)

    async def __aiter__(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        for f, offset, length in self.segments:
            f.seek(offset)
            remaining = length
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    async def close(self) -> None:
        for f, _, _ in self.segments:
            f.close()


class IterBody(OutgoingBody):
    """Bytes produced by an async iterator (e.g. decrypting a stored object)."""

    def __init__(self, chunks: AsyncIterator[bytes], length: int | None) -> None:
        self._chunks = chunks
        self.length = length

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks


@dataclass
class HttpResponse:
    status: int = 200
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes | OutgoingBody = b""


def header_proxy(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(headers))
