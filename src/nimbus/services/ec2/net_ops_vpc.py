"""Operations on VPCs, subnets, internet gateways, route tables and DHCP options."""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from . import net_common as c
from . import net_records as r
from .net_cidr import any_cidr, overlaps, parse_v6, rfc1918_range, subnet_cidr, vpc_cidr, within
from .net_common import each, nested

VPC_FILTERS = {
    "cidr": "CidrBlock", "cidr-block-association.cidr-block": each("CidrBlockAssociationSet", "CidrBlock"),
    "cidr-block-association.association-id": each("CidrBlockAssociationSet", "AssociationId"),
    "cidr-block-association.state": lambda d: [a["CidrBlockState"]["State"] for a in d["CidrBlockAssociationSet"]],
    "dhcp-options-id": "DhcpOptionsId", "is-default": "IsDefault", "owner-id": "OwnerId", "state": "State", "vpc-id": "VpcId",
    "instance-tenancy": "InstanceTenancy",
    "ipv6-cidr-block-association.ipv6-cidr-block": each("Ipv6CidrBlockAssociationSet", "Ipv6CidrBlock"),
    "ipv6-cidr-block-association.association-id": each("Ipv6CidrBlockAssociationSet", "AssociationId"),
    "ipv6-cidr-block-association.state": lambda d: [a["Ipv6CidrBlockState"]["State"] for a in d["Ipv6CidrBlockAssociationSet"]],
    "ipv6-cidr-block-association.ipv6-pool": each("Ipv6CidrBlockAssociationSet", "Ipv6Pool"),
}
SUBNET_FILTERS = {
    "availability-zone": "AvailabilityZone", "availabilityZone": "AvailabilityZone", "availability-zone-id": "AvailabilityZoneId",
    "available-ip-address-count": "AvailableIpAddressCount", "cidr-block": "CidrBlock", "cidr": "CidrBlock", "cidrBlock": "CidrBlock",
    "default-for-az": "DefaultForAz", "defaultForAz": "DefaultForAz", "map-public-ip-on-launch": "MapPublicIpOnLaunch",
    "owner-id": "OwnerId", "state": "State", "subnet-arn": "SubnetArn", "subnet-id": "SubnetId", "vpc-id": "VpcId",
    "ipv6-cidr-block-association.ipv6-cidr-block": each("Ipv6CidrBlockAssociationSet", "Ipv6CidrBlock"),
    "ipv6-cidr-block-association.association-id": each("Ipv6CidrBlockAssociationSet", "AssociationId"),
    "assign-ipv6-address-on-creation": "AssignIpv6AddressOnCreation", "ipv6-native": "Ipv6Native",
}
IGW_FILTERS = {
    "attachment.state": each("Attachments", "State"), "attachment.vpc-id": each("Attachments", "VpcId"),
    "internet-gateway-id": "InternetGatewayId", "owner-id": "OwnerId",
}
EIGW_FILTERS = {"egress-only-internet-gateway-id": "EgressOnlyInternetGatewayId",
                "attachment.state": each("Attachments", "State"), "attachment.vpc-id": each("Attachments", "VpcId")}
RTB_FILTERS = {
    "route-table-id": "RouteTableId", "vpc-id": "VpcId", "owner-id": "OwnerId",
    "association.route-table-association-id": each("Associations", "RouteTableAssociationId"),
    "association.route-table-id": each("Associations", "RouteTableId"),
    "association.subnet-id": each("Associations", "SubnetId"),
    "association.gateway-id": each("Associations", "GatewayId"),
    "association.main": lambda d: [bool(a.get("Main")) for a in d["Associations"]] or [False],
    "route.destination-cidr-block": each("Routes", "DestinationCidrBlock"),
    "route.destination-ipv6-cidr-block": each("Routes", "DestinationIpv6CidrBlock"),
    "route.destination-prefix-list-id": each("Routes", "DestinationPrefixListId"),
    "route.egress-only-internet-gateway-id": each("Routes", "EgressOnlyInternetGatewayId"),
    "route.gateway-id": each("Routes", "GatewayId"), "route.instance-id": each("Routes", "InstanceId"),
    "route.nat-gateway-id": each("Routes", "NatGatewayId"), "route.transit-gateway-id": each("Routes", "TransitGatewayId"),
    "route.origin": each("Routes", "Origin"), "route.state": each("Routes", "State"),
    "route.vpc-peering-connection-id": each("Routes", "VpcPeeringConnectionId"),
    "route.network-interface-id": each("Routes", "NetworkInterfaceId"),
}
DHCP_FILTERS = {"dhcp-options-id": "DhcpOptionsId", "owner-id": "OwnerId", "key": each("DhcpConfigurations", "Key"),
                "value": lambda d: [v["Value"] for cfg in d["DhcpConfigurations"] for v in cfg["Values"]]}

