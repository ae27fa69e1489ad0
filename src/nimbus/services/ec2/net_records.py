"""Records of the networking area and the rules that build them.

Every builder returns a record in AWS's Describe output shape.  The default VPC set of an
account and region (VPC 172.31.0.0/16, one /20 default subnet per AZ, internet gateway,
main route table, default NACL, default security group, DHCP options, the AWS-managed
prefix lists) is created lazily, inside whichever transaction first needs it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...regions import availability_zones
from ...state import Txn
from . import net_common as c
from .net_cidr import contains_ip, usable_count

DEFAULTS_KIND = "ec2:network-defaults"
PRIVATE_IP_KIND = "ec2:private-ip"      # key "<subnet-id>/<ip>", doc {"Owner": ...}
PUBLIC_IP_KIND = "ec2:public-ip"        # scope "": key ip, doc {"Scope": ..., "Owner": ...}
PUBLIC_POOL_KIND = "ec2:public-ip-pool"  # scope "": key "next"

# Public addresses are loopback addresses so a runtime can bind them: 127.64.0.0/10.
PUBLIC_POOL = ipaddress.IPv4Network("127.64.0.0/10")

AWS_SERVICES_WITH_PREFIX_LISTS = ("s3", "dynamodb")


def arn(ctx: RequestContext, resource: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:{resource}"


def ok_state() -> dict[str, str]:
    return {"State": "associated"}


# ---------------------------------------------------------------------------- defaults


def ensure_defaults(ctx: RequestContext, txn: Txn | None = None) -> None:
    """Create the default VPC set of this account and region on first use."""
    if ctx.store.read.exists(DEFAULTS_KIND, "defaults", ctx.scope):
        return
    if txn is not None:
        _create_defaults(txn, ctx)
        return
    with ctx.store.transaction() as t:
        _create_defaults(t, ctx)


def defaults(txn: Txn, ctx: RequestContext) -> dict[str, Any]:
    doc = txn.get(DEFAULTS_KIND, "defaults", ctx.scope)
    if doc is None:
        doc = _create_defaults(txn, ctx)
    return doc


def _create_defaults(txn: Txn, ctx: RequestContext) -> dict[str, Any]:
    existing = txn.get(DEFAULTS_KIND, "defaults", ctx.scope)
    if existing is not None:
        return existing
    dopt = new_dhcp_options(ctx, default_dhcp_configurations(ctx.region))
    c.put(txn, ctx, "dopt", dopt["DhcpOptionsId"], dopt)
    doc = {"DhcpOptionsId": dopt["DhcpOptionsId"], "DefaultVpcId": None, "PrefixLists": {}}
    for service in AWS_SERVICES_WITH_PREFIX_LISTS:
        pl = aws_prefix_list(ctx, service)
        c.put(txn, ctx, "pl", pl["PrefixListId"], pl)
        doc["PrefixLists"][service] = pl["PrefixListId"]
    txn.put(DEFAULTS_KIND, "defaults", doc, ctx.scope)
    create_default_vpc(txn, ctx, doc)
    return txn.get(DEFAULTS_KIND, "defaults", ctx.scope)


def create_default_vpc(txn: Txn, ctx: RequestContext, marker: dict[str, Any]) -> dict[str, Any]:
    vpc = new_vpc(txn, ctx, "172.31.0.0/16", is_default=True, dhcp_options_id=marker["DhcpOptionsId"])
    vpc_id = vpc["VpcId"]
    igw = new_internet_gateway(ctx, [])
    igw["Attachments"] = [{"State": "available", "VpcId": vpc_id}]
    c.put(txn, ctx, "igw", igw["InternetGatewayId"], igw)
    main = txn.get(c.kind("rtb"), vpc["_main_route_table"], ctx.scope)
    main["Routes"].append({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw["InternetGatewayId"], "Origin": "CreateRoute", "State": "active"})
    c.put(txn, ctx, "rtb", main["RouteTableId"], main)
    base = ipaddress.IPv4Network("172.31.0.0/16")
    for zone, block in zip(availability_zones(ctx.region), base.subnets(new_prefix=20)):
        new_subnet(txn, ctx, vpc, str(block), zone["ZoneName"], default_for_az=True, map_public_ip=True)
    marker["DefaultVpcId"] = vpc_id
    txn.put(DEFAULTS_KIND, "defaults", marker, ctx.scope)
    return txn.get(c.kind("vpc"), vpc_id, ctx.scope)


def default_dhcp_configurations(region: str) -> list[dict[str, Any]]:
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return [
        {"Key": "domain-name", "Values": [{"Value": domain}]},
        {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]},
    ]


def new_dhcp_options(ctx: RequestContext, configurations: list[dict[str, Any]], tags: list | None = None) -> dict[str, Any]:
    return {"DhcpOptionsId": c.new("dopt"), "OwnerId": ctx.account_id, "DhcpConfigurations": configurations, "Tags": tags or []}


def aws_prefix_list(ctx: RequestContext, service: str) -> dict[str, Any]:
    """The AWS-managed prefix list of ``service`` in this region (same id in every account)."""
    digest = hashlib.sha256(f"{ctx.region}/{service}".encode()).hexdigest()[:8]
    return {
        "PrefixListId": f"pl-{digest}",
        "AddressFamily": "IPv4",
        "State": "create-complete",
        "PrefixListArn": f"arn:aws:ec2:{ctx.region}:aws:prefix-list/pl-{digest}",
        "PrefixListName": f"com.amazonaws.{ctx.region}.{service}",
        "Version": 1,
        "Tags": [],
        "OwnerId": "AWS",
        "_entries": [{"Cidr": cidr} for cidr in _aws_service_cidrs(ctx.region, service)],
    }


def _aws_service_cidrs(region: str, service: str) -> list[str]:
    # Stable, documentation-style public ranges per region and service.
    seed = int(hashlib.sha256(f"{region}/{service}".encode()).hexdigest()[:4], 16)
    first = 3 + seed % 50 if service == "s3" else 52 + seed % 40
    return [f"{first}.{seed % 256}.0.0/16", f"{first + 1}.{(seed >> 8) % 256}.0.0/17"]


# ---------------------------------------------------------------------------- VPCs


def new_vpc(
    txn: Txn,
    ctx: RequestContext,
    cidr: str,
    *,
    is_default: bool = False,
    tenancy: str = "default",
    tags: list | None = None,
    dhcp_options_id: str | None = None,
    ipv6: str | None = None,
) -> dict[str, Any]:
    """A VPC with its main route table, default NACL and default security group."""
    vpc_id = c.new("vpc")
    if dhcp_options_id is None:
        dhcp_options_id = defaults(txn, ctx)["DhcpOptionsId"]
    vpc: dict[str, Any] = {
        "VpcId": vpc_id,
        "OwnerId": ctx.account_id,
        "InstanceTenancy": tenancy,
        "CidrBlock": cidr,
        "CidrBlockAssociationSet": [{"AssociationId": c.new("vpc-cidr-assoc"), "CidrBlock": cidr, "CidrBlockState": ok_state()}],
        "Ipv6CidrBlockAssociationSet": [],
        "IsDefault": is_default,
        "State": "available",
        "DhcpOptionsId": dhcp_options_id,
        "Tags": tags or [],
        "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"},
        "_attributes": {"EnableDnsSupport": True, "EnableDnsHostnames": is_default, "EnableNetworkAddressUsageMetrics": False},
    }
    if ipv6:
        vpc["Ipv6CidrBlockAssociationSet"].append(ipv6_association(ipv6, ctx.region))
    rtb = new_route_table(ctx, vpc, main=True)
    acl = new_network_acl(ctx, vpc_id, default=True)
    sg = new_security_group(txn, ctx, vpc_id, "default", f"default VPC security group", [], default=True)
    vpc["_main_route_table"] = rtb["RouteTableId"]
    vpc["_default_network_acl"] = acl["NetworkAclId"]
    vpc["_default_security_group"] = sg["GroupId"]
    c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
    c.put(txn, ctx, "acl", acl["NetworkAclId"], acl)
    c.put(txn, ctx, "vpc", vpc_id, vpc)
    return vpc


def ipv6_association(block: str, region: str) -> dict[str, Any]:
    return {
        "AssociationId": c.new("vpc-cidr-assoc"),
        "Ipv6CidrBlock": block,
        "Ipv6CidrBlockState": ok_state(),
        "NetworkBorderGroup": region,
        "Ipv6Pool": "Amazon",
    }


def amazon_ipv6_block() -> str:
    """A /56 from Amazon's pool (2600:1f00::/24, as AWS hands out)."""
    raw = int.from_bytes(hashlib.sha256(c.new("x").encode()).digest()[:4], "big")
    net = ipaddress.IPv6Network((int(ipaddress.IPv6Address("2600:1f00::")) | (raw << 72)) & ~((1 << 72) - 1), strict=False)
    return str(ipaddress.IPv6Network(f"{net.network_address}/56"))


