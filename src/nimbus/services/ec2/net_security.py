"""Security group rules: one record per rule (``sgr-`` ids), aggregated into IpPermissions.

A group record keeps its rules under ``_rules`` (id → SecurityGroupRule without tags) and
``IpPermissions``/``IpPermissionsEgress`` rebuilt from them; each rule is also its own
``ec2:security-group-rule`` record so ``DescribeSecurityGroupRules`` and tags work on it.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from . import net_common as c
from .net_cidr import any_cidr

MAX_RULES = 60
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
_NAMED = {"tcp", "udp", "icmp", "icmpv6", "-1"}


def egress_all_rule() -> dict[str, Any]:
    return {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def _protocol(value: Any) -> str:
    proto = str(value if value is not None else "").lower()
    proto = _PROTOCOL_NUMBERS.get(proto, proto)
    if proto in _NAMED:
        return proto
    if proto.isdigit() and 0 <= int(proto) <= 255:
        return proto
    raise ServiceError("InvalidParameterValue", f"Invalid value '{value}' for IP protocol. Unknown protocol.", 400)


def _ports(proto: str, from_port: Any, to_port: Any) -> tuple[int, int]:
    if proto in ("tcp", "udp"):
        if from_port is None or to_port is None:
            raise ServiceError("InvalidParameterValue", "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange", 400)
        from_port, to_port = int(from_port), int(to_port)
        if not (0 <= from_port <= 65535 and 0 <= to_port <= 65535) or from_port > to_port:
            raise ServiceError("InvalidParameterValue", f"Invalid TCP/UDP port range: {from_port}-{to_port}", 400)
        return from_port, to_port
    if proto in ("icmp", "icmpv6"):
        from_port = -1 if from_port is None else int(from_port)
        to_port = -1 if to_port is None else int(to_port)
        if not (-1 <= from_port <= 255 and -1 <= to_port <= 255):
            raise ServiceError("InvalidParameterValue", f"Invalid value for ICMP type or code: {from_port}/{to_port}", 400)
        return from_port, to_port
    return -1, -1


def explode(
    txn: Txn, ctx: RequestContext, group: dict[str, Any], params: dict[str, Any], *, egress: bool
) -> list[dict[str, Any]]:
    """The single rules (one peer each) an Authorize/Revoke request names."""
    permissions = list(params.get("IpPermissions") or [])
    if not permissions and (params.get("IpProtocol") is not None or params.get("CidrIp") or params.get("SourceSecurityGroupName")):
        legacy: dict[str, Any] = {"IpProtocol": params.get("IpProtocol", "-1"), "FromPort": params.get("FromPort"), "ToPort": params.get("ToPort")}
        if params.get("CidrIp"):
            legacy["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
        if params.get("SourceSecurityGroupName"):
            legacy["UserIdGroupPairs"] = [{"GroupName": params["SourceSecurityGroupName"], "UserId": params.get("SourceSecurityGroupOwnerId")}]
        permissions.append(legacy)
    if not permissions:
        raise ServiceError("MissingParameter", "The request must contain the parameter ipPermissions", 400)
    rules = []
    for perm in permissions:
        proto = _protocol(perm.get("IpProtocol"))
        from_port, to_port = _ports(proto, perm.get("FromPort"), perm.get("ToPort"))
        base = {"GroupId": group["GroupId"], "GroupOwnerId": group["OwnerId"], "IsEgress": egress,
                "IpProtocol": proto, "FromPort": from_port, "ToPort": to_port}
        peers = 0
        for item in perm.get("IpRanges") or []:
            rules.append({**base, "CidrIpv4": any_cidr(item.get("CidrIp"), "cidrIp"), **_desc(item)})
            peers += 1
        for item in perm.get("Ipv6Ranges") or []:
            rules.append({**base, "CidrIpv6": any_cidr(item.get("CidrIpv6"), "cidrIpv6"), **_desc(item)})
            peers += 1
        for item in perm.get("PrefixListIds") or []:
            pl = c.get(txn, ctx, "pl", item.get("PrefixListId"))
            rules.append({**base, "PrefixListId": pl["PrefixListId"], **_desc(item)})
            peers += 1
        for item in perm.get("UserIdGroupPairs") or []:
            user = item.get("UserId") or ctx.account_id
            ref_id = item.get("GroupId")
            if user == ctx.account_id:
                if ref_id:
                    ref = c.get(txn, ctx, "sg", ref_id)
                else:
                    ref = find_group_by_name(txn, ctx, item.get("GroupName") or "", group["VpcId"])
                if ref["VpcId"] != group["VpcId"] and not item.get("VpcPeeringConnectionId"):
                    raise ServiceError("InvalidParameterValue", f"You have specified two resources that belong to different networks.", 400)
                ref_id = ref["GroupId"]
            elif not ref_id:
                raise ServiceError("InvalidParameterValue", "A group id is required to reference a security group of another account", 400)
            else:
                c.check_id(ref_id, "sg")
            info = {"GroupId": ref_id, "UserId": user}
            if item.get("VpcPeeringConnectionId"):
                info["VpcPeeringConnectionId"] = item["VpcPeeringConnectionId"]
            rules.append({**base, "ReferencedGroupInfo": info, **_desc(item)})
            peers += 1
        if not peers:
            raise ServiceError("InvalidParameterValue", "The request must specify at least one source or destination (CIDR, prefix list or security group)", 400)
    return rules


def _desc(item: dict[str, Any]) -> dict[str, str]:
    return {"Description": item["Description"]} if item.get("Description") is not None else {}


def rule_key(rule: dict[str, Any]) -> tuple:
    peer = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId") or (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
    return (rule["IsEgress"], rule["IpProtocol"], rule["FromPort"], rule["ToPort"], peer)


def _describe_rule(rule: dict[str, Any]) -> str:
    peer = rule_key(rule)[4]
    proto = {"-1": "ALL", "tcp": "TCP", "udp": "UDP", "icmp": "ICMP"}.get(rule["IpProtocol"], rule["IpProtocol"])
    return f'peer: {peer}, {proto}, from port: {rule["FromPort"]}, to port: {rule["ToPort"]}, ALLOW'


def add_rules(
    txn: Txn, ctx: RequestContext, group: dict[str, Any], rules: list[dict[str, Any]], *, egress: bool, tags: list
) -> list[dict[str, Any]]:
    """Add rules given as IpPermissions (default rules) or already exploded; refuse duplicates."""
    if rules and "IsEgress" not in rules[0]:
        rules = explode(txn, ctx, group, {"IpPermissions": rules}, egress=egress)
    existing = {rule_key(r) for r in group["_rules"].values()}
    added = []
    for rule in rules:
        key = rule_key(rule)
        if key in existing:
            raise ServiceError("InvalidPermission.Duplicate", f"the specified rule \"{_describe_rule(rule)}\" already exists", 400)
        existing.add(key)
        rule_id = c.new("sgr")
        doc = {"SecurityGroupRuleId": rule_id, **rule, "SecurityGroupRuleArn": f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:security-group-rule/{rule_id}", "Tags": list(tags)}
        group["_rules"][rule_id] = {k: v for k, v in doc.items() if k != "Tags"}
        c.put(txn, ctx, "sgr", rule_id, doc)
        added.append(doc)
    if sum(1 for r in group["_rules"].values() if r["IsEgress"] == egress) > MAX_RULES:
        raise ServiceError("RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.", 400)
    rebuild(group)
    c.put(txn, ctx, "sg", group["GroupId"], group)
    return added


def remove_rules(txn: Txn, ctx: RequestContext, group: dict[str, Any], rule_ids: list[str]) -> list[dict[str, Any]]:
    removed = []
    for rule_id in rule_ids:
        rule = group["_rules"].pop(rule_id)
        c.delete(txn, ctx, "sgr", rule_id)
        removed.append(rule)
    rebuild(group)
    c.put(txn, ctx, "sg", group["GroupId"], group)
    return removed


def rebuild(group: dict[str, Any]) -> None:
    """IpPermissions / IpPermissionsEgress from the rules, grouped by protocol and ports."""
    for egress, key in ((False, "IpPermissions"), (True, "IpPermissionsEgress")):
        perms: dict[tuple, dict[str, Any]] = {}
        for rule in group["_rules"].values():
            if rule["IsEgress"] != egress:
                continue
            pk = (rule["IpProtocol"], rule["FromPort"], rule["ToPort"])
            perm = perms.get(pk)
            if perm is None:
                perm = {"IpProtocol": rule["IpProtocol"], "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
                if rule["IpProtocol"] != "-1":
                    perm["FromPort"], perm["ToPort"] = rule["FromPort"], rule["ToPort"]
                perms[pk] = perm
            desc = _desc(rule)
            if "CidrIpv4" in rule:
                perm["IpRanges"].append({"CidrIp": rule["CidrIpv4"], **desc})
            elif "CidrIpv6" in rule:
                perm["Ipv6Ranges"].append({"CidrIpv6": rule["CidrIpv6"], **desc})
            elif "PrefixListId" in rule:
                perm["PrefixListIds"].append({"PrefixListId": rule["PrefixListId"], **desc})
            else:
                info = rule["ReferencedGroupInfo"]
                perm["UserIdGroupPairs"].append({**info, **desc})
        group[key] = list(perms.values())


def find_group_by_name(txn: Txn, ctx: RequestContext, name: str, vpc_id: str | None) -> dict[str, Any]:
    for doc in c.scan(txn, ctx, "sg"):
        if doc["GroupName"] == name and (vpc_id is None or doc["VpcId"] == vpc_id):
            return doc
    where = f" in VPC '{vpc_id}'" if vpc_id else ""
    raise ServiceError("InvalidGroup.NotFound", f"The security group '{name}' does not exist{where}", 400)


def referenced_by(txn: Txn, ctx: RequestContext, group_id: str) -> str | None:
    """The id of another group whose rules reference ``group_id``, if any."""
    for doc in c.scan(txn, ctx, "sg"):
        if doc["GroupId"] == group_id:
            continue
        for rule in doc["_rules"].values():
            if (rule.get("ReferencedGroupInfo") or {}).get("GroupId") == group_id:
                return doc["GroupId"]
    return None
