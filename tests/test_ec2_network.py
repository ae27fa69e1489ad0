"""VPC networking: default VPC, custom VPCs, subnets, gateways, routes, security groups, NACLs, EIPs, ENIs."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def code_of(info) -> str:
    return info.value.response["Error"]["Code"]


def error(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return code_of(info)


def test_fresh_region_has_default_vpc_via_cli(fresh_nimbus):
    nimbus = fresh_nimbus()  # its own server: other tests' instances use the default subnets
    vpcs = json.loads(nimbus.aws("ec2", "describe-vpcs", region="eu-west-2").stdout)["Vpcs"]
    assert len(vpcs) == 1
    vpc = vpcs[0]
    assert vpc["IsDefault"] is True and vpc["CidrBlock"] == "172.31.0.0/16" and vpc["State"] == "available"
    subnets = json.loads(nimbus.aws("ec2", "describe-subnets", region="eu-west-2").stdout)["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] and s["AvailableIpAddressCount"] == 4091 for s in subnets)
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["eu-west-2a", "eu-west-2b", "eu-west-2c"]
    ec2 = nimbus.client("ec2", region="eu-west-2")
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    assert len(igws) == 1
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert len(main) == 1
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igws[0]["InternetGatewayId"], "Origin": "CreateRoute", "State": "active"} in main[0]["Routes"]
    sgs = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    assert [g["GroupName"] for g in sgs] == ["default"]
    acls = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    assert len(acls) == 1 and len(acls[0]["Associations"]) == 3


def test_account_and_region_isolation(nimbus):
    east = nimbus.client("ec2", region="us-east-2")
    west = nimbus.client("ec2", region="us-west-1")
    vpc_id = east.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    assert error(west.describe_vpcs, VpcIds=[vpc_id]) == "InvalidVpcID.NotFound"
    assert vpc_id not in [v["VpcId"] for v in west.describe_vpcs()["Vpcs"]]
    east.delete_vpc(VpcId=vpc_id)


def test_vpc_and_subnet_cidr_rules(nimbus):
    ec2 = nimbus.client("ec2", region="ca-central-1")
    assert error(ec2.create_vpc, CidrBlock="10.0.0.0/8") == "InvalidVpc.Range"
    assert error(ec2.create_vpc, CidrBlock="10.0.0.0/29") == "InvalidVpc.Range"
    assert error(ec2.create_vpc, CidrBlock="banana") == "InvalidParameterValue"
    before = len(ec2.describe_vpcs()["Vpcs"])
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "lab"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc["Tags"] == [{"Key": "Name", "Value": "lab"}] and vpc["IsDefault"] is False
    assert len(ec2.describe_vpcs()["Vpcs"]) == before + 1
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone="ca-central-1a")["Subnet"]
    assert sub["AvailableIpAddressCount"] == 251 and sub["MapPublicIpOnLaunch"] is False
    assert error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.0.1.128/25") == "InvalidSubnet.Conflict"
    assert error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.0.0/24") == "InvalidSubnet.Range"
    assert error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.0.2.0/29") == "InvalidSubnet.Range"
    assert error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.0.2.0/24", AvailabilityZone="ca-central-1z") == "InvalidParameterValue"
    assert error(ec2.create_subnet, VpcId="vpc-12345678901234567", CidrBlock="10.0.2.0/24") == "InvalidVpcID.NotFound"
    assert error(ec2.create_subnet, VpcId="vpc-nothex", CidrBlock="10.0.2.0/24") == "InvalidVpcID.Malformed"
    assert [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]] == [sub["SubnetId"]]
    # secondary CIDR, then a subnet in it
    assoc = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.1.0.0/16")["CidrBlockAssociation"]
    assert error(ec2.associate_vpc_cidr_block, VpcId=vpc_id, CidrBlock="10.0.128.0/17") == "InvalidVpc.Range"
    sub2 = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.0.0/28")["Subnet"]
    assert sub2["AvailableIpAddressCount"] == 11
    assert error(ec2.disassociate_vpc_cidr_block, AssociationId=assoc["AssociationId"]) == "InvalidCidrBlock.InUse"
    # IPv6
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    v6 = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    assert v6.endswith("/56")
    sub6 = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.3.0/24", Ipv6CidrBlock=v6.replace("/56", "/64"))["Subnet"]
    assert sub6["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"] == v6.replace("/56", "/64")
    # DependencyViolation while subnets live
    assert error(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    for s in (sub, sub2, sub6):
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    assert error(ec2.describe_vpcs, VpcIds=[vpc_id]) == "InvalidVpcID.NotFound"


def test_custom_vpc_public_private_with_nat_built_and_torn_down(nimbus):
    ec2 = nimbus.client("ec2", region="ap-southeast-2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.0.0/24", AvailabilityZone="ap-southeast-2a")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone="ap-southeast-2b")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[public])["Subnets"][0]["MapPublicIpOnLaunch"] is True
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    assert error(ec2.detach_internet_gateway, InternetGatewayId=igw, VpcId=vpc_id) == "Gateway.NotAttached"
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    assert error(ec2.attach_internet_gateway, InternetGatewayId=igw, VpcId=vpc_id) == "Resource.AlreadyAssociated"
    public_rt = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]
    assert public_rt["Routes"] == [{"DestinationCidrBlock": "10.20.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}]
    rtb = public_rt["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw) == "RouteAlreadyExists"
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=public)["AssociationId"]
    assert error(ec2.associate_route_table, RouteTableId=rtb, SubnetId=public) == "Resource.AlreadyAssociated"
    # NAT gateway with an EIP, pending → available on the clock
    eip = ec2.allocate_address(Domain="vpc")
    assert eip["PublicIp"].startswith("127.")
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"])["NatGateway"]
    assert nat["State"] == "pending"
    nat_id = nat["NatGatewayId"]
    assert error(ec2.release_address, AllocationId=eip["AllocationId"]) == "InvalidIPAddress.InUse"
    nimbus.advance_clock(120)
    described = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
    assert described["State"] == "available"
    assert described["NatGatewayAddresses"][0]["PublicIp"] == eip["PublicIp"]
    private_rt = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    priv_assoc = ec2.associate_route_table(RouteTableId=private_rt, SubnetId=private)["AssociationId"]
    found = ec2.describe_route_tables(Filters=[{"Name": "route.nat-gateway-id", "Values": [nat_id]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [private_rt]
    # NAT ENI counts against the subnet
    assert ec2.describe_subnets(SubnetIds=[public])["Subnets"][0]["AvailableIpAddressCount"] == 250
    # teardown refused while things live
    assert error(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    assert error(ec2.delete_subnet, SubnetId=public) == "DependencyViolation"
    assert error(ec2.delete_route_table, RouteTableId=rtb) == "DependencyViolation"
    assert error(ec2.delete_internet_gateway, InternetGatewayId=igw) == "DependencyViolation"
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]["State"] == "deleting"
    nimbus.advance_clock(120)
    assert ec2.describe_nat_gateways(Filters=[{"Name": "state", "Values": ["deleted"]}, {"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"][0]["NatGatewayId"] == nat_id
    blackholed = ec2.describe_route_tables(RouteTableIds=[private_rt])["RouteTables"][0]["Routes"]
    assert any(r.get("NatGatewayId") == nat_id and r["State"] == "blackhole" for r in blackholed)
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.disassociate_route_table(AssociationId=assoc)
    ec2.disassociate_route_table(AssociationId=priv_assoc)
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_route_table(RouteTableId=private_rt)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_subnet(SubnetId=public)
    ec2.delete_subnet(SubnetId=private)
    ec2.delete_vpc(VpcId=vpc_id)
    assert error(ec2.describe_subnets, SubnetIds=[public]) == "InvalidSubnetID.NotFound"


def test_nat_gateway_without_igw_fails(nimbus):
    ec2 = nimbus.client("ec2", region="ap-south-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.5.0.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address()["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    assert nat["State"] == "failed" and nat["FailureCode"] == "Gateway.NotAttached"
    assert error(ec2.create_nat_gateway, SubnetId=subnet, AllocationId="eipalloc-12345678901234567") == "InvalidAllocationID.NotFound"
    assert error(ec2.describe_nat_gateways, NatGatewayIds=["nat-123"]) == "NatGatewayMalformed"
    assert error(ec2.describe_nat_gateways, NatGatewayIds=["nat-12345678901234567"]) == "NatGatewayNotFound"
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc_id)
    ec2.release_address(AllocationId=eip)


def test_security_group_ssh_http_rules(nimbus):
    ec2 = nimbus.client("ec2", region="eu-north-1")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="SSH and HTTP")
    sg = group["GroupId"]
    assert error(ec2.create_security_group, GroupName="web", Description="again") == "InvalidGroup.Duplicate"
    created = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "office"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ])["SecurityGroupRules"]
    assert len(created) == 2 and all(r["SecurityGroupRuleId"].startswith("sgr-") for r in created)
    before = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == "InvalidPermission.Duplicate"
    # the legacy form too
    assert error(ec2.authorize_security_group_ingress, GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="203.0.113.0/24") == "InvalidPermission.Duplicate"
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0] == before, "nothing changed"
    assert error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == "InvalidParameterValue"
    perms = {p["FromPort"]: p for p in before["IpPermissions"]}
    assert perms[22]["IpRanges"] == [{"CidrIp": "203.0.113.0/24", "Description": "office"}]
    assert before["IpPermissionsEgress"][0]["IpProtocol"] == "-1" and before["VpcId"] == vpc_id
    # reference to another SG and to a prefix list
    app = ec2.create_security_group(GroupName="app", Description="app tier")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": sg}]}])
    pl = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-north-1.s3"]}])["PrefixLists"][0]["PrefixListId"]
    ec2.authorize_security_group_egress(GroupId=app, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}])
    assert error(ec2.delete_security_group, GroupId=sg) == "DependencyViolation"
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [app]}])["SecurityGroupRules"]
    assert {r.get("ReferencedGroupInfo", {}).get("GroupId") for r in rules} >= {sg}
    assert any(r.get("PrefixListId") == pl and r["IsEgress"] for r in rules)
    found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [sg]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [app]
    assert error(ec2.authorize_security_group_ingress, GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "UserIdGroupPairs": [{"GroupId": "sg-12345678901234567"}]}]) == "InvalidGroup.NotFound"
    # revoke by rule id and by permission
    ec2.revoke_security_group_ingress(GroupId=app, SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in rules if not r["IsEgress"]])
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert error(ec2.revoke_security_group_ingress, GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == "InvalidPermission.NotFound"
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    assert error(ec2.delete_security_group, GroupId=default) == "CannotDelete"
    assert error(ec2.delete_security_group, GroupId="sg-bad") == "InvalidGroupId.Malformed"
    assert error(ec2.delete_security_group, GroupId="sg-12345678901234567") == "InvalidGroup.NotFound"
    ec2.delete_security_group(GroupId=sg)
    ec2.delete_security_group(GroupName="app")


def test_security_group_with_cli(nimbus):
    out = json.loads(nimbus.aws("ec2", "create-security-group", "--group-name", "cli-web", "--description", "web", region="sa-east-1").stdout)
    nimbus.aws("ec2", "authorize-security-group-ingress", "--group-id", out["GroupId"], "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0", region="sa-east-1")
    bad = nimbus.aws("ec2", "authorize-security-group-ingress", "--group-id", out["GroupId"], "--protocol", "tcp", "--port", "22",
                     "--cidr", "0.0.0.0/0", region="sa-east-1", check=False)
    assert bad.returncode != 0 and "InvalidPermission.Duplicate" in bad.stderr


def test_network_acls(nimbus):
    ec2 = nimbus.client("ec2", region="eu-west-3")
    vpc_id = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.3.0.0/24")["Subnet"]["SubnetId"]
    acl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]
    assert [e["RuleNumber"] for e in acl["Entries"]] == [32767, 32767] and acl["IsDefault"] is False
    ec2.create_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False,
                                 CidrBlock="0.0.0.0/0", PortRange={"From": 443, "To": 443})
    assert error(ec2.create_network_acl_entry, NetworkAclId=acl["NetworkAclId"], RuleNumber=100, Protocol="6", RuleAction="deny",
                 Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 80, "To": 80}) == "NetworkAclEntryAlreadyExists"
    default = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]
    assoc = next(a for a in default["Associations"] if a["SubnetId"] == subnet)
    new_assoc = ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl["NetworkAclId"])["NewAssociationId"]
    got = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in got] == [acl["NetworkAclId"]]
    assert error(ec2.delete_network_acl, NetworkAclId=acl["NetworkAclId"]) == "DependencyViolation"
    assert error(ec2.delete_network_acl, NetworkAclId=default["NetworkAclId"]) == "InvalidParameterValue"
    ec2.replace_network_acl_association(AssociationId=new_assoc, NetworkAclId=default["NetworkAclId"])
    ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc_id)


def test_elastic_ips_and_network_interfaces(nimbus):
    ec2 = nimbus.client("ec2", region="eu-central-1")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}, {"Name": "availability-zone", "Values": ["eu-central-1a"]}])["Subnets"][0]
    eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Description="spare",
                                       TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "role", "Value": "spare"}]}])["NetworkInterface"]
    assert eni["Status"] == "available" and eni["PrivateIpAddress"].startswith("172.31.") and eni["TagSet"] == [{"Key": "role", "Value": "spare"}]
    assert ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]["AvailableIpAddressCount"] == subnet["AvailableIpAddressCount"] - 1
    assert error(ec2.create_network_interface, SubnetId=subnet["SubnetId"], PrivateIpAddress=eni["PrivateIpAddress"]) == "InvalidIPAddress.InUse"
    eip = ec2.allocate_address(Domain="vpc")
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=eni["NetworkInterfaceId"])["AssociationId"]
    addr = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert addr["AssociationId"] == assoc and addr["NetworkInterfaceId"] == eni["NetworkInterfaceId"] and addr["PrivateIpAddress"] == eni["PrivateIpAddress"]
    described = ec2.describe_network_interfaces(Filters=[{"Name": "association.public-ip", "Values": [eip["PublicIp"]]}])["NetworkInterfaces"]
    assert [d["NetworkInterfaceId"] for d in described] == [eni["NetworkInterfaceId"]]
    assert error(ec2.release_address, AllocationId=eip["AllocationId"]) == "InvalidIPAddress.InUse"
    ec2.disassociate_address(AssociationId=assoc)
    assert "AssociationId" not in ec2.describe_addresses(PublicIps=[eip["PublicIp"]])["Addresses"][0]
    ec2.release_address(AllocationId=eip["AllocationId"])
    assert error(ec2.describe_addresses, AllocationIds=[eip["AllocationId"]]) == "InvalidAllocationID.NotFound"
    assert error(ec2.describe_network_interfaces, NetworkInterfaceIds=["eni-zzz"]) == "InvalidNetworkInterfaceId.Malformed"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert error(ec2.describe_network_interfaces, NetworkInterfaceIds=[eni["NetworkInterfaceId"]]) == "InvalidNetworkInterfaceID.NotFound"


def test_peering_cross_account_and_overlap(nimbus):
    import os
    import subprocess
    import sys

    from nimbus_process import ROOT

    ec2 = nimbus.client("ec2", region="us-west-2")
    a = ec2.create_vpc(CidrBlock="10.100.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.101.0.0/16")["Vpc"]["VpcId"]
    c = ec2.create_vpc(CidrBlock="10.100.0.0/20")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]
    assert pcx["Status"]["Code"] == "pending-acceptance"
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    assert ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx["VpcPeeringConnectionId"]])["VpcPeeringConnections"][0]["Status"]["Code"] == "active"
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [a]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.101.0.0/16", VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    failed = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=c)["VpcPeeringConnection"]
    assert failed["Status"]["Code"] == "failed"
    assert error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=failed["VpcPeeringConnectionId"]) == "InvalidStateTransition"
    # another account
    out = subprocess.run([sys.executable, "-m", "nimbus", "accounts", "create", "--name", "peer", "--data-dir", str(nimbus.data_dir)],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), timeout=60)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    other = nimbus.client("ec2", region="us-west-2", key=info["AccessKeyId"], secret=info["SecretAccessKey"])
    theirs = other.create_vpc(CidrBlock="10.200.0.0/16")["Vpc"]["VpcId"]
    cross = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=theirs, PeerOwnerId=info["AccountId"])["VpcPeeringConnection"]
    assert error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=cross["VpcPeeringConnectionId"]) == "OperationNotPermitted"
    other.accept_vpc_peering_connection(VpcPeeringConnectionId=cross["VpcPeeringConnectionId"])
    seen = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[cross["VpcPeeringConnectionId"]])["VpcPeeringConnections"][0]
    assert seen["Status"]["Code"] == "active" and seen["AccepterVpcInfo"]["OwnerId"] == info["AccountId"]


def test_vpc_endpoints_and_flow_logs(nimbus):
    ec2 = nimbus.client("ec2", region="eu-west-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.50.0.0/24", AvailabilityZone="eu-west-1a")["Subnet"]["SubnetId"]
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    gw = ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.eu-west-1.s3", RouteTableIds=[rtb])["VpcEndpoint"]
    pl = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-west-1.s3"]}])["PrefixLists"][0]
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert {"DestinationPrefixListId": pl["PrefixListId"], "GatewayId": gw["VpcEndpointId"], "Origin": "CreateRoute", "State": "active"} in routes
    iface = ec2.create_vpc_endpoint(VpcId=vpc_id, VpcEndpointType="Interface", ServiceName="com.amazonaws.eu-west-1.kms", SubnetIds=[subnet])["VpcEndpoint"]
    assert len(iface["NetworkInterfaceIds"]) == 1 and iface["DnsEntries"][0]["DnsName"].endswith(".kms.eu-west-1.vpce.amazonaws.com")
    assert error(ec2.create_vpc_endpoint, VpcId=vpc_id, ServiceName="com.amazonaws.eu-west-1.nope") in ("InvalidServiceName",)
    fl = ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[vpc_id], TrafficType="ALL", LogDestinationType="s3",
                              LogDestination="arn:aws:s3:::flow-bucket")
    assert len(fl["FlowLogIds"]) == 1 and fl["Unsuccessful"] == []
    assert ec2.describe_flow_logs(FlowLogIds=fl["FlowLogIds"])["FlowLogs"][0]["ResourceId"] == vpc_id
    assert error(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    ec2.delete_vpc_endpoints(VpcEndpointIds=[gw["VpcEndpointId"], iface["VpcEndpointId"]])
    assert not any(r.get("GatewayId") == gw["VpcEndpointId"] for r in ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"])
    ec2.delete_flow_logs(FlowLogIds=fl["FlowLogIds"])
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc_id)


def test_vpn_and_egress_only_gateways(nimbus):
    ec2 = nimbus.client("ec2", region="ap-northeast-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc_id)["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    cgw = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="198.51.100.7", BgpAsn=65001)["CustomerGateway"]["CustomerGatewayId"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc_id)
    vpn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw, Options={"StaticRoutesOnly": True})["VpnConnection"]
    ec2.create_vpn_connection_route(VpnConnectionId=vpn["VpnConnectionId"], DestinationCidrBlock="192.168.0.0/16")
    assert ec2.describe_vpn_connections(VpnConnectionIds=[vpn["VpnConnectionId"]])["VpnConnections"][0]["Routes"][0]["DestinationCidrBlock"] == "192.168.0.0/16"
    assert error(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    ec2.delete_vpn_connection(VpnConnectionId=vpn["VpnConnectionId"])
    ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc_id)
    ec2.delete_vpn_gateway(VpnGatewayId=vgw)
    ec2.delete_customer_gateway(CustomerGatewayId=cgw)
    ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=eigw)
    ec2.delete_vpc(VpcId=vpc_id)


def test_tags_filters_and_paging(nimbus):
    ec2 = nimbus.client("ec2", region="us-east-1")
    ids = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(12)]
    ec2.create_tags(Resources=ids[:5], Tags=[{"Key": "team", "Value": "blue"}])
    blue = ec2.describe_vpcs(Filters=[{"Name": "tag:team", "Values": ["bl*"]}])["Vpcs"]
    assert sorted(v["VpcId"] for v in blue) == sorted(ids[:5])
    seen, token = [], None
    while True:
        kwargs = {"MaxResults": 5, "Filters": [{"Name": "cidr", "Values": ["10.*"]}]}
        if token:
            kwargs["NextToken"] = token
        page = ec2.describe_vpcs(**kwargs)
        assert len(page["Vpcs"]) <= 5
        seen += [v["VpcId"] for v in page["Vpcs"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    tagged = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["vpc"]}, {"Name": "key", "Values": ["team"]}])["Tags"]
    assert {t["ResourceId"] for t in tagged} >= set(ids[:5])
    assert error(ec2.describe_vpcs, Filters=[{"Name": "no-such", "Values": ["x"]}]) == "InvalidParameterValue"
    for vpc_id in ids:
        ec2.delete_vpc(VpcId=vpc_id)


def test_default_vpc_survives_restart_and_is_not_recreated(fresh_nimbus, tmp_path):
    server = fresh_nimbus(tmp_path / "data")
    ec2 = server.client("ec2", region="us-west-2")
    default = ec2.describe_vpcs()["Vpcs"][0]
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="keep", Description="kept", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
    server.stop()
    server = fresh_nimbus(tmp_path / "data")
    ec2 = server.client("ec2", region="us-west-2")
    vpcs = {v["VpcId"]: v for v in ec2.describe_vpcs()["Vpcs"]}
    assert set(vpcs) == {default["VpcId"], vpc_id}
    group = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert group["IpPermissions"][0]["FromPort"] == 22
    # deleting the default VPC does not bring it back; CreateDefaultVpc does
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default["VpcId"]]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [default["VpcId"]]}])["InternetGateways"][0]["InternetGatewayId"]
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=default["VpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_vpc(VpcId=default["VpcId"])
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [vpc_id]
    new_default = ec2.create_default_vpc()["Vpc"]
    assert new_default["IsDefault"] and new_default["CidrBlock"] == "172.31.0.0/16"
    assert error(ec2.create_default_vpc) == "DefaultVpcAlreadyExists"
