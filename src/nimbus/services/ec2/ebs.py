"""EBS: volumes, attachments, snapshots and encryption by default.

Volumes and snapshots are records in AWS's Describe shape; states that take time in
AWS (a volume being created, a snapshot in progress, a modification optimizing) are
derived from timestamps under ``_nimbus`` when read.  Attachments live on the volume
(``Attachments``) and are mirrored in the instance's ``BlockDeviceMappings``.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import availability_zones
from ...state import Txn
from . import tags
from .compute_common import check_ids, dry_run, not_found, page
from .filters import apply_filters
from .ids import new_id

VOLUME_KIND = "ec2:volume"
SNAPSHOT_KIND = "ec2:snapshot"
SETTINGS_KIND = "ec2:ebs-settings"
tags.register("vol", VOLUME_KIND, "volume")
tags.register("snap", SNAPSHOT_KIND, "snapshot")

VOLUME_READY = 2.0  # simulated seconds from creating to available
SNAPSHOT_SECONDS_PER_GIB = 0.5
SNAPSHOT_MIN_SECONDS = 10.0
MODIFY_SECONDS = 60.0
MAX_MULTI_ATTACH = 16

# type: (min GiB, max GiB)
SIZE_LIMITS = {"gp2": (1, 16384), "gp3": (1, 16384), "io1": (4, 16384), "io2": (4, 65536),
               "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024)}
DEFAULT_SIZE = {"st1": 125, "sc1": 125, "io1": 4, "io2": 4}


def _bad(message: str, code: str = "InvalidParameterValue") -> ServiceError:
    return ServiceError(code, message, 400)


def validate_volume(volume_type: str, size: int | None, iops: int | None, throughput: int | None,
                    multi_attach: bool = False) -> tuple[int | None, int | None]:
    """AWS's limits per volume type; returns the (iops, throughput) the volume gets."""
    if volume_type not in SIZE_LIMITS:
        raise _bad(f"Value ({volume_type}) for parameter volumeType is invalid. Valid values: standard, io1, io2, gp2, sc1, st1, gp3")
    low, high = SIZE_LIMITS[volume_type]
    if size is not None:
        if size < low:
            raise _bad(f"Volume of {size}GiB is too small; minimum is {low}GiB.")
        if size > high:
            raise _bad(f"Volume of {size}GiB is too large; maximum is {high}GiB.")
    if multi_attach and volume_type not in ("io1", "io2"):
        raise _bad("The parameter multiAttachEnabled is not supported for volume type " + volume_type + ". Multi-Attach is supported only for io1 and io2 volumes.",
                   "InvalidParameterCombination")
    if throughput is not None and volume_type != "gp3":
        raise _bad(f"The parameter throughput is not supported for {volume_type} volumes.", "InvalidParameterCombination")
    if volume_type in ("gp2", "st1", "sc1", "standard"):
        if iops is not None:
            raise _bad(f"The parameter iops is not supported for {volume_type} volumes.", "InvalidParameterCombination")
        if volume_type == "gp2":
            return (min(16000, max(100, 3 * (size or 1))), None)
        return (None, None)
    if volume_type == "gp3":
        iops = 3000 if iops is None else iops
        throughput = 125 if throughput is None else throughput
        if not 3000 <= iops <= 16000:
            raise _bad(f"Volume iops of {iops} is {'too low; minimum is 3000' if iops < 3000 else 'too high; maximum is 16000'}.")
        if not 125 <= throughput <= 1000:
            raise _bad(f"Throughput of {throughput}MiB/s is {'too low; minimum is 125' if throughput < 125 else 'too high; maximum is 1000'}MiB/s.")
        if size is not None and iops > 500 * size:
            raise _bad(f"Iops to volume size ratio of {iops / size:f} is too high; maximum is 500.000000.")
        if throughput > iops / 4:
            raise _bad(f"Throughput (MiBps) to iops ratio of {throughput / iops:f} is too high; maximum is 0.250000 MiBps per iops.")
        return iops, throughput
    # io1 / io2
    if iops is None:
        raise _bad(f"The parameter iops must be specified for {volume_type} volumes.", "MissingParameter")
    maximum, ratio = (64000, 50) if volume_type == "io1" else (256000, 1000)
    if iops < 100:
        raise _bad(f"Volume iops of {iops} is too low; minimum is 100.")
    if iops > maximum:
        raise _bad(f"Volume iops of {iops} is too high; maximum is {maximum}.")
    if size is not None and iops > ratio * size:
        raise _bad(f"Iops to volume size ratio of {iops / size:f} is too high; maximum is {ratio:f}.")
    return iops, None


