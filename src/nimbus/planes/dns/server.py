"""The DNS plane: an authoritative server for every hosted zone, UDP and TCP.

Packets are served on two threads of their own (UDP, and TCP with one thread per
connection) from the current immutable ``Snapshot``; the event loop rebuilds the parts
of the snapshot a committed change touched (``store.subscribe``) and swaps it in with
one assignment.  Malformed packets get FORMERR, names outside every zone REFUSED (or an
upstream's answer when ``NIMBUS_DNS_FORWARD`` is set); nothing a client sends stops it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
import threading
import time
from typing import Any

from ...services.route53 import records as R
from . import alias as alias_registry
from . import wire
from .resolve import Resolver
from .snapshot import VPC_ADDRESS_KINDS, Snapshot, ZoneView, build_cidr, build_health, build_vpc_map, build_zone, update_zone

log = logging.getLogger("nimbus.dns")

FALLBACK_PORT = 10053
MAX_TCP_CONNECTIONS = 128


class DnsPlane:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.resolver = Resolver(self.config)
        self.snapshot = Snapshot()
        self.alias_resolvers = alias_registry.load()
        self.address: tuple[str, int] | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._unsubscribe = None
        self._dirty_zones: set[tuple[str, str]] = set()
        self._dirty_rrsets: dict[tuple[str, str], set[str]] = {}
        self._dirty_all = False
        self._dirty_health = False
        self._dirty_vpc = False
        self._dirty_cidr = False
        self._dirty_alias: set[str] = set()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tcp_count = 0
        self._forward = _parse_forward(getattr(self.config, "dns_forward", ""))
        self.queries = 0

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.rebuild_all()
        self._unsubscribe = self.runtime.store.subscribe(self._on_change)
        if self.config.dns_port < 0:
            return
        self._bind()
        if self.address is None:
            return
        for target, name in ((self._serve_udp, "nimbus-dns-udp"), (self._serve_tcp, "nimbus-dns-tcp")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("DNS server on %s:%d (UDP and TCP)", *self.address)

    def _bind(self) -> None:
        host = self.config.dns_host
        wanted = self.config.dns_port
        candidates = [wanted] + ([FALLBACK_PORT, 0] if wanted == 53 else [0])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for port in candidates:
            udp = socket.socket(family, socket.SOCK_DGRAM)
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                udp.bind((host, port))
                bound = udp.getsockname()[1]
                tcp.bind((host, bound))
                tcp.listen(128)
            except OSError as exc:
                udp.close()
                tcp.close()
                if exc.errno not in (errno.EACCES, errno.EADDRINUSE, errno.EPERM):
                    log.error("DNS server cannot bind %s:%s: %s", host, port, exc)
                    return
                log.info("DNS port %s unavailable (%s); trying the next", port, exc.strerror)
                continue
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            udp.settimeout(0.5)
            tcp.settimeout(0.5)
            self._udp, self._tcp = udp, tcp
            self.address = (host, bound)
            return
        log.error("DNS server could not bind any port on %s", host)

    async def stop(self) -> None:
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for thread in self._threads:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 2.0)
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()

    def describe(self) -> dict[str, Any]:
        if self.address is None:
            return {}
        return {"dns": f"{self.address[0]}:{self.address[1]}"}

    # -- snapshot maintenance ----------------------------------------------------------

    def rebuild_all(self) -> None:
        started = time.time()
        store = self.runtime.store
        zones: dict[str, ZoneView] = {}
        for scope in store.read.scopes(R.ZONE_KIND):
            for _key, zone in store.read.scan(R.ZONE_KIND, scope):
                zones[zone["Id"]] = build_zone(store, scope, zone)
        alias_data = {r.name: (r, r.build(store, self.config)) for r in self.alias_resolvers}
        self.snapshot = self.snapshot.with_zones(
            zones, health=build_health(store), vpc_by_ip=build_vpc_map(store), cidr=build_cidr(store), alias_data=alias_data,
            built_wall=started,
        )

    def _on_change(self, changes: list[Any]) -> None:
        relevant = False
        for change in changes:
            kind = change.kind
            if kind == R.ZONE_KIND:
                self._dirty_zones.add((change.scope, change.key))
            elif kind == R.RRSET_KIND:
                zone = (change.scope, change.key.split("|", 1)[0])
                self._dirty_zones.add(zone)
                self._dirty_rrsets.setdefault(zone, set()).add(change.key)
            elif kind == R.HEALTH_KIND:
                self._dirty_health = True
            elif kind in VPC_ADDRESS_KINDS:
                self._dirty_vpc = True
            elif kind == R.CIDR_KIND:
                self._dirty_cidr = True
            else:
                hit = [r.name for r in self.alias_resolvers if kind in r.kinds]
                if not hit:
                    continue
                self._dirty_alias.update(hit)
            relevant = True
        if relevant and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._rebuild)

    def _rebuild(self) -> None:
        self._scheduled = False
        started = time.time()
        store = self.runtime.store
        snapshot = self.snapshot
        changes: dict[str, Any] = {"built_wall": started}
        zones = snapshot.zones
        if self._dirty_zones:
            zones = dict(zones)
            dirty, self._dirty_zones = self._dirty_zones, set()
            keys_by_zone, self._dirty_rrsets = self._dirty_rrsets, {}
            for scope, zone_id in dirty:
                doc = store.read.get(R.ZONE_KIND, zone_id, scope)
                old = zones.get(zone_id)
                if doc is None:
                    zones.pop(zone_id, None)
                elif old is not None and old.account == scope:
                    try:
                        zones[zone_id] = update_zone(store, old, doc, keys_by_zone.get((scope, zone_id), set()))
                    except Exception:  # never serve a stale zone: rebuild it whole
                        log.exception("incremental rebuild of zone %s failed; rebuilding it whole", zone_id)
                        zones[zone_id] = build_zone(store, scope, doc)
                else:
                    zones[zone_id] = build_zone(store, scope, doc)
        if self._dirty_health:
            self._dirty_health = False
            changes["health"] = build_health(store)
        if self._dirty_vpc:
            self._dirty_vpc = False
            changes["vpc_by_ip"] = build_vpc_map(store)
        if self._dirty_cidr:
            self._dirty_cidr = False
            changes["cidr"] = build_cidr(store)
        if self._dirty_alias:
            names, self._dirty_alias = self._dirty_alias, set()
            data = dict(snapshot.alias_data)
            for resolver in self.alias_resolvers:
                if resolver.name in names:
                    data[resolver.name] = (resolver, resolver.build(store, self.config))
            changes["alias_data"] = data
        self.snapshot = snapshot.with_zones(zones, **changes)

    def flush(self) -> None:
        """Apply pending changes now (the control plane calls this before INSYNC checks)."""
        if self._scheduled or self._dirty_zones or self._dirty_health or self._dirty_vpc or self._dirty_cidr or self._dirty_alias:
            self._rebuild()

    # -- answering ---------------------------------------------------------------------

    def handle(self, data: bytes, source: str, *, udp: bool) -> bytes | None:
        self.queries += 1
        try:
            query = wire.parse_query(data)
        except wire.FormErr:
            return wire.error_response(data, wire.RCODE_FORMERR)
        except Exception:
            return wire.error_response(data, wire.RCODE_FORMERR)
        opcode = (query.flags >> 11) & 0xF
        if opcode != 0:
            return wire.response(query, wire.RCODE_NOTIMP, [], [], aa=False, limit=None)
        if query.bad_version:
            return wire.response(query, 0, [], [], aa=False, limit=None)  # BADVERS via OPT ext rcode
        if query.qtype in (251, 252):  # IXFR/AXFR: not offered
            return wire.response(query, wire.RCODE_REFUSED, [], [], aa=False, limit=None)
        try:
            result = self.resolver.answer(self.snapshot, query, source)
        except Exception:
            log.exception("DNS failure answering %s", query.qname)
            return wire.response(query, wire.RCODE_SERVFAIL, [], [], aa=False, limit=None)
        if result.rcode == wire.RCODE_REFUSED and self._forward is not None:
            forwarded = self._forward_query(data, udp)
            if forwarded is not None:
                return forwarded
        limit = (query.payload if query.edns else 512) if udp else None
        return wire.response(query, result.rcode, result.answers, result.authority, aa=result.aa, limit=limit)

    def _forward_query(self, data: bytes, udp: bool) -> bytes | None:
        assert self._forward is not None
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(2.0)
                sock.sendto(data, self._forward)
                reply, _ = sock.recvfrom(65535)
                return reply
        except OSError:
            return None

    def _serve_udp(self) -> None:
        sock = self._udp
        assert sock is not None
        handle = self.handle
        stopping = self._stopping
        while not stopping.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                if stopping.is_set():
                    return
                continue
            try:
                reply = handle(data, peer[0], udp=True)
                if reply is not None:
                    sock.sendto(reply, peer)
            except Exception:  # never let one packet stop the server
                log.exception("DNS UDP failure")

    def _serve_tcp(self) -> None:
        sock = self._tcp
        assert sock is not None
        while not self._stopping.is_set():
            try:
                conn, peer = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            if self._tcp_count >= MAX_TCP_CONNECTIONS:
                conn.close()
                continue
            self._tcp_count += 1
            threading.Thread(target=self._tcp_connection, args=(conn, peer[0]), daemon=True).start()

    def _tcp_connection(self, conn: socket.socket, source: str) -> None:
        try:
            conn.settimeout(10.0)
            while not self._stopping.is_set():
                header = _recv_exact(conn, 2)
                if header is None:
                    return
                (length,) = struct.unpack("!H", header)
                data = _recv_exact(conn, length)
                if data is None:
                    return
                reply = self.handle(data, source, udp=False)
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except (OSError, socket.timeout):
            pass
        except Exception:
            log.exception("DNS TCP failure")
        finally:
            self._tcp_count -= 1
            conn.close()


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    chunks = b""
    while len(chunks) < n:
        chunk = conn.recv(n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


def _parse_forward(text: str) -> tuple[str, int] | None:
    text = (text or "").strip()
    if not text:
        return None
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "53")
    return (host or text, int(port or 53))


def current(runtime: Any) -> DnsPlane | None:
    """The running DNS plane of ``runtime``, if any."""
    supervisor = getattr(runtime, "supervisor", None)
    for plane in getattr(supervisor, "planes", []) or []:
        if isinstance(plane, DnsPlane):
            return plane
    return None
