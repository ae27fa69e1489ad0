"""Answering one query from a snapshot: zone choice, routing policies, aliases, RFC rules.

- The zone: a private zone associated with the client's VPC wins over public zones
  (longest match among each); no zone → Nimbus's own names, then the upstream
  forwarder if set, else REFUSED.
- Inside a zone (RFC 1034 §4.3.2, RFC 2308): delegations give referrals, CNAMEs are
  followed inside the zone, wildcards expand, a missing name is NXDOMAIN and a missing
  type NODATA, both with the SOA in the authority section; answers carry AA.
- Routing policies are evaluated per query, honouring health (a record's health check,
  or an alias's target when EvaluateTargetHealth is set).
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass
from typing import Any

from dnslib import A

from ...services.route53.records import rdata_wire
from . import wire
from .geo import REGION_COORDS, RangeMap, distance_km, parse_geo
from .snapshot import Entry, Snapshot, ZoneView

CNAME, NS, SOA, ANY = 5, 2, 6, 255
MAX_CHAIN = 8
MULTIVALUE_MAX = 8


@dataclass
class Client:
    source: str  # the packet's source address (decides the VPC)
    address: str  # the EDNS client subnet address if given, else the source (decides location)
    region: str
    geo: tuple[str | None, str | None, str | None] | None  # (continent, country, subdivision)

    @property
    def coords(self) -> tuple[float, float] | None:
        return REGION_COORDS.get(self.region)


@dataclass
class Answer:
    rcode: int
    answers: list[bytes]
    authority: list[bytes]
    aa: bool
    zone: ZoneView | None = None
    records: list[tuple[str, int, int, bytes]] | None = None  # (owner, type, ttl, rdata) answered


_EC2_PRIVATE = re.compile(r"^ip-(\d+)-(\d+)-(\d+)-(\d+)\.(?:ec2\.internal|[a-z0-9-]+\.compute\.internal)\.$")
_EC2_PUBLIC = re.compile(r"^ec2-(\d+)-(\d+)-(\d+)-(\d+)\.(?:compute-1|[a-z0-9-]+\.compute)\.amazonaws\.com\.$")


class Resolver:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.latency = RangeMap.parse(getattr(config, "dns_latency_map", ""))
        geo_pairs = RangeMap.parse(getattr(config, "dns_geo_map", ""))
        self.geo = geo_pairs
        self.vpc_ranges = RangeMap.parse(getattr(config, "dns_vpc_map", ""))
        self.default_region = getattr(config, "region", "us-east-1")
        self.rng = random.Random()

    # -- the client --------------------------------------------------------------------

    def client(self, source: str, query: wire.Query) -> Client:
        address = query.ecs[0] if query.ecs is not None else source
        region = self.latency.lookup(address) or self.default_region
        geo_text = self.geo.lookup(address)
        return Client(source, address, region, parse_geo(geo_text) if geo_text else None)

    def vpc_of(self, snapshot: Snapshot, source: str) -> str | None:
        return snapshot.vpc_by_ip.get(source) or self.vpc_ranges.lookup(source)

    # -- zone choice -------------------------------------------------------------------

    def find_zone(self, snapshot: Snapshot, qname: str, source: str) -> ZoneView | None:
        vpc = None
        if snapshot.private:
            vpc = self.vpc_of(snapshot, source)
        name = qname
        while True:
            if vpc is not None:
                for view in snapshot.private.get(name, ()):
                    if vpc in view.vpcs:
                        return view
            view = snapshot.public.get(name)
            if view is not None and vpc is None:
                return view
            if view is not None:
                # a public match is kept but a longer/equal private match in the VPC wins;
                # keep looking up for a private zone of the VPC first
                private = self._private_above(snapshot, name, vpc)
                return private or view
            if name == ".":
                return None
            name = name.split(".", 1)[1] if "." in name.rstrip(".") else "."

    def _private_above(self, snapshot: Snapshot, name: str, vpc: str) -> ZoneView | None:
        while name != ".":
            name = name.split(".", 1)[1] if "." in name.rstrip(".") else "."
            for view in snapshot.private.get(name, ()):
                if vpc in view.vpcs:
                    return view
        return None

    # -- answering ---------------------------------------------------------------------

    def answer(self, snapshot: Snapshot, query: wire.Query, source: str) -> Answer:
        if query.qclass not in (1, 255):
            return Answer(wire.RCODE_REFUSED, [], [], False)
        client = self.client(source, query)
        zone = self.find_zone(snapshot, query.qname, source)
        if zone is None:
            builtin = self.builtin(query.qname, query.qtype)
            if builtin is not None:
                return builtin
            return Answer(wire.RCODE_REFUSED, [], [], False)
        records: list[tuple[str, int, int, bytes]] = []
        authority: list[bytes] = []
        rcode, aa = self.lookup(snapshot, zone, query.qname, query.qtype, client, records, authority, 0)
        answers = [
            wire.rr(wire.QNAME_POINTER if owner == query.qname else wire.encode_name(owner), rtype, ttl, rdata)
            for owner, rtype, ttl, rdata in records
        ]
        return Answer(rcode, answers, authority, aa, zone, records)

    def _soa(self, zone: ZoneView) -> list[bytes]:
        if zone.soa is None:
            return []
        ttl, rdata = zone.soa
        return [wire.rr(wire.encode_name(zone.name), SOA, ttl, rdata)]

    def lookup(
        self, snapshot: Snapshot, zone: ZoneView, qname: str, qtype: int, client: Client,
        records: list, authority: list, depth: int,
    ) -> tuple[int, bool]:
        # delegation below the apex → referral (not authoritative)
        if zone.delegations:
            name = qname
            while name != zone.name and name.endswith(zone.name):
                if name in zone.delegations and not (name == qname and qtype == 2 and False):
                    for entry in zone.nodes[name][NS]:
                        for rdata in entry.rdatas:
                            authority.append(wire.rr(wire.encode_name(name), NS, entry.ttl, rdata))
                    return wire.RCODE_NOERROR, False
                name = name.split(".", 1)[1]
        node = zone.nodes.get(qname)
        owner = qname
        if node is None:
            if qname in zone.existing:  # empty non-terminal
                authority.extend(self._soa(zone))
                return wire.RCODE_NOERROR, True
            encloser = qname
            while encloser != zone.name and encloser not in zone.existing:
                encloser = encloser.split(".", 1)[1]
            node = zone.nodes.get("*." + encloser)
            if node is None:
                authority.extend(self._soa(zone))
                return (wire.RCODE_NXDOMAIN if depth == 0 else wire.RCODE_NOERROR), True
        types = list(node) if qtype == ANY else [qtype]
        found = False
        for rtype in types:
            group = node.get(rtype)
            if not group:
                continue
            selected = self.select(snapshot, zone, group, owner, rtype, client, depth)
            if selected:
                found = True
                records.extend((owner, t, ttl, rdata) for t, ttl, rdata in selected)
        if found:
            return wire.RCODE_NOERROR, True
        if qtype not in (CNAME, ANY) and CNAME in node:
            selected = self.select(snapshot, zone, node[CNAME], owner, CNAME, client, depth)
            if selected:
                records.extend((owner, t, ttl, rdata) for t, ttl, rdata in selected)
                target = _name_of(selected[0][2])
                if depth < MAX_CHAIN and target.endswith(zone.name) and (target == zone.name or target.endswith("." + zone.name)):
                    return self.lookup(snapshot, zone, target, qtype, client, records, authority, depth + 1)
                return wire.RCODE_NOERROR, True
        authority.extend(self._soa(zone))
        return wire.RCODE_NOERROR, True

    # -- routing policies --------------------------------------------------------------

    def entry_answer(
        self, snapshot: Snapshot, zone: ZoneView, entry: Entry, owner: str, rtype: int, client: Client, depth: int
    ) -> tuple[list[tuple[int, int, bytes]], bool]:
        """(answers, healthy) of one record set."""
        healthy = snapshot.health.get(entry.hc, True) if entry.hc else True
        if entry.rule is not None:  # a traffic policy item pointing at another rule
            answers, rule_ok = self.evaluate_rule(snapshot, zone, entry.rule, owner, rtype, client, depth + 1)
            return answers, healthy and (rule_ok or not entry.evaluate)
        if entry.alias is None:
            return [(rtype, entry.ttl, rdata) for rdata in entry.rdatas], healthy
        zone_id, target, evaluate = entry.alias
        out: list[tuple[int, int, bytes]] | None
        target_zone = snapshot.zones.get(zone_id.split("/")[-1]) if zone_id else None
        if target_zone is None and (target == zone.name or target.endswith("." + zone.name)):
            target_zone = zone
        if target_zone is not None:
            if depth >= MAX_CHAIN:
                return [], False
            records: list[tuple[str, int, int, bytes]] = []
            self.lookup(snapshot, target_zone, target, rtype, client, records, [], depth + 1)
            out = [(t, ttl, rdata) for name, t, ttl, rdata in records if name == target and t == rtype]
            if not out:
                out = None
        else:
            out = None
            for resolver, data in snapshot.alias_data.values():
                if resolver.matches(target, zone_id):
                    out = resolver.resolve(data, owner, target, rtype)
                    break
        if out is None:
            return [], False if evaluate else healthy
        return out, (healthy and (bool(out) or not evaluate))

    def select(
        self, snapshot: Snapshot, zone: ZoneView, group: list[Entry], owner: str, rtype: int, client: Client, depth: int
    ) -> list[tuple[int, int, bytes]]:
        policy = group[0].policy
        if policy == "simple" or len(group) == 1 and policy in ("simple",):
            answers, _ = self.entry_answer(snapshot, zone, group[0], owner, rtype, client, depth)
            return answers
        if policy == "traffic-policy":
            tree = group[0].tree
            return self.evaluate_rule(snapshot, zone, tree, owner, rtype, client, depth)[0] if tree is not None else []
        return self.choose(snapshot, zone, group, policy, owner, rtype, client, depth)[0]

    def choose(
        self, snapshot: Snapshot, zone: ZoneView, group: list[Any], policy: str, owner: str, rtype: int, client: Client, depth: int
    ) -> tuple[list[tuple[int, int, bytes]], bool]:
        """(answers, healthy) of a routing decision among record sets or policy items."""
        if policy == "multivalue":
            healthy, unhealthy = [], []
            for entry in group:
                answers, ok = self.entry_answer(snapshot, zone, entry, owner, rtype, client, depth)
                (healthy if ok else unhealthy).extend(answers)
            chosen = healthy or unhealthy
            self.rng.shuffle(chosen)
            return chosen[:MULTIVALUE_MAX], bool(healthy)
        if policy == "cidr":
            order = self.cidr_order(snapshot, group, client)
        else:
            order = self.order(group, client, policy)
        if order is None:
            return [], False
        first: list[tuple[int, int, bytes]] | None = None
        for entry in order:
            answers, ok = self.entry_answer(snapshot, zone, entry, owner, rtype, client, depth)
            if ok and answers:
                return answers, True
            if first is None:
                first = answers
        return first or [], False  # every candidate unhealthy: Route 53 fails open

    def evaluate_rule(
        self, snapshot: Snapshot, zone: ZoneView, rule: Any, owner: str, rtype: int, client: Client, depth: int
    ) -> tuple[list[tuple[int, int, bytes]], bool]:
        """A traffic policy rule (``policytree.Rule``): its items are ordered like record sets."""
        if depth > MAX_CHAIN:
            return [], False
        return self.choose(snapshot, zone, rule.items, rule.policy, owner, rtype, client, depth)

    def cidr_order(self, snapshot: Snapshot, group: list[Entry], client: Client) -> list[Entry] | None:
        """IP-based routing: the location of the longest block holding the client's
        address (EDNS Client Subnet, else the source); else the ``*`` default record."""
        collection = group[0].cidr[0] if group[0].cidr else None
        location = None
        try:
            ip = ipaddress.ip_address(client.address)
        except ValueError:
            ip = None
        if ip is not None:
            for net, name in snapshot.cidr.get(collection or "", ()):
                if net.version == ip.version and ip in net:
                    location = name
                    break
        chosen = [e for e in group if e.cidr and location is not None and e.cidr[1] == location]
        if not chosen:
            chosen = [e for e in group if e.cidr and e.cidr[1] == "*"]
        return chosen or None

    def order(self, group: list[Entry], client: Client, policy: str) -> list[Entry] | None:
        if policy == "weighted":
            nonzero = [e for e in group if e.weight > 0]
            zero = [e for e in group if e.weight <= 0]
            if not nonzero:  # all weights zero: equal chances
                out = list(zero)
                self.rng.shuffle(out)
                return out
            return self._weighted_order(nonzero) + self.rng.sample(zero, len(zero))
        if policy == "failover":
            return sorted(group, key=lambda e: 0 if e.failover == "PRIMARY" else 1)
        if policy == "latency":
            here = client.coords or REGION_COORDS.get(self.default_region, (0.0, 0.0))
            return sorted(group, key=lambda e: (e.region != client.region, distance_km(here, REGION_COORDS.get(e.region or "", here))))
        if policy == "geolocation":
            continent, country, sub = client.geo or (None, None, None)
            ranked: list[tuple[int, Entry]] = []
            for entry in group:
                cont_e, country_e, sub_e = entry.geo
                if country_e == "*":
                    ranked.append((0, entry))
                elif sub_e and country_e == country and sub_e == sub:
                    ranked.append((3, entry))
                elif country_e and not sub_e and country_e == country:
                    ranked.append((2, entry))
                elif cont_e and not country_e and cont_e == continent:
                    ranked.append((1, entry))
            if not ranked:
                return None  # no match and no default: no answer
            ranked.sort(key=lambda item: -item[0])
            return [entry for _, entry in ranked]
        if policy == "geoproximity":
            here = client.coords or REGION_COORDS.get(self.default_region, (0.0, 0.0))

            def biased(entry: Entry) -> float:
                where = entry.coords or here
                return distance_km(here, where) * (1 - entry.bias / 100.0)

            return sorted(group, key=biased)
        return list(group)  # cidr and anything else: first record set

    def _weighted_order(self, entries: list[Entry]) -> list[Entry]:
        remaining = list(entries)
        out = []
        while remaining:
            total = sum(e.weight for e in remaining)
            pick = self.rng.random() * total
            for i, entry in enumerate(remaining):
                pick -= entry.weight
                if pick < 0 or i == len(remaining) - 1:
                    out.append(remaining.pop(i))
                    break
        return out

    # -- Nimbus's own names ------------------------------------------------------------

    def builtin(self, qname: str, qtype: int) -> Answer | None:
        match = _EC2_PRIVATE.match(qname) or _EC2_PUBLIC.match(qname)
        if match is None:
            return None
        octets = [int(g) for g in match.groups()]
        if any(o > 255 for o in octets):
            return Answer(wire.RCODE_NXDOMAIN, [], [], True)
        answers = []
        if qtype in (1, ANY):
            answers.append(wire.rr(wire.QNAME_POINTER, 1, 60, rdata_wire(A(".".join(map(str, octets))))))
        return Answer(wire.RCODE_NOERROR, answers, [], True)


def _name_of(rdata: bytes) -> str:
    labels = []
    pos = 0
    while pos < len(rdata) and rdata[pos]:
        length = rdata[pos]
        labels.append(rdata[pos + 1:pos + 1 + length].decode("latin-1").lower())
        pos += 1 + length
    return ".".join(labels) + "."


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
