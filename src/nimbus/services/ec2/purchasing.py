"""Reserved Instances: offerings priced from ``data/prices.json``, purchases, and Describe.

Offerings are derived (region × type × class × term × payment option, regional scope),
with stable UUIDs, so nothing is stored until a purchase.  A purchase is an
``ec2:reserved-instances`` record that becomes ``retired`` when its term ends (derived
from timestamps).
"""

from __future__ import annotations

import uuid
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from . import compute_catalog
from .compute_common import dry_run, page
from .filters import apply_filters

KIND = "ec2:reserved-instances"
YEAR = 31536000
_NS = uuid.UUID("6f1c2a9e-7d3b-4c55-9a1e-2b7c0e5d4f10")
PAYMENT = ("No Upfront", "Partial Upfront", "All Upfront")


def _offering(region: str, instance_type: str, offering_class: str, years: str, payment: str, product: str) -> dict[str, Any]:
    fraction, upfront_share = compute_catalog.prices()["reserved"][offering_class][years][payment]
    hourly = compute_catalog.on_demand_price(instance_type, region, product) * fraction
    hours = int(years) * 8760
    upfront = round(hourly * hours * upfront_share, 2)
    recurring = round(hourly * (1 - upfront_share), 4)
    return {
        "ReservedInstancesOfferingId": str(uuid.uuid5(_NS, f"{region}/{instance_type}/{offering_class}/{years}/{payment}/{product}")),
        "InstanceType": instance_type,
        "Duration": int(years) * YEAR,
        "FixedPrice": upfront,
        "UsagePrice": 0.0,
        "ProductDescription": product,
        "InstanceTenancy": "default",
        "CurrencyCode": "USD",
        "OfferingType": payment,
        "OfferingClass": offering_class,
        "RecurringCharges": [{"Frequency": "Hourly", "Amount": recurring}] if recurring else [],
        "Marketplace": False,
        "PricingDetails": [],
        "Scope": "Region",
    }


def _all_offerings(region: str, types: list[str] | None, products: list[str]) -> list[dict[str, Any]]:
    out = []
    for instance_type in types or list(compute_catalog.instance_types()):
        for offering_class in ("standard", "convertible"):
            for years in ("1", "3"):
                for payment in PAYMENT:
                    for product in products:
                        out.append(_offering(region, instance_type, offering_class, years, payment, product))
    return out


OFFERING_FILTERS = {
    "duration": "Duration", "fixed-price": "FixedPrice", "instance-type": "InstanceType", "marketplace": "Marketplace",
    "product-description": "ProductDescription", "reserved-instances-offering-id": "ReservedInstancesOfferingId",
    "scope": "Scope", "usage-price": "UsagePrice", "offering-class": "OfferingClass", "offering-type": "OfferingType",
}


def describe_reserved_instances_offerings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    types = [params["InstanceType"]] if params.get("InstanceType") else None
    if types and compute_catalog.instance_type(types[0]) is None:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{types[0]}' for InstanceType.", 400)
    filters = params.get("Filters") or []
    if not types:
        wanted = [v for f in filters if f.get("Name") == "instance-type" for v in f.get("Values", []) if "*" not in v]
        types = wanted or None
    products = [params["ProductDescription"]] if params.get("ProductDescription") else ["Linux/UNIX", "Windows"]
    items = _all_offerings(ctx.region, types, products)
    if params.get("OfferingClass"):
        items = [i for i in items if i["OfferingClass"] == params["OfferingClass"]]
    if params.get("OfferingType"):
        items = [i for i in items if i["OfferingType"] == params["OfferingType"]]
    if params.get("ReservedInstancesOfferingIds"):
        wanted_ids = set(params["ReservedInstancesOfferingIds"])
        items = [i for i in _all_offerings(ctx.region, None, ["Linux/UNIX", "Windows"]) if i["ReservedInstancesOfferingId"] in wanted_ids]
    if params.get("MinDuration"):
        items = [i for i in items if i["Duration"] >= params["MinDuration"]]
    if params.get("MaxDuration"):
        items = [i for i in items if i["Duration"] <= params["MaxDuration"]]
    items = apply_filters(items, filters, OFFERING_FILTERS)
    items.sort(key=lambda i: i["ReservedInstancesOfferingId"])
    result, token = page(items, params, "ReservedInstancesOfferingId", minimum=1, maximum=1000)
    out: dict[str, Any] = {"ReservedInstancesOfferings": result}
    if token:
        out["NextToken"] = token
    return out


