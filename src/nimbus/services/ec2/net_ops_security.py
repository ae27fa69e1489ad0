"""Operations on security groups (and their rules) and network ACLs."""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from . import net_common as c
from . import net_records as r
from . import net_security as sec
from .net_cidr import any_cidr
from .net_common import each

SG_FILTERS = {
    "group-id": "GroupId", "group-name": "GroupName", "description": "Description", "vpc-id": "VpcId", "owner-id": "OwnerId",
    "ip-permission.protocol": each("IpPermissions", "IpProtocol"),
    "ip-permission.from-port": each("IpPermissions", "FromPort"), "ip-permission.to-port": each("IpPermissions", "ToPort"),
    "ip-permission.cidr": lambda d: [x["CidrIp"] for p in d["IpPermissions"] for x in p["IpRanges"]],
    "ip-permission.ipv6-cidr": lambda d: [x["CidrIpv6"] for p in d["IpPermissions"] for x in p["Ipv6Ranges"]],
    "ip-permission.prefix-list-id": lambda d: [x["PrefixListId"] for p in d["IpPermissions"] for x in p["PrefixListIds"]],
    "ip-permission.group-id": lambda d: [x["GroupId"] for p in d["IpPermissions"] for x in p["UserIdGroupPairs"]],
    "ip-permission.user-id": lambda d: [x["UserId"] for p in d["IpPermissions"] for x in p["UserIdGroupPairs"]],
    "egress.ip-permission.protocol": each("IpPermissionsEgress", "IpProtocol"),
    "egress.ip-permission.from-port": each("IpPermissionsEgress", "FromPort"),
    "egress.ip-permission.to-port": each("IpPermissionsEgress", "ToPort"),
    "egress.ip-permission.cidr": lambda d: [x["CidrIp"] for p in d["IpPermissionsEgress"] for x in p["IpRanges"]],
    "egress.ip-permission.group-id": lambda d: [x["GroupId"] for p in d["IpPermissionsEgress"] for x in p["UserIdGroupPairs"]],
}
SGR_FILTERS = {"group-id": "GroupId", "security-group-rule-id": "SecurityGroupRuleId"}
ACL_FILTERS = {
    "network-acl-id": "NetworkAclId", "vpc-id": "VpcId", "default": "IsDefault", "owner-id": "OwnerId",
    "association.association-id": each("Associations", "NetworkAclAssociationId"),
    "association.network-acl-id": each("Associations", "NetworkAclId"),
    "association.subnet-id": each("Associations", "SubnetId"),
    "entry.cidr": each("Entries", "CidrBlock"), "entry.ipv6-cidr": each("Entries", "Ipv6CidrBlock"),
    "entry.egress": each("Entries", "Egress"), "entry.protocol": each("Entries", "Protocol"),
    "entry.rule-action": each("Entries", "RuleAction"), "entry.rule-number": each("Entries", "RuleNumber"),
    "entry.port-range.from": lambda d: [e["PortRange"]["From"] for e in d["Entries"] if "PortRange" in e],
    "entry.port-range.to": lambda d: [e["PortRange"]["To"] for e in d["Entries"] if "PortRange" in e],
}


