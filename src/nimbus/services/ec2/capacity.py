"""On-Demand Capacity Reservations: create, describe, modify, cancel; launches consume them.

A reservation is one ``ec2:capacity-reservation`` record in DescribeCapacityReservations'
shape; ``_instances`` lists the instances running in it, and ``AvailableInstanceCount``
is ``TotalInstanceCount`` minus those.  Its state is derived when read: ``expired`` once a
``limited`` reservation's ``EndDate`` has passed.

Matching, as AWS does it: an instance whose ``CapacityReservationPreference`` is ``open``
(the default) runs in an ``open`` reservation of the same type, platform, zone and tenancy
with room; one that targets a reservation must fit it (``targeted`` reservations take
only instances that target them); ``none`` never uses one.  A new ``open`` reservation
takes in running instances that match and are not in a reservation yet.  An instance
leaves its reservation when it stops or terminates.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import compute_catalog, tags
from .compute_common import decode_token, dry_run, encode_token, max_results, requested_zone
from .filters import apply_filters
from .ids import is_id, new_id

KIND = "ec2:capacity-reservation"
tags.register("cr", KIND, "capacity-reservation")
PLATFORMS = ("Linux/UNIX", "Red Hat Enterprise Linux", "SUSE Linux", "Windows", "Windows with SQL Server",
             "Windows with SQL Server Enterprise", "Windows with SQL Server Standard", "Windows with SQL Server Web",
             "Linux with SQL Server Standard", "Linux with SQL Server Web", "Linux with SQL Server Enterprise",
             "RHEL with SQL Server Standard", "RHEL with SQL Server Enterprise", "RHEL with SQL Server Web", "RHEL with HA",
             "RHEL with HA and SQL Server Standard", "RHEL with HA and SQL Server Enterprise", "Ubuntu Pro")
MAX_INSTANCES = 1000


def _malformed(value: Any) -> ServiceError:
    return ServiceError("InvalidCapacityReservationId.Malformed",
                        f"The capacity reservation ID '{value}' is malformed", 400)


def _not_found(value: str) -> ServiceError:
    return ServiceError("InvalidCapacityReservationId.NotFound", f"The capacity reservation ID '{value}' does not exist", 400)


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def state(doc: dict[str, Any], now: float) -> str:
    if doc["State"] == "active" and doc.get("EndDateType") == "limited" and doc.get("EndDate") is not None and now >= doc["EndDate"]:
        return "expired"
    return doc["State"]


def view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    doc["State"] = state(doc, now)
    doc["AvailableInstanceCount"] = max(0, doc["TotalInstanceCount"] - len(doc.get("_instances") or [])) if doc["State"] == "active" else 0
    return doc


def get(txn: Txn, ctx: RequestContext, reservation_id: Any) -> dict[str, Any]:
    if not isinstance(reservation_id, str) or not is_id(reservation_id, "cr"):
        raise _malformed(reservation_id)
    doc = txn.get(KIND, reservation_id, ctx.scope)
    if doc is None:
        raise _not_found(reservation_id)
    return view(doc, ctx.clock.time())


def _put(txn: Txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
    txn.put(KIND, doc["CapacityReservationId"], doc, ctx.scope)


def _end(params: dict[str, Any], now: float) -> tuple[str, float | None]:
    end_type = params.get("EndDateType") or "unlimited"
    if end_type not in ("unlimited", "limited"):
        raise ServiceError("InvalidParameterValue", f"Value ({end_type}) for parameter endDateType is invalid.", 400)
    end = _ts(params.get("EndDate"))
    if end_type == "unlimited" and end is not None:
        raise ServiceError("InvalidParameterCombination", "EndDate cannot be specified when EndDateType is 'unlimited'.", 400)
    if end_type == "limited":
        if end is None:
            raise ServiceError("InvalidParameterCombination", "EndDate must be specified when EndDateType is 'limited'.", 400)
        if end <= now:
            raise ServiceError("InvalidParameterValue", "The end date must be in the future.", 400)
    return end_type, end


def _count(value: Any) -> int:
    if value is None:
        raise ServiceError("MissingParameter", "The request must contain the parameter InstanceCount", 400)
    if not 1 <= value <= MAX_INSTANCES:
        raise ServiceError("InvalidParameterValue", f"Value ({value}) for parameter instanceCount is invalid. "
                           f"Expected a value between 1 and {MAX_INSTANCES}.", 400)
    return value


def platform_of(instance: dict[str, Any]) -> str:
    return instance.get("PlatformDetails") or "Linux/UNIX"


def _matches(doc: dict[str, Any], instance_type: str, platform: str, zone: str, tenancy: str) -> bool:
    return (doc["InstanceType"] == instance_type and doc["InstancePlatform"] == platform and doc["AvailabilityZone"] == zone
            and doc["Tenancy"] == tenancy)


def create_capacity_reservation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import instances

    now = ctx.clock.time()
    zone, zone_id = requested_zone(ctx, params)
    instance_type = params.get("InstanceType")
    if not instance_type:
        raise ServiceError("MissingParameter", "The request must contain the parameter InstanceType", 400)
    if compute_catalog.instance_type(instance_type) is None:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.", 400)
    platform = params.get("InstancePlatform")
    if not platform:
        raise ServiceError("MissingParameter", "The request must contain the parameter InstancePlatform", 400)
    if platform not in PLATFORMS:
        raise ServiceError("InvalidParameterValue", f"Value ({platform}) for parameter instancePlatform is invalid.", 400)
    count = _count(params.get("InstanceCount"))
    tenancy = params.get("Tenancy") or "default"
    if tenancy not in ("default", "dedicated"):
        raise ServiceError("InvalidParameterValue", f"Value ({tenancy}) for parameter tenancy is invalid.", 400)
    criteria = params.get("InstanceMatchCriteria") or "open"
    if criteria not in ("open", "targeted"):
        raise ServiceError("InvalidParameterValue", f"Value ({criteria}) for parameter instanceMatchCriteria is invalid.", 400)
    end_type, end = _end(params, now)
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") != "capacity-reservation":
            raise ServiceError("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.", 400)
    reservation_tags = tags.tags_for_type(params.get("TagSpecifications"), "capacity-reservation")
    dry_run(params)
    reservation_id = new_id("cr")
    doc: dict[str, Any] = {
        "CapacityReservationId": reservation_id,
        "OwnerId": ctx.account_id,
        "CapacityReservationArn": f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:capacity-reservation/{reservation_id}",
        "AvailabilityZoneId": zone_id,
        "InstanceType": instance_type,
        "InstancePlatform": platform,
        "AvailabilityZone": zone,
        "Tenancy": tenancy,
        "TotalInstanceCount": count,
        "AvailableInstanceCount": count,
        "EbsOptimized": bool(params.get("EbsOptimized")),
        "EphemeralStorage": bool(params.get("EphemeralStorage")),
        "State": "active",
        "StartDate": now,
        "EndDateType": end_type,
        "InstanceMatchCriteria": criteria,
        "CreateDate": now,
        "Tags": reservation_tags,
        "CapacityAllocations": [],
        "ReservationType": "default",
        "DeliveryPreference": "fixed",
        "_instances": [],
    }
    if end is not None:
        doc["EndDate"] = end
    with ctx.store.transaction() as txn:
        if criteria == "open":
            # Running instances that match and are in no reservation now run in this one.
            for instance_id, inst in txn.scan(instances.KIND, ctx.scope):
                if len(doc["_instances"]) >= count:
                    break
                if inst.get("CapacityReservationId") or instances.current_state(inst, now) not in ("pending", "running"):
                    continue
                preference = (inst.get("CapacityReservationSpecification") or {}).get("CapacityReservationPreference", "open")
                if preference != "open" or inst.get("InstanceLifecycle") == "spot":
                    continue
                if _matches(doc, inst["InstanceType"], platform_of(inst), inst["Placement"]["AvailabilityZone"],
                            inst["Placement"].get("Tenancy", "default")):
                    doc["_instances"].append(instance_id)
                    inst["CapacityReservationId"] = reservation_id
                    instances.put_instance(txn, ctx, inst)
        view(doc, now)
        _put(txn, ctx, doc)
    return {"CapacityReservation": doc}


FILTERS = {
    "instance-type": "InstanceType", "owner-id": "OwnerId", "availability-zone-id": "AvailabilityZoneId",
    "instance-platform": "InstancePlatform", "availability-zone": "AvailabilityZone", "tenancy": "Tenancy",
    "state": "State", "start-date": "StartDate", "end-date": "EndDate", "end-date-type": "EndDateType",
    "instance-match-criteria": "InstanceMatchCriteria", "placement-group-arn": "PlacementGroupArn",
    "capacity-reservation-id": "CapacityReservationId", "reservation-type": "ReservationType",
}


def describe_capacity_reservations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    read = ctx.store.read
    now = ctx.clock.time()
    ids = params.get("CapacityReservationIds") or []
    if ids:
        docs = {}
        for reservation_id in ids:
            doc = get(read, ctx, reservation_id)
            docs[reservation_id] = doc
        items = sorted(docs.values(), key=lambda d: d["CapacityReservationId"])
    else:
        items = [view(d, now) for _, d in read.scan(KIND, ctx.scope)]
    items = apply_filters(items, params.get("Filters"), FILTERS)
    limit = max_results(params, minimum=1, maximum=1000)
    after = decode_token(params.get("NextToken"))
    if after:
        items = [d for d in items if d["CapacityReservationId"] > after]
    out: dict[str, Any] = {"CapacityReservations": items}
    if limit is not None and len(items) > limit:
        out["CapacityReservations"] = items[:limit]
        out["NextToken"] = encode_token(items[limit - 1]["CapacityReservationId"])
    return out


def modify_capacity_reservation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        doc = get(txn, ctx, params["CapacityReservationId"])
        if doc["State"] != "active":
            raise ServiceError("IncorrectState", f"The capacity reservation '{doc['CapacityReservationId']}' is in the "
                               f"'{doc['State']}' state and cannot be modified.", 400)
        count = params.get("InstanceCount")
        if count is not None:
            _count(count)
            used = len(doc["_instances"])
            if count < used:
                raise ServiceError("InvalidParameterValue", f"The instance count ({count}) cannot be less than the number of "
                                   f"instances running in the capacity reservation ({used}).", 400)
        end_type = params.get("EndDateType")
        end_params = {"EndDateType": end_type or doc["EndDateType"], "EndDate": params.get("EndDate")}
        if end_type is not None or params.get("EndDate") is not None:
            if end_type is None and doc["EndDateType"] == "unlimited" and params.get("EndDate") is not None:
                end_params["EndDateType"] = "limited"
            new_type, new_end = _end(end_params, now)
        criteria = params.get("InstanceMatchCriteria")
        if criteria is not None and criteria not in ("open", "targeted"):
            raise ServiceError("InvalidParameterValue", f"Value ({criteria}) for parameter instanceMatchCriteria is invalid.", 400)
        if count is None and end_type is None and params.get("EndDate") is None and criteria is None:
            raise ServiceError("MissingParameter", "The request must contain the parameter InstanceCount, EndDate, EndDateType or InstanceMatchCriteria", 400)
        dry_run(params)
        if count is not None:
            doc["TotalInstanceCount"] = count
        if end_type is not None or params.get("EndDate") is not None:
            doc["EndDateType"] = new_type
            if new_end is None:
                doc.pop("EndDate", None)
            else:
                doc["EndDate"] = new_end
        if criteria is not None:
            doc["InstanceMatchCriteria"] = criteria
        view(doc, now)
        _put(txn, ctx, doc)
    return {"Return": True}


def cancel_capacity_reservation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import instances

    with ctx.store.transaction() as txn:
        doc = get(txn, ctx, params["CapacityReservationId"])
        if doc["State"] not in ("active", "pending"):
            raise ServiceError("IncorrectState", f"The capacity reservation '{doc['CapacityReservationId']}' is in the "
                               f"'{doc['State']}' state and cannot be cancelled.", 400)
        dry_run(params)
        for instance_id in doc["_instances"]:
            inst = txn.get(instances.KIND, instance_id, ctx.scope)
            if inst is not None and inst.get("CapacityReservationId") == doc["CapacityReservationId"]:
                inst.pop("CapacityReservationId", None)  # they keep running, as On-Demand instances
                instances.put_instance(txn, ctx, inst)
        doc["State"] = "cancelled"
        doc["_instances"] = []
        view(doc, ctx.clock.time())
        _put(txn, ctx, doc)
    return {"Return": True}


# -- launches (called by instances) ------------------------------------------------------------

def check_specification(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The instance's ``CapacityReservationSpecification`` as DescribeInstances shows it."""
    spec = spec or {}
    preference = spec.get("CapacityReservationPreference")
    target = spec.get("CapacityReservationTarget") or {}
    if preference and target:
        raise ServiceError("InvalidParameterCombination",
                           "You can specify either CapacityReservationPreference or CapacityReservationTarget, but not both.", 400)
    if target:
        if not target.get("CapacityReservationId"):
            raise ServiceError("InvalidParameterValue", "A capacity reservation target requires a CapacityReservationId.", 400)
        return {"CapacityReservationTarget": {"CapacityReservationId": target["CapacityReservationId"]}}
    preference = preference or "open"
    if preference not in ("open", "none", "capacity-reservations-only"):
        raise ServiceError("InvalidParameterValue", f"Value ({preference}) for parameter capacityReservationPreference is invalid.", 400)
    return {"CapacityReservationPreference": preference}


