"""Images: AWS's public AMIs per region (from ``data/amis.json``) and the account's own.

Public images are not stored: each region's set is derived from the data file, with ids
that are stable per region (a hash of region and name), so the SSM public parameters and
``DescribeImages`` agree across restarts.  Images a user creates (``CreateImage``,
``CopyImage``) are ``ec2:image`` records in the account's regional scope, indexed by id
in ``ec2:image-index`` (global) so launch permissions can share them across accounts.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import tags
from .compute_common import check_ids, dry_run, not_found, page
from .filters import apply_filters
from .ids import new_id

KIND = "ec2:image"
INDEX_KIND = "ec2:image-index"  # ami id → {"Scope", "Public", "Users"}; scope ""
tags.register("ami", KIND, "image")

IMAGE_READY = 30.0  # simulated seconds from pending to available
_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$")
PUBLIC_CREATION = "2024-12-12T00:00:00.000Z"


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return json.loads((Path(__file__).with_name("data") / "amis.json").read_text())


def _hash_id(prefix: str, *parts: str) -> str:
    return f"{prefix}-" + hashlib.sha256(":".join(parts).encode()).hexdigest()[:17]


@lru_cache(maxsize=64)
def public_images(region: str) -> dict[str, dict[str, Any]]:
    data = _data()
    out: dict[str, dict[str, Any]] = {}
    for spec in data["images"]:
        image_id = _hash_id("ami", region, spec["name"])
        owner = data["owner_alias"][spec["owner"]]
        windows = spec["platform"] == "Windows"
        volume_type = "gp3" if "gp3" in spec["name"] or spec["name"].startswith(("al2023", "debian", "RHEL")) else "gp2"
        doc: dict[str, Any] = {
            "Architecture": spec["arch"],
            "CreationDate": PUBLIC_CREATION,
            "ImageId": image_id,
            "ImageLocation": f"{spec['owner']}/{spec['name']}",
            "ImageType": "machine",
            "Public": True,
            "OwnerId": owner,
            "PlatformDetails": spec["platform"],
            "UsageOperation": "RunInstances:0002" if windows else ("RunInstances:0010" if spec["owner"] == "redhat" else "RunInstances"),
            "State": "available",
            "BlockDeviceMappings": [{"DeviceName": spec["root"], "Ebs": {
                "DeleteOnTermination": True, "SnapshotId": _hash_id("snap", region, spec["name"]), "VolumeSize": spec["size"],
                "VolumeType": volume_type, "Encrypted": False}}],
            "Description": spec["description"],
            "EnaSupport": True,
            "Hypervisor": "xen",
            "ImageOwnerAlias": "amazon" if spec["owner"] in ("amazon", "microsoft") else None,
            "Name": spec["name"],
            "RootDeviceName": spec["root"],
            "RootDeviceType": "ebs",
            "SriovNetSupport": "simple",
            "VirtualizationType": "hvm",
            "BootMode": "uefi" if spec["arch"] == "arm64" else ("uefi-preferred" if spec["name"].startswith("al2023") else None),
            "ImdsSupport": "v2.0" if spec["name"].startswith("al2023") else None,
            "DeprecationTime": "2026-12-12T00:00:00.000Z",
            "Tags": [],
            "_nimbus": {"default_user": spec["user"], "ssm": spec["ssm"]},
        }
        if windows:
            doc["Platform"] = "windows"
        out[image_id] = {k: v for k, v in doc.items() if v is not None}
    return out


def public_parameters(region: str) -> dict[str, str]:
    """SSM public parameter name → image id of this region."""
    out: dict[str, str] = {}
    for image_id, doc in public_images(region).items():
        for name in doc["_nimbus"]["ssm"]:
            out[name] = image_id
    return out


def _image_view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    ready = doc.get("_nimbus", {}).get("ready_at")
    if ready is not None and doc["State"] == "pending" and now >= ready:
        doc["State"] = "available"
    return doc


def find_image(ctx: RequestContext, image_id: str, txn: Txn | None = None) -> dict[str, Any]:
    """An image this account may launch in this region; AWS's errors otherwise."""
    check_ids("ami", [image_id])
    public = public_images(ctx.region).get(image_id)
    if public is not None:
        return public
    read = txn or ctx.store.read
    index = read.get(INDEX_KIND, image_id, "")
    if index is not None and index["Scope"].split("/")[1] == ctx.region:
        if index["Scope"] == ctx.scope or index.get("Public") or ctx.account_id in index.get("Users", []):
            doc = read.get(KIND, image_id, index["Scope"])
            if doc is not None:
                return _image_view(doc, ctx.clock.time())
    raise not_found("ami", [image_id])


