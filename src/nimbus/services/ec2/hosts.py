"""Dedicated Hosts: allocation, capacity by instance family, placement, host affinity.

A host is one ``ec2:host`` record in DescribeHosts' shape.  Its size is the family's
largest (the host of ``m5`` has the vCPUs of ``m5.24xlarge`` / ``m5.metal``); a host
allocated for one ``InstanceType`` holds ``host vCPUs // type vCPUs`` instances of that
type only, a host allocated for an ``InstanceFamily`` (``AllowsMultipleInstanceTypes``)
mixes sizes of the family until its vCPUs are used.  ``Instances`` lists what occupies
the host now: an instance takes its slot when it starts and gives it back when it stops
or terminates; with ``Affinity: host`` it restarts on the same host, with ``default`` on
any auto-placement host of the zone that has room.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import compute_catalog, tags
from .compute_common import decode_token, encode_token, max_results, requested_zone
from .filters import apply_filters
from .ids import is_id, new_id

KIND = "ec2:host"
tags.register("h", KIND, "dedicated-host")
RELEASED_VISIBLE = 3600.0
MAX_QUANTITY = 100


def _malformed(value: Any) -> ServiceError:
    return ServiceError("InvalidHostID.Malformed", f'Invalid id: "{value}" (expecting "h-...")', 400)


def _not_found(values: list[str]) -> ServiceError:
    if len(values) == 1:
        return ServiceError("InvalidHostID.NotFound", f"The host ID '{values[0]}' does not exist", 400)
    return ServiceError("InvalidHostID.NotFound", f"The host IDs '{', '.join(values)}' do not exist", 400)


def _family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def host_vcpus(family: str) -> tuple[int, int, int]:
    """(vCPUs, cores, sockets) of a host of ``family``: its largest size's."""
    spec = compute_catalog.families().get(family)
    if spec is None:
        return 0, 0, 0
    vcpus = max(size[0] for size in spec["sizes"].values())
    cores = vcpus if spec["arch"] == ["arm64"] else vcpus // 2
    return vcpus, cores, 2 if vcpus >= 64 else 1


def _type_vcpus(instance_type: str) -> int:
    return compute_catalog.instance_type(instance_type)["VCpuInfo"]["DefaultVCpus"]


def _sizes(doc: dict[str, Any]) -> list[str]:
    props = doc["HostProperties"]
    if props.get("InstanceType"):
        return [props["InstanceType"]]
    family = props["InstanceFamily"]
    return [f"{family}.{size}" for size in compute_catalog.families()[family]["sizes"] if not size.startswith("metal")]


