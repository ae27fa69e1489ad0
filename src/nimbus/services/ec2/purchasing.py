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
        if now >= doc["End"]:
            doc["State"] = "retired"
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
