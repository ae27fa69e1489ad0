"""Immutable views of every hosted zone, built from the store and swapped atomically.

A ``Snapshot`` holds per-zone ``ZoneView``s (records grouped by name and type, rdata
already packed), the health of every health check, the VPC of known source addresses
and each alias resolver's data.  The DNS plane rebuilds only what a change touched and
publishes a new ``Snapshot`` object; packets read whichever snapshot was current when
they arrived and never touch the store.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from ...services.route53 import records as R
from .geo import REGION_COORDS

log = logging.getLogger("nimbus.dns")


class Entry:
    """One resource record set, ready to answer."""

    __slots__ = (
        "name", "rtype", "ttl", "rdatas", "policy", "set_id", "weight", "region", "geo", "failover",
        "hc", "multivalue", "coords", "bias", "alias", "tree", "cidr", "evaluate", "rule",
    )

    def __init__(self, doc: dict[str, Any]) -> None:
        self.name: str = doc["Name"]
        self.rtype: int = R.QTYPE_NUM[doc["Type"]]
        self.ttl: int = int(doc.get("TTL", 60))
        self.rdatas: list[bytes] = []
        for item in doc.get("ResourceRecords") or []:
            try:
                self.rdatas.append(R.rdata_wire(R.parse_value(doc["Type"], item["Value"])))
            except Exception:  # validated on the way in; never let one record break a zone
                log.warning("skipping unparsable value %r of %s %s", item.get("Value"), doc["Name"], doc["Type"])
        self.policy = R.routing_policy(doc)
        self.set_id = doc.get("SetIdentifier")
        self.weight = int(doc.get("Weight", 0))
        self.region = doc.get("Region")
        geo = doc.get("GeoLocation") or {}
        self.geo = (geo.get("ContinentCode"), geo.get("CountryCode"), geo.get("SubdivisionCode"))
        self.failover = doc.get("Failover")
        self.hc = doc.get("HealthCheckId")
        self.multivalue = bool(doc.get("MultiValueAnswer"))
        prox = doc.get("GeoProximityLocation") or {}
        self.bias = int(prox.get("Bias", 0) or 0)
        coords = prox.get("Coordinates")
        if coords:
            self.coords = (float(coords["Latitude"]), float(coords["Longitude"]))
        else:
            self.coords = REGION_COORDS.get(prox.get("AWSRegion") or "", None)
        cidr = doc.get("CidrRoutingConfig")
        self.cidr = (cidr["CollectionId"], cidr["LocationName"]) if cidr else None
        self.tree = None  # a traffic policy instance's compiled rules (policytree.Rule)
        self.evaluate = False
        self.rule = None
        alias = doc.get("AliasTarget")
        self.alias = (
            (alias.get("HostedZoneId", ""), R.normalize_name(alias["DNSName"]), bool(alias.get("EvaluateTargetHealth")))
            if alias
            else None
        )


@dataclass
class ZoneView:
    id: str
    account: str
    name: str
    private: bool
    vpcs: frozenset[str]
    created: float
    nodes: dict[str, dict[int, list[Entry]]]
    existing: frozenset[str]  # every owner name and its ancestors inside the zone
    delegations: frozenset[str]  # names below the apex that carry NS records
    soa: tuple[int, bytes] | None  # (negative-caching TTL, rdata)
    records: int = 0
    by_key: dict[str, Entry] = field(default_factory=dict)  # store key → entry (incremental updates)
    meta: tuple = ()  # what of the zone document the view depends on


def _zone_meta(zone: dict[str, Any]) -> tuple:
    return (zone["Name"], bool(zone.get("Private")), tuple(sorted(v["VPCId"] for v in zone.get("VPCs") or [])), float(zone.get("created", 0)))


def _entry(store: Any, account: str, doc: dict[str, Any]) -> Entry:
    entry = Entry(doc)
    if doc.get("TrafficPolicyInstanceId"):
        entry.tree = _policy_tree(store, account, doc)
        entry.policy = "traffic-policy"
    return entry


def _ancestors(name: str, apex: str, existing: set[str]) -> None:
    while name not in existing:
        existing.add(name)
        if name == apex or "." not in name.rstrip("."):
            break
        name = name.split(".", 1)[1]


def _finish(zone_id: str, account: str, apex: str, meta: tuple, nodes: dict[str, dict[int, list[Entry]]],
            by_key: dict[str, Entry], existing: frozenset[str] | None = None,
            delegations: frozenset[str] | None = None) -> ZoneView:
    if existing is None:
        found: set[str] = set()
        for name in nodes:
            _ancestors(name, apex, found)
        existing = frozenset(found)
    if delegations is None:
        delegations = frozenset(name for name, types in nodes.items() if name != apex and types.get(2))
    soa = None
    apex_soa = nodes.get(apex, {}).get(6)
    if apex_soa and apex_soa[0].rdatas:
        entry = apex_soa[0]
        minimum = int.from_bytes(entry.rdatas[0][-4:], "big")
        soa = (min(entry.ttl, minimum), entry.rdatas[0])
    return ZoneView(
        id=zone_id, account=account, name=apex, private=meta[1], vpcs=frozenset(meta[2]), created=meta[3],
        nodes=nodes, existing=existing, delegations=delegations, soa=soa, records=len(by_key), by_key=by_key, meta=meta,
    )


def build_zone(store: Any, account: str, zone: dict[str, Any]) -> ZoneView:
    zone_id = zone["Id"]
    nodes: dict[str, dict[int, list[Entry]]] = {}
    by_key: dict[str, Entry] = {}
    for key, doc in store.read.scan(R.RRSET_KIND, account, prefix=R.zone_prefix(zone_id)):
        entry = _entry(store, account, doc)
        by_key[key] = entry
        nodes.setdefault(entry.name, {}).setdefault(entry.rtype, []).append(entry)
    return _finish(zone_id, account, zone["Name"], _zone_meta(zone), nodes, by_key)


def update_zone(store: Any, old: ZoneView, zone: dict[str, Any], keys: set[str]) -> ZoneView:
    """``old`` with only the record sets under ``keys`` re-read: a change batch costs what it
    touches, not the size of the zone (unchanged entries are shared with ``old``)."""
    if _zone_meta(zone) != old.meta:
        return build_zone(store, old.account, zone)
    nodes = dict(old.nodes)
    by_key = dict(old.by_key)
    copied_names: set[str] = set()
    copied_groups: set[tuple[str, int]] = set()
    added_names: list[str] = []
    removed_name = ns_changed = False

    def group(name: str, rtype: int) -> list[Entry]:
        """The (copied, so private to the new view) entries of one name and type."""
        if name not in copied_names:
            copied_names.add(name)
            nodes[name] = dict(nodes.get(name) or {})
        elif name not in nodes:
            nodes[name] = {}
        types = nodes[name]
        if (name, rtype) not in copied_groups or rtype not in types:
            copied_groups.add((name, rtype))
            types[rtype] = list(types.get(rtype) or [])
        return types[rtype]

    for key in keys:
        previous = by_key.pop(key, None)
        if previous is not None:
            entries = group(previous.name, previous.rtype)
            entries[:] = [e for e in entries if e is not previous]
            if not entries:
                del nodes[previous.name][previous.rtype]
                if not nodes[previous.name]:
                    del nodes[previous.name]
                    removed_name = True
            ns_changed |= previous.rtype == 2
        doc = store.read.get(R.RRSET_KIND, key, old.account)
        if doc is None:
            continue
        entry = _entry(store, old.account, doc)
        by_key[key] = entry
        if entry.name not in nodes:
            added_names.append(entry.name)
        entries = group(entry.name, entry.rtype)
        entries.append(entry)
        entries.sort(key=lambda e: e.set_id or "")
        ns_changed |= entry.rtype == 2
    existing = None
    if not removed_name:
        if added_names:
            found = set(old.existing)
            for name in added_names:
                _ancestors(name, old.name, found)
            existing = frozenset(found)
        else:
            existing = old.existing
    delegations = None if ns_changed else old.delegations
    return _finish(old.id, old.account, old.name, old.meta, nodes, by_key, existing, delegations)


def _policy_tree(store: Any, account: str, doc: dict[str, Any]) -> Any:
    from .policytree import compile_document

    instance = store.read.get(R.INSTANCE_KIND, doc["TrafficPolicyInstanceId"], account)
    if instance is None:
        return None
    policy = store.read.get(R.POLICY_KIND, f"{instance['TrafficPolicyId']}/{int(instance['TrafficPolicyVersion']):06d}", account)
    if policy is None:
        return None
    try:
        return compile_document(json.loads(policy["Document"]), int(instance["TTL"]))
    except Exception:  # validated on the way in; never let one policy break a zone
        log.warning("cannot compile traffic policy %s for instance %s", instance["TrafficPolicyId"], instance["Id"])
        return None


def build_cidr(store: Any) -> dict[str, list[tuple[Any, str]]]:
    """CIDR collection id → (network, location name), most specific network first."""
    out: dict[str, list[tuple[Any, str]]] = {}
    for scope in store.read.scopes(R.CIDR_KIND):
        for key, doc in store.read.scan(R.CIDR_KIND, scope):
            nets = []
            for location, blocks in (doc.get("Locations") or {}).items():
                for block in blocks:
                    try:
                        nets.append((ipaddress.ip_network(block, strict=False), location))
                    except ValueError:
                        continue
            nets.sort(key=lambda item: item[0].prefixlen, reverse=True)
            out[key] = nets
    return out


@dataclass
class Snapshot:
    zones: dict[str, ZoneView] = field(default_factory=dict)  # by zone id
    public: dict[str, ZoneView] = field(default_factory=dict)  # by apex name (oldest zone wins)
    private: dict[str, list[ZoneView]] = field(default_factory=dict)  # by apex name
    health: dict[str, bool] = field(default_factory=dict)
    vpc_by_ip: dict[str, str] = field(default_factory=dict)
    cidr: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)
    alias_data: dict[str, Any] = field(default_factory=dict)
    generation: int = 0
    built_wall: float = 0.0  # wall time at which this snapshot started reading the store

    def with_zones(self, zones: dict[str, ZoneView], **changes: Any) -> "Snapshot":
        public: dict[str, ZoneView] = {}
        private: dict[str, list[ZoneView]] = {}
        for view in sorted(zones.values(), key=lambda z: (z.created, z.id)):
            if view.private:
                private.setdefault(view.name, []).append(view)
            else:
                public.setdefault(view.name, view)
        values = dict(
            zones=zones, public=public, private=private, health=self.health, vpc_by_ip=self.vpc_by_ip, cidr=self.cidr,
            alias_data=self.alias_data, generation=self.generation + 1, built_wall=self.built_wall,
        )
        values.update(changes)
        return Snapshot(**values)


def build_health(store: Any) -> dict[str, bool]:
    health: dict[str, bool] = {}
    for scope in store.read.scopes(R.HEALTH_KIND):
        for key, doc in store.read.scan(R.HEALTH_KIND, scope):
            health[key] = bool(doc.get("healthy", True))
    return health


# EC2 records that carry a private address and its VPC (instances, network interfaces);
# whichever of them exists is used, so the mapping works as soon as EC2 writes them.
VPC_ADDRESS_KINDS = ("ec2:instance", "ec2:network-interface", "ec2:eni")


def build_vpc_map(store: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind in VPC_ADDRESS_KINDS:
        for scope in store.read.scopes(kind):
            for _key, doc in store.read.scan(kind, scope):
                if not isinstance(doc, dict):
                    continue
                vpc = doc.get("VpcId") or doc.get("vpc_id")
                if not vpc:
                    continue
                state = (doc.get("State") or {}).get("Name") if isinstance(doc.get("State"), dict) else None
                if state in ("terminated", "shutting-down"):
                    continue
                addresses = [doc.get("PrivateIpAddress")]
                for item in doc.get("PrivateIpAddresses") or []:
                    if isinstance(item, dict):
                        addresses.append(item.get("PrivateIpAddress"))
                for iface in doc.get("NetworkInterfaces") or []:
                    if isinstance(iface, dict):
                        addresses.append(iface.get("PrivateIpAddress"))
                for address in addresses:
                    if address:
                        try:
                            out[str(ipaddress.ip_address(address))] = vpc
                        except ValueError:
                            pass
    return out
