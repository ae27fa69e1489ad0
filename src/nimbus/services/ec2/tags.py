"""Tags on every EC2 resource: CreateTags, DeleteTags, DescribeTags and TagSpecifications.

Each resource keeps its tags in its own record (``doc["Tags"]``, AWS's list of
``{"Key", "Value"}``) so a Describe returns them without a join.  ``RESOURCE_KINDS`` maps
an id prefix to the store kind and AWS resource type; every module that adds a resource
type adds its row here, and tagging works for it at once.
"""

from __future__ import annotations

from typing import Any

from ...errors import ServiceError
from ...gateway.context import RequestContext
from ...state import Txn
from .ids import prefix_of

# id prefix → (store kind, ResourceType as DescribeTags names it)
RESOURCE_KINDS: dict[str, tuple[str, str]] = {}

MAX_TAGS = 50


def register(prefix: str, kind: str, resource_type: str) -> None:
    RESOURCE_KINDS[prefix] = (kind, resource_type)


def validate_tags(tags: list[dict[str, Any]]) -> None:
    if len(tags) > MAX_TAGS:
        raise ServiceError("TagLimitExceeded", f"The maximum number of tags per resource is {MAX_TAGS}", 400)
    for tag in tags:
        key = tag.get("Key", "")
        if not key or len(key) > 128:
            raise ServiceError("InvalidParameterValue", "Tag keys must be between 1 and 128 characters", 400)
        if key.lower().startswith("aws:"):
            raise ServiceError("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use", 400)
        if len(tag.get("Value", "")) > 256:
            raise ServiceError("InvalidParameterValue", "Tag values must be at most 256 characters", 400)


def merge(existing: list[dict[str, str]], new: list[dict[str, Any]]) -> list[dict[str, str]]:
    merged = {t["Key"]: t["Value"] for t in existing}
    for tag in new:
        merged[tag["Key"]] = tag.get("Value", "")
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def tags_for_type(tag_specifications: list[dict[str, Any]] | None, resource_type: str) -> list[dict[str, str]]:
    """The tags a ``TagSpecifications`` parameter gives to resources of ``resource_type``."""
    tags: list[dict[str, Any]] = []
    for spec in tag_specifications or []:
        if spec.get("ResourceType") == resource_type:
            tags.extend(spec.get("Tags") or [])
    validate_tags(tags)
    return merge([], tags)


def _locate(txn: Txn, ctx: RequestContext, resource_id: str) -> tuple[str, dict[str, Any]]:
    prefix = prefix_of(resource_id)
    entry = RESOURCE_KINDS.get(prefix or "")
    if entry is None:
        raise ServiceError("InvalidID", f"The ID '{resource_id}' is not valid", 400)
    kind, _ = entry
    doc = txn.get(kind, resource_id, ctx.scope)
    if doc is None:
        raise ServiceError(f"Invalid{_error_noun(prefix)}.NotFound", f"The ID '{resource_id}' does not exist", 400)
    return kind, doc


def _error_noun(prefix: str | None) -> str:
    return {
        "i": "InstanceID", "vpc": "Vpc", "subnet": "Subnet", "sg": "Group", "vol": "Volume", "snap": "Snapshot",
        "ami": "AMIID", "igw": "InternetGatewayID", "rtb": "RouteTableID", "eni": "NetworkInterfaceID",
        "eipalloc": "AllocationID", "nat": "NatGatewayID", "acl": "NetworkAclID",
        "pcx": "VpcPeeringConnectionID", "vpce": "VpcEndpointId", "sgr": "SecurityGroupRuleId", "pl": "PrefixListID",
        "cgw": "CustomerGatewayID", "vgw": "VpnGatewayID", "vpn": "VpnConnectionID", "eigw": "EgressOnlyInternetGatewayId",
        "fl": "FlowLogId", "dopt": "DhcpOptionID",
    }.get(prefix or "", "ID")


def create_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = params.get("Tags") or []
    validate_tags(tags)
    with ctx.store.transaction() as txn:
        located = [(rid, *_locate(txn, ctx, rid)) for rid in params["Resources"]]
        for resource_id, kind, doc in located:
            doc["Tags"] = merge(doc.get("Tags", []), tags)
            validate_tags(doc["Tags"])
            txn.put(kind, resource_id, doc, ctx.scope)
    return {}


def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    removals = params.get("Tags")
    with ctx.store.transaction() as txn:
        located = [(rid, *_locate(txn, ctx, rid)) for rid in params["Resources"]]
        for resource_id, kind, doc in located:
            if removals is None:
                doc["Tags"] = []
            else:
                def removed(tag: dict[str, str]) -> bool:
                    for r in removals:
                        if r["Key"] == tag["Key"] and ("Value" not in r or r["Value"] == tag["Value"]):
                            return True
                    return False

                doc["Tags"] = [t for t in doc.get("Tags", []) if not removed(t)]
            txn.put(kind, resource_id, doc, ctx.scope)
    return {}


def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from .filters import apply_filters

    rows = []
    read = ctx.store.read
    for prefix, (kind, resource_type) in sorted(RESOURCE_KINDS.items()):
        for resource_id, doc in read.scan(kind, ctx.scope):
            for tag in doc.get("Tags", []):
                rows.append({"ResourceId": resource_id, "ResourceType": resource_type, "Key": tag["Key"], "Value": tag["Value"]})
    rows = apply_filters(rows, params.get("Filters"), {
        "key": "Key", "value": "Value", "resource-id": "ResourceId", "resource-type": "ResourceType",
    })
    rows.sort(key=lambda r: (r["ResourceId"], r["Key"]))
    max_results = params.get("MaxResults") or 1000
    start = int(params.get("NextToken") or 0)
    page = rows[start : start + max_results]
    result: dict[str, Any] = {"Tags": page}
    if start + max_results < len(rows):
        result["NextToken"] = str(start + max_results)
    return result