def check_zone(ctx: RequestContext, zone: str | None, zone_id: str | None = None) -> str:
    zones = availability_zones(ctx.region)
    if zone_id and not zone:
        for z in zones:
            if z["ZoneId"] == zone_id:
                return z["ZoneName"]
        raise _bad(f"Invalid availability zone: [{zone_id}]", "InvalidParameterValue")
    if not zone:
        raise _bad("The request must contain the parameter availabilityZone", "MissingParameter")
    if zone not in {z["ZoneName"] for z in zones}:
        raise ServiceError("InvalidZone.NotFound", f"The zone '{zone}' does not exist.", 400)
    return zone


# -- encryption by default ---------------------------------------------------------------------

def settings(ctx: RequestContext, txn: Txn | None = None) -> dict[str, Any]:
    read = txn or ctx.store.read
    return read.get(SETTINGS_KIND, "settings", ctx.scope) or {"EncryptionByDefault": False, "KmsKeyId": None}


def resolve_kms(ctx: RequestContext, key_ref: str | None) -> str:
    kms = ctx.runtime.provider("kms")
    if not key_ref:
        default = settings(ctx).get("KmsKeyId")
        if default:
            key_ref = default
        else:
            return kms.aws_managed_key_arn(ctx, "ebs")
    try:
        return kms._resolve(ctx, key_ref)["Arn"]
    except ServiceError:
        raise ServiceError("InvalidParameterValue", f"Invalid KMS key ID: {key_ref}", 400) from None


def _set_setting(ctx: RequestContext, **changes: Any) -> dict[str, Any]:
    with ctx.store.transaction() as txn:
        doc = settings(ctx, txn)
        doc.update(changes)
        txn.put(SETTINGS_KIND, "settings", doc, ctx.scope)
    return doc


# -- volume records --------------------------------------------------------------------------

def new_volume(ctx: RequestContext, *, zone: str, size: int, volume_type: str, iops: int | None, throughput: int | None,
               encrypted: bool, kms_key: str | None, snapshot_id: str | None, multi_attach: bool,
               tag_list: list[dict[str, str]], ready_at: float | None = None) -> dict[str, Any]:
    now = ctx.clock.time()
    doc: dict[str, Any] = {
        "VolumeId": new_id("vol"),
        "Size": size,
        "SnapshotId": snapshot_id or "",
        "AvailabilityZone": zone,
        "State": "available",
        "CreateTime": now,
        "Attachments": [],
        "VolumeType": volume_type,
        "Encrypted": bool(encrypted),
        "MultiAttachEnabled": multi_attach,
        "Tags": tag_list,
        "_nimbus": {"ready_at": now + VOLUME_READY if ready_at is None else ready_at},
    }
    if iops is not None:
        doc["Iops"] = iops
    if throughput is not None:
        doc["Throughput"] = throughput
    if encrypted:
        doc["KmsKeyId"] = kms_key
    return doc


def volume_view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    internal = doc.get("_nimbus") or {}
    if now < internal.get("ready_at", 0):
        doc["State"] = "creating"
    elif doc["Attachments"]:
        doc["State"] = "in-use"
    else:
        doc["State"] = "available"
    return doc


