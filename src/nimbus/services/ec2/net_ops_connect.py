"""VPC peering, VPC endpoints, managed prefix lists, flow logs, customer/VPN gateways and VPN connections."""

from __future__ import annotations

import json
from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import net_common as c
from . import net_records as r
from . import network_api as api
from .net_cidr import any_cidr, overlaps
from .net_common import each, nested

PCX_FILTERS = {
    "vpc-peering-connection-id": "VpcPeeringConnectionId", "status-code": nested("Status", "Code"), "status-message": nested("Status", "Message"),
    "requester-vpc-info.vpc-id": nested("RequesterVpcInfo", "VpcId"), "requester-vpc-info.owner-id": nested("RequesterVpcInfo", "OwnerId"),
    "requester-vpc-info.cidr-block": nested("RequesterVpcInfo", "CidrBlock"),
    "accepter-vpc-info.vpc-id": nested("AccepterVpcInfo", "VpcId"), "accepter-vpc-info.owner-id": nested("AccepterVpcInfo", "OwnerId"),
    "accepter-vpc-info.cidr-block": nested("AccepterVpcInfo", "CidrBlock"),
}
VPCE_FILTERS = {"vpc-endpoint-id": "VpcEndpointId", "vpc-id": "VpcId", "service-name": "ServiceName", "vpc-endpoint-state": "State",
                "vpc-endpoint-type": "VpcEndpointType", "ip-address-type": "IpAddressType"}
PL_FILTERS = {"prefix-list-id": "PrefixListId", "prefix-list-name": "PrefixListName", "owner-id": "OwnerId"}
FL_FILTERS = {"flow-log-id": "FlowLogId", "resource-id": "ResourceId", "traffic-type": "TrafficType", "log-destination-type": "LogDestinationType",
              "log-group-name": "LogGroupName", "deliver-log-status": "DeliverLogsStatus"}
CGW_FILTERS = {"customer-gateway-id": "CustomerGatewayId", "bgp-asn": "BgpAsn", "ip-address": "IpAddress", "state": "State", "type": "Type"}
VGW_FILTERS = {"vpn-gateway-id": "VpnGatewayId", "state": "State", "type": "Type", "amazon-side-asn": "AmazonSideAsn",
               "attachment.vpc-id": each("VpcAttachments", "VpcId"), "attachment.state": each("VpcAttachments", "State")}
VPN_FILTERS = {"vpn-connection-id": "VpnConnectionId", "state": "State", "type": "Type", "customer-gateway-id": "CustomerGatewayId",
               "vpn-gateway-id": "VpnGatewayId"}

GATEWAY_SERVICES = ("s3", "dynamodb")
ENDPOINT_SERVICES = ("s3", "dynamodb", "ec2", "sts", "kms", "logs", "monitoring", "ssm", "secretsmanager", "elasticloadbalancing",
                     "rds", "sns", "sqs", "elasticfilesystem", "ecr.api", "ecr.dkr", "lambda")


def _vpc_info(vpc: dict[str, Any], region: str) -> dict[str, Any]:
    return {"VpcId": vpc["VpcId"], "OwnerId": vpc["OwnerId"], "CidrBlock": vpc["CidrBlock"], "Region": region,
            "CidrBlockSet": [{"CidrBlock": cidr} for cidr in r.vpc_cidrs(vpc)],
            "Ipv6CidrBlockSet": [{"Ipv6CidrBlock": cidr} for cidr in r.vpc_ipv6_cidrs(vpc)],
            "PeeringOptions": {"AllowDnsResolutionFromRemoteVpc": False, "AllowEgressFromLocalClassicLinkToRemoteVpc": False,
                               "AllowEgressFromLocalVpcToRemoteClassicLink": False}}


def _peer_scopes(pcx: dict[str, Any]) -> list[str]:
    return [pcx["_requester_scope"], pcx["_accepter_scope"]]


