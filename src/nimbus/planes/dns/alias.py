"""Alias targets outside hosted zones: a registry of resolvers.

Alias records whose target is a record in a hosted zone are resolved by the DNS plane
itself.  Every other target (an S3 website endpoint today; load balancers, CloudFront,
API Gateway ... later) is resolved by the first registered ``AliasResolver`` that
``matches`` it.  A resolver never reads the store per query: ``build`` turns the
records it cares about (``kinds``) into immutable data kept in the DNS snapshot, rebuilt
when a record of those kinds changes, and ``resolve`` answers from that data.

Register one with ``register(resolver)`` (or add ``"module:Class"`` to ``RESOLVERS``).
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from typing import Any, Protocol

from dnslib import A

from ...services.route53.records import rdata_wire


class AliasResolver(Protocol):
    name: str
    kinds: tuple[str, ...]  # store kinds whose changes rebuild this resolver's data

    def matches(self, dns_name: str, hosted_zone_id: str) -> bool: ...

    def build(self, store: Any, config: Any) -> Any:
        """Immutable data for the snapshot (read everything it needs from ``store``)."""
        ...

    def resolve(self, data: Any, owner: str, dns_name: str, qtype: int) -> list[tuple[int, int, bytes]] | None:
        """(type, ttl, rdata) answers for ``owner``; None when the target does not exist
        (an alias with EvaluateTargetHealth is then unhealthy)."""
        ...


def local_address(config: Any) -> str:
    host = getattr(config, "host", "127.0.0.1") or "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return "127.0.0.1" if ip.is_unspecified or ip.version != 4 else host


class S3WebsiteResolver:
    """``s3-website-<region>.amazonaws.com`` / ``s3-website.<region>.amazonaws.com``: the
    record's name is the bucket; it resolves to the address Nimbus serves S3 on."""

    name = "s3-website"
    kinds = ("s3:bucket",)
    _pattern = re.compile(r"^s3-website[.-][a-z0-9-]+\.amazonaws\.com\.?$")

    def matches(self, dns_name: str, hosted_zone_id: str) -> bool:
        return bool(self._pattern.match(dns_name.lower()))

    def build(self, store: Any, config: Any) -> Any:
        buckets = frozenset(store.read.scan_keys("s3:bucket", ""))
        return buckets, rdata_wire(A(local_address(config)))

    def resolve(self, data: Any, owner: str, dns_name: str, qtype: int) -> list[tuple[int, int, bytes]] | None:
        buckets, address = data
        if owner.rstrip(".") not in buckets:
            return None
        return [(1, 60, address)] if qtype in (1, 255) else []


RESOLVERS: list[str] = ["nimbus.planes.dns.alias:S3WebsiteResolver"]
_extra: list[AliasResolver] = []


def register(resolver: AliasResolver) -> None:
    _extra.append(resolver)


def load() -> list[AliasResolver]:
    out: list[AliasResolver] = []
    for target in RESOLVERS:
        module, _, cls = target.partition(":")
        out.append(getattr(importlib.import_module(module), cls)())
    return out + list(_extra)