def _get_volume(txn: Txn, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
    check_ids("vol", [volume_id])
    doc = txn.get(VOLUME_KIND, volume_id, ctx.scope)
    if doc is None:
        raise not_found("vol", [volume_id])
    return doc


def create_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    zone = check_zone(ctx, params.get("AvailabilityZone"), params.get("AvailabilityZoneId"))
    volume_type = params.get("VolumeType") or "gp2"
    size = params.get("Size")
    snapshot_id = params.get("SnapshotId")
    snapshot = None
    if snapshot_id:
        check_ids("snap", [snapshot_id])
        snapshot = ctx.store.read.get(SNAPSHOT_KIND, snapshot_id, ctx.scope)
        if snapshot is None:
            raise not_found("snap", [snapshot_id])
        snapshot_view(snapshot, ctx.clock.time())
        if snapshot["State"] != "completed":
            raise ServiceError("IncorrectState", f"Snapshot is in invalid state - {snapshot['State']}", 400)
        if size is None:
            size = snapshot["VolumeSize"]
        elif size < snapshot["VolumeSize"]:
            raise _bad(f"Volume of size {size} is smaller than snapshot '{snapshot_id}', expect size >= {snapshot['VolumeSize']}")
    elif size is None:
        if volume_type in DEFAULT_SIZE and False:
            size = DEFAULT_SIZE[volume_type]
        raise _bad("The request must contain the parameter size or snapshotId", "MissingParameter")
    multi = bool(params.get("MultiAttachEnabled"))
    iops, throughput = validate_volume(volume_type, size, params.get("Iops"), params.get("Throughput"), multi)
    encrypted = bool(params.get("Encrypted")) or settings(ctx)["EncryptionByDefault"] or bool(snapshot and snapshot["Encrypted"])
    if params.get("KmsKeyId") and not encrypted:
        raise _bad("The parameter KmsKeyId requires the parameter Encrypted to be set.", "InvalidParameterDependency")
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "volume")
    dry_run(params)
    kms_key = None
    if encrypted:
        kms_key = resolve_kms(ctx, params.get("KmsKeyId") or (snapshot or {}).get("KmsKeyId"))
    doc = new_volume(ctx, zone=zone, size=size, volume_type=volume_type, iops=iops, throughput=throughput,
                     encrypted=encrypted, kms_key=kms_key, snapshot_id=snapshot_id, multi_attach=multi, tag_list=tag_list)
    with ctx.store.transaction() as txn:
        txn.put(VOLUME_KIND, doc["VolumeId"], doc, ctx.scope)
    return volume_view(doc, ctx.clock.time())


VOLUME_FILTERS = {
    "attachment.attach-time": lambda v: [a["AttachTime"] for a in v["Attachments"]],
    "attachment.delete-on-termination": lambda v: [a["DeleteOnTermination"] for a in v["Attachments"]],
    "attachment.device": lambda v: [a["Device"] for a in v["Attachments"]],
    "attachment.instance-id": lambda v: [a["InstanceId"] for a in v["Attachments"]],
    "attachment.status": lambda v: [a["State"] for a in v["Attachments"]],
    "availability-zone": "AvailabilityZone",
    "create-time": "CreateTime",
    "encrypted": "Encrypted",
    "multi-attach-enabled": "MultiAttachEnabled",
    "fast-restored": lambda v: False,
    "size": "Size",
    "snapshot-id": "SnapshotId",
    "status": "State",
    "volume-id": "VolumeId",
    "volume-type": "VolumeType",
    "iops": "Iops",
    "throughput": "Throughput",
}


def describe_volumes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = check_ids("vol", params.get("VolumeIds") or [])
    now = ctx.clock.time()
    read = ctx.store.read
    if ids:
        docs = [read.get(VOLUME_KIND, i, ctx.scope) for i in ids]
        missing = [i for i, d in zip(ids, docs) if d is None]
        if missing:
            raise not_found("vol", missing)
    else:
        docs = [d for _, d in read.scan(VOLUME_KIND, ctx.scope)]
    docs = [volume_view(d, now) for d in docs]
    docs = apply_filters(docs, params.get("Filters"), VOLUME_FILTERS)
    items, token = page(sorted(docs, key=lambda d: d["VolumeId"]), params, "VolumeId", minimum=5, maximum=500)
    out: dict[str, Any] = {"Volumes": items}
    if token:
        out["NextToken"] = token
    return out


