"""Instances: RunInstances, the life cycle on the simulation clock, and Describe.

An instance is one ``ec2:instance`` record in DescribeInstances' shape (PascalCase), so
Describe returns it as stored; what AWS does not show lives under ``_nimbus``:

* ``timeline``: ``[[t, state], ...]``: the state at time *now* is the last entry with
  ``t <= now`` (pending → running after ``BOOT_SECONDS``; stopping → stopped; shutting-down
  → terminated, then hidden after ``TERMINATED_VISIBLE``).  Nothing needs a timer.
* ``reservation``, ``user_data`` (base64, as given), ``ssh_public_key`` (the key pair's
  OpenSSH public key at launch), ``default_user``, ``auto_public`` (the subnet mapped a
  public address), ``disable_api_termination``, ``shutdown_behavior``, ``spot`` …

A later runtime attaches from this record alone: subnet, private IP, security groups,
key, user data, volumes, instance profile and ENIs are all here.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import ami, capacity, compute_catalog, ebs, hosts, keypair, network_api, tags
from .compute_common import check_ids, decode_token, dry_run, encode_token, malformed, max_results, not_found
from .filters import apply_filters
from .ids import new_id

KIND = "ec2:instance"
TOKEN_KIND = "ec2:client-token"
tags.register("i", KIND, "instance")

BOOT_SECONDS = 5.0
STOP_SECONDS = 5.0
TERMINATE_SECONDS = 5.0
TERMINATED_VISIBLE = 3600.0
STATUS_INITIALIZING = 60.0
USER_DATA_LIMIT = 16 * 1024
CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
_STATES = {name: {"Code": code, "Name": name} for name, code in CODES.items()}


def _gmt(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S GMT")


# -- state ------------------------------------------------------------------------------

def current_state(doc: dict[str, Any], now: float) -> str:
    state = "pending"
    for t, name in doc["_nimbus"]["timeline"]:
        if t <= now:
            state = name
        else:
            break
    return state


def _transition_time(doc: dict[str, Any], name: str) -> float | None:
    for t, s in reversed(doc["_nimbus"]["timeline"]):
        if s == name:
            return t
    return None


def visible(doc: dict[str, Any], now: float) -> bool:
    if current_state(doc, now) != "terminated":
        return True
    return now < (_transition_time(doc, "terminated") or now) + TERMINATED_VISIBLE


def view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    """The record as Describe shows it at ``now`` (state derived from the timeline)."""
    doc["State"] = _STATES[current_state(doc, now)]
    return doc


def _set_timeline(doc: dict[str, Any], now: float, *steps: tuple[float, str]) -> None:
    timeline = [entry for entry in doc["_nimbus"]["timeline"] if entry[0] <= now]
    timeline.extend([now + delay, name] for delay, name in steps)
    doc["_nimbus"]["timeline"] = timeline[-6:]


# -- records -----------------------------------------------------------------------------

def get_instance(txn: Txn, ctx: RequestContext, instance_id: Any) -> dict[str, Any]:
    if not isinstance(instance_id, str) or not _is_instance_id(instance_id):
        raise malformed("i", str(instance_id))
    doc = txn.get(KIND, instance_id, ctx.scope)
    if doc is None or not visible(doc, ctx.clock.time()):
        raise not_found("i", [instance_id])
    return doc


def put_instance(txn: Txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
    txn.put(KIND, doc["InstanceId"], doc, ctx.scope)


_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


def _is_instance_id(value: str) -> bool:
    return bool(_INSTANCE_ID.match(value))


def _instances(txn: Txn, ctx: RequestContext, ids: list[str]) -> list[dict[str, Any]]:
    for value in ids:
        if not isinstance(value, str) or not _is_instance_id(value):
            raise malformed("i", str(value))
    now = ctx.clock.time()
    docs, missing = [], []
    for value in dict.fromkeys(ids):
        doc = txn.get(KIND, value, ctx.scope)
        if doc is None or not visible(doc, now):
            missing.append(value)
        else:
            docs.append(doc)
    if missing:
        raise not_found("i", missing)
    return docs


def _eni_view(eni: dict[str, Any]) -> dict[str, Any]:
    keys = ("Association", "Attachment", "Description", "Groups", "Ipv6Addresses", "MacAddress", "NetworkInterfaceId", "OwnerId",
            "PrivateDnsName", "PrivateIpAddress", "PrivateIpAddresses", "SourceDestCheck", "Status", "SubnetId", "VpcId", "InterfaceType")
    out = {k: eni[k] for k in keys if k in eni}
    if "Attachment" in out:
        out["Attachment"] = {k: v for k, v in out["Attachment"].items() if k not in ("InstanceId", "InstanceOwnerId")}
    return out


def sync_network(txn: Txn, ctx: RequestContext, doc: dict[str, Any]) -> bool:
    """Copy the instance's ENIs (public address, groups) into its record; True if it changed."""
    enis = []
    for entry in doc.get("NetworkInterfaces", []):
        eni = txn.get("ec2:network-interface", entry["NetworkInterfaceId"], ctx.scope)
        if eni is not None:
            enis.append(_eni_view(eni))
    if not enis:
        return False
    before = (doc.get("PublicIpAddress"), doc.get("SecurityGroups"), doc.get("NetworkInterfaces"))
    doc["NetworkInterfaces"] = enis
    primary = next((e for e in enis if e.get("Attachment", {}).get("DeviceIndex") == 0), enis[0])
    association = primary.get("Association")
    if association:
        doc["PublicIpAddress"] = association["PublicIp"]
        doc["PublicDnsName"] = association.get("PublicDnsName", "")
    else:
        doc.pop("PublicIpAddress", None)
        doc["PublicDnsName"] = ""
    doc["SecurityGroups"] = primary.get("Groups", [])
    doc["SourceDestCheck"] = primary.get("SourceDestCheck", True)
    return before != (doc.get("PublicIpAddress"), doc.get("SecurityGroups"), doc.get("NetworkInterfaces"))


def on_changes(runtime: Any, changes: list[Any]) -> None:
    """Change feed: an ENI changed (an Elastic IP associated, groups modified) → refresh its instance."""
    touched = [c for c in changes if c.kind == "ec2:network-interface" and c.op == "put"]
    if not touched:
        return
    store = runtime.store
    updates = []
    for change in touched:
        eni = store.read.get(change.kind, change.key, change.scope)
        instance_id = ((eni or {}).get("Attachment") or {}).get("InstanceId")
        if not instance_id:
            continue
        doc = store.read.get(KIND, instance_id, change.scope)
        if doc is None:
            continue
        view_eni = _eni_view(eni)
        current = next((e for e in doc.get("NetworkInterfaces", []) if e["NetworkInterfaceId"] == change.key), None)
        if current != view_eni:
            updates.append((change.scope, instance_id))
    if not updates:
        return

    class _Ctx:  # the scope is all sync_network needs
        def __init__(self, scope: str) -> None:
            self.scope = scope

    with store.transaction() as txn:
        for scope, instance_id in dict.fromkeys(updates):
            doc = txn.get(KIND, instance_id, scope)
            if doc is not None and sync_network(txn, _Ctx(scope), doc):  # type: ignore[arg-type]
                txn.put(KIND, instance_id, doc, scope)


# -- RunInstances -----------------------------------------------------------------------

