"""What other EC2 areas (compute: instances, AMIs, EBS) use of the network. Keep stable.

All functions take the caller's open transaction ``txn`` and the request context ``ctx``
and work in ``ctx.scope``.  Records come back in AWS's output shape (keys starting with
``_`` are private bookkeeping; never show them).  Errors are AWS's (``ServiceError``).

Store kinds: ``ec2:vpc``, ``ec2:subnet``, ``ec2:security-group``, ``ec2:security-group-rule``,
``ec2:route-table``, ``ec2:network-acl``, ``ec2:internet-gateway``, ``ec2:network-interface``,
``ec2:address`` (Elastic IPs), ``ec2:nat-gateway`` … (``net_common.RESOURCES``).

Typical use by RunInstances::

    subnet = default_subnet(txn, ctx, az) if no SubnetId else get_subnet(txn, ctx, subnet_id)
    groups = get_security_groups(txn, ctx, ids_or_names, subnet["VpcId"])
    ip = allocate_private_ip(txn, ctx, subnet["SubnetId"], requested_or_None)
    eni = create_network_interface_record(txn, ctx, subnet["SubnetId"], [g["GroupId"] for g in groups], ip, "",
                                          attachment={"InstanceId": iid, "DeviceIndex": 0})
    if subnet["MapPublicIpOnLaunch"]: set_public_ip(txn, ctx, eni["NetworkInterfaceId"], public_ip_pool_allocate(txn, ctx))
    ...
    on terminate: delete_network_interface(txn, ctx, eni_id)   # frees private + auto public IP, detaches EIP
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import net_common as c
from . import net_records as r
from .net_security import find_group_by_name


def default_vpc(txn: Txn, ctx: RequestContext) -> dict[str, Any]:
    """The default VPC of this account and region (the default set is created on first use).

    Raises ``VPCIdNotSpecified`` when the user deleted the default VPC, as AWS does.
    """
    marker = r.defaults(txn, ctx)
    vpc_id = marker.get("DefaultVpcId")
    vpc = txn.get(c.kind("vpc"), vpc_id, ctx.scope) if vpc_id else None
    if vpc is None:
        raise ServiceError("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.", 400)
    return vpc


def default_subnet(txn: Txn, ctx: RequestContext, az: str | None) -> dict[str, Any]:
    """The default subnet of ``az`` (or of the first zone that has one) in the default VPC."""
    vpc = default_vpc(txn, ctx)
    if az is not None:
        r.zone(ctx, az)  # InvalidParameterValue for an unknown zone
    candidates = [s for s in c.scan(txn, ctx, "subnet") if s["VpcId"] == vpc["VpcId"] and s["DefaultForAz"]]
    if az is not None:
        candidates = [s for s in candidates if s["AvailabilityZone"] == az]
    if not candidates:
        raise ServiceError("MissingInput", f"No default subnet for availability zone: '{az}'." if az else "No subnets found for the default VPC. Please specify a subnet.", 400)
    candidates.sort(key=lambda s: s["AvailabilityZone"])
    return candidates[0]


def get_subnet(txn: Txn, ctx: RequestContext, subnet_id: str) -> dict[str, Any]:
    """The subnet record; ``InvalidSubnetID.Malformed`` / ``InvalidSubnetID.NotFound``."""
    r.ensure_defaults(ctx, txn)
    return c.get(txn, ctx, "subnet", subnet_id)


def get_vpc(txn: Txn, ctx: RequestContext, vpc_id: str) -> dict[str, Any]:
    r.ensure_defaults(ctx, txn)
    return c.get(txn, ctx, "vpc", vpc_id)


def get_security_groups(txn: Txn, ctx: RequestContext, ids_or_names: list[str] | None, vpc_id: str | None) -> list[dict[str, Any]]:
    """Groups by id (``sg-…``) or by name within ``vpc_id`` (None: the default VPC).

    An empty list gives the VPC's default group. A group of another VPC is refused with
    ``InvalidParameter`` (AWS's "belong to different networks").
    """
    if vpc_id is None:
        vpc_id = default_vpc(txn, ctx)["VpcId"]
    else:
        r.ensure_defaults(ctx, txn)
    if not ids_or_names:
        vpc = c.get(txn, ctx, "vpc", vpc_id)
        return [c.get(txn, ctx, "sg", vpc["_default_security_group"])]
    groups = []
    for value in dict.fromkeys(ids_or_names):
        if isinstance(value, str) and value.startswith("sg-"):
            group = c.get(txn, ctx, "sg", value)
            if group["VpcId"] != vpc_id:
                raise ServiceError("InvalidParameter", f"Security group {value} and subnet belong to different networks.", 400)
        else:
            group = find_group_by_name(txn, ctx, value, vpc_id)
        groups.append(group)
    return groups


def allocate_private_ip(txn: Txn, ctx: RequestContext, subnet_id: str, requested: str | None) -> str:
    """A free private address of the subnet (or ``requested``: ``InvalidIPAddress.InUse`` if taken).

    Updates the subnet's ``AvailableIpAddressCount``. ``InsufficientFreeAddressesInSubnet`` when full.
    """
    return r.allocate_private_ip(txn, ctx, subnet_id, requested)


def release_private_ip(txn: Txn, ctx: RequestContext, subnet_id: str, ip: str) -> None:
    r.release_private_ip(txn, ctx, subnet_id, ip)


def public_ip_pool_allocate(txn: Txn, ctx: RequestContext) -> str:
    """An auto-assigned public address: a loopback address (127.64.0.0/10) unique on this machine."""
    return r.public_ip_allocate(txn, ctx, "auto")


def public_ip_pool_release(txn: Txn, ctx: RequestContext, ip: str) -> None:
    r.public_ip_release(txn, ctx, ip)


def create_network_interface_record(
    txn: Txn,
    ctx: RequestContext,
    subnet_id: str,
    sg_ids: list[str],
    private_ip: str | None,
    description: str,
    attachment: dict[str, Any] | None = None,
    *,
    interface_type: str = "interface",
    requester_managed: bool = False,
    tags: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Store a network interface and return its record (AWS's NetworkInterface shape).

    ``private_ip``: an address already taken with ``allocate_private_ip``, or None to take
    one here. ``sg_ids`` empty: the VPC's default group. ``attachment``: fields of
    ``Attachment`` (e.g. ``{"InstanceId": "i-…", "DeviceIndex": 0}``); AttachmentId,
    AttachTime, Status "attached", DeleteOnTermination True are filled in; the ENI is
    then ``in-use``. The record's tags are in ``Tags`` (Describe shows them as ``TagSet``).
    """
    subnet = get_subnet(txn, ctx, subnet_id)
    groups = get_security_groups(txn, ctx, sg_ids, subnet["VpcId"])
    if private_ip is None:
        private_ip = r.allocate_private_ip(txn, ctx, subnet_id, None)
        subnet = c.get(txn, ctx, "subnet", subnet_id)
    return r.new_network_interface(
        txn, ctx, subnet, groups, private_ip, description, attachment=attachment,
        interface_type=interface_type, requester_managed=requester_managed, tags=tags,
    )


def get_network_interface(txn: Txn, ctx: RequestContext, eni_id: str) -> dict[str, Any]:
    return c.get(txn, ctx, "eni", eni_id)


def put_network_interface(txn: Txn, ctx: RequestContext, eni: dict[str, Any]) -> None:
    """Store a changed ENI record (e.g. its ``Attachment`` status on stop/terminate)."""
    c.put(txn, ctx, "eni", eni["NetworkInterfaceId"], eni)


def set_public_ip(txn: Txn, ctx: RequestContext, eni_id: str, public_ip: str | None) -> dict[str, Any]:
    """Give an ENI an auto-assigned public address (None removes it; an EIP is left alone)."""
    eni = c.get(txn, ctx, "eni", eni_id)
    if public_ip is None:
        if eni.get("Association") and not eni["Association"].get("AllocationId"):
            eni.pop("Association")
            for item in eni["PrivateIpAddresses"]:
                item.pop("Association", None)
    else:
        association = {"IpOwnerId": "amazon", "PublicIp": public_ip, "PublicDnsName": r.public_dns_name(ctx, public_ip)}
        eni["Association"] = association
        eni["PrivateIpAddresses"][0]["Association"] = association
    put_network_interface(txn, ctx, eni)
    return eni


def delete_network_interface(txn: Txn, ctx: RequestContext, eni_id: str) -> None:
    """Delete an ENI: frees its private addresses and an auto-assigned public one, and
    disassociates an Elastic IP (which stays allocated), as terminating an instance does."""
    eni = txn.get(c.kind("eni"), eni_id, ctx.scope)
    if eni is not None:
        r.delete_network_interface(txn, ctx, eni)


def elastic_ip_of(txn: Txn, ctx: RequestContext, eni_id: str) -> dict[str, Any] | None:
    """The Elastic IP (Address record) associated with an ENI, if any (kept across stop/start)."""
    eni = txn.get(c.kind("eni"), eni_id, ctx.scope)
    allocation = ((eni or {}).get("Association") or {}).get("AllocationId")
    return txn.get(c.kind("eipalloc"), allocation, ctx.scope) if allocation else None