def delete_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction() as txn:
        doc = _get_volume(txn, ctx, params["VolumeId"])
        if doc["Attachments"]:
            raise ServiceError("VolumeInUse", f"Volume {doc['VolumeId']} is currently attached to {doc['Attachments'][0]['InstanceId']}", 400)
        dry_run(params)
        txn.delete(VOLUME_KIND, doc["VolumeId"], ctx.scope)
    return {}


def attach_record(doc: dict[str, Any], instance_id: str, device: str, now: float, delete_on_termination: bool) -> dict[str, Any]:
    attachment = {"AttachTime": now, "Device": device, "InstanceId": instance_id, "State": "attached",
                  "VolumeId": doc["VolumeId"], "DeleteOnTermination": delete_on_termination}
    doc["Attachments"].append(attachment)
    return attachment


def attach_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import instances

    device = params["Device"]
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        doc = _get_volume(txn, ctx, params["VolumeId"])
        inst = instances.get_instance(txn, ctx, params["InstanceId"])
        state = instances.current_state(inst, now)
        if state not in ("running", "stopped", "pending", "stopping"):
            raise ServiceError("IncorrectInstanceState", f"The instance '{inst['InstanceId']}' is not in a valid state for this operation.", 400)
        if now < doc["_nimbus"].get("ready_at", 0):
            raise ServiceError("IncorrectState", f"Volume '{doc['VolumeId']}' is in the 'creating' state.", 400)
        if doc["AvailabilityZone"] != inst["Placement"]["AvailabilityZone"]:
            raise ServiceError("InvalidVolume.ZoneMismatch",
                               f"The volume '{doc['VolumeId']}' is not in the same availability zone as instance '{inst['InstanceId']}'", 400)
        if doc["Attachments"]:
            if not doc.get("MultiAttachEnabled"):
                raise ServiceError("VolumeInUse", f"{doc['VolumeId']} is already attached to an instance", 400)
            if any(a["InstanceId"] == inst["InstanceId"] for a in doc["Attachments"]):
                raise ServiceError("VolumeInUse", f"{doc['VolumeId']} is already attached to {inst['InstanceId']}", 400)
            if len(doc["Attachments"]) >= MAX_MULTI_ATTACH:
                raise ServiceError("AttachmentLimitExceeded", f"Volume {doc['VolumeId']} is attached to the maximum of {MAX_MULTI_ATTACH} instances.", 400)
            if inst["_nimbus"].get("hypervisor_xen"):
                raise _bad("Multi-Attach volumes can only be attached to instances built on the Nitro System.")
        if any(m["DeviceName"] == device for m in inst.get("BlockDeviceMappings", [])):
            raise _bad(f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use")
        dry_run(params)
        attachment = attach_record(doc, inst["InstanceId"], device, now, False)
        inst.setdefault("BlockDeviceMappings", []).append(
            {"DeviceName": device, "Ebs": {"AttachTime": now, "DeleteOnTermination": False, "Status": "attached", "VolumeId": doc["VolumeId"]}})
        txn.put(VOLUME_KIND, doc["VolumeId"], doc, ctx.scope)
        instances.put_instance(txn, ctx, inst)
    return {**attachment, "State": "attaching"}


def detach_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import instances

    with ctx.store.transaction() as txn:
        doc = _get_volume(txn, ctx, params["VolumeId"])
        if not doc["Attachments"]:
            raise ServiceError("IncorrectState", f"Volume '{doc['VolumeId']}' is in the 'available' state.", 400)
        wanted = params.get("InstanceId")
        matches = [a for a in doc["Attachments"] if not wanted or a["InstanceId"] == wanted]
        if not matches or (len(doc["Attachments"]) > 1 and not wanted):
            raise ServiceError("InvalidAttachment.NotFound",
                               f"Attachment point for volume '{doc['VolumeId']}' to instance '{wanted}' does not exist", 400)
        attachment = matches[0]
        inst = txn.get(instances.KIND, attachment["InstanceId"], ctx.scope)
        if inst is not None:
            state = instances.current_state(inst, ctx.clock.time())
            if attachment["Device"] == inst.get("RootDeviceName") and state in ("running", "pending") and not params.get("Force"):
                raise ServiceError("OperationNotPermitted",
                                   f"The volume '{doc['VolumeId']}' cannot be detached from the root device of running instance '{inst['InstanceId']}'", 400)
        dry_run(params)
        doc["Attachments"] = [a for a in doc["Attachments"] if a is not attachment]
        txn.put(VOLUME_KIND, doc["VolumeId"], doc, ctx.scope)
        if inst is not None:
            inst["BlockDeviceMappings"] = [m for m in inst.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("VolumeId") != doc["VolumeId"]]
            instances.put_instance(txn, ctx, inst)
    return {**attachment, "State": "detaching"}


def instance_gone(txn: Txn, ctx: RequestContext, instance_id: str, mappings: list[dict[str, Any]]) -> None:
    """An instance terminated: delete its delete-on-termination volumes, detach the rest."""
    for mapping in mappings:
        ebs = mapping.get("Ebs")
        if not ebs:
            continue
        doc = txn.get(VOLUME_KIND, ebs["VolumeId"], ctx.scope)
        if doc is None:
            continue
        mine = [a for a in doc["Attachments"] if a["InstanceId"] == instance_id]
        if mine and mine[0].get("DeleteOnTermination") and len(doc["Attachments"]) == 1:
            txn.delete(VOLUME_KIND, doc["VolumeId"], ctx.scope)
        else:
            doc["Attachments"] = [a for a in doc["Attachments"] if a["InstanceId"] != instance_id]
            txn.put(VOLUME_KIND, doc["VolumeId"], doc, ctx.scope)


def modify_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        doc = _get_volume(txn, ctx, params["VolumeId"])
        pending = doc["_nimbus"].get("modification")
        if pending and now < pending["done_at"]:
            raise ServiceError("IncorrectModificationState",
                               f"Volume {doc['VolumeId']} is already being modified.", 400)
        size = params.get("Size", doc["Size"])
        if size < doc["Size"]:
            raise _bad(f"New size cannot be smaller than existing size ({doc['Size']}GiB).")
        new_type = params.get("VolumeType", doc["VolumeType"])
        multi = params.get("MultiAttachEnabled", doc.get("MultiAttachEnabled", False))
        if multi != doc.get("MultiAttachEnabled", False) and doc["Attachments"]:
            raise ServiceError("IncorrectState", "Multi-Attach can be changed only while the volume is detached.", 400)
        keep_iops = params.get("Iops", doc.get("Iops") if new_type in ("gp3", "io1", "io2") and doc["VolumeType"] == new_type else None)
        keep_tp = params.get("Throughput", doc.get("Throughput") if new_type == "gp3" and doc["VolumeType"] == "gp3" else None)
        if new_type in ("io1", "io2") and keep_iops is None:
            keep_iops = doc.get("Iops") or 100
        iops, throughput = validate_volume(new_type, size, keep_iops, keep_tp, multi)
        dry_run(params)
        modification = {
            "VolumeId": doc["VolumeId"], "ModificationState": "modifying", "StatusMessage": "",
            "TargetSize": size, "TargetIops": iops, "TargetVolumeType": new_type, "TargetThroughput": throughput,
            "TargetMultiAttachEnabled": multi, "OriginalSize": doc["Size"], "OriginalIops": doc.get("Iops"),
            "OriginalVolumeType": doc["VolumeType"], "OriginalThroughput": doc.get("Throughput"),
            "OriginalMultiAttachEnabled": doc.get("MultiAttachEnabled", False), "Progress": 0, "StartTime": now,
        }
        modification = {k: v for k, v in modification.items() if v is not None}
        doc["_nimbus"]["modification"] = {**modification, "done_at": now + MODIFY_SECONDS}
        doc.update(Size=size, VolumeType=new_type, MultiAttachEnabled=multi)
        for key, value in (("Iops", iops), ("Throughput", throughput)):
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        txn.put(VOLUME_KIND, doc["VolumeId"], doc, ctx.scope)
    return {"VolumeModification": modification}


def describe_volumes_modifications(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = check_ids("vol", params.get("VolumeIds") or [])
    now = ctx.clock.time()
    out = []
    for _, doc in ctx.store.read.scan(VOLUME_KIND, ctx.scope):
        mod = doc["_nimbus"].get("modification")
        if not mod or (ids and doc["VolumeId"] not in ids):
            continue
        mod = dict(mod)
        done_at = mod.pop("done_at")
        if now >= done_at:
            mod.update(ModificationState="completed", Progress=100, EndTime=done_at)
        elif now >= mod["StartTime"] + MODIFY_SECONDS / 4:
            mod.update(ModificationState="optimizing", Progress=int(100 * (now - mod["StartTime"]) / MODIFY_SECONDS))
        out.append(mod)
    if ids:
        missing = [i for i in ids if i not in {m["VolumeId"] for m in out}]
        if missing:
            raise ServiceError("InvalidVolumeModification.NotFound", f"Modification for volume '{missing[0]}' does not exist.", 400)
    out = apply_filters(out, params.get("Filters"), {
        "modification-state": "ModificationState", "volume-id": "VolumeId", "target-volume-type": "TargetVolumeType",
        "original-volume-type": "OriginalVolumeType", "target-size": "TargetSize", "original-size": "OriginalSize"})
    return {"VolumesModifications": out}


# -- snapshots ----------------------------------------------------------------------------

def snapshot_view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    done_at = doc["_nimbus"]["done_at"]
    if now >= done_at:
        doc["State"], doc["Progress"] = "completed", "100%"
    else:
        span = max(1.0, done_at - doc["StartTime"])
        doc["State"], doc["Progress"] = "pending", f"{int(99 * (now - doc['StartTime']) / span)}%"
    return doc


def new_snapshot(ctx: RequestContext, *, volume_id: str, size: int, description: str, encrypted: bool,
                 kms_key: str | None, tag_list: list[dict[str, str]], instant: bool = False) -> dict[str, Any]:
    now = ctx.clock.time()
    doc: dict[str, Any] = {
        "SnapshotId": new_id("snap"), "VolumeId": volume_id, "VolumeSize": size, "StartTime": now,
        "State": "pending", "Progress": "0%", "OwnerId": ctx.account_id, "Description": description,
        "Encrypted": encrypted, "StorageTier": "standard", "Tags": tag_list,
        "_nimbus": {"done_at": now if instant else now + max(SNAPSHOT_MIN_SECONDS, size * SNAPSHOT_SECONDS_PER_GIB),
                    "create_volume_permissions": []},
    }
    if encrypted:
        doc["KmsKeyId"] = kms_key
    return doc


def create_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "snapshot")
    with ctx.store.transaction() as txn:
        vol = _get_volume(txn, ctx, params["VolumeId"])
        dry_run(params)
        doc = new_snapshot(ctx, volume_id=vol["VolumeId"], size=vol["Size"], description=params.get("Description", ""),
                           encrypted=vol["Encrypted"], kms_key=vol.get("KmsKeyId"), tag_list=tag_list)
        txn.put(SNAPSHOT_KIND, doc["SnapshotId"], doc, ctx.scope)
    return snapshot_view(doc, ctx.clock.time())


def copy_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source_region = params["SourceRegion"]
    source_id = check_ids("snap", [params["SourceSnapshotId"]])[0]
    source = ctx.store.read.get(SNAPSHOT_KIND, source_id, f"{ctx.account_id}/{source_region}")
    if source is None:
        raise not_found("snap", [source_id])
    snapshot_view(source, ctx.clock.time())
    if source["State"] != "completed":
        raise ServiceError("IncorrectState", f"Snapshot is in invalid state - {source['State']}", 400)
    encrypted = bool(params.get("Encrypted")) or source["Encrypted"] or settings(ctx)["EncryptionByDefault"]
    if params.get("KmsKeyId") and not encrypted:
        raise _bad("The parameter KmsKeyId requires the parameter Encrypted to be set.", "InvalidParameterDependency")
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "snapshot")
    dry_run(params)
    kms_key = None
    if encrypted:
        # re-encrypted with the key asked for, else this region's default key (keys are regional)
        kms_key = resolve_kms(ctx, params.get("KmsKeyId"))
    doc = new_snapshot(ctx, volume_id="vol-ffffffff", size=source["VolumeSize"],
                       description=params.get("Description") or f"[Copied {source_id} from {source_region}] {source['Description']}".strip(),
                       encrypted=encrypted, kms_key=kms_key, tag_list=tag_list)
    doc["_nimbus"]["source"] = {"region": source_region, "snapshot": source_id}
    with ctx.store.transaction() as txn:
        txn.put(SNAPSHOT_KIND, doc["SnapshotId"], doc, ctx.scope)
    return {"SnapshotId": doc["SnapshotId"], "Tags": tag_list}