def vpc_cidrs(vpc: dict[str, Any]) -> list[str]:
    return [a["CidrBlock"] for a in vpc["CidrBlockAssociationSet"] if a["CidrBlockState"]["State"] == "associated"]


def vpc_ipv6_cidrs(vpc: dict[str, Any]) -> list[str]:
    return [a["Ipv6CidrBlock"] for a in vpc["Ipv6CidrBlockAssociationSet"] if a["Ipv6CidrBlockState"]["State"] == "associated"]


# ---------------------------------------------------------------------------- subnets


def zone(ctx: RequestContext, name: str | None = None, zone_id: str | None = None) -> dict[str, str]:
    zones = availability_zones(ctx.region)
    for z in zones:
        if (name and z["ZoneName"] == name) or (zone_id and z["ZoneId"] == zone_id):
            return z
    value, param = (name, "availabilityZone") if name else (zone_id, "availabilityZoneId")
    raise ServiceError(
        "InvalidParameterValue",
        f"Value ({value}) for parameter {param} is invalid. Subnets can currently only be created in the following "
        f"availability zones: {', '.join(z['ZoneName'] if name else z['ZoneId'] for z in zones)}.",
        400,
    )


def new_subnet(
    txn: Txn,
    ctx: RequestContext,
    vpc: dict[str, Any],
    cidr: str,
    az: str,
    *,
    default_for_az: bool = False,
    map_public_ip: bool = False,
    tags: list | None = None,
    ipv6: str | None = None,
) -> dict[str, Any]:
    z = zone(ctx, az)
    subnet_id = c.new("subnet")
    subnet: dict[str, Any] = {
        "SubnetId": subnet_id,
        "SubnetArn": arn(ctx, f"subnet/{subnet_id}"),
        "VpcId": vpc["VpcId"],
        "CidrBlock": cidr,
        "AvailabilityZone": z["ZoneName"],
        "AvailabilityZoneId": z["ZoneId"],
        "AvailableIpAddressCount": usable_count(cidr),
        "DefaultForAz": default_for_az,
        "MapPublicIpOnLaunch": map_public_ip,
        "MapCustomerOwnedIpOnLaunch": False,
        "State": "available",
        "OwnerId": ctx.account_id,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "EnableDns64": False,
        "Ipv6Native": False,
        "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": False},
        "Tags": tags or [],
        "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"},
        "_next": 4,
    }
    if ipv6:
        subnet["Ipv6CidrBlockAssociationSet"].append(
            {"AssociationId": c.new("subnet-cidr-assoc"), "Ipv6CidrBlock": ipv6, "Ipv6CidrBlockState": ok_state()}
        )
    c.put(txn, ctx, "subnet", subnet_id, subnet)
    # Every subnet starts in its VPC's default network ACL.
    acl = txn.get(c.kind("acl"), vpc["_default_network_acl"], ctx.scope)
    if acl is not None:
        acl["Associations"].append({"NetworkAclAssociationId": c.new("aclassoc"), "NetworkAclId": acl["NetworkAclId"], "SubnetId": subnet_id})
        c.put(txn, ctx, "acl", acl["NetworkAclId"], acl)
    return subnet