class ConnectOperations:
    # ------------------------------------------------------------------ VPC peering

    def create_vpc_peering_connection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "vpc-peering-connection")
        peer_owner = params.get("PeerOwnerId") or ctx.account_id
        peer_region = params.get("PeerRegion") or ctx.region
        peer_scope = f"{peer_owner}/{peer_region}"
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            peer_id = c.check_id(params.get("PeerVpcId"), "vpc")
            peer = txn.get(c.kind("vpc"), peer_id, peer_scope)
            if peer is None:
                raise ServiceError("InvalidVpcID.NotFound", f"The vpc ID '{peer_id}' does not exist", 400)
            now = ctx.clock.time()
            pcx_id = c.new("pcx")
            pcx: dict[str, Any] = {
                "VpcPeeringConnectionId": pcx_id, "RequesterVpcInfo": _vpc_info(vpc, ctx.region), "AccepterVpcInfo": _vpc_info(peer, peer_region),
                "Status": {"Code": "pending-acceptance", "Message": f"Pending Acceptance by {peer_owner}"}, "Tags": tags,
                "ExpirationTime": now + 7 * 86400, "_requester_scope": ctx.scope, "_accepter_scope": peer_scope,
            }
            for mine in r.vpc_cidrs(vpc):
                for theirs in r.vpc_cidrs(peer):
                    if overlaps(mine, theirs):
                        pcx["Status"] = {"Code": "failed", "Message": "Overlapping CIDR range"}
            if peer_id == vpc["VpcId"]:
                pcx["Status"] = {"Code": "failed", "Message": "Cannot peer a VPC with itself"}
            _store_pcx(txn, pcx)
        return {"VpcPeeringConnection": pcx}

    def describe_vpc_peering_connections(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, token = c.describe(ctx, params, "pcx", ids_param="VpcPeeringConnectionIds", fields=PCX_FILTERS)
        return c.page_result("VpcPeeringConnections", items, token)

    def accept_vpc_peering_connection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            pcx = c.get(txn, ctx, "pcx", params.get("VpcPeeringConnectionId"))
            if pcx["_accepter_scope"] != ctx.scope:
                raise ServiceError("OperationNotPermitted", f"User {ctx.account_id} cannot accept peering {pcx['VpcPeeringConnectionId']}", 400)
            if pcx["Status"]["Code"] != "pending-acceptance":
                raise ServiceError("InvalidStateTransition", f"Invalid state transition for {pcx['VpcPeeringConnectionId']}, attempted to transition from {pcx['Status']['Code']} to active", 400)
            pcx["Status"] = {"Code": "active", "Message": "Active"}
            pcx.pop("ExpirationTime", None)
            _store_pcx(txn, pcx)
        return {"VpcPeeringConnection": pcx}

    def reject_vpc_peering_connection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            pcx = c.get(txn, ctx, "pcx", params.get("VpcPeeringConnectionId"))
            if pcx["_accepter_scope"] != ctx.scope:
                raise ServiceError("OperationNotPermitted", f"User {ctx.account_id} cannot reject peering {pcx['VpcPeeringConnectionId']}", 400)
            if pcx["Status"]["Code"] != "pending-acceptance":
                raise ServiceError("InvalidStateTransition", f"Invalid state transition for {pcx['VpcPeeringConnectionId']}, attempted to transition from {pcx['Status']['Code']} to rejected", 400)
            pcx["Status"] = {"Code": "rejected", "Message": f"Rejected by {ctx.account_id}"}
            _store_pcx(txn, pcx)
        return {"Return": True}

    def delete_vpc_peering_connection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            pcx = c.get(txn, ctx, "pcx", params.get("VpcPeeringConnectionId"))
            if pcx["Status"]["Code"] in ("deleted", "rejected", "failed"):
                raise ServiceError("InvalidStateTransition", f"Invalid state transition for {pcx['VpcPeeringConnectionId']}, attempted to transition from {pcx['Status']['Code']} to deleted", 400)
            pcx["Status"] = {"Code": "deleted", "Message": f"Deleted by {ctx.account_id}"}
            _store_pcx(txn, pcx)
            from .net_ops_vpc import _blackhole

            _blackhole(txn, ctx, "VpcPeeringConnectionId", pcx["VpcPeeringConnectionId"])
        return {"Return": True}

    # ------------------------------------------------------------------ VPC endpoints

    def create_vpc_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "vpc-endpoint")
        endpoint_type = params.get("VpcEndpointType") or "Gateway"
        service_name = params.get("ServiceName") or ""
        prefix = f"com.amazonaws.{ctx.region}."
        if not service_name.startswith(prefix) or service_name[len(prefix):] not in ENDPOINT_SERVICES:
            raise ServiceError("InvalidServiceName", f"The Vpc Endpoint Service '{service_name}' does not exist", 400)
        service = service_name[len(prefix):]
        if endpoint_type == "Gateway" and service not in GATEWAY_SERVICES:
            raise ServiceError("InvalidParameter", f"The Vpc Endpoint Service '{service_name}' does not support the endpoint type Gateway", 400)
        if endpoint_type not in ("Gateway", "Interface"):
            raise ServiceError("InvalidParameter", f"Endpoint type ({endpoint_type}) does not match available service types ([Interface, Gateway]).", 400)
        policy = params.get("PolicyDocument") or json.dumps({"Version": "2008-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            vpce_id = c.new("vpce")
            endpoint: dict[str, Any] = {
                "VpcEndpointId": vpce_id, "VpcEndpointType": endpoint_type, "VpcId": vpc["VpcId"], "ServiceName": service_name,
                "State": "available", "PolicyDocument": policy, "RouteTableIds": [], "SubnetIds": [], "Groups": [],
                "IpAddressType": "ipv4", "PrivateDnsEnabled": False, "RequesterManaged": False, "NetworkInterfaceIds": [], "DnsEntries": [],
                "CreationTimestamp": ctx.clock.time(), "Tags": tags, "OwnerId": ctx.account_id,
            }
            if endpoint_type == "Gateway":
                pl_id = r.defaults(txn, ctx)["PrefixLists"][service]
                for rtb_id in dict.fromkeys(params.get("RouteTableIds") or []):
                    rtb = c.get(txn, ctx, "rtb", rtb_id)
                    if rtb["VpcId"] != vpc["VpcId"]:
                        raise ServiceError("InvalidParameter", f"Route table {rtb_id} does not belong to {vpc['VpcId']}", 400)
                    if any(rt.get("DestinationPrefixListId") == pl_id for rt in rtb["Routes"]):
                        raise ServiceError("RouteAlreadyExists", f"route table {rtb_id} already has a route with destination-prefix-list-id {pl_id}", 400)
                    rtb["Routes"].append({"DestinationPrefixListId": pl_id, "GatewayId": vpce_id, "Origin": "CreateRoute", "State": "active"})
                    c.put(txn, ctx, "rtb", rtb_id, rtb)
                    endpoint["RouteTableIds"].append(rtb_id)
            else:
                groups = api.get_security_groups(txn, ctx, params.get("SecurityGroupIds") or [], vpc["VpcId"])
                endpoint["Groups"] = [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in groups]
                endpoint["PrivateDnsEnabled"] = params.get("PrivateDnsEnabled", True)
                endpoint["DnsOptions"] = {"DnsRecordIpType": "ipv4"}
                seen_az = set()
                for subnet_id in dict.fromkeys(params.get("SubnetIds") or []):
                    subnet = api.get_subnet(txn, ctx, subnet_id)
                    if subnet["VpcId"] != vpc["VpcId"]:
                        raise ServiceError("InvalidParameter", f"Subnet {subnet_id} does not belong to {vpc['VpcId']}", 400)
                    if subnet["AvailabilityZone"] in seen_az:
                        raise ServiceError("DuplicateSubnetsInSameZone", f"Found another VPC endpoint subnet in the availability zone of {subnet_id}. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.", 400)
                    seen_az.add(subnet["AvailabilityZone"])
                    eni = api.create_network_interface_record(txn, ctx, subnet_id, [g["GroupId"] for g in groups], None,
                                                              f"VPC Endpoint Interface {vpce_id}", interface_type="vpc_endpoint", requester_managed=True)
                    eni["Status"] = "in-use"
                    api.put_network_interface(txn, ctx, eni)
                    endpoint["SubnetIds"].append(subnet_id)
                    endpoint["NetworkInterfaceIds"].append(eni["NetworkInterfaceId"])
                    endpoint["DnsEntries"].append({"DnsName": f"{vpce_id}-{subnet['AvailabilityZone']}.{service}.{ctx.region}.vpce.amazonaws.com",
                                                   "HostedZoneId": "Z7HUB22UULQXV"})
                endpoint["DnsEntries"].insert(0, {"DnsName": f"{vpce_id}.{service}.{ctx.region}.vpce.amazonaws.com", "HostedZoneId": "Z7HUB22UULQXV"})
                if endpoint["PrivateDnsEnabled"]:
                    endpoint["DnsEntries"].append({"DnsName": f"{service}.{ctx.region}.amazonaws.com", "HostedZoneId": "ZONEIDPENDING"})
            c.put(txn, ctx, "vpce", vpce_id, endpoint)
        result = {"VpcEndpoint": endpoint}
        if params.get("ClientToken"):
            result["ClientToken"] = params["ClientToken"]
        return result

    def describe_vpc_endpoints(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, token = c.describe(ctx, params, "vpce", ids_param="VpcEndpointIds", fields=VPCE_FILTERS)
        return c.page_result("VpcEndpoints", items, token)

    def modify_vpc_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            endpoint = c.get(txn, ctx, "vpce", params.get("VpcEndpointId"))
            if endpoint["VpcEndpointType"] == "Gateway":
                service = endpoint["ServiceName"][len(f"com.amazonaws.{ctx.region}."):]
                pl_id = r.defaults(txn, ctx)["PrefixLists"][service]
                for rtb_id in params.get("AddRouteTableIds") or []:
                    rtb = c.get(txn, ctx, "rtb", rtb_id)
                    if rtb_id not in endpoint["RouteTableIds"]:
                        rtb["Routes"].append({"DestinationPrefixListId": pl_id, "GatewayId": endpoint["VpcEndpointId"], "Origin": "CreateRoute", "State": "active"})
                        c.put(txn, ctx, "rtb", rtb_id, rtb)
                        endpoint["RouteTableIds"].append(rtb_id)
                for rtb_id in params.get("RemoveRouteTableIds") or []:
                    _remove_endpoint_routes(txn, ctx, endpoint, [rtb_id])
                    endpoint["RouteTableIds"] = [x for x in endpoint["RouteTableIds"] if x != rtb_id]
            if params.get("PolicyDocument"):
                endpoint["PolicyDocument"] = params["PolicyDocument"]
            c.put(txn, ctx, "vpce", endpoint["VpcEndpointId"], endpoint)
        return {"Return": True}

    def delete_vpc_endpoints(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        unsuccessful = []
        with ctx.store.transaction() as txn:
            for vpce_id in params.get("VpcEndpointIds") or []:
                try:
                    endpoint = c.get(txn, ctx, "vpce", vpce_id)
                except ServiceError as err:
                    unsuccessful.append({"ResourceId": vpce_id, "Error": {"Code": err.code, "Message": err.message}})
                    continue
                _remove_endpoint_routes(txn, ctx, endpoint, endpoint["RouteTableIds"])
                for eni_id in endpoint["NetworkInterfaceIds"]:
                    api.delete_network_interface(txn, ctx, eni_id)
                c.delete(txn, ctx, "vpce", vpce_id)
        return {"Unsuccessful": unsuccessful}

    def describe_vpc_endpoint_services(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        names = []
        for service in ENDPOINT_SERVICES:
            names.append(f"com.amazonaws.{ctx.region}.{service}")
        details = [{"ServiceName": n, "ServiceType": [{"ServiceType": "Gateway"}] if n[len(f"com.amazonaws.{ctx.region}."):] in GATEWAY_SERVICES else [{"ServiceType": "Interface"}],
                    "AvailabilityZones": [z["ZoneName"] for z in r.availability_zones(ctx.region)], "Owner": "amazon",
                    "BaseEndpointDnsNames": [f"{n[len(f'com.amazonaws.{ctx.region}.'):]}.{ctx.region}.vpce.amazonaws.com"], "VpcEndpointPolicySupported": True,
                    "AcceptanceRequired": False, "ManagesVpcEndpoints": False} for n in names]
        if params.get("ServiceNames"):
            details = [d for d in details if d["ServiceName"] in params["ServiceNames"]]
        from .filters import apply_filters

        details = apply_filters(details, params.get("Filters"), {"service-name": "ServiceName",
                                                                   "service-type": lambda d: [t["ServiceType"] for t in d["ServiceType"]]})
        return {"ServiceNames": [d["ServiceName"] for d in details], "ServiceDetails": details}

    # ------------------------------------------------------------------ prefix lists

    def describe_prefix_lists(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        aws = lambda d: d["OwnerId"] == "AWS"
        items, token = c.describe(ctx, params, "pl", ids_param="PrefixListIds", fields=PL_FILTERS, visible=aws)
        return c.page_result("PrefixLists", [{"PrefixListId": d["PrefixListId"], "PrefixListName": d["PrefixListName"],
                                              "Cidrs": [e["Cidr"] for e in d["_entries"]]} for d in items], token)

    def describe_managed_prefix_lists(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "pl", ids_param="PrefixListIds", fields=PL_FILTERS, max_default=100)
        return c.page_result("PrefixLists", items, token)

    def create_managed_prefix_list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        family = params.get("AddressFamily")
        if family not in ("IPv4", "IPv6"):
            raise ServiceError("InvalidParameterValue", f"Value ({family}) for parameter addressFamily is invalid.", 400)
        max_entries = params.get("MaxEntries") or 0
        if not 1 <= max_entries <= 1000:
            raise ServiceError("InvalidParameterValue", f"Value ({max_entries}) for parameter maxEntries is invalid.", 400)
        entries = _entries(params.get("Entries") or [], family)
        if len(entries) > max_entries:
            raise ServiceError("PrefixListMaxEntriesExceeded", f"The prefix list has {len(entries)} entries, more than its maximum of {max_entries}.", 400)
        pl_id = c.new("pl")
        pl = {"PrefixListId": pl_id, "AddressFamily": family, "State": "create-complete", "PrefixListArn": r.arn(ctx, f"prefix-list/{pl_id}"),
              "PrefixListName": params.get("PrefixListName") or "", "MaxEntries": max_entries, "Version": 1,
              "Tags": c.tags_of(params, "prefix-list"), "OwnerId": ctx.account_id, "_entries": entries}
        with ctx.store.transaction() as txn:
            c.put(txn, ctx, "pl", pl_id, pl)
        return {"PrefixList": pl}

    def get_managed_prefix_list_entries(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        pl = c.get(ctx.store.read, ctx, "pl", params.get("PrefixListId"))
        return {"Entries": pl["_entries"]}

    def modify_managed_prefix_list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            pl = c.get(txn, ctx, "pl", params.get("PrefixListId"))
            if pl["OwnerId"] == "AWS":
                raise ServiceError("InvalidPrefixListModification", "AWS-managed prefix lists cannot be modified", 400)
            if params.get("CurrentVersion") is not None and params["CurrentVersion"] != pl["Version"]:
                raise ServiceError("PrefixListVersionMismatch", f"The prefix list has the incorrect version number.", 400)
            current = {e["Cidr"]: e for e in pl["_entries"]}
            for e in _entries(params.get("AddEntries") or [], pl["AddressFamily"]):
                current[e["Cidr"]] = e
            for e in params.get("RemoveEntries") or []:
                current.pop(any_cidr(e.get("Cidr"), "cidr"), None)
            if params.get("MaxEntries"):
                pl["MaxEntries"] = params["MaxEntries"]
            if len(current) > pl["MaxEntries"]:
                raise ServiceError("PrefixListMaxEntriesExceeded", "The prefix list would exceed its maximum number of entries.", 400)
            if params.get("PrefixListName"):
                pl["PrefixListName"] = params["PrefixListName"]
            pl["_entries"] = list(current.values())
            pl["Version"] += 1
            c.put(txn, ctx, "pl", pl["PrefixListId"], pl)
        return {"PrefixList": pl}

    def delete_managed_prefix_list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            pl = c.get(txn, ctx, "pl", params.get("PrefixListId"))
            if pl["OwnerId"] == "AWS":
                raise ServiceError("InvalidPrefixListModification", "AWS-managed prefix lists cannot be deleted", 400)
            used = any(rule.get("PrefixListId") == pl["PrefixListId"] for g in c.scan(txn, ctx, "sg") for rule in g["_rules"].values()) or any(
                rt.get("DestinationPrefixListId") == pl["PrefixListId"] for t in c.scan(txn, ctx, "rtb") for rt in t["Routes"])
            if used:
                raise ServiceError("PrefixListInUse", f"The prefix list {pl['PrefixListId']} is in use and cannot be deleted.", 400)
            c.delete(txn, ctx, "pl", pl["PrefixListId"])
            pl["State"] = "delete-complete"
        return {"PrefixList": pl}

    # ------------------------------------------------------------------ flow logs

    def create_flow_logs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        resource_type = params.get("ResourceType")
        prefixes = {"VPC": "vpc", "Subnet": "subnet", "NetworkInterface": "eni"}
        if resource_type not in prefixes:
            raise ServiceError("InvalidParameterValue", f"Value ({resource_type}) for parameter resourceType is invalid.", 400)
        destination_type = params.get("LogDestinationType") or "cloud-watch-logs"
        if destination_type == "cloud-watch-logs":
            if not (params.get("LogGroupName") or params.get("LogDestination")) or not params.get("DeliverLogsPermissionArn"):
                raise ServiceError("InvalidParameter", "DeliverLogsPermissionArn and a log group are required to publish flow logs to CloudWatch Logs", 400)
        elif destination_type in ("s3", "kinesis-data-firehose"):
            if not (params.get("LogDestination") or "").startswith("arn:"):
                raise ServiceError("InvalidParameter", "LogDestination must be an ARN", 400)
        else:
            raise ServiceError("InvalidParameterValue", f"Value ({destination_type}) for parameter logDestinationType is invalid.", 400)
        traffic = params.get("TrafficType") or "ALL"
        if traffic not in ("ACCEPT", "REJECT", "ALL"):
            raise ServiceError("InvalidParameterValue", f"Value ({traffic}) for parameter trafficType is invalid.", 400)
        tags = c.tags_of(params, "vpc-flow-log")
        ids, unsuccessful = [], []
        with ctx.store.transaction() as txn:
            for resource_id in params.get("ResourceIds") or []:
                try:
                    c.get(txn, ctx, prefixes[resource_type], resource_id)
                except ServiceError as err:
                    unsuccessful.append({"ResourceId": resource_id, "Error": {"Code": err.code, "Message": err.message}})
                    continue
                fl_id = c.new("fl")
                destination = params.get("LogDestination") or (
                    f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{params['LogGroupName']}" if params.get("LogGroupName") else "")
                doc = {"FlowLogId": fl_id, "CreationTime": ctx.clock.time(), "DeliverLogsStatus": "SUCCESS", "FlowLogStatus": "ACTIVE",
                       "ResourceId": resource_id, "TrafficType": traffic, "LogDestinationType": destination_type, "LogDestination": destination,
                       "LogFormat": params.get("LogFormat") or "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
                       "MaxAggregationInterval": params.get("MaxAggregationInterval") or 600, "Tags": tags}
                if destination_type == "cloud-watch-logs":
                    doc["LogGroupName"] = params.get("LogGroupName") or destination.rsplit(":", 1)[-1]
                    doc["DeliverLogsPermissionArn"] = params["DeliverLogsPermissionArn"]
                if params.get("DestinationOptions"):
                    doc["DestinationOptions"] = params["DestinationOptions"]
                c.put(txn, ctx, "fl", fl_id, doc)
                ids.append(fl_id)
        result: dict[str, Any] = {"FlowLogIds": ids, "Unsuccessful": unsuccessful}
        if params.get("ClientToken"):
            result["ClientToken"] = params["ClientToken"]
        return result

    def describe_flow_logs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        if "Filter" in params and "Filters" not in params:
            params["Filters"] = params.pop("Filter")
        items, token = c.describe(ctx, params, "fl", ids_param="FlowLogIds", fields=FL_FILTERS)
        return c.page_result("FlowLogs", items, token)

    def delete_flow_logs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        unsuccessful = []
        with ctx.store.transaction() as txn:
            for fl_id in params.get("FlowLogIds") or []:
                try:
                    c.get(txn, ctx, "fl", fl_id)
                except ServiceError as err:
                    unsuccessful.append({"ResourceId": fl_id, "Error": {"Code": err.code, "Message": err.message}})
                    continue
                c.delete(txn, ctx, "fl", fl_id)
        return {"Unsuccessful": unsuccessful}

    # ------------------------------------------------------------------ customer / VPN gateways, VPN connections

    def create_customer_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        if params.get("Type") != "ipsec.1":
            raise ServiceError("InvalidParameterValue", f"Value ({params.get('Type')}) for parameter type is invalid.", 400)
        ip = params.get("IpAddress") or params.get("PublicIp")
        if not ip:
            raise ServiceError("MissingParameter", "The request must contain the parameter ipAddress", 400)
        asn = params.get("BgpAsn") or params.get("BgpAsnExtended") or 65000
        with ctx.store.transaction() as txn:
            for existing in c.scan(txn, ctx, "cgw"):
                if existing["IpAddress"] == ip and existing["BgpAsn"] == str(asn) and existing["State"] == "available":
                    return {"CustomerGateway": existing}
            cgw = {"CustomerGatewayId": c.new("cgw"), "BgpAsn": str(asn), "IpAddress": ip, "State": "available", "Type": "ipsec.1",
                   "Tags": c.tags_of(params, "customer-gateway")}
            if params.get("DeviceName"):
                cgw["DeviceName"] = params["DeviceName"]
            c.put(txn, ctx, "cgw", cgw["CustomerGatewayId"], cgw)
        return {"CustomerGateway": cgw}

    def describe_customer_gateways(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, _ = c.describe(ctx, params, "cgw", ids_param="CustomerGatewayIds", fields=CGW_FILTERS)
        return {"CustomerGateways": items}

    def delete_customer_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            cgw = c.get(txn, ctx, "cgw", params.get("CustomerGatewayId"))
            if any(v["CustomerGatewayId"] == cgw["CustomerGatewayId"] and v["State"] != "deleted" for v in c.scan(txn, ctx, "vpn")):
                raise ServiceError("IncorrectState", f"The customer gateway '{cgw['CustomerGatewayId']}' is in use by a VPN connection.", 400)
            cgw["State"] = "deleted"
            c.put(txn, ctx, "cgw", cgw["CustomerGatewayId"], cgw)
        return {}

    def create_vpn_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        if params.get("Type") != "ipsec.1":
            raise ServiceError("InvalidParameterValue", f"Value ({params.get('Type')}) for parameter type is invalid.", 400)
        vgw = {"VpnGatewayId": c.new("vgw"), "State": "available", "Type": "ipsec.1", "VpcAttachments": [],
               "AmazonSideAsn": params.get("AmazonSideAsn") or 64512, "Tags": c.tags_of(params, "vpn-gateway")}
        if params.get("AvailabilityZone"):
            vgw["AvailabilityZone"] = r.zone(ctx, params["AvailabilityZone"])["ZoneName"]
        with ctx.store.transaction() as txn:
            c.put(txn, ctx, "vgw", vgw["VpnGatewayId"], vgw)
        return {"VpnGateway": vgw}

    def describe_vpn_gateways(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, _ = c.describe(ctx, params, "vgw", ids_param="VpnGatewayIds", fields=VGW_FILTERS)
        return {"VpnGateways": items}

    def attach_vpn_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            vgw = c.get(txn, ctx, "vgw", params.get("VpnGatewayId"))
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            if any(a["State"] == "attached" for a in vgw["VpcAttachments"]):
                raise ServiceError("InvalidVpnGatewayAttachment.LimitExceeded", f"The VPN gateway {vgw['VpnGatewayId']} is already attached to a VPC", 400)
            attachment = {"VpcId": vpc["VpcId"], "State": "attached"}
            vgw["VpcAttachments"] = [attachment]
            c.put(txn, ctx, "vgw", vgw["VpnGatewayId"], vgw)
        return {"VpcAttachment": attachment}

    def detach_vpn_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            vgw = c.get(txn, ctx, "vgw", params.get("VpnGatewayId"))
            vpc_id = c.check_id(params.get("VpcId"), "vpc")
            if not any(a["VpcId"] == vpc_id and a["State"] == "attached" for a in vgw["VpcAttachments"]):
                raise ServiceError("InvalidVpnGatewayAttachment.NotFound", f"The attachment with vpn gateway ID '{vgw['VpnGatewayId']}' and vpc ID '{vpc_id}' does not exist", 400)
            vgw["VpcAttachments"] = [{"VpcId": vpc_id, "State": "detached"}]
            c.put(txn, ctx, "vgw", vgw["VpnGatewayId"], vgw)
        return {}

    def delete_vpn_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            vgw = c.get(txn, ctx, "vgw", params.get("VpnGatewayId"))
            if any(a["State"] == "attached" for a in vgw["VpcAttachments"]):
                raise ServiceError("IncorrectState", f"The VPN gateway '{vgw['VpnGatewayId']}' is attached to a VPC.", 400)
            vgw["State"] = "deleted"
            c.put(txn, ctx, "vgw", vgw["VpnGatewayId"], vgw)
        return {}

    def create_vpn_connection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        if params.get("Type") != "ipsec.1":
            raise ServiceError("InvalidParameterValue", f"Value ({params.get('Type')}) for parameter type is invalid.", 400)
        with ctx.store.transaction() as txn:
            cgw = c.get(txn, ctx, "cgw", params.get("CustomerGatewayId"))
            if not params.get("VpnGatewayId") and not params.get("TransitGatewayId"):
                raise ServiceError("MissingParameter", "The request must contain the parameter vpnGatewayId or transitGatewayId", 400)
            vgw = c.get(txn, ctx, "vgw", params["VpnGatewayId"]) if params.get("VpnGatewayId") else None
            options = params.get("Options") or {}
            vpn = {"VpnConnectionId": c.new("vpn"), "CustomerGatewayId": cgw["CustomerGatewayId"], "Type": "ipsec.1", "State": "available",
                   "Category": "VPN", "Options": {"StaticRoutesOnly": bool(options.get("StaticRoutesOnly")), "TunnelInsideIpVersion": "ipv4",
                                                  "LocalIpv4NetworkCidr": "0.0.0.0/0", "RemoteIpv4NetworkCidr": "0.0.0.0/0"},
                   "Routes": [], "Tags": c.tags_of(params, "vpn-connection"),
                   "VgwTelemetry": [{"OutsideIpAddress": r.public_ip_allocate(txn, ctx, "vpn"), "Status": "DOWN", "StatusMessage": "",
                                     "AcceptedRouteCount": 0, "LastStatusChange": ctx.clock.time()} for _ in range(2)],
                   "CustomerGatewayConfiguration": f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><vpn_connection id=\"\"><customer_gateway_id>{cgw['CustomerGatewayId']}</customer_gateway_id></vpn_connection>"}
            if vgw is not None:
                vpn["VpnGatewayId"] = vgw["VpnGatewayId"]
            else:
                vpn["TransitGatewayId"] = params["TransitGatewayId"]
            c.put(txn, ctx, "vpn", vpn["VpnConnectionId"], vpn)
        return {"VpnConnection": vpn}

    def describe_vpn_connections(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, _ = c.describe(ctx, params, "vpn", ids_param="VpnConnectionIds", fields=VPN_FILTERS)
        return {"VpnConnections": items}

    def delete_vpn_connection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            vpn = c.get(txn, ctx, "vpn", params.get("VpnConnectionId"))
            vpn["State"] = "deleted"
            for t in vpn["VgwTelemetry"]:
                r.public_ip_release(txn, ctx, t["OutsideIpAddress"])
            c.put(txn, ctx, "vpn", vpn["VpnConnectionId"], vpn)
        return {}

    def create_vpn_connection_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            vpn = c.get(txn, ctx, "vpn", params.get("VpnConnectionId"))
            cidr = any_cidr(params.get("DestinationCidrBlock"), "destinationCidrBlock")
            if any(rt["DestinationCidrBlock"] == cidr for rt in vpn["Routes"]):
                raise ServiceError("RouteAlreadyExists", f"The route identified by {cidr} already exists.", 400)
            vpn["Routes"].append({"DestinationCidrBlock": cidr, "Source": "static", "State": "available"})
            c.put(txn, ctx, "vpn", vpn["VpnConnectionId"], vpn)
        return {}

    def delete_vpn_connection_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.transaction() as txn:
            vpn = c.get(txn, ctx, "vpn", params.get("VpnConnectionId"))
            cidr = any_cidr(params.get("DestinationCidrBlock"), "destinationCidrBlock")
            kept = [rt for rt in vpn["Routes"] if rt["DestinationCidrBlock"] != cidr]
            if len(kept) == len(vpn["Routes"]):
                raise ServiceError("InvalidRoute.NotFound", f"The route identified by {cidr} does not exist.", 400)
            vpn["Routes"] = kept
            c.put(txn, ctx, "vpn", vpn["VpnConnectionId"], vpn)
        return {}


def _store_pcx(txn: Txn, pcx: dict[str, Any]) -> None:
    """A peering connection is visible to both sides: one copy in each side's scope."""
    for scope in dict.fromkeys(_peer_scopes(pcx)):
        txn.put(c.kind("pcx"), pcx["VpcPeeringConnectionId"], pcx, scope)


def _remove_endpoint_routes(txn: Txn, ctx: RequestContext, endpoint: dict[str, Any], rtb_ids: list[str]) -> None:
    for rtb_id in rtb_ids:
        rtb = txn.get(c.kind("rtb"), rtb_id, ctx.scope)
        if rtb is not None:
            rtb["Routes"] = [rt for rt in rtb["Routes"] if rt.get("GatewayId") != endpoint["VpcEndpointId"]]
            c.put(txn, ctx, "rtb", rtb_id, rtb)


def _entries(entries: list[dict[str, Any]], family: str) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        cidr = any_cidr(e.get("Cidr"), "cidr")
        if (":" in cidr) != (family == "IPv6"):
            raise ServiceError("InvalidParameterValue", f"The CIDR {cidr} does not match the prefix list's address family {family}", 400)
        item = {"Cidr": cidr}
        if e.get("Description"):
            item["Description"] = e["Description"]
        out.append(item)
    return out