def check_target(txn: Txn, ctx: RequestContext, spec: dict[str, Any], instance_type: str, platform: str, zone: str,
                 tenancy: str, count: int) -> None:
    """A targeted launch must fit its reservation entirely, before anything is created."""
    target = (spec.get("CapacityReservationTarget") or {}).get("CapacityReservationId")
    if not target:
        if spec.get("CapacityReservationPreference") == "capacity-reservations-only":
            free = sum(d["AvailableInstanceCount"] for _, d in txn.scan(KIND, ctx.scope)
                       if view(d, ctx.clock.time())["State"] == "active" and d["InstanceMatchCriteria"] == "open"
                       and _matches(d, instance_type, platform, zone, tenancy))
            if free < count:
                raise ServiceError("InsufficientInstanceCapacity", "There is not enough capacity in open Capacity Reservations "
                                   f"that match {instance_type} in {zone} to launch {count} instance(s).", 400)
        return
    doc = get(txn, ctx, target)
    if doc["State"] != "active":
        raise ServiceError("InvalidCapacityReservationId.NotFound" if doc["State"] != "expired" else "ReservationCapacityExceeded",
                           f"The capacity reservation '{target}' is not active (state: {doc['State']}).", 400)
    if not _matches(doc, instance_type, platform, zone, tenancy):
        raise ServiceError("InvalidParameterCombination",
                           f"The instance attributes ({instance_type}, {platform}, {zone}, {tenancy}) do not match those of "
                           f"capacity reservation '{target}' ({doc['InstanceType']}, {doc['InstancePlatform']}, "
                           f"{doc['AvailabilityZone']}, {doc['Tenancy']}).", 400)
    if doc["AvailableInstanceCount"] < count:
        raise ServiceError("ReservationCapacityExceeded", f"The requested number of instances ({count}) exceeds the available "
                           f"capacity of capacity reservation '{target}' ({doc['AvailableInstanceCount']}).", 400)