def _ip_key(subnet_id: str, ip: str) -> str:
    return f"{subnet_id}/{ip}"


def allocate_private_ip(txn: Txn, ctx: RequestContext, subnet_id: str, requested: str | None, owner: str = "") -> str:
    subnet = c.get(txn, ctx, "subnet", subnet_id)
    net = ipaddress.IPv4Network(subnet["CidrBlock"])
    first, last = int(net.network_address), int(net.broadcast_address)
    if requested is not None:
        if not contains_ip(subnet["CidrBlock"], requested):
            raise ServiceError("InvalidParameterValue", f"Address does not fall within the subnet's address range", 400)
        value = int(ipaddress.IPv4Address(requested))
        if value - first < 4 or value == last:
            raise ServiceError("InvalidParameterValue", f"Address {requested} is in subnet's reserved address range", 400)
        if not txn.insert(PRIVATE_IP_KIND, _ip_key(subnet_id, requested), {"Owner": owner}, ctx.scope):
            raise ServiceError("InvalidIPAddress.InUse", f"Address {requested} is in use.", 400)
        ip = requested
    else:
        if subnet["AvailableIpAddressCount"] <= 0:
            raise ServiceError("InsufficientFreeAddressesInSubnet", f"There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of instances.", 400)
        size = last - first - 4  # usable addresses: first+4 .. last-1
        offset = subnet.get("_next", 4)
        for _ in range(size):
            if not 4 <= offset < last - first:
                offset = 4
            candidate = str(ipaddress.IPv4Address(first + offset))
            offset += 1
            if txn.insert(PRIVATE_IP_KIND, _ip_key(subnet_id, candidate), {"Owner": owner}, ctx.scope):
                ip = candidate
                break
        else:
            raise ServiceError("InsufficientFreeAddressesInSubnet", f"There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of instances.", 400)
        subnet["_next"] = offset
    subnet["AvailableIpAddressCount"] -= 1
    c.put(txn, ctx, "subnet", subnet_id, subnet)
    return ip