def _find_offering(region: str, offering_id: str) -> dict[str, Any] | None:
    for item in _all_offerings(region, None, ["Linux/UNIX", "Windows"]):
        if item["ReservedInstancesOfferingId"] == offering_id:
            return item
    return None


def purchase_reserved_instances_offering(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    offering = _find_offering(ctx.region, params["ReservedInstancesOfferingId"])
    if offering is None:
        raise ServiceError("InvalidReservedInstancesOfferingId", f"The Reserved Instances offering ID '{params['ReservedInstancesOfferingId']}' is invalid.", 400)
    count = params.get("InstanceCount") or 0
    if count < 1:
        raise ServiceError("InvalidParameterValue", f"Value ({count}) for parameter instanceCount is invalid. Expected: 'greater than 0'.", 400)
    dry_run(params)
    now = ctx.clock.time()
    ri_id = str(uuid.uuid4())
    doc = {
        "ReservedInstancesId": ri_id, "InstanceType": offering["InstanceType"], "Start": now, "End": now + offering["Duration"],
        "Duration": offering["Duration"], "UsagePrice": offering["UsagePrice"], "FixedPrice": offering["FixedPrice"],
        "InstanceCount": count, "ProductDescription": offering["ProductDescription"], "State": "active", "Tags": [],
        "InstanceTenancy": "default", "CurrencyCode": "USD", "OfferingClass": offering["OfferingClass"],
        "OfferingType": offering["OfferingType"], "RecurringCharges": offering["RecurringCharges"], "Scope": "Region",
        "_nimbus": {"offering": offering["ReservedInstancesOfferingId"]},
    }
    with ctx.store.transaction() as txn:
        txn.put(KIND, ri_id, doc, ctx.scope)
    return {"ReservedInstancesId": ri_id}


def describe_reserved_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    docs = []
    for _, doc in ctx.store.read.scan(KIND, ctx.scope):
        doc["State"] = ri_state(doc, now)
        docs.append(doc)
    ids = params.get("ReservedInstancesIds") or []
    if ids:
        missing = [i for i in ids if i not in {d["ReservedInstancesId"] for d in docs}]
        if missing:
            raise ServiceError("InvalidReservedInstancesId", f"The Reserved Instances ID '{missing[0]}' does not exist.", 400)
        docs = [d for d in docs if d["ReservedInstancesId"] in ids]
    if params.get("OfferingClass"):
        docs = [d for d in docs if d["OfferingClass"] == params["OfferingClass"]]
    docs = apply_filters(docs, params.get("Filters"), {
        "duration": "Duration", "end": "End", "fixed-price": "FixedPrice", "instance-type": "InstanceType", "scope": "Scope",
        "product-description": "ProductDescription", "reserved-instances-id": "ReservedInstancesId", "start": "Start",
        "state": "State", "usage-price": "UsagePrice"})
    return {"ReservedInstances": docs}


# -- modifications and exchanges ----------------------------------------------------------------
#
# Both read the one price table: an exchange values what is left of the Convertible RIs
# given up against the target offerings' prices (``_offering``) over the new term; a
# modification keeps the footprint (normalization factor × count, ``size_normalization``).

MODIFICATION_KIND = "ec2:reserved-instances-modification"
EXCHANGE_KIND = "ec2:reserved-instances-exchange"
MODIFY_SECONDS = 60.0
HOUR = 3600.0


def normalization_factor(instance_type: str) -> float:
    family, _, size = instance_type.partition(".")
    table = compute_catalog.prices()["size_normalization"]
    if size.startswith("metal"):
        sizes = [s for s in compute_catalog.families().get(family, {}).get("sizes", {}) if not s.startswith("metal")]
        return max((table.get(s, 0) for s in sizes), default=0)
    return table.get(size, 0)


def ri_state(doc: dict[str, Any], now: float) -> str:
    internal = doc.get("_nimbus") or {}
    if internal.get("retire_at") is not None and now >= internal["retire_at"]:
        return "retired"
    if internal.get("active_at") is not None and now < internal["active_at"]:
        return "payment-pending"
    if now >= doc["End"]:
        return "retired"
    return doc["State"] if doc["State"] not in ("payment-pending",) else "active"


def _ris(ctx: RequestContext, txn: Any, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        raise ServiceError("MissingParameter", "The request must contain the parameter ReservedInstancesId", 400)
    now = ctx.clock.time()
    docs = []
    for ri_id in dict.fromkeys(ids):
        doc = txn.get(KIND, ri_id, ctx.scope)
        if doc is None:
            raise ServiceError("InvalidReservedInstancesId", f"The Reserved Instances ID '{ri_id}' does not exist.", 400)
        doc["State"] = ri_state(doc, now)
        docs.append(doc)
    return docs


def _new_ri(ctx: RequestContext, base: dict[str, Any], *, instance_type: str, count: int, start: float, end: float,
            zone: str | None, scope: str, fixed: float, recurring: list[dict[str, Any]], offering_class: str,
            offering_type: str, active_at: float | None) -> dict[str, Any]:
    ri_id = str(uuid.uuid4())
    doc = {
        "ReservedInstancesId": ri_id, "InstanceType": instance_type, "Start": start, "End": end,
        "Duration": int(round(end - start)), "UsagePrice": 0.0, "FixedPrice": fixed, "InstanceCount": count,
        "ProductDescription": base["ProductDescription"], "State": "active", "Tags": [], "InstanceTenancy": base.get("InstanceTenancy", "default"),
        "CurrencyCode": "USD", "OfferingClass": offering_class, "OfferingType": offering_type, "RecurringCharges": recurring,
        "Scope": scope, "_nimbus": {"active_at": active_at} if active_at else {},
    }
    if zone:
        doc["AvailabilityZone"] = zone
    return doc


def modify_reserved_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from ...regions import availability_zones

    targets = params.get("TargetConfigurations") or []
    if not targets:
        raise ServiceError("MissingParameter", "The request must contain the parameter ReservedInstancesConfigurationSetItemType", 400)
    now = ctx.clock.time()
    zones = [z["ZoneName"] for z in availability_zones(ctx.region)]
    token = params.get("ClientToken")
    with ctx.store.transaction() as txn:
        if token:
            previous = txn.get("ec2:ri-modification-token", token, ctx.scope)
            if previous is not None:
                return {"ReservedInstancesModificationId": previous["id"]}
        sources = _ris(ctx, txn, params.get("ReservedInstancesIds") or [])
        for doc in sources:
            if doc["State"] != "active":
                raise ServiceError("InvalidParameterValue", f"Reserved Instances '{doc['ReservedInstancesId']}' are not active "
                                   f"(state: {doc['State']}) and cannot be modified.", 400)
            if (doc.get("_nimbus") or {}).get("retire_at") is not None:
                raise ServiceError("InvalidParameterValue", f"Reserved Instances '{doc['ReservedInstancesId']}' are already being modified.", 400)
        if len({int(d["End"] // HOUR) for d in sources}) > 1:
            raise ServiceError("InvalidParameterValue", "Reserved Instances can be modified together only when their terms end in the same hour.", 400)
        if len({(d["ProductDescription"], d["OfferingClass"], d["InstanceTenancy"]) for d in sources}) > 1:
            raise ServiceError("InvalidParameterValue", "Reserved Instances modified together must have the same platform, "
                               "offering class and tenancy.", 400)
        families = {d["InstanceType"].split(".")[0] for d in sources}
        footprint = sum(normalization_factor(d["InstanceType"]) * d["InstanceCount"] for d in sources)
        target_footprint = 0.0
        results = []
        for target in targets:
            instance_type = target.get("InstanceType") or sources[0]["InstanceType"]
            if compute_catalog.instance_type(instance_type) is None:
                raise ServiceError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.", 400)
            count = target.get("InstanceCount")
            if not count or count < 1:
                raise ServiceError("InvalidParameterValue", f"Value ({count}) for parameter instanceCount is invalid. Expected: 'greater than 0'.", 400)
            if instance_type.split(".")[0] not in families or len(families) > 1:
                raise ServiceError("InvalidParameterValue", f"The instance type '{instance_type}' is not in the instance family "
                                   f"of the Reserved Instances ({', '.join(sorted(families))}).", 400)
            if any(d["InstanceType"] != instance_type for d in sources) and not sources[0]["ProductDescription"].startswith("Linux/UNIX"):
                raise ServiceError("InvalidParameterValue", "The instance size can be modified only for Linux/UNIX Reserved Instances.", 400)
            scope = target.get("Scope") or ("Availability Zone" if target.get("AvailabilityZone") else "Region")
            if scope not in ("Region", "Availability Zone"):
                raise ServiceError("InvalidParameterValue", f"Value ({scope}) for parameter scope is invalid.", 400)
            zone = target.get("AvailabilityZone")
            if scope == "Availability Zone":
                if zone not in zones:
                    raise ServiceError("InvalidParameterValue", f"Invalid availability zone: [{zone}]", 400)
            elif zone:
                raise ServiceError("InvalidParameterCombination", "An availability zone cannot be specified for a regional Reserved Instance.", 400)
            target_footprint += normalization_factor(instance_type) * count
            results.append((instance_type, count, scope, zone, target))
        if abs(target_footprint - footprint) > 1e-9:
            raise ServiceError("InvalidParameterValue", f"The requested target configuration's instance size footprint "
                               f"({target_footprint:g}) does not match that of the original Reserved Instances ({footprint:g}).", 400)
        modification_id = "rimod-" + str(uuid.uuid4())
        effective = now + MODIFY_SECONDS
        base = sources[0]
        total_count = sum(d["InstanceCount"] for d in sources)
        upfront_per_unit = sum(d["FixedPrice"] * d["InstanceCount"] * normalization_factor(d["InstanceType"]) for d in sources) / footprint if footprint else 0
        modification_results = []
        for instance_type, count, scope, zone, target in results:
            share = normalization_factor(instance_type) * count / footprint if footprint else 0
            doc = _new_ri(ctx, base, instance_type=instance_type, count=count, start=effective, end=base["End"], zone=zone, scope=scope,
                          fixed=round(upfront_per_unit * footprint * share / count, 2) if count else 0.0,
                          recurring=[{"Frequency": c["Frequency"], "Amount": round(c["Amount"] * normalization_factor(instance_type)
                                                                                    / normalization_factor(base["InstanceType"]), 4)}
                                     for c in base.get("RecurringCharges", [])],
                          offering_class=base["OfferingClass"], offering_type=base["OfferingType"], active_at=effective)
            doc["_nimbus"]["modification"] = modification_id
            txn.put(KIND, doc["ReservedInstancesId"], doc, ctx.scope)
            configuration = {"AvailabilityZone": zone, "InstanceCount": count, "InstanceType": instance_type,
                             "Platform": target.get("Platform") or "EC2-VPC", "Scope": scope}
            modification_results.append({"ReservedInstancesId": doc["ReservedInstancesId"],
                                         "TargetConfiguration": {k: v for k, v in configuration.items() if v is not None}})
        for doc in sources:
            doc.setdefault("_nimbus", {})["retire_at"] = effective
            doc["_nimbus"]["modification"] = modification_id
            txn.put(KIND, doc["ReservedInstancesId"], doc, ctx.scope)
        record = {
            "ReservedInstancesModificationId": modification_id, "ClientToken": token or "", "CreateDate": now,
            "EffectiveDate": effective, "UpdateDate": now, "Status": "processing",
            "ReservedInstancesIds": [{"ReservedInstancesId": d["ReservedInstancesId"]} for d in sources],
            "ModificationResults": modification_results, "_total_count": total_count,
        }
        txn.put(MODIFICATION_KIND, modification_id, record, ctx.scope)
        if token:
            txn.put("ec2:ri-modification-token", token, {"id": modification_id}, ctx.scope)
    return {"ReservedInstancesModificationId": modification_id}


def describe_reserved_instances_modifications(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    read = ctx.store.read
    ids = params.get("ReservedInstancesModificationIds") or []
    docs = []
    for _, doc in read.scan(MODIFICATION_KIND, ctx.scope):
        if now >= doc["EffectiveDate"]:
            doc["Status"] = "fulfilled"
            doc["UpdateDate"] = doc["EffectiveDate"]
        docs.append({k: v for k, v in doc.items() if not k.startswith("_")})
    if ids:
        known = {d["ReservedInstancesModificationId"] for d in docs}
        missing = [i for i in ids if i not in known]
        if missing:
            raise ServiceError("InvalidReservedInstancesModificationId",
                               f"The Reserved Instances modification ID '{missing[0]}' does not exist.", 400)
        docs = [d for d in docs if d["ReservedInstancesModificationId"] in ids]
    docs = apply_filters(docs, params.get("Filters"), {
        "client-token": "ClientToken", "create-date": "CreateDate", "effective-date": "EffectiveDate",
        "reserved-instances-modification-id": "ReservedInstancesModificationId", "status": "Status", "update-date": "UpdateDate",
        "reserved-instances-id": lambda d: [r["ReservedInstancesId"] for r in d["ReservedInstancesIds"]],
        "modification-result.reserved-instances-id": lambda d: [r["ReservedInstancesId"] for r in d["ModificationResults"]],
        "modification-result.target-configuration.instance-type": lambda d: [r["TargetConfiguration"].get("InstanceType") for r in d["ModificationResults"]],
        "modification-result.target-configuration.instance-count": lambda d: [r["TargetConfiguration"].get("InstanceCount") for r in d["ModificationResults"]],
        "modification-result.target-configuration.availability-zone": lambda d: [r["TargetConfiguration"].get("AvailabilityZone") for r in d["ModificationResults"]],
        "modification-result.target-configuration.platform": lambda d: [r["TargetConfiguration"].get("Platform") for r in d["ModificationResults"]],
    })
    docs.sort(key=lambda d: d["ReservedInstancesModificationId"])
    result, token = page(docs, params, "ReservedInstancesModificationId", minimum=1, maximum=1000)
    out: dict[str, Any] = {"ReservedInstancesModifications": result}
    if token:
        out["NextToken"] = token
    return out


def _money(value: float) -> str:
    return f"{value:.2f}"


def _value_of(doc_or_offering: dict[str, Any], count: int, seconds_left: float, duration: float) -> tuple[float, float, float]:
    """(hourly price, remaining upfront value, remaining total value) over ``seconds_left``."""
    hourly = sum(c["Amount"] for c in doc_or_offering.get("RecurringCharges") or [] if c.get("Frequency") == "Hourly") * count
    upfront = doc_or_offering["FixedPrice"] * count * (seconds_left / duration if duration else 0)
    return hourly, upfront, upfront + hourly * seconds_left / HOUR


def _quote(ctx: RequestContext, txn: Any, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    sources = _ris(ctx, txn, params.get("ReservedInstanceIds") or [])
    targets = params.get("TargetConfigurations") or []
    reason = None
    for doc in sources:
        if doc["OfferingClass"] != "convertible":
            reason = f"Reserved Instances '{doc['ReservedInstancesId']}' are not Convertible and cannot be exchanged."
        elif doc["State"] != "active":
            reason = f"Reserved Instances '{doc['ReservedInstancesId']}' are not active (state: {doc['State']})."
        if reason:
            break
    if not targets:
        raise ServiceError("MissingParameter", "The request must contain the parameter TargetConfiguration", 400)
    offerings = []
    for target in targets:
        offering = _find_offering(ctx.region, target.get("OfferingId") or "")
        if offering is None:
            raise ServiceError("InvalidReservedInstancesOfferingId", f"The Reserved Instances offering ID '{target.get('OfferingId')}' is invalid.", 400)
        count = target.get("InstanceCount", 1)
        if count is None or count < 1:
            raise ServiceError("InvalidParameterValue", f"Value ({count}) for parameter instanceCount is invalid. Expected: 'greater than 0'.", 400)
        if offering["OfferingClass"] != "convertible" and reason is None:
            reason = f"The target offering '{offering['ReservedInstancesOfferingId']}' is not Convertible."
        offerings.append((offering, count))
    latest_end = max(d["End"] for d in sources)
    longest_term = max(d["Duration"] for d in sources)
    expiry = latest_end
    if any(o["Duration"] > longest_term for o, _ in offerings):
        expiry = now + max(o["Duration"] for o, _ in offerings)  # a longer term starts anew
    source_set, src_hourly, src_upfront, src_total = [], 0.0, 0.0, 0.0
    for doc in sources:
        left = max(0.0, doc["End"] - now)
        hourly, upfront, total = _value_of(doc, doc["InstanceCount"], left, doc["Duration"])
        src_hourly, src_upfront, src_total = src_hourly + hourly, src_upfront + upfront, src_total + total
        source_set.append({"ReservationValue": {"HourlyPrice": f"{hourly:.4f}", "RemainingTotalValue": _money(total),
                                                "RemainingUpfrontValue": _money(upfront)},
                           "ReservedInstanceId": doc["ReservedInstancesId"]})
    target_set, dst_hourly, dst_upfront, dst_total = [], 0.0, 0.0, 0.0
    for offering, count in offerings:
        hourly, upfront, total = _value_of(offering, count, expiry - now, offering["Duration"])
        dst_hourly, dst_upfront, dst_total = dst_hourly + hourly, dst_upfront + upfront, dst_total + total
        target_set.append({"ReservationValue": {"HourlyPrice": f"{hourly:.4f}", "RemainingTotalValue": _money(total),
                                                "RemainingUpfrontValue": _money(upfront)},
                           "TargetConfiguration": {"InstanceCount": count, "OfferingId": offering["ReservedInstancesOfferingId"]}})
    if reason is None and dst_total + 0.005 < src_total:
        reason = (f"The value of the target configuration ({_money(dst_total)} USD) is lower than the remaining value of the "
                  f"Reserved Instances ({_money(src_total)} USD); add instances to the target configuration.")
    out: dict[str, Any] = {
        "CurrencyCode": "USD",
        "IsValidExchange": reason is None,
        "OutputReservedInstancesWillExpireAt": expiry,
        "PaymentDue": _money(max(0.0, dst_upfront - src_upfront) if reason is None else 0.0),
        "ReservedInstanceValueRollup": {"HourlyPrice": f"{src_hourly:.4f}", "RemainingTotalValue": _money(src_total),
                                        "RemainingUpfrontValue": _money(src_upfront)},
        "ReservedInstanceValueSet": source_set,
        "TargetConfigurationValueRollup": {"HourlyPrice": f"{dst_hourly:.4f}", "RemainingTotalValue": _money(dst_total),
                                           "RemainingUpfrontValue": _money(dst_upfront)},
        "TargetConfigurationValueSet": target_set,
    }
    if reason:
        out["ValidationFailureReason"] = reason
    out["_plan"] = {"sources": sources, "offerings": offerings, "expiry": expiry}
    return out


def get_reserved_instances_exchange_quote(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    quote = _quote(ctx, ctx.store.read, params)
    dry_run(params)
    quote.pop("_plan")
    return quote


def accept_reserved_instances_exchange_quote(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        quote = _quote(ctx, txn, params)
        if not quote["IsValidExchange"]:
            raise ServiceError("InvalidParameterValue", quote["ValidationFailureReason"], 400)
        dry_run(params)
        plan = quote["_plan"]
        exchange_id = "riex-" + str(uuid.uuid4())
        created = []
        for offering, count in plan["offerings"]:
            doc = _new_ri(ctx, plan["sources"][0], instance_type=offering["InstanceType"], count=count, start=now, end=plan["expiry"],
                          zone=None, scope="Region", fixed=offering["FixedPrice"], recurring=offering["RecurringCharges"],
                          offering_class="convertible", offering_type=offering["OfferingType"], active_at=None)
            doc["ProductDescription"] = offering["ProductDescription"]
            doc["Duration"] = offering["Duration"] if plan["expiry"] - now >= offering["Duration"] - 1 else doc["Duration"]
            doc["_nimbus"].update({"offering": offering["ReservedInstancesOfferingId"], "exchange": exchange_id})
            txn.put(KIND, doc["ReservedInstancesId"], doc, ctx.scope)
            created.append(doc["ReservedInstancesId"])
        for doc in plan["sources"]:
            doc.setdefault("_nimbus", {}).update({"retire_at": now, "exchange": exchange_id})
            txn.put(KIND, doc["ReservedInstancesId"], doc, ctx.scope)
        txn.put(EXCHANGE_KIND, exchange_id, {"ExchangeId": exchange_id, "Sources": [d["ReservedInstancesId"] for d in plan["sources"]],
                                             "Targets": created, "PaymentDue": quote["PaymentDue"], "Time": now}, ctx.scope)
    return {"ExchangeId": exchange_id}