SNAPSHOT_FILTERS = {
    "description": "Description", "encrypted": "Encrypted", "owner-id": "OwnerId", "progress": "Progress",
    "snapshot-id": "SnapshotId", "start-time": "StartTime", "status": "State", "storage-tier": "StorageTier",
    "volume-id": "VolumeId", "volume-size": "VolumeSize", "owner-alias": lambda s: None,
}


def describe_snapshots(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = check_ids("snap", params.get("SnapshotIds") or [])
    owners = params.get("OwnerIds") or []
    now = ctx.clock.time()
    docs = [snapshot_view(d, now) for _, d in ctx.store.read.scan(SNAPSHOT_KIND, ctx.scope)]
    if ids:
        missing = [i for i in ids if i not in {d["SnapshotId"] for d in docs}]
        if missing:
            raise not_found("snap", missing)
        docs = [d for d in docs if d["SnapshotId"] in ids]
    if owners:
        wanted = {ctx.account_id if o == "self" else o for o in owners}
        docs = [d for d in docs if d["OwnerId"] in wanted]
    docs = apply_filters(docs, params.get("Filters"), SNAPSHOT_FILTERS)
    items, token = page(sorted(docs, key=lambda d: d["SnapshotId"]), params, "SnapshotId", minimum=5, maximum=1000)
    out: dict[str, Any] = {"Snapshots": items}
    if token:
        out["NextToken"] = token
    return out


def delete_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import ami

    snapshot_id = check_ids("snap", [params["SnapshotId"]])[0]
    with ctx.store.transaction() as txn:
        if not txn.exists(SNAPSHOT_KIND, snapshot_id, ctx.scope):
            raise not_found("snap", [snapshot_id])
        user = ami.image_using_snapshot(txn, ctx, snapshot_id)
        if user:
            raise ServiceError("InvalidSnapshot.InUse", f"The snapshot {snapshot_id} is currently in use by {user}", 400)
        dry_run(params)
        txn.delete(SNAPSHOT_KIND, snapshot_id, ctx.scope)
    return {}


# -- encryption by default operations -----------------------------------------------------

def enable_ebs_encryption_by_default(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    dry_run(params)
    return {"EbsEncryptionByDefault": _set_setting(ctx, EncryptionByDefault=True)["EncryptionByDefault"]}


def disable_ebs_encryption_by_default(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    dry_run(params)
    return {"EbsEncryptionByDefault": _set_setting(ctx, EncryptionByDefault=False)["EncryptionByDefault"]}


def get_ebs_encryption_by_default(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"EbsEncryptionByDefault": settings(ctx)["EncryptionByDefault"], "SseType": "sse-ebs"}


def get_ebs_default_kms_key_id(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key = settings(ctx).get("KmsKeyId")
    return {"KmsKeyId": key or ctx.runtime.provider("kms").aws_managed_key_arn(ctx, "ebs")}


def modify_ebs_default_kms_key_id(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = resolve_kms(ctx, params["KmsKeyId"])
    dry_run(params)
    _set_setting(ctx, KmsKeyId=arn)
    return {"KmsKeyId": arn}


def reset_ebs_default_kms_key_id(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    dry_run(params)
    _set_setting(ctx, KmsKeyId=None)
    return {"KmsKeyId": ctx.runtime.provider("kms").aws_managed_key_arn(ctx, "ebs")}