def image_using_snapshot(txn: Txn, ctx: RequestContext, snapshot_id: str) -> str | None:
    for image_id, doc in txn.scan(KIND, ctx.scope):
        for mapping in doc.get("BlockDeviceMappings", []):
            if mapping.get("Ebs", {}).get("SnapshotId") == snapshot_id:
                return image_id
    return None


def _check_name(ctx: RequestContext, txn: Txn, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceError("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, "
                           "'(', ')', '.', '-', '/' and '_'", 400)
    for _, doc in txn.scan(KIND, ctx.scope):
        if doc["Name"] == name:
            raise ServiceError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {doc['ImageId']}", 400)
    return name


def _store(txn: Txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
    txn.put(KIND, doc["ImageId"], doc, ctx.scope)
    txn.put(INDEX_KIND, doc["ImageId"], {"Scope": ctx.scope, "Public": False, "Users": []}, "")


def _new_image(ctx: RequestContext, name: str, description: str, template: dict[str, Any], mappings: list[dict[str, Any]],
               tag_list: list[dict[str, str]]) -> dict[str, Any]:
    now = ctx.clock.time()
    image_id = new_id("ami")
    doc = {
        "Architecture": template["Architecture"],
        "CreationDate": ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "ImageId": image_id,
        "ImageLocation": f"{ctx.account_id}/{name}",
        "ImageType": "machine",
        "Public": False,
        "OwnerId": ctx.account_id,
        "PlatformDetails": template.get("PlatformDetails", "Linux/UNIX"),
        "UsageOperation": template.get("UsageOperation", "RunInstances"),
        "State": "pending",
        "BlockDeviceMappings": mappings,
        "Description": description,
        "EnaSupport": True,
        "Hypervisor": "xen",
        "Name": name,
        "RootDeviceName": template.get("RootDeviceName", "/dev/xvda"),
        "RootDeviceType": "ebs",
        "SriovNetSupport": "simple",
        "VirtualizationType": "hvm",
        "Tags": tag_list,
        "_nimbus": {"ready_at": now + IMAGE_READY, "default_user": template.get("_nimbus", {}).get("default_user", "ec2-user"),
                    "source": template.get("_nimbus", {}).get("source")},
    }
    if template.get("Platform"):
        doc["Platform"] = template["Platform"]
    return doc


def create_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import ebs, instances

    image_tags = tags.tags_for_type(params.get("TagSpecifications"), "image")
    snapshot_tags = tags.tags_for_type(params.get("TagSpecifications"), "snapshot")
    with ctx.store.transaction() as txn:
        inst = instances.get_instance(txn, ctx, params["InstanceId"])
        state = instances.current_state(inst, ctx.clock.time())
        if state not in ("running", "stopped"):
            raise ServiceError("IncorrectInstanceState", f"The instance '{inst['InstanceId']}' is not in a state from which it can be imaged.", 400)
        name = _check_name(ctx, txn, params.get("Name"))
        dry_run(params)
        mappings = []
        for mapping in inst.get("BlockDeviceMappings", []):
            vol = txn.get(ebs.VOLUME_KIND, mapping["Ebs"]["VolumeId"], ctx.scope)
            if vol is None:
                continue
            snap = ebs.new_snapshot(ctx, volume_id=vol["VolumeId"], size=vol["Size"],
                                    description=f"Created by CreateImage({inst['InstanceId']}) for ami-pending from {vol['VolumeId']}",
                                    encrypted=vol["Encrypted"], kms_key=vol.get("KmsKeyId"), tag_list=snapshot_tags)
            entry: dict[str, Any] = {"DeleteOnTermination": mapping["Ebs"].get("DeleteOnTermination", True), "SnapshotId": snap["SnapshotId"],
                                     "VolumeSize": vol["Size"], "VolumeType": vol["VolumeType"], "Encrypted": vol["Encrypted"]}
            if "Iops" in vol and vol["VolumeType"] != "gp2":
                entry["Iops"] = vol["Iops"]
            if "Throughput" in vol:
                entry["Throughput"] = vol["Throughput"]
            mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": entry})
            txn.put(ebs.SNAPSHOT_KIND, snap["SnapshotId"], snap, ctx.scope)
        template = {"Architecture": inst["Architecture"], "RootDeviceName": inst.get("RootDeviceName", "/dev/xvda"),
                    "PlatformDetails": inst.get("PlatformDetails"), "UsageOperation": inst.get("UsageOperation"),
                    "Platform": inst.get("Platform"), "_nimbus": {"default_user": inst["_nimbus"].get("default_user"), "source": inst["ImageId"]}}
        doc = _new_image(ctx, name, params.get("Description", ""), template, mappings, image_tags)
        for m in mappings:
            snap = txn.get(ebs.SNAPSHOT_KIND, m["Ebs"]["SnapshotId"], ctx.scope)
            snap["Description"] = snap["Description"].replace("ami-pending", doc["ImageId"])
            txn.put(ebs.SNAPSHOT_KIND, snap["SnapshotId"], snap, ctx.scope)
        _store(txn, ctx, doc)
        if not params.get("NoReboot") and state == "running":
            inst["_nimbus"]["reboots"] = inst["_nimbus"].get("reboots", 0) + 1
            instances.put_instance(txn, ctx, inst)
    return {"ImageId": doc["ImageId"]}


def copy_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import ebs

    source_region = params["SourceRegion"]
    source_id = check_ids("ami", [params["SourceImageId"]])[0]
    source_ctx_scope = f"{ctx.account_id}/{source_region}"
    source = public_images(source_region).get(source_id) or ctx.store.read.get(KIND, source_id, source_ctx_scope)
    if source is None:
        index = ctx.store.read.get(INDEX_KIND, source_id, "")
        if index and index["Scope"].endswith("/" + source_region) and (index.get("Public") or ctx.account_id in index.get("Users", [])):
            source = ctx.store.read.get(KIND, source_id, index["Scope"])
    if source is None:
        raise not_found("ami", [source_id])
    _image_view(source, ctx.clock.time())
    if source["State"] != "available":
        raise ServiceError("IncorrectState", f"Image {source_id} is not in a valid state: {source['State']}", 400)
    encrypted = bool(params.get("Encrypted")) or any(m.get("Ebs", {}).get("Encrypted") for m in source["BlockDeviceMappings"])
    if params.get("KmsKeyId") and not params.get("Encrypted"):
        raise ServiceError("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.", 400)
    tag_list = tags.tags_for_type(params.get("TagSpecifications"), "image")
    with ctx.store.transaction() as txn:
        name = _check_name(ctx, txn, params.get("Name"))
        dry_run(params)
        kms_key = ebs.resolve_kms(ctx, params.get("KmsKeyId")) if encrypted else None
        mappings = []
        for m in source["BlockDeviceMappings"]:
            if "Ebs" not in m:
                mappings.append(m)
                continue
            snap = ebs.new_snapshot(ctx, volume_id="vol-ffffffff", size=m["Ebs"]["VolumeSize"],
                                    description=f"Copied for DestinationAmi from SourceAmi {source_id} for SourceSnapshot {m['Ebs'].get('SnapshotId')}",
                                    encrypted=encrypted, kms_key=kms_key, tag_list=[])
            txn.put(ebs.SNAPSHOT_KIND, snap["SnapshotId"], snap, ctx.scope)
            mappings.append({"DeviceName": m["DeviceName"], "Ebs": {**m["Ebs"], "SnapshotId": snap["SnapshotId"], "Encrypted": encrypted}})
        template = dict(source)
        template["_nimbus"] = {"default_user": source.get("_nimbus", {}).get("default_user"), "source": f"{source_region}:{source_id}"}
        doc = _new_image(ctx, name, params.get("Description", source.get("Description", "")), template, mappings, tag_list)
        _store(txn, ctx, doc)
    return {"ImageId": doc["ImageId"]}


def deregister_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import ebs

    image_id = check_ids("ami", [params["ImageId"]])[0]
    with ctx.store.transaction() as txn:
        doc = txn.get(KIND, image_id, ctx.scope)
        if doc is None:
            if image_id in public_images(ctx.region):
                raise ServiceError("AuthFailure", f"Not authorized for image:{image_id}", 400)
            raise not_found("ami", [image_id])
        dry_run(params)
        txn.delete(KIND, image_id, ctx.scope)
        txn.delete(INDEX_KIND, image_id, "")
        if params.get("DeleteAssociatedSnapshots"):
            for m in doc["BlockDeviceMappings"]:
                if m.get("Ebs", {}).get("SnapshotId"):
                    txn.delete(ebs.SNAPSHOT_KIND, m["Ebs"]["SnapshotId"], ctx.scope)
    return {"Return": True}


IMAGE_FILTERS = {
    "architecture": "Architecture", "block-device-mapping.delete-on-termination": lambda i: [m["Ebs"].get("DeleteOnTermination") for m in i["BlockDeviceMappings"] if "Ebs" in m],
    "block-device-mapping.device-name": lambda i: [m["DeviceName"] for m in i["BlockDeviceMappings"]],
    "block-device-mapping.snapshot-id": lambda i: [m["Ebs"].get("SnapshotId") for m in i["BlockDeviceMappings"] if "Ebs" in m],
    "block-device-mapping.volume-size": lambda i: [m["Ebs"].get("VolumeSize") for m in i["BlockDeviceMappings"] if "Ebs" in m],
    "block-device-mapping.volume-type": lambda i: [m["Ebs"].get("VolumeType") for m in i["BlockDeviceMappings"] if "Ebs" in m],
    "block-device-mapping.encrypted": lambda i: [m["Ebs"].get("Encrypted") for m in i["BlockDeviceMappings"] if "Ebs" in m],
    "creation-date": "CreationDate", "description": "Description", "ena-support": "EnaSupport", "hypervisor": "Hypervisor",
    "image-id": "ImageId", "image-type": "ImageType", "is-public": "Public", "manifest-location": "ImageLocation", "name": "Name",
    "owner-alias": "ImageOwnerAlias", "owner-id": "OwnerId", "platform": "Platform", "platform-details": "PlatformDetails",
    "root-device-name": "RootDeviceName", "root-device-type": "RootDeviceType", "state": "State", "usage-operation": "UsageOperation",
    "virtualization-type": "VirtualizationType", "sriov-net-support": "SriovNetSupport", "boot-mode": "BootMode",
    "imds-support": "ImdsSupport", "source-instance-id": lambda i: None,
}


def describe_images(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = check_ids("ami", params.get("ImageIds") or [])
    owners = params.get("Owners") or []
    users = params.get("ExecutableUsers") or []
    now = ctx.clock.time()
    read = ctx.store.read
    items: dict[str, dict[str, Any]] = {}
    for image_id, doc in read.scan(KIND, ctx.scope):
        items[image_id] = _image_view(doc, now)
    for image_id, index in read.scan(INDEX_KIND, ""):
        if image_id in items or not index["Scope"].endswith("/" + ctx.region):
            continue
        if index.get("Public") or ctx.account_id in index.get("Users", []):
            doc = read.get(KIND, image_id, index["Scope"])
            if doc is not None:
                items[image_id] = _image_view(doc, now)
    if not ids or any(i in public_images(ctx.region) for i in ids) or owners or params.get("Filters"):
        items.update(public_images(ctx.region))
    docs = list(items.values())
    if ids:
        missing = [i for i in ids if i not in items]
        if missing:
            raise not_found("ami", missing)
        docs = [d for d in docs if d["ImageId"] in ids]
    if owners:
        aliases = _data()["owner_alias"]
        wanted: set[str] = set()
        for owner in owners:
            if owner == "self":
                wanted.add(ctx.account_id)
            elif owner == "amazon":
                wanted.update({aliases["amazon"], aliases["microsoft"]})
            elif owner in aliases:
                wanted.add(aliases[owner])
            elif owner == "aws-marketplace":
                wanted.add("679593333241")
            else:
                wanted.add(owner)
        docs = [d for d in docs if d["OwnerId"] in wanted or d.get("ImageOwnerAlias") in owners]
    if users:
        def executable(d: dict[str, Any]) -> bool:
            if d.get("Public") and "all" in users:
                return True
            index = read.get(INDEX_KIND, d["ImageId"], "") or {}
            return any(u == "self" and d["OwnerId"] == ctx.account_id or u in index.get("Users", []) for u in users)
        docs = [d for d in docs if executable(d)]
    docs = apply_filters(docs, params.get("Filters"), IMAGE_FILTERS)
    result, token = page(sorted(docs, key=lambda d: d["ImageId"]), params, "ImageId", minimum=1, maximum=1000)
    out: dict[str, Any] = {"Images": result}
    if token:
        out["NextToken"] = token
    return out


def _own_image(txn: Txn, ctx: RequestContext, image_id: str) -> dict[str, Any]:
    check_ids("ami", [image_id])
    doc = txn.get(KIND, image_id, ctx.scope)
    if doc is None:
        if image_id in public_images(ctx.region):
            raise ServiceError("AuthFailure", f"Not authorized for image:{image_id}", 400)
        raise not_found("ami", [image_id])
    return doc


def modify_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction() as txn:
        doc = _own_image(txn, ctx, params["ImageId"])
        index = txn.get(INDEX_KIND, doc["ImageId"], "") or {"Scope": ctx.scope, "Public": False, "Users": []}
        permission = params.get("LaunchPermission") or {}
        add, remove = list(permission.get("Add") or []), list(permission.get("Remove") or [])
        kind = params.get("OperationType")
        if params.get("Attribute") == "launchPermission" and kind:
            entries = [{"UserId": u} for u in params.get("UserIds") or []] + [{"Group": g} for g in params.get("UserGroups") or []]
            (add if kind == "add" else remove).extend(entries)
        if "Description" in params:
            doc["Description"] = params["Description"].get("Value", "")
        for entry in add:
            if entry.get("Group") == "all":
                index["Public"] = True
            elif entry.get("UserId"):
                if not re.match(r"^\d{12}$", entry["UserId"]):
                    raise ServiceError("InvalidAMIAttributeItemValue", f"Invalid attribute item value \"{entry['UserId']}\" for userId item type.", 400)
                if entry["UserId"] not in index["Users"]:
                    index["Users"].append(entry["UserId"])
        for entry in remove:
            if entry.get("Group") == "all":
                index["Public"] = False
            elif entry.get("UserId") in index["Users"]:
                index["Users"].remove(entry["UserId"])
        dry_run(params)
        doc["Public"] = index["Public"]
        txn.put(KIND, doc["ImageId"], doc, ctx.scope)
        txn.put(INDEX_KIND, doc["ImageId"], index, "")
    return {}


def describe_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["Attribute"]
    image_id = params["ImageId"]
    doc = _own_image(ctx.store.read, ctx, image_id)
    out: dict[str, Any] = {"ImageId": image_id}
    if attribute == "launchPermission":
        index = ctx.store.read.get(INDEX_KIND, image_id, "") or {}
        perms = [{"UserId": u} for u in index.get("Users", [])]
        if index.get("Public"):
            perms.append({"Group": "all"})
        out["LaunchPermissions"] = perms
    elif attribute == "description":
        out["Description"] = {"Value": doc.get("Description", "")}
    elif attribute == "blockDeviceMapping":
        out["BlockDeviceMappings"] = doc["BlockDeviceMappings"]
    elif attribute == "bootMode":
        out["BootMode"] = {"Value": doc.get("BootMode", "legacy-bios")}
    elif attribute in ("kernel", "ramdisk", "productCodes", "sriovNetSupport", "imdsSupport", "lastLaunchedTime",
                       "uefiData", "tpmSupport", "deregistrationProtection"):
        pass
    else:
        raise ServiceError("InvalidParameterValue", f"Value ({attribute}) for parameter attribute is invalid. Unknown attribute.", 400)
    return out


def reset_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction() as txn:
        doc = _own_image(txn, ctx, params["ImageId"])
        dry_run(params)
        txn.put(INDEX_KIND, doc["ImageId"], {"Scope": ctx.scope, "Public": False, "Users": []}, "")
        doc["Public"] = False
        txn.put(KIND, doc["ImageId"], doc, ctx.scope)
    return {}