ROUTE_TARGETS = ("GatewayId", "NatGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId", "EgressOnlyInternetGatewayId",
                 "InstanceId", "TransitGatewayId", "LocalGatewayId", "CarrierGatewayId", "VpcEndpointId", "CoreNetworkArn")


class VpcOperations:
    # ------------------------------------------------------------------ VPCs

    def create_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        if not params.get("CidrBlock"):
            raise ServiceError("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.", 400)
        net = vpc_cidr(params["CidrBlock"])
        tenancy = params.get("InstanceTenancy") or "default"
        if tenancy not in ("default", "dedicated", "host"):
            raise ServiceError("InvalidParameterValue", f"Value ({tenancy}) for parameter instanceTenancy is invalid.", 400)
        tags = c.tags_of(params, "vpc")
        ipv6 = None
        if params.get("AmazonProvidedIpv6CidrBlock"):
            ipv6 = r.amazon_ipv6_block()
        elif params.get("Ipv6CidrBlock"):
            ipv6 = str(parse_v6(params["Ipv6CidrBlock"]))
        with ctx.store.transaction() as txn:
            r.ensure_defaults(ctx, txn)
            vpc = r.new_vpc(txn, ctx, str(net), tenancy=tenancy, tags=tags, ipv6=ipv6)
        return {"Vpc": vpc}

    def create_default_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            marker = r.defaults(txn, ctx)
            if marker.get("DefaultVpcId") and txn.exists(c.kind("vpc"), marker["DefaultVpcId"], ctx.scope):
                raise ServiceError("DefaultVpcAlreadyExists", "A Default VPC already exists for this account in this region.", 400)
            vpc = r.create_default_vpc(txn, ctx, marker)
        return {"Vpc": vpc}

    def describe_vpcs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "vpc", ids_param="VpcIds", fields=VPC_FILTERS)
        return c.page_result("Vpcs", items, token)

    def delete_vpc(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            vpc_id = vpc["VpcId"]
            own = {vpc["_main_route_table"], vpc["_default_network_acl"], vpc["_default_security_group"]}

            def lives(prefix: str, test=lambda d: True) -> bool:
                return any(d.get("VpcId") == vpc_id and test(d) for d in c.scan(txn, ctx, prefix))

            busy = (
                lives("subnet") or lives("eni")
                or lives("sg", lambda d: d["GroupId"] not in own)
                or lives("rtb", lambda d: d["RouteTableId"] not in own)
                or lives("acl", lambda d: d["NetworkAclId"] not in own)
                or lives("nat", lambda d: _nat_state(ctx, d) not in ("deleted", "failed"))
                or lives("vpce", lambda d: d["State"] != "deleted")
                or any(a.get("VpcId") == vpc_id for g in c.scan(txn, ctx, "igw") for a in g["Attachments"])
                or any(a.get("VpcId") == vpc_id for g in c.scan(txn, ctx, "eigw") for a in g["Attachments"])
                or any(a.get("VpcId") == vpc_id and a["State"] == "attached" for g in c.scan(txn, ctx, "vgw") for a in g["VpcAttachments"])
            )
            if busy:
                raise c.dependency("vpc", vpc_id)
            for rule_id in list(c.get(txn, ctx, "sg", vpc["_default_security_group"])["_rules"]):
                c.delete(txn, ctx, "sgr", rule_id)
            c.delete(txn, ctx, "sg", vpc["_default_security_group"])
            c.delete(txn, ctx, "rtb", vpc["_main_route_table"])
            c.delete(txn, ctx, "acl", vpc["_default_network_acl"])
            for pcx in list(c.scan(txn, ctx, "pcx")):
                if vpc_id in (pcx["RequesterVpcInfo"].get("VpcId"), pcx["AccepterVpcInfo"].get("VpcId")) and pcx["Status"]["Code"] == "active":
                    pcx["Status"] = {"Code": "deleted", "Message": "Deleted by VPC deletion"}
                    c.put(txn, ctx, "pcx", pcx["VpcPeeringConnectionId"], pcx)
            c.delete(txn, ctx, "vpc", vpc_id)
            marker = r.defaults(txn, ctx)
            if marker.get("DefaultVpcId") == vpc_id:
                marker["DefaultVpcId"] = None
                txn.put(r.DEFAULTS_KIND, "defaults", marker, ctx.scope)
        return {}

    def modify_vpc_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        changes = {k: params[k]["Value"] for k in ("EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics")
                   if isinstance(params.get(k), dict) and "Value" in params[k]}
        if len(changes) != 1:
            raise ServiceError("InvalidParameterCombination", "Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames" if changes else "No attributes specified.", 400)
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            vpc["_attributes"].update(changes)
            c.put(txn, ctx, "vpc", vpc["VpcId"], vpc)
        return {}

    def describe_vpc_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        vpc = c.get(ctx.store.read, ctx, "vpc", params.get("VpcId"))
        names = {"enableDnsSupport": "EnableDnsSupport", "enableDnsHostnames": "EnableDnsHostnames",
                 "enableNetworkAddressUsageMetrics": "EnableNetworkAddressUsageMetrics"}
        key = names.get(params.get("Attribute", ""))
        if key is None:
            raise ServiceError("InvalidParameterValue", f"Value ({params.get('Attribute')}) for parameter attribute is invalid. Unknown attribute.", 400)
        return {"VpcId": vpc["VpcId"], key: {"Value": vpc["_attributes"][key]}}

    def associate_vpc_cidr_block(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            result: dict[str, Any] = {"VpcId": vpc["VpcId"]}
            if params.get("CidrBlock"):
                net = vpc_cidr(params["CidrBlock"])
                cidr = str(net)
                current = r.vpc_cidrs(vpc)
                if len(current) >= 5:
                    raise ServiceError("CidrLimitExceeded", f"This network '{vpc['VpcId']}' has met its maximum number of allowed CIDRs: 5", 400)
                for existing in current:
                    if overlaps(existing, cidr):
                        raise ServiceError("InvalidVpc.Range", f"The CIDR '{cidr}' conflicts with another subnet", 400)
                primary = rfc1918_range(vpc_cidr(vpc["CidrBlock"]))
                own = rfc1918_range(net)
                if primary is not None and own is not None and own != primary:
                    raise ServiceError("InvalidVpc.Range", f"The CIDR '{cidr}' is restricted. Use a CIDR from the same private address range as the current VPC CIDR, or use a publicly-routable CIDR.", 400)
                association = {"AssociationId": c.new("vpc-cidr-assoc"), "CidrBlock": cidr, "CidrBlockState": r.ok_state()}
                vpc["CidrBlockAssociationSet"].append(association)
                result["CidrBlockAssociation"] = association
                local = {"DestinationCidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
            elif params.get("AmazonProvidedIpv6CidrBlock") or params.get("Ipv6CidrBlock"):
                if r.vpc_ipv6_cidrs(vpc):
                    raise ServiceError("CidrLimitExceeded", f"This network '{vpc['VpcId']}' has met its maximum number of allowed CIDRs: 1", 400)
                block = r.amazon_ipv6_block() if params.get("AmazonProvidedIpv6CidrBlock") else str(parse_v6(params["Ipv6CidrBlock"]))
                association = r.ipv6_association(block, ctx.region)
                vpc["Ipv6CidrBlockAssociationSet"].append(association)
                result["Ipv6CidrBlockAssociation"] = association
                local = {"DestinationIpv6CidrBlock": block, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
            else:
                raise ServiceError("MissingParameter", "Either 'cidrBlock' or 'amazonProvidedIpv6CidrBlock' should be provided.", 400)
            c.put(txn, ctx, "vpc", vpc["VpcId"], vpc)
            for rtb in list(c.scan(txn, ctx, "rtb")):
                if rtb["VpcId"] == vpc["VpcId"]:
                    rtb["Routes"].insert(0, dict(local))
                    c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return result

    def disassociate_vpc_cidr_block(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        association_id = params.get("AssociationId", "")
        with ctx.store.transaction() as txn:
            for vpc in c.scan(txn, ctx, "vpc"):
                for key, cidr_key, state_key in (("CidrBlockAssociationSet", "CidrBlock", "CidrBlockState"),
                                                 ("Ipv6CidrBlockAssociationSet", "Ipv6CidrBlock", "Ipv6CidrBlockState")):
                    for assoc in vpc[key]:
                        if assoc["AssociationId"] != association_id:
                            continue
                        cidr = assoc[cidr_key]
                        if key == "CidrBlockAssociationSet" and cidr == vpc["CidrBlock"]:
                            raise ServiceError("OperationNotPermitted", f"The vpc CIDR block with association ID {association_id} may not be disassociated. It is the primary IPv4 CIDR block of the VPC", 400)
                        if any(s["VpcId"] == vpc["VpcId"] and (within(s["CidrBlock"], cidr) if key == "CidrBlockAssociationSet"
                               else any(within(a["Ipv6CidrBlock"], cidr) for a in s["Ipv6CidrBlockAssociationSet"]))
                               for s in c.scan(txn, ctx, "subnet")):
                            raise ServiceError("InvalidCidrBlock.InUse", f"The vpc {vpc['VpcId']} currently has a subnet within CIDR block {cidr}", 400)
                        vpc[key].remove(assoc)
                        c.put(txn, ctx, "vpc", vpc["VpcId"], vpc)
                        dest = "DestinationCidrBlock" if key == "CidrBlockAssociationSet" else "DestinationIpv6CidrBlock"
                        for rtb in list(c.scan(txn, ctx, "rtb")):
                            if rtb["VpcId"] == vpc["VpcId"]:
                                rtb["Routes"] = [rt for rt in rtb["Routes"] if not (rt.get(dest) == cidr and rt.get("GatewayId") == "local")]
                                c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
                        assoc[state_key] = {"State": "disassociating"}
                        out = {"VpcId": vpc["VpcId"], "CidrBlockAssociation" if key == "CidrBlockAssociationSet" else "Ipv6CidrBlockAssociation": assoc}
                        return out
        raise ServiceError("InvalidVpcCidrBlockAssociationID.NotFound", f"The vpc CIDR block association ID '{association_id}' does not exist", 400)

    # ------------------------------------------------------------------ subnets

    def create_subnet(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "subnet")
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            if not params.get("CidrBlock"):
                raise ServiceError("MissingParameter", "The request must contain the parameter cidrBlock", 400)
            net = subnet_cidr(params["CidrBlock"])
            cidr = str(net)
            if not any(within(cidr, block) for block in r.vpc_cidrs(vpc)):
                raise ServiceError("InvalidSubnet.Range", f"The CIDR '{params['CidrBlock']}' is invalid.", 400)
            siblings = [s for s in c.scan(txn, ctx, "subnet") if s["VpcId"] == vpc["VpcId"]]
            for sibling in siblings:
                if overlaps(sibling["CidrBlock"], cidr):
                    raise ServiceError("InvalidSubnet.Conflict", f"The CIDR '{params['CidrBlock']}' conflicts with another subnet", 400)
            if params.get("AvailabilityZone"):
                az = r.zone(ctx, params["AvailabilityZone"])["ZoneName"]
            elif params.get("AvailabilityZoneId"):
                az = r.zone(ctx, zone_id=params["AvailabilityZoneId"])["ZoneName"]
            else:
                zones = [z["ZoneName"] for z in r.availability_zones(ctx.region)]
                az = zones[len(siblings) % len(zones)]
            ipv6 = None
            if params.get("Ipv6CidrBlock"):
                block = parse_v6(params["Ipv6CidrBlock"])
                ipv6 = str(block)
                if block.prefixlen != 64 or not any(within(ipv6, b) for b in r.vpc_ipv6_cidrs(vpc)):
                    raise ServiceError("InvalidSubnet.Range", f"The IPv6 CIDR '{params['Ipv6CidrBlock']}' is invalid.", 400)
                for sibling in siblings:
                    for a in sibling["Ipv6CidrBlockAssociationSet"]:
                        if overlaps(a["Ipv6CidrBlock"], ipv6):
                            raise ServiceError("InvalidSubnet.Conflict", f"The CIDR '{ipv6}' conflicts with another subnet", 400)
            subnet = r.new_subnet(txn, ctx, vpc, cidr, az, tags=tags, ipv6=ipv6)
        return {"Subnet": subnet}

    def describe_subnets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "subnet", ids_param="SubnetIds", fields=SUBNET_FILTERS)
        return c.page_result("Subnets", items, token)

    def delete_subnet(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            subnet = c.get(txn, ctx, "subnet", params.get("SubnetId"))
            subnet_id = subnet["SubnetId"]
            if any(e["SubnetId"] == subnet_id for e in c.scan(txn, ctx, "eni")) or any(
                n["SubnetId"] == subnet_id and _nat_state(ctx, n) in ("pending", "available", "deleting") for n in c.scan(txn, ctx, "nat")
            ):
                raise c.dependency("subnet", subnet_id)
            for prefix, key in (("rtb", "Associations"), ("acl", "Associations")):
                for doc in list(c.scan(txn, ctx, prefix)):
                    kept = [a for a in doc[key] if a.get("SubnetId") != subnet_id]
                    if len(kept) != len(doc[key]):
                        doc[key] = kept
                        c.put(txn, ctx, prefix, doc["RouteTableId" if prefix == "rtb" else "NetworkAclId"], doc)
            c.delete(txn, ctx, "subnet", subnet_id)
        return {}

    def modify_subnet_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            subnet = c.get(txn, ctx, "subnet", params.get("SubnetId"))
            for key in ("MapPublicIpOnLaunch", "AssignIpv6AddressOnCreation", "MapCustomerOwnedIpOnLaunch", "EnableDns64"):
                if isinstance(params.get(key), dict) and "Value" in params[key]:
                    subnet[key] = bool(params[key]["Value"])
            options = subnet["PrivateDnsNameOptionsOnLaunch"]
            if params.get("PrivateDnsHostnameTypeOnLaunch"):
                options["HostnameType"] = params["PrivateDnsHostnameTypeOnLaunch"]
            for key, target in (("EnableResourceNameDnsARecordOnLaunch", "EnableResourceNameDnsARecord"),
                                ("EnableResourceNameDnsAAAARecordOnLaunch", "EnableResourceNameDnsAAAARecord")):
                if isinstance(params.get(key), dict) and "Value" in params[key]:
                    options[target] = bool(params[key]["Value"])
            c.put(txn, ctx, "subnet", subnet["SubnetId"], subnet)
        return {}

    # ------------------------------------------------------------------ internet gateways

    def create_internet_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        igw = r.new_internet_gateway(ctx, c.tags_of(params, "internet-gateway"))
        with ctx.store.transaction() as txn:
            c.put(txn, ctx, "igw", igw["InternetGatewayId"], igw)
        return {"InternetGateway": igw}

    def describe_internet_gateways(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "igw", ids_param="InternetGatewayIds", fields=IGW_FILTERS)
        return c.page_result("InternetGateways", items, token)

    def delete_internet_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            igw = c.get(txn, ctx, "igw", params.get("InternetGatewayId"))
            if igw["Attachments"]:
                raise c.dependency("internetGateway", igw["InternetGatewayId"])
            c.delete(txn, ctx, "igw", igw["InternetGatewayId"])
        return {}

    def attach_internet_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            igw = c.get(txn, ctx, "igw", params.get("InternetGatewayId"))
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            if igw["Attachments"]:
                raise ServiceError("Resource.AlreadyAssociated", f"resource {igw['InternetGatewayId']} is already attached to network {igw['Attachments'][0]['VpcId']}", 400)
            for other in c.scan(txn, ctx, "igw"):
                if any(a["VpcId"] == vpc["VpcId"] for a in other["Attachments"]):
                    raise ServiceError("Resource.AlreadyAssociated", f"Network {vpc['VpcId']} already has an internet gateway attached", 400)
            igw["Attachments"] = [{"State": "available", "VpcId": vpc["VpcId"]}]
            c.put(txn, ctx, "igw", igw["InternetGatewayId"], igw)
        return {}

    def detach_internet_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            igw = c.get(txn, ctx, "igw", params.get("InternetGatewayId"))
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            if not any(a["VpcId"] == vpc["VpcId"] for a in igw["Attachments"]):
                raise ServiceError("Gateway.NotAttached", f"resource {igw['InternetGatewayId']} is not attached to network {vpc['VpcId']}", 400)
            if any(e["VpcId"] == vpc["VpcId"] and e.get("Association") for e in c.scan(txn, ctx, "eni")):
                raise ServiceError("DependencyViolation", f"Network {vpc['VpcId']} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.", 400)
            igw["Attachments"] = []
            c.put(txn, ctx, "igw", igw["InternetGatewayId"], igw)
            _blackhole(txn, ctx, "GatewayId", igw["InternetGatewayId"])
        return {}

    # ------------------------------------------------------------------ egress-only internet gateways

    def create_egress_only_internet_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "egress-only-internet-gateway")
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            eigw = {"EgressOnlyInternetGatewayId": c.new("eigw"), "Attachments": [{"State": "attached", "VpcId": vpc["VpcId"]}], "Tags": tags}
            c.put(txn, ctx, "eigw", eigw["EgressOnlyInternetGatewayId"], eigw)
        result = {"EgressOnlyInternetGateway": eigw}
        if params.get("ClientToken"):
            result["ClientToken"] = params["ClientToken"]
        return result

    def describe_egress_only_internet_gateways(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, token = c.describe(ctx, params, "eigw", ids_param="EgressOnlyInternetGatewayIds", fields=EIGW_FILTERS, max_default=255)
        return c.page_result("EgressOnlyInternetGateways", items, token)

    def delete_egress_only_internet_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            eigw = c.get(txn, ctx, "eigw", params.get("EgressOnlyInternetGatewayId"))
            c.delete(txn, ctx, "eigw", eigw["EgressOnlyInternetGatewayId"])
            _blackhole(txn, ctx, "EgressOnlyInternetGatewayId", eigw["EgressOnlyInternetGatewayId"])
        return {"ReturnCode": True}

    # ------------------------------------------------------------------ route tables

    def create_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "route-table")
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            rtb = r.new_route_table(ctx, vpc, tags=tags)
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return {"RouteTable": rtb}

    def describe_route_tables(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "rtb", ids_param="RouteTableIds", fields=RTB_FILTERS, max_default=100)
        return c.page_result("RouteTables", items, token)

    def delete_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            rtb = c.get(txn, ctx, "rtb", params.get("RouteTableId"))
            if rtb["Associations"]:
                raise c.dependency("routeTable", rtb["RouteTableId"])
            c.delete(txn, ctx, "rtb", rtb["RouteTableId"])
        return {}

    def create_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            rtb = c.get(txn, ctx, "rtb", params.get("RouteTableId"))
            route = _route(txn, ctx, rtb, params)
            dest_key, dest = _destination(route)
            if any(existing.get(dest_key) == dest for existing in rtb["Routes"]):
                raise ServiceError("RouteAlreadyExists", f"The route identified by {dest} already exists.", 400)
            rtb["Routes"].append(route)
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return {"Return": True}

    def replace_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            rtb = c.get(txn, ctx, "rtb", params.get("RouteTableId"))
            route = _route(txn, ctx, rtb, params)
            dest_key, dest = _destination(route)
            for i, existing in enumerate(rtb["Routes"]):
                if existing.get(dest_key) == dest:
                    if existing.get("GatewayId") == "local" and route.get("GatewayId") != "local":
                        raise ServiceError("InvalidParameterValue", f"cannot replace local route {dest} in route table {rtb['RouteTableId']}", 400)
                    route["Origin"] = "CreateRoute"
                    rtb["Routes"][i] = route
                    break
            else:
                raise _no_route(dest_key, dest, rtb["RouteTableId"])
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return {}

    def delete_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            rtb = c.get(txn, ctx, "rtb", params.get("RouteTableId"))
            dest_key, dest = _requested_destination(params)
            for existing in rtb["Routes"]:
                if existing.get(dest_key) == dest:
                    if existing.get("GatewayId") == "local":
                        raise ServiceError("InvalidParameterValue", f"cannot remove local route {dest} in route table {rtb['RouteTableId']}", 400)
                    if existing.get("Origin") == "CreateRouteTable" or (existing.get("GatewayId") or "").startswith("vpce-"):
                        raise ServiceError("InvalidParameterValue", f"Route {dest} in route table {rtb['RouteTableId']} is managed by a VPC endpoint and cannot be deleted", 400)
                    rtb["Routes"].remove(existing)
                    break
            else:
                raise _no_route(dest_key, dest, rtb["RouteTableId"])
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return {}

    def associate_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            rtb = c.get(txn, ctx, "rtb", params.get("RouteTableId"))
            association: dict[str, Any] = {"Main": False, "RouteTableAssociationId": c.new("rtbassoc"), "RouteTableId": rtb["RouteTableId"],
                                           "AssociationState": r.ok_state()}
            if params.get("SubnetId"):
                subnet = c.get(txn, ctx, "subnet", params["SubnetId"])
                target_key, target, target_vpc = "SubnetId", subnet["SubnetId"], subnet["VpcId"]
            elif params.get("GatewayId"):
                gw_id = params["GatewayId"]
                gw = c.get(txn, ctx, "igw" if gw_id.startswith("igw-") else "vgw", gw_id)
                attachments = gw.get("Attachments") or gw.get("VpcAttachments") or []
                target_key, target = "GatewayId", gw_id
                target_vpc = attachments[0]["VpcId"] if attachments else None
            else:
                raise ServiceError("MissingParameter", "Either subnetId or gatewayId must be specified", 400)
            if target_vpc != rtb["VpcId"]:
                raise ServiceError("InvalidParameterValue", f"Route table {rtb['RouteTableId']} and {target_key == 'SubnetId' and 'subnet' or 'gateway'} {target} belong to different networks", 400)
            for other in c.scan(txn, ctx, "rtb"):
                for a in other["Associations"]:
                    if a.get(target_key) == target:
                        raise ServiceError("Resource.AlreadyAssociated", f"the specified association for route table {rtb['RouteTableId']} conflicts with an existing association", 400)
            association[target_key] = target
            rtb["Associations"].append(association)
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return {"AssociationId": association["RouteTableAssociationId"], "AssociationState": r.ok_state()}

    def disassociate_route_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            rtb, association = _find_rtb_association(txn, ctx, params.get("AssociationId", ""))
            if association.get("Main"):
                raise ServiceError("InvalidParameterValue", "cannot disassociate the main route table association " + association["RouteTableAssociationId"], 400)
            rtb["Associations"].remove(association)
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
        return {}

    def replace_route_table_association(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            old_rtb, association = _find_rtb_association(txn, ctx, params.get("AssociationId", ""))
            new_rtb = c.get(txn, ctx, "rtb", params.get("RouteTableId"))
            if new_rtb["VpcId"] != old_rtb["VpcId"]:
                raise ServiceError("InvalidParameterValue", f"Route table {new_rtb['RouteTableId']} belongs to a different network", 400)
            old_rtb["Associations"].remove(association)
            c.put(txn, ctx, "rtb", old_rtb["RouteTableId"], old_rtb)
            new_rtb = c.get(txn, ctx, "rtb", new_rtb["RouteTableId"])
            moved = dict(association, RouteTableAssociationId=c.new("rtbassoc"), RouteTableId=new_rtb["RouteTableId"])
            new_rtb["Associations"].append(moved)
            c.put(txn, ctx, "rtb", new_rtb["RouteTableId"], new_rtb)
            if moved.get("Main"):
                vpc = c.get(txn, ctx, "vpc", new_rtb["VpcId"])
                vpc["_main_route_table"] = new_rtb["RouteTableId"]
                c.put(txn, ctx, "vpc", vpc["VpcId"], vpc)
        return {"NewAssociationId": moved["RouteTableAssociationId"], "AssociationState": r.ok_state()}

    # ------------------------------------------------------------------ DHCP options

    def create_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        configurations = []
        for cfg in params.get("DhcpConfigurations") or []:
            key = cfg.get("Key", "")
            if key not in ("domain-name", "domain-name-servers", "ntp-servers", "netbios-name-servers", "netbios-node-type", "ipv6-address-preferred-lease-time"):
                raise ServiceError("InvalidParameterValue", f"Value ({key}) for parameter name is invalid. Unknown DHCP option", 400)
            configurations.append({"Key": key, "Values": [{"Value": v} for v in cfg.get("Values") or []]})
        dopt = r.new_dhcp_options(ctx, configurations, c.tags_of(params, "dhcp-options"))
        with ctx.store.transaction() as txn:
            c.put(txn, ctx, "dopt", dopt["DhcpOptionsId"], dopt)
        return {"DhcpOptions": dopt}

    def describe_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "dopt", ids_param="DhcpOptionsIds", fields=DHCP_FILTERS)
        return c.page_result("DhcpOptions", items, token)

    def associate_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            dopt_id = params.get("DhcpOptionsId")
            if dopt_id != "default":
                c.get(txn, ctx, "dopt", dopt_id)
            vpc["DhcpOptionsId"] = dopt_id
            c.put(txn, ctx, "vpc", vpc["VpcId"], vpc)
        return {}

    def delete_dhcp_options(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            dopt = c.get(txn, ctx, "dopt", params.get("DhcpOptionsId"))
            if any(v["DhcpOptionsId"] == dopt["DhcpOptionsId"] for v in c.scan(txn, ctx, "vpc")):
                raise c.dependency("dhcpOptions", dopt["DhcpOptionsId"])
            c.delete(txn, ctx, "dopt", dopt["DhcpOptionsId"])
        return {}


def _nat_state(ctx: RequestContext, nat: dict[str, Any]) -> str:
    from .net_ops_gateways import _nat_now

    return _nat_now(ctx)[0](nat)["State"]


def _requested_destination(params: dict[str, Any]) -> tuple[str, str]:
    given = [(k, params[k]) for k in ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId") if params.get(k)]
    if len(given) != 1:
        raise ServiceError("InvalidParameterCombination" if given else "MissingParameter",
                           "The request must contain exactly one of: destinationCidrBlock, destinationIpv6CidrBlock, destinationPrefixListId", 400)
    key, value = given[0]
    if key == "DestinationCidrBlock":
        value = any_cidr(value, "destinationCidrBlock")
    elif key == "DestinationIpv6CidrBlock":
        value = any_cidr(value, "destinationIpv6CidrBlock")
    return key, value


def _destination(route: dict[str, Any]) -> tuple[str, str]:
    for key in ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"):
        if key in route:
            return key, route[key]
    raise AssertionError(route)


def _no_route(dest_key: str, dest: str, rtb_id: str) -> ServiceError:
    noun = {"DestinationCidrBlock": "destination-cidr-block", "DestinationIpv6CidrBlock": "destination-ipv6-cidr-block",
            "DestinationPrefixListId": "destination-prefix-list-id"}[dest_key]
    return ServiceError("InvalidRoute.NotFound", f"no route with {noun} {dest} in route table {rtb_id}", 400)


def _route(txn, ctx: RequestContext, rtb: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A route from CreateRoute/ReplaceRoute parameters, its target checked."""
    dest_key, dest = _requested_destination(params)
    if dest_key == "DestinationPrefixListId":
        c.get(txn, ctx, "pl", dest)
    targets = [k for k in ROUTE_TARGETS if params.get(k)]
    if len(targets) != 1:
        raise ServiceError("InvalidParameterCombination" if targets else "MissingParameter",
                           "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, "
                           "egressOnlyInternetGatewayId, transitGatewayId, localGatewayId, carrierGatewayId, vpcEndpointId or instanceId", 400)
    key = targets[0]
    value = params[key]
    route: dict[str, Any] = {dest_key: dest, "Origin": "CreateRoute", "State": "active"}
    vpc_id = rtb["VpcId"]

    def same_network(doc_vpc: str | None, noun: str) -> None:
        if doc_vpc != vpc_id:
            raise ServiceError("InvalidParameterValue", f"route table {rtb['RouteTableId']} and network gateway {value} belong to different networks", 400)

    if key == "GatewayId":
        if value.startswith("igw-"):
            igw = c.get(txn, ctx, "igw", value)
            same_network(igw["Attachments"][0]["VpcId"] if igw["Attachments"] else None, "igw")
        elif value.startswith("vgw-"):
            vgw = c.get(txn, ctx, "vgw", value)
            same_network(next((a["VpcId"] for a in vgw["VpcAttachments"] if a["State"] == "attached"), None), "vgw")
        elif value.startswith("vpce-"):
            vpce = c.get(txn, ctx, "vpce", value)
            same_network(vpce["VpcId"], "vpce")
        elif value == "local":
            pass
        else:
            raise ServiceError("InvalidGatewayID.NotFound", f"The gateway ID '{value}' does not exist", 400)
    elif key == "NatGatewayId":
        nat = c.get(txn, ctx, "nat", value)
        same_network(nat["VpcId"], "nat")
    elif key == "EgressOnlyInternetGatewayId":
        eigw = c.get(txn, ctx, "eigw", value)
        same_network(eigw["Attachments"][0]["VpcId"], "eigw")
        if dest_key != "DestinationIpv6CidrBlock":
            raise ServiceError("InvalidParameterValue", "Egress-only internet gateways can only be used with IPv6 destinations", 400)
    elif key == "VpcPeeringConnectionId":
        pcx = c.get(txn, ctx, "pcx", value)
        if vpc_id not in (pcx["RequesterVpcInfo"].get("VpcId"), pcx["AccepterVpcInfo"].get("VpcId")):
            same_network(None, "pcx")
        if pcx["Status"]["Code"] not in ("active", "pending-acceptance"):
            raise ServiceError("InvalidVpcPeeringConnectionID.NotFound", f"The vpcPeeringConnection ID '{value}' does not exist", 400)
    elif key == "NetworkInterfaceId":
        eni = c.get(txn, ctx, "eni", value)
        same_network(eni["VpcId"], "eni")
        if eni.get("Attachment", {}).get("InstanceId"):
            route["InstanceId"] = eni["Attachment"]["InstanceId"]
            route["InstanceOwnerId"] = ctx.account_id
    elif key == "InstanceId":
        instance = txn.get("ec2:instance", value, ctx.scope)
        if instance is None:
            raise ServiceError("InvalidInstanceID.NotFound", f"The instance ID '{value}' does not exist", 400)
        enis = instance.get("NetworkInterfaces") or []
        if len(enis) != 1:
            raise ServiceError("InvalidInstanceID", f"There are multiple interfaces attached to instance '{value}'. Please specify an interface ID for the operation instead.", 400)
        route["NetworkInterfaceId"] = enis[0]["NetworkInterfaceId"]
        route["InstanceOwnerId"] = ctx.account_id
    elif key == "VpcEndpointId":
        vpce = c.get(txn, ctx, "vpce", value)
        same_network(vpce["VpcId"], "vpce")
    route[key] = value
    return route


def _find_rtb_association(txn, ctx: RequestContext, association_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not association_id.startswith("rtbassoc-"):
        raise ServiceError("InvalidAssociationID.Malformed", f'Invalid id: "{association_id}" (expecting "rtbassoc-...")', 400)
    for rtb in c.scan(txn, ctx, "rtb"):
        for association in rtb["Associations"]:
            if association["RouteTableAssociationId"] == association_id:
                return rtb, association
    raise ServiceError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist", 400)


def _blackhole(txn, ctx: RequestContext, key: str, target: str) -> None:
    """Routes to a target that went away stay, as ``blackhole`` (as AWS shows them)."""
    for rtb in list(c.scan(txn, ctx, "rtb")):
        changed = False
        for route in rtb["Routes"]:
            if route.get(key) == target and route["State"] != "blackhole":
                route["State"] = "blackhole"
                changed = True
        if changed:
            c.put(txn, ctx, "rtb", rtb["RouteTableId"], rtb)
