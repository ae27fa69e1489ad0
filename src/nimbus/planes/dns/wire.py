"""The DNS wire, fast path: parse a query, build a response from pre-packed rdata.

Queries are parsed by hand (header, one question, the OPT record with its Client Subnet
option) and answers are assembled from rdata packed once per snapshot (with dnslib), so
a packet costs microseconds.  Anything malformed raises ``FormErr``.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

QTYPE_OPT = 41
OPT_ECS = 8
MAX_UDP = 4096

RCODE_NOERROR, RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_NOTIMP, RCODE_REFUSED = 0, 1, 2, 3, 4, 5


class FormErr(Exception):
    pass


@dataclass
class Query:
    id: int
    flags: int
    qname: str  # lower-case, absolute ("www.example.com.")
    qtype: int
    qclass: int
    question: bytes  # the question section exactly as sent
    edns: bool = False
    payload: int = 512
    do: bool = False
    ecs: tuple[str, int, int] | None = None  # (address, family, source prefix)
    bad_version: bool = False


_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    labels = []
    jumped = False
    end = pos
    hops = 0
    total = 0
    while True:
        if pos >= len(data):
            raise FormErr("name runs past the packet")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise FormErr("truncated pointer")
            if not jumped:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            jumped = True
            hops += 1
            if hops > 32:
                raise FormErr("compression loop")
            continue
        if length & 0xC0:
            raise FormErr("bad label type")
        pos += 1
        if length == 0:
            break
        label = data[pos:pos + length]
        if len(label) != length:
            raise FormErr("truncated label")
        total += length + 1
        if total > 255:
            raise FormErr("name too long")
        labels.append(label.decode("latin-1").lower())
        pos += length
    if not jumped:
        end = pos
    return ".".join(labels) + ".", end


def parse_query(data: bytes) -> Query:
    if len(data) < 12:
        raise FormErr("short header")
    qid, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    if flags & 0x8000:
        raise FormErr("a response, not a query")
    if qd != 1:
        raise FormErr("exactly one question expected")
    qname, pos = _read_name(data, 12)
    if pos + 4 > len(data):
        raise FormErr("truncated question")
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    pos += 4
    query = Query(qid, flags, qname, qtype, qclass, data[12:pos])
    # skip answer and authority records (queries carry none, but tolerate them)
    for _ in range(an + ns + ar):
        _, pos = _read_name(data, pos)
        if pos + 10 > len(data):
            raise FormErr("truncated record")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        rdata = data[pos:pos + rdlen]
        if len(rdata) != rdlen:
            raise FormErr("truncated rdata")
        pos += rdlen
        if rtype == QTYPE_OPT:
            if query.edns:
                raise FormErr("two OPT records")
            query.edns = True
            query.payload = max(512, min(rclass, MAX_UDP))
            query.bad_version = (ttl >> 16) & 0xFF != 0
            query.do = bool(ttl & 0x8000)
            query.ecs = _parse_ecs(rdata)
    return query


def _parse_ecs(rdata: bytes) -> tuple[str, int, int] | None:
    pos = 0
    while pos + 4 <= len(rdata):
        code, length = struct.unpack_from("!HH", rdata, pos)
        value = rdata[pos + 4:pos + 4 + length]
        pos += 4 + length
        if code != OPT_ECS:
            continue
        if len(value) < 4:
            raise FormErr("bad client subnet")
        family, source, _scope = struct.unpack_from("!HBB", value)
        raw = value[4:]
        if family == 1 and source <= 32 and len(raw) <= 4:
            return str(ipaddress.IPv4Address(raw.ljust(4, b"\0"))), 1, source
        if family == 2 and source <= 128 and len(raw) <= 16:
            return str(ipaddress.IPv6Address(raw.ljust(16, b"\0"))), 2, source
        raise FormErr("bad client subnet")
    return None


def encode_name(name: str) -> bytes:
    if name == ".":
        return b"\0"
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("latin-1", "replace")
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


def rr(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    """One resource record; ``owner`` is an encoded name or the pointer b'\\xc0\\x0c'."""
    return owner + _RR_FIXED.pack(rtype, 1, ttl, len(rdata)) + rdata


QNAME_POINTER = b"\xc0\x0c"


def opt_record(query: Query) -> bytes:
    options = b""
    if query.ecs is not None:
        address, family, source = query.ecs
        packed = ipaddress.ip_address(address).packed[: (source + 7) // 8]
        body = struct.pack("!HBB", family, source, source) + packed
        options = struct.pack("!HH", OPT_ECS, len(body)) + body
    ext_rcode = 1 if query.bad_version else 0  # BADVERS = 16 → upper bits 1
    ttl = (ext_rcode << 24) | (0x8000 if query.do else 0)
    return b"\0" + _RR_FIXED.pack(QTYPE_OPT, MAX_UDP, ttl, len(options)) + options


def response(
    query: Query,
    rcode: int,
    answers: list[bytes],
    authority: list[bytes],
    *,
    aa: bool,
    limit: int | None,
    additional: list[bytes] | None = None,
) -> bytes:
    """Pack a response; over ``limit`` bytes (UDP) it is truncated with TC set."""
    flags = 0x8000 | (query.flags & 0x7900)  # QR, opcode, RD
    if aa:
        flags |= 0x0400
    extra = list(additional or [])
    if query.edns:
        extra.append(opt_record(query))
    body = b"".join(answers) + b"".join(authority) + b"".join(extra)
    packet = _HEADER.pack(query.id, flags | (rcode & 0xF), 1, len(answers), len(authority), len(extra)) + query.question + body
    if limit is not None and len(packet) > limit:
        opt = [opt_record(query)] if query.edns else []
        packet = _HEADER.pack(query.id, flags | 0x0200 | (rcode & 0xF), 1, 0, 0, len(opt)) + query.question + b"".join(opt)
    return packet


def error_response(data: bytes, rcode: int) -> bytes | None:
    """FORMERR/NOTIMP for a packet we could not parse; None when not even a header."""
    if len(data) < 12:
        return None
    qid, flags = struct.unpack_from("!HH", data)
    if flags & 0x8000:
        return None  # never answer a response (no reflection loops)
    return _HEADER.pack(qid, 0x8000 | (flags & 0x7900) | rcode, 0, 0, 0, 0)