def release_private_ip(txn: Txn, ctx: RequestContext, subnet_id: str, ip: str) -> None:
    if txn.delete(PRIVATE_IP_KIND, _ip_key(subnet_id, ip), ctx.scope):
        subnet = txn.get(c.kind("subnet"), subnet_id, ctx.scope)
        if subnet is not None:
            subnet["AvailableIpAddressCount"] += 1
            c.put(txn, ctx, "subnet", subnet_id, subnet)


def public_ip_allocate(txn: Txn, ctx: RequestContext, owner: str = "") -> str:
    """A public address: a loopback address unique on this machine (so unique per account and region)."""
    pool = txn.get(PUBLIC_POOL_KIND, "next", "") or {"Next": 1}
    base = int(PUBLIC_POOL.network_address)
    size = PUBLIC_POOL.num_addresses
    offset = pool["Next"]
    for _ in range(size):
        if offset >= size - 1:
            offset = 1
        candidate = ipaddress.IPv4Address(base + offset)
        offset += 1
        if candidate.packed[3] in (0, 255):
            continue
        ip = str(candidate)
        if txn.insert(PUBLIC_IP_KIND, ip, {"Scope": ctx.scope, "Owner": owner}, ""):
            pool["Next"] = offset
            txn.put(PUBLIC_POOL_KIND, "next", pool, "")
            return ip
    raise ServiceError("AddressLimitExceeded", "The maximum number of addresses has been reached.", 400)


def public_ip_release(txn: Txn, ctx: RequestContext, ip: str) -> None:
    doc = txn.get(PUBLIC_IP_KIND, ip, "")
    if doc is not None and doc.get("Scope") == ctx.scope:
        txn.delete(PUBLIC_IP_KIND, ip, "")


def private_dns_name(ctx: RequestContext, ip: str) -> str:
    host = "ip-" + ip.replace(".", "-")
    return f"{host}.ec2.internal" if ctx.region == "us-east-1" else f"{host}.{ctx.region}.compute.internal"


def public_dns_name(ctx: RequestContext, ip: str) -> str:
    host = "ec2-" + ip.replace(".", "-")
    return f"{host}.compute-1.amazonaws.com" if ctx.region == "us-east-1" else f"{host}.{ctx.region}.compute.amazonaws.com"


# ---------------------------------------------------------------------------- route tables, ACLs, IGWs


def new_route_table(ctx: RequestContext, vpc: dict[str, Any], *, main: bool = False, tags: list | None = None) -> dict[str, Any]:
    rtb_id = c.new("rtb")
    routes = [{"DestinationCidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"} for cidr in vpc_cidrs(vpc)]
    routes += [{"DestinationIpv6CidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"} for cidr in vpc_ipv6_cidrs(vpc)]
    associations = []
    if main:
        associations.append({"Main": True, "RouteTableAssociationId": c.new("rtbassoc"), "RouteTableId": rtb_id, "AssociationState": ok_state()})
    return {"RouteTableId": rtb_id, "VpcId": vpc["VpcId"], "OwnerId": ctx.account_id, "Routes": routes,
            "Associations": associations, "PropagatingVgws": [], "Tags": tags or []}