def _group(txn, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("GroupId"):
        return c.get(txn, ctx, "sg", params["GroupId"])
    if params.get("GroupName"):
        from .network_api import default_vpc

        return sec.find_group_by_name(txn, ctx, params["GroupName"], default_vpc(txn, ctx)["VpcId"])
    raise ServiceError("MissingParameter", "The request must contain the parameter groupName or groupId", 400)


class SecurityOperations:
    # ------------------------------------------------------------------ security groups

    def create_security_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        name = params.get("GroupName") or ""
        description = params.get("Description")
        if not name:
            raise ServiceError("MissingParameter", "The request must contain the parameter groupName", 400)
        if description is None or description == "":
            raise ServiceError("MissingParameter", "The request must contain the parameter groupDescription", 400)
        if len(name) > 255 or len(description) > 255:
            raise ServiceError("InvalidParameterValue", "Value for parameter groupName or groupDescription is too long (at most 255 characters).", 400)
        if name.lower().startswith("sg-"):
            raise ServiceError("InvalidParameterValue", "Group names may not be in the format sg-*", 400)
        tags = c.tags_of(params, "security-group")
        with ctx.store.transaction() as txn:
            r.ensure_defaults(ctx, txn)
            if params.get("VpcId"):
                vpc = c.get(txn, ctx, "vpc", params["VpcId"])
            else:
                from .network_api import default_vpc

                vpc = default_vpc(txn, ctx)
            if name == "default" or any(g["GroupName"] == name and g["VpcId"] == vpc["VpcId"] for g in c.scan(txn, ctx, "sg")):
                raise ServiceError("InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc['VpcId']}'", 400)
            group = r.new_security_group(txn, ctx, vpc["VpcId"], name, description, tags)
        return {"GroupId": group["GroupId"], "SecurityGroupArn": group["SecurityGroupArn"], "Tags": tags}

    def describe_security_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        names = params.get("GroupNames")
        if names:
            read = ctx.store.read
            from .network_api import default_vpc

            with ctx.store.transaction() as txn:
                vpc_id = default_vpc(txn, ctx)["VpcId"]
            groups = [sec.find_group_by_name(read, ctx, n, vpc_id) for n in names]
            from .filters import apply_filters

            return {"SecurityGroups": apply_filters(groups, params.get("Filters"), SG_FILTERS)}
        items, token = c.describe(ctx, params, "sg", ids_param="GroupIds", fields=SG_FILTERS)
        return c.page_result("SecurityGroups", items, token)

    def delete_security_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            group = _group(txn, ctx, params)
            group_id = group["GroupId"]
            if group["GroupName"] == "default":
                raise ServiceError("CannotDelete", f'the specified group: "{group_id}" name: "default" cannot be deleted by a user', 400)
            if any(any(g["GroupId"] == group_id for g in e["Groups"]) for e in c.scan(txn, ctx, "eni")):
                raise ServiceError("DependencyViolation", f"resource {group_id} has a dependent object", 400)
            if sec.referenced_by(txn, ctx, group_id):
                raise ServiceError("DependencyViolation", f"resource {group_id} has a dependent object", 400)
            for rule_id in group["_rules"]:
                c.delete(txn, ctx, "sgr", rule_id)
            c.delete(txn, ctx, "sg", group_id)
        return {"Return": True, "GroupId": group_id}

    def _authorize(self, ctx: RequestContext, params: dict[str, Any], egress: bool) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "security-group-rule")
        with ctx.store.transaction() as txn:
            group = _group(txn, ctx, params)
            rules = sec.explode(txn, ctx, group, params, egress=egress)
            added = sec.add_rules(txn, ctx, group, rules, egress=egress, tags=tags)
        return {"Return": True, "SecurityGroupRules": added}

    def authorize_security_group_ingress(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._authorize(ctx, params, False)

    def authorize_security_group_egress(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._authorize(ctx, params, True)

    def _revoke(self, ctx: RequestContext, params: dict[str, Any], egress: bool) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            group = _group(txn, ctx, params)
            if params.get("SecurityGroupRuleIds"):
                ids = []
                for rule_id in params["SecurityGroupRuleIds"]:
                    c.check_id(rule_id, "sgr")
                    rule = group["_rules"].get(rule_id)
                    if rule is None or rule["IsEgress"] != egress:
                        raise ServiceError("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rule_id}' does not exist", 400)
                    ids.append(rule_id)
                removed = sec.remove_rules(txn, ctx, group, ids)
                return {"Return": True, "RevokedSecurityGroupRules": _revoked(removed)}
            wanted = sec.explode(txn, ctx, group, params, egress=egress)
            by_key = {sec.rule_key(rule): rule_id for rule_id, rule in group["_rules"].items()}
            ids = [by_key[sec.rule_key(w)] for w in wanted if sec.rule_key(w) in by_key]
            unknown = [w for w in wanted if sec.rule_key(w) not in by_key]
            if not ids:
                raise ServiceError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.", 400)
            removed = sec.remove_rules(txn, ctx, group, ids)
        result: dict[str, Any] = {"Return": True, "RevokedSecurityGroupRules": _revoked(removed)}
        if unknown:
            holder = {"_rules": {str(i): u for i, u in enumerate(unknown)}}
            sec.rebuild(holder)
            result["UnknownIpPermissions"] = holder["IpPermissionsEgress" if egress else "IpPermissions"]
        return result

    def revoke_security_group_ingress(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._revoke(ctx, params, False)

    def revoke_security_group_egress(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._revoke(ctx, params, True)

    def describe_security_group_rules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "sgr", ids_param="SecurityGroupRuleIds", fields=SGR_FILTERS)
        return c.page_result("SecurityGroupRules", items, token)

    def modify_security_group_rules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            group = c.get(txn, ctx, "sg", params.get("GroupId"))
            for update in params.get("SecurityGroupRules") or []:
                rule_id = c.check_id(update.get("SecurityGroupRuleId"), "sgr")
                if rule_id not in group["_rules"]:
                    raise ServiceError("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rule_id}' does not exist", 400)
                old = group["_rules"][rule_id]
                req = update.get("SecurityGroupRule") or {}
                perm: dict[str, Any] = {"IpProtocol": req.get("IpProtocol", old["IpProtocol"]), "FromPort": req.get("FromPort", old["FromPort"]),
                                        "ToPort": req.get("ToPort", old["ToPort"])}
                if req.get("CidrIpv4"):
                    perm["IpRanges"] = [{"CidrIp": req["CidrIpv4"], "Description": req.get("Description")}]
                elif req.get("CidrIpv6"):
                    perm["Ipv6Ranges"] = [{"CidrIpv6": req["CidrIpv6"], "Description": req.get("Description")}]
                elif req.get("PrefixListId"):
                    perm["PrefixListIds"] = [{"PrefixListId": req["PrefixListId"], "Description": req.get("Description")}]
                elif req.get("ReferencedGroupId"):
                    perm["UserIdGroupPairs"] = [{"GroupId": req["ReferencedGroupId"], "Description": req.get("Description")}]
                else:
                    raise ServiceError("InvalidParameterValue", "A security group rule must specify a CIDR, a prefix list or a security group", 400)
                (new,) = sec.explode(txn, ctx, group, {"IpPermissions": [perm]}, egress=old["IsEgress"])
                if req.get("Description") is None:
                    new.pop("Description", None)
                new = {"SecurityGroupRuleId": rule_id, **new, "SecurityGroupRuleArn": old["SecurityGroupRuleArn"]}
                if any(sec.rule_key(o) == sec.rule_key(new) for oid, o in group["_rules"].items() if oid != rule_id):
                    raise ServiceError("InvalidPermission.Duplicate", "the specified rule already exists", 400)
                group["_rules"][rule_id] = new
                stored = txn.get(c.kind("sgr"), rule_id, ctx.scope) or {}
                c.put(txn, ctx, "sgr", rule_id, {**new, "Tags": stored.get("Tags", [])})
            sec.rebuild(group)
            c.put(txn, ctx, "sg", group["GroupId"], group)
        return {"Return": True}

    def update_security_group_rule_descriptions_ingress(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._update_descriptions(ctx, params, False)

    def update_security_group_rule_descriptions_egress(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._update_descriptions(ctx, params, True)

    def _update_descriptions(self, ctx: RequestContext, params: dict[str, Any], egress: bool) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            group = _group(txn, ctx, params)
            wanted = sec.explode(txn, ctx, group, params, egress=egress)
            by_key = {sec.rule_key(rule): rule_id for rule_id, rule in group["_rules"].items()}
            for w in wanted:
                rule_id = by_key.get(sec.rule_key(w))
                if rule_id is None:
                    raise ServiceError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.", 400)
                rule = group["_rules"][rule_id]
                if w.get("Description") is None:
                    rule.pop("Description", None)
                else:
                    rule["Description"] = w["Description"]
                stored = txn.get(c.kind("sgr"), rule_id, ctx.scope) or {}
                c.put(txn, ctx, "sgr", rule_id, {**rule, "Tags": stored.get("Tags", [])})
            sec.rebuild(group)
            c.put(txn, ctx, "sg", group["GroupId"], group)
        return {"Return": True}

    # ------------------------------------------------------------------ network ACLs

    def create_network_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        tags = c.tags_of(params, "network-acl")
        with ctx.store.transaction() as txn:
            vpc = c.get(txn, ctx, "vpc", params.get("VpcId"))
            acl = r.new_network_acl(ctx, vpc["VpcId"], tags=tags)
            c.put(txn, ctx, "acl", acl["NetworkAclId"], acl)
        return {"NetworkAcl": acl}

    def describe_network_acls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        r.ensure_defaults(ctx)
        items, token = c.describe(ctx, params, "acl", ids_param="NetworkAclIds", fields=ACL_FILTERS)
        return c.page_result("NetworkAcls", items, token)

    def delete_network_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            acl = c.get(txn, ctx, "acl", params.get("NetworkAclId"))
            if acl["IsDefault"]:
                raise ServiceError("InvalidParameterValue", f"cannot delete default network ACL {acl['NetworkAclId']}", 400)
            if acl["Associations"]:
                raise c.dependency("networkAcl", acl["NetworkAclId"])
            c.delete(txn, ctx, "acl", acl["NetworkAclId"])
        return {}

    def create_network_acl_entry(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._acl_entry(ctx, params, replace=False)

    def replace_network_acl_entry(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._acl_entry(ctx, params, replace=True)

    def _acl_entry(self, ctx: RequestContext, params: dict[str, Any], *, replace: bool) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        number = params.get("RuleNumber")
        if number is None or not 1 <= int(number) <= 32766:
            raise ServiceError("InvalidParameterValue", f"Value ({number}) for parameter ruleNumber is invalid. Must be in range 1..32766", 400)
        action = (params.get("RuleAction") or "").lower()
        if action not in ("allow", "deny"):
            raise ServiceError("InvalidParameterValue", f"Value ({params.get('RuleAction')}) for parameter ruleAction is invalid.", 400)
        protocol = str(params.get("Protocol", ""))
        protocol = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1"}.get(protocol.lower(), protocol)
        if not (protocol == "-1" or (protocol.isdigit() and 0 <= int(protocol) <= 255)):
            raise ServiceError("InvalidParameterValue", f"Invalid value '{params.get('Protocol')}' for IP protocol. Unknown protocol.", 400)
        egress = bool(params.get("Egress"))
        entry: dict[str, Any] = {"RuleNumber": int(number), "Protocol": protocol, "RuleAction": action, "Egress": egress}
        if params.get("CidrBlock"):
            entry["CidrBlock"] = any_cidr(params["CidrBlock"], "cidrBlock")
        elif params.get("Ipv6CidrBlock"):
            entry["Ipv6CidrBlock"] = any_cidr(params["Ipv6CidrBlock"], "ipv6CidrBlock")
        else:
            raise ServiceError("MissingParameter", "The request must contain the parameter cidrBlock or ipv6CidrBlock", 400)
        if protocol in ("6", "17"):
            ports = params.get("PortRange") or {}
            if ports.get("From") is None or ports.get("To") is None:
                raise ServiceError("InvalidParameterValue", "Missing or invalid value for parameter portRange: TCP and UDP rules need a port range", 400)
            entry["PortRange"] = {"From": int(ports["From"]), "To": int(ports["To"])}
        if protocol in ("1", "58") and params.get("IcmpTypeCode"):
            entry["IcmpTypeCode"] = {"Type": params["IcmpTypeCode"].get("Type", -1), "Code": params["IcmpTypeCode"].get("Code", -1)}
        with ctx.store.transaction() as txn:
            acl = c.get(txn, ctx, "acl", params.get("NetworkAclId"))
            same = [e for e in acl["Entries"] if e["RuleNumber"] == entry["RuleNumber"] and e["Egress"] == egress]
            if replace:
                if not same:
                    raise ServiceError("InvalidNetworkAclEntry.NotFound", f"The network acl entry identified by {number} could not be found.", 400)
                acl["Entries"].remove(same[0])
            elif same:
                raise ServiceError("NetworkAclEntryAlreadyExists", f"The network acl entry identified by {number} already exists.", 400)
            acl["Entries"].append(entry)
            acl["Entries"].sort(key=lambda e: (e["Egress"], e["RuleNumber"]))
            c.put(txn, ctx, "acl", acl["NetworkAclId"], acl)
        return {}

    def delete_network_acl_entry(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        with ctx.store.transaction() as txn:
            acl = c.get(txn, ctx, "acl", params.get("NetworkAclId"))
            number = params.get("RuleNumber")
            egress = bool(params.get("Egress"))
            same = [e for e in acl["Entries"] if e["RuleNumber"] == number and e["Egress"] == egress and number != 32767]
            if not same:
                raise ServiceError("InvalidNetworkAclEntry.NotFound", f"The network acl entry identified by {number} could not be found.", 400)
            acl["Entries"].remove(same[0])
            c.put(txn, ctx, "acl", acl["NetworkAclId"], acl)
        return {}

    def replace_network_acl_association(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        c.dry_run(params)
        r.ensure_defaults(ctx)
        association_id = params.get("AssociationId", "")
        with ctx.store.transaction() as txn:
            target = c.get(txn, ctx, "acl", params.get("NetworkAclId"))
            for acl in c.scan(txn, ctx, "acl"):
                for association in acl["Associations"]:
                    if association["NetworkAclAssociationId"] == association_id:
                        break
                else:
                    continue
                break
            else:
                raise ServiceError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist", 400)
            if target["VpcId"] != acl["VpcId"]:
                raise ServiceError("InvalidParameterValue", f"Network ACL {target['NetworkAclId']} and subnet {association['SubnetId']} belong to different networks", 400)
            acl["Associations"].remove(association)
            c.put(txn, ctx, "acl", acl["NetworkAclId"], acl)
            target = c.get(txn, ctx, "acl", target["NetworkAclId"])
            new_id = c.new("aclassoc")
            target["Associations"].append({"NetworkAclAssociationId": new_id, "NetworkAclId": target["NetworkAclId"], "SubnetId": association["SubnetId"]})
            c.put(txn, ctx, "acl", target["NetworkAclId"], target)
        return {"NewAssociationId": new_id}


def _revoked(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        item = {k: rule[k] for k in ("SecurityGroupRuleId", "GroupId", "IsEgress", "IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "PrefixListId", "Description") if k in rule}
        if "ReferencedGroupInfo" in rule:
            item["ReferencedSecurityGroupId"] = rule["ReferencedGroupInfo"]["GroupId"]
        out.append(item)
    return out
