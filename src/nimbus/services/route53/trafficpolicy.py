"""Traffic policy documents: validation (CreateTrafficPolicy / CreateTrafficPolicyVersion).

A document (``AWSPolicyFormatVersion`` 2015-10-01) names a ``RecordType``, a
``StartRule`` or ``StartEndpoint``, ``Endpoints`` (``Type`` value | cloudfront |
elastic-load-balancer | application-load-balancer | network-load-balancer | s3-website |
elastic-beanstalk, ``Value``, ``Region``) and ``Rules`` whose ``RuleType`` is failover
(``Primary``/``Secondary``), geo (``Locations``), latency (``Regions``), weighted and
multivalue (``Items``) or geoproximity (``GeoproximityLocations``).  Every item points
at an ``EndpointReference`` or a ``RuleReference`` and may carry ``HealthCheck`` and
``EvaluateTargetHealth``.

Problems are reported as AWS does in ``InvalidTrafficPolicyDocument``: one
``<element id>: <problem>.`` per problem, joined by ``;``.  The DNS plane compiles the
same documents into rule trees (``nimbus.planes.dns.policytree``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from ...errors import ServiceError
from . import records as R

FORMAT_VERSION = "2015-10-01"
ENDPOINT_TYPES = ("value", "cloudfront", "elastic-load-balancer", "application-load-balancer",
                  "network-load-balancer", "s3-website", "elastic-beanstalk")
RULE_TYPES = ("failover", "geo", "latency", "weighted", "multivalue", "geoproximity")
_REGION = re.compile(r"^(?:aws:route53:)?([a-z]{2}(?:-gov)?-[a-z]+-\d)$")


def invalid(problems: list[str]) -> ServiceError:
    return ServiceError("InvalidTrafficPolicyDocument", ";".join(problems), 400)


def region_of(text: str) -> str | None:
    """``aws:route53:eu-west-1`` (the document's form) or ``eu-west-1`` → ``eu-west-1``."""
    match = _REGION.match(str(text or "").strip())
    return match.group(1) if match else None


def items_of(rule: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, item) of every child of a rule, in document order."""
    kind = rule.get("RuleType")
    if kind == "failover":
        return [(role, rule[role]) for role in ("Primary", "Secondary") if isinstance(rule.get(role), dict)]
    key = {"geo": "Locations", "latency": "Regions", "weighted": "Items", "multivalue": "Items",
           "geoproximity": "GeoproximityLocations"}.get(kind or "")
    values = rule.get(key) if key else None
    return [(f"{key}[{i}]", item) for i, item in enumerate(values or []) if isinstance(item, dict)]


def validate(document: str, health_check_exists: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The parsed document, or ``InvalidTrafficPolicyDocument`` listing every problem."""
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise invalid([f"Document: The document is not valid JSON ({exc.msg} at position {exc.pos})."]) from None
    if not isinstance(doc, dict):
        raise invalid(["Document: The document must be a JSON object."])
    problems: list[str] = []
    if doc.get("AWSPolicyFormatVersion") != FORMAT_VERSION:
        problems.append(f"AWSPolicyFormatVersion: The value must be {FORMAT_VERSION}.")
    rtype = doc.get("RecordType")
    if rtype not in R.TYPES or rtype in ("SOA", "NS"):
        problems.append(f"RecordType: {rtype!r} is not a supported record type for a traffic policy.")
        rtype = None
    endpoints = doc.get("Endpoints") or {}
    rules = doc.get("Rules") or {}
    if not isinstance(endpoints, dict) or not isinstance(rules, dict):
        raise invalid(problems + ["Document: Endpoints and Rules must be JSON objects keyed by id."])
    start_rule, start_endpoint = doc.get("StartRule"), doc.get("StartEndpoint")
    if bool(start_rule) == bool(start_endpoint):
        problems.append("Document: Specify exactly one of StartRule and StartEndpoint.")
    elif start_rule and start_rule not in rules:
        problems.append(f"StartRule: The rule {start_rule} is not defined in Rules.")
    elif start_endpoint and start_endpoint not in endpoints:
        problems.append(f"StartEndpoint: The endpoint {start_endpoint} is not defined in Endpoints.")

    for eid, endpoint in endpoints.items():
        if not isinstance(endpoint, dict):
            problems.append(f"{eid}: An endpoint must be a JSON object.")
            continue
        etype = endpoint.get("Type", "value")
        value = endpoint.get("Value")
        if etype not in ENDPOINT_TYPES:
            problems.append(f"{eid}: Type {etype!r} is not one of {', '.join(ENDPOINT_TYPES)}.")
        elif not isinstance(value, str) or not value:
            problems.append(f"{eid}: Value is required.")
        elif etype == "value" and rtype:
            try:
                R.parse_value(rtype, value)
            except R.BadValue:
                problems.append(f"{eid}: Value {value!r} is not a valid {rtype} value.")
        elif etype != "value" and rtype not in (None, "A", "AAAA"):
            problems.append(f"{eid}: An endpoint of type {etype} requires RecordType A or AAAA.")
        if endpoint.get("Region") and etype != "value" and not region_of(endpoint["Region"]):
            problems.append(f"{eid}: Region {endpoint['Region']!r} is not a valid AWS Region.")

    for rid, rule in rules.items():
        if not isinstance(rule, dict):
            problems.append(f"{rid}: A rule must be a JSON object.")
            continue
        kind = rule.get("RuleType")
        if kind not in RULE_TYPES:
            problems.append(f"{rid}: RuleType {kind!r} is not one of {', '.join(RULE_TYPES)}.")
            continue
        children = items_of(rule)
        if kind == "failover" and len(children) != 2:
            problems.append(f"{rid}: A failover rule requires both Primary and Secondary.")
        elif not children:
            problems.append(f"{rid}: The rule has no items.")
        defaults = 0
        seen_places: set[Any] = set()
        for label, item in children:
            where = f"{rid}.{label}"
            ref_e, ref_r = item.get("EndpointReference"), item.get("RuleReference")
            if bool(ref_e) == bool(ref_r):
                problems.append(f"{where}: Specify exactly one of EndpointReference and RuleReference.")
            elif ref_e and ref_e not in endpoints:
                problems.append(f"{where}: The endpoint {ref_e} is not defined in Endpoints.")
            elif ref_r and ref_r not in rules:
                problems.append(f"{where}: The rule {ref_r} is not defined in Rules.")
            elif ref_r and kind == "multivalue":
                problems.append(f"{where}: A multivalue rule can reference only endpoints.")
            if ref_e and kind == "multivalue" and isinstance(endpoints.get(ref_e), dict) and endpoints[ref_e].get("Type", "value") != "value":
                problems.append(f"{where}: A multivalue rule can reference only endpoints of type value.")
            hc = item.get("HealthCheck")
            if hc and health_check_exists is not None and not health_check_exists(hc):
                problems.append(f"{where}: The health check {hc} does not exist.")
            if "EvaluateTargetHealth" in item and not isinstance(item["EvaluateTargetHealth"], bool):
                problems.append(f"{where}: EvaluateTargetHealth must be true or false.")
            if kind == "weighted":
                weight = _int(item.get("Weight"))
                if weight is None or not 0 <= weight <= 255:
                    problems.append(f"{where}: Weight must be an integer between 0 and 255.")
            elif kind == "latency":
                region = region_of(item.get("Region", ""))
                if region is None:
                    problems.append(f"{where}: Region {item.get('Region')!r} is not a valid AWS Region.")
                elif region in seen_places:
                    problems.append(f"{where}: The region {region} is used more than once in the rule.")
                seen_places.add(region)
            elif kind == "geo":
                place = _geo_problem(item)
                if isinstance(place, str):
                    problems.append(f"{where}: {place}")
                else:
                    if place == ("*",):
                        defaults += 1
                    elif place in seen_places:
                        problems.append(f"{where}: The location is used more than once in the rule.")
                    seen_places.add(place)
            elif kind == "geoproximity":
                bias = _int(item.get("Bias", 0))
                if bias is None or not -99 <= bias <= 99:
                    problems.append(f"{where}: Bias must be an integer between -99 and 99.")
                has_region = "Region" in item
                has_coords = "Latitude" in item or "Longitude" in item
                if has_region == has_coords:
                    problems.append(f"{where}: Specify either Region or both Latitude and Longitude.")
                elif has_region and region_of(item["Region"]) is None:
                    problems.append(f"{where}: Region {item['Region']!r} is not a valid AWS Region (aws:route53:<region>).")
                elif has_coords:
                    lat, lon = _float(item.get("Latitude")), _float(item.get("Longitude"))
                    if lat is None or not -90 <= lat <= 90 or lon is None or not -180 <= lon <= 180:
                        problems.append(f"{where}: Latitude must be between -90 and 90 and Longitude between -180 and 180.")
        if kind == "geo" and defaults > 1:
            problems.append(f"{rid}: A geo rule can have only one default location.")

    cycle = _cycle(rules)
    if cycle:
        problems.append(f"{cycle[0]}: The rules reference each other in a loop ({' -> '.join(cycle)}).")
    if problems:
        raise invalid(problems)
    return doc


def _int(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number == int(number) else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _geo_problem(item: dict[str, Any]) -> str | tuple[Any, ...]:
    from ...planes.dns.geo import CONTINENTS, COUNTRY_CONTINENT

    if item.get("IsDefault"):
        if item.get("Continent") or item.get("Country"):
            return "A default location cannot also name a Continent or Country."
        return ("*",)
    continent, country, sub = item.get("Continent"), item.get("Country"), item.get("Subdivision")
    if continent and country:
        return "Specify a Continent or a Country, not both."
    if continent:
        return (continent,) if continent in CONTINENTS else f"Continent {continent!r} is not a valid continent code."
    if not country:
        return "Specify Continent, Country or IsDefault."
    if country not in COUNTRY_CONTINENT:
        return f"Country {country!r} is not a valid country code."
    if sub and country not in ("US", "UA"):
        return "Subdivision is supported only for the United States and Ukraine."
    return (country, sub)


def _cycle(rules: dict[str, Any]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(rid: str, path: list[str]) -> list[str] | None:
        if state.get(rid) == 1:
            return path[path.index(rid):] + [rid]
        if state.get(rid) == 2 or not isinstance(rules.get(rid), dict):
            return None
        state[rid] = 1
        for _label, item in items_of(rules[rid]):
            ref = item.get("RuleReference")
            if ref in rules:
                found = visit(ref, path + [rid])
                if found:
                    return found
        state[rid] = 2
        return None

    for rid in rules:
        found = visit(rid, [])
        if found:
            return found
    return None