def _user_data(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.", 400) from None
    if len(raw) > USER_DATA_LIMIT:
        raise ServiceError("InvalidParameterValue", f"User data is limited to {USER_DATA_LIMIT} bytes", 400)
    return text


def _instance_profile(txn: Txn, ctx: RequestContext, spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """The instance profile named by Arn or Name (read from IAM's records; AWS's error if absent)."""
    if not spec:
        return None
    arn, name = spec.get("Arn"), spec.get("Name")
    if arn:
        match = re.match(r"^arn:aws[\w-]*:iam::(\d{12}):instance-profile/(?:.*/)?([\w+=,.@-]+)$", arn)
        if not match:
            raise ServiceError("InvalidParameterValue", f"Value ({arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", 400)
        name = match.group(2)
    record = txn.get("iam:instance-profile", name, ctx.account_id) if name else None
    if record is None:
        param, value = ("arn", arn) if arn else ("name", name)
        raise ServiceError("InvalidParameterValue",
                           f"Value ({value}) for parameter iamInstanceProfile.{param} is invalid. Invalid IAM Instance Profile {param}", 400)
    role_arns = []
    for role in record.get("roles") or record.get("Roles") or []:
        if isinstance(role, dict):
            role_arns.append(role.get("Arn") or role.get("arn"))
        else:
            doc = txn.get("iam:role", role, ctx.account_id)
            role_arns.append((doc or {}).get("arn") or f"arn:aws:iam::{ctx.account_id}:role/{role}")
    _check_pass_role(ctx, [a for a in role_arns if a])
    return {"Arn": record.get("arn") or record.get("Arn") or f"arn:aws:iam::{ctx.account_id}:instance-profile/{name}",
            "Id": record.get("id") or record.get("InstanceProfileId") or ""}


def _check_pass_role(ctx: RequestContext, role_arns: list[str]) -> None:
    """iam:PassRole on each role of the profile, decided by the IAM policy engine (root may always)."""
    if not role_arns or getattr(ctx.principal, "kind", "root") == "root":
        return
    try:
        from ...iam.authorizer import denied_error, iam_state
        from ...iam.engine import LazyContext
    except ImportError:  # pragma: no cover - engine not present
        return
    state = iam_state(ctx.runtime)
    policies = state.engine.policies_for(ctx.principal)
    for role_arn in role_arns:
        context = LazyContext(ctx, ctx.principal, policies, {"iam:PassedToService": "ec2.amazonaws.com"}, None)
        decision = state.engine.decide(ctx.principal, "iam:PassRole", role_arn, context, policies, None)
        if not decision.allowed and state.enforce:
            raise denied_error(ctx, "iam:PassRole", decision)


def _block_devices(ctx: RequestContext, image: dict[str, Any], requested: list[dict[str, Any]] | None, tag_list: list[dict[str, str]],
                   zone: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(device, volume template, delete on termination) for each EBS device of the launch."""
    by_device: dict[str, dict[str, Any]] = {}
    for m in image.get("BlockDeviceMappings", []):
        if "Ebs" in m:
            by_device[m["DeviceName"]] = dict(m["Ebs"])
    for m in requested or []:
        device = m.get("DeviceName")
        if not device:
            raise ServiceError("InvalidBlockDeviceMapping", "The device name must be specified.", 400)
        if "NoDevice" in m:
            by_device.pop(device, None)
            continue
        if m.get("VirtualName"):
            continue  # instance-store volumes come with the type
        spec = m.get("Ebs")
        if spec is None:
            continue
        merged = dict(by_device.get(device) or {})
        if device not in by_device:
            merged = {"DeleteOnTermination": True}
            if not spec.get("VolumeSize") and not spec.get("SnapshotId"):
                raise ServiceError("InvalidBlockDeviceMapping", f"The device '{device}' requires a volume size or a snapshot.", 400)
        for key in ("DeleteOnTermination", "Iops", "SnapshotId", "VolumeSize", "VolumeType", "KmsKeyId", "Throughput", "Encrypted"):
            if key in spec:
                merged[key] = spec[key]
        if "VolumeType" in spec and spec["VolumeType"] != by_device.get(device, {}).get("VolumeType"):
            if "Iops" not in spec:
                merged.pop("Iops", None)
            if "Throughput" not in spec:
                merged.pop("Throughput", None)
        by_device[device] = merged
    root = image.get("RootDeviceName")
    out = []
    for device, spec in by_device.items():
        volume_type = spec.get("VolumeType") or "gp2"
        size = spec.get("VolumeSize")
        snapshot_size = None
        if spec.get("SnapshotId"):
            snapshot_size = next((m["Ebs"].get("VolumeSize") for m in image.get("BlockDeviceMappings", [])
                                  if m.get("Ebs", {}).get("SnapshotId") == spec["SnapshotId"]), None)
            if snapshot_size is None:
                snap = ctx.store.read.get(ebs.SNAPSHOT_KIND, spec["SnapshotId"], ctx.scope)
                if snap is None:
                    raise not_found("snap", [spec["SnapshotId"]])
                snapshot_size = snap["VolumeSize"]
            if size is None:
                size = snapshot_size
            elif size < snapshot_size:
                raise ServiceError("InvalidBlockDeviceMapping",
                                   f"Volume of size {size}GB is smaller than snapshot '{spec['SnapshotId']}', expect size>= {snapshot_size}GB", 400)
        if device == root and volume_type in ("st1", "sc1"):
            raise ServiceError("InvalidBlockDeviceMapping", f"Volume type {volume_type} is not supported for the root device; "
                               "st1 and sc1 volumes cannot be boot volumes.", 400)
        iops, throughput = ebs.validate_volume(volume_type, size, spec.get("Iops") if volume_type != "gp2" else None,
                                               spec.get("Throughput"))
        out.append((device, {"size": size, "volume_type": volume_type, "iops": iops, "throughput": throughput,
                             "encrypted": bool(spec.get("Encrypted")), "kms": spec.get("KmsKeyId"), "snapshot": spec.get("SnapshotId")},
                    spec.get("DeleteOnTermination", True)))
    return out


def _launch_common(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Validate everything RunInstances checks before creating anything."""
    min_count, max_count = params.get("MinCount"), params.get("MaxCount")
    if min_count is None or max_count is None:
        raise ServiceError("MissingParameter", f"The request must contain the parameter {'MinCount' if min_count is None else 'MaxCount'}", 400)
    if min_count < 1:
        raise ServiceError("InvalidParameterValue", f"Value ({min_count}) for parameter minCount is invalid. Expected: 'greater than 0'.", 400)
    if max_count < min_count:
        raise ServiceError("InvalidParameterValue", f"Value ({max_count}) for parameter maxCount is invalid. Expected: 'greater than or equal to minCount'.", 400)
    if not params.get("ImageId"):
        raise ServiceError("MissingParameter", "The request must contain the parameter ImageId", 400)
    image = ami.find_image(ctx, params["ImageId"])
    if image["State"] != "available":
        raise ServiceError("InvalidAMIID.Unavailable", f"AMI '{image['ImageId']}' is pending, and cannot be run", 400)
    type_name = params.get("InstanceType") or "m1.small"
    itype = compute_catalog.instance_type(type_name)
    if itype is None:
        raise ServiceError("InvalidParameterValue", f"Invalid value '{type_name}' for InstanceType.", 400)
    arches = itype["ProcessorInfo"]["SupportedArchitectures"]
    if image["Architecture"] not in arches:
        raise ServiceError("InvalidParameterValue",
                           f"The architecture '{arches[-1]}' of the specified instance type does not match the architecture "
                           f"'{image['Architecture']}' of the specified AMI. Specify an instance type and an AMI that have matching "
                           "architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover "
                           "the architecture of the instance type or AMI.", 400)
    user_data = _user_data(params.get("UserData"))
    key = None
    if params.get("KeyName"):
        key = keypair.find(ctx, params["KeyName"])
        if key is None:
            raise ServiceError("InvalidKeyPair.NotFound", f"The key pair '{params['KeyName']}' does not exist", 400)
    placement = params.get("Placement") or {}
    tenancy = placement.get("Tenancy") or ("host" if placement.get("HostId") else "default")
    if tenancy not in ("default", "dedicated", "host"):
        raise ServiceError("InvalidParameterValue", f"Value ({tenancy}) for parameter tenancy is invalid.", 400)
    affinity = placement.get("Affinity")
    if affinity is not None and affinity not in ("default", "host"):
        raise ServiceError("InvalidParameterValue", f"Value ({affinity}) for parameter affinity is invalid.", 400)
    if (placement.get("HostId") or affinity) and tenancy != "host":
        raise ServiceError("InvalidParameterCombination", "A host ID or affinity can be specified only with tenancy 'host'.", 400)
    if affinity == "host" and not placement.get("HostId"):
        raise ServiceError("InvalidParameterCombination", "A host ID is required when affinity is 'host'.", 400)
    reservation_spec = capacity.check_specification(params.get("CapacityReservationSpecification"))
    if tenancy != "default" and itype.get("BurstablePerformanceSupported"):
        raise ServiceError("InvalidParameterCombination", f"The instance type '{type_name}' does not support {tenancy} tenancy.", 400)
    if params.get("PrivateIpAddress") and max_count > 1:
        raise ServiceError("InvalidParameterCombination", "Cannot specify a private IP address when launching more than one instance.", 400)
    behavior = params.get("InstanceInitiatedShutdownBehavior") or "stop"
    if behavior not in ("stop", "terminate"):
        raise ServiceError("InvalidParameterValue", f"Value ({behavior}) for parameter instanceInitiatedShutdownBehavior is invalid.", 400)
    tag_specs = params.get("TagSpecifications")
    for spec in tag_specs or []:
        if spec.get("ResourceType") not in ("instance", "volume", "network-interface", "spot-instances-request"):
            raise ServiceError("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.", 400)
    return {"image": image, "itype": itype, "type_name": type_name, "user_data": user_data, "key": key,
            "tenancy": tenancy, "behavior": behavior, "reservation_spec": reservation_spec, "min": min_count, "max": max_count,
            "instance_tags": tags.tags_for_type(tag_specs, "instance"),
            "volume_tags": tags.tags_for_type(tag_specs, "volume"),
            "eni_tags": tags.tags_for_type(tag_specs, "network-interface")}


def with_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """RunInstances parameters with those of the ``LaunchTemplate`` it names merged in."""
    spec = params.get("LaunchTemplate")
    if not spec:
        return params
    from . import launch_templates

    template, version = launch_templates.resolve(ctx, spec)
    return launch_templates.merge(params, template, version)


def run_instances(ctx: RequestContext, params: dict[str, Any], *, spot: dict[str, Any] | None = None) -> dict[str, Any]:
    token = params.get("ClientToken")
    if token:
        previous = ctx.store.read.get(TOKEN_KIND, token, ctx.scope)
        if previous is not None:
            return _reservation_output(ctx, previous["ReservationId"], previous["InstanceIds"])
    params = with_launch_template(ctx, params)
    launch = _launch_common(ctx, params)
    image, itype = launch["image"], launch["itype"]
    placement = params.get("Placement") or {}
    interfaces = params.get("NetworkInterfaces") or []
    primary_spec = next((n for n in interfaces if n.get("DeviceIndex", 0) == 0), {}) if interfaces else {}
    subnet_id = params.get("SubnetId") or primary_spec.get("SubnetId")
    group_refs = list(params.get("SecurityGroupIds") or []) + list(params.get("SecurityGroups") or []) + list(primary_spec.get("Groups") or [])
    private_ip = params.get("PrivateIpAddress") or primary_spec.get("PrivateIpAddress")
    devices = _block_devices(ctx, image, params.get("BlockDeviceMappings"), launch["volume_tags"], placement.get("AvailabilityZone") or "")
    profile_spec = params.get("IamInstanceProfile")
    now = ctx.clock.time()
    reservation_id = new_id("r")
    count = launch["max"]
    profile = _instance_profile(ctx.store.read, ctx, profile_spec)  # outside the transaction: a denial records itself
    with ctx.store.transaction() as txn:
        if subnet_id:
            subnet = network_api.get_subnet(txn, ctx, subnet_id)
            if placement.get("AvailabilityZone") and placement["AvailabilityZone"] != subnet["AvailabilityZone"]:
                raise ServiceError("InvalidParameterValue",
                                   f"Value ({placement['AvailabilityZone']}) for parameter availabilityZone is invalid. "
                                   f"Subnet '{subnet_id}' is in the availability zone {subnet['AvailabilityZone']}", 400)
        else:
            subnet = network_api.default_subnet(txn, ctx, placement.get("AvailabilityZone"))
        groups = network_api.get_security_groups(txn, ctx, group_refs, subnet["VpcId"])
        if launch["tenancy"] == "default":
            vpc = txn.get("ec2:vpc", subnet["VpcId"], ctx.scope) or {}
            if vpc.get("InstanceTenancy") == "dedicated":
                launch["tenancy"] = "dedicated"  # a dedicated VPC runs every instance on single-tenant hardware
                if itype.get("BurstablePerformanceSupported"):
                    raise ServiceError("InvalidParameterCombination",
                                       f"The instance type '{launch['type_name']}' does not support dedicated tenancy.", 400)
        if spot is None:
            capacity.check_target(txn, ctx, launch["reservation_spec"], launch["type_name"], image.get("PlatformDetails", "Linux/UNIX"),
                                  subnet["AvailabilityZone"], launch["tenancy"], count)
        elif launch["reservation_spec"].get("CapacityReservationTarget"):
            raise ServiceError("InvalidParameterCombination", "Spot Instances cannot be launched into a Capacity Reservation.", 400)
        if "AssociatePublicIpAddress" in primary_spec:
            map_public = bool(primary_spec["AssociatePublicIpAddress"])
        else:
            map_public = bool(subnet.get("MapPublicIpOnLaunch"))
        kms_default = None
        encrypt_default = ebs.settings(ctx, txn)["EncryptionByDefault"]
        dry_run(params)
        docs = []
        for index in range(count):
            instance_id = new_id("i")
            ip = network_api.allocate_private_ip(txn, ctx, subnet["SubnetId"], private_ip)
            eni = network_api.create_network_interface_record(
                txn, ctx, subnet["SubnetId"], [g["GroupId"] for g in groups], ip, "",
                attachment={"InstanceId": instance_id, "DeviceIndex": 0}, tags=launch["eni_tags"])
            if map_public:
                eni = network_api.set_public_ip(txn, ctx, eni["NetworkInterfaceId"], network_api.public_ip_pool_allocate(txn, ctx))
            mappings = []
            for device, spec, delete_on_termination in devices:
                encrypted = spec["encrypted"] or encrypt_default
                kms_key = None
                if encrypted:
                    if spec["kms"] or kms_default is None:
                        kms_key = ebs.resolve_kms(ctx, spec["kms"])
                        if not spec["kms"]:
                            kms_default = kms_key
                    else:
                        kms_key = kms_default
                vol = ebs.new_volume(ctx, zone=subnet["AvailabilityZone"], size=spec["size"], volume_type=spec["volume_type"],
                                     iops=spec["iops"], throughput=spec["throughput"], encrypted=encrypted, kms_key=kms_key,
                                     snapshot_id=spec["snapshot"], multi_attach=False, tag_list=launch["volume_tags"], ready_at=now)
                ebs.attach_record(vol, instance_id, device, now, delete_on_termination)
                txn.put(ebs.VOLUME_KIND, vol["VolumeId"], vol, ctx.scope)
                mappings.append({"DeviceName": device, "Ebs": {"AttachTime": now, "DeleteOnTermination": delete_on_termination,
                                                                "Status": "attached", "VolumeId": vol["VolumeId"]}})
            doc = _new_record(ctx, launch, params, instance_id, reservation_id, index, now, subnet, eni, mappings, profile, spot)
            if launch["tenancy"] == "host":
                host = hosts.place(txn, ctx, instance_id, launch["type_name"], subnet["AvailabilityZone"], placement.get("HostId"),
                                   placement.get("Affinity"))
                doc["Placement"]["HostId"] = host["HostId"]
                doc["Placement"]["Affinity"] = placement.get("Affinity") or "default"
            if spot is None:
                capacity.consume(txn, ctx, doc)
            put_instance(txn, ctx, doc)
            docs.append(doc)
        if token:
            txn.put(TOKEN_KIND, token, {"ReservationId": reservation_id, "InstanceIds": [d["InstanceId"] for d in docs]}, ctx.scope)
    return _reservation(ctx, reservation_id, [view(d, now) for d in docs])


def _new_record(ctx: RequestContext, launch: dict[str, Any], params: dict[str, Any], instance_id: str, reservation_id: str,
                index: int, now: float, subnet: dict[str, Any], eni: dict[str, Any], mappings: list[dict[str, Any]],
                profile: dict[str, Any] | None, spot: dict[str, Any] | None) -> dict[str, Any]:
    image, itype = launch["image"], launch["itype"]
    vcpu = itype["VCpuInfo"]
    options = params.get("CpuOptions") or {}
    metadata = params.get("MetadataOptions") or {}
    eni_view = _eni_view(eni)
    association = eni.get("Association")
    windows = image.get("Platform") == "windows"
    doc: dict[str, Any] = {
        "AmiLaunchIndex": index,
        "ImageId": image["ImageId"],
        "InstanceId": instance_id,
        "InstanceType": launch["type_name"],
        "LaunchTime": now,
        "Monitoring": {"State": "enabled" if (params.get("Monitoring") or {}).get("Enabled") else "disabled"},
        "Placement": {"AvailabilityZone": subnet["AvailabilityZone"], "GroupName": (params.get("Placement") or {}).get("GroupName", ""),
                      "Tenancy": launch["tenancy"]},
        "PrivateDnsName": eni["PrivateDnsName"],
        "PrivateIpAddress": eni["PrivateIpAddress"],
        "ProductCodes": [],
        "PublicDnsName": association["PublicDnsName"] if association else "",
        "State": _STATES["pending"],
        "StateTransitionReason": "",
        "SubnetId": subnet["SubnetId"],
        "VpcId": subnet["VpcId"],
        "Architecture": image["Architecture"],
        "BlockDeviceMappings": mappings,
        "ClientToken": params.get("ClientToken") or "",
        "EbsOptimized": bool(params.get("EbsOptimized")),
        "EnaSupport": True,
        "Hypervisor": "xen",
        "NetworkInterfaces": [eni_view],
        "RootDeviceName": image.get("RootDeviceName", "/dev/xvda"),
        "RootDeviceType": "ebs",
        "SecurityGroups": eni["Groups"],
        "SourceDestCheck": True,
        "Tags": list(launch["instance_tags"]),
        "VirtualizationType": "hvm",
        "CpuOptions": {"CoreCount": options.get("CoreCount", vcpu["DefaultCores"]),
                       "ThreadsPerCore": options.get("ThreadsPerCore", vcpu["DefaultThreadsPerCore"])},
        "CapacityReservationSpecification": launch["reservation_spec"],
        "HibernationOptions": {"Configured": bool((params.get("HibernationOptions") or {}).get("Configured"))},
        "MetadataOptions": {"State": "pending", "HttpTokens": metadata.get("HttpTokens", "required" if image.get("ImdsSupport") == "v2.0" else "optional"),
                            "HttpPutResponseHopLimit": metadata.get("HttpPutResponseHopLimit", 2 if image.get("ImdsSupport") else 1),
                            "HttpEndpoint": metadata.get("HttpEndpoint", "enabled"), "HttpProtocolIpv6": metadata.get("HttpProtocolIpv6", "disabled"),
                            "InstanceMetadataTags": metadata.get("InstanceMetadataTags", "disabled")},
        "EnclaveOptions": {"Enabled": bool((params.get("EnclaveOptions") or {}).get("Enabled"))},
        "BootMode": image.get("BootMode", "legacy-bios") if image.get("BootMode") != "uefi-preferred" else "uefi-preferred",
        "CurrentInstanceBootMode": "uefi" if image.get("BootMode") in ("uefi", "uefi-preferred") and image["Architecture"] == "arm64" else "legacy-bios",
        "PlatformDetails": image.get("PlatformDetails", "Linux/UNIX"),
        "UsageOperation": image.get("UsageOperation", "RunInstances"),
        "UsageOperationUpdateTime": now,
        "PrivateDnsNameOptions": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": False},
        "MaintenanceOptions": {"AutoRecovery": "default"},
        "_nimbus": {
            "timeline": [[now, "pending"], [now + BOOT_SECONDS, "running"]],
            "reservation": reservation_id,
            "requester": ctx.principal.arn if hasattr(ctx.principal, "arn") else "",
            "user_data": launch["user_data"],
            "default_user": image.get("_nimbus", {}).get("default_user", "ec2-user"),
            "auto_public": bool(association),
            "disable_api_termination": bool(params.get("DisableApiTermination")),
            "disable_api_stop": bool(params.get("DisableApiStop")),
            "shutdown_behavior": launch["behavior"],
            "hypervisor_xen": itype.get("Hypervisor") == "xen",
        },
    }
    if association:
        doc["PublicIpAddress"] = association["PublicIp"]
    if launch["key"]:
        doc["KeyName"] = launch["key"]["KeyName"]
        doc["_nimbus"]["ssh_public_key"] = launch["key"]["PublicKey"]
    if profile:
        doc["IamInstanceProfile"] = profile
    if windows:
        doc["Platform"] = "windows"
    template = params.get("_launch_template")
    if template:
        doc["Tags"] = [t for t in doc["Tags"] if not t["Key"].startswith("aws:ec2launchtemplate:")] + [
            {"Key": "aws:ec2launchtemplate:id", "Value": template["id"]},
            {"Key": "aws:ec2launchtemplate:version", "Value": str(template["version"])}]
    if spot:
        doc["InstanceLifecycle"] = "spot"
        doc["SpotInstanceRequestId"] = spot["SpotInstanceRequestId"]
        doc["_nimbus"]["spot"] = {"max_price": spot["max_price"], "behavior": spot["behavior"], "type": spot["type"]}
    return doc


def _reservation(ctx: RequestContext, reservation_id: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ReservationId": reservation_id, "OwnerId": ctx.account_id, "Groups": [], "Instances": docs}


def _reservation_output(ctx: RequestContext, reservation_id: str, ids: list[str]) -> dict[str, Any]:
    now = ctx.clock.time()
    docs = [ctx.store.read.get(KIND, i, ctx.scope) for i in ids]
    return _reservation(ctx, reservation_id, [view(d, now) for d in docs if d is not None])


# -- DescribeInstances ------------------------------------------------------------------------

def _g(*path: str):
    def get(item: dict[str, Any]) -> Any:
        value: Any = item
        for p in path:
            if not isinstance(value, dict):
                return None
            value = value.get(p)
        return value
    return get


def _each(list_key: str, *path: str):
    def get(item: dict[str, Any]) -> list[Any]:
        out = []
        for entry in item.get(list_key) or []:
            value: Any = entry
            for p in path:
                value = value.get(p) if isinstance(value, dict) else None
            if isinstance(value, list):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return out
    return get


def _eni_field(*path: str):
    return _each("NetworkInterfaces", *path)


INSTANCE_FILTERS: dict[str, Any] = {
    "affinity": _g("Placement", "Affinity"),
    "architecture": "Architecture",
    "availability-zone": _g("Placement", "AvailabilityZone"),
    "block-device-mapping.attach-time": _each("BlockDeviceMappings", "Ebs", "AttachTime"),
    "block-device-mapping.delete-on-termination": _each("BlockDeviceMappings", "Ebs", "DeleteOnTermination"),
    "block-device-mapping.device-name": _each("BlockDeviceMappings", "DeviceName"),
    "block-device-mapping.status": _each("BlockDeviceMappings", "Ebs", "Status"),
    "block-device-mapping.volume-id": _each("BlockDeviceMappings", "Ebs", "VolumeId"),
    "boot-mode": "BootMode",
    "capacity-reservation-specification.capacity-reservation-preference": _g("CapacityReservationSpecification", "CapacityReservationPreference"),
    "client-token": "ClientToken",
    "cpu-options.core-count": _g("CpuOptions", "CoreCount"),
    "cpu-options.threads-per-core": _g("CpuOptions", "ThreadsPerCore"),
    "current-instance-boot-mode": "CurrentInstanceBootMode",
    "dns-name": "PublicDnsName",
    "ebs-optimized": "EbsOptimized",
    "ena-support": "EnaSupport",
    "enclave-options.enabled": _g("EnclaveOptions", "Enabled"),
    "hibernation-options.configured": _g("HibernationOptions", "Configured"),
    "host-id": _g("Placement", "HostId"),
    "hypervisor": "Hypervisor",
    "iam-instance-profile.arn": _g("IamInstanceProfile", "Arn"),
    "iam-instance-profile.id": _g("IamInstanceProfile", "Id"),
    "image-id": "ImageId",
    "instance-id": "InstanceId",
    "instance-lifecycle": "InstanceLifecycle",
    "instance-state-code": _g("State", "Code"),
    "instance-state-name": _g("State", "Name"),
    "instance-type": "InstanceType",
    "instance.group-id": _each("SecurityGroups", "GroupId"),
    "instance.group-name": _each("SecurityGroups", "GroupName"),
    "ip-address": "PublicIpAddress",
    "key-name": "KeyName",
    "launch-index": "AmiLaunchIndex",
    "launch-time": lambda d: datetime.fromtimestamp(d["LaunchTime"], tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    "maintenance-options.auto-recovery": _g("MaintenanceOptions", "AutoRecovery"),
    "metadata-options.http-endpoint": _g("MetadataOptions", "HttpEndpoint"),
    "metadata-options.http-protocol-ipv6": _g("MetadataOptions", "HttpProtocolIpv6"),
    "metadata-options.http-put-response-hop-limit": _g("MetadataOptions", "HttpPutResponseHopLimit"),
    "metadata-options.http-tokens": _g("MetadataOptions", "HttpTokens"),
    "metadata-options.instance-metadata-tags": _g("MetadataOptions", "InstanceMetadataTags"),
    "metadata-options.state": _g("MetadataOptions", "State"),
    "monitoring-state": _g("Monitoring", "State"),
    "network-interface.addresses.association.ip-owner-id": _eni_field("PrivateIpAddresses", "Association", "IpOwnerId"),
    "network-interface.addresses.association.public-ip": _eni_field("PrivateIpAddresses", "Association", "PublicIp"),
    "network-interface.addresses.primary": _eni_field("PrivateIpAddresses", "Primary"),
    "network-interface.addresses.private-ip-address": _eni_field("PrivateIpAddresses", "PrivateIpAddress"),
    "network-interface.association.allocation-id": _eni_field("Association", "AllocationId"),
    "network-interface.association.association-id": _eni_field("Association", "AssociationId"),
    "network-interface.association.ip-owner-id": _eni_field("Association", "IpOwnerId"),
    "network-interface.association.public-ip": _eni_field("Association", "PublicIp"),
    "network-interface.attachment.attach-time": _eni_field("Attachment", "AttachTime"),
    "network-interface.attachment.attachment-id": _eni_field("Attachment", "AttachmentId"),
    "network-interface.attachment.delete-on-termination": _eni_field("Attachment", "DeleteOnTermination"),
    "network-interface.attachment.device-index": _eni_field("Attachment", "DeviceIndex"),
    "network-interface.attachment.instance-id": lambda d: [d["InstanceId"]] if d.get("NetworkInterfaces") else [],
    "network-interface.attachment.instance-owner-id": lambda d: [d["_nimbus"].get("owner", "")],
    "network-interface.attachment.network-card-index": _eni_field("Attachment", "NetworkCardIndex"),
    "network-interface.attachment.status": _eni_field("Attachment", "Status"),
    "network-interface.availability-zone": lambda d: [d["Placement"]["AvailabilityZone"]] if d.get("NetworkInterfaces") else [],
    "network-interface.description": _eni_field("Description"),
    "network-interface.group-id": _eni_field("Groups", "GroupId"),
    "network-interface.group-name": _eni_field("Groups", "GroupName"),
    "network-interface.ipv6-addresses.ipv6-address": _eni_field("Ipv6Addresses", "Ipv6Address"),
    "network-interface.mac-address": _eni_field("MacAddress"),
    "network-interface.network-interface-id": _eni_field("NetworkInterfaceId"),
    "network-interface.owner-id": _eni_field("OwnerId"),
    "network-interface.private-dns-name": _eni_field("PrivateDnsName"),
    "network-interface.private-ip-address": _eni_field("PrivateIpAddress"),
    "network-interface.requester-managed": lambda d: [False for _ in d.get("NetworkInterfaces", [])],
    "network-interface.source-dest-check": _eni_field("SourceDestCheck"),
    "network-interface.status": _eni_field("Status"),
    "network-interface.subnet-id": _eni_field("SubnetId"),
    "network-interface.vpc-id": _eni_field("VpcId"),
    "network-interface.interface-type": _eni_field("InterfaceType"),
    "owner-id": lambda d: d["_nimbus"].get("owner"),
    "placement-group-name": _g("Placement", "GroupName"),
    "placement-partition-number": _g("Placement", "PartitionNumber"),
    "platform": "Platform",
    "platform-details": "PlatformDetails",
    "private-dns-name": "PrivateDnsName",
    "private-dns-name-options.hostname-type": _g("PrivateDnsNameOptions", "HostnameType"),
    "private-ip-address": "PrivateIpAddress",
    "product-code": _each("ProductCodes", "ProductCodeId"),
    "product-code.type": _each("ProductCodes", "ProductCodeType"),
    "ramdisk-id": "RamdiskId",
    "kernel-id": "KernelId",
    "reason": "StateTransitionReason",
    "requester-id": lambda d: None,
    "reservation-id": lambda d: d["_nimbus"]["reservation"],
    "root-device-name": "RootDeviceName",
    "root-device-type": "RootDeviceType",
    "source-dest-check": "SourceDestCheck",
    "spot-instance-request-id": "SpotInstanceRequestId",
    "state-reason-code": _g("StateReason", "Code"),
    "state-reason-message": _g("StateReason", "Message"),
    "subnet-id": "SubnetId",
    "tenancy": _g("Placement", "Tenancy"),
    "usage-operation": "UsageOperation",
    "virtualization-type": "VirtualizationType",
    "vpc-id": "VpcId",
    "group-id": _each("SecurityGroups", "GroupId"),
    "group-name": _each("SecurityGroups", "GroupName"),
}


def describe_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("InstanceIds") or []
    filters = params.get("Filters")
    if ids and params.get("MaxResults") is not None:
        raise ServiceError("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults", 400)
    limit = max_results(params, minimum=5, maximum=1000)
    after = decode_token(params.get("NextToken"))
    now = ctx.clock.time()
    read = ctx.store.read
    if ids:
        docs = _instances(read, ctx, ids)
        for doc in docs:
            view(doc, now)
        docs = apply_filters(docs, filters, INSTANCE_FILTERS) if filters else docs
        more = False
    else:
        docs = []
        more = False
        cursor = after
        owner_fields = filters and any(f.get("Name") in ("owner-id", "network-interface.attachment.instance-owner-id") for f in filters)
        while True:
            batch = list(read.scan(KIND, ctx.scope, start_after=cursor, limit=(limit + 1) if limit and not filters else (1000 if limit else None)))
            if not batch:
                break
            cursor = batch[-1][0]
            chunk = []
            for _, doc in batch:
                if visible(doc, now):
                    view(doc, now)
                    if owner_fields:
                        doc["_nimbus"]["owner"] = ctx.account_id
                    chunk.append(doc)
            if filters:
                chunk = apply_filters(chunk, filters, INSTANCE_FILTERS)
            docs.extend(chunk)
            if limit is None:
                break
            if len(docs) > limit:
                break
            if len(batch) < (limit + 1 if not filters else 1000):
                break
        if limit is not None and len(docs) > limit:
            docs = docs[:limit]
            more = True
    reservations: list[dict[str, Any]] = []
    by_reservation: dict[str, dict[str, Any]] = {}
    for doc in docs:
        rid = doc["_nimbus"]["reservation"]
        group = by_reservation.get(rid)
        if group is None:
            group = by_reservation[rid] = {"ReservationId": rid, "OwnerId": ctx.account_id, "Groups": [], "Instances": []}
            if doc.get("_nimbus", {}).get("requester_id"):
                group["RequesterId"] = doc["_nimbus"]["requester_id"]
            reservations.append(group)
        group["Instances"].append(doc)
    out: dict[str, Any] = {"Reservations": reservations}
    if more:
        out["NextToken"] = encode_token(docs[-1]["InstanceId"])
    return out


# -- life cycle ------------------------------------------------------------------------------

def _change(doc: dict[str, Any], previous: str, now: float) -> dict[str, Any]:
    return {"InstanceId": doc["InstanceId"], "CurrentState": _STATES[current_state(doc, now)], "PreviousState": _STATES[previous]}


def _release_public_ip(txn: Txn, ctx: RequestContext, doc: dict[str, Any]) -> None:
    for entry in doc.get("NetworkInterfaces", []):
        association = entry.get("Association")
        if association and not association.get("AllocationId") and entry.get("Attachment", {}).get("DeviceIndex", 0) == 0:
            network_api.set_public_ip(txn, ctx, entry["NetworkInterfaceId"], None)
            network_api.public_ip_pool_release(txn, ctx, association["PublicIp"])
    sync_network(txn, ctx, doc)


def _leave_capacity(txn: Txn, ctx: RequestContext, doc: dict[str, Any], *, stopped: bool) -> None:
    """A stopping or terminating instance frees its capacity reservation slot and its room on a host."""
    capacity.release(txn, ctx, doc)
    host_id = doc["Placement"].get("HostId")
    if host_id:
        hosts.vacate(txn, ctx, host_id, doc["InstanceId"], stopped=stopped)
        if not stopped:
            doc["Placement"].pop("HostId", None)


def stop(txn: Txn, ctx: RequestContext, doc: dict[str, Any], now: float, *, reason: str, code: str, message: str) -> None:
    _set_timeline(doc, now, (0, "stopping"), (STOP_SECONDS, "stopped"))
    _leave_capacity(txn, ctx, doc, stopped=True)
    doc["StateTransitionReason"] = reason
    doc["StateReason"] = {"Code": code, "Message": message}
    _release_public_ip(txn, ctx, doc)
    put_instance(txn, ctx, doc)


def stop_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    out = []
    with ctx.store.transaction() as txn:
        docs = _instances(txn, ctx, params["InstanceIds"])
        for doc in docs:
            state = current_state(doc, now)
            if state in ("terminated", "shutting-down"):
                raise ServiceError("IncorrectInstanceState", f"This instance '{doc['InstanceId']}' is not in a state from which it can be stopped.", 400)
            if doc.get("InstanceLifecycle") == "spot" and doc["_nimbus"].get("spot", {}).get("type") != "persistent":
                raise ServiceError("UnsupportedOperation", f"You can't stop the Spot Instance '{doc['InstanceId']}' because it is associated with "
                                   "a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot "
                                   "Instance requests.", 400)
            if doc["_nimbus"].get("disable_api_stop"):
                raise ServiceError("OperationNotPermitted", f"The instance '{doc['InstanceId']}' may not be stopped. Modify its 'disableApiStop' "
                                   "instance attribute and try again.", 400)
        dry_run(params)
        for doc in docs:
            state = current_state(doc, now)
            if state in ("running", "pending"):
                stop(txn, ctx, doc, now, reason=f"User initiated ({_gmt(now)})", code="Client.UserInitiatedShutdown",
                     message="Client.UserInitiatedShutdown: User initiated shutdown")
            out.append(_change(doc, state, now))
    return {"StoppingInstances": out}


def start_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    out = []
    with ctx.store.transaction() as txn:
        docs = _instances(txn, ctx, params["InstanceIds"])
        for doc in docs:
            state = current_state(doc, now)
            if state not in ("stopped", "running", "pending"):
                raise ServiceError("IncorrectInstanceState", f"The instance '{doc['InstanceId']}' is not in a state from which it can be started.", 400)
        dry_run(params)
        for doc in docs:
            state = current_state(doc, now)
            if state == "stopped":
                if doc["Placement"].get("Tenancy") == "host":
                    hosts.restart(txn, ctx, doc)
                if doc.get("InstanceLifecycle") != "spot":
                    capacity.consume(txn, ctx, doc)
                _set_timeline(doc, now, (0, "pending"), (BOOT_SECONDS, "running"))
                doc["StateTransitionReason"] = ""
                doc.pop("StateReason", None)
                primary = next((e for e in doc.get("NetworkInterfaces", []) if e.get("Attachment", {}).get("DeviceIndex", 0) == 0), None)
                if primary and doc["_nimbus"].get("auto_public") and not primary.get("Association"):
                    network_api.set_public_ip(txn, ctx, primary["NetworkInterfaceId"], network_api.public_ip_pool_allocate(txn, ctx))
                    sync_network(txn, ctx, doc)
                doc["_nimbus"]["starts"] = doc["_nimbus"].get("starts", 0) + 1
                put_instance(txn, ctx, doc)
            out.append(_change(doc, state, now))
    return {"StartingInstances": out}


def terminate(txn: Txn, ctx: RequestContext, doc: dict[str, Any], now: float, *, delay: float = 0.0,
              code: str = "Client.UserInitiatedShutdown", message: str = "Client.UserInitiatedShutdown: User initiated shutdown",
              reason: str | None = None) -> None:
    _set_timeline(doc, now, (delay, "shutting-down"), (delay + TERMINATE_SECONDS, "terminated"))
    _leave_capacity(txn, ctx, doc, stopped=False)
    doc["StateTransitionReason"] = reason or f"User initiated ({_gmt(now)})"
    doc["StateReason"] = {"Code": code, "Message": message}
    for entry in doc.get("NetworkInterfaces", []):
        if entry.get("Attachment", {}).get("DeleteOnTermination", True):
            network_api.delete_network_interface(txn, ctx, entry["NetworkInterfaceId"])
    ebs.instance_gone(txn, ctx, doc["InstanceId"], doc.get("BlockDeviceMappings", []))
    doc["NetworkInterfaces"] = []
    doc["BlockDeviceMappings"] = []
    doc["SecurityGroups"] = []
    doc["PublicDnsName"] = ""
    doc["PrivateDnsName"] = ""
    for key in ("PublicIpAddress", "PrivateIpAddress", "SubnetId", "VpcId"):
        doc.pop(key, None)
    put_instance(txn, ctx, doc)


def terminate_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from . import spot

    now = ctx.clock.time()
    out = []
    with ctx.store.transaction() as txn:
        docs = _instances(txn, ctx, params["InstanceIds"])
        for doc in docs:
            if doc["_nimbus"].get("disable_api_termination"):
                raise ServiceError("OperationNotPermitted", f"The instance '{doc['InstanceId']}' may not be terminated. Modify its "
                                   "'disableApiTermination' instance attribute and try again.", 400)
        dry_run(params)
        for doc in docs:
            state = current_state(doc, now)
            if state not in ("terminated", "shutting-down"):
                terminate(txn, ctx, doc, now)
                if doc.get("SpotInstanceRequestId"):
                    spot.instance_terminated(txn, ctx, doc["SpotInstanceRequestId"], "instance-terminated-by-user", now)
            out.append(_change(doc, state, now))
    return {"TerminatingInstances": out}


def reboot_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        docs = _instances(txn, ctx, params["InstanceIds"])
        for doc in docs:
            state = current_state(doc, now)
            if state in ("terminated", "shutting-down"):
                raise ServiceError("IncorrectInstanceState", f"The instance '{doc['InstanceId']}' is not in a state from which it can be rebooted.", 400)
        dry_run(params)
        for doc in docs:
            if current_state(doc, now) == "running":
                doc["_nimbus"]["reboots"] = doc["_nimbus"].get("reboots", 0) + 1
                doc["_nimbus"]["rebooted_at"] = now
                put_instance(txn, ctx, doc)
    return {}


# -- attributes ------------------------------------------------------------------------------

def _value(params: dict[str, Any], member: str, attribute: str) -> Any:
    if member in params and params[member] is not None:
        item = params[member]
        return item.get("Value") if isinstance(item, dict) else item
    if params.get("Attribute") == attribute:
        return params.get("Value")
    return None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def modify_instance_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.clock.time()
    with ctx.store.transaction() as txn:
        doc = get_instance(txn, ctx, params["InstanceId"])
        state = current_state(doc, now)
        new_type = _value(params, "InstanceType", "instanceType")
        if new_type is not None:
            if state != "stopped":
                raise ServiceError("IncorrectInstanceState", f"The instance '{doc['InstanceId']}' is not in the 'stopped' state.", 400)
            itype = compute_catalog.instance_type(new_type)
            if itype is None:
                raise ServiceError("InvalidInstanceAttributeValue", f"Value ({new_type}) for parameter instanceType is invalid. Invalid instance type.", 400)
            if doc["Architecture"] not in itype["ProcessorInfo"]["SupportedArchitectures"]:
                raise ServiceError("InvalidParameterValue", f"The instance type '{new_type}' does not support the '{doc['Architecture']}' architecture.", 400)
        user_data = params.get("UserData")
        if user_data is not None or params.get("Attribute") == "userData":
            if state != "stopped":
                raise ServiceError("IncorrectInstanceState", f"The instance '{doc['InstanceId']}' is not in the 'stopped' state.", 400)
        groups = params.get("Groups")
        if groups:
            primary = doc["NetworkInterfaces"][0] if doc.get("NetworkInterfaces") else None
            resolved = network_api.get_security_groups(txn, ctx, groups, doc.get("VpcId"))
        dry_run(params)
        if new_type is not None:
            doc["InstanceType"] = new_type
            vcpu = compute_catalog.instance_type(new_type)["VCpuInfo"]
            doc["CpuOptions"] = {"CoreCount": vcpu["DefaultCores"], "ThreadsPerCore": vcpu["DefaultThreadsPerCore"]}
        if user_data is not None or params.get("Attribute") == "userData":
            raw = (user_data or {}).get("Value") if isinstance(user_data, dict) else params.get("Value")
            if isinstance(raw, bytes):
                raw = base64.b64encode(raw).decode()
            doc["_nimbus"]["user_data"] = _user_data(raw)
        for member, attribute, key in (("DisableApiTermination", "disableApiTermination", "disable_api_termination"),
                                       ("DisableApiStop", "disableApiStop", "disable_api_stop")):
            value = _value(params, member, attribute)
            if value is not None:
                doc["_nimbus"][key] = _bool(value)
        behavior = _value(params, "InstanceInitiatedShutdownBehavior", "instanceInitiatedShutdownBehavior")
        if behavior is not None:
            if behavior not in ("stop", "terminate"):
                raise ServiceError("InvalidParameterValue", f"Value ({behavior}) for parameter instanceInitiatedShutdownBehavior is invalid.", 400)
            doc["_nimbus"]["shutdown_behavior"] = behavior
        for member, attribute, key in (("EbsOptimized", "ebsOptimized", "EbsOptimized"), ("EnaSupport", "enaSupport", "EnaSupport")):
            value = _value(params, member, attribute)
            if value is not None:
                doc[key] = _bool(value)
        source_dest = _value(params, "SourceDestCheck", "sourceDestCheck")
        if groups or source_dest is not None:
            primary = doc["NetworkInterfaces"][0] if doc.get("NetworkInterfaces") else None
            if primary:
                eni = network_api.get_network_interface(txn, ctx, primary["NetworkInterfaceId"])
                if groups:
                    eni["Groups"] = [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in resolved]
                if source_dest is not None:
                    eni["SourceDestCheck"] = _bool(source_dest)
                network_api.put_network_interface(txn, ctx, eni)
                sync_network(txn, ctx, doc)
        for mapping in params.get("BlockDeviceMappings") or []:
            for existing in doc.get("BlockDeviceMappings", []):
                if existing["DeviceName"] == mapping.get("DeviceName") and "DeleteOnTermination" in (mapping.get("Ebs") or {}):
                    existing["Ebs"]["DeleteOnTermination"] = mapping["Ebs"]["DeleteOnTermination"]
                    vol = txn.get(ebs.VOLUME_KIND, existing["Ebs"]["VolumeId"], ctx.scope)
                    if vol:
                        for a in vol["Attachments"]:
                            if a["InstanceId"] == doc["InstanceId"]:
                                a["DeleteOnTermination"] = mapping["Ebs"]["DeleteOnTermination"]
                        txn.put(ebs.VOLUME_KIND, vol["VolumeId"], vol, ctx.scope)
        put_instance(txn, ctx, doc)
    return {}


def describe_instance_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    doc = get_instance(ctx.store.read, ctx, params["InstanceId"])
    attribute = params["Attribute"]
    out: dict[str, Any] = {"InstanceId": doc["InstanceId"]}
    internal = doc["_nimbus"]
    table = {
        "instanceType": ("InstanceType", {"Value": doc["InstanceType"]}),
        "kernel": ("KernelId", {}),
        "ramdisk": ("RamdiskId", {}),
        "userData": ("UserData", {"Value": internal.get("user_data")} if internal.get("user_data") else {}),
        "disableApiTermination": ("DisableApiTermination", {"Value": internal.get("disable_api_termination", False)}),
        "disableApiStop": ("DisableApiStop", {"Value": internal.get("disable_api_stop", False)}),
        "instanceInitiatedShutdownBehavior": ("InstanceInitiatedShutdownBehavior", {"Value": internal.get("shutdown_behavior", "stop")}),
        "rootDeviceName": ("RootDeviceName", {"Value": doc.get("RootDeviceName")}),
        "blockDeviceMapping": ("BlockDeviceMappings", doc.get("BlockDeviceMappings", [])),
        "productCodes": ("ProductCodes", []),
        "sourceDestCheck": ("SourceDestCheck", {"Value": doc.get("SourceDestCheck", True)}),
        "groupSet": ("Groups", doc.get("SecurityGroups", [])),
        "ebsOptimized": ("EbsOptimized", {"Value": doc.get("EbsOptimized", False)}),
        "sriovNetSupport": ("SriovNetSupport", {"Value": "simple"}),
        "enaSupport": ("EnaSupport", {"Value": doc.get("EnaSupport", True)}),
        "enclaveOptions": ("EnclaveOptions", doc.get("EnclaveOptions", {"Enabled": False})),
    }
    if attribute not in table:
        raise ServiceError("InvalidParameterValue", f"Value ({attribute}) for parameter attribute is invalid. Unknown attribute.", 400)
    key, value = table[attribute]
    out[key] = value
    return out


# -- status and console ---------------------------------------------------------------------------

def describe_instance_status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("InstanceIds") or []
    now = ctx.clock.time()
    read = ctx.store.read
    if ids:
        docs = _instances(read, ctx, ids)
    else:
        docs = [d for _, d in read.scan(KIND, ctx.scope) if visible(d, now)]
    include_all = params.get("IncludeAllInstances")
    items = []
    for doc in docs:
        state = current_state(doc, now)
        if state != "running" and not include_all:
            continue
        running_since = _transition_time(doc, "running") if state == "running" else None
        if running_since is None:
            check = "not-applicable"
        elif now < running_since + STATUS_INITIALIZING:
            check = "initializing"
        else:
            check = "ok"
        details = [{"Name": "reachability", "Status": "passed" if check == "ok" else check}]
        item: dict[str, Any] = {
            "AvailabilityZone": doc["Placement"]["AvailabilityZone"],
            "InstanceId": doc["InstanceId"],
            "InstanceState": _STATES[state],
            "InstanceStatus": {"Status": check, "Details": details if check != "not-applicable" else []},
            "SystemStatus": {"Status": check, "Details": details if check != "not-applicable" else []},
            "AttachedEbsStatus": {"Status": check, "Details": details if check != "not-applicable" else []},
            "Events": [],
        }
        notice = doc["_nimbus"].get("spot_action")
        if notice:
            item["Events"].append({"Code": "instance-stop" if notice["action"] == "stop" else "instance-retirement",
                                   "Description": "Spot Instance interruption", "NotBefore": notice["at"], "NotAfter": notice["at"]})
        items.append(item)
    items = apply_filters(items, params.get("Filters"), {
        "availability-zone": "AvailabilityZone", "instance-state-name": _g("InstanceState", "Name"),
        "instance-state-code": _g("InstanceState", "Code"), "instance-status.status": _g("InstanceStatus", "Status"),
        "system-status.status": _g("SystemStatus", "Status"), "instance-status.reachability": _each("InstanceStatus", "Details"),
        "event.code": _each("Events", "Code"), "event.description": _each("Events", "Description"),
        "attached-ebs-status.status": _g("AttachedEbsStatus", "Status")})
    items.sort(key=lambda i: i["InstanceId"])
    limit = max_results(params, minimum=5, maximum=1000)
    after = decode_token(params.get("NextToken"))
    if after:
        items = [i for i in items if i["InstanceId"] > after]
    out: dict[str, Any] = {"InstanceStatuses": items}
    if limit is not None and len(items) > limit:
        out["InstanceStatuses"] = items[:limit]
        out["NextToken"] = encode_token(items[limit - 1]["InstanceId"])
    return out


def get_console_output(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    doc = get_instance(ctx.store.read, ctx, params["InstanceId"])
    now = ctx.clock.time()
    internal = doc["_nimbus"]
    text = internal.get("console")
    if text is None:
        running = _transition_time(doc, "running")
        if running is None or running > now:
            return {"InstanceId": doc["InstanceId"], "Timestamp": now}
        lines = [
            "[    0.000000] Linux version 6.1.119-129.201.amzn2023.x86_64 (mockbuild@ip-10-0-47-23) (gcc 11.4.1) #1 SMP PREEMPT_DYNAMIC",
            f"[    0.000000] Command line: BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz root=UUID=ffffffff-0000 ro console=ttyS0,115200n8 nvme_core.io_timeout=4294967295",
            f"[    1.204511] cloud-init[1234]: Cloud-init v. 22.2.2 running 'init' at {_gmt(running)}. Up 1.20 seconds.",
            f"[    1.305100] cloud-init[1234]: ci-info: |  ens5  | True | {doc.get('PrivateIpAddress', '-')} | 255.255.240.0 | global |",
        ]
        if internal.get("user_data"):
            lines.append("[    2.410233] cloud-init[1588]: Running user data (part-001)")
        lines.append(f"[    3.000000] cloud-init[1588]: Cloud-init v. 22.2.2 finished at {_gmt(running + 3)}. Datasource DataSourceEc2Local.  Up 3.00 seconds")
        text = "\n".join(lines) + "\n"
    return {"InstanceId": doc["InstanceId"], "Timestamp": now, "Output": base64.b64encode(text.encode()).decode()}


def sweep(store: Any, now: float) -> None:
    """Forget instances terminated longer than ``TERMINATED_VISIBLE`` ago (a controller calls this)."""
    stale = []
    for scope in list(store.read.scopes(KIND)):
        for key, doc in store.read.scan(KIND, scope):
            if not visible(doc, now):
                stale.append((scope, key))
    if stale:
        with store.transaction() as txn:
            for scope, key in stale:
                txn.delete(KIND, key, scope)