def consume(txn: Txn, ctx: RequestContext, instance: dict[str, Any]) -> None:
    """Put a starting instance in a reservation if its specification and a reservation allow."""
    if instance.get("InstanceLifecycle") == "spot":
        return
    spec = instance.get("CapacityReservationSpecification") or {}
    now = ctx.clock.time()
    target = (spec.get("CapacityReservationTarget") or {}).get("CapacityReservationId")
    preference = spec.get("CapacityReservationPreference")
    args = (instance["InstanceType"], platform_of(instance), instance["Placement"]["AvailabilityZone"],
            instance["Placement"].get("Tenancy", "default"))
    chosen = None
    if target:
        doc = txn.get(KIND, target, ctx.scope)
        if doc is not None and view(doc, now)["State"] == "active" and doc["AvailableInstanceCount"] > 0 and _matches(doc, *args):
            chosen = doc
    elif preference in ("open", "capacity-reservations-only", None):
        previous = instance.get("_nimbus", {}).get("capacity_reservation")
        candidates = []
        if previous:
            doc = txn.get(KIND, previous, ctx.scope)
            if doc is not None:
                candidates.append(doc)
        candidates.extend(d for _, d in txn.scan(KIND, ctx.scope))
        for doc in candidates:
            view(doc, now)
            if doc["State"] == "active" and doc["InstanceMatchCriteria"] == "open" and doc["AvailableInstanceCount"] > 0 \
                    and _matches(doc, *args):
                chosen = doc
                break
    if chosen is None:
        return
    chosen["_instances"].append(instance["InstanceId"])
    view(chosen, now)
    _put(txn, ctx, chosen)
    instance["CapacityReservationId"] = chosen["CapacityReservationId"]
    instance.setdefault("_nimbus", {})["capacity_reservation"] = chosen["CapacityReservationId"]


def release(txn: Txn, ctx: RequestContext, instance: dict[str, Any]) -> None:
    """A stopping or terminating instance gives its place in the reservation back."""
    reservation_id = instance.pop("CapacityReservationId", None)
    if not reservation_id:
        return
    doc = txn.get(KIND, reservation_id, ctx.scope)
    if doc is None:
        return
    doc["_instances"] = [i for i in doc.get("_instances") or [] if i != instance["InstanceId"]]
    view(doc, ctx.clock.time())
    _put(txn, ctx, doc)
