"""Traffic policy instances compiled for the DNS plane.

A traffic policy instance owns one record set in its hosted zone (name, type, TTL and
``TrafficPolicyInstanceId``); the snapshot compiles the policy version it uses into a
tree of ``Rule``s whose children are ``Item``s — an endpoint (values, or an alias-like
target name) or a nested rule.  Items carry the same routing attributes as record sets
(weight, region, geolocation, failover role, coordinates and bias, health check), so the
resolver orders them with the very code that orders record sets.
"""

from __future__ import annotations

from typing import Any

from ...services.route53 import records as R
from ...services.route53.trafficpolicy import items_of, region_of
from .geo import REGION_COORDS


class Rule:
    __slots__ = ("policy", "items")

    def __init__(self, policy: str, items: list["Item"]) -> None:
        self.policy = policy
        self.items = items


class Item:
    """One child of a rule, duck-typed like ``snapshot.Entry`` for the resolver."""

    __slots__ = ("ttl", "rdatas", "alias", "rule", "evaluate", "hc", "weight", "region", "geo", "failover",
                 "coords", "bias", "policy", "set_id", "multivalue", "tree", "cidr")

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.rdatas: list[bytes] = []
        self.alias: tuple[str, str, bool] | None = None
        self.rule: Rule | None = None
        self.evaluate = True
        self.hc: str | None = None
        self.weight = 0
        self.region: str | None = None
        self.geo: tuple[str | None, str | None, str | None] = (None, None, None)
        self.failover: str | None = None
        self.coords: tuple[float, float] | None = None
        self.bias = 0
        self.policy = "simple"
        self.set_id = None
        self.multivalue = False
        self.tree = None
        self.cidr = None


_POLICY = {"failover": "failover", "geo": "geolocation", "latency": "latency", "weighted": "weighted",
           "multivalue": "multivalue", "geoproximity": "geoproximity"}


def compile_document(doc: dict[str, Any], ttl: int) -> Rule:
    """The root of the tree (a start endpoint becomes a one-item rule)."""
    rtype = doc["RecordType"]
    endpoints = doc.get("Endpoints") or {}
    rules = doc.get("Rules") or {}
    built: dict[str, Rule] = {}

    def endpoint(item: Item, eid: str) -> None:
        ep = endpoints.get(eid) or {}
        value = str(ep.get("Value", ""))
        if ep.get("Type", "value") == "value":
            try:
                item.rdatas = [R.rdata_wire(R.parse_value(rtype, value))]
            except Exception:
                item.rdatas = []
        else:
            item.alias = ("", R.normalize_name(value), True)

    def rule(rid: str, depth: int = 0) -> Rule:
        if rid in built:
            return built[rid]
        spec = rules[rid]
        policy = _POLICY[spec["RuleType"]]
        items = []
        for label, raw in items_of(spec):
            item = Item(ttl)
            item.policy = policy
            item.hc = raw.get("HealthCheck") or None
            item.evaluate = bool(raw.get("EvaluateTargetHealth", True))
            if raw.get("EndpointReference"):
                endpoint(item, raw["EndpointReference"])
            elif raw.get("RuleReference") and depth < 16:
                item.rule = rule(raw["RuleReference"], depth + 1)
            if policy == "failover":
                item.failover = label.upper()
            elif policy == "weighted":
                item.weight = int(float(raw.get("Weight", 0)))
            elif policy == "latency":
                item.region = region_of(raw.get("Region", ""))
            elif policy == "geolocation":
                if raw.get("IsDefault"):
                    item.geo = (None, "*", None)
                else:
                    item.geo = (raw.get("Continent"), raw.get("Country"), raw.get("Subdivision"))
            elif policy == "geoproximity":
                item.bias = int(float(raw.get("Bias", 0) or 0))
                if "Latitude" in raw:
                    item.coords = (float(raw["Latitude"]), float(raw["Longitude"]))
                else:
                    item.coords = REGION_COORDS.get(region_of(raw.get("Region", "")) or "")
            items.append(item)
        built[rid] = Rule(policy, items)
        return built[rid]

    if doc.get("StartRule"):
        return rule(doc["StartRule"])
    item = Item(ttl)
    endpoint(item, doc["StartEndpoint"])
    return Rule("simple", [item])
