"""Operations on NAT gateways, Elastic IPs and network interfaces."""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from . import net_common as c
from . import net_records as r
from . import network_api as api
from .net_common import each, nested

NAT_READY_SECONDS = 60.0       # pending → available
NAT_DELETE_SECONDS = 60.0      # deleting → deleted
NAT_VISIBLE_AFTER_DELETE = 3600.0

NAT_FILTERS = {"nat-gateway-id": "NatGatewayId", "state": "State", "subnet-id": "SubnetId", "vpc-id": "VpcId"}
ADDRESS_FILTERS = {
    "allocation-id": "AllocationId", "association-id": "AssociationId", "domain": "Domain", "instance-id": "InstanceId",
    "network-border-group": "NetworkBorderGroup", "network-interface-id": "NetworkInterfaceId",
    "network-interface-owner-id": "NetworkInterfaceOwnerId", "private-ip-address": "PrivateIpAddress", "public-ip": "PublicIp",
}
ENI_FILTERS = {
    "network-interface-id": "NetworkInterfaceId", "subnet-id": "SubnetId", "vpc-id": "VpcId", "availability-zone": "AvailabilityZone",
    "description": "Description", "group-id": each("Groups", "GroupId"), "group-name": each("Groups", "GroupName"),
    "interface-type": "InterfaceType", "mac-address": "MacAddress", "owner-id": "OwnerId", "private-ip-address": each("PrivateIpAddresses", "PrivateIpAddress"),
    "addresses.private-ip-address": each("PrivateIpAddresses", "PrivateIpAddress"), "private-dns-name": "PrivateDnsName",
    "requester-managed": "RequesterManaged", "requester-id": "RequesterId", "source-dest-check": "SourceDestCheck", "status": "Status",
    "attachment.instance-id": nested("Attachment", "InstanceId"), "attachment.attachment-id": nested("Attachment", "AttachmentId"),
    "attachment.status": nested("Attachment", "Status"), "attachment.device-index": nested("Attachment", "DeviceIndex"),
    "attachment.delete-on-termination": nested("Attachment", "DeleteOnTermination"),
    "association.public-ip": nested("Association", "PublicIp"), "association.allocation-id": nested("Association", "AllocationId"),
    "association.association-id": nested("Association", "AssociationId"),
}


def _nat_now(ctx: RequestContext):
    now = ctx.clock.time()

    def prepare(doc: dict[str, Any]) -> dict[str, Any]:
        if doc["State"] == "pending" and now >= doc["_ready_at"]:
            doc["State"] = "available"
            for a in doc["NatGatewayAddresses"]:
                a["Status"] = "succeeded"
        elif doc["State"] == "deleting" and now >= doc["_deleted_at"]:
            doc["State"] = "deleted"
            for a in doc["NatGatewayAddresses"]:
                a["Status"] = "succeeded"
        return doc

    return prepare, now