def new_network_acl(ctx: RequestContext, vpc_id: str, *, default: bool = False, tags: list | None = None) -> dict[str, Any]:
    entries = []
    for egress in (True, False):
        if default:
            entries.append({"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": egress, "CidrBlock": "0.0.0.0/0"})
        entries.append({"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress, "CidrBlock": "0.0.0.0/0"})
    return {"NetworkAclId": c.new("acl"), "VpcId": vpc_id, "IsDefault": default, "Entries": entries, "Associations": [],
            "OwnerId": ctx.account_id, "Tags": tags or []}


def new_internet_gateway(ctx: RequestContext, tags: list) -> dict[str, Any]:
    return {"InternetGatewayId": c.new("igw"), "OwnerId": ctx.account_id, "Attachments": [], "Tags": tags}


# ---------------------------------------------------------------------------- security groups


def new_security_group(
    txn: Txn, ctx: RequestContext, vpc_id: str, name: str, description: str, tags: list, *, default: bool = False
) -> dict[str, Any]:
    from .net_security import add_rules, egress_all_rule

    group_id = c.new("sg")
    group = {
        "GroupId": group_id,
        "GroupName": name,
        "Description": description,
        "VpcId": vpc_id,
        "OwnerId": ctx.account_id,
        "SecurityGroupArn": arn(ctx, f"security-group/{group_id}"),
        "IpPermissions": [],
        "IpPermissionsEgress": [],
        "Tags": tags,
        "_rules": {},
    }
    c.put(txn, ctx, "sg", group_id, group)
    add_rules(txn, ctx, group, [egress_all_rule()], egress=True, tags=[])
    if default:
        self_rule = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id, "UserId": ctx.account_id}]}
        add_rules(txn, ctx, group, [self_rule], egress=False, tags=[])
    return group


# ---------------------------------------------------------------------------- network interfaces


def mac_address() -> str:
    raw = c.new("x")[2:14]
    return "0e:" + ":".join(raw[i : i + 2] for i in range(0, 10, 2))


def new_network_interface(
    txn: Txn,
    ctx: RequestContext,
    subnet: dict[str, Any],
    groups: list[dict[str, Any]],
    private_ip: str,
    description: str,
    *,
    attachment: dict[str, Any] | None = None,
    interface_type: str = "interface",
    requester_managed: bool = False,
    requester_id: str | None = None,
    tags: list | None = None,
) -> dict[str, Any]:
    eni_id = c.new("eni")
    dns = private_dns_name(ctx, private_ip)
    eni: dict[str, Any] = {
        "NetworkInterfaceId": eni_id,
        "SubnetId": subnet["SubnetId"],
        "VpcId": subnet["VpcId"],
        "AvailabilityZone": subnet["AvailabilityZone"],
        "AvailabilityZoneId": subnet["AvailabilityZoneId"],
        "Description": description,
        "Groups": [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in groups],
        "InterfaceType": interface_type,
        "Ipv6Addresses": [],
        "MacAddress": mac_address(),
        "OwnerId": ctx.account_id,
        "PrivateDnsName": dns,
        "PrivateIpAddress": private_ip,
        "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": private_ip, "PrivateDnsName": dns}],
        "RequesterManaged": requester_managed,
        "SourceDestCheck": True,
        "Status": "in-use" if attachment else "available",
        "Tags": tags or [],
    }
    if requester_id:
        eni["RequesterId"] = requester_id
    if attachment:
        att = {"AttachmentId": c.new("eni-attach"), "AttachTime": ctx.clock.time(), "DeleteOnTermination": True,
               "DeviceIndex": 0, "NetworkCardIndex": 0, "Status": "attached", "InstanceOwnerId": ctx.account_id}
        att.update(attachment)
        eni["Attachment"] = att
    txn.put(PRIVATE_IP_KIND, _ip_key(subnet["SubnetId"], private_ip), {"Owner": eni_id}, ctx.scope)
    c.put(txn, ctx, "eni", eni_id, eni)
    return eni


def delete_network_interface(txn: Txn, ctx: RequestContext, eni: dict[str, Any]) -> None:
    """Remove an ENI and give back its private addresses and any auto-assigned public address."""
    for item in eni.get("PrivateIpAddresses", []):
        release_private_ip(txn, ctx, eni["SubnetId"], item["PrivateIpAddress"])
    association = eni.get("Association")
    if association and not association.get("AllocationId"):
        public_ip_release(txn, ctx, association["PublicIp"])
    elif association and association.get("AllocationId"):
        address = txn.get(c.kind("eipalloc"), association["AllocationId"], ctx.scope)
        if address is not None:
            for key in ("AssociationId", "InstanceId", "NetworkInterfaceId", "NetworkInterfaceOwnerId", "PrivateIpAddress"):
                address.pop(key, None)
            c.put(txn, ctx, "eipalloc", address["AllocationId"], address)
    c.delete(txn, ctx, "eni", eni["NetworkInterfaceId"])


def present_eni(doc: dict[str, Any]) -> dict[str, Any]:
    """ENIs name their tags ``TagSet`` in AWS's output."""
    out = dict(doc)
    out["TagSet"] = doc.get("Tags", [])
    return out