def refresh_capacity(doc: dict[str, Any]) -> None:
    """``AvailableCapacity`` from the host's size and the instances on it."""
    total = doc["HostProperties"]["TotalVCpus"]
    used = sum(_type_vcpus(i["InstanceType"]) for i in doc["Instances"])
    free = max(0, total - used)
    doc["AvailableCapacity"] = {
        "AvailableInstanceCapacity": [{"AvailableCapacity": free // _type_vcpus(t), "InstanceType": t,
                                       "TotalCapacity": total // _type_vcpus(t)} for t in _sizes(doc)],
        "AvailableVCpus": free,
    }


def _fits(doc: dict[str, Any], instance_type: str) -> bool:
    if doc["State"] != "available":
        return False
    props = doc["HostProperties"]
    if props.get("InstanceType"):
        if props["InstanceType"] != instance_type:
            return False
    elif props.get("InstanceFamily") != _family_of(instance_type):
        return False
    return doc["AvailableCapacity"]["AvailableVCpus"] >= _type_vcpus(instance_type)


def _view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    return doc


def _visible(doc: dict[str, Any], now: float) -> bool:
    return doc["State"] != "released" or now < doc.get("ReleaseTime", now) + RELEASED_VISIBLE


def _get_many(txn: Txn, ctx: RequestContext, ids: list[Any]) -> list[dict[str, Any]]:
    for value in ids:
        if not isinstance(value, str) or not is_id(value, "h"):
            raise _malformed(value)
    now = ctx.clock.time()
    docs, missing = [], []
    for value in dict.fromkeys(ids):
        doc = txn.get(KIND, value, ctx.scope)
        if doc is None or not _visible(doc, now):
            missing.append(value)
        else:
            docs.append(doc)
    if missing:
        raise _not_found(missing)
    return docs


def _put(txn: Txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
    txn.put(KIND, doc["HostId"], doc, ctx.scope)


# -- operations ---------------------------------------------------------------------------

def allocate_hosts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    zone, zone_id = requested_zone(ctx, params)
    instance_type, family = params.get("InstanceType"), params.get("InstanceFamily")
    if bool(instance_type) == bool(family):
        raise ServiceError("InvalidParameterCombination", "You must specify either an instance type or an instance family, but not both.", 400)
    if instance_type:
        itype = compute_catalog.instance_type(instance_type)
        if itype is None:
            raise ServiceError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.", 400)
        if not itype.get("DedicatedHostsSupported", True):
            raise ServiceError("InvalidParameterValue", f"Dedicated Hosts do not support the instance type '{instance_type}'.", 400)
        family = _family_of(instance_type)
    elif family not in compute_catalog.families():
        raise ServiceError("InvalidParameterValue", f"Invalid value '{family}' for InstanceFamily.", 400)
    elif compute_catalog.families()[family].get("burst"):
        raise ServiceError("InvalidParameterValue", f"Dedicated Hosts do not support the instance family '{family}'.", 400)
    quantity = params.get("Quantity", 1)
    if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
        raise ServiceError("InvalidParameterValue", f"Value ({quantity}) for parameter quantity is invalid. Expected a value between 1 and {MAX_QUANTITY}.", 400)
    auto = params.get("AutoPlacement") or "off"
    recovery = params.get("HostRecovery") or "off"
    maintenance = params.get("HostMaintenance") or "on"
    for name, value in (("autoPlacement", auto), ("hostRecovery", recovery), ("hostMaintenance", maintenance)):
        if value not in ("on", "off"):
            raise ServiceError("InvalidParameterValue", f"Value ({value}) for parameter {name} is invalid.", 400)
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") != "dedicated-host":
            raise ServiceError("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.", 400)
    host_tags = tags.tags_for_type(params.get("TagSpecifications"), "dedicated-host")
    token = params.get("ClientToken") or ""
    vcpus, cores, sockets = host_vcpus(family)
    now = ctx.clock.time()
    ids = []
    with ctx.store.transaction() as txn:
        if token:
            previous = txn.get("ec2:host-token", token, ctx.scope)
            if previous is not None:
                return {"HostIds": previous["HostIds"]}
        for _ in range(quantity):
            host_id = new_id("h")
            props: dict[str, Any] = {"Cores": cores, "Sockets": sockets, "TotalVCpus": vcpus}
            if instance_type:
                props["InstanceType"] = instance_type
            else:
                props["InstanceFamily"] = family
            doc = {
                "HostId": host_id, "AutoPlacement": auto, "AvailabilityZone": zone, "AvailabilityZoneId": zone_id,
                "ClientToken": token, "HostProperties": props, "Instances": [], "State": "available",
                "AllocationTime": now, "Tags": host_tags, "HostRecovery": recovery,
                "AllowsMultipleInstanceTypes": "off" if instance_type else "on", "OwnerId": ctx.account_id,
                "MemberOfServiceLinkedResourceGroup": False, "HostMaintenance": maintenance,
            }
            refresh_capacity(doc)
            _put(txn, ctx, doc)
            ids.append(host_id)
        if token:
            txn.put("ec2:host-token", token, {"HostIds": ids}, ctx.scope)
    return {"HostIds": ids}


HOST_FILTERS = {
    "auto-placement": "AutoPlacement",
    "availability-zone": "AvailabilityZone",
    "client-token": "ClientToken",
    "host-reservation-id": "HostReservationId",
    "instance-type": lambda d: d["HostProperties"].get("InstanceType") or _sizes(d),
    "state": "State",
    "host-recovery": "HostRecovery",
    "host-maintenance": "HostMaintenance",
}


def describe_hosts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    read = ctx.store.read
    ids = params.get("HostIds") or []
    filters = params.get("Filter")
    now = ctx.clock.time()
    if ids and params.get("MaxResults") is not None:
        raise ServiceError("InvalidParameterCombination", "The parameter hostIdSet cannot be used with the parameter maxResults", 400)
    if ids:
        docs = _get_many(read, ctx, ids)
    else:
        docs = [d for _, d in read.scan(KIND, ctx.scope) if _visible(d, now)]
    docs = apply_filters(docs, filters, HOST_FILTERS)
    limit = max_results(params, minimum=5, maximum=500)
    after = decode_token(params.get("NextToken"))
    if after:
        docs = [d for d in docs if d["HostId"] > after]
    out: dict[str, Any] = {"Hosts": docs}
    if limit is not None and len(docs) > limit:
        out["Hosts"] = docs[:limit]
        out["NextToken"] = encode_token(docs[limit - 1]["HostId"])
    return out


def _unsuccessful(host_id: str, code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "ResourceId": host_id}


def release_hosts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ok, failed = [], []
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        for host_id in params.get("HostIds") or []:
            if not isinstance(host_id, str) or not is_id(host_id, "h"):
                failed.append(_unsuccessful(str(host_id), "Client.InvalidHostID.Malformed", f"Invalid id: '{host_id}'"))
                continue
            doc = txn.get(KIND, host_id, ctx.scope)
            if doc is None or doc["State"] == "released":
                failed.append(_unsuccessful(host_id, "Client.InvalidHostID.NotFound", f"The host ID '{host_id}' does not exist"))
                continue
            if doc["Instances"] or doc.get("_stopped"):
                failed.append(_unsuccessful(host_id, "Client.InvalidHost.Occupied",
                                            f"The host '{host_id}' has running instances. Stop or terminate them before releasing the host."))
                continue
            doc["State"] = "released"
            doc["ReleaseTime"] = now
            doc["AutoPlacement"] = "off"
            _put(txn, ctx, doc)
            ok.append(host_id)
    return {"Successful": ok, "Unsuccessful": failed}


def modify_hosts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    auto, recovery, maintenance = params.get("AutoPlacement"), params.get("HostRecovery"), params.get("HostMaintenance")
    instance_type, family = params.get("InstanceType"), params.get("InstanceFamily")
    for name, value in (("autoPlacement", auto), ("hostRecovery", recovery), ("hostMaintenance", maintenance)):
        if value is not None and value not in ("on", "off"):
            raise ServiceError("InvalidParameterValue", f"Value ({value}) for parameter {name} is invalid.", 400)
    if instance_type and family:
        raise ServiceError("InvalidParameterCombination", "You must specify either an instance type or an instance family, but not both.", 400)
    if instance_type and compute_catalog.instance_type(instance_type) is None:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.", 400)
    if family and family not in compute_catalog.families():
        raise ServiceError("InvalidParameterValue", f"Invalid value '{family}' for InstanceFamily.", 400)
    if not any(v is not None for v in (auto, recovery, maintenance, instance_type, family)):
        raise ServiceError("MissingParameter", "The request must contain the parameter autoPlacement, hostRecovery, instanceType or instanceFamily", 400)
    ok, failed = [], []
    with ctx.store.transaction() as txn:
        for host_id in params.get("HostIds") or []:
            if not isinstance(host_id, str) or not is_id(host_id, "h"):
                failed.append(_unsuccessful(str(host_id), "Client.InvalidHostID.Malformed", f"Invalid id: '{host_id}'"))
                continue
            doc = txn.get(KIND, host_id, ctx.scope)
            if doc is None or doc["State"] == "released":
                failed.append(_unsuccessful(host_id, "Client.InvalidHostID.NotFound", f"The host ID '{host_id}' does not exist"))
                continue
            if (instance_type or family) and (doc["Instances"] or doc.get("_stopped")):
                failed.append(_unsuccessful(host_id, "Client.InvalidHost.Occupied",
                                            f"The instance type or family of host '{host_id}' can be changed only when it has no instances."))
                continue
            if instance_type or family:
                new_family = _family_of(instance_type) if instance_type else family
                vcpus, cores, sockets = host_vcpus(new_family)
                props: dict[str, Any] = {"Cores": cores, "Sockets": sockets, "TotalVCpus": vcpus}
                if instance_type:
                    props["InstanceType"] = instance_type
                else:
                    props["InstanceFamily"] = family
                doc["HostProperties"] = props
                doc["AllowsMultipleInstanceTypes"] = "off" if instance_type else "on"
            if auto is not None:
                doc["AutoPlacement"] = auto
            if recovery is not None:
                doc["HostRecovery"] = recovery
            if maintenance is not None:
                doc["HostMaintenance"] = maintenance
            refresh_capacity(doc)
            _put(txn, ctx, doc)
            ok.append(host_id)
    return {"Successful": ok, "Unsuccessful": failed}


# -- placement (called by instances) ------------------------------------------------------------

def place(txn: Txn, ctx: RequestContext, instance_id: str, instance_type: str, zone: str | None,
          host_id: str | None, affinity: str | None) -> dict[str, Any]:
    """Put an instance on a host (the one named, or an auto-placement host with room)."""
    if host_id:
        if not isinstance(host_id, str) or not is_id(host_id, "h"):
            raise _malformed(host_id)
        doc = txn.get(KIND, host_id, ctx.scope)
        if doc is None or doc["State"] == "released":
            raise _not_found([host_id])
        if zone and doc["AvailabilityZone"] != zone:
            raise ServiceError("InvalidParameterValue", f"Host '{host_id}' is in availability zone {doc['AvailabilityZone']}, "
                               f"not {zone}.", 400)
        props = doc["HostProperties"]
        if (props.get("InstanceType") and props["InstanceType"] != instance_type) or \
                (props.get("InstanceFamily") and props["InstanceFamily"] != _family_of(instance_type)):
            raise ServiceError("InvalidParameterValue", f"Instance type '{instance_type}' is not supported by host '{host_id}' "
                               f"({props.get('InstanceType') or props.get('InstanceFamily')}).", 400)
        if not _fits(doc, instance_type):
            raise ServiceError("InsufficientHostCapacity", f"Insufficient capacity on host '{host_id}' for instance type '{instance_type}'.", 400)
    else:
        if affinity == "host":
            raise ServiceError("InvalidParameterCombination", "A host ID is required when affinity is 'host'.", 400)
        doc = None
        for _, candidate in txn.scan(KIND, ctx.scope):
            if candidate["AutoPlacement"] == "on" and (not zone or candidate["AvailabilityZone"] == zone) and _fits(candidate, instance_type):
                doc = candidate
                break
        if doc is None:
            raise ServiceError("InsufficientHostCapacity", "There is no Dedicated Host with auto-placement on and available capacity "
                               f"for instance type '{instance_type}'" + (f" in {zone}" if zone else "") + ".", 400)
    doc["Instances"].append({"InstanceId": instance_id, "InstanceType": instance_type, "OwnerId": ctx.account_id})
    stopped = doc.get("_stopped") or []
    if instance_id in stopped:
        stopped.remove(instance_id)
    refresh_capacity(doc)
    _put(txn, ctx, doc)
    return doc


def vacate(txn: Txn, ctx: RequestContext, host_id: str, instance_id: str, *, stopped: bool) -> None:
    """The instance leaves the host's capacity (stopped: it stays associated, for affinity)."""
    doc = txn.get(KIND, host_id, ctx.scope)
    if doc is None:
        return
    doc["Instances"] = [i for i in doc["Instances"] if i["InstanceId"] != instance_id]
    parked = [i for i in doc.get("_stopped") or [] if i != instance_id]
    if stopped:
        parked.append(instance_id)
    doc["_stopped"] = parked
    refresh_capacity(doc)
    _put(txn, ctx, doc)


def restart(txn: Txn, ctx: RequestContext, instance: dict[str, Any]) -> None:
    """A stopped instance on a host starts again: same host (affinity host), or any with room."""
    placement = instance["Placement"]
    host_id = placement.get("HostId")
    affinity = placement.get("Affinity") or "default"
    zone = placement["AvailabilityZone"]
    if host_id:
        doc = txn.get(KIND, host_id, ctx.scope)
        if doc is not None and _fits(doc, instance["InstanceType"]):
            place(txn, ctx, instance["InstanceId"], instance["InstanceType"], zone, host_id, affinity)
            return
        if affinity == "host":
            raise ServiceError("InsufficientHostCapacity", f"Insufficient capacity on host '{host_id}' for instance "
                               f"'{instance['InstanceId']}' (affinity: host).", 400)
        if doc is not None:
            vacate(txn, ctx, host_id, instance["InstanceId"], stopped=False)
    doc = place(txn, ctx, instance["InstanceId"], instance["InstanceType"], zone, None, affinity)
    placement["HostId"] = doc["HostId"]


def modify_instance_placement(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Move a stopped instance between shared, dedicated and host tenancy, or between hosts."""
    from . import instances

    tenancy, affinity, host_id = params.get("Tenancy"), params.get("Affinity"), params.get("HostId")
    if tenancy is not None and tenancy not in ("default", "dedicated", "host"):
        raise ServiceError("InvalidParameterValue", f"Value ({tenancy}) for parameter tenancy is invalid.", 400)
    if affinity is not None and affinity not in ("default", "host"):
        raise ServiceError("InvalidParameterValue", f"Value ({affinity}) for parameter affinity is invalid.", 400)
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        doc = instances.get_instance(txn, ctx, params["InstanceId"])
        placement = doc["Placement"]
        changes_host = tenancy is not None or host_id is not None or affinity is not None
        if changes_host and instances.current_state(doc, now) != "stopped":
            raise ServiceError("IncorrectInstanceState", f"The instance '{doc['InstanceId']}' is not in the 'stopped' state.", 400)
        new_tenancy = tenancy or ("host" if host_id else placement.get("Tenancy", "default"))
        if new_tenancy == "default" and placement.get("Tenancy", "default") != "default":
            raise ServiceError("InvalidParameterCombination", "The tenancy of an instance can change only between 'dedicated' and 'host'.", 400)
        if (host_id or affinity) and new_tenancy != "host":
            raise ServiceError("InvalidParameterCombination", "A host ID or affinity can be specified only with tenancy 'host'.", 400)
        if host_id:
            if not isinstance(host_id, str) or not is_id(host_id, "h"):
                raise _malformed(host_id)
            host = txn.get(KIND, host_id, ctx.scope)
            if host is None or host["State"] == "released":
                raise _not_found([host_id])
            props = host["HostProperties"]
            if (props.get("InstanceType") and props["InstanceType"] != doc["InstanceType"]) or \
                    (props.get("InstanceFamily") and props["InstanceFamily"] != _family_of(doc["InstanceType"])):
                raise ServiceError("InvalidParameterValue", f"Instance type '{doc['InstanceType']}' is not supported by host '{host_id}'.", 400)
            if host["AvailabilityZone"] != placement["AvailabilityZone"]:
                raise ServiceError("InvalidParameterValue", f"Host '{host_id}' is not in the instance's availability zone.", 400)
        new_affinity = affinity or placement.get("Affinity") or "default"
        target_host = host_id or placement.get("HostId")
        if new_tenancy == "host" and new_affinity == "host" and not target_host:
            raise ServiceError("InvalidParameterCombination", "A host ID is required when affinity is 'host'.", 400)
        old_host = placement.get("HostId")
        if old_host and old_host != target_host or (old_host and new_tenancy != "host"):
            vacate(txn, ctx, old_host, doc["InstanceId"], stopped=False)
        placement["Tenancy"] = new_tenancy
        if new_tenancy == "host":
            placement["Affinity"] = new_affinity
            if target_host:
                placement["HostId"] = target_host
                host = txn.get(KIND, target_host, ctx.scope)
                if host is not None and doc["InstanceId"] not in (host.get("_stopped") or []):
                    host.setdefault("_stopped", []).append(doc["InstanceId"])
                    _put(txn, ctx, host)
        else:
            placement.pop("Affinity", None)
            placement.pop("HostId", None)
        instances.put_instance(txn, ctx, doc)
    return {"Return": True}