class GatewayOperations:
    # ------------------------------------------------------------------ NAT gateways

    def create_nat_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "natgateway")
        connectivity = params.get("ConnectivityType") or "public"
        if connectivity not in ("public", "private"):
            raise ServiceError("InvalidParameterValue", f"Value ({connectivity}) for parameter connectivityType is invalid.", 400)
        now = ctx.clock.time()
        with ctx.store.transaction() as txn:
            subnet = api.get_subnet(txn, ctx, params.get("SubnetId"))
            address = None
            if connectivity == "public":
                if not params.get("AllocationId"):
                    raise ServiceError("MissingParameter", "The request must contain the parameter AllocationId for a public NAT gateway", 400)
                address = c.get(txn, ctx, "eipalloc", params["AllocationId"])
                if address.get("AssociationId"):
                    raise ServiceError("Resource.AlreadyAssociated", f"Elastic IP address {address['AllocationId']} is already associated", 400)
            nat_id = c.new("nat")
            ip = api.allocate_private_ip(txn, ctx, subnet["SubnetId"], params.get("PrivateIpAddress"))
            eni = api.create_network_interface_record(txn, ctx, subnet["SubnetId"], [], ip, f"Interface for NAT Gateway {nat_id}",
                                                      interface_type="nat_gateway", requester_managed=True)
            eni["Groups"] = []
            eni["Status"] = "in-use"
            eni["RequesterId"] = "amazon"
            nat_address: dict[str, Any] = {"NetworkInterfaceId": eni["NetworkInterfaceId"], "PrivateIp": ip, "IsPrimary": True, "Status": "associating"}
            nat: dict[str, Any] = {
                "NatGatewayId": nat_id, "SubnetId": subnet["SubnetId"], "VpcId": subnet["VpcId"], "CreateTime": now,
                "State": "pending", "ConnectivityType": connectivity, "NatGatewayAddresses": [nat_address], "Tags": tags,
                "_ready_at": now + NAT_READY_SECONDS,
            }
            if address is not None:
                igw_attached = any(a["VpcId"] == subnet["VpcId"] for g in c.scan(txn, ctx, "igw") for a in g["Attachments"])
                if not igw_attached:
                    nat.update(State="failed", FailureCode="Gateway.NotAttached", FailureMessage=f"Network {subnet['VpcId']} has no Internet gateway attached",
                               DeleteTime=now)
                    nat_address["Status"] = "failed"
                    r.delete_network_interface(txn, ctx, eni)
                else:
                    association_id = c.new("eipassoc")
                    nat_address.update(AllocationId=address["AllocationId"], PublicIp=address["PublicIp"], AssociationId=association_id)
                    address.update(AssociationId=association_id, NetworkInterfaceId=eni["NetworkInterfaceId"],
                                   NetworkInterfaceOwnerId=ctx.account_id, PrivateIpAddress=ip)
                    c.put(txn, ctx, "eipalloc", address["AllocationId"], address)
                    eni["Association"] = {"AllocationId": address["AllocationId"], "AssociationId": association_id, "IpOwnerId": ctx.account_id,
                                          "PublicIp": address["PublicIp"], "PublicDnsName": r.public_dns_name(ctx, address["PublicIp"])}
            if nat["State"] != "failed":
                api.put_network_interface(txn, ctx, eni)
            c.put(txn, ctx, "nat", nat_id, nat)
        result = {"NatGateway": nat}
        if params.get("ClientToken"):
            result["ClientToken"] = params["ClientToken"]
        return result

    def describe_nat_gateways(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prepare, now = _nat_now(ctx)
        visible = lambda d: not (d["State"] in ("deleted", "failed") and now > d.get("DeleteTime", now) + NAT_VISIBLE_AFTER_DELETE)
        params = dict(params)
        if "Filter" in params and "Filters" not in params:
            params["Filters"] = params.pop("Filter")
        items, token = c.describe(ctx, params, "nat", ids_param="NatGatewayIds", fields=NAT_FILTERS, prepare=prepare, visible=visible)
        return c.page_result("NatGateways", items, token)

    def delete_nat_gateway(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        prepare, now = _nat_now(ctx)
        with ctx.store.transaction() as txn:
            nat = prepare(c.get(txn, ctx, "nat", params.get("NatGatewayId")))
            if nat["State"] in ("deleting", "deleted", "failed"):
                return {"NatGatewayId": nat["NatGatewayId"]}
            nat.update(State="deleting", DeleteTime=now + NAT_DELETE_SECONDS, _deleted_at=now + NAT_DELETE_SECONDS)
            for a in nat["NatGatewayAddresses"]:
                a["Status"] = "disassociating"
                eni = txn.get(c.kind("eni"), a["NetworkInterfaceId"], ctx.scope)
                if eni is not None:
                    r.delete_network_interface(txn, ctx, eni)
            c.put(txn, ctx, "nat", nat["NatGatewayId"], nat)
            from .net_ops_vpc import _blackhole

            _blackhole(txn, ctx, "NatGatewayId", nat["NatGatewayId"])
        return {"NatGatewayId": nat["NatGatewayId"]}

    # ------------------------------------------------------------------ Elastic IPs

    def allocate_address(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        domain = params.get("Domain") or "vpc"
        if domain not in ("vpc", "standard"):
            raise ServiceError("InvalidParameterValue", f"Value ({domain}) for parameter domain is invalid.", 400)
        if params.get("NetworkBorderGroup") and params["NetworkBorderGroup"] != ctx.region:
            raise ServiceError("InvalidParameterValue", f"Value ({params['NetworkBorderGroup']}) for parameter NetworkBorderGroup is invalid.", 400)
        tags = c.tags_of(params, "elastic-ip")
        with ctx.store.transaction() as txn:
            if params.get("Address"):
                raise ServiceError("InvalidAddress.NotFound", f"Address {params['Address']} not found in your BYOIP pools", 400)
            count = sum(1 for _ in c.scan(txn, ctx, "eipalloc"))
            if count >= 5 * 20:
                raise ServiceError("AddressLimitExceeded", "The maximum number of addresses has been reached.", 400)
            allocation_id = c.new("eipalloc")
            ip = r.public_ip_allocate(txn, ctx, allocation_id)
            address = {"AllocationId": allocation_id, "PublicIp": ip, "Domain": "vpc", "PublicIpv4Pool": "amazon",
                       "NetworkBorderGroup": ctx.region, "Tags": tags}
            c.put(txn, ctx, "eipalloc", allocation_id, address)
        return {k: address[k] for k in ("AllocationId", "PublicIp", "Domain", "PublicIpv4Pool", "NetworkBorderGroup")}

    def describe_addresses(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        read = ctx.store.read
        items = [doc for _, doc in read.scan(c.kind("eipalloc"), ctx.scope)]
        if params.get("AllocationIds"):
            found = {d["AllocationId"]: d for d in items}
            for allocation_id in params["AllocationIds"]:
                c.check_id(allocation_id, "eipalloc")
                if allocation_id not in found:
                    raise c.not_found("eipalloc", allocation_id)
            items = [found[a] for a in dict.fromkeys(params["AllocationIds"])]
        if params.get("PublicIps"):
            found = {d["PublicIp"]: d for d in items}
            for ip in params["PublicIps"]:
                if ip not in found:
                    raise ServiceError("InvalidAddress.NotFound", f"Address '{ip}' not found.", 400)
            items = [found[ip] for ip in dict.fromkeys(params["PublicIps"])]
        from .filters import apply_filters

        return {"Addresses": apply_filters(items, params.get("Filters"), ADDRESS_FILTERS)}

    def _address(self, txn, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("AllocationId"):
            return c.get(txn, ctx, "eipalloc", params["AllocationId"])
        if params.get("PublicIp"):
            for doc in c.scan(txn, ctx, "eipalloc"):
                if doc["PublicIp"] == params["PublicIp"]:
                    return doc
            raise ServiceError("InvalidAddress.NotFound", f"Address '{params['PublicIp']}' not found.", 400)
        raise ServiceError("MissingParameter", "Either public IP or allocation id must be specified", 400)

    def associate_address(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            address = self._address(txn, ctx, params)
            instance = None
            if params.get("InstanceId"):
                instance_id = params["InstanceId"]
                instance = txn.get("ec2:instance", instance_id, ctx.scope)
                if instance is None or (instance.get("State") or {}).get("Name") == "terminated":
                    raise ServiceError("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist", 400)
                enis = sorted(instance.get("NetworkInterfaces") or [], key=lambda e: (e.get("Attachment") or {}).get("DeviceIndex", 0))
                if not enis:
                    raise ServiceError("InvalidInstanceID", f"The instance '{instance_id}' has no network interface", 400)
                eni = c.get(txn, ctx, "eni", enis[0]["NetworkInterfaceId"])
            elif params.get("NetworkInterfaceId"):
                eni = c.get(txn, ctx, "eni", params["NetworkInterfaceId"])
            else:
                raise ServiceError("MissingParameter", "Either an instance ID or a network interface ID must be specified", 400)
            private_ip = params.get("PrivateIpAddress") or eni["PrivateIpAddress"]
            if private_ip not in [p["PrivateIpAddress"] for p in eni["PrivateIpAddresses"]]:
                raise ServiceError("InvalidParameterValue", f"The private IP address {private_ip} is not associated with network interface {eni['NetworkInterfaceId']}", 400)
            if not any(a["VpcId"] == eni["VpcId"] for g in c.scan(txn, ctx, "igw") for a in g["Attachments"]):
                raise ServiceError("Gateway.NotAttached", f"Network {eni['VpcId']} is not attached to any internet gateway", 400)
            if address.get("AssociationId"):
                if address.get("NetworkInterfaceId") == eni["NetworkInterfaceId"] and address.get("PrivateIpAddress") == private_ip:
                    return {"AssociationId": address["AssociationId"]}
                if params.get("AllowReassociation") is False or (params.get("AllowReassociation") is None and params.get("NetworkInterfaceId")):
                    raise ServiceError("Resource.AlreadyAssociated", f"resource {address['AllocationId']} is already associated with associate-id {address['AssociationId']}", 400)
                _disassociate(txn, ctx, address)
                address = c.get(txn, ctx, "eipalloc", address["AllocationId"])
                eni = c.get(txn, ctx, "eni", eni["NetworkInterfaceId"])
            current = eni.get("Association")
            if current and current.get("AllocationId"):
                other = txn.get(c.kind("eipalloc"), current["AllocationId"], ctx.scope)
                if other is not None:
                    _disassociate(txn, ctx, other)
                    eni = c.get(txn, ctx, "eni", eni["NetworkInterfaceId"])
            elif current:
                r.public_ip_release(txn, ctx, current["PublicIp"])  # an auto-assigned address goes back to the pool
            association_id = c.new("eipassoc")
            association = {"AllocationId": address["AllocationId"], "AssociationId": association_id, "IpOwnerId": ctx.account_id,
                           "PublicIp": address["PublicIp"], "PublicDnsName": r.public_dns_name(ctx, address["PublicIp"])}
            for item in eni["PrivateIpAddresses"]:
                if item["PrivateIpAddress"] == private_ip:
                    item["Association"] = association
            if private_ip == eni["PrivateIpAddress"]:
                eni["Association"] = association
            api.put_network_interface(txn, ctx, eni)
            address.update(AssociationId=association_id, NetworkInterfaceId=eni["NetworkInterfaceId"], NetworkInterfaceOwnerId=ctx.account_id,
                           PrivateIpAddress=private_ip)
            instance_id = (eni.get("Attachment") or {}).get("InstanceId")
            if instance_id:
                address["InstanceId"] = instance_id
            c.put(txn, ctx, "eipalloc", address["AllocationId"], address)
            _sync_instance(txn, ctx, eni)
        return {"AssociationId": association_id}

    def disassociate_address(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            if params.get("AssociationId"):
                association_id = params["AssociationId"]
                for doc in c.scan(txn, ctx, "eipalloc"):
                    if doc.get("AssociationId") == association_id:
                        address = doc
                        break
                else:
                    if not association_id.startswith("eipassoc-"):
                        raise ServiceError("InvalidAssociationID.Malformed", f'Invalid id: "{association_id}" (expecting "eipassoc-...")', 400)
                    raise ServiceError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist", 400)
            else:
                address = self._address(txn, ctx, params)
                if not address.get("AssociationId"):
                    return {}
            if address.get("NetworkInterfaceId", "").startswith("eni-"):
                eni = txn.get(c.kind("eni"), address["NetworkInterfaceId"], ctx.scope)
                if eni and eni.get("InterfaceType") == "nat_gateway":
                    raise ServiceError("AuthFailure", "You do not have permission to access the specified resource.", 400)
            _disassociate(txn, ctx, address)
        return {}

    def release_address(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            address = self._address(txn, ctx, params)
            if address.get("AssociationId"):
                raise ServiceError("InvalidIPAddress.InUse", f"Address {address['PublicIp']} is in use.", 400)
            r.public_ip_release(txn, ctx, address["PublicIp"])
            c.delete(txn, ctx, "eipalloc", address["AllocationId"])
        return {}

    # ------------------------------------------------------------------ network interfaces

    def create_network_interface(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "network-interface")
        with ctx.store.transaction() as txn:
            subnet = api.get_subnet(txn, ctx, params.get("SubnetId"))
            groups = api.get_security_groups(txn, ctx, params.get("Groups") or [], subnet["VpcId"])
            ip = api.allocate_private_ip(txn, ctx, subnet["SubnetId"], params.get("PrivateIpAddress"))
            eni = api.create_network_interface_record(txn, ctx, subnet["SubnetId"], [g["GroupId"] for g in groups], ip,
                                                      params.get("Description") or "", tags=tags,
                                                      interface_type=params.get("InterfaceType") or "interface")
            extra = params.get("SecondaryPrivateIpAddressCount") or 0
            for _ in range(extra):
                more = api.allocate_private_ip(txn, ctx, subnet["SubnetId"], None)
                eni["PrivateIpAddresses"].append({"Primary": False, "PrivateIpAddress": more, "PrivateDnsName": r.private_dns_name(ctx, more)})
            for item in params.get("PrivateIpAddresses") or []:
                if item.get("PrivateIpAddress") and item["PrivateIpAddress"] != ip:
                    more = api.allocate_private_ip(txn, ctx, subnet["SubnetId"], item["PrivateIpAddress"])
                    eni["PrivateIpAddresses"].append({"Primary": False, "PrivateIpAddress": more, "PrivateDnsName": r.private_dns_name(ctx, more)})
            api.put_network_interface(txn, ctx, eni)
        result = {"NetworkInterface": r.present_eni(eni)}
        if params.get("ClientToken"):
            result["ClientToken"] = params["ClientToken"]
        return result

    def describe_network_interfaces(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "eni", ids_param="NetworkInterfaceIds", fields=ENI_FILTERS, present=r.present_eni)
        return c.page_result("NetworkInterfaces", items, token)

    def delete_network_interface(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            eni = c.get(txn, ctx, "eni", params.get("NetworkInterfaceId"))
            if eni.get("Attachment") or eni["Status"] == "in-use":
                raise ServiceError("InvalidNetworkInterface.InUse", f"The network interface '{eni['NetworkInterfaceId']}' is currently in use.", 400)
            r.delete_network_interface(txn, ctx, eni)
        return {}

    def modify_network_interface_attribute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        with ctx.store.transaction() as txn:
            eni = c.get(txn, ctx, "eni", params.get("NetworkInterfaceId"))
            if params.get("Groups"):
                groups = api.get_security_groups(txn, ctx, params["Groups"], eni["VpcId"])
                eni["Groups"] = [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in groups]
            if isinstance(params.get("Description"), dict) and "Value" in params["Description"]:
                eni["Description"] = params["Description"]["Value"]
            if isinstance(params.get("SourceDestCheck"), dict) and "Value" in params["SourceDestCheck"]:
                eni["SourceDestCheck"] = bool(params["SourceDestCheck"]["Value"])
            api.put_network_interface(txn, ctx, eni)
            _sync_instance(txn, ctx, eni)
        return {}


def _disassociate(txn, ctx: RequestContext, address: dict[str, Any]) -> None:
    eni = txn.get(c.kind("eni"), address.get("NetworkInterfaceId", ""), ctx.scope) if address.get("NetworkInterfaceId") else None
    if eni is not None:
        if (eni.get("Association") or {}).get("AllocationId") == address["AllocationId"]:
            eni.pop("Association")
        for item in eni["PrivateIpAddresses"]:
            if (item.get("Association") or {}).get("AllocationId") == address["AllocationId"]:
                item.pop("Association")
        api.put_network_interface(txn, ctx, eni)
        _sync_instance(txn, ctx, eni)
    for key in ("AssociationId", "InstanceId", "NetworkInterfaceId", "NetworkInterfaceOwnerId", "PrivateIpAddress"):
        address.pop(key, None)
    c.put(txn, ctx, "eipalloc", address["AllocationId"], address)


def _sync_instance(txn, ctx: RequestContext, eni: dict[str, Any]) -> None:
    """Mirror an ENI's public address into the owning instance record (compute's), when there is one."""
    instance_id = (eni.get("Attachment") or {}).get("InstanceId")
    if not instance_id:
        return
    instance = txn.get("ec2:instance", instance_id, ctx.scope)
    if instance is None:
        return
    association = eni.get("Association")
    for item in instance.get("NetworkInterfaces") or []:
        if item.get("NetworkInterfaceId") != eni["NetworkInterfaceId"]:
            continue
        if association:
            item["Association"] = {k: association[k] for k in ("IpOwnerId", "PublicIp", "PublicDnsName") if k in association}
        else:
            item.pop("Association", None)
        for private in item.get("PrivateIpAddresses") or []:
            match = next((p for p in eni["PrivateIpAddresses"] if p["PrivateIpAddress"] == private.get("PrivateIpAddress")), None)
            if match and match.get("Association"):
                private["Association"] = {k: match["Association"][k] for k in ("IpOwnerId", "PublicIp", "PublicDnsName")}
            else:
                private.pop("Association", None)
        if item.get("Groups") is not None:
            item["Groups"] = eni["Groups"]
        if (item.get("Attachment") or {}).get("DeviceIndex", 0) == 0:
            if association:
                instance["PublicIpAddress"] = association["PublicIp"]
                instance["PublicDnsName"] = association.get("PublicDnsName", "")
            else:
                instance.pop("PublicIpAddress", None)
                instance["PublicDnsName"] = ""
    txn.put("ec2:instance", instance_id, instance, ctx.scope)
